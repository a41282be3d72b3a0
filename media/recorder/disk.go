package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
)

type jobKind int

const (
	jobOpen jobKind = iota
	jobData
	jobClose
	jobFormat
	jobGap
)

// job is one step of a segment's life for the disk goroutine.
type job struct {
	kind  jobKind
	buf   *seekBuf      // open: the init; data: one fragment
	start time.Time     // open
	gap   GapReason     // open: why the time before the segment is empty
	dur   time.Duration // data, close: the segment's video duration so far
	reply chan<- error  // format: what became of it
}

// diskState is the segment file being written; owned by the disk goroutine.
type diskState struct {
	f      *os.File
	start  time.Time
	good   int64 // bytes known written
	failed bool  // the file lost a write; later fragments are dropped
}

// ProblemKind classifies why the recorder cannot write.
type ProblemKind int

// Problem kinds, from the errno of the failing call.
const (
	ProblemIO       ProblemKind = iota // any other I/O error
	ProblemDiskFull                    // ENOSPC, EDQUOT
	ProblemReadOnly                    // EROFS, EACCES, EPERM
	ProblemDirGone                     // ENOENT: the directory was removed or unmounted
)

var problemNames = [...]string{"i/o error", "disk full", "read-only", "directory gone"}

func (k ProblemKind) String() string { return problemNames[k] }

// DiskError is the recorder's current trouble with its disk.
type DiskError struct {
	Kind  ProblemKind
	Op    string
	Err   error
	Since time.Time
}

func (e *DiskError) Error() string { return fmt.Sprintf("recorder: %s: %s: %v", e.Op, e.Kind, e.Err) }
func (e *DiskError) Unwrap() error { return e.Err }

// Problem returns the disk error that stops recording now, nil when the
// last segment operation succeeded.
func (r *Recorder) Problem() error {
	if p := r.problem.Load(); p != nil {
		return p
	}
	return nil
}

func (r *Recorder) setProblem(op string, err error) {
	kind := ProblemIO
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		kind = ProblemDiskFull
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		kind = ProblemReadOnly
	case errors.Is(err, syscall.ENOENT):
		kind = ProblemDirGone
	}
	since := time.Now()
	if old := r.problem.Load(); old != nil && old.Kind == kind {
		since = old.Since
	} else {
		r.log.Warn("recording disk problem", zap.String("op", op), zap.Stringer("kind", kind), zap.Error(err))
	}
	r.problem.Store(&DiskError{Kind: kind, Op: op, Err: err, Since: since})
}

func (r *Recorder) clearProblem() {
	if r.problem.Swap(nil) != nil {
		r.log.Info("recording disk recovered")
	}
}

// run is the disk goroutine: it writes what Write queued, in order.
func (r *Recorder) run() {
	defer close(r.done)
	for j := range r.jobs {
		switch j.kind {
		case jobOpen:
			r.diskOpen(j)
		case jobData:
			r.diskData(j)
		case jobClose:
			r.diskClose(j.dur)
		case jobGap:
			r.diskGap(j)
		case jobFormat:
			j.reply <- r.diskFormat()
		}
		if j.buf != nil {
			clear(j.buf.iov) // let the units go while the buffer waits
			j.buf.iov = j.buf.iov[:0]
			r.free <- j.buf
		}
	}
	r.diskClose(0)
}

