// Package uplink is the agent's side of the VXG cloud: the camera-channel
// WebSocket session (token, envelope, handshake, reconnect, redirect) and
// the media and upload paths that hang off it.
package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"golang.org/x/net/proxy"

	"github.com/camagent/camagent/internal/backoff"
)

// ConnState is the camera-channel state of §2.6.
type ConnState int32

// States of §2.6.
const (
	StateDisconnected ConnState = iota
	StateWSOpen
	StateRegistering
	StateCamRegistering
	StateReady
)

func (s ConnState) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateWSOpen:
		return "ws_open"
	case StateRegistering:
		return "registering"
	case StateCamRegistering:
		return "cam_registering"
	case StateReady:
		return "ready"
	}
	return fmt.Sprintf("ConnState(%d)", int32(s))
}

// ErrDeleted is returned by Run after bye DELETED: the camera was removed
// from its cloud account, the persisted state is wiped and the agent must
// not reconnect with this token (§2.9).
var ErrDeleted = errors.New("camera deleted from cloud account")

// ErrNotReady is returned by Send before cam_hello: camera-scoped messages
// must not be sent earlier (§2.6).
var ErrNotReady = errors.New("camera channel not ready")

// Subprotocol is offered in the WebSocket handshake (§2.2); the server need not echo it.
const Subprotocol = "vxg-message-protocol"

// maxMessage bounds one inbound message; the spec asks for at least 1 MiB.
const maxMessage = 4 << 20

// queueSize bounds the requests waiting for the Handler; beyond it the
// cloud gets done RETRY.
const queueSize = 32

// Timeouts are the protocol timers of §2.4–§2.5; zero fields take the spec
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
	return t
}

