package record

import (
	"io"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
)

// benchUnits returns a minute of a 25 fps, one-second-GOP stream of about
// 4 Mbit/s (key frames 5x the size of the others) with AAC, the frames
// filled from the fixture's parameter sets so WriteMP4 accepts them.
func benchUnits(b *testing.B) []*media.Unit {
	f := loadFixture(b)
	const rate = 4_000_000 / 8 // bytes/s
	frame := rate / (25 + 4)   // a key frame weighs five of the others
	pframe, iframe := make([]byte, frame), make([]byte, 5*frame)
	pframe[0], iframe[0] = 0x41, 0x65
	c := &cam{f: f}
	var out []*media.Unit
	for c.frame < 25*60 {
		u := c.next()
		if u.Track.Codec.IsVideo() {
			nalus := [][]byte{pframe}
			if u.Key {
				nalus = [][]byte{f.video.SPS, f.video.PPS, iframe}
			}
			u.NALUs = nalus
		}
		out = append(out, u)
	}
	return out
}

func BenchmarkBufferWrite(b *testing.B) {
	units := benchUnits(b)
	buf := NewBuffer(BufferOptions{Keep: 10 * time.Second, Budget: NewBudget(64 << 20)})
	defer buf.Close()
	span := units[len(units)-1].DTS + frameDur
	// One pass to size the ring; later passes repeat the minute later.
	for _, u := range units {
		buf.Write(u)
	}
	var shifted []media.Unit
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(units)
		if k == 0 {
			b.StopTimer()
			// Fresh units (the buffer holds on to the last pass's), made
			// outside the timer.
			shifted = make([]media.Unit, len(units))
			for j, u := range units {
				shifted[j] = *u
				shifted[j].Wall = u.Wall.Add(time.Duration(i/len(units)+1) * span)
			}
			b.StartTimer()
		}
		buf.Write(&shifted[k])
	}
	b.StopTimer()
	st := buf.Stats()
	b.ReportMetric(float64(st.Bytes), "kept-bytes")
	b.ReportMetric(st.Span.Seconds(), "kept-s")
}

func BenchmarkWriteMP4(b *testing.B) {
	units := benchUnits(b)[:25*10*2] // about 10 s
	var size int64
	for _, u := range units {
		size += unitSize(u)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WriteMP4(io.Discard, units, 0); err != nil {
			b.Fatal(err)
		}
	}
}
