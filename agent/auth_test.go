package agent

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
)

// wildcardListener is a loopback listener that says it listens on every
// interface, as ":8089" would: tests cannot bind other addresses, and the
// agent decides by the address its listener reports.
type wildcardListener struct{ net.Listener }

func (l wildcardListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4zero, Port: l.Listener.Addr().(*net.TCPAddr).Port}
}

// runAgentWith is runRig with a say over the listener and the agent's
// options; it returns the agent's captured JSON log too.
func runAgentWith(t *testing.T, o rig.Options, wrap func(net.Listener) net.Listener, tweak func(*Options)) (*rig.Rig, *Agent, string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	o.Logger = zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		return zapcore.NewTee(c, zapcore.NewCore(enc, zapcore.AddSync(logs), zapcore.DebugLevel))
	})))
	r, err := rig.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	cfg, err := r.Config(t.TempDir(), base, o.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Config: cfg, Logger: o.Logger, Version: "test", RootCAs: r.Roots, Listener: ln, timing: testTiming}
	if tweak != nil {
		tweak(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, a)
	return r, a, "http://" + base, logs
}

// call is one request to the status server; user "" sends no credentials.
type call struct {
	method, path string
	user, pass   string
	ctype, body  string
	header       map[string]string
	// from is the local address to connect from ("" for any).
	from string
}

func (c call) do(t *testing.T, base string) (*http.Response, string) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	d := &net.Dialer{}
	if c.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.from)}
	}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, c.path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// generatedPass reads the password the agent generated, checking the
