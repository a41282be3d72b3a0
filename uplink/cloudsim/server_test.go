package cloudsim

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawAgent is a hand-driven client, to check that the simulator rejects
// what a real cloud would reject and records the agent's violations.
type rawAgent struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, s *Server, path string) (*rawAgent, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: nil, Subprotocols: []string{simSubprotocol}}
	if s.opts.TLS {
		d.TLSClientConfig = tlsConfig(s)
	}
	ws, resp, err := d.Dial(s.URL()+path, nil)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	return &rawAgent{t: t, ws: ws}, resp, nil
}

func (a *rawAgent) send(m map[string]any) {
	a.t.Helper()
	b, _ := json.Marshal(m)
	if err := a.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		a.t.Fatal(err)
	}
}

func (a *rawAgent) recv() map[string]any {
	a.t.Helper()
	a.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := a.ws.ReadMessage()
	if err != nil {
		a.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		a.t.Fatal(err)
	}
	return m
}

func newTestServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func register(extra map[string]any, s *Server) map[string]any {
	m := map[string]any{"cmd": "register", "msgid": 1, "ver": "v", "tz": "UTC", "vendor": "x", "reg_token": s.Secret(), "media_protocols": []string{"rtmp"}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestToken(t *testing.T) {
	s := newTestServer(t, Options{CamID: 42, Secret: "share.abc"})
	b, err := base64.StdEncoding.DecodeString(s.Token())
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.Unmarshal(b, &tok)
	if tok["token"] != "share.abc" || tok["camid"] != 42.0 || tok["cam"] != "127.0.0.1" || !strings.HasSuffix(s.Addr(), ":"+jsonNum(tok["cam_p"])) {
		t.Errorf("token %v for %s", tok, s.Addr())
	}
}

func jsonNum(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestHandshakeAndChecks(t *testing.T) {
	s := newTestServer(t, Options{MediaServer: "127.0.0.1:1935", MediaURI: "rtmp://127.0.0.1:1935"})
	a, _, err := dialRaw(t, s, "/ctl/NEW/"+s.Secret()+"/")
	if err != nil {
		t.Fatal(err)
	}
	a.send(register(nil, s))
	cfg := a.recv()
	if cfg["cmd"] != "configure" || cfg["pwd"] != s.opts.Pwd || cfg["uuid"] != s.opts.UUID {
		t.Fatalf("configure %v", cfg)
	}
	hello := a.recv()
	if hello["cmd"] != "hello" || hello["refid"] != 1.0 || hello["sid"] == nil || hello["media_server"] != "127.0.0.1:1935" {
		t.Fatalf("hello %v", hello)
	}
	a.send(map[string]any{"cmd": "done", "msgid": 2, "refid": cfg["msgid"], "orig_cmd": "configure", "status": "OK"})
	a.send(map[string]any{"cmd": "done", "msgid": 3, "refid": hello["msgid"], "orig_cmd": "hello", "status": "OK"})
	a.send(map[string]any{"cmd": "cam_register", "msgid": 4, "ip": "1.2.3.4", "uuid": s.opts.UUID, "brand": "b", "model": "m", "sn": "s", "version": "1"})
	ch := a.recv()
	if ch["cmd"] != "cam_hello" || ch["cam_id"] != float64(s.CamID()) || ch["media_uri"] != "rtmp://127.0.0.1:1935" || ch["refid"] != 4.0 {
		t.Fatalf("cam_hello %v", ch)
	}
	// Wrong cam_id and a repeated msgid in the done are recorded.
	a.send(map[string]any{"cmd": "done", "msgid": 4, "refid": ch["msgid"], "orig_cmd": "cam_hello", "cam_id": 1, "status": "CM_ERROR"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, func() bool { return len(s.Violations()) >= 3 }); err != nil {
		t.Fatalf("violations %q", s.Violations())
	}
	a.send(map[string]any{"cmd": "done", "msgid": 5, "refid": 777, "orig_cmd": "x", "status": "OK"})
	a.send(map[string]any{"cmd": "cam_event", "msgid": 6, "cam_id": s.CamID(), "event": "motion", "meta": nil})
	if err := s.Wait(ctx, func() bool { return len(s.Violations()) >= 6 }); err != nil {
		t.Fatalf("violations %q", s.Violations())
	}
	v := strings.Join(s.Violations(), "\n")
	for _, want := range []string{"not greater", "cam_id 1", "CM_ERROR", "refid 777", "before cam_hello", "null value"} {
		if !strings.Contains(v, want) {
			t.Errorf("violation %q not recorded in:\n%s", want, v)
		}
	}
	s.violations = nil // the test's own deliberate mistakes
}

func TestRejects(t *testing.T) {
	s := newTestServer(t, Options{Pwd: "right"})
	if _, resp, err := dialRaw(t, s, "/ctl/NEW/wrong/"); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown token accepted: %v", err)
	}
	if _, _, err := dialRaw(t, s, "/ctl/NEW/"+s.Secret()); err == nil {
		t.Error("path without trailing slash accepted")
	}
	for name, extra := range map[string]map[string]any{
		"bad pwd":       {"pwd": "wrong"},
		"bad reg_token": {"reg_token": "nope"},
	} {
		a, _, err := dialRaw(t, s, "/ctl/NEW/"+s.Secret()+"/")
		if err != nil {
			t.Fatal(err)
		}
		a.send(register(extra, s))
		if m := a.recv(); m["cmd"] != "bye" || m["reason"] != "AUTH_FAILURE" {
			t.Errorf("%s: got %v", name, m)
		}
	}
	a, _, err := dialRaw(t, s, "/ctl/NEW/"+s.Secret()+"/")
	if err != nil {
		t.Fatal(err)
	}
	a.send(register(map[string]any{"vendor": 5}, s))
	if m := a.recv(); m["cmd"] != "bye" || m["reason"] != "ERROR" {
		t.Errorf("bad vendor type: got %v", m)
	}
	if v := strings.Join(s.Violations(), "\n"); !strings.Contains(v, "bad request path") || !strings.Contains(v, "vendor") {
		t.Errorf("violations %q", v)
	}
	s.violations = nil
}

func TestRestartKeepsPort(t *testing.T) {
	s := newTestServer(t, Options{})
	addr := s.Addr()
	s.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Errorf("restarted on %s, was %s", s.Addr(), addr)
	}
}

func tlsConfig(s *Server) *tls.Config { return &tls.Config{RootCAs: s.CertPool()} }
