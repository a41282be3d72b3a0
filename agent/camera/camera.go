// Package camera is everything about one camera: its ONVIF identity, the
// RTSP pulls and why each runs, its cloud session and publishes, events,
// snapshots and uploads. One goroutine (Run) owns the camera's state; the
// session, pulls, event subscription and clock check do their I/O on their
// own goroutines and send typed messages to it (messages.go). What the
// rest of the agent sees is the immutable Status it publishes.
package camera

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/spool"
)

// Options is what a camera takes from the config; agent translates the
// config into it in one place.
type Options struct {
	Camera    config.Camera
	Token     uplink.Token
	Insecure  bool
	RootCAs   *x509.CertPool
	StatePath string
	Version   string
	Logger    *zap.Logger
	LogRing   LogSource // recent log lines for cam_get_log; nil = not kept
	Timing    Timing    // zero: DefaultTiming
	// SpoolDir is where the camera's upload queue (events, snapshots,
	// clips) keeps its items; each Run opens it. "" keeps no queue:
	// events are then not sent.
	SpoolDir string
	// Shared are the budgets all cameras share; nil: the defaults, for
	// this camera alone.
	Shared *Shared
}

// ErrRunning is returned by a Run called while another runs: a camera's
// state has one owner.
var ErrRunning = errors.New("camera is already running")

// ErrDeleted is returned by Run after the cloud deleted the camera: it
// must not be started again until its config changes.
var ErrDeleted = uplink.ErrDeleted

// Camera is one camera. Build it with New; Run serves it.
type Camera struct {
	opts Options
	name string
	log  *zap.Logger

	session *uplink.Session
	pubs    *uplink.Streams
	ev      *eventsState                // event pipeline plumbing (events.go)
	clock   clockState                  // clock checks (timesync.go)
	snap    snapshotCache               // latest picture (snapshot.go)
	maint   maintState                  // legacy uploads in flight (maintenance.go)
	ptz     ptzNode                     // the main profile's PTZ node, once read (settings_ptz.go)
	clips   *clipState                  // pre-event buffer and event clip (eventclips.go)
	rec     *recState                   // the memory card, nil without one (recording.go)
	evpub   *eventPublish               // stream-mode event publish (eventstream.go)
	uploads atomic.Pointer[spool.Spool] // upload queue of the current Run, nil when none (eventupload.go)
	upc     *http.Client                // for the PUTs of direct uploads

	// id is what resolve learnt; nil before. Never changed once stored.
	id atomic.Pointer[identity]
	// status is the newest Status the owner published.
	status atomic.Pointer[Status]
	// inbox carries messages to the goroutine running Run.
	inbox chan message
	// running is set while Run runs: the state has one owner.
	running atomic.Bool
	// st is the camera's state: only the goroutine running Run touches it.
	st state
}

// New builds a camera; nothing runs until Run.
func New(opts Options) *Camera {
	if opts.Timing == (Timing{}) {
		opts.Timing = DefaultTiming
	}
	if opts.Shared == nil {
		opts.Shared = NewShared(config.Default())
	}
	cam := opts.Camera
	w := &Camera{
		opts:  opts,
		name:  cam.Name,
		log:   opts.Logger.Named("camera").With(zap.String("camera", cam.Name)),
		inbox: make(chan message, inboxSize),
	}
	w.st = newState(cam)
	w.clips, w.evpub = newClipState(), newEventPublish()
	w.upc = uplink.NewUploadClient(opts.RootCAs, directUploadTimeout)
	w.rec, w.st.recording = w.newRecState()
	if w.rec != nil {
		w.initDirect()
	}
	w.ev, w.st.events = w.newEventsState()
	if _, ok := w.st.events.Events[uplink.EventMemorycard]; !ok && w.rec != nil {
		// A new memory card reports itself until the cloud says otherwise.
		w.st.events.Events[uplink.EventMemorycard] = eventSetting{Active: true}
	}
	tlsConf := &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
	w.pubs = uplink.NewStreams(uplink.StreamsOptions{
		Open:      w.openReader,
		TLSConfig: tlsConf,
		Logger:    opts.Logger.Named("publish").With(zap.String("camera", cam.Name)),
	})
	w.session = uplink.NewSession(uplink.Options{
		Token:     opts.Token,
		Insecure:  opts.Insecure,
		RootCAs:   opts.RootCAs,
		StatePath: opts.StatePath,
		Version:   "camagent/" + opts.Version,
		Vendor:    "camagent",
		Handler:   w,
		Logger:    opts.Logger.Named("uplink").With(zap.String("camera", cam.Name)),
	})
	w.publish()
	return w
}

// inboxSize bounds the messages waiting for the owner; senders wait when
// it is full, which only a stuck owner would make them do.
const inboxSize = 64

// Run makes one attempt at serving the camera: it learns the camera over
// ONVIF (or takes the configured RTSP URL), then keeps its cloud session,
// the pulls its readers need and its event subscription running until ctx
// is cancelled (nil), the camera cannot be learnt (that error: the caller
// retries), or the cloud deleted it (ErrDeleted). Every goroutine it
// starts has ended when it returns, RTSP and ONVIF sessions included.
func (w *Camera) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer w.running.Store(false)
	defer w.openUploads()()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{cancel: cancel}
	r.spawn(ctx, w, w.resolveOnce)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var ack func()
		select {
		case m := <-w.inbox:
			ack = w.handle(ctx, r, m)
		case <-tick.C:
			w.reconcile(ctx, r)
		case <-ctx.Done():
			if !r.stopping {
				w.stop(r)
			}
		}
		w.publish()
		if ack != nil {
			ack()
		}
		if r.stopping && r.children == 0 {
			return r.err
		}
	}
}

