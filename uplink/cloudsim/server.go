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

	direct directState // direct.go
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
	v := fmt.Sprintf(format, a...)
	s.log.Warn("agent violation", zap.String("what", v))
	s.mu.Lock()
	s.violations = append(s.violations, v)
	s.notifyLocked()
	s.mu.Unlock()
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

// pending is a sim request waiting for the agent's reply.
type pending struct {
	cmd    string
	camID  int64
	hasCam bool
	reply  chan map[string]any // nil: only the done is checked
	body   any                 // request body, for replies that apply it (events.go)
}

// Phases of one simulated connection.
const (
	phaseAwaitRegister = iota
	phaseRegistered    // hello sent
	phaseCamHelloSent
	phaseReady // done for cam_hello received
	// phaseHelloHeld: register received, hello withheld (HoldHello).
	phaseHelloHeld
)

type simConn struct {
	s    *Server
	ws   *websocket.Conn
	done chan struct{}

	wmu   sync.Mutex
	msgid int64

	mu      sync.Mutex
	pending map[int64]*pending
	phase   int
	camID   int64
	sid     string // hello.sid, for legacy uploads

	lastAgent int64 // reader goroutine only
	byeSent   bool

	ev eventState // declared events (events.go); reader goroutine only
}

func (c *simConn) isReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.phase == phaseReady
}

func (c *simConn) setPhase(p int) {
	c.mu.Lock()
	c.phase = p
	c.mu.Unlock()
	c.s.mu.Lock()
	c.s.notifyLocked()
	c.s.mu.Unlock()
}

// send writes env merged with body; p, when set, is registered under the
// message's msgid before the write so the reply cannot overtake it.
func (c *simConn) send(env map[string]any, body any, p *pending) (int64, error) {
	msg := map[string]any{}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		if err := json.Unmarshal(b, &msg); err != nil {
			return 0, fmt.Errorf("body is not an object: %w", err)
		}
	}
	for k, v := range env {
		msg[k] = v
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.msgid++
	msg["msgid"] = c.msgid
	if p != nil {
		c.mu.Lock()
		c.pending[c.msgid] = p
		c.mu.Unlock()
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return 0, fmt.Errorf("send %v: %w", env["cmd"], err)
	}
	return c.msgid, nil
}

func (c *simConn) bye(reason string, retry int) {
	body := map[string]any{"reason": reason}
	if retry > 0 {
		body["retry"] = retry
	}
	c.mu.Lock()
	c.byeSent = true
	c.mu.Unlock()
	c.send(map[string]any{"cmd": "bye"}, body, nil)
	c.wmu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	// The agent closes after bye (docs/protocol.md#bye); the socket is closed when the
	// read loop sees its close frame or EOF.
}

func (c *simConn) run() {
	defer func() {
		c.grantsUnanswered()
		close(c.done)
		c.ws.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.notifyLocked()
		c.s.mu.Unlock()
	}()
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			code := 1006
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			c.s.mu.Lock()
			c.s.closeCodes = append(c.s.closeCodes, code)
			c.s.notifyLocked()
			c.s.mu.Unlock()
			return
		}
		if typ != websocket.TextMessage {
			c.s.violation("binary frame on the control channel")
			continue
		}
		if !c.handle(data) {
			return
		}
	}
}