// file is the owner's alone.
func generatedPass(t *testing.T, a *Agent) string {
	t.Helper()
	path := GeneratedPasswordFile(a.cfg.StateDir)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("generated password: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

const eventPath = "/api/v1/cameras/demo/events"

// TestLockedByDefault: listening beyond loopback with no credentials in the
// config, every endpoint but /healthz and /readyz asks for the password
// the agent generated; the log names its file, never the password.
func TestLockedByDefault(t *testing.T) {
	r, a, base, logs := runAgentWith(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.Cameras[0].Events.Custom = []string{"doorbell"}
	}}, func(ln net.Listener) net.Listener { return wildcardListener{ln} }, nil)
	waitReady(t, r)
	a.logins.setRate(100, time.Hour) // this test fails more logins than a person would
	pass := generatedPass(t, a)
	// /readyz may still say 503 (not ready): it must not ask for a login.
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := (call{path: path}).do(t, base); resp.StatusCode != http.StatusOK && (path == "/healthz" || resp.StatusCode != http.StatusServiceUnavailable) {
			t.Errorf("GET %s without credentials: %s %s", path, resp.Status, body)
		}
	}
	locked := []call{
		{path: "/"}, {path: "/status.json"}, {path: "/metrics"}, {path: "/snapshot/demo.jpg"}, {path: "/nosuch"},
		{method: http.MethodPost, path: eventPath, ctype: "application/json", body: `{"event":"doorbell"}`},
	}
	for _, c := range locked {
		for _, cred := range [][2]string{{"", ""}, {"admin", "wrong"}, {"ops", pass}} {
			c.user, c.pass = cred[0], cred[1]
			if resp, _ := c.do(t, base); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="camagent"`) {
				t.Errorf("%s %s as %q: %s (WWW-Authenticate %q), want 401 with a challenge", c.method, c.path, c.user, resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
		}
		c.user, c.pass = "admin", pass
		if resp, body := c.do(t, base); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusAccepted {
			t.Errorf("%s %s with the generated password: %s %s", c.method, c.path, resp.Status, body)
		}
	}
	if _, page := (call{path: "/", user: "admin", pass: pass}).do(t, base); strings.Contains(page, `id="open"`) {
		t.Error("a locked page shows the open banner")
	}
	out := logs.String()
	if !strings.Contains(out, GeneratedPasswordFile(a.cfg.StateDir)) {
		t.Errorf("the log does not name the password file:\n%s", out)
	}
	if strings.Contains(out, pass) {
		t.Error("the generated password appears in the log")
	}
}

// TestGeneratedPasswordKept: the generated password survives a restart,
// and a reload that drops the configured credentials locks the pages with
// it at once.
func TestGeneratedPasswordKept(t *testing.T) {
	dir := t.TempDir()
	path := GeneratedPasswordFile(dir)
	first, created, err := generatedPassword(path)
	if err != nil || !created || len(first) < minGeneratedLen {
		t.Fatalf("generatedPassword = %q %t %v", first, created, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	again, created, err := generatedPassword(path)
	if err != nil || created || again != first {
		t.Fatalf("second start: %q %t %v, want the first password kept", again, created, err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("a world-readable password file stays %v", info.Mode().Perm())
	}

	r, a, base, _ := runAgentWith(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.Username, cfg.HTTP.Password = "ops", config.NewSecret("http-Passw0rd")
	}}, func(ln net.Listener) net.Listener { return wildcardListener{ln} }, nil)
	waitReady(t, r)
	if resp, _ := (call{path: "/", user: "ops", pass: "http-Passw0rd"}).do(t, base); resp.StatusCode != http.StatusOK {
		t.Fatalf("configured login: %s", resp.Status)
	}
	cfg := *a.cfg
	cfg.HTTP.Password = config.Secret{}
	if err := a.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	pass := generatedPass(t, a)
	if resp, _ := (call{path: "/", user: "ops", pass: "http-Passw0rd"}).do(t, base); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the dropped password after reload: %s, want 401", resp.Status)
	}
	if resp, _ := (call{path: "/", user: "ops", pass: pass}).do(t, base); resp.StatusCode != http.StatusOK {
		t.Errorf("user ops with the generated password after reload: %s", resp.Status)
	}
}

// TestBasicAuth: with http.username and http.password set, every endpoint
// but the probes answers 401 without the right credentials and serves with
// them, on loopback too.
func TestBasicAuth(t *testing.T) {
	r, _, base := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.Username, cfg.HTTP.Password = "ops", config.NewSecret("http-Passw0rd")
	}})
	waitReady(t, r)
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := (call{path: path}).do(t, base); resp.StatusCode != http.StatusOK && (path == "/healthz" || resp.StatusCode != http.StatusServiceUnavailable) {
			t.Errorf("GET %s without credentials: %s %s", path, resp.Status, body)
		}
	}
	for _, path := range []string{"/", "/status.json", "/metrics"} {
		for _, c := range []struct{ user, pass string }{{"", ""}, {"ops", "wrong"}, {"other", "http-Passw0rd"}} {
			resp, _ := (call{path: path, user: c.user, pass: c.pass}).do(t, base)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s as %q/%q: %s (WWW-Authenticate %q), want 401 with a challenge",
					path, c.user, c.pass, resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
		}
		if resp, _ := (call{path: path, user: "ops", pass: "http-Passw0rd"}).do(t, base); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the right credentials: %s", path, resp.Status)
		}
	}
}

// TestInsecureOpen: http.insecure_open serves the pages beyond loopback
// without credentials, under a banner saying so; the event input still
// asks for them.
func TestInsecureOpen(t *testing.T) {
	r, a, base, _ := runAgentWith(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.InsecureOpen = true
		cfg.Cameras[0].Events.Custom = []string{"doorbell"}
	}}, func(ln net.Listener) net.Listener { return wildcardListener{ln} }, nil)
	waitReady(t, r)
	resp, page := (call{path: "/"}).do(t, base)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="open"`) || !strings.Contains(page, "http.insecure_open") {
		t.Errorf("open page: %s, banner shown %t", resp.Status, strings.Contains(page, `id="open"`))
	}
	for _, path := range []string{"/status.json", "/metrics"} {
		if resp, _ := (call{path: path}).do(t, base); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s, want 200", path, resp.Status)
		}
	}
	post := call{method: http.MethodPost, path: eventPath, ctype: "application/json", body: `{"event":"doorbell"}`}
	if resp, _ := post.do(t, base); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("event without credentials: %s, want 401", resp.Status)
	}
	post.user, post.pass = "admin", generatedPass(t, a)
	if resp, body := post.do(t, base); resp.StatusCode == http.StatusUnauthorized {
		t.Errorf("event with the generated password: %s %s", resp.Status, body)
	}
}

