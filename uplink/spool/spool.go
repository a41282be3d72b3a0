// Package spool is the durable on-disk upload queue of one camera: items
// (a cam_event with its snapshot, clip chunks, previews, the rest) survive a
// restart and kill -9, go out by priority through a caller-supplied deliver
// function under per-class concurrency caps and a shared bandwidth cap, and
// are deleted only once delivered. A byte budget shared by all cameras and a
// free-disk guard bound it; what is dropped unsent is logged and counted
// (docs/protocol.md#uploads).
package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
)

// Reasons an item leaves the spool unsent, the keys of Stats.Dropped.
const (
	reasonBudget  = "budget"  // evicted for a more important item
	reasonDisk    = "disk"    // evicted to keep MinFree bytes free
	reasonAge     = "age"     // older than MaxAge for its class
	reasonRefused = "refused" // deliver returned ErrDrop
	reasonCorrupt = "corrupt" // its journal record or payload failed a check
	reasonFull    = "full"    // Put refused it: ErrFull
)

// ErrClosed is returned by Put and Run after Close.
var ErrClosed = errors.New("spool closed")

// Options configures a Spool.
type Options struct {
	// Dir holds this spool's files, one spool per directory.
	Dir string
	// Budget is the byte budget shared with other spools; nil is unlimited.
	Budget *Budget
	// MinFree is how many bytes to keep free on Dir's file system; 0 is no
	// guard.
	MinFree int64
	// Limiter caps the rate payloads are read for delivery; nil is no cap.
	Limiter *Limiter
	// Workers caps concurrent deliveries per class; a missing or
	// non-positive entry takes the default: event 4, clip 2, preview 2,
	// other 6 (the cloud's 4 snapshots, 2 videos, 6 metadata).
	Workers map[Class]int
	// MaxActive caps concurrent deliveries over all classes; 0 is the sum
	// of Workers. With free slots, a lower class is always handed out first.
	MaxActive int
	// MaxAge drops items older than this (by Created) unsent; a missing or
	// non-positive entry takes the default: 30 min for clips, which the
	// cloud no longer wants by then, no limit for the rest.
	MaxAge map[Class]time.Duration
	// Backoff is the template of each item's retry delays after deliver
	// errors; a zero Min takes 1 s to 5 min.
	Backoff backoff.Backoff
	// Logger carries the camera name; nil logs nothing.
	Logger *zap.Logger
}

var defaultWorkers = map[Class]int{ClassEvent: 4, ClassClip: 2, ClassPreview: 2, ClassOther: 6}

// RecordMaxAge is how old a recording upload may be when it could go up:
// older ones are not pushed (docs/protocol.md#upload-queue); the cloud
// backfills old video from the memory card instead.
const RecordMaxAge = 30 * time.Minute

var defaultMaxAge = map[Class]time.Duration{ClassClip: RecordMaxAge}

// Spool is one camera's upload queue. Put, Stats, Wake and Close are safe
// for concurrent use with each other and with Run.
type Spool struct {
	opts      Options
	log       *zap.Logger
	budget    *Budget
	workers   [numClasses]int
	maxActive int
	maxAge    [numClasses]time.Duration
	now       func() time.Time
	freeBytes func(dir string) (int64, error)
	// testHook, when set, is called at the named points of Put (crash tests).
	testHook func(point string)
	// booked, when set, is told each delivery attempt's outcome once it is
	// booked, so tests can wait for it instead of sleeping.
	booked func(it Item, err error)

	// life is held for reading by Put and for writing by Close, so no
	// item is half-added when the spool closes.
	life sync.RWMutex

	mu      sync.Mutex
	closed  bool
	lastID  uint64
	byID    map[string]*entry
	classes [numClasses][]*entry // each sorted by (Created, ID)
	bytes   int64
	changed chan struct{} // closed and replaced when the dispatcher should look again
	parked  bool          // a delivery said ErrWait: hand nothing out until Wake
	wakeGen uint64
	running bool
	stopRun func()
	runDone chan struct{}
	st      counters
}

