// Package uplink is the agent's side of the VXG cloud: the camera-channel
// WebSocket session (token, envelope, handshake, reconnect, redirect) and
// the media and upload paths that hang off it.
package uplink

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
)

// ErrDeleted is returned by Run after bye DELETED: the camera was removed
// from its cloud account, the persisted state is wiped and the agent must
// not reconnect with this token (docs/protocol.md#bye).
var ErrDeleted = errors.New("camera deleted from cloud account")

// ErrNotReady is returned by Send before cam_hello: camera-scoped messages
// must not be sent earlier (docs/protocol.md#states).
var ErrNotReady = errors.New("camera channel not ready")

// Timeouts are the protocol timers of docs/protocol.md#keepalive–#timeouts; zero fields take the spec
// values. Tests shorten them.
type Timeouts struct {
	Handshake time.Duration // TCP+TLS+WS handshake, 20 s
	Idle      time.Duration // silence before a ping, 10 s
	Dead      time.Duration // silence before the connection is dropped, 60 s
	Hello     time.Duration // register → hello, 30 s
	CamHello  time.Duration // cam_register → cam_hello, 30 s
	Write     time.Duration // one frame write, 10 s
	// CameraRetry is the wait between CameraInfo attempts (Clock.Sleep), 10 s.
	CameraRetry time.Duration
	// DirectUpload is how long RequestUpload waits for direct_upload_url, 20 s.
	DirectUpload time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Handshake, 20*time.Second)
	def(&t.Idle, 10*time.Second)
	def(&t.Dead, 60*time.Second)
	def(&t.Hello, 30*time.Second)
	def(&t.CamHello, 30*time.Second)
	def(&t.Write, 10*time.Second)
	def(&t.CameraRetry, 10*time.Second)
	def(&t.DirectUpload, 20*time.Second)
	return t
}

// Options configures a Session.
type Options struct {
	Token Token
	// Insecure selects ws:// instead of wss:// (docs/protocol.md#control-url); TLS verification is
	// always on for wss.
	Insecure bool
	// RootCAs verifies the server; nil means the system pool.
	RootCAs *x509.CertPool
	// StatePath is the persisted-state file (docs/protocol.md#state); empty keeps it in memory.
	StatePath string
	// Version and Vendor go to register.ver/vendor; TZ is register.tz
	// until the cloud configures one ("UTC" when empty).
	Version, Vendor, TZ string
	// RawMessaging is announced in cam_register.
	RawMessaging bool
	// Handler is required: it serves the camera side.
	Handler Handler
	Logger  *zap.Logger
	// Clock and Rand drive reconnect delays and jitter; nil = real ones.
	Clock backoff.Clock
	Rand  func() float64
	// NetDial replaces TCP dialing; nil dials directly or through the
	// token's SOCKS5 proxy.
	NetDial  func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeouts Timeouts
}

// Session is one camera's VXG camera channel. Unlike other long-running
// parts, its Run keeps reconnecting: the reconnect rules depend on bye
// reasons and redirects (docs/protocol.md#reconnect–#bye), which only this package understands.
type Session struct {
	opts  Options
	t     Timeouts
	log   *zap.Logger
	clock backoff.Clock

	state atomic.Int32
	// lastEnd is how the last connection ended.
	lastEnd atomic.Pointer[End]
	// attempts and registrations count connection attempts and those that
	// reached READY, for metrics: a flapping uplink shows as their rates.
	attempts, registrations atomic.Uint64

	mu  sync.Mutex
	cur *conn // the READY connection, for Send

	// Owned by the Run goroutine.
	persist  State
	redirect string
	backoff  backoff.Backoff
	slow     backoff.Backoff // after an unknown account (docs/protocol.md#bye)
}

