package recorder

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A segment cut anywhere (a kill at any byte) is repaired to its last
// complete fragment and stays readable; one without a fragment goes.
func TestRepairTornSegment(t *testing.T) {
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir})
	c := &cam{f: loadFixture(t), t0: testT0}
	c.feed(r, 5*time.Second)
	r.Close()
	src := filepath.Join(r.Dir(), r.Segments()[0].Name())
	whole, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(src)
	full, _ := scanSegment(f)
	f.Close()
	for cut := int64(0); cut < int64(len(whole)); cut += 997 {
		p := filepath.Join(t.TempDir(), "20261207T120000.000Z.mp4")
		if err := os.WriteFile(p, whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := repairSegment(p)
		if s.frags == 0 {
			if _, serr := os.Stat(p); err != errEmpty || serr == nil {
				t.Fatalf("cut %d: empty segment kept (%v)", cut, err)
			}
			continue
		}
		if err != nil || !s.closed || s.frags > full.frags || s.duration() > full.duration() {
			t.Fatalf("cut %d: %+v %v", cut, s, err)
		}
		if cut%(997*40) == 0 {
			checkSegments(t, filepath.Dir(p))
		}
	}
}

// Open rebuilds a missing or corrupt index from the segment files (start
// from the name, duration from the fragments), keeping what a good index
// knew (uploaded marks); the time the agent was not running is a gap.
func TestReopenRebuildsIndex(t *testing.T) {
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir, SegmentLength: 10 * time.Second})
	f := loadFixture(t)
	c := &cam{f: f, t0: testT0}
	c.feed(r, 25*time.Second)
	r.Close()
	want := r.Segments()
	if len(want) != 3 {
		t.Fatalf("segments %+v", want)
	}
	if err := r.MarkUploaded(want[0].Start); err == nil {
		t.Fatal("MarkUploaded after Close must fail")
	}

	r = openT(t, Options{Dir: dir})
	if err := r.MarkUploaded(want[1].Start); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r = openT(t, Options{Dir: dir})
	if got := r.Segments(); !got[1].Uploaded || got[0].Uploaded {
		t.Errorf("uploaded mark not kept: %+v", got)
	}
	r.Close()

	for _, damage := range []string{"missing", "corrupt"} {
		idx := filepath.Join(dir, "main", indexName)
		if damage == "missing" {
			os.Remove(idx)
		} else {
			os.WriteFile(idx, []byte(`{"version":1,"segm`), 0o600)
		}
		r = openT(t, Options{Dir: dir})
		got := r.Segments()
		r.Close()
		if len(got) != len(want) {
			t.Fatalf("%s index: rebuilt %+v", damage, got)
		}
		for i := range got {
			if !got[i].Start.Equal(want[i].Start) || got[i].Duration != want[i].Duration || got[i].Bytes != want[i].Bytes {
				t.Errorf("%s index: segment %d rebuilt as %+v, was %+v", damage, i, got[i], want[i])
			}
		}
		if fi, err := os.Stat(idx); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s index: not rewritten 0600: %v %v", damage, fi, err)
		}
	}

	// The agent comes back an hour later.
	r = openT(t, Options{Dir: dir})
	c2 := &cam{f: f, t0: testT0.Add(time.Hour)}
	c2.feed(r, 3*time.Second)
	r.Close()
	gaps := r.Gaps(testT0, testT0.Add(2*time.Hour))
	if len(gaps) != 1 || gaps[0].Reason != GapAgentNotRunning || !gaps[0].Start.Equal(testT0.Add(25*time.Second)) || !gaps[0].End.Equal(testT0.Add(time.Hour)) {
		t.Errorf("gaps %+v", gaps)
	}
	tl := r.Timeline(testT0.Add(5*time.Second), testT0.Add(time.Hour+time.Second))
	if len(tl) != 2 || !tl[0].Start.Equal(testT0.Add(5*time.Second)) || !tl[1].End.Equal(testT0.Add(time.Hour+time.Second)) {
		t.Errorf("clipped timeline %+v", tl)
	}
}