// Options configures a Session.
type Options struct {
	Token Token
	// Insecure selects ws:// instead of wss:// (§2.1); TLS verification is
	// always on for wss.
	Insecure bool
	// RootCAs verifies the server; nil means the system pool.
	RootCAs *x509.CertPool
	// StatePath is the persisted-state file (§1.5); empty keeps it in memory.
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
// reasons and redirects (§2.7–§2.9), which only this package understands.
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
	slow     backoff.Backoff // after an unknown account (§2.9)
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
	// §2.7; delay resets both once READY was held a minute.
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

// SendID is Send that also returns the msgid used, so an answer such as
// direct_upload_url can be matched by its refid.
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
// §2.7. It returns nil on cancellation (after bye SHUTDOWN, §2.10) and
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
			// §2.9: not again with the same credentials. The stored pwd
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

// connResult is how one connection ended.
type connResult struct {
	err     error
	bye     *Bye
	ready   bool
	readyAt time.Time
}

// String lets a *Bye be logged with zap.Stringer.
func (b *Bye) String() string {
	if b == nil {
		return "none"
	}
	if b.Retry > 0 {
		return fmt.Sprintf("%s retry=%ds", b.Reason, b.Retry)
	}
	return b.Reason
}

// delay applies the table of §2.7/§2.9 to how the connection ended.
func (s *Session) delay(res connResult) time.Duration {
	if res.ready && s.clock.Now().Sub(res.readyAt) >= time.Minute {
		s.backoff.Reset()
		s.slow.Reset()
	}
	b := res.bye
	if b == nil || b.Reason != ByeReconnect {
		s.redirect = "" // §2.8 step 5
	}
	var retry time.Duration
	if b != nil {
		retry = time.Duration(b.Retry) * time.Second
	}
	switch {
	case b == nil:
		return s.backoff.Next()
	case b.Reason == ByeReconnect:
		if retry > 0 {
			return retry
		}
		return 5 * time.Second
	case b.Reason == ByeConnConflict:
		s.log.Error("another connection uses this camera's token; two devices may share it")
		d := retry
		if d == 0 {
			d = s.backoff.Next()
		}
		return max(d, 30*time.Second)
	case b.Reason == ByeAuthFailure:
		s.log.Error("cloud rejected the camera's credentials; check the access token")
		return max(retry, 5*time.Minute)
	case b.Reason == ByeInvalidUser:
		s.log.Error("cloud account of this camera not found")
		if retry > 0 {
			return retry
		}
		return s.slow.Next()
	case retry > 0:
		return retry
	default:
		return s.backoff.Next()
	}
}

func (s *Session) dialer() (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	if s.opts.NetDial != nil {
		return s.opts.NetDial, nil
	}
	if s.opts.Token.SOCKS5 == "" {
		var d net.Dialer
		return d.DialContext, nil
	}
	u, err := url.Parse(s.opts.Token.SOCKS5)
	if err != nil {
		return nil, fmt.Errorf("token socks5 proxy: %w", err)
	}
	pd, err := proxy.FromURL(u, &net.Dialer{})
	if err != nil {
		return nil, fmt.Errorf("token socks5 proxy: %w", err)
	}
	if cd, ok := pd.(proxy.ContextDialer); ok {
		return cd.DialContext, nil
	}
	return func(_ context.Context, network, addr string) (net.Conn, error) { return pd.Dial(network, addr) }, nil
}

// connect runs one connection from dial to close.
func (s *Session) connect(ctx context.Context) connResult {
	s.attempts.Add(1)
	secure := !s.opts.Insecure
	raw := s.opts.Token.ControlURL(secure, s.redirect)
	u, err := url.Parse(raw)
	if err != nil {
		return connResult{err: fmt.Errorf("control url: %w", err)}
	}
	dial, err := s.dialer()
	if err != nil {
		return connResult{err: err}
	}
	d := websocket.Dialer{
		NetDialContext:   dial,
		HandshakeTimeout: s.t.Handshake,
		Subprotocols:     []string{Subprotocol},
		TLSClientConfig:  &tls.Config{RootCAs: s.opts.RootCAs, MinVersion: tls.VersionTLS12},
	}
	origin := "http://" + u.Host
	if secure {
		origin = "https://" + u.Host
	}
	// The URL path holds the secret token: log the host only.
	log := s.log.With(zap.String("server", u.Host))
	ws, resp, err := d.DialContext(ctx, raw, http.Header{"Origin": {origin}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (http %d)", err, resp.StatusCode)
		}
		log.Warn("connect failed", zap.Error(err))
		res := connResult{err: fmt.Errorf("connect %s: %w", u.Host, err)}
		s.recordEnd(res)
		return res
	}
	ws.SetReadLimit(maxMessage)
	s.setState(StateWSOpen)
	log.Info("connected")

	cctx, cancel := context.WithCancel(ctx)
	c := &conn{
		s: s, ws: ws, ctx: cctx, log: log, secure: secure,
		inbound: make(chan frame),
		queue:   make(chan *Command, queueSize),
		camInfo: make(chan CameraInfo, 1),
	}
	c.wg.Go(c.readLoop)
	c.wg.Go(c.keepalive)
	c.wg.Go(c.dispatch)
	res := c.serve()

	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
	cancel()
	ws.Close()
	c.wg.Wait()
	// Why it ended is recorded first, so whoever sees the state change
	// (status page, /readyz) also sees the reason.
	s.recordEnd(res)
	s.setState(StateDisconnected)
	if res.ready {
		s.opts.Handler.Down()
	}
	if ctx.Err() != nil {
		// Our own shutdown: serve said bye SHUTDOWN (§2.10).
		log.Info("disconnected", zap.String("reason", "shutdown"))
	} else {
		log.Info("disconnected", zap.Error(res.err), zap.Stringer("bye", res.bye))
	}
	return res
}

func (s *Session) recordEnd(res connResult) {
	end := End{Bye: res.bye, Err: res.err}
	s.lastEnd.Store(&end)
	if r, ok := s.opts.Handler.(EndReporter); ok {
		r.Ended(end)
	}
}

// End is how one connection ended.
type End struct {
	// Bye is what the cloud said, nil when the connection ended otherwise.
	Bye *Bye
	// Err is why the connection failed; nil after a bye or a clean close.
	Err error
}

// Settled reports a bye after which the cloud will not take the camera
// back by itself: someone has to fix the token, the account or the other
// device. Whatever else ended a connection is transient.
func (e End) Settled() bool {
	if e.Bye == nil {
		return false
	}
	switch e.Bye.Reason {
	case ByeAuthFailure, ByeInvalidUser, ByeDeleted, ByeConnConflict:
		return true
	}
	return false
}

// String says in plain words how the connection ended.
func (e End) String() string {
	switch {
	case e.Bye != nil:
		what := "cloud said bye " + e.Bye.String()
		switch e.Bye.Reason {
		case ByeAuthFailure:
			what += ": the access token was rejected"
		case ByeConnConflict:
			what += ": another device is connected with this camera's token"
		case ByeInvalidUser:
			what += ": the camera's cloud account was not found"
		case ByeDeleted:
			what += ": the camera was deleted from its cloud account"
		}
		return what
	case e.Err != nil:
		return e.Err.Error()
	}
	return "connection closed"
}

// conn is one WebSocket connection. serve runs on the Run goroutine and
// owns the state machine; readLoop, keepalive, dispatch and the camera
// probe are its helpers, joined by connect.
type conn struct {
	s      *Session
	ws     *websocket.Conn
	ctx    context.Context
	log    *zap.Logger
	secure bool
	wg     sync.WaitGroup

	wmu   sync.Mutex // serialises frames and msgid order
	msgid int64

	lastRecv atomic.Int64 // unix nanos of the last inbound frame
	camID    int64        // set once before the conn is published in s.cur

	inbound chan frame
	queue   chan *Command
	camInfo chan CameraInfo
	dropped atomic.Int64
}

// frame is one inbound message or the read error that ended the
// connection; one channel keeps a bye ahead of the EOF that follows it.
type frame struct {
	data []byte
	err  error
}

// send writes one message with the next msgid (§3.2).
func (c *conn) send(env Envelope, body any) (int64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	env.MsgID = c.msgid + 1
	b, err := EncodeMessage(env, body)
	if err != nil {
		return 0, err
	}
	c.msgid++
	c.ws.SetWriteDeadline(time.Now().Add(c.s.t.Write))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.ws.Close() // the read loop notices and ends the connection
		return 0, fmt.Errorf("send %s: %w", env.Cmd, err)
	}
	return env.MsgID, nil
}

