package cloudsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// Options configures the simulated camera server.
type Options struct {
	// Addr is the listen address; default 127.0.0.1:0. A restarted Server
	// reuses the port it had.
	Addr string
	// TLS serves wss with a certificate generated at run time (see CertPool).
	TLS bool
	// CamID is the camera the token is for; default 310042.
	CamID int64
	// Secret is the token's channel secret; default random.
	Secret string
	// Pwd, UUID, ConnID and TZ are what configure hands out; Pwd is also
	// what a later register must present. Defaults are random / "UTC".
	Pwd, UUID, ConnID, TZ string
	// MediaServer is hello.media_server (the RTMP ingest host:port).
	MediaServer string
	// UploadURI is hello.upload_uri; omitted when empty.
	UploadURI string
	// Uploads serves the legacy upload endpoint (docs/protocol.md#legacy-upload, upload.go) on the
	// server's own address and, unless UploadURI is set, advertises it as
	// hello.upload_uri.
	Uploads bool
	// UploadNoScheme advertises the endpoint as an older server does:
	// hello.upload_url, host:port without scheme (plain HTTP only).
	UploadNoScheme bool
	// MediaURI is cam_hello.media_uri; omitted when empty.
	MediaURI string
	// Path is cam_hello.path; default "live/u1m1c<camid>_".
	Path string
	// RejectAuth answers every register with bye AUTH_FAILURE.
	RejectAuth bool
	// EchoSubprotocol echoes vxg-message-protocol; by default the server
	// does not, which agents must tolerate (docs/protocol.md#websocket).
	EchoSubprotocol bool
	// IgnorePings leaves agent pings unanswered, to test liveness.
	IgnorePings bool
	// HoldHello never answers register, to test the agent's hello timeout.
	HoldHello bool
	// HelloStatus is hello.status; default "OK".
	HelloStatus string
	Logger      *zap.Logger
}

// ErrNoCamera means no connection has the camera READY.
var ErrNoCamera = errors.New("camera not connected")

// ErrConnClosed means the connection ended before the agent answered.
var ErrConnClosed = errors.New("connection closed")

const simSubprotocol = "vxg-message-protocol"

// Server is a strict VXG camera server for one camera token.
type Server struct {
	opts    Options
	log     *zap.Logger
	cert    tls.Certificate
	certPEM []byte
	pool    *x509.CertPool

	mu         sync.Mutex
	ln         net.Listener
	http       *http.Server
	addr       string
	closed     bool
	wg         sync.WaitGroup
	conns      map[*simConn]struct{}
	total      int
	pings      int
	violations []string
	registers  []map[string]any
	camRegs    []map[string]any
	received   []map[string]any
	byes       []string
	closeCodes []int
	issuedPwd  bool
	sidN       int
	changed    chan struct{}

	uploads     []Upload      // upload.go
	uploadTaken map[int]bool  // indexes WaitUpload returned
	uploadFail  int           // status forced by FailUploads, 0 = none
	uploadHold  chan struct{} // set by HoldUploads until released
	uploadsHeld int           // uploads waiting on uploadHold

	direct directState         // direct.go
	syncs  map[string]*syncJob // memorysync.go, by request_id
}

// New builds a Server; call Start to listen.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.CamID == 0 {
		opts.CamID = 310042
	}
	if opts.Secret == "" {
		opts.Secret = "share." + randHex(12) + "." + randHex(16)
	}
	if opts.Pwd == "" {
		opts.Pwd = randHex(6)
	}
	if opts.UUID == "" {
		opts.UUID = randHex(16)
	}
	if opts.ConnID == "" {
		opts.ConnID = randHex(5)
	}
	if opts.TZ == "" {
		opts.TZ = "UTC"
	}
	if opts.HelloStatus == "" {
		opts.HelloStatus = "OK"
	}
	if opts.Path == "" {
		opts.Path = fmt.Sprintf("live/u1m1c%d_", opts.CamID)
	}
	s := &Server{opts: opts, log: opts.Logger, conns: map[*simConn]struct{}{}, changed: make(chan struct{}), addr: opts.Addr}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if opts.TLS {
		cert, pemBytes, err := selfSigned("cloudsim camera server")
		if err != nil {
			return nil, err
		}
		s.cert, s.certPEM = cert, pemBytes
		s.pool = x509.NewCertPool()
		s.pool.AppendCertsFromPEM(pemBytes)
	}
	return s, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Start listens and serves. After Close it may be called again: the
