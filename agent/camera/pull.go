package camera

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/uplink"
)

// streamState is the owner's view of one stream: who reads it and whether
// it is pulled. Cameras allow few RTSP sessions (often 2–4, shared with
// NVRs and viewers), so a stream is pulled only while a reader needs it,
// or kept warm by the pull.warm policy so stream_start finds a key frame
// at once.
type streamState struct {
	pipe *pipe
	// warm: pull.warm keeps this stream pulled without readers (while
	// the cloud has not settled on refusing the camera).
	warm    bool
	readers int
	// idleSince is when the last reader left; the pull stops
	// pull.idle_timeout later.
	idleSince time.Time
	pulling   bool // a pull goroutine runs
	// pullStarted is when the running pull started: frames before it
	// came from an earlier one.
	pullStarted time.Time
	stopPull    context.CancelFunc // nil once asked to stop (or not pulling)
	err         error              // the last RTSP session's failure, typed
	errAt       time.Time          // when err happened
}

// warm says whether pull.warm keeps stream i pulled without readers.
func (w *Camera) warm(i int) bool {
	switch w.opts.Camera.Pull.Warm {
	case config.PullWarmAll:
		return true
	case config.PullWarmNone:
		return false
	}
	return i == 0
}

// wanted says whether s should be pulled now. A camera the cloud refuses
// (settled) keeps nothing for viewers who cannot come.
func (w *Camera) wanted(s *streamState, now time.Time) bool {
	switch {
	case s.readers > 0:
		return true
	case w.st.settled:
		return false
	case s.warm:
		return true
	}
	return !s.idleSince.IsZero() && now.Sub(s.idleSince) < w.opts.Camera.Pull.IdleTimeout
}

// reconcile starts the pulls and the event subscription that are wanted
// and stops the others.
func (w *Camera) reconcile(ctx context.Context, r *run) {
	w.reconcileSubscription(ctx, r)
	now := time.Now()
	for i, s := range w.st.streams {
		want := !r.stopping && w.wanted(s, now)
		switch {
		case want && !s.pulling:
			pctx, cancel := context.WithCancel(ctx)
			s.pulling, s.stopPull, s.pullStarted = true, cancel, now
			w.log.Info("rtsp pull started", zap.String("stream", s.pipe.id), zap.Int("readers", s.readers), zap.Bool("warm", s.warm))
			r.spawn(pctx, w, func(ctx context.Context) {
				defer w.send(pullEnded{i: i})
				w.pull(ctx, i, s.pipe)
			})
		case !want && s.stopPull != nil:
			w.log.Info("rtsp pull stopped: no reader", zap.String("stream", s.pipe.id))
			s.stopPull()
			s.stopPull = nil
		}
	}
}

// reconcileSubscription keeps the camera's ONVIF event subscription while
// the cloud may take events: not while it refuses the camera (settled),
// when cameras need not hold a pull point for nobody.
func (w *Camera) reconcileSubscription(ctx context.Context, r *run) {
	st := &w.st
	cl := w.onvifClient()
	want := !r.stopping && cl != nil && !st.settled && !st.noEvents
	switch {
	case want && !st.subscribed:
		sctx, cancel := context.WithCancel(ctx)
		st.subscribed, st.stopSub = true, cancel
		r.spawn(sctx, w, func(ctx context.Context) {
			w.send(subscriptionEnded{unsupported: w.subscribeEvents(ctx, cl, w.opts.Timing)})
		})
	case !want && st.stopSub != nil:
		st.stopSub()
		st.stopSub = nil
	}
}

// stopPulls asks every pull to stop (Run is ending).
func (w *Camera) stopPulls() {
	for _, s := range w.st.streams {
		if s.stopPull != nil {
			s.stopPull()
			s.stopPull = nil
		}
	}
}