// handle checks one agent message; false ends the connection.
func (c *simConn) handle(data []byte) bool {
	s := c.s
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		s.violation("frame is not a json object: %.80q", data)
		return true
	}
	if dec.More() {
		s.violation("more than one json value in a frame")
	}
	if p := findNull(m, ""); p != "" {
		s.violation("%v: null value at %s (absent fields must be omitted)", m["cmd"], p)
	}
	cmd, ok := m["cmd"].(string)
	if !ok || cmd == "" {
		s.violation("message without cmd")
		return true
	}
	id, err := intField(m, "msgid", true)
	if err != nil {
		s.violation("%s: %v", cmd, err)
		return true
	}
	if id <= c.lastAgent {
		s.violation("%s: msgid %d not greater than previous %d", cmd, id, c.lastAgent)
	}
	c.lastAgent = id
	c.mu.Lock()
	phase, byeSent := c.phase, c.byeSent
	c.mu.Unlock()
	// An agent's bye that crossed ours (a rejected register) is no
	// violation: it may shut down before it reads our bye (docs/protocol.md#shutdown).
	if phase == phaseAwaitRegister && cmd != "register" && !(cmd == "bye" && byeSent) {
		s.violation("%s before register", cmd)
		c.bye("ERROR", 0)
		return true
	}
	switch cmd {
	case "register":
		return c.register(m, id, phase)
	case "cam_register":
		c.camRegister(m, id, phase)
	case "bye":
		reason, _ := m["reason"].(string)
		if !slices.Contains([]string{"RECONNECT", "ERROR", "SYSTEM_ERROR", "CONN_CONFLICT", "SHUTDOWN", "INVALID_USER", "AUTH_FAILURE", "DELETED"}, reason) {
			s.violation("bye with bad reason %v", m["reason"])
		}
		s.mu.Lock()
		s.byes = append(s.byes, reason)
		s.notifyLocked()
		s.mu.Unlock()
	default:
		if _, isReply := m["refid"]; isReply {
			c.reply(cmd, m)
			return true
		}
		if phase != phaseReady {
			s.violation("%s before cam_hello", cmd)
			return true
		}
		if cid, err := intField(m, "cam_id", true); err != nil || cid != c.camID {
			s.violation("%s: cam_id %v, want %d", cmd, m["cam_id"], c.camID)
		}
		if cmd == "cam_event" {
			c.camEvent(m)
		}
		s.mu.Lock()
		s.received = append(s.received, m)
		s.notifyLocked()
		s.mu.Unlock()
		if cmd == "cam_event" || cmd == "get_direct_upload_url" {
			c.uploadRequest(cmd, id, m)
		}
	}
	return true
}

// reply checks an agent reply against the request it answers (docs/protocol.md#replies).
func (c *simConn) reply(cmd string, m map[string]any) {
	s := c.s
	refid, err := intField(m, "refid", true)
	if err != nil {
		s.violation("%s: %v", cmd, err)
		return
	}
	c.mu.Lock()
	p := c.pending[refid]
	delete(c.pending, refid)
	c.mu.Unlock()
	if p == nil {
		s.violation("%s: refid %d answers nothing that needs an answer", cmd, refid)
		return
	}
	if oc, _ := m["orig_cmd"].(string); oc != p.cmd {
		s.violation("%s: orig_cmd %v, want %s", cmd, m["orig_cmd"], p.cmd)
	}
	cid, err := intField(m, "cam_id", p.hasCam)
	switch {
	case err != nil:
		s.violation("%s for %s: %v", cmd, p.cmd, err)
	case p.hasCam && cid != p.camID:
		s.violation("%s for %s: cam_id %d, want %d", cmd, p.cmd, cid, p.camID)
	case !p.hasCam && m["cam_id"] != nil:
		s.violation("%s for %s: cam_id present, request had none", cmd, p.cmd)
	}
	if cmd == "done" {
		st, _ := m["status"].(string)
		switch st {
		case "OK", "ERROR", "SYSTEM_ERROR", "NOT_SUPPORTED", "INVALID_PARAM", "MISSED_PARAM", "TOO_MANY", "RETRY":
		case "CM_ERROR":
			s.violation("done status CM_ERROR (spec: emit ERROR)")
		default:
			s.violation("done for %s: bad status %v", p.cmd, m["status"])
		}
		if p.cmd == "cam_hello" && st == "OK" {
			c.setPhase(phaseReady)
		}
	}
	c.observeReply(cmd, p, m)
	if p.reply != nil {
		p.reply <- m
	}
}

