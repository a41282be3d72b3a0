package uplink_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/uplink"
)

// rawCloud is a camera server written straight from the spec, without
// cloudsim: it accepts one WebSocket at a time and lets the test script
// every frame and inspect exactly what the agent sends.
type rawCloud struct {
	t     *testing.T
	srv   *httptest.Server
	conns chan *rawConn
}

type rawConn struct {
	t      *testing.T
	ws     *websocket.Conn
	req    *http.Request
	msgid  int64 // the agent's last msgid on this connection
	frames chan []byte
}

func newRawCloud(t *testing.T) *rawCloud {
	rc := &rawCloud{t: t, conns: make(chan *rawConn, 4)}
	up := websocket.Upgrader{} // echoes no sub-protocol: the agent must accept that (docs/protocol.md#websocket)
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &rawConn{t: t, ws: ws, req: r, frames: make(chan []byte, 64)}
		go func() {
			defer close(c.frames)
			for {
				typ, b, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if typ != websocket.TextMessage {
					c.frames <- []byte(`{"binary frame":true}`)
					continue
				}
				c.frames <- b
			}
		}()
		rc.conns <- c
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *rawCloud) accept() *rawConn {
	rc.t.Helper()
	select {
	case c := <-rc.conns:
		rc.t.Cleanup(func() { c.ws.Close() })
		return c
	case <-time.After(waitLimit):
		rc.t.Fatal("agent did not connect")
		return nil
	}
}

// host is the server's "127.0.0.1:port".
func (rc *rawCloud) host() string { return strings.TrimPrefix(rc.srv.URL, "http://") }

func (c *rawConn) send(m map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	c.sendRaw(string(b))
}

func (c *rawConn) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads the agent's next message and checks what holds for every
// one: a JSON object, no null anywhere, msgid one above the previous
// (docs/protocol.md#msgid), integer envelope fields.
func (c *rawConn) recv() map[string]any {
	c.t.Helper()
	var b []byte
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("agent closed the connection")
		}
		b = f
	case <-time.After(waitLimit):
		c.t.Fatal("agent sent nothing")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		c.t.Fatalf("not a JSON object: %s", b)
	}
	if bytes.Contains(b, []byte("null")) {
		c.t.Errorf("null in %s", b)
	}
	for _, k := range []string{"msgid", "refid", "cam_id"} {
		if v, ok := m[k]; ok {
			n, isNum := v.(json.Number)
			if !isNum || strings.ContainsAny(n.String(), ".eE") {
				c.t.Errorf("%s is not an integer in %s", k, b)
			}
		}
	}
	id, _ := m["msgid"].(json.Number).Int64()
	if id != c.msgid+1 {
		c.t.Errorf("msgid %d after %d in %s", id, c.msgid, b)
	}
	c.msgid = id
	return m
}

// expect reads the next message and checks its cmd and exact key set.
func (c *rawConn) expect(cmd string, keys ...string) map[string]any {
	c.t.Helper()
	m := c.recv()
	if m["cmd"] != cmd {
		c.t.Fatalf("got %v, want %s", m, cmd)
	}
	want := append([]string{"cmd", "msgid"}, keys...)
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		c.t.Errorf("%s keys %v, want %v (%v)", cmd, got, want, m)
	}
	return m
}

