package uplink_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// heldReader hands out its units, then blocks like a live stream whose
// camera has nothing more to send yet.
type heldReader struct {
	units []*media.Unit
	i     int
}

func (r *heldReader) Read(ctx context.Context) (*media.Unit, error) {
	if r.i < len(r.units) {
		r.i++
		return r.units[r.i-1], nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (r *heldReader) Close() {}

// avUnits builds units from the fixture's first key frame, a P frame and an
// AAC frame: v(dts, key) for video, a(dts, n) for n AAC frames from dts on.
func avUnits(t *testing.T) (v func(time.Duration, bool) *media.Unit, a func(time.Duration, int) *media.Unit, aacFrame time.Duration) {
	f := loadFixture(t)
	var key, p *media.Unit
	var au []byte
	for _, u := range f.units {
		switch {
		case u.Track == f.video && u.Key && key == nil:
			key = u
		case u.Track == f.video && !u.Key && key != nil && p == nil:
			p = u
		case u.Track == f.audio && au == nil:
			au = u.Frames[0]
		}
	}
	if key == nil || p == nil || au == nil {
		t.Fatal("fixture lacks a key frame, a P frame or audio")
	}
	aacFrame = 1024 * time.Second / time.Duration(f.audio.SampleRate)
	v = func(dts time.Duration, k bool) *media.Unit {
		src := p
		if k {
			src = key
		}
		return &media.Unit{Track: f.video, DTS: dts, PTS: dts, Key: k, NALUs: src.NALUs}
	}
	a = func(dts time.Duration, n int) *media.Unit {
		return &media.Unit{Track: f.audio, DTS: dts, PTS: dts, Frames: slices.Repeat([][]byte{au}, n)}
	}
	return v, a, aacFrame
}

// publishHeld publishes units, then waits (the source holding) until the
// ingest has video and audio frames, and returns the publish record.
func publishHeld(t *testing.T, units []*media.Unit, video, audio int) (cloudsim.PublishRecord, *uplink.Publisher) {
	t.Helper()
	ing := startIngest(t, cloudsim.IngestOptions{})
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=s", Source: &heldReader{units: units}})
	ctx := testCtx(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool {
		return len(rs) == 1 && rs[0].VideoFrames >= video && rs[0].AudioFrames >= audio
	})
	if err != nil {
		var got string
		if rs := ing.Publishes(); len(rs) > 0 {
			got = fmt.Sprintf("%d video, %d audio", rs[0].VideoFrames, rs[0].AudioFrames)
		}
		t.Fatalf("with the source waiting for the camera the ingest has %s frames, want %d video, %d audio: %v", got, video, audio, err)
	}
	return ing.Publishes()[0], p
}

// TestPublisherSendsVideoWithoutWaitingForAudio: a video frame is on the
// wire as soon as the publisher has it, although the stream has audio and
// no audio of a later time has come yet (a camera's audio often lags its
// video by tens of milliseconds; holding video for it is added latency).
func TestPublisherSendsVideoWithoutWaitingForAudio(t *testing.T) {
	v, a, _ := avUnits(t)
	ms := time.Millisecond
	r, _ := publishHeld(t, []*media.Unit{a(0, 1), v(0, true), v(40*ms, false)}, 2, 0)
	if r.VideoFrames != 2 || !r.FirstVideoKey || len(r.Violations) != 0 {
		t.Errorf("video frames %d, first key %v, violations %v", r.VideoFrames, r.FirstVideoKey, r.Violations)
	}
}

// TestPublisherKeepsEachTrackMonotonic sends audio late, as cameras do, and
// then a few units going back in time: each track's timestamps stay
// monotonic and non-negative, audio and video of the same instant keep the
// same timestamp, and what went back is counted, not reordered.
func TestPublisherKeepsEachTrackMonotonic(t *testing.T) {
	v, a, fr := avUnits(t)
	ms := time.Millisecond
	units := []*media.Unit{
		a(-20*ms, 1),     // before the first key frame: dropped
		v(0, true),       // stream start, 0 ms
		a(-10*ms, 1),     // arrives after the key frame, captured before it: dropped
		v(40*ms, false),  //
		a(0, 2),          // 0 and 1 AAC frame: audio 40 ms behind video in the byte stream
		v(80*ms, false),  //
		a(2*fr, 2),       // 2 and 3 frames
		v(120*ms, false), //
		a(20*ms, 2),      // back behind frame 3: both dropped, counted
		v(100*ms, false), // back: sent at 120 ms, counted
		v(160*ms, false), //
		a(4*fr, 1),       //
	}
	r, p := publishHeld(t, units, 6, 5)
	var vts, ats []time.Duration
	for _, f := range r.Frames {
		if f.Video {
			vts = append(vts, f.DTS)
		} else {
			ats = append(ats, f.DTS)
		}
	}
	wantV := []time.Duration{0, 40 * ms, 80 * ms, 120 * ms, 120 * ms, 160 * ms}
	var wantA []time.Duration
	for i := range 5 {
		wantA = append(wantA, (time.Duration(i) * fr).Truncate(ms))
	}
	if !slices.Equal(vts, wantV) {
		t.Errorf("video timestamps %v, want %v", vts, wantV)
	}
	if !slices.Equal(ats, wantA) {
		t.Errorf("audio timestamps %v, want %v (the same timeline as video)", ats, wantA)
	}
	if !r.Monotonic || len(r.Violations) != 0 {
		t.Errorf("monotonic per track %v, violations %v", r.Monotonic, r.Violations)
	}
	// The byte stream is not interleaved by time: the first audio frame
	// (0 ms) comes after the video frame at 40 ms.
	firstAudio := slices.IndexFunc(r.Frames, func(f cloudsim.FrameRecord) bool { return !f.Video })
	if firstAudio != 2 {
		t.Errorf("first audio frame is frame %d on the wire, want 2 (after two video frames): %+v", firstAudio, r.Frames)
	}
	st := p.Stats()
	if st.Backwards != 3 || st.Drops != 4 {
		t.Errorf("backwards %d (want 2 audio + 1 video), drops %d (want 1 before the key frame + 1 before the start + 2 audio back)", st.Backwards, st.Drops)
	}
}