// entry is an item in the index.
type entry struct {
	Item
	sum       uint32
	cost      int64 // bytes charged to the budget
	inflight  bool
	attempts  int
	notBefore time.Time
	bo        *backoff.Backoff
}

func (e *entry) rank() rank { return rank{e.Class, e.Created, e.ID} }

// Open opens or creates the spool in opts.Dir and recovers every complete
// item; leftovers of interrupted writes are removed, and a corrupt item is
// logged, counted and removed, never fatal.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", opts.Dir, err)
	}
	s := &Spool{
		opts:      opts,
		log:       opts.Logger,
		budget:    opts.Budget,
		now:       time.Now,
		freeBytes: diskFree,
		byID:      map[string]*entry{},
		changed:   make(chan struct{}),
		st:        newCounters(),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.budget == nil {
		s.budget = NewBudget(0)
	}
	if s.opts.Backoff.Min <= 0 {
		s.opts.Backoff.Min, s.opts.Backoff.Max = time.Second, 5*time.Minute
	}
	s.opts.Backoff.Max = max(s.opts.Backoff.Max, s.opts.Backoff.Min)
	for _, c := range Classes {
		s.workers[c] = defaultWorkers[c]
		if n := opts.Workers[c]; n > 0 {
			s.workers[c] = n
		}
		s.maxAge[c] = defaultMaxAge[c]
		if d := opts.MaxAge[c]; d > 0 {
			s.maxAge[c] = d
		}
		s.maxActive += s.workers[c]
	}
	if opts.MaxActive > 0 {
		s.maxActive = opts.MaxActive
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	s.budget.join(s)
	return s, nil
}

// Put stores it with payload and returns once both are durable, with ID,
// Size (len(payload)) and a zero Created (now) filled in. When the budget or
// the free-disk guard is exceeded, less important items are evicted first;
// if it is itself the least important, Put returns ErrFull.
func (s *Spool) Put(it Item, payload []byte) (Item, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if !it.Class.valid() {
		return it, fmt.Errorf("spool: put: class %d", it.Class)
	}
	if it.Created.IsZero() {
		it.Created = s.now()
	}
	it.Size = int64(len(payload))
	it.Meta = bytes.Clone(it.Meta) // the caller may reuse its buffer
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return it, ErrClosed
	}
	s.lastID = max(s.lastID+1, uint64(s.now().UnixNano()))
	it.ID = formatID(s.lastID)
	s.mu.Unlock()

	rec := record{V: metaVersion, ID: it.ID, Class: it.Class, Created: it.Created, Size: it.Size, Meta: it.Meta}
	if len(payload) > 0 {
		rec.Sum = crcOf(payload)
	}
	meta := encodeMeta(rec)
	e := &entry{Item: it, sum: rec.Sum, cost: it.Size + int64(len(meta))}
	if err := s.budget.admit(s, e.cost, e.rank()); err != nil {
		s.count(reasonFull)
		s.log.Warn("upload refused", append([]zap.Field{zap.String("reason", reasonFull)}, itemFields(e)...)...)
		return it, fmt.Errorf("spool: put %s: %w", it.Class, err)
	}
	if err := s.write(it.ID, payload, meta); err != nil {
		s.budget.release(e.cost)
		s.remove(it.ID)
		return it, fmt.Errorf("spool: put %s: %w", it.Class, err)
	}
	s.mu.Lock()
	s.insert(e)
	s.mu.Unlock()
	return it, nil
}

