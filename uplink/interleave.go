package uplink

import (
	"time"

	"github.com/camagent/camagent/media"
)

// interleaveWindow is how long (on the media timeline) one track's units wait
// for the other track before they are sent anyway: long enough to cover the
// skew between a camera's RTP audio and video packets, short enough that a
// camera whose audio stops adds little latency.
const interleaveWindow = 500 * time.Millisecond

// flvFrame is one FLV frame to send: a video unit, or one audio frame of a unit
// (an AAC unit may carry several frames, each 1024 samples later).
type flvFrame struct {
	u   *media.Unit
	idx int // index into u.Frames for audio
	dts time.Duration
}

// interleaver orders the frames of both tracks by DTS. Cameras deliver audio
// and video RTP packets with some skew, so units leave the stream slightly
// out of DTS order across tracks; sending them as they come would make the
// FLV timeline jump back and forth, and clamping would shift one track.
// Queues are reused, so steady state allocates nothing.
type interleaver struct {
	q      [2][]flvFrame // 0 video, 1 audio
	head   [2]int
	seen   [2]bool
	newest time.Duration
}

// expect tells the interleaver which tracks the stream has, when known, so
// it holds video for audio from the first frame on but never waits for a
// track the stream lacks.
func (il *interleaver) expect(tracks []*media.Track) {
	for _, t := range tracks {
		if t.Codec.IsVideo() {
			il.seen[0] = true
		} else {
			il.seen[1] = true
		}
	}
}

func trackKind(u *media.Unit) int {
	if u.Track.Codec.IsVideo() {
		return 0
	}
	return 1
}

// push queues u's frames.
func (il *interleaver) push(u *media.Unit) {
	k := trackKind(u)
	il.seen[k] = true
	if k == 0 {
		il.q[0] = append(il.q[0], flvFrame{u: u, dts: u.DTS})
		il.newest = max(il.newest, u.DTS)
		return
	}
	rate := u.Track.SampleRate
	if rate <= 0 {
		rate = u.Track.ClockRate
	}
	for i := range u.Frames {
		dts := u.DTS
		if i > 0 && rate > 0 && u.Track.Codec == media.CodecAAC {
			dts += time.Duration(i) * 1024 * time.Second / time.Duration(rate)
		}
		il.q[1] = append(il.q[1], flvFrame{u: u, idx: i, dts: dts})
		il.newest = max(il.newest, dts)
	}
}

func (il *interleaver) len(k int) int { return len(il.q[k]) - il.head[k] }

// pop returns the next flvFrame to send, or false when the frames held must
// wait for the other track.
func (il *interleaver) pop() (flvFrame, bool) {
	nv, na := il.len(0), il.len(1)
	var k int
	switch {
	case nv > 0 && na > 0:
		if il.q[1][il.head[1]].dts < il.q[0][il.head[0]].dts {
			k = 1
		}
	case nv > 0:
		if il.seen[1] && il.q[0][il.head[0]].dts > il.newest-interleaveWindow {
			return flvFrame{}, false
		}
	case na > 0:
		k = 1
		if il.seen[0] && il.q[1][il.head[1]].dts > il.newest-interleaveWindow {
			return flvFrame{}, false
		}
	default:
		return flvFrame{}, false
	}
	f := il.q[k][il.head[k]]
	il.q[k][il.head[k]] = flvFrame{}
	il.head[k]++
	if il.head[k] == len(il.q[k]) {
		il.q[k], il.head[k] = il.q[k][:0], 0
	}
	return f, true
}