// TestMetricsOpen: http.metrics_open lets Prometheus scrape without
// credentials while the page keeps asking for them.
func TestMetricsOpen(t *testing.T) {
	r, _, base := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.Username, cfg.HTTP.Password = "ops", config.NewSecret("http-Passw0rd")
		cfg.HTTP.MetricsOpen = true
	}})
	waitReady(t, r)
	if resp, _ := (call{path: "/metrics"}).do(t, base); resp.StatusCode != http.StatusOK {
		t.Errorf("metrics: %s, want 200", resp.Status)
	}
	if resp, _ := (call{path: "/status.json"}).do(t, base); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status.json: %s, want 401", resp.Status)
	}
}

// TestLoginRateLimit: after the allowed failures an address gets 429 with
// Retry-After, even with the right password, one warning is logged for the
// burst and /metrics counts both kinds; another address still logs in.
func TestLoginRateLimit(t *testing.T) {
	r, a, base, logs := runAgentWith(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.Username, cfg.HTTP.Password = "ops", config.NewSecret("http-Passw0rd")
	}}, nil, nil)
	waitReady(t, r)
	// No token grows back within the test, however slow the machine.
	a.logins.setRate(3, time.Hour)
	for i := range 3 {
		if resp, _ := (call{path: "/status.json", user: "ops", pass: "guess", from: "127.0.0.1"}).do(t, base); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %s, want 401", i+1, resp.Status)
		}
	}
	for _, pass := range []string{"guess", "http-Passw0rd", "guess"} {
		resp, _ := (call{path: "/status.json", user: "ops", pass: pass, from: "127.0.0.1"}).do(t, base)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("after the burst, password %q: %s (Retry-After %q), want 429 with Retry-After", pass, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := (call{path: "/status.json", user: "ops", pass: "http-Passw0rd", from: "127.0.0.2"}).do(t, base); resp.StatusCode != http.StatusOK {
		t.Errorf("the right password from another address: %s", resp.Status)
	}
	if n := strings.Count(logs.String(), "failed status page logins"); n != 1 {
		t.Errorf("%d warnings for one burst, want 1", n)
	}
	resp, body := (call{path: "/metrics", user: "ops", pass: "http-Passw0rd", from: "127.0.0.2"}).do(t, base)
	for _, want := range []string{`camagent_http_auth_failures_total{reason="bad_credentials"} 3`, `camagent_http_auth_failures_total{reason="rate_limited"} 3`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics (%s) lack %q", resp.Status, want)
		}
	}
}

// TestPasswordHash: a bcrypt hash in http.password_hash, as htpasswd -B
// writes it ($2y$), lets the password in and no other.
func TestPasswordHash(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	r, a, base := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.Username, cfg.HTTP.PasswordHash = "ops", config.NewSecret("$2y$"+string(hash[4:]))
	}})
	waitReady(t, r)
	for range 2 { // the second one from the cache
		if resp, _ := (call{path: "/status.json", user: "ops", pass: "correct horse"}).do(t, base); resp.StatusCode != http.StatusOK {
			t.Errorf("right password: %s", resp.Status)
		}
	}
	if resp, _ := (call{path: "/status.json", user: "ops", pass: "correct horsE"}).do(t, base); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %s", resp.Status)
	}
	if _, err := os.Stat(GeneratedPasswordFile(a.cfg.StateDir)); err == nil {
		t.Error("a password was generated although the config names one")
	}
}