func (r *Recorder) diskOpen(j job) {
	d := &r.disk
	if d.f != nil {
		r.diskClose(0)
	}
	d.failed = true // until the init is on disk
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		r.setProblem("create directory", err)
		r.needCut.Store(true)
		return
	}
	start := j.start
	var f *os.File
	var err error
	// A clock stepped back may name a segment like an existing one.
	for range 10 {
		f, err = os.OpenFile(filepath.Join(r.dir, segName(start)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, os.ErrExist) {
			break
		}
		start = start.Add(time.Millisecond)
	}
	if err != nil {
		r.setProblem("create segment", err)
		r.needCut.Store(true)
		return
	}
	n, err := f.Write(j.buf.b)
	r.written.Add(uint64(n))
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		r.setProblem("write segment", err)
		r.needCut.Store(true)
		r.evict(true)
		return
	}
	*d = diskState{f: f, start: start, good: int64(n)}
	r.imu.Lock()
	if prev := r.idx.explained(); !prev.IsZero() && start.Sub(prev) > mergeTolerance {
		reason := j.gap
		if reason == GapNone {
			reason = GapStreamStalled
		}
		r.idx.addGap(Gap{Start: prev, End: start, Reason: reason})
	}
	r.idx.add(Segment{Stream: r.opts.Stream, Start: start, Bytes: d.good, open: true})
	r.imu.Unlock()
	r.clearProblem()
}

// diskGap ends the gap going on at j.start with reason j.gap: its reason
// changes from then on.
func (r *Recorder) diskGap(j job) {
	defer r.gapQueued.Store(false)
	r.imu.Lock()
	defer r.imu.Unlock()
	prev := r.idx.explained()
	if prev.IsZero() || j.start.Sub(prev) <= mergeTolerance {
		return
	}
	r.idx.addGap(Gap{Start: prev, End: j.start, Reason: j.gap})
	if err := r.idx.save(r.dir); err != nil {
		r.setProblem("write index", err)
	}
}

func (r *Recorder) diskData(j job) {
	d := &r.disk
	if d.f == nil || d.failed {
		r.dropped.Add(1)
		return
	}
	n, err := r.vw.write(d.f, j.buf.iov)
	r.written.Add(uint64(n))
	if err != nil {
		// Keep the file readable: cut the torn fragment off.
		d.f.Truncate(d.good)
		d.f.Seek(d.good, 0)
		d.failed = true
		r.dropped.Add(1)
		r.setProblem("write segment", err)
		r.needCut.Store(true)
		r.evict(true)
		return
	}
	d.good += int64(n)
	r.frags.Add(1)
	// A removed directory takes the open file with it while writes still
	// succeed: notice, and let the next key frame start a segment anew.
	if fi, err := d.f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
			d.failed = true
			r.setProblem("write segment", syscall.ENOENT)
			r.needCut.Store(true)
		}
	}
	r.imu.Lock()
	if i := r.openIndex(); i >= 0 {
		r.idx.segs[i].Bytes, r.idx.segs[i].Duration = d.good, j.dur
	}
	r.imu.Unlock()
}

// openIndex finds the segment being written; r.imu held.
func (r *Recorder) openIndex() int {
	for i := len(r.idx.segs) - 1; i >= 0; i-- {
		if r.idx.segs[i].open {
			return i
		}
	}
	return -1
}

// diskClose ends the segment file: close marker, fsync, index saved.
// dur 0 keeps the duration of the last fragment written.
func (r *Recorder) diskClose(dur time.Duration) {
	d := &r.disk
	if d.f == nil {
		return
	}
	f := d.f
	var err error
	if !d.failed {
		var n int
		n, err = f.Write(closeMarker)
		r.written.Add(uint64(n))
		if err == nil {
			d.good += int64(n)
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(r.dir)
	}
	if err != nil {
		// The file keeps its complete fragments; Open repairs the rest.
		r.setProblem("close segment", err)
	}
	r.imu.Lock()
	if i := r.openIndex(); i >= 0 {
		s := &r.idx.segs[i]
		s.open = false
		if dur > 0 && !d.failed && err == nil {
			s.Duration, s.Bytes = dur, d.good
		}
		if s.Duration == 0 {
			// Not a single fragment: nothing to keep.
			os.Remove(f.Name())
			r.idx.segs = append(r.idx.segs[:i], r.idx.segs[i+1:]...)
		}
	}
	if serr := r.idx.save(r.dir); serr != nil && err == nil {
		r.setProblem("write index", serr)
	}
	r.imu.Unlock()
	*d = diskState{}
	r.evict(false)
}
