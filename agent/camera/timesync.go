package camera

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/onvif"
)

// clockState is what a worker remembers about its camera's clock.
type clockState struct {
	// warned is set once the "clock is off" warning was logged with
	// clock_sync off, so it is not repeated every hour; it re-arms when
	// the clock comes back within max_clock_skew.
	warned atomic.Bool
	checks atomic.Int64 // checks made, for Metrics
}

// checkClock compares the camera's clock with the gateway's (skew is the
// camera's clock minus ours) and, when it is off by more than
// max_clock_skew, corrects it as clock_sync says or reports it (on the
// status page at every check, in the log once). It never
// fails the worker: the agent signs ONVIF requests with the camera's own
// clock, so a wrong clock only misdates what the camera stamps.
func (w *Camera) checkClock(ctx context.Context, c *onvif.Client, skew time.Duration) {
	defer w.clock.checks.Add(1)
	o := w.opts.Camera.ONVIF
	if skew.Abs() <= o.MaxClockSkew {
		w.clock.warned.Store(false)
		return
	}
	// A sync takes a few requests, each bounded by the ONVIF timeout.
	ctx, cancel := context.WithTimeout(ctx, 4*o.Timeout)
	defer cancel()
	switch o.ClockSync {
	case config.ClockSyncOff:
		// On the page at every check (one problem, counted), in the log
		// once.
		if !w.clock.warned.Swap(true) {
			w.log.Warn("camera clock is off; set onvif.clock_sync to correct it",
				zap.Duration("skew", skew), zap.Duration("max_clock_skew", o.MaxClockSkew))
		}
		w.report(Problem{
			What: clockOff(skew) + ": it misdates what the camera stamps (set onvif.clock_sync to gateway or ntp to correct it, or set the camera's clock)",
			Detail: fmt.Sprintf("camera clock minus this machine's: %s; onvif.max_clock_skew: %s",
				skew.Round(time.Millisecond), o.MaxClockSkew),
		})
	case config.ClockSyncGateway:
		if _, err := c.SyncTime(ctx); err != nil {
			w.fail(clockOff(skew)+"; setting it to this machine's time failed", err)
			return
		}
		w.log.Info("camera clock set to the gateway's time",
			zap.Duration("skew_before", skew), zap.Duration("skew_after", c.ClockOffset()))
	case config.ClockSyncNTP:
		servers, err := c.SetNTP(ctx, o.NTPServers)
		if err != nil {
			w.fail(clockOff(skew)+"; switching it to NTP failed", err)
			return
		}
		// The camera follows NTP at its own pace, so the skew after may
		// still be large; the next check shows whether NTP works.
		after, err := measureSkew(ctx, c)
		if err != nil {
			w.fail("camera switched to NTP, but reading its clock back failed", err)
			return
		}
		w.log.Info("camera clock switched to ntp", zap.Strings("ntp_servers", servers),
			zap.Duration("skew_before", skew), zap.Duration("skew_after", after))
	}
}

// recheckClock measures the camera's clock afresh and acts on it like
// checkClock. It measures by connecting again, which also moves the offset
// the client signs with, so a camera whose clock jumped does not see
// requests with stale timestamps (some lock an account after a few).
func (w *Camera) recheckClock(ctx context.Context) {
	c := w.onvifClient()
	if c == nil {
		return
	}
	// Connect makes a few requests, each bounded by the ONVIF timeout.
	cctx, cancel := context.WithTimeout(ctx, 4*w.opts.Camera.ONVIF.Timeout)
	err := c.Connect(cctx)
	cancel()
	if err != nil {
		w.fail("checking the camera's clock failed", err)
		return
	}
	w.checkClock(ctx, c, c.ClockOffset())
}

// runClock re-checks the camera's clock every Timing.ClockCheck until ctx
// is cancelled; resolve made the first check.
func (w *Camera) runClock(ctx context.Context) {
	t := time.NewTicker(w.opts.Timing.ClockCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.recheckClock(ctx)
		}
	}
}

// clockOff says how far the camera's clock is off, roughly: the words of
// a problem must not change with every second of drift, or each check
// would be a new problem.
func clockOff(skew time.Duration) string {
	dir := "ahead of"
	if skew < 0 {
		dir, skew = "behind", -skew
	}
	amount := fmt.Sprintf("%d s", skew.Round(time.Second)/time.Second)
	if r := skew.Round(time.Minute); skew >= time.Minute {
		switch h, m := r/time.Hour, r%time.Hour/time.Minute; {
		case h == 0:
			amount = fmt.Sprintf("%d min", m)
		case m == 0:
			amount = fmt.Sprintf("%d h", h)
		default:
			amount = fmt.Sprintf("%d h %d min", h, m)
		}
	}
	return "camera clock is " + amount + " " + dir + " this machine's"
}

// measureSkew returns the camera's clock minus the gateway's, from one
// GetSystemDateAndTime timed on both ends.
func measureSkew(ctx context.Context, c *onvif.Client) (time.Duration, error) {
	sent := time.Now()
	st, err := c.SystemTime(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	// Cameras report whole seconds, truncated: the true time is on average
	// half a second later.
	return st.UTC.Add(500 * time.Millisecond).Sub(sent.Add(now.Sub(sent) / 2)), nil
}
