package record

import (
	"slices"
	"sync"
	"time"

	"github.com/camagent/camagent/media"
)

// BufferOptions configures a Buffer.
type BufferOptions struct {
	// Keep is how far back, by arrival time, the buffer reaches: it drops
	// its oldest GOP only while what remains still covers Keep.
	Keep time.Duration
	// MaxBytes caps this buffer's payload bytes; 0 means no cap of its own.
	MaxBytes int64
	// Budget caps the sum over every buffer sharing it; nil means none.
	Budget *Budget
}

// BufferStats is a snapshot of a Buffer for the status page and metrics.
type BufferStats struct {
	Units int
	Bytes int64
	// Span is the arrival time from the oldest kept unit to the newest.
	Span time.Duration
	// Trimmed counts GOPs dropped before they were Keep old because
	// MaxBytes or the Budget ran out: the pre-event part got shorter.
	Trimmed uint64
	// Discarded counts units not kept because even the GOP they belong to
	// did not fit; the buffer then waits for the next key frame.
	Discarded uint64
	// Clips is the number of clips being cut.
	Clips int
}

// Buffer is the rolling pre-event buffer of one camera stream. It holds
// pointers to the stream's shared units (never copies or changes them),
// always from a video key frame on, with audio interleaved in arrival order.
// A stream without video has no key frames, so nothing is kept.
//
// Write is meant for the one goroutine that reads the stream; it also feeds
// every active Clip of the buffer, so a clip started between two writes
// neither misses nor repeats a unit. The other methods may be called from
// any goroutine.
type Buffer struct {
	opts BufferOptions

	mu sync.Mutex
	// ring holds n units from head on; the unit at head is a video key
	// frame whenever n > 0. It grows by doubling and is reused after, so
	// steady-state writes do not allocate.
	ring    []entry
	head, n int
	bytes   int64
	// keys counts key frames in the ring; second is the ring offset (from
	// head) of the second one, valid when keys >= 2.
	keys, second int
	// keyed: a key frame started the GOP being written; without it units
	// are not kept.
	keyed     bool
	trimmed   uint64
	discarded uint64
	closed    bool

	clips []*Clip
	// ready holds clips with chunks to deliver after Write unlocks; only
	// Write touches it.
	ready []*Clip
}

type entry struct {
	u    *media.Unit
	size int64
}

// NewBuffer returns an empty buffer.
func NewBuffer(opts BufferOptions) *Buffer {
	return &Buffer{opts: opts}
}

// Write offers the next unit of the stream to the buffer and to its active
// clips, and delivers the chunks that unit completed (OnChunk runs on the
// caller's goroutine). Call it from one goroutine, with units in stream order.
func (b *Buffer) Write(u *media.Unit) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.keep(u)
	for _, c := range b.clips {
		c.add(u, true)
		if c.claimDelivery() {
			b.ready = append(b.ready, c)
		}
	}
	if len(b.ready) > 0 {
		b.clips = slices.DeleteFunc(b.clips, (*Clip).isFinished)
	}
	b.mu.Unlock()
	for i, c := range b.ready {
		c.deliver()
		b.ready[i] = nil
	}
	b.ready = b.ready[:0]
}

// keep adds u to the ring, making room by dropping whole GOPs from the front.
func (b *Buffer) keep(u *media.Unit) {
	key := u.Key && u.Track.Codec.IsVideo()
	if key {
		b.keyed = true
	}
	if !b.keyed {
		return
	}
	for b.keys >= 2 && u.Wall.Sub(b.at(b.second).Wall) >= b.opts.Keep {
		b.dropGOP()
	}
	size := unitSize(u)
	for !b.reserve(size) {
		switch {
		case b.keys >= 2:
			b.dropGOP()
			b.trimmed++
		case key && b.n > 0: // the one GOP kept is older than u
			b.dropAll()
			b.trimmed++
		default:
			// u's GOP does not fit even alone: its head without its tail
			// would be useless, so drop it and wait for the next key frame.
			b.discarded += uint64(b.n) + 1
			b.dropAll()
			b.keyed = false
			return
		}
	}
	b.push(entry{u, size})
}

func (b *Buffer) reserve(size int64) bool {
	if b.opts.MaxBytes > 0 && b.bytes+size > b.opts.MaxBytes {
		return false
	}
	return b.opts.Budget == nil || b.opts.Budget.reserve(size)
}

func (b *Buffer) at(i int) *media.Unit { return b.ring[(b.head+i)%len(b.ring)].u }

func (b *Buffer) push(e entry) {
	if b.n == len(b.ring) {
		grown := make([]entry, max(64, 2*len(b.ring)))
		for i := range b.n {
			grown[i] = b.ring[(b.head+i)%len(b.ring)]
		}
		b.ring, b.head = grown, 0
	}
	if e.u.Key && e.u.Track.Codec.IsVideo() {
		if b.keys == 1 {
			b.second = b.n
		}
		b.keys++
	}
	b.ring[(b.head+b.n)%len(b.ring)] = e
	b.n++
	b.bytes += e.size
}

// dropGOP drops units from the front up to the second key frame.
func (b *Buffer) dropGOP() {
	b.popFront(b.second)
	b.keys--
	if b.keys < 2 {
		return
	}
	for i := 1; i < b.n; i++ {
		if u := b.at(i); u.Key && u.Track.Codec.IsVideo() {
			b.second = i
			return
		}
	}
}

func (b *Buffer) dropAll() {
	b.popFront(b.n)
	b.keys = 0
}

func (b *Buffer) popFront(k int) {
	var freed int64
	for range k {
		e := &b.ring[b.head]
		freed += e.size
		*e = entry{}
		b.head = (b.head + 1) % len(b.ring)
	}
	b.n -= k
	b.bytes -= freed
	if b.opts.Budget != nil {
		b.opts.Budget.release(freed)
	}
}

// snapshot returns the kept units from the last key frame that arrived at
// or before from, or from the oldest kept unit.
func (b *Buffer) snapshot(from time.Time) []*media.Unit {
	start := 0
	for i := range b.n {
		u := b.at(i)
		if u.Wall.After(from) {
			break
		}
		if u.Key && u.Track.Codec.IsVideo() {
			start = i
		}
	}
	out := make([]*media.Unit, 0, b.n-start+64)
	for i := start; i < b.n; i++ {
		out = append(out, b.at(i))
	}
	return out
}

// Stats returns the buffer's counters.
func (b *Buffer) Stats() BufferStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := BufferStats{Units: b.n, Bytes: b.bytes, Trimmed: b.trimmed, Discarded: b.discarded, Clips: len(b.clips)}
	if b.n > 0 {
		st.Span = b.at(b.n - 1).Wall.Sub(b.at(0).Wall)
	}
	return st
}

// Close gives the buffer's bytes back to the budget and ends its active
// clips as Clip.Close does; later writes are ignored.
func (b *Buffer) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.dropAll()
	b.ring = nil
	clips := b.clips
	b.clips = nil
	var ready []*Clip
	for _, c := range clips {
		c.finish()
		if c.claimDelivery() {
			ready = append(ready, c)
		}
	}
	b.mu.Unlock()
	for _, c := range ready {
		c.deliver()
	}
}

// unitSize is the payload the unit holds: what the buffer counts.
func unitSize(u *media.Unit) int64 {
	var n int
	for _, p := range u.NALUs {
		n += len(p)
	}
	for _, p := range u.Frames {
		n += len(p)
	}
	return int64(n)
}
