package camera

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
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
	return jitter(d)
}

// jitter returns d ±20 %.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// CredentialRetry is how long a camera that refused the configured user
// name or password waits before the next login. Many cameras lock the
// account after a few failed logins (often for 30 minutes), and a retry
// every minute would keep it locked; the wait costs nothing once fixed,
// since a reload restarts a camera whose config changed at once.
const CredentialRetry = 10 * time.Minute

// refusedCredentials tells whether err is the camera refusing our login,
// over ONVIF or RTSP.
func refusedCredentials(err error) bool {
	return errors.Is(err, onvif.ErrUnauthorized) || errors.Is(err, media.ErrUnauthorized)
}

// retryDelay is the wait after an attempt that lasted ran and failed with
// err: the backoff's, or CredentialRetry for a refused login.
func (b *backoff) retryDelay(ran time.Duration, err error) time.Duration {
	if refusedCredentials(err) {
		return jitter(CredentialRetry)
	}
	return b.delay(ran)
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
		wait := b.retryDelay(time.Since(start), err)
		if onErr != nil {
			onErr(err, wait)
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}
