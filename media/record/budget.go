// Package record keeps what a camera stream showed recently and turns an
// event interval of it into MP4 files: a GOP-aligned pre-event Buffer per
// stream under one shared memory Budget, a Clip that cuts [event -
// pre-event, end + post-event] into standalone MP4 chunks on key frames,
// and WriteMP4, the progressive (faststart) MP4 writer they use.
package record

import "sync/atomic"

// Budget is one memory limit shared by every pre-event Buffer of the agent,
// so the sum of what all cameras hold stays bounded however many there are.
// It counts payload bytes of retained units; buffers reserve before they
// keep a unit and give bytes back when they drop it. Safe for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of maxBytes payload bytes.
func NewBudget(maxBytes int64) *Budget { return &Budget{max: maxBytes} }

// Used is the number of bytes buffers hold now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Max is the limit given to NewBudget.
func (b *Budget) Max() int64 { return b.max }

// reserve takes n bytes if they fit; it never lets Used exceed Max.
func (b *Budget) reserve(n int64) bool {
	for {
		cur := b.used.Load()
		if cur+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (b *Budget) release(n int64) { b.used.Add(-n) }
