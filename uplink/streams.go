package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
)

// ErrStreamsNotRunning is returned by Start when no Run took it within
// StartTimeout: before the first Run, after one returned, or between two.
var ErrStreamsNotRunning = errors.New("streams not running")

// reasonNeedsRTMP reports whether a reason keeps an RTMP publish open.
// record_by_event only switches event-driven delivery on (docs/protocol.md#stream-by-event).
// storage_direct_recording records locally and uploads MP4 (docs/protocol.md#storage-direct-recording)
// when the camera has a memory card; it reaches Streams only without one,
// as the RTMP fallback.
func reasonNeedsRTMP(r StreamReason) bool { return r != ReasonRecordByEvent }

// StreamsOptions configures Streams.
type StreamsOptions struct {
	// Open attaches a new reader to the media stream streamID. It is called
	// for every publish attempt, so a reconnect starts from fresh data.
	Open func(streamID string) (UnitReader, error)
	// TLSConfig and Dial are passed to every Publisher.
	TLSConfig *tls.Config
	Dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	// StartTimeout bounds how long Start waits for the publish to be
	// accepted. Default 10 s.
	StartTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered delay before an RTMP
	// reconnect while the stream is still requested. Defaults 1 s and 5 s (docs/protocol.md#stream-start).
	MinBackoff, MaxBackoff time.Duration
	// Clock times how long a publish stayed up and waits out the reconnect
	// delay; nil is the real one. Tests inject one that does not sleep.
	Clock backoff.Clock
	// Logger; nil means no logging.
	Logger *zap.Logger
}

// Streams keeps, per stream id, the set of active stream_start reasons and
// at most one RTMP publish, opened by the first reason that needs it and
// closed with the last (docs/protocol.md#stream-start–#stream-stop). Run owns the publishes.
type Streams struct {
	opts StreamsOptions
	log  *zap.Logger
	// starts hands each Start to Run's goroutine, which opens publishes
	// under its context.
	starts chan startReq

	mu      sync.Mutex
	serving bool // a Run is running
	streams map[string]*streamState
	// running and finished make Stats monotonic per stream id across
	// publishes: a loop's counts move from running to finished when its
	// goroutine ends, under mu, so no scrape sees them missing.
	running  map[*publishLoop]string
	finished map[string]PublisherStats
}

// startReq is one Start, handed to Run.
type startReq struct {
	link     Link
	streamID string
	reason   StreamReason
	psid     int64
	reply    chan startReply // cap 1: Run never waits on the asker
}

// startReply is what Run did with a startReq.
type startReply struct {
	pl  *publishLoop // the publish to wait for; nil for a reason without one
	had bool         // the reason was active already
	err error
}

type streamState struct {
	reasons map[StreamReason]struct{}
	pub     *publishLoop
}

// publishLoop is the goroutine that keeps one stream published,
// reconnecting until cancelled.
type publishLoop struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine exits
	err    error         // why it exited on its own; read after done
	kick   chan struct{} // cap 1: cuts a reconnect backoff short
	stats  publisherStatsSum

	mu   sync.Mutex
	url  string        // publish URL of the next attempt
	live bool          // publishing right now
	up   chan struct{} // closed while live, replaced when the publish drops
}

func (pl *publishLoop) setLive(v bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if v == pl.live {
		return
	}
	pl.live = v
	if v {
		close(pl.up)
	} else {
		pl.up = make(chan struct{})
	}
}

func (pl *publishLoop) isLive() bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.live
}

func (pl *publishLoop) upChan() <-chan struct{} {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.up
}

func (pl *publishLoop) currentURL() string {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.url
}

// retarget makes later attempts use url (a re-sent stream_start carries a
// new publish_session_id) and, if the publish is down, reconnects now: the
// cloud re-sends stream_start when it noticed the drop and is ready again.
func (pl *publishLoop) retarget(url string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.url = url
	if !pl.live {
		select {
		case pl.kick <- struct{}{}:
		default:
		}
	}
}

