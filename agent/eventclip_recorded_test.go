package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// TestEventClipFromRecording: while the memory card records the event
// stream, an event's clip is cut from the recording, not from a pre-event
// buffer (none is kept), so pre_event may go beyond what the buffer's cap
// allows: the chunks start on a key frame at or before event − pre_event,
// are at most ten seconds, meet end to start, and ffprobe reads each; the
// last comes once the recorder has written past end + post_event.
func TestEventClipFromRecording(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, _ := runRig(t, rig.Options{Config: recordingOn(t.TempDir())})
	t0 := time.Now()
	eventsReady(t, r)
	const pre, post = 31 * time.Second, 2 * time.Second // the buffer's cap is 30 s
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record_by_event"}); rep["status"] != "OK" {
		t.Fatalf("stream_start record_by_event: %v", rep)
	}
	cam := a.workers[0]
	waitFor(t, "clips to come from the recording", func() bool { return cam.EventBuffer().Recorded == "Main" })
	if b := cam.EventBuffer(); b.Stream != "" || b.Bytes != 0 {
		t.Errorf("a pre-event buffer is kept beside the recording: %+v", b)
	}
	conf := request(t, r, "get_stream_by_event", nil)
	if caps, _ := conf["caps"].(map[string]any); intOf(t, caps["pre_event_max"]) != 120000 {
		t.Errorf("caps with the memory card recording: %v", conf["caps"])
	}
	if rep := request(t, r, "set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": pre.Milliseconds(), "post_event": post.Milliseconds()}); rep["status"] != "OK" {
		t.Fatalf("set_stream_by_event: %v", rep)
	}
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "stream": true}}})
	// The recording must hold pre_event first: longer than waitFor waits.
	for deadline := time.Now().Add(pre + 30*time.Second); ; time.Sleep(500 * time.Millisecond) {
		if d := ranges(timeline(t, r, t0.Add(-time.Minute), time.Now().Add(time.Minute))); len(d) == 1 {
			rg, _ := d[0].(map[string]any)
			if from, _ := uplink.ParsePackedTime(rg["start"].(string)); time.Since(from) > pre+2*time.Second {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the recording never held pre_event")
		}
	}

	start := time.Now()
	r.ONVIF.TriggerMotion(true)
	waitCloudEvent(t, r, "motion", func(e map[string]any) bool { return e["event"] == "motion" })
	r.ONVIF.TriggerMotion(false)
	end := time.Now()
	waitPut(t, r, "the clip's last chunk", func(p cloudsim.Put) bool {
		return p.Category == "record" && p.FileTime.Add(time.Duration(p.Duration)*time.Millisecond).After(end.Add(post-time.Second))
	})
	var chunks []cloudsim.Put
	for _, p := range r.Cloud.Puts() {
		if p.Category == "record" {
			chunks = append(chunks, p)
		}
	}
	slices.SortFunc(chunks, func(a, b cloudsim.Put) int { return a.FileTime.Compare(b.FileTime) })
	if first := chunks[0].FileTime; first.After(end.Add(-pre)) || first.Before(start.Add(-pre-3*time.Second)) {
		t.Errorf("clip starts %v before the motion, want a key frame at or just before pre_event %v", start.Sub(first), pre)
	}
	for i, c := range chunks {
		if c.StreamID != "Main" || c.ContentType != "video/mp4" || c.Size != int64(len(c.Body)) {
			t.Errorf("chunk %d: stream %q, type %q, %d bytes announced as %d", i, c.StreamID, c.ContentType, len(c.Body), c.Size)
		}
		if c.Duration > 10_000 {
			t.Errorf("chunk %d lasts %d ms, more than ten seconds", i, c.Duration)
		}
		checkSyncedChunk(t, i, c)
		if i > 0 {
			prev := chunks[i-1]
			gap := c.FileTime.Sub(prev.FileTime.Add(time.Duration(prev.Duration) * time.Millisecond))
			if gap < -2*time.Millisecond || gap > 2*time.Millisecond {
				t.Errorf("chunk %d starts %v after chunk %d ends: not contiguous", i, gap, i-1)
			}
		}
	}
	if n := len(chunks); n < 4 {
		t.Errorf("%d chunks for %v of video, want ten seconds at most each", n, pre+post)
	}
	noViolations(t, r)
}