// server comes back on the same port with the same identity and records.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.addr = ln.Addr().String()
	if s.opts.TLS {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12})
	}
	s.ln, s.closed = ln, false
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		// TLS handshake failures of untrusting clients are expected; keep them off stderr.
		ErrorLog: log.New(io.Discard, "", 0)}
	srv := s.http
	s.wg.Go(func() { srv.Serve(ln) })
	return nil
}

// Close stops listening and drops every connection.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed || s.http == nil {
		s.mu.Unlock()
		return
	}
	s.closed = true
	srv := s.http
	s.mu.Unlock()
	srv.Close()
	s.DropConnections()
	s.wg.Wait()
}

// Addr is the bound host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is the server base URL (ws:// or wss://).
func (s *Server) URL() string {
	if s.opts.TLS {
		return "wss://" + s.Addr()
	}
	return "ws://" + s.Addr()
}

// CertPool holds the server's CA (TLS only).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// CertPEM is the server's CA certificate in PEM (TLS only).
func (s *Server) CertPEM() []byte { return s.certPEM }

// CamID is the camera id of the token.
func (s *Server) CamID() int64 { return s.opts.CamID }

// Secret is the channel secret inside the token.
func (s *Server) Secret() string { return s.opts.Secret }

// Token is a base64 access token (docs/protocol.md#token) pointing at this server; both
// cam_p and cam_sp name its port.
func (s *Server) Token() string {
	host, port, _ := net.SplitHostPort(s.Addr())
	p, _ := strconv.Atoi(port)
	b, _ := json.Marshal(map[string]any{"token": s.opts.Secret, "camid": s.opts.CamID, "cmngrid": s.opts.CamID + 1,
		"access": "all", "cam": host, "cam_p": p, "cam_sp": p, "api": host})
	return base64.StdEncoding.EncodeToString(b)
}

// ServeHTTP accepts the camera channel on /ctl/NEW/<token>/ only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Uploads && strings.HasPrefix(r.URL.Path, directPrefix) {
		s.servePut(w, r)
		return
	}
	if s.opts.Uploads && !strings.HasPrefix(r.URL.Path, "/ctl/") {
		s.serveUpload(w, r)
		return
	}
	want := "/ctl/NEW/" + s.opts.Secret + "/"
	if r.URL.Path != want || r.URL.RawQuery != "" {
		s.violation("bad request path %q", redact(r.URL.Path, s.opts.Secret))
		http.NotFound(w, r)
		return
	}
	up := websocket.Upgrader{HandshakeTimeout: 10 * time.Second}
	if s.opts.EchoSubprotocol {
		up.Subprotocols = []string{simSubprotocol}
	}
	if !slices.Contains(websocket.Subprotocols(r), simSubprotocol) {
		// Legacy agents offered none; a current agent must (docs/protocol.md#websocket, #q19).
		s.violation("agent did not offer sub-protocol %s", simSubprotocol)
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.violation("websocket upgrade: %v", err)
		return
	}
	ws.SetReadLimit(4 << 20)
	c := &simConn{s: s, ws: ws, msgid: 1000, pending: map[int64]*pending{}, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.total++
	s.wg.Add(1) // Close waits for this handler; no Add happens once closed is set
	s.notifyLocked()
	s.mu.Unlock()
	defer s.wg.Done()
	ws.SetPingHandler(func(data string) error {
		s.mu.Lock()
		s.pings++
		s.notifyLocked()
		s.mu.Unlock()
		if s.opts.IgnorePings {
			return nil
		}
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	c.run()
}

func redact(path, secret string) string {
	return string(bytes.ReplaceAll([]byte(path), []byte(secret), []byte("<token>")))
}

func (s *Server) violation(format string, a ...any) {
	s.mu.Lock()
	s.violationLocked(format, a...)
	s.mu.Unlock()
}

func (s *Server) violationLocked(format string, a ...any) {
	v := fmt.Sprintf(format, a...)
	s.log.Warn("agent violation", zap.String("what", v))
	s.violations = append(s.violations, v)
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait blocks until cond returns true (checked after every recorded
// change) or ctx ends. cond may call the Server's accessors.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Violations lists every protocol violation seen so far.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Connections is the number of camera-channel connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Pings is the number of WebSocket pings received from agents.
func (s *Server) Pings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings
}

// Registrations returns every register message received, in order.
func (s *Server) Registrations() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.registers)
}

// CamRegistrations returns the cam_register messages agents sent, in order.
func (s *Server) CamRegistrations() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.camRegs)
}