type publisherStatsSum struct {
	mu   sync.Mutex
	prev PublisherStats // finished attempts
	cur  *Publisher
}

func (s *publisherStatsSum) get() PublisherStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return s.prev
	}
	return s.prev.add(s.cur.Stats())
}

func (s *publisherStatsSum) set(p *Publisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.prev = s.prev.add(s.cur.Stats())
	}
	s.cur = p
}

// NewStreams returns an empty Streams.
func NewStreams(opts StreamsOptions) *Streams {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.Clock == nil {
		opts.Clock = backoff.RealClock{}
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Streams{opts: opts, log: log, starts: make(chan startReq), streams: map[string]*streamState{},
		running: map[*publishLoop]string{}, finished: map[string]PublisherStats{}}
}

// Run owns the publishes: each Start is served on Run's goroutine, which
// opens the publish under ctx. When ctx is done Run forgets every reason as
// StopAll does and returns nil once every publish has ended. It may run
// again after that (once per run of the owner); a second Run while one
// runs is refused.
func (s *Streams) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("streams already running")
	}
	s.serving = true
	s.mu.Unlock()
	var loops sync.WaitGroup
	for {
		select {
		case req := <-s.starts:
			req.reply <- s.add(ctx, &loops, req)
		case <-ctx.Done():
			s.StopAll()
			loops.Wait()
			s.mu.Lock()
			s.serving = false
			s.mu.Unlock()
			return nil
		}
	}
}

// Start adds reason to streamID. The first reason that needs RTMP opens
// the publish to link.PublishURL(streamID, psid); every Start of such a
// reason then waits, bounded by StartTimeout, until the publish is up, so
// that done OK means publishing (docs/protocol.md#stream-start). A first publish that fails is
// not retried and its reason is not kept. Starting an active pair again
// keeps the existing publish (idempotent); if it is down and waiting to
// reconnect, it reconnects at once to the new URL, because the cloud
// re-sends stream_start with a fresh publish_session_id after a drop.
//
// Run serves Start. A Start while no Run runs waits for one within the same
// StartTimeout, then fails with ErrStreamsNotRunning: an owner starts Run
// beside whatever calls Start, in no particular order.
func (s *Streams) Start(ctx context.Context, link Link, streamID string, reason StreamReason, psid int64) error {
	t := time.NewTimer(s.opts.StartTimeout)
	defer t.Stop()
	req := startReq{link: link, streamID: streamID, reason: reason, psid: psid, reply: make(chan startReply, 1)}
	select {
	case s.starts <- req:
	case <-t.C:
		return fmt.Errorf("start stream %s (%s): %w", streamID, reason, ErrStreamsNotRunning)
	case <-ctx.Done():
		return fmt.Errorf("start stream %s (%s): %w", streamID, reason, ctx.Err())
	}
	r := <-req.reply
	if r.err != nil || r.pl == nil {
		return r.err
	}
	err := waitStarted(ctx, t, r.pl)
	if err == nil {
		return nil
	}
	// Undo this call's reason; the loop goes when no RTMP reason is left.
	if !r.had {
		s.remove(streamID, reason, r.pl)
	}
	return fmt.Errorf("start stream %s (%s): %w", streamID, reason, err)
}

