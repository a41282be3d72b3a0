package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// directSegment is the segment length the direct recording tests run on,
// the shortest the config allows.
const directSegment = 10 * time.Second

// oneFrame is the simulated camera's frame time: contiguous uploads meet
// within it.
const oneFrame = time.Second / rtspsim.FPS

// directDuration is how long TestDirectRecording records:
// CAMAGENT_DIRECTREC_DURATION (a Go duration, e.g. 5m) or 35 s.
func directDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("CAMAGENT_DIRECTREC_DURATION")
	if v == "" {
		return 35 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 2*directSegment {
		t.Fatalf("CAMAGENT_DIRECTREC_DURATION=%q: want a duration of at least %v", v, 2*directSegment)
	}
	return d
}

// directRig runs a camera with a memory card under dir; switchedOff: as
// the cloud left it switched off with cam_memorycard_recording.
func directRig(t *testing.T, dir string, switchedOff bool) (*rig.Rig, *Agent, string) {
	t.Helper()
	return runRig(t, rig.Options{Config: func(cfg *config.Config) {
		recordingOn(dir)(cfg)
		cfg.Cameras[0].Recording.Segment = directSegment
		if switchedOff {
			if err := os.WriteFile(filepath.Join(cfg.StateDir, "demo.recording.json"), []byte(`{"enabled":false}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}})
}

// startDirect asks for direct recording of Main in one of its two forms.
func startDirect(t *testing.T, r *rig.Rig, reasonOnly bool) {
	t.Helper()
	body := map[string]any{"stream_id": "Main", "reason": "record", "storage_direct_recording": true}
	if reasonOnly {
		body = map[string]any{"stream_id": "Main", "reason": "storage_direct_recording"}
	}
	if rep := request(t, r, "stream_start", body); rep["cmd"] != "done" || rep["status"] != "OK" {
		t.Fatalf("stream_start %v: %v", body, rep)
	}
}

// waitLong polls cond every 200 ms for up to limit: recording happens in
// real time, longer than waitFor waits.
func waitLong(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}

// checkRecordUpload asserts an upload is an MP4 that ffprobe reads on its
// own, starting with a key frame, lasting what get_direct_upload_url said.
func checkRecordUpload(t *testing.T, i int, u cloudsim.RecordUpload) {
	t.Helper()
	if int64(len(u.Body)) != u.Size {
		t.Errorf("upload %d: %d bytes, announced %d", i, len(u.Body), u.Size)
	}
	// The segment as recorded: a fragmented MP4 (ftyp, moov, then moof
	// and mdat pairs).
	var init fmp4.Init
	var parts fmp4.Parts
	if err := init.Unmarshal(bytes.NewReader(u.Body)); err != nil || len(init.Tracks) == 0 {
		t.Fatalf("upload %d: no fMP4 init: %v", i, err)
	}
	if err := parts.Unmarshal(u.Body); err != nil || len(parts) == 0 {
		t.Fatalf("upload %d: no fMP4 fragments: %v", i, err)
	}
	v := init.Tracks[0]
	if _, ok := v.Codec.(*fmp4.CodecH264); !ok {
		t.Errorf("upload %d: first track is %T, want H.264", i, v.Codec)
	}
	var ticks uint64
	for _, p := range parts {
		for _, pt := range p.Tracks {
			if pt.ID != v.ID {
				continue
			}
			for _, sm := range pt.Samples {
				ticks += uint64(sm.Duration)
			}
		}
	}
	if d := time.Duration(ticks) * time.Second / time.Duration(v.TimeScale); d.Milliseconds() != u.Duration.Milliseconds() {
		t.Errorf("upload %d: video lasts %v, announced %v", i, d, u.Duration)
	}
	path := filepath.Join(t.TempDir(), "upload.mp4")
	if err := os.WriteFile(path, u.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := cloudsim.Probe(path)
	if err != nil || rec.VideoCodec != "h264" || len(rec.Video) == 0 || !rec.Video[0].Key {
		t.Errorf("upload %d: ffprobe %v %v", i, rec, err)
	}
}

// checkContiguous asserts each upload starts where the one before ended,
// within one frame, and none comes twice.
func checkContiguous(t *testing.T, ups []cloudsim.RecordUpload) {
	t.Helper()
	for i := 1; i < len(ups); i++ {
		if gap := ups[i].FileTime.Sub(ups[i-1].End()); gap < -oneFrame || gap > oneFrame {
			t.Errorf("upload %d starts %v after upload %d ends, want within a frame", i, gap, i-1)
		}
	}
}

// uploadedInIndex are the segment starts the memory card's index marks
// uploaded.
func uploadedInIndex(t *testing.T, dir string) map[int64]bool {
	t.Helper()
	var idx struct {
		Segments []struct {
			Start    time.Time
			Uploaded bool
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "demo", "Main", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, s := range idx.Segments {
		if s.Uploaded {
			out[s.Start.UnixMilli()] = true
		}
	}
	return out
}

// closedSegments are the starts of the segments in the index (closed ones
// only are saved), oldest first.
func closedSegments(t *testing.T, dir string) []time.Time {
	t.Helper()
	var idx struct{ Segments []struct{ Start time.Time } }
	b, err := os.ReadFile(filepath.Join(dir, "demo", "Main", "index.json"))
	if err != nil {
		return nil
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, s := range idx.Segments {
		out = append(out, s.Start)
	}
	return out
}

func closedSegmentsAfter(t *testing.T, dir string, after time.Time) int {
	t.Helper()
	n := 0
	for _, s := range closedSegments(t, dir) {
		if s.After(after) {
			n++
		}
	}
	return n
}

func directStatus(cam *camera.Camera) *camera.DirectRecordingStatus {
	if r := cam.Status().Recording; r != nil {
		return r.Direct
	}
	return nil
}

// TestDirectRecording: stream_start record with storage_direct_recording
// on a camera with a memory card records locally and pushes every finished
// segment as a record upload instead of publishing RTMP: standalone MP4s
// that start with a key frame and meet end to start, each PUT once and
// marked uploaded on the card. It records though the memory card is
// switched off. stream_stop record ends the pushes (the card records on,
// switched on again); the reason storage_direct_recording starts them
// again from then on, and its stream_stop ends them.
func TestDirectRecording(t *testing.T) {
	run := directDuration(t)
	dir := t.TempDir()
	r, a, base := directRig(t, dir, true)
	cam := a.workers[0]
	waitReady(t, r)
	if rs := cam.Status().Recording; rs == nil || rs.On || rs.Segments != 0 {
		t.Fatalf("recording status %+v, want a memory card switched off", rs)
	}
	asked := time.Now().Truncate(time.Millisecond)
	startDirect(t, r, false)
	waitFor(t, "the status to show direct recording", func() bool { return directStatus(cam) != nil })
	if d := directStatus(cam); d.Stream != "Main" || d.Since.Before(asked) {
		t.Fatalf("status after stream_start: %+v, want direct recording of Main", d)
	}

	time.Sleep(run)
	want := int(run / directSegment)
	waitFor(t, "a record upload per finished segment", func() bool { return len(r.Cloud.RecordUploads("Main")) >= want })
	if p := r.Ingest.Publishes(); len(p) != 0 {
		t.Errorf("%d RTMP publishes, want none: direct recording uploads files", len(p))
	}
	ups := r.Cloud.RecordUploads("Main")
	// Recording began with the request, at the next key frame.
	if ups[0].FileTime.Before(asked) || ups[0].FileTime.Sub(asked) >= directSegment {
		t.Errorf("first upload starts %v after the request, want at the next key frame", ups[0].FileTime.Sub(asked))
	}
	for i, u := range ups {
		checkRecordUpload(t, i, u)
		if u.Duration < directSegment || u.Duration > directSegment+time.Second {
			t.Errorf("upload %d lasts %v, want one %v segment (cut at a key frame)", i, u.Duration, directSegment)
		}
	}
	checkContiguous(t, ups)
	waitFor(t, "the pushed segments marked uploaded", func() bool {
		marked := uploadedInIndex(t, dir)
		for _, u := range r.Cloud.RecordUploads("Main") {
			if !marked[u.FileTime.UnixMilli()] {
				return false
			}
		}
		return true
	})
	var st Status
	if _, body := get(t, base+"/status.json"); json.Unmarshal(body, &st) != nil || st.Cameras[0].Recording == nil ||
		st.Cameras[0].Recording.Direct == nil || st.Cameras[0].Recording.Direct.Stream != "Main" || st.Cameras[0].Recording.Direct.Pushed == 0 {
		t.Errorf("status.json recording %+v, want direct recording of Main with pushed segments", st.Cameras[0].Recording)
	}
	if _, page := get(t, base+"/"); !strings.Contains(string(page), "direct to cloud storage (Main): ") {
		t.Error("the status page does not show direct recording of Main")
	}

	// Stop, with the memory card switched on: it records on, nothing is
	// pushed. Wait until a segment begun after the stop is on the card.
	if rep := request(t, r, "cam_memorycard_recording", map[string]any{"stream_id": "Main", "enabled": true}); rep["status"] != "OK" {
		t.Fatalf("switching the memory card on: %v", rep)
	}
	if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Main", "reason": "record"}); rep["status"] != "OK" {
		t.Fatalf("stream_stop record: %v", rep)
	}
	stopped := time.Now()
	waitFor(t, "direct recording to be off", func() bool { return directStatus(cam) == nil })
	waitLong(t, "a segment recorded after the stop", 3*directSegment, func() bool { return closedSegmentsAfter(t, dir, stopped) > 0 })

	resumed := time.Now()
	startDirect(t, r, true)
	waitLong(t, "an upload after the restart", 3*directSegment, func() bool {
		ups := r.Cloud.RecordUploads("Main")
		return ups[len(ups)-1].End().After(resumed)
	})
	// Oldest first: had the stop not ended the pushes, what was recorded
	// between would be up by now.
	for i, u := range r.Cloud.RecordUploads("Main") {
		if u.End().After(stopped) && !u.End().After(resumed) {
			t.Errorf("upload %d (%v-%v) lies between the stop and the restart", i, u.FileTime, u.End())
		}
	}
	if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Main", "reason": "storage_direct_recording"}); rep["status"] != "OK" {
		t.Fatalf("stream_stop storage_direct_recording: %v", rep)
	}
	waitFor(t, "direct recording to be off", func() bool { return directStatus(cam) == nil })
	if p := r.Ingest.Publishes(); len(p) != 0 {
		t.Errorf("%d RTMP publishes, want none", len(p))
	}
	noViolations(t, r)
}

// TestDirectRecordingWithoutMemoryCard: a camera without a memory card
// answers either form of the request with an RTMP publish, as for record.
func TestDirectRecordingWithoutMemoryCard(t *testing.T) {
	r, a, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	for i, reasonOnly := range []bool{false, true} {
		startDirect(t, r, reasonOnly)
		waitFor(t, "the RTMP publish", func() bool { return len(r.Ingest.Publishes()) == i+1 })
		if st := a.workers[0].Status(); st.Recording != nil {
			t.Errorf("a camera without memory card has recording status %+v", st.Recording)
		}
		reason := "record"
		if reasonOnly {
			reason = "storage_direct_recording"
		}
		if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Main", "reason": reason}); rep["status"] != "OK" {
			t.Fatalf("stream_stop %s: %v", reason, rep)
		}
		waitFor(t, "the publish to end", func() bool { return len(a.workers[0].Status().Streams[0].Reasons) == 0 })
	}
	if n := len(r.Cloud.RecordUploads("Main")); n != 0 {
		t.Errorf("%d record uploads without a memory card", n)
	}
	noViolations(t, r)
}

// TestDirectRecordingOutage: while the cloud is away the memory card
// records on and the status shows what waits; after the reconnect the
// segments go up oldest first, meeting those before the outage, each
// once. A segment older than the age limit is not pushed: it stays on the
// card, counted as skipped.
func TestDirectRecordingOutage(t *testing.T) {
	const maxAge = 25 * time.Second
	tm := camera.DefaultTiming
	tm.DirectMaxAge = maxAge
	withTiming(t, tm)
	dir := t.TempDir()
	r, a, _ := directRig(t, dir, false)
	cam := a.workers[0]
	waitReady(t, r)
	startDirect(t, r, false)
	waitLong(t, "the first upload", 3*directSegment, func() bool { return len(r.Cloud.RecordUploads("Main")) > 0 })

	r.Cloud.Bye(uplink.ByeSystemError, 40)
	waitFor(t, "the agent to be offline", func() bool { return cam.Status().Cloud != uplink.StateReady })
	var during *camera.DirectRecordingStatus
	waitLong(t, "three segments waiting", 4*directSegment, func() bool {
		during = directStatus(cam)
		return during != nil && during.Waiting >= 3
	})
	if during.Oldest.IsZero() || during.WaitingBytes == 0 || during.Stream != "Main" {
		t.Errorf("status while the cloud is away: %+v", during)
	}
	before := len(r.Cloud.RecordUploads("Main"))
	waitLong(t, "the reconnect", time.Minute, func() bool { return r.Cloud.Connections() == 2 })
	waitReady(t, r)
	// The cloud asks again after every connect (docs/protocol.md#reconnect).
	startDirect(t, r, false)
	back := time.Now()
	waitLong(t, "the backlog pushed", 3*directSegment, func() bool {
		d := directStatus(cam)
		ups := r.Cloud.RecordUploads("Main")
		return d != nil && d.Waiting == 0 && len(ups) > before && ups[len(ups)-1].End().After(back)
	})
	ups := r.Cloud.RecordUploads("Main")
	d := directStatus(cam)
	if d.Skipped == 0 {
		t.Errorf("status %+v: no segment skipped as older than %v after a 40 s outage", d, maxAge)
	}
	// The one hole in the uploads is right after those from before the
	// outage (the oldest go first) and holds exactly the skipped segments,
	// which stay on the card; everything after them went up, once.
	hole := -1
	for i := 1; i < len(ups); i++ {
		gap := ups[i].FileTime.Sub(ups[i-1].End())
		switch {
		case gap < -oneFrame:
			t.Errorf("upload %d overlaps upload %d by %v", i, i-1, -gap)
		case gap > oneFrame && hole >= 0:
			t.Errorf("a second hole before upload %d (%v)", i, gap)
		case gap > oneFrame:
			hole = i
		}
	}
	if hole != before {
		t.Fatalf("hole before upload %d, want before %d: the first after the outage", hole, before)
	}
	var onCard uint64
	for _, s := range closedSegments(t, dir) {
		if !s.Before(ups[hole-1].End().Add(-oneFrame)) && s.Before(ups[hole].FileTime) {
			onCard++
		}
	}
	if onCard != d.Skipped {
		t.Errorf("%d segments on the card in the hole, %d counted skipped", onCard, d.Skipped)
	}
	for i, u := range ups[before:] {
		checkRecordUpload(t, before+i, u)
	}
	noViolations(t, r)
}