// reply answers request m (§3.3).
func (c *conn) reply(m *Message, r Reply) {
	if r.cmd == "" {
		r = Done(StatusError, errors.New("handler returned no reply"))
	}
	env := Envelope{Cmd: r.cmd, RefID: m.MsgID, OrigCmd: m.Cmd}
	if m.HasCamID {
		env.CamID = m.CamID
	}
	if r.cmd == CmdDone {
		env.Status = r.status
		if r.status != StatusOK {
			c.log.Info("request refused", zap.String("cmd", m.Cmd), zap.String("status", r.status), zap.Error(r.err))
		}
	}
	if _, err := c.send(env, r.body); err != nil {
		c.log.Warn("reply failed", zap.String("cmd", m.Cmd), zap.Error(err))
	}
	if r.then != nil {
		r.then()
	}
}

func (c *conn) touch() {
	c.lastRecv.Store(time.Now().UnixNano())
	c.ws.SetReadDeadline(time.Now().Add(c.s.t.Dead))
}

func (c *conn) readLoop() {
	c.touch()
	c.ws.SetPongHandler(func(string) error { c.touch(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		c.touch()
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.s.t.Write))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("liveness timeout: nothing received for %s", c.s.t.Dead)
			}
			select {
			case c.inbound <- frame{err: err}:
			case <-c.ctx.Done():
			}
			return
		}
		c.touch()
		if typ != websocket.TextMessage {
			c.log.Warn("ignoring binary frame", zap.Int("len", len(data)))
			continue
		}
		select {
		case c.inbound <- frame{data: data}:
		case <-c.ctx.Done():
			return
		}
	}
}

// keepalive pings after Idle of silence (§2.4); the read deadline set by
// touch drops the connection after Dead.
func (c *conn) keepalive() {
	t := time.NewTimer(c.s.t.Idle)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		silent := time.Since(time.Unix(0, c.lastRecv.Load()))
		next := c.s.t.Idle - silent
		if next <= 0 {
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.t.Write)); err != nil {
				c.log.Debug("ping failed", zap.Error(err))
			}
			next = c.s.t.Idle
		}
		t.Reset(next)
	}
}

