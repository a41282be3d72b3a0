package agent

import (
	"net/http"
	"testing"

	"github.com/camagent/camagent/config"
)

// TestBasicAuth: with http.username and http.password set, every endpoint
// but /healthz answers 401 without the right credentials and serves with
// them.
func TestBasicAuth(t *testing.T) {
	r, _, base := runRig(t, rigOptions{config: func(cfg *config.Config) {
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
