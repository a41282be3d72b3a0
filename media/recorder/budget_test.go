package recorder

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Over MaxBytes the recorder deletes uploaded segments first, then the
// oldest never uploaded, logging each of those with the camera's name;
// the deleted spans are evicted gaps.
func TestEvictUploadedFirst(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir, Camera: "door", Log: zap.New(core), SegmentLength: 10 * time.Second, MaxBytes: 1_500_000})
	c := &cam{f: loadFixture(t), t0: testT0}
	c.feed(r, 30*time.Second)
	segs := r.Segments()
	if len(segs) != 3 || segs[0].Bytes*3 > 1_500_000 || segs[0].Bytes*4 < 1_500_000 {
		t.Fatalf("fixture no longer fits the budget: %+v", segs)
	}
	if err := r.MarkUploaded(segs[1].Start); err != nil {
		t.Fatal(err)
	}
	c.feed(r, 50*time.Second+frameDur)
	r.Close()
	got := r.Segments()
	if len(got) != 4 || !got[0].Start.Equal(segs[2].Start) {
		t.Fatalf("left %+v", got)
	}
	st := r.Stats()
	if st.EvictedUploaded != 1 || st.EvictedNotUploaded != 1 {
		t.Errorf("evicted %d uploaded, %d never uploaded", st.EvictedUploaded, st.EvictedNotUploaded)
	}
	lines := logs.FilterMessage("evicted segment never uploaded").All()
	if len(lines) != 1 || lines[0].ContextMap()["camera"] != "door" || !lines[0].ContextMap()["start"].(time.Time).Equal(segs[0].Start) {
		t.Errorf("log %+v", lines)
	}
	gaps := r.Gaps(testT0, testT0.Add(time.Hour))
	if len(gaps) != 2 || gaps[0].Reason != GapEvicted || gaps[1].Reason != GapEvicted || !gaps[0].End.Equal(segs[1].Start) || !gaps[1].End.Equal(segs[2].Start) {
		t.Errorf("gaps %+v", gaps)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), segs[0].Name())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("evicted file still there: %v", err)
	}
}

// A Budget shared by two cameras evicts the oldest segment of either.
func TestSharedBudget(t *testing.T) {
	dir := t.TempDir()
	b := NewBudget(1_500_000)
	f := loadFixture(t)
	a := openT(t, Options{Dir: dir, Stream: "a", SegmentLength: 10 * time.Second, Budget: b})
	(&cam{f: f, t0: testT0}).feed(a, 20*time.Second+frameDur)
	bb := openT(t, Options{Dir: dir, Stream: "b", SegmentLength: 10 * time.Second, Budget: b})
	(&cam{f: f, t0: testT0.Add(time.Hour)}).feed(bb, 20*time.Second+frameDur)
	bb.Close()
	a.Close()
	if b.Used() != 0 {
		t.Errorf("closed recorders still counted: %d", b.Used())
	}
	as, bs := a.Segments(), bb.Segments()
	if len(as) != 2 || !as[0].Start.Equal(testT0.Add(10*time.Second)) || len(bs) != 3 {
		t.Errorf("a %+v, b %+v", as, bs)
	}
	if a.Stats().EvictedNotUploaded != 1 || bb.Stats().EvictedNotUploaded != 0 {
		t.Errorf("a evicted %d, b %d", a.Stats().EvictedNotUploaded, bb.Stats().EvictedNotUploaded)
	}
}

// The free-space guard evicts whatever is closed when the disk is short.
func TestMinFreeEvicts(t *testing.T) {
	r := openT(t, Options{Dir: t.TempDir(), SegmentLength: 10 * time.Second, MinFreeBytes: 1 << 62})
	(&cam{f: loadFixture(t), t0: testT0}).feed(r, 30*time.Second)
	r.Close()
	if s := r.Segments(); len(s) != 0 || r.Stats().EvictedNotUploaded != 3 {
		t.Errorf("left %+v, stats %+v", s, r.Stats())
	}
}

// The recording directory removed under the recorder: Problem says so,
// Write goes on, and the next key frame starts a segment in a new
// directory; the lost span is a disk-error gap.
func TestDirectoryRemoved(t *testing.T) {
	r := openT(t, Options{Dir: t.TempDir()})
	c := &cam{f: loadFixture(t), t0: testT0}
	c.feed(r, 5*time.Second)
	if err := os.RemoveAll(r.Dir()); err != nil {
		t.Fatal(err)
	}
	// The disk goroutine notices after a fragment write, while Write may
	// be a few fragments ahead: feed until it has, then three more GOPs
	// for the next key frame to start the new segment.
	var seen *DiskError
	end := time.Duration(0)
	for end == 0 || c.fed() < end {
		if c.fed() > time.Minute {
			t.Fatal("the removed directory was never noticed")
		}
		r.Write(c.next())
		var de *DiskError
		if errors.As(r.Problem(), &de) && seen == nil {
			seen = de
			end = c.fed() + 3*time.Second
		}
	}
	r.Close()
	if seen == nil || seen.Kind != ProblemDirGone {
		t.Fatalf("problem %v", seen)
	}
	if p := r.Problem(); p != nil {
		t.Errorf("not recovered: %v", p)
	}
	checkSegments(t, r.Dir())
	tl := r.Timeline(testT0, testT0.Add(time.Hour))
	gaps := r.Gaps(testT0, testT0.Add(time.Hour))
	if len(tl) == 0 || !tl[len(tl)-1].End.Equal(testT0.Add(end)) || len(gaps) == 0 || gaps[len(gaps)-1].Reason != GapDiskError {
		t.Errorf("timeline %+v gaps %+v", tl, gaps)
	}
}
