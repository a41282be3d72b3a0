package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

var (
	testVideo = &Track{Codec: CodecH264, ClockRate: 90000, SPS: []byte{0x67, 1}, PPS: []byte{0x68, 2}}
	testAudio = &Track{Codec: CodecAAC, ClockRate: 48000, Config: []byte{0x11, 0x88}, SampleRate: 48000, Channels: 1}
)

func vunit(ms int, key bool, size int) *Unit {
	d := time.Duration(ms) * time.Millisecond
	return &Unit{Track: testVideo, PTS: d, DTS: d, Key: key, NALUs: [][]byte{make([]byte, size)}, Wall: time.Now()}
}

func aunit(ms int) *Unit {
	d := time.Duration(ms) * time.Millisecond
	return &Unit{Track: testAudio, PTS: d, DTS: d, Frames: [][]byte{{1, 2, 3}}, Wall: time.Now()}
}

func newTestStream() *Stream {
	s := NewStream(nil)
	s.beginSession(testVideo, testAudio)
	return s
}

func readN(t *testing.T, r *Reader, n int) []*Unit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*Unit
	for range n {
		u, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, u)
	}
	return out
}

func expectEmpty(t *testing.T, r *Reader) {
	t.Helper()
	if q := r.Queued(); q != 0 {
		t.Fatalf("reader has %d queued units, want none", q)
	}
}

func describe(us []*Unit) string {
	s := ""
	for _, u := range us {
		switch {
		case u.Track.Codec.IsVideo() && u.Key:
			s += fmt.Sprintf("K%d ", u.PTS/time.Millisecond)
		case u.Track.Codec.IsVideo():
			s += fmt.Sprintf("P%d ", u.PTS/time.Millisecond)
		default:
			s += fmt.Sprintf("A%d ", u.PTS/time.Millisecond)
		}
	}
	return s
}

func TestReaderStartsAtKeyFrameFromGOPCache(t *testing.T) {
	s := newTestStream()
	s.write(aunit(0)) // before any key frame: not cached
	s.write(vunit(0, true, 10))
	s.write(aunit(20))
	s.write(vunit(40, false, 10))
	s.write(aunit(40))

	r := s.AddReader("late", 16)
	got := describe(readN(t, r, 4))
	if want := "K0 A20 P40 A40 "; got != want {
		t.Fatalf("late reader got %q, want %q", got, want)
	}
	s.write(vunit(80, false, 10))
	if got := describe(readN(t, r, 1)); got != "P80 " {
		t.Fatalf("then live %q", got)
	}
	if r.Dropped() != 0 {
		t.Fatalf("dropped %d", r.Dropped())
	}
}

func TestReaderWithoutCacheWaitsForKeyFrame(t *testing.T) {
	s := newTestStream()
	r := s.AddReader("early", 16)
	s.write(aunit(0))
	s.write(vunit(0, false, 10))
	s.write(aunit(20))
	s.write(vunit(40, true, 10))
	s.write(aunit(60))
	if got, want := describe(readN(t, r, 2)), "K40 A60 "; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	expectEmpty(t, r)
}

func TestSlowReaderDropsThenResumesAtKeyFrame(t *testing.T) {
	s := newTestStream()
	r := s.AddReader("slow", 4)
	s.write(vunit(0, true, 10))
	for i := 1; i <= 9; i++ { // P40 P80 P120 fit; P160..P360 are dropped
		s.write(vunit(i*40, false, 10))
	}
	s.write(aunit(361)) // queue still full: dropped
	if got, want := describe(readN(t, r, 4)), "K0 P40 P80 P120 "; got != want {
		t.Fatalf("queued %q, want %q", got, want)
	}
	s.write(vunit(400, false, 10)) // references a dropped frame: skipped
	s.write(aunit(401))            // audio keeps flowing
	s.write(vunit(440, true, 10))
	s.write(vunit(480, false, 10))
	if got, want := describe(readN(t, r, 3)), "A401 K440 P480 "; got != want {
		t.Fatalf("after drop %q, want %q", got, want)
	}
	if d := r.Dropped(); d != 6+1+1 {
		t.Fatalf("dropped %d, want 8", d)
	}
	// The stream's total outlives the reader: metrics still count a
	// publish's losses after it ended.
	r.Close()
	if d := s.Stats().ReaderDrops; d != 8 {
		t.Fatalf("stream counts %d reader drops after the reader left, want 8", d)
	}
}

