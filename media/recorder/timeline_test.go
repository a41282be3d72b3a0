package recorder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A recorder that recorded, lost the camera, recorded again and had its
// first segment uploaded: its history, read live and from the index on
// disk alike, shows the uploaded and the not-uploaded span, the gap with
// its reason, and why nothing is recorded after Pause.
func TestHistory(t *testing.T) {
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir, SegmentLength: 5 * time.Second})
	f := loadFixture(t)
	c := &cam{f: f, t0: testT0}
	c.feed(r, 10*time.Second)
	if _, idle := r.Pending(); idle {
		t.Error("Pending says idle while a segment is open")
	}
	c2 := &cam{f: f, t0: testT0.Add(40 * time.Second), base: 10*time.Second + 100*time.Millisecond, discont: true}
	c2.feed(r, 5*time.Second)
	r.Pause(GapRecordingOff)
	if why, idle := r.Pending(); !idle || why != GapRecordingOff {
		t.Errorf("Pending after Pause = %v, %v; want recording off", why, idle)
	}
	// Only the first segment reached the cloud.
	if err := r.MarkUploaded(testT0); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs := r.Segments()
	if len(segs) < 3 {
		t.Fatalf("segments %+v, want the first 10 s in two", segs)
	}
	live := r.History()
	disk, err := ReadHistory(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]History{"live": live, "disk": disk} {
		from, to := testT0.Add(-time.Hour), testT0.Add(time.Hour)
		want := []Span{
			{Start: testT0, End: segs[0].End(), Uploaded: true},
			{Start: segs[0].End(), End: testT0.Add(10 * time.Second)},
			{Start: testT0.Add(40 * time.Second), End: testT0.Add(45 * time.Second)},
		}
		if got := h.Spans(from, to); !slices.EqualFunc(got, want, sameSpan) {
			t.Errorf("%s spans %+v, want %+v", name, got, want)
		}
		gaps := h.GapsIn(from, to)
		if len(gaps) != 1 || gaps[0].Reason != GapCameraOffline || !gaps[0].Start.Equal(testT0.Add(10*time.Second)) || !gaps[0].End.Equal(testT0.Add(40*time.Second)) {
			t.Errorf("%s gaps %+v, want camera offline from 10 s to 40 s", name, gaps)
		}
		if !h.Since().Equal(testT0) || !h.OngoingFrom().Equal(testT0.Add(45*time.Second)) {
			t.Errorf("%s since %v, last end %v", name, h.Since(), h.OngoingFrom())
		}
		// A window inside the gap is all gap.
		if g := h.GapsIn(testT0.Add(20*time.Second), testT0.Add(30*time.Second)); len(g) != 1 || g[0].End.Sub(g[0].Start) != 10*time.Second {
			t.Errorf("%s gaps inside the outage %+v", name, g)
		}
	}
}

func sameSpan(a, b Span) bool {
	return a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Uploaded == b.Uploaded
}

// An index rebuilt from the files alone has no gap history: the stretch
// between two segments is a gap of unknown reason, not silently nothing.
func TestHistoryUnexplainedGap(t *testing.T) {
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir})
	f := loadFixture(t)
	(&cam{f: f, t0: testT0}).feed(r, 4*time.Second)
	(&cam{f: f, t0: testT0.Add(20 * time.Second), base: 4*time.Second + 100*time.Millisecond, discont: true}).feed(r, 4*time.Second)
	r.Close()
	if err := os.Remove(filepath.Join(r.Dir(), indexName)); err != nil {
		t.Fatal(err)
	}
	r2 := openT(t, Options{Dir: dir})
	defer r2.Close()
	h := r2.History()
	gaps := h.GapsIn(testT0, testT0.Add(time.Minute))
	if len(gaps) != 1 || gaps[0].Reason != GapUnknown || gaps[0].Reason.String() != "unknown" ||
		!gaps[0].Start.Equal(testT0.Add(4*time.Second)) || !gaps[0].End.Equal(testT0.Add(20*time.Second)) {
		t.Errorf("gaps %+v, want one of unknown reason from 4 s to 20 s", gaps)
	}
	if why, idle := r2.Pending(); !idle || why != GapAgentNotRunning {
		t.Errorf("a fresh recorder's pending gap = %v, %v; want agent not running", why, idle)
	}
	if _, err := ReadHistory(t.TempDir()); err == nil {
		t.Error("ReadHistory of an empty directory did not fail")
	}
	if never := (History{}); !never.Since().IsZero() {
		t.Error("an empty history has a start")
	}
}
