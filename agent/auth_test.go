package agent

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
)

// TestBasicAuth: with http.username and http.password set, every endpoint
// but /healthz answers 401 without the right credentials and serves with
// them.
func TestBasicAuth(t *testing.T) {
	r, err := startRig(rigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.config(t.TempDir(), ln.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Username, cfg.HTTP.Password = "ops", config.NewSecret("http-Passw0rd")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: zaptest.NewLogger(t), Version: "test", RootCAs: r.roots, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop within 10 s of cancel")
		}
	})

	base := "http://" + ln.Addr().String()
	get := func(path, user, pass string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("get %s: %v", path, err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz without credentials: %s, want 200", resp.Status)
	}
	for _, path := range []string{"/", "/status.json", "/metrics", "/readyz"} {
		for _, c := range []struct{ user, pass string }{{"", ""}, {"ops", "wrong"}, {"other", "http-Passw0rd"}} {
			resp := get(path, c.user, c.pass)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s as %q/%q: %s (WWW-Authenticate %q), want 401 with a challenge",
					path, c.user, c.pass, resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
		}
		if resp := get(path, "ops", "http-Passw0rd"); resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("%s with the right credentials: %s", path, resp.Status)
		}
	}
}
