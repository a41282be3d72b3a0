package recorder

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// A stream of 150 s is three segments cut on key frames at 60 s, named
// by their start, each readable to the end, together exactly as long as
// what was fed, and one contiguous range on the timeline.
func TestRecordSegments(t *testing.T) {
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir})
	c := &cam{f: loadFixture(t), t0: testT0}
	c.feed(r, 150*time.Second)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	segs := r.Segments()
	want := []string{"20261207T120000.000Z.mp4", "20261207T120100.000Z.mp4", "20261207T120200.000Z.mp4"}
	if len(segs) != len(want) {
		t.Fatalf("segments %+v", segs)
	}
	for i, s := range segs {
		if s.Name() != want[i] {
			t.Errorf("segment %d is %s, want %s", i, s.Name(), want[i])
		}
		fi, err := os.Stat(filepath.Join(r.Dir(), s.Name()))
		if err != nil || fi.Size() != s.Bytes {
			t.Errorf("segment %s: index says %d bytes, disk %v %v", s.Name(), s.Bytes, fi, err)
		}
	}
	if total := checkSegments(t, r.Dir()); total != c.fed() {
		t.Errorf("recorded %v, fed %v", total, c.fed())
	}
	tl := r.Timeline(testT0.Add(-time.Hour), testT0.Add(time.Hour))
	if len(tl) != 1 || !tl[0].Start.Equal(testT0) || !tl[0].End.Equal(testT0.Add(c.fed())) {
		t.Errorf("timeline %+v", tl)
	}
	// mediacommon's fMP4 reader agrees with the fragments we write.
	init, frags, err := readFragments(filepath.Join(r.Dir(), segs[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(init)); err != nil || len(in.Tracks) != 2 {
		t.Fatalf("init %+v %v", in, err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(frags); err != nil {
		t.Fatal(err)
	}
	video, audio, keys := 0, 0, 0
	var vdur uint64
	for _, p := range parts {
		for _, pt := range p.Tracks {
			for _, s := range pt.Samples {
				if pt.ID == videoID {
					video++
					vdur += uint64(s.Duration)
					if !s.IsNonSyncSample {
						keys++
					}
				} else {
					audio++
				}
			}
		}
	}
	if video != 1500 || keys != 60 || tickDur(vdur) != time.Minute || audio < 2800 {
		t.Errorf("first segment: %d video samples (%d key, %v), %d audio", video, keys, tickDur(vdur), audio)
	}
	st := r.Stats()
	if st.Dropped != 0 || st.Segments != 3 || st.Fragments < 145 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("write amplification %.4f (%d written / %d payload)", float64(st.Written)/float64(st.Payload), st.Written, st.Payload)
}

// A new camera session ends the segment; the time between is a gap the
// index explains, and the timeline shows two ranges.
func TestDiscontinuityIsAGap(t *testing.T) {
	dir := t.TempDir()
	r := openT(t, Options{Dir: dir})
	f := loadFixture(t)
	c := &cam{f: f, t0: testT0}
	c.feed(r, 10*time.Second)
	// The camera comes back 30 s later; the stream timeline continues.
	c2 := &cam{f: f, t0: testT0.Add(40 * time.Second), base: 10*time.Second + 100*time.Millisecond, discont: true}
	c2.feed(r, 5*time.Second)
	r.Close()
	tl := r.Timeline(testT0, testT0.Add(time.Hour))
	if len(tl) != 2 || !tl[0].End.Equal(testT0.Add(10*time.Second)) || !tl[1].Start.Equal(testT0.Add(40*time.Second)) || !tl[1].End.Equal(testT0.Add(45*time.Second)) {
		t.Fatalf("timeline %+v", tl)
	}
	gaps := r.Gaps(testT0, testT0.Add(time.Hour))
	if len(gaps) != 1 || gaps[0].Reason != GapCameraOffline || !gaps[0].Start.Equal(tl[0].End) || !gaps[0].End.Equal(tl[1].Start) {
		t.Fatalf("gaps %+v", gaps)
	}
	checkSegments(t, r.Dir())
}
