package spool

import (
	"context"
	"io"
	"sync"
	"time"
)

// Limiter is a token bucket in bytes shared by all uploads (uploads.max_rate),
// so live video keeps its share of the uplink. Waiters reserve in arrival
// order, so concurrent uploads split the rate. Safe for concurrent use.
type Limiter struct {
	rate  float64 // bytes per second
	burst float64

	mu     sync.Mutex
	tokens float64 // may go negative: bytes reserved but not yet due
	last   time.Time

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// NewLimiter returns a limiter of bytesPerSec with a bucket of burst bytes;
// burst <= 0 means one second's worth. The bucket starts full.
func NewLimiter(bytesPerSec, burst int64) *Limiter {
	if bytesPerSec <= 0 {
		bytesPerSec = 1
	}
	if burst <= 0 {
		burst = bytesPerSec
	}
	return &Limiter{
		rate:  float64(bytesPerSec),
		burst: float64(burst),
		now:   time.Now,
		sleep: sleepCtx,
	}
}

// chunk is the most one Wait should ask for: more than the bucket holds is
// allowed but leaves a long gap in the flow.
func (l *Limiter) chunk() int64 { return int64(l.burst) }

// Wait blocks until n bytes may be sent, or ctx is done (then the bytes are
// given back and ctx.Err() returned).
func (l *Limiter) Wait(ctx context.Context, n int64) error {
	d := l.reserve(float64(n))
	if d <= 0 {
		return nil
	}
	if err := l.sleep(ctx, d); err != nil {
		l.mu.Lock()
		l.tokens += float64(n)
		l.mu.Unlock()
		return err
	}
	return nil
}

// reserve takes n tokens and returns how long until they are covered.
func (l *Limiter) reserve(n float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.last.IsZero() {
		l.tokens = l.burst
	} else if el := now.Sub(l.last); el > 0 {
		l.tokens = min(l.burst, l.tokens+el.Seconds()*l.rate)
	}
	l.last = now
	l.tokens -= n
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

// giveBack returns n reserved but unused tokens.
func (l *Limiter) giveBack(n int64) {
	l.mu.Lock()
	l.tokens = min(l.burst, l.tokens+float64(n))
	l.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxReadChunk bounds one limited read so the flow stays smooth.
const maxReadChunk = 32 << 10

// limitedReader reads r at most as fast as l allows.
type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *Limiter
}

func (lr *limitedReader) Read(p []byte) (int, error) {
	n := int64(len(p))
	n = min(n, maxReadChunk, lr.l.chunk())
	if n <= 0 {
		return 0, nil
	}
	if err := lr.l.Wait(lr.ctx, n); err != nil {
		return 0, err
	}
	got, err := lr.r.Read(p[:n])
	if int64(got) < n {
		lr.l.giveBack(n - int64(got))
	}
	return got, err
}

// Reader returns r read at most as fast as l allows, for uploads that do
// not go through a queue (memory-card sync); reads fail once ctx ends.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	return &limitedReader{ctx: ctx, r: r, l: l}
}
