package recorder

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"go.uber.org/zap"
)

// Budget is a byte limit shared by recorders (every camera of the agent):
// when their segments together exceed it, the oldest segment of any of
// them goes first, uploaded ones before those never uploaded.
type Budget struct {
	max  int64
	mu   sync.Mutex
	recs []*Recorder
}

// NewBudget returns a budget of maxBytes of segment files.
func NewBudget(maxBytes int64) *Budget { return &Budget{max: maxBytes} }

// Max is the limit given to NewBudget.
func (b *Budget) Max() int64 { return b.max }

// Used is the size of the segments of every recorder on the budget.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n int64
	for _, r := range b.recs {
		n += r.bytes()
	}
	return n
}

func (b *Budget) add(r *Recorder) {
	b.mu.Lock()
	b.recs = append(b.recs, r)
	b.mu.Unlock()
}

func (b *Budget) remove(r *Recorder) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.recs {
		if x == r {
			b.recs = append(b.recs[:i], b.recs[i+1:]...)
			return
		}
	}
}

// members returns the recorders on the budget.
func (b *Budget) members() []*Recorder {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Recorder(nil), b.recs...)
}

func (r *Recorder) bytes() int64 {
	r.imu.Lock()
	defer r.imu.Unlock()
	return r.idx.bytes()
}

// freeBytes is what the file system holding dir has free for us; -1 when
// it cannot tell.
func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// evict deletes segments until the recorder is within MaxBytes, the
// shared Budget and MinFreeBytes. full: a write just failed for lack of
// space, so one segment goes even if the limits look met.
func (r *Recorder) evict(full bool) {
	for {
		var pool []*Recorder
		switch {
		case r.opts.MaxBytes > 0 && r.bytes() > r.opts.MaxBytes:
			pool = []*Recorder{r}
		case r.opts.Budget != nil && r.opts.Budget.Used() > r.opts.Budget.max:
			pool = r.opts.Budget.members()
		case full || (r.opts.MinFreeBytes > 0 && freeBytes(r.dir) >= 0 && freeBytes(r.dir) < r.opts.MinFreeBytes):
			// The disk is shared: free it from any recorder on the budget.
			pool = []*Recorder{r}
			if r.opts.Budget != nil {
				pool = r.opts.Budget.members()
			}
		default:
			return
		}
		full = false
		if !evictOldest(pool) {
			return
		}
	}
}

// evictOldest deletes the oldest closed segment among the recorders,
// preferring uploaded ones; false when there is none.
func evictOldest(recs []*Recorder) bool {
	var victim *Recorder
	var best Segment
	for _, r := range recs {
		r.imu.Lock()
		for _, s := range r.idx.segs {
			if s.open {
				continue
			}
			if victim == nil || (s.Uploaded && !best.Uploaded) ||
				(s.Uploaded == best.Uploaded && s.Start.Before(best.Start)) {
				victim, best = r, s
			}
		}
		r.imu.Unlock()
	}
	if victim == nil {
		return false
	}
	return victim.deleteSegment(best)
}

// deleteSegment removes s from disk and the index; its span becomes an
// evicted gap. False when it could not be deleted.
func (r *Recorder) deleteSegment(s Segment) bool {
	r.imu.Lock()
	defer r.imu.Unlock()
	i := r.idx.find(s.Start)
	if i < 0 {
		return false
	}
	if err := os.Remove(filepath.Join(r.dir, s.Name())); err != nil && !os.IsNotExist(err) {
		r.setProblem("delete segment", err)
		return false
	}
	r.idx.segs = append(r.idx.segs[:i], r.idx.segs[i+1:]...)
	r.idx.addGap(Gap{Start: s.Start, End: s.End(), Reason: GapEvicted})
	if s.Uploaded {
		r.evictedUp.Add(1)
	} else {
		r.evictedNo.Add(1)
		r.log.Warn("evicted segment never uploaded", zap.Time("start", s.Start), zap.Duration("duration", s.Duration), zap.Int64("bytes", s.Bytes))
	}
	if err := r.idx.save(r.dir); err != nil {
		r.setProblem("write index", err)
	}
	return true
}
