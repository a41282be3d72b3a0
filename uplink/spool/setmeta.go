package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// SetMeta replaces the caller's Meta of a queued item, durably: the journal
// is written anew, fsync'd and renamed over the old one, so after a crash
// the item has either meta, never neither. A delivery that has done part
// of its work (a message the cloud must not get twice) records it this way
// before the rest. It returns the item as it now is.
func (s *Spool) SetMeta(it Item, meta []byte) (Item, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	s.mu.Lock()
	e := s.byID[it.ID]
	if s.closed || e == nil {
		s.mu.Unlock()
		if s.closed {
			return it, ErrClosed
		}
		return it, fmt.Errorf("spool: set meta: no item %s", it.ID)
	}
	rec := record{V: metaVersion, ID: e.ID, Class: e.Class, Created: e.Created, Size: e.Size, Sum: e.sum, Meta: bytes.Clone(meta)}
	s.mu.Unlock()

	enc := encodeMeta(rec)
	base := filepath.Join(s.opts.Dir, it.ID)
	if err := writeSync(base+metaSuffix+tmpSuffix, enc, nil); err != nil {
		return it, fmt.Errorf("spool: set meta: %w", err)
	}
	if err := os.Rename(base+metaSuffix+tmpSuffix, base+metaSuffix); err != nil {
		return it, fmt.Errorf("spool: set meta: %w", err)
	}
	if err := syncDir(s.opts.Dir); err != nil {
		return it, fmt.Errorf("spool: set meta: %w", err)
	}
	s.mu.Lock()
	cost := e.Size + int64(len(enc))
	s.budget.release(e.cost - cost) // the journal's size may change a little
	e.cost, e.Meta = cost, rec.Meta
	it = e.Item
	s.mu.Unlock()
	return it, nil
}