// pull keeps one stream's RTSP session running, reconnecting as
// reconnect says, until ctx ends. The stream outlives each session, so
// readers stay attached. It owns source: the advertised-host fallback
// changes it.
func (w *Camera) pull(ctx context.Context, i int, p *pipe) {
	source := p.source
	fellBack := false
	what := "stream " + p.id + ": no video from the camera"
	r := &reconnect{
		backoff:  pullBackoff(),
		clock:    backoff.RealClock{},
		interval: probeInterval,
		attempt: func(ctx context.Context) error {
			err := media.NewSource(source, p.stream).Run(ctx)
			if err == nil && ctx.Err() == nil {
				err = errors.New("rtsp session ended")
			}
			return err
		},
		probe:       func(ctx context.Context) error { return media.Probe(ctx, source.URL) },
		unreachable: media.ErrUnreachable,
		// Counted on the status page, not logged: one line per probe
		// would flood the log of a camera that is off for the night.
		stillAway: func(err error) { w.report(problemOf(what, err)) },
		failed: func(err error, wait time.Duration) {
			w.send(pullFailed{i: i, err: err, at: time.Now()})
			w.failRetry(wait, what, err)
			if errors.Is(err, media.ErrUnreachable) && p.advertised && !fellBack {
				if alt, ok := configuredHost(source.URL, w.opts.Camera.ONVIF.URL); ok {
					source.URL, fellBack = alt, true
					w.log.Warn("camera advertises an rtsp address the agent cannot reach; using the configured camera host",
						zap.String("stream", p.id), zap.String("host", hostOf(alt)))
				}
			}
		},
	}
	r.run(ctx)
}

// pullBackoff paces a pull's attempts on a camera that answers: 1 s
// growing to 30 s, CredentialRetry after a refused login, starting over
// after a session of a minute.
func pullBackoff() *backoff.Backoff {
	return &backoff.Backoff{Min: time.Second, Max: 30 * time.Second, Healthy: time.Minute, Override: credentialWait}
}

// openReader attaches a publisher to a stream and makes sure the stream is
// pulled while it reads; the GOP cache lets a warm stream start at once.
func (w *Camera) openReader(streamID string) (uplink.UnitReader, error) {
	r, err := w.openReaderNamed(streamID, "rtmp", 512)
	if err != nil {
		return nil, err // not a nil *demandReader in a non-nil interface
	}
	return r, nil
}

// openReaderNamed attaches a reader called name with a queue of that many
// units to stream streamID, which is pulled while the reader lasts.
func (w *Camera) openReaderNamed(streamID, name string, queue int) (*demandReader, error) {
	id := w.ident()
	if id == nil {
		return nil, errNotResolved
	}
	i := id.pipeIndex(streamID)
	if i < 0 {
		return nil, errors.New("unknown stream " + streamID)
	}
	reply := make(chan bool, 1)
	w.send(acquire{id: streamID, reply: reply})
	<-reply
	return &demandReader{Reader: id.pipes[i].stream.AddReader(name, queue), release: func() { w.send(release{i: i}) }}, nil
}

// errNotResolved: the camera's streams are not known yet.
var errNotResolved = errors.New("camera not resolved yet")

// demandReader is a reader that tells the owner when it leaves.
type demandReader struct {
	*media.Reader
	release func()
	closed  bool
}

// Close detaches the reader; the stream may stop being pulled.
func (r *demandReader) Close() {
	r.Reader.Close()
	if !r.closed {
		r.closed = true
		r.release()
	}
}

// CameraInfo implements uplink.Handler. It makes sure the main stream is
// pulled and waits until it delivers its tracks: a camera that does not
// stream is not online (docs/protocol.md#cam-register).
func (w *Camera) CameraInfo(ctx context.Context) (uplink.CameraInfo, error) {
	id := w.ident()
	if id == nil || len(id.pipes) == 0 {
		return uplink.CameraInfo{}, errNotResolved
	}
	main := id.pipes[0]
	// Not cancellable: once the owner counted the reader it must hear of
	// its release, and the owner answers at once.
	reply := make(chan bool, 1)
	w.send(acquire{id: main.id, reply: reply})
	<-reply
	defer w.send(release{i: 0})
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	select {
	case <-main.stream.TracksReady():
	case <-wait.Done():
		return uplink.CameraInfo{}, errors.New("main stream delivers no media")
	}
	return id.cameraInfo(w.name), nil
}

// Ready implements uplink.Handler.
func (w *Camera) Ready(link uplink.Link) {
	reply := make(chan struct{})
	w.send(linkUp{link: link, reply: reply})
	<-reply
	w.wakeUploads()
}

// Down implements uplink.Handler: publishes stop with the connection
// (docs/protocol.md#reconnect).
func (w *Camera) Down() {
	reply := make(chan struct{})
	w.send(linkDown{reply: reply})
	<-reply
	w.pubs.StopAll()
}

// Ended implements uplink.EndReporter.
func (w *Camera) Ended(end uplink.End) { w.send(connEnded{end: end}) }