// dispatch feeds the Handler one request at a time so slow work (an RTMP
// connect) never blocks the receive loop (§3.3).
func (c *conn) dispatch() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case cmd := <-c.queue:
			c.reply(cmd.msg, c.s.opts.Handler.Handle(c.ctx, cmd))
		}
	}
}

// probeCamera asks the Handler for camera facts until it has them; the
// camera must be reachable before cam_register is sent (§4.1.4).
func (c *conn) probeCamera() {
	for {
		info, err := c.s.opts.Handler.CameraInfo(c.ctx)
		if err == nil {
			c.camInfo <- info
			return
		}
		if c.ctx.Err() != nil {
			return
		}
		c.log.Warn("camera unavailable, cam_register deferred", zap.Error(err))
		if c.s.clock.Sleep(c.ctx, c.s.t.CameraRetry) != nil {
			return
		}
	}
}

// serve runs the §2.6 state machine until the connection ends.
func (c *conn) serve() connResult {
	s := c.s
	var res connResult
	tz := s.persist.TZ
	if tz == "" {
		tz = s.opts.TZ
	}
	if tz == "" {
		tz = "UTC"
	}
	proto := []string{"rtmp"}
	if c.secure {
		proto = []string{"rtmps"}
	}
	reg := Register{Ver: s.opts.Version, TZ: tz, Vendor: s.opts.Vendor, RegToken: s.opts.Token.Secret,
		Pwd: s.persist.Pwd, PrevSID: s.persist.SID, MediaProtocols: proto}
	if _, err := c.send(Envelope{Cmd: CmdRegister}, reg); err != nil {
		res.err = err
		return res
	}
	s.setState(StateRegistering)
	phase := time.NewTimer(s.t.Hello)
	defer phase.Stop()
	phaseName := CmdHello
	var hello Hello

	for {
		select {
		case <-c.ctx.Done():
			c.goodbye()
			return res
		case <-phase.C:
			res.err = fmt.Errorf("no %s within timeout", phaseName)
			return res
		case info := <-c.camInfo:
			cr := CamRegister{IP: info.IP, UUID: s.persist.UUID, Brand: info.Brand, Model: info.Model,
				SN: info.SN, Version: info.Version, Type: info.Type, RawMessaging: s.opts.RawMessaging}
			if _, err := c.send(Envelope{Cmd: CmdCamRegister}, cr); err != nil {
				res.err = err
				return res
			}
			phase.Reset(s.t.CamHello)
			phaseName = CmdCamHello
		case f := <-c.inbound:
			if f.err != nil {
				res.err = f.err
				return res
			}
			data := f.data
			m, err := DecodeMessage(data)
			if err != nil {
				c.log.Warn("ignoring bad message", zap.Error(err), zap.Int("len", len(data)))
				continue
			}
			switch m.Cmd {
			case CmdDone:
				if m.Status != StatusOK {
					c.log.Info("cloud done", zap.String("orig_cmd", m.OrigCmd), zap.Int64("refid", m.RefID), zap.String("status", m.Status))
				}
			case CmdReportProblem:
				var rp ReportProblem
				_ = m.Decode(&rp)
				c.log.Warn("cloud reported a problem", zap.String("orig_cmd", m.OrigCmd), zap.Int64("refid", m.RefID), zap.String("reason", rp.Reason))
				if pr, ok := s.opts.Handler.(ProblemReporter); ok {
					pr.Problem(m.RefID, m.OrigCmd, rp.Reason)
				}
			case CmdBye:
				var b Bye
				if err := m.Decode(&b); err != nil {
					c.log.Warn("bad bye, treating as ERROR", zap.Error(err))
					b = Bye{Reason: ByeError, Retry: max(b.Retry, 0)}
				}
				res.bye = &b
				c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(s.t.Write))
				return res
			case CmdConfigure:
				var cf Configure
				if err := m.Decode(&cf); err != nil {
					c.reply(m, DoneErr(err))
					continue
				}
				c.configure(cf)
				c.reply(m, Done(StatusOK))
			case CmdHello:
				if s.State() != StateRegistering {
					c.reply(m, Done(StatusOK))
					continue
				}
				if m.Status != "" && m.Status != StatusOK {
					res.err = fmt.Errorf("registration refused: hello status %s", m.Status)
					return res
				}
				if err := m.Decode(&hello); err != nil {
					c.reply(m, DoneErr(err))
					res.err = fmt.Errorf("bad hello: %w", err)
					return res
				}
				s.persist.SID = hello.SID
				if hello.ConnID != "" {
					s.persist.ConnID = hello.ConnID
				}
				s.saveState()
				c.reply(m, Done(StatusOK))
				s.setState(StateCamRegistering)
				phase.Stop()
				c.wg.Go(c.probeCamera)
			case CmdCamHello:
				if s.State() != StateCamRegistering || phaseName != CmdCamHello {
					c.reply(m, Done(StatusOK))
					continue
				}
				var ch CamHello
				if err := m.Decode(&ch); err != nil {
					c.reply(m, DoneErr(err))
					res.err = fmt.Errorf("bad cam_hello: %w", err)
					return res
				}
				phase.Stop()
				if ch.CamID != s.opts.Token.CamID {
					c.log.Warn("cloud cam_id differs from token camid", zap.Int64("cam_id", ch.CamID), zap.Int64("camid", s.opts.Token.CamID))
				}
				link := c.link(hello, ch)
				c.camID = ch.CamID
				c.reply(m, Done(StatusOK))
				res.ready, res.readyAt = true, s.clock.Now()
				s.registrations.Add(1)
				s.setState(StateReady)
				s.mu.Lock()
				s.cur = c
				s.mu.Unlock()
				c.log.Info("camera ready", zap.Int64("cam_id", ch.CamID))
				s.opts.Handler.Ready(link)
			default:
				c.request(m)
			}
		}
	}
}