// Received returns camera-scoped agent messages that were not replies
// (cam_event, get_direct_upload_url, …), in order.
func (s *Server) Received() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Byes lists the reasons of the bye messages agents sent.
func (s *Server) Byes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.byes)
}

// CloseCodes lists the WebSocket close codes agents sent; a connection
// that ended without a close frame is recorded as 1006.
func (s *Server) CloseCodes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.closeCodes)
}

// ready returns a live connection with camID READY.
func (s *Server) ready(camID int64) *simConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.isReady() && c.camID == camID {
			return c
		}
	}
	return nil
}

func (s *Server) live() []*simConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*simConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// WaitReady waits until camID is READY (its cam_hello acknowledged) on a
// live connection.
func (s *Server) WaitReady(ctx context.Context, camID int64) error {
	return s.Wait(ctx, func() bool { return s.ready(camID) != nil })
}

// Request sends a camera-scoped command to camID and waits for its reply
// (a done or the named answer). A "cam_id" key in a map body overrides the
// envelope's, to test foreign ids. Numbers in the reply are json.Number.
func (s *Server) Request(ctx context.Context, camID int64, cmd string, body any) (map[string]any, error) {
	c := s.ready(camID)
	if c == nil {
		return nil, ErrNoCamera
	}
	return c.request(ctx, camID, cmd, body)
}

// RequestEarly is Request on the only live connection in whatever phase it
// is, for commands that arrive before the camera is READY.
func (s *Server) RequestEarly(ctx context.Context, cmd string, body any) (map[string]any, error) {
	conns := s.live()
	if len(conns) != 1 {
		return nil, fmt.Errorf("%d live connections, want 1", len(conns))
	}
	return conns[0].request(ctx, s.opts.CamID, cmd, body)
}

func (c *simConn) request(ctx context.Context, camID int64, cmd string, body any) (map[string]any, error) {
	if m, ok := body.(map[string]any); ok {
		if v, ok := m["cam_id"].(int64); ok {
			camID = v
		}
		body = mapsWithout(m, "cam_id")
	}
	p := &pending{cmd: cmd, camID: camID, hasCam: true, reply: make(chan map[string]any, 1), body: body}
	if _, err := c.send(map[string]any{"cmd": cmd, "cam_id": camID}, body, p); err != nil {
		return nil, err
	}
	select {
	case r := <-p.reply:
		return r, nil
	case <-c.done:
		return nil, ErrConnClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Send sends a message to camID's connection without expecting a reply
// (done, report_problem, …). cam_id is added unless body sets "cam_id" to nil.
func (s *Server) Send(camID int64, cmd string, body map[string]any) error {
	c := s.ready(camID)
	if c == nil {
		return ErrNoCamera
	}
	env := map[string]any{"cmd": cmd, "cam_id": camID}
	if v, ok := body["cam_id"]; ok && v == nil {
		delete(env, "cam_id")
		body = mapsWithout(body, "cam_id")
	}
	_, err := c.send(env, body, nil)
	return err
}

func mapsWithout(m map[string]any, k string) map[string]any {
	out := make(map[string]any, len(m))
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}

// SendRaw writes text as one frame to camID's connection, to inject
// malformed messages.
func (s *Server) SendRaw(camID int64, text string) error {
	c := s.ready(camID)
	if c == nil {
		return ErrNoCamera
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(text))
}

// Redirect moves every connected agent to server (docs/protocol.md#redirect): configure
// {server}, wait for its done, then bye RECONNECT with retry (0 = absent).
func (s *Server) Redirect(ctx context.Context, server string, retry int) error {
	for _, c := range s.live() {
		p := &pending{cmd: "configure", reply: make(chan map[string]any, 1)}
		if _, err := c.send(map[string]any{"cmd": "configure"}, map[string]any{"server": server}, p); err != nil {
			return err
		}
		select {
		case r := <-p.reply:
			if r["status"] != "OK" {
				return fmt.Errorf("configure server answered %v", r["status"])
			}
		case <-c.done:
			return ErrConnClosed
		case <-ctx.Done():
			return ctx.Err()
		}
		c.bye("RECONNECT", retry)
	}
	return nil
}

// Bye sends bye reason (retry 0 = absent) on every connection and closes them.
func (s *Server) Bye(reason string, retry int) {
	for _, c := range s.live() {
		c.bye(reason, retry)
	}
}

// DropConnections closes every connection's TCP socket without a close frame.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*simConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
		delete(s.conns, c)
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.NetConn().Close()
	}
}
