package uplink

import (
	"context"
	"crypto/tls"
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
)

// Subprotocol is offered in the WebSocket handshake (docs/protocol.md#websocket); the server need not echo it.
const Subprotocol = "vxg-message-protocol"

// maxMessage bounds one inbound message; the spec asks for at least 1 MiB.
const maxMessage = 4 << 20

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
		s.recordEnd(ctx, res)
		return res
	}
	ws.SetReadLimit(maxMessage)
	s.setState(StateWSOpen)
	log.Info("connected")

	cctx, cancel := context.WithCancel(ctx)
	c := &conn{
		s: s, ws: ws, log: log, secure: secure,
		inbound: make(chan frame),
		queue:   make(chan queued, queueSize),
		camInfo: make(chan CameraInfo, 1),
		ended:   make(chan struct{}),
		grants:  map[int64]chan grantResult{},
	}
	c.wg.Go(func() { c.readLoop(cctx) })
	c.wg.Go(func() { c.keepalive(cctx) })
	c.wg.Go(func() { c.dispatch(cctx) })
	res := c.serve(cctx)

	s.mu.Lock()
	s.cur = nil
	s.mu.Unlock()
	close(c.ended)
	cancel()
	ws.Close()
	c.wg.Wait()
	// Why it ended is recorded first, so whoever sees the state change
	// (status page, /readyz) also sees the reason.
	s.recordEnd(ctx, res)
	s.setState(StateDisconnected)
	if res.ready {
		s.opts.Handler.Down()
	}
	if ctx.Err() != nil {
		// Our own shutdown: serve said bye SHUTDOWN (docs/protocol.md#shutdown).
		log.Info("disconnected", zap.String("reason", "shutdown"))
	} else {
		log.Info("disconnected", zap.Error(res.err), zap.Stringer("bye", res.bye))
	}
	return res
}

// conn is one WebSocket connection. serve runs on the Run goroutine and
// owns the state machine; readLoop, keepalive, dispatch and the camera
// probe are its helpers, joined by connect.
type conn struct {
	s      *Session
	ws     *websocket.Conn
	log    *zap.Logger
	secure bool
	wg     sync.WaitGroup

	wmu   sync.Mutex // serialises frames and msgid order
	msgid int64

	lastRecv atomic.Int64 // unix nanos of the last inbound frame
	camID    int64        // set once before the conn is published in s.cur

	inbound chan frame
	queue   chan queued
	camInfo chan CameraInfo
	dropped atomic.Int64

	// ended is closed when serve returned, for RequestUpload waiters.
	ended chan struct{}
	// grants are the RequestUpload calls waiting for direct_upload_url,
	// by the msgid they sent; each removes its own entry when it returns.
	gmu    sync.Mutex
	grants map[int64]chan grantResult
}

// frame is one inbound message or the read error that ended the
// connection; one channel keeps a bye ahead of the EOF that follows it.
type frame struct {
	data []byte
	err  error
}

// send writes one message with the next msgid (docs/protocol.md#msgid).
func (c *conn) send(env Envelope, body any) (int64, error) {
	return c.sendAwaiting(env, body, nil)
}

// sendAwaiting is send that, when grant is set, registers it for the
// direct_upload_url answering the message before the message is written:
// the answer can arrive before the write returns.
func (c *conn) sendAwaiting(env Envelope, body any, grant chan grantResult) (int64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	env.MsgID = c.msgid + 1
	b, err := EncodeMessage(env, body)
	if err != nil {
		return 0, err
	}
	c.msgid++
	if grant != nil {
		c.gmu.Lock()
		c.grants[env.MsgID] = grant
		c.gmu.Unlock()
	}
	c.ws.SetWriteDeadline(time.Now().Add(c.s.t.Write))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.ws.Close() // the read loop notices and ends the connection
		if grant != nil {
			c.forgetGrant(env.MsgID)
		}
		return 0, fmt.Errorf("send %s: %w", env.Cmd, err)
	}
	return env.MsgID, nil
}

func (c *conn) touch() {
	c.lastRecv.Store(time.Now().UnixNano())
	c.ws.SetReadDeadline(time.Now().Add(c.s.t.Dead))
}

func (c *conn) readLoop(ctx context.Context) {
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
			case <-ctx.Done():
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
		case <-ctx.Done():
			return
		}
	}
}

// keepalive pings after Idle of silence (docs/protocol.md#keepalive); the read deadline set by
// touch drops the connection after Dead.
func (c *conn) keepalive(ctx context.Context) {
	t := time.NewTimer(c.s.t.Idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
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

// goodbye is the orderly close of docs/protocol.md#shutdown.
func (c *conn) goodbye() {
	if _, err := c.send(Envelope{Cmd: CmdBye}, Bye{Reason: ByeShutdown}); err != nil {
		c.log.Debug("bye failed", zap.Error(err))
	}
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(c.s.t.Write))
}
