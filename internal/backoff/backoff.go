// Package backoff is the one retry delay of camagent: exponential from Min
// up to Max, spread by ±20 % so a fleet of gateways does not reconnect in
// lockstep after a shared outage, and started over after a healthy run so
// one bad minute does not slow recovery for the rest of the day. Time and
// randomness are injected so tests see every delay without sleeping.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Clock is the time source of a retry loop.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx is done, returning ctx.Err() then.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Backoff is the delay between attempts: Min, doubled per failed attempt up
// to Max, each delay jittered by ±20 %. Set the exported fields, then use
// it from one goroutine; it is not safe for concurrent use.
type Backoff struct {
	// Min is the first delay and Max the cap of the sequence (before
	// jitter); Min > 0, Max >= Min.
	Min, Max time.Duration
	// Healthy is how long a run must last for After to start the sequence
	// over at Min; 0 leaves that to Reset.
	Healthy time.Duration
	// Override, when set and returning > 0 for err, is the wait after that
	// error instead of the sequence's (jittered too); the sequence does not
	// advance, so a special case does not make later delays longer.
	Override func(err error) time.Duration
	// Rand returns a number in [0,1) that drives the jitter; nil uses math/rand/v2.
	Rand func() float64
	// Clock times the runs and waits of Retry; nil is RealClock.
	Clock Clock

	next time.Duration // 0: start at Min
}

// Next returns the delay before the next attempt and advances the sequence.
func (b *Backoff) Next() time.Duration {
	if b.next == 0 {
		b.next = b.Min
	}
	d := b.next
	b.next = min(b.next*2, b.Max)
	return b.jitter(d)
}

// Reset starts the sequence over at Min, for callers that judge a good run
// themselves.
func (b *Backoff) Reset() { b.next = 0 }

// After returns the wait after an attempt that ran for ran and failed with
// err: a run of at least Healthy resets the sequence first, then Override
// or Next decides.
func (b *Backoff) After(ran time.Duration, err error) time.Duration {
	if b.Healthy > 0 && ran >= b.Healthy {
		b.Reset()
	}
	if b.Override != nil {
		if d := b.Override(err); d > 0 {
			return b.jitter(d)
		}
	}
	return b.Next()
}

// jitter spreads d uniformly over [0.8 d, 1.2 d).
func (b *Backoff) jitter(d time.Duration) time.Duration {
	rnd := b.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rnd()))
}

// Retry runs fn, which makes one attempt, until fn returns nil or ctx is
// done, waiting b.After between failed attempts. onErr, if not nil, is told
// every failure and the wait that follows; a failure that comes with ctx
// done is not reported. Retry returns nil once fn succeeded, else ctx.Err().
func Retry(ctx context.Context, b *Backoff, fn func(context.Context) error, onErr func(err error, wait time.Duration)) error {
	clk := b.Clock
	if clk == nil {
		clk = RealClock{}
	}
	for ctx.Err() == nil {
		start := clk.Now()
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		wait := b.After(clk.Now().Sub(start), err)
		if onErr != nil {
			onErr(err, wait)
		}
		if clk.Sleep(ctx, wait) != nil {
			break
		}
	}
	return ctx.Err()
}
