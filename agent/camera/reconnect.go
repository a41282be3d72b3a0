package camera

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/camagent/camagent/internal/backoff"
)

// probeInterval is how often a camera that does not answer on its RTSP or
// ONVIF port is knocked at again. A knock is a TCP connect (media.Probe,
// onvif.Client.Probe): no request, no login, so a camera that is really
// gone loses nothing, and a camera that comes back plays within about this
// long plus its key-frame interval, where waiting out the growing backoff
// took 7–8 s.
const probeInterval = 500 * time.Millisecond

// reconnect is the retry policy of one stream pull, event subscription or
// ONVIF re-learning. The growing backoff paces only failures that cost the
// camera something: it answered and refused the login, a request or a
// session, or ended a session while its port stays open. A camera whose
// port does not answer is probed every interval instead and tried again as
// soon as it answers, with the backoff started over: it is a camera that
// came back.
type reconnect struct {
	backoff  *backoff.Backoff
	clock    backoff.Clock
	interval time.Duration
	// attempt runs one session; probe says whether the camera's port
	// answers (nil) or not (an error).
	attempt, probe func(ctx context.Context) error
	// unreachable is what an attempt's error wraps when the attempt found
	// the port closed itself, so no probe is needed to tell; nil probes
	// after every failure.
	unreachable error
	// failed is told every failed attempt and how long until the next
	// one, or until the next probe when the camera is away.
	failed func(err error, wait time.Duration)
	// stillAway is told every probe that found the camera still away, so
	// the problem stays current without an attempt.
	stillAway func(err error)
}

// run retries attempt until ctx ends.
func (r *reconnect) run(ctx context.Context) {
	for ctx.Err() == nil {
		start := r.clock.Now()
		err := r.attempt(ctx)
		if ctx.Err() != nil {
			return
		}
		ran := r.clock.Now().Sub(start)
		if r.backoff.Healthy > 0 && ran >= r.backoff.Healthy {
			r.backoff.Reset()
		}
		away := r.unreachable != nil && errors.Is(err, r.unreachable)
		if !away {
			// A session that ended may have ended because the camera
			// went away (a reboot): then its port refuses.
			perr := r.probe(ctx)
			if ctx.Err() != nil {
				return
			}
			if perr != nil {
				err, away = fmt.Errorf("%w; then %w", err, perr), true
			}
		}
		if away {
			r.failed(err, r.interval)
			if !r.waitBack(ctx) {
				return
			}
			r.backoff.Reset()
			continue
		}
		wait := r.backoff.After(ran, err)
		r.failed(err, wait)
		if r.clock.Sleep(ctx, wait) != nil {
			return
		}
	}
}

// waitBack probes every interval until the camera's port answers (true)
// or ctx ends (false).
func (r *reconnect) waitBack(ctx context.Context) bool {
	for {
		if r.clock.Sleep(ctx, r.interval) != nil {
			return false
		}
		err := r.probe(ctx)
		switch {
		case err == nil:
			return true
		case ctx.Err() == nil:
			r.stillAway(err)
		}
	}
}