// run is one Run's bookkeeping, owned by its goroutine like state.
type run struct {
	cancel   context.CancelFunc // ends the run's context
	children int                // goroutines started by spawn, not yet ended
	stopping bool               // ctx is done: start nothing new, wait for children
	err      error
}

// spawn runs f(ctx) on its own goroutine; the owner counts it until its
// childDone arrives, so Run returns only after f did.
func (r *run) spawn(ctx context.Context, w *Camera, f func(ctx context.Context)) {
	r.children++
	go func() {
		defer w.send(childDone{})
		f(ctx)
	}()
}

// stop ends the run: children see ctx done, publishes end with pubs.Run.
func (w *Camera) stop(r *run) {
	r.stopping = true
	r.cancel()
	w.stopPulls()
}

// send hands m to the owner. Only Run's children and the session's
// callbacks send, and Run drains the inbox until they have all ended.
func (w *Camera) send(m message) { w.inbox <- m }

// ask sends a request and waits for the owner's answer, or ctx.
func ask[T any](ctx context.Context, w *Camera, m message, reply chan T) (T, error) {
	var zero T
	select {
	case w.inbox <- m:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case v := <-reply:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Retrying logs and records that Run failed with err and is run again
// after wait. Only the goroutine that calls Run may call it, between two
// runs: it owns the camera's state then.
func (w *Camera) Retrying(err error, wait time.Duration) {
	// Plain's words say it all when it has some: ONVIF refused, …
	p := Problem{What: Plain(err), Detail: err.Error(), At: time.Now()}
	if p.What == "" {
		p.What = "setting up the camera failed"
	}
	w.log.Warn(p.What, zap.Error(err), zap.Duration("retry_in", wait))
	w.st.record(p)
	w.publish()
}

// fail records a problem for the status page and logs it. what says in
// plain words what failed ("stream Main: publishing to the cloud
// failed"); Plain's words for err, when it has some, say what to check,
// and err is kept as the detail.
func (w *Camera) fail(what string, err error) {
	p := problemOf(what, err)
	w.log.Warn(p.What, zap.Error(err))
	w.report(p)
}

// failRetry is fail for a step retried after wait. The retry delay goes to
// the log line only, so that the same failure repeating is one entry on
// the status page, counted, and does not push the others out.
func (w *Camera) failRetry(wait time.Duration, what string, err error) {
	p := problemOf(what, err)
	w.log.Warn(p.What, zap.Error(err), zap.Duration("retry_in", wait))
	w.report(p)
}

// report hands the owner a problem that happened now and returns once the
// owner has published it: a command that failed shows its problem on the
// status page by the time its reply reaches the cloud. The owner itself
// never reports (it records directly).
func (w *Camera) report(p Problem) {
	p.At = time.Now()
	reply := make(chan struct{})
	w.send(problem{p: p, reply: reply})
	<-reply
}

// ident is what resolve learnt, nil before.
func (w *Camera) ident() *identity { return w.id.Load() }

// Name is the camera's name in the config.
func (w *Camera) Name() string { return w.name }

// Config is the camera's entry of the config it was built from.
func (w *Camera) Config() config.Camera { return w.opts.Camera }

// Status is the newest state the camera published. It never changes; a
// newer one replaces it.
func (w *Camera) Status() *Status { return w.status.Load() }

// Metrics are the camera's counters and states for /metrics, read at
// scrape time.
type Metrics struct {
	Cloud      uplink.Counts
	CloudState uplink.ConnState
	ONVIF      ONVIFState
	// Uploads counts finished legacy uploads by category and result.
	Uploads map[UploadKey]uint64
	Streams []StreamMetrics
	// EventsEnded counts activities ended (by the camera or by the hold);
	// EventsDropped the events not sent (queue full, not ready, disabled).
	EventsEnded, EventsDropped int64
	// ClockChecks counts the camera clock checks made (at connect and
	// every Timing.ClockCheck).
	ClockChecks int64
}

// StreamMetrics are one stream's pull and publish counters.
type StreamMetrics struct {
	ID         string
	Pulling    bool
	Pull       media.StreamStats
	Publishing bool
	// Publish sums every publish of the stream; nil before the first.
	Publish *uplink.PublisherStats
}

// Metrics returns the camera's counters now.
func (w *Camera) Metrics() Metrics {
	st := w.Status()
	m := Metrics{
		Cloud:         w.session.Counts(),
		CloudState:    w.session.State(),
		ONVIF:         st.ONVIF,
		Uploads:       w.maint.uploadCounts(),
		EventsEnded:   w.ev.ended.Load(),
		EventsDropped: w.ev.dropped.Load(),
		ClockChecks:   w.clock.checks.Load(),
	}
	pubs := w.pubs.Stats()
	for _, s := range st.Streams {
		sm := StreamMetrics{ID: s.ID, Pulling: s.Pull != PullIdle, Pull: w.pipe(s.ID).stream.Stats(), Publishing: len(s.Reasons) > 0}
		if ps, ok := pubs[s.ID]; ok {
			sm.Publish = &ps
		}
		m.Streams = append(m.Streams, sm)
	}
	return m
}
