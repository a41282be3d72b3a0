package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

var (
	// ErrWait, wrapped in a deliver error, means delivery is not possible
	// now (the cloud is not connected): the item stays, no backoff grows,
	// and nothing more is handed out until Wake.
	ErrWait = errors.New("upload not possible now")
	// ErrDrop, wrapped in a deliver error, means the item must never be
	// sent: it is deleted and counted as dropped, reason "refused".
	ErrDrop = errors.New("upload refused")
)

// Deliver sends one item: its payload reader starts at offset 0 on every
// attempt and is rate-limited. A nil return deletes the item.
type Deliver func(ctx context.Context, it Item, payload io.Reader) error

// Run hands items to deliver until ctx ends or the spool closes, then waits
// for the deliveries it started. A pending item of a lower class is handed
// out before any of a higher class, and within a class the oldest first,
// within the per-class and overall concurrency caps. A failed item is
// retried after its own backoff; items past their class's MaxAge are
// dropped. It returns nil when ctx ends or Close stops it, ErrClosed if
// the spool was closed before, and an error if another Run is active.
func (s *Spool) Run(ctx context.Context, deliver Deliver) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.running:
		s.mu.Unlock()
		return errors.New("spool: run: already running")
	}
	done := make(chan struct{})
	s.running, s.stopRun, s.runDone = true, cancel, done
	s.mu.Unlock()

	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		s.mu.Lock()
		s.running, s.stopRun, s.runDone = false, nil, nil
		s.mu.Unlock()
		close(done)
	}()
	var active [numClasses]int
	var total int
	finished := make(chan Class)
	for {
		s.mu.Lock()
		if s.closed || ctx.Err() != nil {
			s.mu.Unlock()
			cancel()
			drain(&wg, finished)
			return nil
		}
		now := s.now()
		wake := s.expire(now)
		for total < s.maxActive && !s.parked {
			e := s.next(now, &active)
			if e == nil {
				break
			}
			e.inflight = true
			active[e.Class]++
			total++
			wg.Add(1)
			go func(e *entry, it Item, gen uint64) {
				defer wg.Done()
				s.deliver(ctx, deliver, e, it, gen)
				finished <- it.Class
			}(e, e.Item, s.wakeGen)
		}
		if t := s.nextRetry(now); !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
		changed := s.changed
		s.mu.Unlock()

		var timer *time.Timer
		var fire <-chan time.Time
		if !wake.IsZero() {
			timer = time.NewTimer(max(wake.Sub(now), time.Millisecond))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			drain(&wg, finished)
			return nil
		case c := <-finished:
			active[c]--
			total--
		case <-changed:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// drain receives the finish signals of the deliveries still running until
// all are done.
func drain(wg *sync.WaitGroup, finished chan Class) {
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	for {
		select {
		case <-finished:
		case <-all:
			return
		}
	}
}

// next returns the item to hand out: the oldest due item of the lowest
// class with a free worker; s.mu held.
func (s *Spool) next(now time.Time, active *[numClasses]int) *entry {
	for _, c := range Classes {
		if active[c] >= s.workers[c] {
			continue
		}
		for _, e := range s.classes[c] {
			if !e.inflight && !e.notBefore.After(now) {
				return e
			}
		}
	}
	return nil
}

// nextRetry returns the earliest time an item in backoff becomes due, zero
// if none; s.mu held.
func (s *Spool) nextRetry(now time.Time) time.Time {
	var t time.Time
	for _, q := range s.classes {
		for _, e := range q {
			if !e.inflight && e.notBefore.After(now) && (t.IsZero() || e.notBefore.Before(t)) {
				t = e.notBefore
			}
		}
	}
	return t
}

// expire drops the items past their class's MaxAge and returns when the
// next one will be, zero if never; s.mu held.
func (s *Spool) expire(now time.Time) time.Time {
	var next time.Time
	for _, c := range Classes {
		if s.maxAge[c] <= 0 {
			continue
		}
		var old []*entry
		for _, e := range s.classes[c] { // oldest first
			if e.inflight {
				continue
			}
			deadline := e.Created.Add(s.maxAge[c])
			if deadline.After(now) {
				if next.IsZero() || deadline.Before(next) {
					next = deadline
				}
				break
			}
			old = append(old, e)
		}
		for _, e := range old {
			s.dropUnsent(e, reasonAge)
		}
	}
	return next
}

// deliver makes one attempt at e and books its outcome.
func (s *Spool) deliver(ctx context.Context, deliver Deliver, e *entry, it Item, gen uint64) {
	pr, err := s.open(ctx, e)
	if err == nil {
		err = deliver(ctx, it, pr)
		pr.close()
	}
	if s.booked != nil {
		defer s.booked(it, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e.inflight = false
	defer s.notify()
	switch {
	case errors.Is(err, errCorrupt) || pr != nil && pr.corrupt:
		s.dropUnsent(e, reasonCorrupt)
	case err == nil:
		s.drop(e)
		s.st.uploaded++
		s.st.uploadedBytes += e.Size
		s.st.lastUpload = s.now()
	case ctx.Err() != nil:
		// Run is stopping: the item stays for the next Run.
	case errors.Is(err, ErrDrop):
		s.dropUnsent(e, reasonRefused)
	case errors.Is(err, ErrWait):
		if gen == s.wakeGen {
			s.parked = true
		}
	default:
		e.attempts++
		if e.bo == nil {
			bo := s.opts.Backoff
			e.bo = &bo
		}
		wait := e.bo.Next()
		e.notBefore = s.now().Add(wait)
		s.st.failures++
		s.st.lastError = err.Error()
		s.log.Info("upload failed", zap.String("id", e.ID), zap.Stringer("class", e.Class),
			zap.Int("attempts", e.attempts), zap.Duration("retry_in", wait), zap.Error(err))
	}
}

// Wake ends a wait after ErrWait and makes items in backoff due now: the
// link is up again.
func (s *Spool) Wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parked = false
	s.wakeGen++
	for _, q := range s.classes {
		for _, e := range q {
			e.notBefore = time.Time{}
		}
	}
	s.notify()
}

// open returns e's payload reader from offset 0.
func (s *Spool) open(ctx context.Context, e *entry) (*payloadReader, error) {
	pr := &payloadReader{left: e.Size, sum: e.sum, crc: crc32.New(castagnoli)}
	if e.Size == 0 {
		pr.r = bytes.NewReader(nil)
		return pr, nil
	}
	f, err := os.Open(filepath.Join(s.opts.Dir, e.ID+dataSuffix))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: payload missing", errCorrupt)
		}
		return nil, err
	}
	pr.f, pr.r = f, f
	if s.opts.Limiter != nil {
		pr.r = &limitedReader{ctx: ctx, r: f, l: s.opts.Limiter}
	}
	return pr, nil
}

// payloadReader streams a payload from its file and checks its size and
// checksum at the end: a payload damaged on disk fails the read instead
// of reaching the cloud whole-looking.
type payloadReader struct {
	f       *os.File
	r       io.Reader
	left    int64
	sum     uint32
	crc     hash.Hash32
	corrupt bool
}

func (p *payloadReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		if p.crc.Sum32() != p.sum {
			p.corrupt = true
			return 0, fmt.Errorf("%w: payload checksum", errCorrupt)
		}
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.crc.Write(b[:n])
	p.left -= int64(n)
	if err == io.EOF && p.left > 0 {
		p.corrupt = true
		return n, fmt.Errorf("%w: payload short by %d bytes", errCorrupt, p.left)
	}
	if err == io.EOF {
		err = nil // the checksum is checked on the next Read
	}
	return n, err
}

func (p *payloadReader) close() {
	if p.f != nil {
		p.f.Close()
	}
}
