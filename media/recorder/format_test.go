package recorder

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Format deletes the stream's segments, the open one too, and leaves a
// fresh index: no gaps, no uploaded flags, the budget no longer counting
// them. Another recorder on the budget keeps its segments, and recording
// goes on at the next key frame into segments that read back cleanly.
func TestFormat(t *testing.T) {
	dir := t.TempDir()
	b := NewBudget(1 << 40)
	f := loadFixture(t)
	other := openT(t, Options{Dir: dir, Stream: "other", SegmentLength: 10 * time.Second, Budget: b})
	(&cam{f: f, t0: testT0}).feed(other, 20*time.Second+frameDur)
	defer other.Close()
	otherSegs := other.Segments()

	r := openT(t, Options{Dir: dir, Stream: "main", SegmentLength: 10 * time.Second, Budget: b})
	c := &cam{f: f, t0: testT0}
	c.feed(r, 10*time.Second+frameDur)
	r.Pause(GapCameraOffline)
	c.t0 = c.t0.Add(time.Minute)
	c.feed(r, 25*time.Second) // a gap, then a segment still open
	if err := r.MarkUploaded(r.Segments()[0].Start); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Segments()); n < 3 || len(r.Gaps(testT0, testT0.Add(time.Hour))) == 0 {
		t.Fatalf("fixture: %d segments, gaps %v", n, r.Gaps(testT0, testT0.Add(time.Hour)))
	}
	formatAt := c.t0.Add(c.fed())

	if err := r.Format(); err != nil {
		t.Fatal(err)
	}
	if segs := r.Segments(); len(segs) != 0 {
		t.Fatalf("after format: %+v", segs)
	}
	files, _ := filepath.Glob(filepath.Join(r.Dir(), "*"+segExt))
	if len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	if used, want := b.Used(), other.bytes(); used != want {
		t.Errorf("budget counts %d bytes, want the other recorder's %d", used, want)
	}
	if got := other.Segments(); len(got) != len(otherSegs) {
		t.Errorf("other stream lost segments: %d of %d", len(got), len(otherSegs))
	}

	c.feed(r, 50*time.Second+frameDur)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	checkSegments(t, r.Dir())
	again, err := Open(Options{Dir: dir, Stream: "main"})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	segs := again.Segments()
	if len(segs) == 0 || segs[0].Start.Before(formatAt) || segs[0].Uploaded {
		t.Fatalf("after format and restart: %+v, want fresh segments from %v", segs, formatAt)
	}
	if gaps := again.Gaps(time.Time{}, farTime); len(gaps) != 0 {
		t.Errorf("gaps %+v, want the old ones gone with the format", gaps)
	}
	if tl := again.Timeline(time.Time{}, farTime); len(tl) != 1 {
		t.Errorf("timeline %+v, want one range after the format", tl)
	}
}

var farTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Format while the stream's reader writes and the disk goroutine works
// leaves segments that all read back cleanly and an index that agrees.
func TestFormatWhileWriting(t *testing.T) {
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir, SegmentLength: 2 * time.Second, FragmentLength: 200 * time.Millisecond})
	c := &cam{f: loadFixture(t), t0: testT0}
	var wg sync.WaitGroup
	wg.Go(func() { c.feed(r, 40*time.Second) })
	for range 20 {
		if err := r.Format(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	idx := r.Segments()
	again, err := Open(Options{Dir: dir, Stream: "main"})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Stats().Repaired != 0 || len(again.Segments()) != len(idx) {
		t.Errorf("reopened: %d repaired, %d segments, index had %d", again.Stats().Repaired, len(again.Segments()), len(idx))
	}
	if len(idx) > 0 {
		checkSegments(t, r.Dir())
	}
	ents, _ := os.ReadDir(r.Dir())
	for _, e := range ents {
		if _, ok := parseSegName(e.Name()); ok && again.idx.find(mustSegTime(t, e.Name())) < 0 {
			t.Errorf("%s on disk, not in the index", e.Name())
		}
	}
}

func mustSegTime(t *testing.T, name string) time.Time {
	t.Helper()
	s, ok := parseSegName(name)
	if !ok {
		t.Fatalf("not a segment name: %s", name)
	}
	return s
}