// expectDone reads a done answering (refid, orig) and checks its status and
// whether it carries cam_id.
func (c *rawConn) expectDone(refid int64, orig, status string, camID int64) {
	c.t.Helper()
	keys := []string{"refid", "orig_cmd", "status"}
	if camID != 0 {
		keys = append(keys, "cam_id")
	}
	m := c.expect("done", keys...)
	if num(m["refid"]) != refid || m["orig_cmd"] != orig || m["status"] != status {
		c.t.Errorf("done %v, want refid %d orig_cmd %s status %s", m, refid, orig, status)
	}
	if camID != 0 && num(m["cam_id"]) != camID {
		c.t.Errorf("done %v, want cam_id %d", m, camID)
	}
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

func rawToken(t *testing.T, secret, cam string, camid int64) uplink.Token {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"token": secret, "camid": camid, "cam": cam, "access": "all"})
	tok, err := uplink.DecodeToken(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRawCloudWire plays a whole first connection and a reconnect from a
// cloud that only knows the spec, checking every field the agent sends:
// URL and headers (docs/protocol.md#control-url–#websocket), the handshake order of docs/protocol.md#registration with done(hello)
// before cam_register (docs/protocol.md#q12), the envelope rules of docs/protocol.md#msgid–#replies, the error
// rules of docs/protocol.md#errors and the legacy hello/cam_hello forms (docs/protocol.md#hello, #cam-hello).
func TestRawCloudWire(t *testing.T) {
	rc := newRawCloud(t)
	const camID = 310042
	// The token's cam already carries a port, and the secret has bytes
	// outside [A-Za-z0-9._-] that the path must percent-encode.
	tok := rawToken(t, "share.eyJ9.a+b/c", rc.host(), camID)
	h := newHandler()
	clk := newFakeClock()
	state := filepath.Join(t.TempDir(), "state.json")
	opts := uplink.Options{Token: tok, Insecure: true, StatePath: state, Version: "camagent/test", Vendor: "camagent",
		Handler: h, Logger: zaptest.NewLogger(t), Clock: clk, Rand: func() float64 { return 0.5 }}
	s := uplink.NewSession(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Error("Run did not return")
		}
	})

	c := rc.accept()
	if got, want := c.req.RequestURI, "/ctl/NEW/share.eyJ9.a%2Bb%2Fc/"; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
	if c.req.Host != rc.host() || !strings.Contains(c.req.Header.Get("Origin"), rc.host()) {
		t.Errorf("Host %q Origin %q, want the server host", c.req.Host, c.req.Header.Get("Origin"))
	}
	if !slices.Contains(websocket.Subprotocols(c.req), uplink.Subprotocol) {
		t.Errorf("sub-protocols offered %v", websocket.Subprotocols(c.req))
	}

	reg := c.expect("register", "ver", "tz", "vendor", "reg_token", "media_protocols")
	if reg["reg_token"] != "share.eyJ9.a+b/c" || reg["tz"] != "UTC" || fmt.Sprint(reg["media_protocols"]) != "[rtmp]" {
		t.Errorf("register %v", reg)
	}
	c.send(map[string]any{"cmd": "configure", "msgid": 1001, "pwd": "c8Zk2Lq0", "uuid": "6c0f1a9e", "connid": "cn7", "tz": "Europe/Berlin"})
	c.expectDone(1001, "configure", "OK", 0)
	// An older server: no status, upload_url without scheme, no refid.
	c.send(map[string]any{"cmd": "hello", "msgid": 1002, "sid": "Jv3kPq8ZtX", "media_server": "media.example.net:1935", "upload_url": "up.example.net:8080"})
	c.expectDone(1002, "hello", "OK", 0)
	cr := c.expect("cam_register", "ip", "uuid", "brand", "model", "sn", "version", "type", "raw_messaging")
	if cr["uuid"] != "6c0f1a9e" || cr["raw_messaging"] != false {
		t.Errorf("cam_register %v", cr)
	}
	crID := c.msgid
	// Legacy cam_hello: media_url instead of path, media_uri without scheme, passive.
	c.send(map[string]any{"cmd": "cam_hello", "msgid": 1003, "refid": crID, "orig_cmd": "cam_register", "cam_id": camID,
		"media_url": "live/u1m2c310042_", "media_uri": "media2.example.net:1935", "activity": false})
	c.expectDone(1003, "cam_hello", "OK", camID)
	var link uplink.Link
	select {
	case link = <-h.ready:
	case <-time.After(waitLimit):
		t.Fatal("not READY")
	}
	if link.Activity || link.Path != "live/u1m2c310042_" || link.UploadURI != "http://up.example.net:8080" || link.CamID != camID {
		t.Errorf("link %+v", link)
	}
	if u, err := link.PublishURL("Main", 4711); err != nil || u != "rtmp://media2.example.net:1935/live/u1m2c310042_Main?sid=Jv3kPq8ZtX&psid=4711" {
		t.Errorf("publish url %q, %v", u, err)
	}

	// Not JSON, no cmd, a cloud done and report_problem get no answer
	// (docs/protocol.md#replies, #errors): the next answer is for the request after them.
	c.sendRaw(`{"cmd":"get_cam_status","msgid":`)
	c.sendRaw(`{"msgid":1004,"cam_id":310042}`)
	c.send(map[string]any{"cmd": "done", "msgid": 1005, "refid": 2, "orig_cmd": "done", "status": "OK"})
	c.send(map[string]any{"cmd": "report_problem", "msgid": 1006, "refid": 3, "orig_cmd": "done", "reason": "test"})
	c.send(map[string]any{"cmd": "cam_future_feature", "msgid": 1007, "cam_id": camID, "level": 3})
	c.expectDone(1007, "cam_future_feature", "NOT_SUPPORTED", camID)
	c.send(map[string]any{"cmd": "get_cam_status", "msgid": 1008, "cam_id": 999999})
	c.expectDone(1008, "get_cam_status", "ERROR", 999999)
	// A CM-level request has no cam_id, and neither has its answer.
	c.send(map[string]any{"cmd": "upgrade_firmware", "msgid": 1009, "url": "https://fw.example.net/a.bin"})
	c.expectDone(1009, "upgrade_firmware", "NOT_SUPPORTED", 0)
	c.send(map[string]any{"cmd": "get_cam_status", "msgid": 1010, "cam_id": camID})
	st := c.expect("cam_status", "refid", "orig_cmd", "cam_id", "ip", "activity", "streaming", "status_led")
	for _, k := range []string{"activity", "streaming", "status_led"} {
		if _, ok := st[k].(bool); !ok {
			t.Errorf("cam_status.%s = %v, want a bool", k, st[k])
		}
	}
	c.send(map[string]any{"cmd": "stream_start", "msgid": 1011, "cam_id": camID, "stream_id": "Main"})
	c.expectDone(1011, "stream_start", "MISSED_PARAM", camID)
	c.send(map[string]any{"cmd": "stream_start", "msgid": 1012, "cam_id": camID, "stream_id": "Main", "reason": "party"})
	c.expectDone(1012, "stream_start", "INVALID_PARAM", camID)
	c.send(map[string]any{"cmd": "stream_stop", "msgid": 1013, "cam_id": camID, "stream_id": "Main", "reason": 5})
	c.expectDone(1013, "stream_stop", "INVALID_PARAM", camID)

	// An agent-initiated camera message: cam_id from cam_hello, time a float.
	err := s.Send(ctx, uplink.CmdCamEvent, uplink.CamEvent{Event: uplink.EventMotion, Time: uplink.EpochTime{Time: time.Unix(1710408300, 0)},
		Status: uplink.EventStatusOK, MotionInfo: &uplink.MotionInfo{}})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.expect("cam_event", "cam_id", "event", "time", "status", "motion_info")
	if num(ev["cam_id"]) != camID || ev["time"].(json.Number).String() != "1710408300.0" {
		t.Errorf("cam_event %v", ev)
	}

	// The cloud drops the connection. The reconnect starts msgids at 1 and
	// registers with the stored pwd and the last sid (docs/protocol.md#reconnect).
	c.ws.Close()
	if d := clk.next(t); d != 5*time.Second {
		t.Errorf("reconnect delay %v, want 5s", d)
	}
	c2 := rc.accept()
	reg = c2.expect("register", "ver", "tz", "vendor", "reg_token", "pwd", "prev_sid", "media_protocols")
	if reg["pwd"] != "c8Zk2Lq0" || reg["prev_sid"] != "Jv3kPq8ZtX" || reg["tz"] != "Europe/Berlin" {
		t.Errorf("reconnect register %v", reg)
	}
	// A refused registration (hello status not OK) ends the connection.
	c2.send(map[string]any{"cmd": "hello", "msgid": 1, "refid": 1, "orig_cmd": "register", "status": "ERROR", "sid": "x"})
	if d := clk.next(t); d <= 0 {
		t.Errorf("delay after refused hello %v", d)
	}
	c2b := rc.accept()
	c2b.expect("register", "ver", "tz", "vendor", "reg_token", "pwd", "prev_sid", "media_protocols")
	cancel()
	// Orderly close: bye SHUTDOWN (docs/protocol.md#shutdown).
	if bye := c2b.expect("bye", "reason"); bye["reason"] != "SHUTDOWN" {
		t.Errorf("bye %v", bye)
	}
	<-done

	// A new token on the same state file starts from scratch (docs/protocol.md#state).
	opts.Token = rawToken(t, "share.other", rc.host(), camID)
	opts.Handler = newHandler()
	s2 := uplink.NewSession(opts)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- s2.Run(ctx2) }()
	defer func() { cancel2(); <-done2 }()
	c3 := rc.accept()
	c3.expect("register", "ver", "tz", "vendor", "reg_token", "media_protocols")
}

