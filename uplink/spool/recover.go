package spool

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// recover rebuilds the index from Dir: every record that decodes and whose
// payload has the recorded size is an item; temp files and payloads without
// a record are leftovers of an interrupted Put and removed; anything else
// that fails a check is corrupt, removed and counted. Files it does not
// know are left alone.
func (s *Spool) recover() error {
	des, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("spool: read %s: %w", s.opts.Dir, err)
	}
	metas := map[string]bool{}
	datas := map[string]bool{}
	for _, de := range des {
		name := de.Name()
		id, suffix, _ := strings.Cut(name, ".")
		if !validID(id) || !de.Type().IsRegular() {
			continue
		}
		switch "." + suffix {
		case metaSuffix:
			metas[id] = true
		case dataSuffix:
			datas[id] = true
		case metaSuffix + tmpSuffix, dataSuffix + tmpSuffix:
			s.removeFile(name)
		}
	}
	for id := range metas {
		e, err := s.load(id, datas[id])
		if err != nil {
			s.st.dropped[reasonCorrupt]++
			s.log.Warn("upload dropped", zap.String("reason", reasonCorrupt), zap.String("id", id), zap.Error(err))
			s.remove(id)
			continue
		}
		s.insert(e)
		s.budget.used.Add(e.cost)
		if n, ok := parseID(id); ok {
			s.lastID = max(s.lastID, n)
		}
	}
	for id := range datas {
		if !metas[id] {
			s.removeFile(id + dataSuffix)
		}
	}
	return nil
}

// load reads item id's record and checks its payload's size.
func (s *Spool) load(id string, hasData bool) (*entry, error) {
	base := filepath.Join(s.opts.Dir, id)
	b, err := os.ReadFile(base + metaSuffix)
	if err != nil {
		return nil, err
	}
	r, err := decodeMeta(b)
	if err != nil {
		return nil, err
	}
	if r.ID != id {
		return nil, fmt.Errorf("%w: record of %s in %s", errCorrupt, r.ID, id)
	}
	var size int64
	if hasData {
		fi, err := os.Stat(base + dataSuffix)
		if err != nil {
			return nil, err
		}
		size = fi.Size()
	}
	if size != r.Size {
		return nil, fmt.Errorf("%w: payload of %d bytes, recorded %d", errCorrupt, size, r.Size)
	}
	it := Item{ID: r.ID, Class: r.Class, Created: r.Created, Meta: r.Meta, Size: r.Size}
	return &entry{Item: it, sum: r.Sum, cost: r.Size + int64(len(b))}, nil
}

func (s *Spool) removeFile(name string) {
	if err := os.Remove(filepath.Join(s.opts.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove upload file", zap.String("file", name), zap.Error(err))
	}
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