// write makes the payload durable, then the record: a crash in between
// leaves a payload without record, which Open removes.
func (s *Spool) write(id string, payload, meta []byte) error {
	base := filepath.Join(s.opts.Dir, id)
	if len(payload) > 0 {
		if err := writeSync(base+dataSuffix, payload, s.testHook); err != nil {
			return err
		}
		if err := syncDir(s.opts.Dir); err != nil {
			return err
		}
	}
	if err := writeSync(base+metaSuffix+tmpSuffix, meta, s.testHook); err != nil {
		return err
	}
	if s.testHook != nil {
		s.testHook("before-rename")
	}
	if err := os.Rename(base+metaSuffix+tmpSuffix, base+metaSuffix); err != nil {
		return err
	}
	return syncDir(s.opts.Dir)
}

func writeSync(name string, b []byte, hook func(string)) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	half := len(b) / 2
	_, err = f.Write(b[:half])
	if err == nil && hook != nil {
		hook("mid-write")
	}
	if err == nil {
		_, err = f.Write(b[half:])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// remove deletes an item's files, the record first so a crash halfway
// leaves garbage rather than an item without payload.
func (s *Spool) remove(id string) {
	base := filepath.Join(s.opts.Dir, id)
	for _, name := range []string{base + metaSuffix, base + metaSuffix + tmpSuffix, base + dataSuffix} {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("remove upload file", zap.String("file", name), zap.Error(err))
		}
	}
}

// insert adds e to the index; s.mu held.
func (s *Spool) insert(e *entry) {
	q := s.classes[e.Class]
	i := sort.Search(len(q), func(i int) bool { return e.rank().goesBefore(q[i].rank()) })
	q = append(q, nil)
	copy(q[i+1:], q[i:])
	q[i] = e
	s.classes[e.Class] = q
	s.byID[e.ID] = e
	s.bytes += e.cost
	s.notify()
}

// drop removes e from the index and disk and releases its bytes; s.mu held.
func (s *Spool) drop(e *entry) {
	q := s.classes[e.Class]
	for i, x := range q {
		if x == e {
			s.classes[e.Class] = append(q[:i], q[i+1:]...)
			break
		}
	}
	delete(s.byID, e.ID)
	s.bytes -= e.cost
	s.budget.release(e.cost)
	s.remove(e.ID)
	s.notify()
}

// dropUnsent drops e and counts and logs why; s.mu held.
func (s *Spool) dropUnsent(e *entry, reason string) {
	s.drop(e)
	s.st.dropped[reason]++
	s.log.Warn("upload dropped", append([]zap.Field{zap.String("reason", reason)}, itemFields(e)...)...)
}

func (s *Spool) count(reason string) {
	s.mu.Lock()
	s.st.dropped[reason]++
	s.mu.Unlock()
}

func itemFields(e *entry) []zap.Field {
	return []zap.Field{zap.String("id", e.ID), zap.Stringer("class", e.Class),
		zap.Time("created", e.Created), zap.Int64("size", e.Size), zap.Int("attempts", e.attempts)}
}

// notify wakes the dispatcher; s.mu held.
func (s *Spool) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// lowest returns the rank of the item to evict first, skipping items being
// delivered.
func (s *Spool) lowest() (rank, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := numClasses - 1; c >= 0; c-- {
		for _, e := range s.classes[c] {
			if !e.inflight {
				return e.rank(), true
			}
		}
	}
	return rank{}, false
}

// bytesBefore sums the items, not being delivered, that go before r.
func (s *Spool) bytesBefore(r rank) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for c := numClasses - 1; c >= int(r.class); c-- {
		for _, e := range s.classes[c] {
			if !e.inflight && e.rank().goesBefore(r) {
				n += e.cost
			}
		}
	}
	return n
}

// evict drops item id unsent unless it is gone or being delivered.
func (s *Spool) evict(id, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byID[id]; ok && !e.inflight {
		s.dropUnsent(e, reason)
	}
}

// Close stops a running Run, waits for it, and takes the spool's bytes off
// the shared budget. Items stay on disk for the next Open.
func (s *Spool) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	stop, done := s.stopRun, s.runDone
	s.notify()
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	s.budget.leave(s)
	s.mu.Lock()
	s.budget.release(s.bytes)
	s.mu.Unlock()
	return nil
}
