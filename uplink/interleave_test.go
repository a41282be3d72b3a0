package uplink

import (
	"testing"
	"time"

	"github.com/camagent/camagent/media"
)

func TestInterleaverOrdersTracksByDTS(t *testing.T) {
	vt := &media.Track{Codec: media.CodecH264, ClockRate: 90000}
	at := &media.Track{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000}
	ms := time.Millisecond
	v := func(d time.Duration) *media.Unit { return &media.Unit{Track: vt, DTS: d, PTS: d} }
	a := func(d time.Duration, n int) *media.Unit {
		return &media.Unit{Track: at, DTS: d, PTS: d, Frames: make([][]byte, n)}
	}
	// Arrival order as a camera sends it: audio packets carry two frames
	// (2×21.333 ms) and arrive late relative to video.
	in := []*media.Unit{v(0), v(40 * ms), a(0, 2), v(80 * ms), a(42666666, 2), v(120 * ms), a(85333333, 2), v(1000 * ms)}
	var il interleaver
	il.expect([]*media.Track{vt, at})
	var out []time.Duration
	for _, u := range in {
		il.push(u)
		for f, ok := il.pop(); ok; f, ok = il.pop() {
			out = append(out, f.dts)
		}
	}
	for i := 1; i < len(out); i++ {
		if out[i] < out[i-1] {
			t.Fatalf("flvFrame %d at %v after %v: not in DTS order: %v", i, out[i], out[i-1], out)
		}
	}
	// 6 audio frames and the video up to 120 ms are out; the 1 s flvFrame
	// waits for audio until the window passes.
	if len(out) != 10 {
		t.Fatalf("%d frames out, want 10: %v", len(out), out)
	}
	if want := 21333333 * time.Nanosecond; out[2] != want && out[1] != want {
		t.Errorf("second AAC flvFrame of a unit not spaced 1024 samples: %v", out)
	}
}

func TestInterleaverWithoutAudioDoesNotWait(t *testing.T) {
	vt := &media.Track{Codec: media.CodecH264, ClockRate: 90000}
	var il interleaver
	il.push(&media.Unit{Track: vt, DTS: time.Second})
	if _, ok := il.pop(); !ok {
		t.Fatal("video held back although the stream has no audio")
	}
}

func TestInterleaverFlushesWhenOtherTrackStops(t *testing.T) {
	vt := &media.Track{Codec: media.CodecH264, ClockRate: 90000}
	at := &media.Track{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000}
	var il interleaver
	il.push(&media.Unit{Track: at, DTS: 0, Frames: [][]byte{nil}})
	il.pop()
	n := 0
	for i := range 30 { // 1.2 s of video, no more audio
		il.push(&media.Unit{Track: vt, DTS: time.Duration(i) * 40 * time.Millisecond})
		for _, ok := il.pop(); ok; _, ok = il.pop() {
			n++
		}
	}
	if n < 30-13 { // all but the last 500 ms
		t.Errorf("only %d of 30 video frames left while audio was silent", n)
	}
}

func BenchmarkInterleaver(b *testing.B) {
	vt := &media.Track{Codec: media.CodecH264, ClockRate: 90000}
	at := &media.Track{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000}
	v := &media.Unit{Track: vt}
	a := &media.Unit{Track: at, Frames: [][]byte{nil}}
	var il interleaver
	b.ReportAllocs()
	for i := range b.N {
		v.DTS = time.Duration(i) * 40 * time.Millisecond
		a.DTS = v.DTS
		il.push(v)
		il.push(a)
		for _, ok := il.pop(); ok; _, ok = il.pop() {
		}
	}
}
