package agent

import (
	"net"
	"net/http"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
)

// TestBasicAuth: with http.username and http.password set, every endpoint
// but /healthz answers 401 without the right credentials and serves with
// them.
func TestBasicAuth(t *testing.T) {
	r, _, base := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.Username, cfg.HTTP.Password = "ops", config.NewSecret("http-Passw0rd")
	}})
	waitReady(t, r)
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

// TestOpenWithoutAuth: the agent warns when the status page answers other
// machines (any address but loopback, wildcards included) and asks for no
// credentials; loopback, a unix socket or basic auth keep it quiet.
func TestOpenWithoutAuth(t *testing.T) {
	auth := config.HTTP{Username: "ops", Password: config.NewSecret("pw")}
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 8089} }
	for _, tc := range []struct {
		name string
		addr net.Addr
		http config.HTTP
		open bool
	}{
		{"loopback", tcp("127.0.0.1"), config.HTTP{}, false},
		{"other loopback address", tcp("127.0.0.2"), config.HTTP{}, false},
		{"ipv6 loopback", tcp("::1"), config.HTTP{}, false},
		{"wildcard", tcp("0.0.0.0"), config.HTTP{}, true},
		{"ipv6 wildcard (listen \":8089\")", tcp("::"), config.HTTP{}, true},
		{"lan address", tcp("192.168.1.10"), config.HTTP{}, true},
		{"lan address with basic auth", tcp("192.168.1.10"), auth, false},
		{"wildcard with basic auth", tcp("::"), auth, false},
		{"unix socket", &net.UnixAddr{Name: "/run/camagent.sock", Net: "unix"}, config.HTTP{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := openWithoutAuth(tc.addr, tc.http); got != tc.open {
				t.Errorf("openWithoutAuth(%v) = %t, want %t", tc.addr, got, tc.open)
			}
			core, logs := observer.New(zapcore.WarnLevel)
			a := &Agent{log: zap.New(core)}
			a.warnOpen(tc.addr, tc.http)
			if n := logs.FilterMessageSnippet("without basic auth").Len(); n != map[bool]int{false: 0, true: 1}[tc.open] {
				t.Errorf("%d warnings, want one only when open (%t)", n, tc.open)
			}
		})
	}
}
