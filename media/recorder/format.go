package recorder

import (
	"errors"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// Format deletes every segment of the stream and starts a fresh index
// (no gaps, no uploaded flags): the memory card formatted. The open
// segment ends first; recording goes on at the next key frame Write
// gets. It returns once the files are gone, or what could not be
// deleted (those segments stay in the index).
func (r *Recorder) Format() error {
	// The job queue has room for one format job besides the segments'.
	r.fmu.Lock()
	defer r.fmu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if r.inSeg {
		r.endSegment()
	}
	done := make(chan error, 1)
	// The disk goroutine deletes: it is the one writing segment files,
	// and it does the jobs queued before this one first.
	r.send(job{kind: jobFormat, reply: done})
	r.mu.Unlock()
	return <-done
}

// diskFormat deletes the segment files, those an index never listed too,
// and saves an empty index; the disk goroutine's part of Format.
func (r *Recorder) diskFormat() error {
	r.diskClose(0) // normally the close job before did
	r.imu.Lock()
	defer r.imu.Unlock()
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		r.setProblem("format", err)
		return err
	}
	var errs []error
	kept := &index{}
	var freed int64
	deleted := 0
	for _, e := range ents {
		start, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		if err := os.Remove(filepath.Join(r.dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			if i := r.idx.find(start); i >= 0 {
				kept.add(r.idx.segs[i])
			}
			continue
		}
		freed += size
		deleted++
	}
	r.idx = kept
	if err := r.idx.save(r.dir); err != nil {
		errs = append(errs, err)
	}
	err = errors.Join(errs...)
	if err != nil {
		r.setProblem("format", err)
	} else {
		r.clearProblem()
	}
	r.log.Info("recordings formatted", zap.Int("segments", deleted), zap.Int64("bytes", freed), zap.Int("kept", len(kept.segs)))
	return err
}
