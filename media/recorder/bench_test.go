package recorder

import (
	"testing"
	"time"

	"github.com/camagent/camagent/media"
)

// BenchmarkWrite records a 25 fps, one-second-GOP stream of about 4 Mbit/s
// with AAC to a real directory: the cost of recording per unit, fragment
// flushes and disk writes included.
func BenchmarkWrite(b *testing.B) {
	f := loadFixture(b)
	const rate = 4_000_000 / 8
	frame := rate / (25 + 4)
	pframe, iframe := make([]byte, frame), make([]byte, 5*frame)
	pframe[0], iframe[0] = 0x41, 0x65
	c := &cam{f: f, t0: testT0}
	var units []media.Unit
	for c.frame < 25*60 {
		u := c.next()
		if u.Track.Codec.IsVideo() {
			u.NALUs = [][]byte{pframe}
			if u.Key {
				u.NALUs = [][]byte{f.video.SPS, f.video.PPS, iframe}
			}
		}
		units = append(units, *u)
	}
	span := 60 * time.Second
	r := openT(b, Options{Dir: b.TempDir()})
	defer r.Close()
	var u media.Unit
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(units)
		shift := time.Duration(i/len(units)) * span
		u = units[k]
		u.DTS += shift
		u.PTS += shift
		u.Wall = u.Wall.Add(shift)
		r.Write(&u)
	}
	b.StopTimer()
	st := r.Stats()
	b.ReportMetric(float64(st.Written)/float64(st.Payload), "write-amp")
}
