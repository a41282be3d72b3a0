package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is the capped, jittered retry delay every supervised part of a
// camera uses. Jitter keeps a fleet of gateways from reconnecting in
// lockstep after a shared outage; the reset after a good run keeps one
// flaky minute from slowing recovery for the rest of the day.
type backoff struct {
	min, max time.Duration
	// goodRun is how long a run must last to count as healthy and reset the delay.
	goodRun time.Duration
	next    time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, goodRun: time.Minute, next: min}
}

// delay returns how long to wait after a run that lasted ran, and advances the backoff.
func (b *backoff) delay(ran time.Duration) time.Duration {
	if ran >= b.goodRun {
		b.next = b.min
	}
	d := b.next
	b.next *= 2
	if b.next > b.max {
		b.next = b.max
	}
	// ±20 %
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// sleepCtx waits for d or until ctx is done; it reports whether the wait completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// supervise runs fn until ctx is done, waiting a backoff delay between
// attempts. fn makes one attempt and returns nil only when ctx was cancelled.
// onErr is told about every failed attempt and the delay before the next one.
func supervise(ctx context.Context, b *backoff, fn func(context.Context) error, onErr func(err error, wait time.Duration)) {
	for ctx.Err() == nil {
		start := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := b.delay(time.Since(start))
		if onErr != nil {
			onErr(err, wait)
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}