// request routes a camera-scoped cloud request (§3.5).
func (c *conn) request(m *Message) {
	if c.s.State() != StateReady {
		c.reply(m, Done(StatusRetry))
		return
	}
	if m.HasCamID && m.CamID != c.camID {
		c.reply(m, Done(StatusError, fmt.Errorf("foreign cam_id %d", m.CamID)))
		return
	}
	if err := ValidateRequest(m); err != nil {
		c.reply(m, DoneErr(err))
		return
	}
	cmd := &Command{Name: m.Cmd, MsgID: m.MsgID, CamID: m.CamID, RefID: m.RefID, msg: m}
	select {
	case c.queue <- cmd:
	default:
		n := c.dropped.Add(1)
		c.log.Warn("request queue full", zap.String("cmd", m.Cmd), zap.Int64("dropped", n))
		c.reply(m, Done(StatusRetry))
	}
}

// configure applies a configure message (§4.1.2).
func (c *conn) configure(cf Configure) {
	p := &c.s.persist
	for _, f := range []struct {
		dst *string
		v   string
	}{{&p.Pwd, cf.Pwd}, {&p.UUID, cf.UUID}, {&p.ConnID, cf.ConnID}, {&p.TZ, cf.TZ}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	c.s.saveState()
	if tzs, ok := c.s.opts.Handler.(TimeZoneSetter); ok && cf.TZ != "" {
		tzs.SetTimeZone(cf.TZ)
	}
	if cf.Server != "" {
		c.s.redirect = cf.Server
		c.log.Info("cloud set redirect target", zap.String("target", cf.Server))
	}
}

// link collects what publishing and uploads need from hello and cam_hello.
func (c *conn) link(h Hello, ch CamHello) Link {
	l := Link{CamID: ch.CamID, SID: h.SID, MediaServer: h.MediaServer, Path: ch.Path, UploadURI: h.UploadURI,
		Secure: c.secure, Activity: ch.Activity == nil || *ch.Activity}
	if ch.MediaURI != "" {
		l.MediaServer = ch.MediaURI
	}
	if l.Path == "" {
		l.Path = ch.MediaURL
	}
	if l.UploadURI == "" && h.UploadURL != "" {
		l.UploadURI = "http://" + h.UploadURL
	}
	return l
}

// goodbye is the orderly close of §2.10.
func (c *conn) goodbye() {
	if _, err := c.send(Envelope{Cmd: CmdBye}, Bye{Reason: ByeShutdown}); err != nil {
		c.log.Debug("bye failed", zap.Error(err))
	}
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(c.s.t.Write))
}
