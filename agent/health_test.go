package agent

import (
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink"
)

// probe GETs one health endpoint and returns its status code and body.
func probe(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, body := get(t, url)
	return resp.StatusCode, string(body)
}

// TestReadyzFollowsRegistration: /readyz is 200 while the camera is
// registered, 503 naming the camera while the cloud has sent it away to
// reconnect, 200 again once it is back, and 200 naming the failure once the
// cloud rejected the token (a state only a person can fix). /healthz stays
// 200 throughout.
func TestReadyzFollowsRegistration(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)
	waitFor(t, "readyz 200 with a registered camera", func() bool {
		code, body := probe(t, statusURL+"/readyz")
		return code == http.StatusOK && body == "ok\n"
	})

	// The cloud asks for a reconnect in 2 s: not registered, not settled.
	r.Cloud.Bye(uplink.ByeReconnect, 2)
	var body503 string
	waitFor(t, "readyz 503 while the camera reconnects", func() bool {
		code, body := probe(t, statusURL+"/readyz")
		body503 = body
		return code == http.StatusServiceUnavailable
	})
	if !strings.HasPrefix(body503, "demo: not ready: cloud session ") || !strings.Contains(body503, "RECONNECT") {
		t.Errorf("503 body %q does not name the camera and why it is not ready", body503)
	}
	if code, body := probe(t, statusURL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz while reconnecting: %d %q", code, body)
	}
	// No cache between a prober and the agent may answer for it.
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, _ := get(t, statusURL+path); resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, resp.Header.Get("Cache-Control"))
		}
	}
	waitFor(t, "readyz 200 after the camera registered again", func() bool {
		code, body := probe(t, statusURL+"/readyz")
		return code == http.StatusOK && body == "ok\n"
	})

	// A rejected token is a named failure: ready, with the reason listed.
	r.Cloud.Bye(uplink.ByeAuthFailure, 0)
	waitFor(t, "readyz 200 listing the rejected token", func() bool {
		code, body := probe(t, statusURL+"/readyz")
		return code == http.StatusOK && strings.Contains(body, "demo: failed: cloud said bye AUTH_FAILURE")
	})
	s := scrapeMetrics(t, statusURL)
	if v, _ := s.value(`camagent_cloud_session_state{camera="demo",state="ready"}`); v != 0 {
		t.Errorf("session state gauge ready = %v after the token was rejected, want 0", v)
	}
}

// TestReadyzNamesWrongCameraPassword: a camera that refuses the configured
// ONVIF credentials never registers, but retrying will not fix it, so the
// agent is ready and /readyz says what is wrong; /metrics shows ONVIF down.
func TestReadyzNamesWrongCameraPassword(t *testing.T) {
	// The camera never registers, so the rig's check for the registered
	// log line does not apply: pass a logger of our own.
	_, _, statusURL := runRig(t, rig.Options{
		Logger: zaptest.NewLogger(t),
		ONVIF:  func(o *onvifsim.Options) { o.Password = "changed-on-the-camera" },
	})
	var body string
	waitFor(t, "readyz naming the refused credentials", func() bool {
		var code int
		code, body = probe(t, statusURL+"/readyz")
		return code == http.StatusOK && strings.Contains(body, "demo: failed: camera refused the ONVIF credentials")
	})
	s := scrapeMetrics(t, statusURL)
	for series, want := range map[string]float64{
		`camagent_onvif_connected{camera="demo"}`:                          0,
		`camagent_cloud_session_state{camera="demo",state="disconnected"}`: 1,
	} {
		if got, ok := s.value(series); !ok || got != want {
			t.Errorf("%s = %v (present %t), want %v", series, got, ok, want)
		}
	}
}

// TestReadyzNamesWrongRTSPPassword: the same holds for RTSP credentials
// the camera refuses: the camera registers only once its main stream
// plays, so /readyz lists it as failed instead of waiting for it forever.
func TestReadyzNamesWrongRTSPPassword(t *testing.T) {
	var rtspURL string
	_, _, statusURL := runRig(t, rig.Options{
		Logger: zaptest.NewLogger(t),
		ONVIF:  func(o *onvifsim.Options) { rtspURL = o.RTSPURL },
		Config: func(c *config.Config) {
			c.Cameras[0].RTSP = config.NewSecretURL(strings.Replace(rtspURL, "rtsp://", "rtsp://"+rig.User+":wrong-Passw0rd@", 1))
		},
	})
	var body string
	waitFor(t, "readyz naming the refused RTSP credentials", func() bool {
		var code int
		code, body = probe(t, statusURL+"/readyz")
		return code == http.StatusOK && strings.Contains(body, "demo: failed: camera refused the RTSP credentials")
	})
	if strings.Contains(body, "wrong-Passw0rd") {
		t.Errorf("readyz shows the password: %q", body)
	}
}
