package agent

import (
	"context"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// videoRecords is every video frame the ingest kept, over all publishes.
func videoRecords(in *cloudsim.Ingest) []cloudsim.FrameRecord {
	var out []cloudsim.FrameRecord
	for _, p := range in.Publishes() {
		for _, f := range p.Frames {
			if f.Video {
				out = append(out, f)
			}
		}
	}
	return out
}

// TestCameraRestartPublishesKeyFrameFirst: while the cloud watches live
// video, the camera's RTSP server restarts; the agent reconnects mid-GOP
// (the simulator's stream runs on whoever joins) and the first frame it
// publishes after the restart is a key frame, with the RTMP publish kept
// open. A P frame there shows garbage in the cloud's player until the
// next GOP (issue 13).
func TestCameraRestartPublishesKeyFrameFirst(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 1}); rep["status"] != "OK" {
		t.Fatalf("stream_start: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 30); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		r.RTSP.Stop()
		// Frames in flight when the camera went away land first.
		var before int
		waitFor(t, "the ingest to settle", func() bool {
			n := len(videoRecords(r.Ingest))
			settled := n == before && n > 0
			before = n
			time.Sleep(100 * time.Millisecond)
			return settled
		})
		// Back after a part of a GOP, so the agent joins mid-GOP.
		time.Sleep(time.Duration(300+round*200) * time.Millisecond)
		if err := r.RTSP.Restart(); err != nil {
			t.Fatal(err)
		}
		if err := r.Ingest.WaitFrames(ctx, before+30); err != nil {
			t.Fatalf("round %d: no video after the camera came back: %v", round, err)
		}
		frames := videoRecords(r.Ingest)
		if !frames[before].Key {
			t.Errorf("round %d: the first frame published after the camera restarted is not a key frame", round)
		}
		if n := len(r.Ingest.Publishes()); n != 1 {
			t.Errorf("round %d: %d publishes, want the first one kept open", round, n)
		}
	}
}
