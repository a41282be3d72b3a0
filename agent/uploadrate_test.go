package agent

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// noiseJPEG is a 1280×720 picture of noise: it compresses as badly as a
// busy scene, so each event carries a few hundred KB, and is sent as the
// camera took it (it fits the default snapshot_max).
func noiseJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 1280, 720))
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(rnd.Uint32())
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 75}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// uploadRun is what one run of uploadBacklog measured.
type uploadRun struct {
	puts   int
	bytes  int64         // of the PUTs inside the window
	window time.Duration // between the completions the rate is measured over
	sent   int           // video frames the camera sent while the backlog drained
	got    int           // of those, frames the live publish delivered
}

func (u uploadRun) rate() float64 { return float64(u.bytes) / u.window.Seconds() }

// uploadBacklog queues events with big snapshots while the cloud holds
// the first PUT and live video is published, lets the backlog drain, and
// measures at the cloud: the upload rate, and the frames of the live
// publish against those the camera sent meanwhile. maxRate 0 is no cap.
//
// Event uploads go one at a time (each picture is read from the queue
// through the rate limiter, then announced and PUT), so every byte of the
// PUTs completed after the window's first completion was sent inside the
// window. The window starts at the second PUT's completion: the first
// after the hold starts with a bucket refilled during the hold.
func uploadBacklog(t *testing.T, maxRate config.Bytes, events int) uploadRun {
	t.Helper()
	pic := noiseJPEG(t)
	snap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(pic)
	}))
	t.Cleanup(snap.Close)
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, _ := runRig(t, rig.Options{
		ONVIF:  func(o *onvifsim.Options) { o.SnapshotURL = snap.URL + "/snapshot.jpg" },
		Config: func(c *config.Config) { c.Uploads.MaxRate = maxRate },
	})
	eventsReady(t, r)
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": true}}})
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 1}); rep["status"] != "OK" {
		t.Fatalf("stream_start live: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no live video at the ingest: %v", err)
	}

	release := r.Cloud.HoldPuts()
	defer release()
	cam := a.workers[0]
	at := time.Now().Add(-time.Minute)
	for i := range events {
		if err := cam.RaiseEvent("motion", at.Add(time.Duration(i)*time.Second), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the events queued behind a held PUT", func() bool {
		return cam.UploadQueue().Items == events && r.Cloud.PutsHeld() == 1
	})
	sent0, got0 := r.RTSP.FramesSent(), videoFrames(r.Ingest)
	release()
	if err := r.Cloud.Wait(ctx, func() bool { return len(r.Cloud.Puts()) == events }); err != nil {
		t.Fatalf("%d of %d snapshots uploaded: %v", len(r.Cloud.Puts()), events, err)
	}
	sent := r.RTSP.FramesSent() - sent0
	// Frames on their way to the ingest when the last PUT completed
	// still count: wait for them, a bounded time (a lost frame never comes).
	catchUp, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	_ = r.Ingest.WaitFrames(catchUp, got0+int(sent))
	got := videoFrames(r.Ingest) - got0

	puts := r.Cloud.Puts()
	u := uploadRun{puts: len(puts), window: puts[len(puts)-1].Received.Sub(puts[1].Received), sent: int(sent), got: got}
	for i, p := range puts {
		if p.Category != "snapshot" || p.Size != int64(len(pic)) {
			t.Fatalf("PUT %d: %s of %d bytes, want the %d-byte snapshot", i, p.Category, p.Size, len(pic))
		}
		if i >= 2 {
			u.bytes += p.Size
		}
	}
	if n := len(r.Ingest.Publishes()); n != 1 {
		t.Errorf("%d live publishes while uploading, want the one", n)
	}
	noViolations(t, r)
	return u
}

// TestUploadRateCapKeepsLiveVideo: with uploads.max_rate, a backlog of
// event uploads reaches the cloud at the cap (within 10 %), and the live
// publish running beside it loses no frames.
func TestUploadRateCapKeepsLiveVideo(t *testing.T) {
	const maxRate = 256 << 10
	u := uploadBacklog(t, maxRate, 5)
	t.Logf("capped at %d B/s: %d bytes in %v = %.0f B/s (%.1f %% of the cap); live: %d of %d frames",
		maxRate, u.bytes, u.window.Round(time.Millisecond), u.rate(), 100*u.rate()/maxRate, u.got, u.sent)
	if r := u.rate(); r < 0.9*maxRate || r > 1.1*maxRate {
		t.Errorf("uploads at %.0f B/s, cap %d B/s", r, maxRate)
	}
	if u.window < 3*time.Second {
		t.Errorf("measured over %v, want at least 3 s", u.window)
	}
	if u.got*100 < u.sent*99 {
		t.Errorf("live publish delivered %d of the %d frames the camera sent while uploading, want ≥ 99 %%", u.got, u.sent)
	}
}

// TestUploadsUncappedKeepLiveVideo: without a cap the same backlog goes
// as fast as the link takes it, and the live publish still loses no
// frames. The rate is logged, for comparison with the cap.
func TestUploadsUncappedKeepLiveVideo(t *testing.T) {
	u := uploadBacklog(t, 0, 30)
	t.Logf("uncapped: %d bytes in %v = %.0f B/s; live: %d of %d frames",
		u.bytes, u.window.Round(time.Millisecond), u.rate(), u.got, u.sent)
	if u.got*100 < u.sent*99 {
		t.Errorf("live publish delivered %d of the %d frames the camera sent while uploading, want ≥ 99 %%", u.got, u.sent)
	}
}