// add does a Start's bookkeeping on Run's goroutine and opens the publish
// under ctx if the stream needs one and has none.
func (s *Streams) add(ctx context.Context, loops *sync.WaitGroup, req startReq) startReply {
	streamID, reason := req.streamID, req.reason
	if ctx.Err() != nil {
		// Run is ending: its StopAll must not miss a publish opened now.
		return startReply{err: fmt.Errorf("start stream %s (%s): %w", streamID, reason, ErrStreamsNotRunning)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[streamID]
	if st == nil {
		st = &streamState{reasons: map[StreamReason]struct{}{}}
		s.streams[streamID] = st
	}
	_, had := st.reasons[reason]
	if !reasonNeedsRTMP(reason) {
		st.reasons[reason] = struct{}{}
		return startReply{}
	}
	u, err := req.link.PublishURL(streamID, req.psid)
	if err != nil {
		if st.pub == nil {
			s.dropIfEmptyLocked(streamID, st)
			return startReply{err: fmt.Errorf("start stream %s: %w", streamID, err)}
		}
		u = st.pub.currentURL()
	}
	if st.pub == nil {
		st.pub = s.startLoop(ctx, loops, streamID, u)
	} else {
		st.pub.retarget(u)
	}
	st.reasons[reason] = struct{}{}
	return startReply{pl: st.pub, had: had}
}

func waitStarted(ctx context.Context, t *time.Timer, pl *publishLoop) error {
	select {
	case <-pl.upChan():
		return nil
	case <-pl.done:
		if pl.err != nil {
			return pl.err
		}
		return errors.New("publish stopped before it started")
	case <-t.C:
		return errors.New("timed out waiting for rtmp publish")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop removes reason from streamID and closes the publish when no reason
// needing RTMP is left. Stopping an inactive reason is not an error.
func (s *Streams) Stop(streamID string, reason StreamReason) {
	s.remove(streamID, reason, nil)
}

// remove deletes reason and, if no RTMP reason remains, stops the loop and
// waits for it. With only set, it acts only if the stream still runs that loop
// or the loop has exited (a failed start must not remove a newer publish).
func (s *Streams) remove(streamID string, reason StreamReason, only *publishLoop) {
	s.mu.Lock()
	st := s.streams[streamID]
	if st == nil {
		s.mu.Unlock()
		return
	}
	if only != nil && st.pub != only {
		s.mu.Unlock()
		return
	}
	delete(st.reasons, reason)
	var stop *publishLoop
	if st.pub != nil && !st.needsRTMP() {
		stop = st.pub
		st.pub = nil
	} else if st.pub != nil && only != nil && loopDone(st.pub) {
		// The loop gave up on its first attempt: forget it so a later
		// Start opens a new one.
		stop = st.pub
		st.pub = nil
		for r := range st.reasons {
			if reasonNeedsRTMP(r) {
				delete(st.reasons, r)
			}
		}
	}
	s.dropIfEmptyLocked(streamID, st)
	s.mu.Unlock()
	if stop != nil {
		stop.cancel()
		<-stop.done
	}
}

func loopDone(pl *publishLoop) bool {
	select {
	case <-pl.done:
		return true
	default:
		return false
	}
}

func (st *streamState) needsRTMP() bool {
	for r := range st.reasons {
		if reasonNeedsRTMP(r) {
			return true
		}
	}
	return false
}

func (s *Streams) dropIfEmptyLocked(id string, st *streamState) {
	if len(st.reasons) == 0 && st.pub == nil {
		delete(s.streams, id)
	}
}

// StopAll forgets every reason and closes every publish, e.g. when the
// control connection dropped (docs/protocol.md#reconnect: the cloud re-issues stream_start after
// the next cam_hello). It returns when all publishers have stopped.
func (s *Streams) StopAll() {
	s.mu.Lock()
	var loops []*publishLoop
	for id, st := range s.streams {
		if st.pub != nil {
			loops = append(loops, st.pub)
		}
		delete(s.streams, id)
	}
	s.mu.Unlock()
	for _, pl := range loops {
		pl.cancel()
	}
	for _, pl := range loops {
		<-pl.done
	}
}

// Streaming reports whether at least one RTMP publish is up right now.
func (s *Streams) Streaming() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if st.pub != nil && st.pub.isLive() {
			return true
		}
	}
	return false
}

// Active returns the active reasons per stream id, sorted, for status pages.
func (s *Streams) Active() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.streams))
	for id, st := range s.streams {
		rs := make([]string, 0, len(st.reasons))
		for r := range st.reasons {
			rs = append(rs, string(r))
		}
		slices.Sort(rs)
		out[id] = rs
	}
	return out
}

