package camera

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// Timing holds a camera's time constants; the zero value means
// DefaultTiming. Tests shorten them instead of waiting out real holds.
type Timing struct {
	// EventMinInterval is the shortest time between two starts of one
	// event kind: cameras flicker on and off at the edge of their threshold.
	EventMinInterval time.Duration
	// EventHold ends an activity the camera never reports as ended (some
	// firmware only ever sends "motion true").
	EventHold time.Duration
	// EventRepeat is how often an ongoing condition is sent again; docs/protocol.md#cam-event
	// allows at most every 10 s.
	EventRepeat time.Duration
	// EventRetryMin is the first delay before subscribing again after the
	// camera dropped the subscription (reboot, network).
	EventRetryMin time.Duration
	// ClockCheck is how often a running camera's clock is compared with
	// the gateway's again; camera clocks drift by seconds a day, and a
	// reboot without NTP can throw them back years.
	ClockCheck time.Duration
	// DirectMaxAge: direct recording does not push a segment that started
	// longer ago (docs/protocol.md#storage-direct-recording); 0 is 30 minutes.
	DirectMaxAge time.Duration
}

// DefaultTiming is what cameras run on.
var DefaultTiming = Timing{
	EventMinInterval: 2 * time.Second,
	EventHold:        15 * time.Second,
	EventRepeat:      10 * time.Second,
	EventRetryMin:    time.Second,
	ClockCheck:       time.Hour,
}

// tzTimeout bounds applying a time zone: two reads and a write.
const tzTimeout = 15 * time.Second

// runEvents turns the camera's ONVIF events into cam_event messages and
// applies time zones the cloud configures, until ctx ends.
func (w *Camera) runEvents(ctx context.Context) {
	cl := w.onvifClient()
	tm := w.opts.Timing
	var wg sync.WaitGroup
	wg.Go(func() { w.eventPipeline(ctx, tm) })
	wg.Go(func() { w.applyTimeZones(ctx, cl) })
	wg.Go(func() { w.periodicSnapshots(ctx) })
	wg.Wait()
}

// defaultSnapshotPeriod is the period of the periodic snapshot event when
// the cloud switches it on without one.
const defaultSnapshotPeriod = 300 * time.Second

// periodicSnapshots raises the snapshot event every period while the cloud
// has it on (docs/protocol.md#cam-event), the first a period after it was
// switched on. It checks the settings every second, so a new period takes
// effect within one.
func (w *Camera) periodicSnapshots(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var next time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s := w.Status().events
			es := s.Events[uplink.EventSnapshot]
			if !s.Enabled || !es.Active {
				next = time.Time{}
				continue
			}
			period := time.Duration(es.Period) * time.Second
			if period <= 0 {
				period = defaultSnapshotPeriod
			}
			switch {
			case next.IsZero() || next.Sub(now) > period:
				next = now.Add(period)
			case !now.Before(next):
				next = now.Add(period)
				ev := newCamEvent(uplink.EventSnapshot, now)
				select {
				case w.ev.in <- eventInput{trigger: &ev}:
				default:
					w.ev.dropped.Add(1)
				}
			}
		}
	}
}

