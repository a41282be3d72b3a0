package uplink

import "time"

// Backoff is the capped exponential delay with ±20 % jitter of §2.7, so a
// fleet of agents does not reconnect in lockstep. It is not safe for
// concurrent use; the session's Run loop owns it.
type Backoff struct {
	// Base is the first delay, doubled per attempt up to Cap.
	Base, Cap time.Duration
	// Rand returns a number in [0,1); it drives the jitter.
	Rand func() float64

	next time.Duration
}

// Next returns the delay before the next attempt and advances the sequence.
func (b *Backoff) Next() time.Duration {
	if b.next == 0 {
		b.next = b.Base
	}
	d := b.next
	b.next = min(b.next*2, b.Cap)
	return Jitter(d, b.Rand)
}

// Reset starts the sequence over at Base, after a good run.
func (b *Backoff) Reset() { b.next = 0 }

// Jitter spreads d uniformly over [0.8 d, 1.2 d).
func Jitter(d time.Duration, rnd func() float64) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rnd()))
}