// NewSession builds a session; nothing happens until Run.
func NewSession(opts Options) *Session {
	s := &Session{opts: opts, t: opts.Timeouts.withDefaults(), log: opts.Logger, clock: opts.Clock}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.clock == nil {
		s.clock = backoff.RealClock{}
	}
	// docs/protocol.md#reconnect; delay resets both once READY was held a minute.
	s.backoff = backoff.Backoff{Min: 5 * time.Second, Max: 60 * time.Second, Rand: opts.Rand}
	s.slow = backoff.Backoff{Min: 60 * time.Second, Max: 5 * time.Minute, Rand: opts.Rand}
	return s
}

// State is the current connection state, for the status page.
func (s *Session) State() ConnState { return ConnState(s.state.Load()) }

// Counts are a session's cumulative connection counters.
type Counts struct {
	Attempts      uint64 // connections dialled
	Registrations uint64 // connections that reached READY
}

// Counts returns the connection counters since NewSession.
func (s *Session) Counts() Counts {
	return Counts{Attempts: s.attempts.Load(), Registrations: s.registrations.Load()}
}

// LastEnd is how the last connection ended; ok is false before the first
// ended. The status page tells an operator from it why the camera is
// offline, and readiness whether retrying can help.
func (s *Session) LastEnd() (end End, ok bool) {
	if p := s.lastEnd.Load(); p != nil {
		return *p, true
	}
	return End{}, false
}

func (s *Session) setState(st ConnState) { s.state.Store(int32(st)) }

// Send sends a camera-scoped message (cam_event, …) with the session's
// cam_id; before READY it fails with ErrNotReady.
func (s *Session) Send(ctx context.Context, cmd string, body any) error {
	_, err := s.SendID(ctx, cmd, body)
	return err
}

// SendID is Send that also returns the msgid used, so a later cloud
// message can be matched by its refid (RequestUpload does this for
// direct_upload_url).
func (s *Session) SendID(ctx context.Context, cmd string, body any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return 0, ErrNotReady
	}
	return c.send(Envelope{Cmd: cmd, CamID: c.camID}, body)
}

// Run connects, registers and serves until ctx ends, reconnecting per
// docs/protocol.md#reconnect. It returns nil on cancellation (after bye SHUTDOWN, docs/protocol.md#shutdown) and
// ErrDeleted after bye DELETED.
func (s *Session) Run(ctx context.Context) error {
	if s.opts.Handler == nil {
		return errors.New("uplink session: no handler")
	}
	st, err := s.loadState()
	if err != nil {
		s.log.Warn("state unreadable, starting fresh", zap.Error(err))
	}
	s.persist = st
	for {
		res := s.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if res.bye != nil && res.bye.Reason == ByeDeleted {
			s.log.Error("camera deleted in cloud, stopping")
			s.persist = State{TokenHash: s.opts.Token.Fingerprint()}
			s.redirect = ""
			if s.opts.StatePath != "" {
				if err := RemoveState(s.opts.StatePath); err != nil {
					s.log.Warn("wipe state", zap.Error(err))
				}
			}
			return ErrDeleted
		}
		if res.bye != nil && res.bye.Reason == ByeAuthFailure && s.persist.Pwd != "" {
			// docs/protocol.md#bye: not again with the same credentials. The stored pwd
			// may be what the cloud rejected (the camera was re-created);
			// the token alone registers like the first time.
			s.log.Warn("credentials rejected: forgetting the stored pwd")
			s.persist.Pwd = ""
			s.saveState()
		}
		d := s.delay(res)
		s.log.Info("reconnecting", zap.Duration("in", d), zap.Error(res.err), zap.Stringer("bye", res.bye))
		if err := s.clock.Sleep(ctx, d); err != nil {
			return nil
		}
	}
}

func (s *Session) loadState() (State, error) {
	if s.opts.StatePath == "" {
		return State{TokenHash: s.opts.Token.Fingerprint()}, nil
	}
	return LoadState(s.opts.StatePath, s.opts.Token)
}

func (s *Session) saveState() {
	if s.opts.StatePath == "" {
		return
	}
	if err := s.persist.Save(s.opts.StatePath); err != nil {
		s.log.Warn("save state", zap.Error(err))
	}
}