func (c *simConn) register(m map[string]any, id int64, phase int) bool {
	s := c.s
	if phase != phaseAwaitRegister {
		s.violation("second register on one connection")
		return true
	}
	s.mu.Lock()
	s.registers = append(s.registers, m)
	s.notifyLocked()
	s.mu.Unlock()
	for _, k := range []string{"ver", "tz", "vendor"} {
		if v, ok := m[k].(string); !ok || v == "" {
			s.violation("register: %s missing or not a non-empty string", k)
			c.bye("ERROR", 0)
			return true
		}
	}
	for _, k := range []string{"refid", "orig_cmd", "cam_id"} {
		if _, ok := m[k]; ok {
			s.violation("register carries %s", k)
		}
	}
	if !checkString(m, "prev_sid") || !checkString(m, "pwd") || !checkString(m, "reg_token") {
		s.violation("register: pwd/prev_sid/reg_token not strings")
	}
	if mp, ok := m["media_protocols"]; ok {
		l, ok := mp.([]any)
		if !ok || len(l) == 0 {
			s.violation("register: media_protocols not a non-empty list")
		}
		for _, p := range l {
			if p != "rtmp" && p != "rtmps" {
				s.violation("register: media protocol %v", p)
			}
		}
	}
	if s.opts.RejectAuth || m["reg_token"] != s.opts.Secret {
		c.bye("AUTH_FAILURE", 0)
		return true
	}
	if s.opts.HoldHello {
		c.setPhase(phaseHelloHeld)
		return true
	}
	pwd, hasPwd := m["pwd"]
	if hasPwd && pwd != s.opts.Pwd {
		c.bye("AUTH_FAILURE", 0)
		return true
	}
	if !hasPwd {
		// First registration: hand out the persistent identity (docs/protocol.md#registration).
		cfg := map[string]any{"pwd": s.opts.Pwd, "uuid": s.opts.UUID, "connid": s.opts.ConnID, "tz": s.opts.TZ}
		if _, err := c.send(map[string]any{"cmd": "configure"}, cfg, &pending{cmd: "configure"}); err != nil {
			return false
		}
	}
	s.mu.Lock()
	s.sidN++
	sid := fmt.Sprintf("sid%d%s", s.sidN, randHex(4))
	s.mu.Unlock()
	hello := map[string]any{"status": s.opts.HelloStatus, "sid": sid}
	if s.opts.MediaServer != "" {
		hello["media_server"] = s.opts.MediaServer
	}
	switch {
	case s.opts.UploadURI != "":
		hello["upload_uri"] = s.opts.UploadURI
	case s.opts.Uploads && s.opts.UploadNoScheme:
		hello["upload_url"] = s.Addr()
	case s.opts.Uploads:
		hello["upload_uri"] = s.UploadURI()
	}
	c.mu.Lock()
	c.sid = sid
	c.mu.Unlock()
	if _, err := c.send(map[string]any{"cmd": "hello", "refid": id, "orig_cmd": "register"}, hello, &pending{cmd: "hello"}); err != nil {
		return false
	}
	c.setPhase(phaseRegistered)
	return true
}

func (c *simConn) camRegister(m map[string]any, id int64, phase int) {
	s := c.s
	if phase != phaseRegistered {
		s.violation("cam_register in phase %d (once, after hello)", phase)
		return
	}
	s.mu.Lock()
	s.camRegs = append(s.camRegs, m)
	s.mu.Unlock()
	for _, k := range []string{"ip", "uuid", "brand", "model", "sn", "version"} {
		v, ok := m[k].(string)
		if !ok || (v == "" && k != "uuid") {
			s.violation("cam_register: %s missing or empty", k)
		}
	}
	if u, _ := m["uuid"].(string); u != "" && u != s.opts.UUID {
		s.violation("cam_register: uuid %q, configured %q", u, s.opts.UUID)
	}
	if !checkString(m, "type") {
		s.violation("cam_register: type not a string")
	}
	if v, ok := m["raw_messaging"]; ok {
		if _, isBool := v.(bool); !isBool {
			s.violation("cam_register: raw_messaging not a bool")
		}
	}
	if _, ok := m["cam_id"]; ok {
		s.violation("cam_register carries cam_id")
	}
	ch := map[string]any{"cam_id": s.opts.CamID, "path": s.opts.Path, "mode": "cloud", "activity": true}
	if s.opts.MediaURI != "" {
		ch["media_uri"] = s.opts.MediaURI
	}
	c.mu.Lock()
	c.camID = s.opts.CamID
	c.mu.Unlock()
	c.send(map[string]any{"cmd": "cam_hello", "refid": id, "orig_cmd": "cam_register"}, ch,
		&pending{cmd: "cam_hello", camID: s.opts.CamID, hasCam: true})
	c.setPhase(phaseCamHelloSent)
}

func checkString(m map[string]any, k string) bool {
	v, ok := m[k]
	if !ok {
		return true
	}
	_, isStr := v.(string)
	return isStr
}

// intField reads an integer field; required fields must be present.
func intField(m map[string]any, k string, required bool) (int64, error) {
	v, ok := m[k]
	if !ok {
		if required {
			return 0, fmt.Errorf("%s missing", k)
		}
		return 0, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is %T, want an integer", k, v)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s %s is not an integer", k, n)
	}
	return i, nil
}

// findNull returns the path of the first null value, or "".
func findNull(v any, path string) string {
	switch x := v.(type) {
	case nil:
		if path == "" {
			return "."
		}
		return path
	case map[string]any:
		for k, e := range x {
			if p := findNull(e, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range x {
			if p := findNull(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}
