package cloudsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// One simulated camera-channel connection: its phases, the handshake it
// checks strictly, and the requests it has in flight.

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
	// formatSeen: the memorycard statuses since a cam_format_memorycard
	// went out (memorycard.go); reader goroutine only.
	formatSeen []string
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
		switch cmd {
		case "cam_event":
			c.camEvent(m)
		case "cam_memorycard_synchronize_status":
			c.syncStatus(m)
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