// Has reports whether reason is active for streamID, e.g. whether
// event-driven recording (record_by_event) is on.
func (s *Streams) Has(streamID string, reason StreamReason) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[streamID]
	if st == nil {
		return false
	}
	_, ok := st.reasons[reason]
	return ok
}

// Stats returns the publish counters of each stream that was ever
// published, summed over every publish and reconnect (counters for metrics:
// they never go down).
func (s *Streams) Stats() map[string]PublisherStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]PublisherStats, len(s.finished)+len(s.running))
	for id, st := range s.finished {
		out[id] = st
	}
	for pl, id := range s.running {
		out[id] = out[id].add(pl.stats.get())
	}
	return out
}

func (a PublisherStats) add(b PublisherStats) PublisherStats {
	return PublisherStats{VideoFrames: a.VideoFrames + b.VideoFrames, AudioFrames: a.AudioFrames + b.AudioFrames,
		Bytes: a.Bytes + b.Bytes, Drops: a.Drops + b.Drops, Backwards: a.Backwards + b.Backwards}
}

// startLoop starts the publish goroutine under ctx, counted in loops;
// called on Run's goroutine with s.mu held.
func (s *Streams) startLoop(ctx context.Context, loops *sync.WaitGroup, streamID, url string) *publishLoop {
	ctx, cancel := context.WithCancel(ctx)
	pl := &publishLoop{cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1),
		url: url, up: make(chan struct{})}
	s.running[pl] = streamID
	loops.Go(func() {
		defer close(pl.done)
		defer cancel()
		pl.err = s.runLoop(ctx, streamID, pl)
		s.mu.Lock()
		delete(s.running, pl)
		s.finished[streamID] = s.finished[streamID].add(pl.stats.get())
		s.mu.Unlock()
	})
	return pl
}

// runLoop publishes until ctx ends. It returns an error only when the very
// first attempt failed, which Start reports to the cloud; after one good
// publish it reconnects with a jittered 1–5 s backoff while requested.
func (s *Streams) runLoop(ctx context.Context, streamID string, pl *publishLoop) error {
	log := s.log.With(zap.String("stream", streamID))
	// A publish that stayed up a while earns a fast retry again.
	b := backoff.Backoff{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff, Healthy: 30 * time.Second}
	everStarted := false
	for {
		attemptStarted := false
		var upSince time.Time
		err := s.attempt(ctx, streamID, pl, log, func() {
			attemptStarted, everStarted = true, true
			upSince = s.opts.Clock.Now()
		})
		if ctx.Err() != nil {
			return nil
		}
		if !everStarted {
			return err
		}
		var up time.Duration
		if attemptStarted {
			up = s.opts.Clock.Now().Sub(upSince)
		}
		// The jitter stays within the configured bounds.
		wait := min(max(b.After(up, err), s.opts.MinBackoff), s.opts.MaxBackoff)
		log.Warn("rtmp publish ended, reconnecting", zap.Error(err), zap.Duration("in", wait))
		s.backoff(ctx, pl, wait)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// backoff waits d, or less if Start retargets the loop meanwhile.
func (s *Streams) backoff(ctx context.Context, pl *publishLoop, d time.Duration) {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-pl.kick:
			cancel()
		case <-sctx.Done():
		}
	})
	_ = s.opts.Clock.Sleep(sctx, d)
	cancel()
	wg.Wait()
}

func (s *Streams) attempt(ctx context.Context, streamID string, pl *publishLoop, log *zap.Logger, onStarted func()) error {
	src, err := s.opts.Open(streamID)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", streamID, err)
	}
	defer src.Close()
	pub := NewPublisher(PublisherOptions{
		URL:       pl.currentURL(),
		Source:    src,
		TLSConfig: s.opts.TLSConfig,
		Dial:      s.opts.Dial,
		Logger:    log,
		OnStarted: func() {
			onStarted()
			pl.setLive(true)
		},
	})
	pl.stats.set(pub)
	err = pub.Run(ctx)
	pl.setLive(false)
	return err
}