// subscribeEvents keeps a pull-point subscription alive until ctx ends,
// subscribing again after errors and camera reboots (eventsRetry), and
// queues the classified reports for the pipeline. It reports unsupported
// for a camera without an events service, which ends it for good.
func (w *Camera) subscribeEvents(ctx context.Context, cl *onvif.Client, tm Timing) (unsupported bool) {
	e := w.ev
	push := func(ev onvif.Event) {
		kind, active, ok := onvif.Classify(ev)
		if _, declared := w.eventName(kind); !ok || !declared {
			return // nothing the cloud was told about
		}
		at := ev.Time
		if at.IsZero() {
			at = time.Now() // the camera's timestamp was unreadable
		}
		select {
		case e.in <- eventInput{kind: kind, active: active, at: at, initial: ev.PropertyOperation == onvif.PropertyInitialized}:
		default:
			n := e.dropped.Add(1)
			w.log.Warn("event queue full, camera event dropped", zap.String("kind", string(kind)), zap.Int64("dropped", n))
		}
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	eventsRetry(w.log, cl, tm, push, func() { unsupported = true; stop() }).run(ctx)
	return unsupported
}

// eventsRetry is the retry policy of the event subscription. A camera
// that is off or rebooting (its ONVIF port refuses) is knocked at every
// probeInterval and subscribed again on the knock that finds it back, so
// its motion reaches the cloud again within about that long; failures of a
// camera that answers wait out the growing backoff. unsupported is called
// when the camera offers no events, which ends the retries.
func eventsRetry(log *zap.Logger, cl *onvif.Client, tm Timing, push func(onvif.Event), unsupported func()) *reconnect {
	return &reconnect{
		backoff:  &backoff.Backoff{Min: tm.EventRetryMin, Max: 30 * time.Second, Healthy: time.Minute},
		clock:    backoff.RealClock{},
		interval: probeInterval,
		attempt: func(ctx context.Context) error {
			err := cl.RunEvents(ctx, push)
			switch {
			case errors.Is(err, onvif.ErrUnsupported):
				log.Info("camera offers no events: motion will not reach the cloud", zap.Error(err))
				unsupported()
				return nil
			case err == nil && ctx.Err() == nil:
				return errors.New("event subscription ended")
			}
			return err
		},
		// onvif.ErrUnreachable also stands for a camera that accepted the
		// connection and did not answer in time: only a refused knock
		// says the camera is away.
		probe: cl.Probe,
		failed: func(err error, wait time.Duration) {
			log.Warn("camera events interrupted, subscribing again", zap.Error(err), zap.Duration("retry_in", wait))
		},
		// The camera's pulls report it away on the status page.
		stillAway: func(error) {},
	}
}

// condition is the pipeline's view of one kind of activity.
type condition struct {
	// raw is the state the camera last reported; stops is whether it has
	// ever reported an end, so its silence can be trusted as "still on".
	raw, stops bool
	// startAt is the start's event time and startMono when the pipeline
	// saw it by this machine's clock: repeats are stamped startAt plus the time elapsed, so they
	// follow the start on the timeline even though the camera clock
	// correction is only good to about a second.
	startAt, startMono time.Time
	nextRepeat         time.Time
}

// eventPipeline debounces the camera's reports, sends a cam_event at each
// start and again every repeat while the condition lasts, and sends
// triggered events. It owns the debouncer.
func (w *Camera) eventPipeline(ctx context.Context, tm Timing) {
	e := w.ev
	deb := onvif.NewDebouncer(onvif.DebounceRule{MinInterval: tm.EventMinInterval, Hold: tm.EventHold}, nil)
	conds := map[onvif.Kind]*condition{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The debouncer runs on this machine's clock, like Expire: camera
	// times can jump back when its clock is set. Starts are stamped with
	// the camera's corrected time of the report that caused them.
	handle := func(trs []onvif.Transition, at time.Time) {
		for _, tr := range trs {
			c := conds[tr.Kind]
			if !tr.Active {
				e.ended.Add(1)
				w.log.Debug("event ended", zap.String("kind", string(tr.Kind)), zap.Bool("by_hold", tr.Synthetic))
				// The event video ends post_event after the last activity.
				if !slices.ContainsFunc(slices.Collect(maps.Keys(conds)), deb.Active) {
					w.eventEnded(time.Now())
				}
				continue
			}
			c.startAt, c.startMono = at, tr.At
			c.nextRepeat = tr.At.Add(tm.EventRepeat)
			w.emit(ctx, tr.Kind, at, false)
		}
	}
	for {
		next, armed := deb.NextDeadline()
		for k, c := range conds {
			if deb.Active(k) && (!armed || c.nextRepeat.Before(next)) {
				next, armed = c.nextRepeat, true
			}
		}
		var tick <-chan time.Time
		if armed {
			timer.Reset(time.Until(next))
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case in := <-e.in:
			timer.Stop()
			if in.trigger != nil {
				now := time.Now()
				w.raise(ctx, *in.trigger, now, now, false)
				continue
			}
			c := conds[in.kind]
			if c == nil {
				c = &condition{}
				conds[in.kind] = c
			}
			c.raw = in.active
			if !in.active && !in.initial {
				c.stops = true
			}
			handle(deb.Observe(in.kind, in.active, time.Now()), in.at)
		case now := <-tick:
			for k, c := range conds {
				// A camera that reports ends is believed while it says "on".
				if c.raw && c.stops && deb.Active(k) {
					deb.Observe(k, true, now)
				}
			}
			handle(deb.Expire(now), now)
			for k, c := range conds {
				if deb.Active(k) && !now.Before(c.nextRepeat) {
					c.nextRepeat = now.Add(tm.EventRepeat)
					w.emit(ctx, k, c.startAt.Add(now.Sub(c.startMono)), true)
				}
			}
		}
	}
}

// emit raises the cam_event of a camera activity, if the kind is one the
// agent declares.
func (w *Camera) emit(ctx context.Context, k onvif.Kind, at time.Time, repeat bool) {
	name, ok := w.eventName(k)
	if !ok {
		return // not declared: docs/protocol.md#get-cam-events forbids sending it
	}
	// Its video runs to the next repeat at least; the end, when it comes,
	// sets where it stops (eventEnded).
	now := time.Now()
	w.raise(ctx, newCamEvent(name, at), now, now.Add(w.opts.Timing.EventRepeat), repeat)
}

// SetTimeZone implements uplink.TimeZoneSetter: the camera gets the zone
// in the background, the latest one winning. It does not block.
func (w *Camera) SetTimeZone(tz string) {
	e := w.ev
	for {
		select {
		case e.tz <- tz:
			return
		default:
		}
		select {
		case <-e.tz: // replaced by the newer zone
		default:
		}
	}
}

// applyTimeZones sets each configured time zone on the camera, so its OSD
// clock shows the local time the cloud user chose.
func (w *Camera) applyTimeZones(ctx context.Context, cl *onvif.Client) {
	e := w.ev
	for {
		select {
		case <-ctx.Done():
			return
		case tz := <-e.tz:
			if cl == nil {
				w.log.Info("cloud set a time zone; the camera has no ONVIF to take it", zap.String("tz", tz))
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, tzTimeout)
			st, err := setTimeZone(cctx, cl, tz)
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, onvif.ErrUnsupported):
				w.log.Info("camera does not let its time zone be set", zap.String("tz", tz))
			case err != nil:
				w.fail("the cloud's time zone "+tz+" was not applied to the camera", err)
			default:
				w.log.Info("camera time zone set", zap.String("tz", tz), zap.String("posix", st.TZ))
			}
		}
	}
}

// setTimeZone sets tz unless the camera already has it: in manual time
// mode setting the zone also sets the clock, which would nudge it by up
// to a second at every first registration.
func setTimeZone(ctx context.Context, cl *onvif.Client, tz string) (onvif.SystemTime, error) {
	posix, err := onvif.PosixTZ(tz)
	if err != nil {
		return onvif.SystemTime{}, err
	}
	cur, err := cl.SystemTime(ctx)
	if err == nil && cur.TZ == posix {
		return cur, nil
	}
	return cl.SetTimeZone(ctx, tz)
}

// eventHandled tells the owner the newest event and what became of it, so
// the status page can tell "no motion" from "motion the cloud never got".
func (w *Camera) eventHandled(ev uplink.CamEvent, outcome string) {
	w.send(eventHandled{ev: EventStatus{Kind: ev.Event, At: ev.Time.Time, Outcome: outcome}})
}