// TestRawCloudAuthFailureDropsPwd: after bye AUTH_FAILURE the agent waits
// at least 5 minutes and does not present the same credentials again: the
// stored pwd is dropped, the token alone registers (docs/protocol.md#bye).
func TestRawCloudAuthFailureDropsPwd(t *testing.T) {
	rc := newRawCloud(t)
	h := newHandler()
	clk := newFakeClock()
	opts := uplink.Options{Token: rawToken(t, "share.x.y", rc.host(), 7), Insecure: true,
		StatePath: filepath.Join(t.TempDir(), "state.json"), Version: "v", Vendor: "v",
		Handler: h, Logger: zaptest.NewLogger(t), Clock: clk, Rand: func() float64 { return 0.5 }}
	s := uplink.NewSession(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	c := rc.accept()
	c.expect("register", "ver", "tz", "vendor", "reg_token", "media_protocols")
	c.send(map[string]any{"cmd": "configure", "msgid": 1, "pwd": "stale"})
	c.expectDone(1, "configure", "OK", 0)
	c.send(map[string]any{"cmd": "bye", "msgid": 2, "reason": "AUTH_FAILURE"})
	if d := clk.next(t); d < 5*time.Minute {
		t.Errorf("retry after AUTH_FAILURE in %v, want >= 5m", d)
	}
	c = rc.accept()
	if reg := c.expect("register", "ver", "tz", "vendor", "reg_token", "media_protocols"); reg["pwd"] != nil {
		t.Errorf("register after AUTH_FAILURE still carries pwd: %v", reg)
	}
}

// TestRawCloudByeWithoutMsgid: a bye is acted on even when the cloud left
// out its msgid; the agent never answers a bye, so it needs none (docs/protocol.md#bye).
func TestRawCloudByeWithoutMsgid(t *testing.T) {
	rc := newRawCloud(t)
	opts := uplink.Options{Token: rawToken(t, "share.x.y", rc.host(), 7), Insecure: true, Version: "v", Vendor: "v",
		Handler: newHandler(), Logger: zaptest.NewLogger(t), Clock: newFakeClock(), Rand: func() float64 { return 0.5 }}
	s := uplink.NewSession(opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	c := rc.accept()
	c.expect("register", "ver", "tz", "vendor", "reg_token", "media_protocols")
	c.sendRaw(`{"cmd":"bye","reason":"DELETED"}`)
	select {
	case err := <-done:
		if err != uplink.ErrDeleted {
			t.Errorf("Run = %v, want ErrDeleted", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("bye DELETED without msgid ignored")
	}
}