func TestGOPCacheBoundedByBytes(t *testing.T) {
	s := newTestStream()
	s.write(vunit(0, true, 1<<20))
	for i := 1; i <= 9; i++ {
		s.write(vunit(i*40, false, 1<<20))
	}
	st := s.Stats()
	if st.GOPBytes > MaxGOPBytes || st.GOPOverflow != 1 {
		t.Fatalf("gop cache holds %d bytes (cap %d), overflows %d", st.GOPBytes, MaxGOPBytes, st.GOPOverflow)
	}
	// The overflowed GOP is unusable, so a new reader waits for the next key frame.
	r := s.AddReader("late", 64)
	expectEmpty(t, r)
	s.write(vunit(400, false, 10))
	s.write(vunit(440, true, 10))
	if got := describe(readN(t, r, 1)); got != "K440 " {
		t.Fatalf("got %q", got)
	}
}

func TestGOPCacheBoundedByUnits(t *testing.T) {
	s := newTestStream()
	s.write(vunit(0, true, 10))
	for i := 1; i <= 2*MaxGOPUnits; i++ {
		s.write(aunit(i))
	}
	if st := s.Stats(); st.GOPUnits > MaxGOPUnits {
		t.Fatalf("gop cache holds %d units, cap %d", st.GOPUnits, MaxGOPUnits)
	}
}

func TestTimelineMonotonicAcrossSessions(t *testing.T) {
	s := NewStream(nil)
	r := s.AddReader("r", 64)
	v1, a1 := s.beginSession(testVideo, testAudio)
	for i := range 5 {
		s.write(&Unit{Track: v1, PTS: time.Duration(1000+i*40) * time.Millisecond, DTS: time.Duration(1000+i*40) * time.Millisecond, Key: i == 0})
		s.write(&Unit{Track: a1, PTS: time.Duration(1010+i*40) * time.Millisecond, DTS: time.Duration(1010+i*40) * time.Millisecond})
	}
	// A reconnect restarts camera time near zero with identical parameters.
	v2, a2 := s.beginSession(
		&Track{Codec: CodecH264, ClockRate: 90000, SPS: []byte{0x67, 1}, PPS: []byte{0x68, 2}},
		&Track{Codec: CodecAAC, ClockRate: 48000, Config: []byte{0x11, 0x88}, SampleRate: 48000, Channels: 1})
	if v2 != v1 || a2 != a1 {
		t.Fatal("unchanged parameters must keep the track pointers")
	}
	for i := range 5 {
		s.write(&Unit{Track: v2, PTS: time.Duration(i*40) * time.Millisecond, DTS: time.Duration(i*40) * time.Millisecond, Key: i == 0})
		s.write(&Unit{Track: a2, PTS: time.Duration(5+i*40) * time.Millisecond, DTS: time.Duration(5+i*40) * time.Millisecond})
	}
	last := map[bool]time.Duration{false: -1, true: -1}
	for _, u := range readN(t, r, 20) {
		v := u.Track.Codec.IsVideo()
		if u.DTS <= last[v] {
			t.Fatalf("dts went from %v to %v", last[v], u.DTS)
		}
		last[v] = u.DTS
	}
	// A camera that sends parameter sets only in band keeps the old track
	// until the in-band check sees a difference.
	if v, _ := s.beginSession(&Track{Codec: CodecH264, ClockRate: 90000}, a1); v != v1 {
		t.Fatal("SDP without SPS must keep the current track")
	}
	v3, _ := s.beginSession(&Track{Codec: CodecH264, ClockRate: 90000, SPS: []byte{0x67, 9}}, nil)
	if v3 == v1 {
		t.Fatal("changed SPS must publish a new track")
	}
	if got := s.setTrack(&Track{Codec: CodecH264, ClockRate: 90000, SPS: []byte{0x67, 9}}); got != v3 {
		t.Fatal("identical in-band parameters must keep the track")
	}
}