// TestAccessRules is the decision table of who may use what.
func TestAccessRules(t *testing.T) {
	creds := config.HTTP{Username: "ops", Password: config.NewSecret("pw")}
	none := config.HTTP{}
	open := config.HTTP{InsecureOpen: true}
	for _, tc := range []struct {
		name  string
		h     config.HTTP
		local bool
		// locked for probe, page, metrics, write
		want [4]bool
	}{
		{"loopback, no credentials", none, true, [4]bool{false, false, false, true}},
		{"network, no credentials", none, false, [4]bool{false, true, true, true}},
		{"network, insecure_open", open, false, [4]bool{false, false, false, true}},
		{"loopback, credentials", creds, true, [4]bool{false, true, true, true}},
		{"network, credentials, metrics_open", config.HTTP{Username: "ops", Password: config.NewSecret("pw"), MetricsOpen: true}, false, [4]bool{false, true, false, true}},
		{"loopback, open_write", config.HTTP{OpenWrite: true}, true, [4]bool{false, false, false, false}},
		{"network, insecure_open, open_write", config.HTTP{InsecureOpen: true, OpenWrite: true}, false, [4]bool{false, false, false, false}},
	} {
		for k, want := range tc.want {
			if got := locked(access(k), tc.h, tc.local); got != want {
				t.Errorf("%s: access %d locked = %t, want %t", tc.name, k, got, want)
			}
		}
	}
	for addr, local := range map[net.Addr]bool{
		&net.TCPAddr{IP: net.ParseIP("127.0.0.2")}: true, &net.TCPAddr{IP: net.ParseIP("::1")}: true,
		&net.TCPAddr{IP: net.IPv4zero}: false, &net.TCPAddr{IP: net.ParseIP("::")}: false,
		&net.TCPAddr{IP: net.ParseIP("192.168.1.10")}: false, &net.UnixAddr{Name: "/run/camagent.sock", Net: "unix"}: true,
	} {
		if isLocal(addr) != local {
			t.Errorf("isLocal(%v) = %t, want %t", addr, !local, local)
		}
	}
}

// TestEventInputCrossSite: a web page in the user's browser cannot raise an
// event, even when the browser holds the password: cross-site requests,
// form and text/plain posts and GETs are refused and nothing reaches the
// cloud; the program's JSON POST then still does.
func TestEventInputCrossSite(t *testing.T) {
	r, a, base := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.Cameras[0].Events.Custom = []string{"doorbell"}
	}})
	eventsReady(t, r)
	pass := generatedPass(t, a)
	cross := map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
	for _, c := range []struct {
		call
		code int
	}{
		{call{method: http.MethodPost, ctype: "application/x-www-form-urlencoded", body: `{"event":"doorbell"}`, header: cross}, http.StatusForbidden},
		{call{method: http.MethodPost, ctype: "text/plain", body: `{"event":"doorbell"}`, header: cross}, http.StatusForbidden},
		{call{method: http.MethodPost, ctype: "application/json", body: `{"event":"doorbell"}`, header: cross}, http.StatusForbidden},
		// An old browser sends neither header; the content type stops it.
		{call{method: http.MethodPost, ctype: "text/plain", body: `{"event":"doorbell"}`}, http.StatusUnsupportedMediaType},
		{call{method: http.MethodGet}, http.StatusMethodNotAllowed},
		{call{method: http.MethodPost, ctype: "application/json", body: `{"event":"doorbell"}`, user: "admin", pass: "x"}, http.StatusUnauthorized},
	} {
		c.path = eventPath
		if c.user == "" {
			c.user, c.pass = "admin", pass // held by the browser
		}
		if resp, body := c.do(t, base); resp.StatusCode != c.code {
			t.Errorf("%s %s %v: %s %s, want %d", c.method, c.ctype, c.header, resp.Status, body, c.code)
		}
	}
	// Events reach the cloud in the order they were raised: had a refused
	// request raised one, it would come before the program's.
	ok := call{method: http.MethodPost, path: eventPath, ctype: "application/json", body: `{"event":"doorbell","meta":{"by":"program"}}`,
		user: "admin", pass: pass, header: map[string]string{"Sec-Fetch-Site": "same-origin"}}
	if resp, body := ok.do(t, base); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the program's POST: %s %s", resp.Status, body)
	}
	ev := waitCloudEvent(t, r, "doorbell", func(e map[string]any) bool { return e["event"] == "doorbell" })
	if m, _ := ev["meta"].(map[string]any); m["by"] != "program" {
		t.Errorf("first doorbell at the cloud: %v, want the program's", ev)
	}
}
