package spool

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull is returned by Put when the item does not fit and everything
// that could make room is more important than it.
var ErrFull = errors.New("spool full")

// Budget is the byte limit shared by the spools of all cameras: admitting
// an item that does not fit evicts the least important items of any member
// spool first. Safe for concurrent use.
type Budget struct {
	max  int64 // <= 0: unlimited
	used atomic.Int64

	// mu serialises admissions and guards members. A spool never holds
	// its own lock while it takes mu, so mu may take a spool's.
	mu      sync.Mutex
	members map[*Spool]struct{}
}

// NewBudget returns a budget of maxBytes (payloads and their journal
// files); maxBytes <= 0 is unlimited.
func NewBudget(maxBytes int64) *Budget {
	return &Budget{max: maxBytes, members: map[*Spool]struct{}{}}
}

// Used returns the bytes currently held by the member spools.
func (b *Budget) Used() int64 { return b.used.Load() }

// Max returns the limit; <= 0 means unlimited.
func (b *Budget) Max() int64 { return b.max }

func (b *Budget) join(s *Spool) {
	b.mu.Lock()
	b.members[s] = struct{}{}
	b.mu.Unlock()
}

func (b *Budget) leave(s *Spool) {
	b.mu.Lock()
	delete(b.members, s)
	b.mu.Unlock()
}

func (b *Budget) release(n int64) { b.used.Add(-n) }

// rank orders items by importance for eviction: a higher class goes first,
// then the older, then the lower ID.
type rank struct {
	class   Class
	created time.Time
	id      string
}

// goesBefore reports whether r is evicted before o.
func (r rank) goesBefore(o rank) bool {
	if r.class != o.class {
		return r.class > o.class
	}
	if !r.created.Equal(o.created) {
		return r.created.Before(o.created)
	}
	return r.id < o.id
}

// admit reserves cost bytes for a new item of spool s ranked r, evicting
// items that go before r from the member spools while the budget or s's
// free-disk guard is exceeded. It returns ErrFull, evicting nothing, when
// even evicting all of those would not make room.
func (b *Budget) admit(s *Spool, cost int64, r rank) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	overBudget := func() bool { return b.max > 0 && b.used.Load()+cost > b.max }
	lowDisk := func() (bool, int64) {
		if s.opts.MinFree <= 0 {
			return false, 0
		}
		free, err := s.freeBytes(s.opts.Dir)
		if err != nil {
			return false, 0 // no guard is better than refusing every item
		}
		return free-cost < s.opts.MinFree, free
	}
	over := overBudget()
	low, free := lowDisk()
	if !over && !low {
		b.used.Add(cost)
		return nil
	}
	var evictable int64
	for m := range b.members {
		evictable += m.bytesBefore(r)
	}
	if (over && b.used.Load()+cost-evictable > b.max) || (low && free+evictable-cost < s.opts.MinFree) {
		return ErrFull
	}
	for over || low {
		var victim *Spool
		var vr rank
		for m := range b.members {
			if mr, ok := m.lowest(); ok && (victim == nil || mr.goesBefore(vr)) {
				victim, vr = m, mr
			}
		}
		if victim == nil || !vr.goesBefore(r) {
			return ErrFull
		}
		reason := reasonBudget
		if !over {
			reason = reasonDisk
		}
		victim.evict(vr.id, reason)
		over = overBudget()
		low, _ = lowDisk()
	}
	b.used.Add(cost)
	return nil
}
