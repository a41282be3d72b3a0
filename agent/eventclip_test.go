//go:build interop || browser

package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// eventClipChunks has the agent cut one event clip from the demo rig's
// camera (H.264 640x360 at 25 fps, AAC 48 kHz mono) as the cloud asks for
// it (docs/protocol.md#stream-by-event): record_by_event on with pre and
// post, a motion that starts and ends. It returns every chunk the cloud
// received by PUT, in file_time order, once the last one (the one that
// reaches post after the motion's end) has arrived.
func eventClipChunks(t *testing.T, pre, post time.Duration) []cloudsim.Put {
	t.Helper()
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	if rep := request(t, r, "set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": pre.Milliseconds(), "post_event": post.Milliseconds()}); rep["status"] != "OK" {
		t.Fatalf("set_stream_by_event: %v", rep)
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record_by_event"}); rep["status"] != "OK" {
		t.Fatalf("stream_start record_by_event: %v", rep)
	}
	if rep := request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "stream": true}}}); rep["status"] != "OK" {
		t.Fatalf("set_cam_events: %v", rep)
	}
	cam := a.workers[0]
	waitFor(t, "the pre-event buffer to hold pre_event", func() bool { return cam.EventBuffer().Span >= pre })

	r.ONVIF.TriggerMotion(true)
	waitCloudEvent(t, r, "motion", func(e map[string]any) bool { return e["event"] == "motion" })
	r.ONVIF.TriggerMotion(false)
	end := time.Now()
	// The agent hears of the end after this, so the last chunk reaches at
	// least post past it; the chunks before it end a key frame (1 s) after
	// the motion started at most.
	waitPut(t, r, "the clip's last chunk", func(p cloudsim.Put) bool {
		return p.Category == "record" && p.FileTime.Add(time.Duration(p.Duration)*time.Millisecond).After(end.Add(post-500*time.Millisecond))
	})
	var chunks []cloudsim.Put
	for _, p := range r.Cloud.Puts() {
		if p.Category == "record" {
			chunks = append(chunks, p)
		}
	}
	slices.SortFunc(chunks, func(a, b cloudsim.Put) int { return a.FileTime.Compare(b.FileTime) })
	for i, c := range chunks {
		if c.StreamID != "Main" || c.ContentType != "video/mp4" || c.Size != int64(len(c.Body)) {
			t.Errorf("chunk %d: stream %q, type %q, %d bytes announced as %d", i, c.StreamID, c.ContentType, len(c.Body), c.Size)
		}
	}
	noViolations(t, r)
	return chunks
}