func TestReaderCloseAndStreamClose(t *testing.T) {
	s := newTestStream()
	r1 := s.AddReader("a", 4)
	r2 := s.AddReader("b", 4)
	r1.Close()
	if _, err := r1.Read(context.Background()); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("closed reader: %v", err)
	}
	s.write(vunit(0, true, 10))
	if st := s.Stats(); st.Readers != 1 {
		t.Fatalf("readers %d", st.Readers)
	}
	s.Close()
	if got := describe(readN(t, r2, 1)); got != "K0 " {
		t.Fatalf("queued unit lost on close: %q", got)
	}
	if _, err := r2.Read(context.Background()); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("after stream close: %v", err)
	}
}

func BenchmarkStreamFanout(b *testing.B) {
	for _, readers := range []int{1, 4} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			s := newTestStream()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range readers {
				r := s.AddReader(fmt.Sprint(i), 1024)
				wg.Go(func() {
					for {
						if _, err := r.Read(ctx); err != nil {
							return
						}
					}
				})
			}
			// A fixed ring of units stands in for the source so only the
			// hub's own allocations are measured.
			units := make([]*Unit, 256)
			for i := range units {
				units[i] = vunit(0, i%25 == 0, 4000)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				u := units[i%len(units)]
				u.Key = i%25 == 0
				u.PTS = time.Duration(i) * time.Millisecond
				u.DTS = u.PTS
				s.write(u)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "units/s")
			cancel()
			wg.Wait()
		})
	}
}

// TestLastVideoIgnoresAudio: audio arriving after the video stopped moves
// LastFrame but not LastVideo, so the camera can tell a stalled picture
// from a stream that merely has audio.
func TestLastVideoIgnoresAudio(t *testing.T) {
	s := newTestStream()
	if st := s.Stats(); !st.LastVideo.IsZero() {
		t.Fatalf("LastVideo %v before any unit", st.LastVideo)
	}
	v := vunit(0, true, 10)
	v.Wall = time.Now().Add(-time.Minute)
	s.write(v)
	a := aunit(10)
	a.Wall = time.Now()
	s.write(a)
	st := s.Stats()
	if !st.LastVideo.Equal(v.Wall) || !st.LastFrame.Equal(a.Wall) {
		t.Errorf("LastVideo %v, LastFrame %v; want the video's %v and the audio's %v", st.LastVideo, st.LastFrame, v.Wall, a.Wall)
	}
}

func kinds(us []*Unit) string {
	s := ""
	for _, u := range us {
		switch {
		case u.Discontinuity:
			s += "|"
		}
		switch {
		case u.Track.Codec.IsVideo() && u.Key:
			s += "K"
		case u.Track.Codec.IsVideo():
			s += "P"
		default:
			s += "A"
		}
	}
	return s
}

// A camera that comes back mid-GOP keeps its track pointer (same
// parameters), so readers cannot tell its P frames from the old session's:
// the stream must hold the new session back until its first key frame.
func TestNewSessionStartsAtKeyFrame(t *testing.T) {
	s := NewStream(nil)
	r := s.AddReader("r", 64)
	v, a := s.beginSession(testVideo, testAudio)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	w := func(t *Track, at int, key bool) {
		s.write(&Unit{Track: t, PTS: ms(at), DTS: ms(at), Key: key})
	}
	w(v, 0, true)
	w(a, 10, false)
	w(v, 40, false)
	w(v, 80, false)

	// The session restarts on a P frame.
	s.beginSession(testVideo, testAudio)
	w(v, 0, false)
	w(a, 5, false)
	w(v, 40, true)
	w(a, 45, false)
	w(v, 80, false)

	// The first key frame of this session maps before the last video
	// (audio came first and set the offset) and is discarded; the P frames
	// after it must not get through either.
	s.beginSession(testVideo, testAudio)
	w(a, 300, false)
	w(v, 0, true)
	w(v, 340, false)
	w(a, 345, false)
	w(v, 380, false)
	w(v, 420, true)
	w(a, 425, false)
	w(v, 460, false)

	got := kinds(readN(t, r, 10))
	expectEmpty(t, r)
	if want := "KAPP|KAP|KAP"; got != want {
		t.Errorf("reader got %s, want %s (| marks a discontinuity)", got, want)
	}
	if st := s.Stats(); st.VideoFrames != 10 || st.AudioUnits != 6 || st.Discarded != 1 {
		t.Errorf("stats %+v: every unit received is counted, only the backwards one discarded", st)
	}
}
