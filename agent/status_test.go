package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// get fetches url and returns the response with its body read.
func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	return resp, body
}

// liveStatus asks the cloud for live Main video and waits until the status
// page's JSON shows it publishing with frames flowing.
func liveStatus(t *testing.T, r *rig.Rig, statusURL string) {
	t.Helper()
	waitReady(t, r)
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_start: %v", rep)
	}
	waitFor(t, "the status page to show Main publishing", func() bool {
		_, body := get(t, statusURL+"/status.json")
		var st Status
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("status.json: %v", err)
		}
		return len(st.Cameras) == 1 && len(st.Cameras[0].Streams) > 0 &&
			st.Cameras[0].Streams[0].Publishing && st.Cameras[0].Streams[0].FPS > 0
	})
}

// TestStatusPage: the page an operator opens shows every part of the
// camera's state, the thumbnail comes from the camera over ONVIF with
// digest auth, and no secret of the config reaches the page, its JSON or
// the snapshot errors, even when the configured RTSP URL carries a password.
func TestStatusPage(t *testing.T) {
	var rtspURL string // the simulated camera's, learnt while the rig starts
	r, _, statusURL := runRig(t, rig.Options{
		ONVIF: func(o *onvifsim.Options) { o.RequireDigest, rtspURL = true, o.RTSPURL },
		Config: func(c *config.Config) {
			// An integrator who writes the credentials into the pull URL.
			c.Cameras[0].RTSP = config.NewSecretURL(strings.Replace(rtspURL, "rtsp://", "rtsp://"+rig.User+":"+rig.Password+"@", 1))
		},
	})
	waitReady(t, r)
	// The agent learns it is registered a moment after the cloud does.
	var resp *http.Response
	var page []byte
	waitFor(t, "the page to show the camera registered", func() bool {
		resp, page = get(t, statusURL+"/")
		return strings.Contains(string(page), "ready, registered")
	})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	html := string(page)
	for _, want := range []string{
		"<title>camagent status</title>",
		`<meta http-equiv="refresh" content="3">`,
		"version test", "state_dir", "used by camagent", "free of", // agent facts
		`data-camera="demo"`, "SimCam SC-640 1.0.0", "connected", // ONVIF
		"ready, registered", "cam_id", // cloud
		"last event", "none yet",
		`<tr data-stream="Main" class="has-src">`, `data-label="source">from ` + rtspURL + `</td>`, // stream with its source, no credentials
		`<img src="/snapshot/demo.jpg" width="320" height="180"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	_, js := get(t, statusURL+"/status.json")
	for name, secret := range map[string]string{
		"token": r.Cloud.Token(), "channel secret": r.Cloud.Secret(), "camera password": rig.Password,
	} {
		if strings.Contains(html, secret) {
			t.Errorf("the %s appears on the status page", name)
		}
		if strings.Contains(string(js), secret) {
			t.Errorf("the %s appears in status.json", name)
		}
	}
	if strings.Contains(html, rig.User+":") || strings.Contains(string(js), rig.User+":") {
		t.Error("a URL with its user name appears on the status page")
	}

	// The thumbnail: a JPEG fetched from the camera, which insists on digest.
	resp, jpeg := get(t, statusURL+"/snapshot/demo.jpg")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("snapshot: %d %q %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), jpeg)
	}
	if !bytes.HasPrefix(jpeg, []byte{0xFF, 0xD8}) {
		t.Errorf("snapshot does not start like a JPEG: % x", jpeg[:min(len(jpeg), 8)])
	}
	for _, path := range []string{"/snapshot/nosuch.jpg", "/snapshot/demo.png", "/snapshot/demo", "/snapshot/..%2Fdemo.jpg", "/snapshot/demo.jpg/x"} {
		if resp, _ := get(t, statusURL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestStatusPageLive: with live video requested and a motion event sent,
// the page shows the stream's codec, size, rate, publish reason and the event.
func TestStatusPageLive(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	liveStatus(t, r, statusURL)
	eventsReady(t, r)
	r.ONVIF.TriggerMotion(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.Cloud.WaitEvent(ctx, func(m map[string]any) bool { return m["event"] == "motion" }); err != nil {
		t.Fatalf("no motion event in the cloud: %v", err)
	}
	// The event is queued, then sent; the page follows.
	var html string
	waitFor(t, "the page to show the event sent", func() bool {
		_, page := get(t, statusURL+"/")
		html = string(page)
		return strings.Contains(html, `<span class="ok">sent</span>`)
	})
	for _, want := range []string{"H.264", "640x360", `<span><span class="ok">publishing</span> (live)</span>`, `<span class="ok">playing</span>`,
		"motion at ", `class="badge ok">online<`, `<span class="ok">none waiting</span> · last sent`} {
		if !strings.Contains(html, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// TestStatusPageShowsRefusedConfig: a refused reload is a red banner with
// the reason, and the page says the old config keeps running.
func TestStatusPageShowsRefusedConfig(t *testing.T) {
	r, a, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)
	a.Refuse(errorString("camagent.yaml:7: cameras[0].onvif.timeout: must be at least 1s"))
	_, page := get(t, statusURL+"/")
	html := string(page)
	if !strings.Contains(html, `<div class="banner bad" role="alert">config refused: camagent.yaml:7: cameras[0].onvif.timeout: must be at least 1s`) ||
		!strings.Contains(html, "keeps running the config loaded") {
		t.Errorf("status page does not show the refused config:\n%s", html)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestSnapshotRefusedOnPage: a camera answering its snapshot URI with a
// picture too big or not a JPEG gets a 503 with the plain reason on the
// snapshot URL (the cache itself is tested in agent/camera).
func TestSnapshotRefusedOnPage(t *testing.T) {
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"too big", append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, 2<<20)...), "more than the 2097152 allowed"},
		{"not a jpeg", []byte("<html>error</html>"), "not a JPEG"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "image/jpeg")
				_, _ = w.Write(c.body)
			}))
			t.Cleanup(cam.Close)
			r, _, statusURL := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.SnapshotURL = cam.URL + "/snap.jpg" }})
			waitReady(t, r)
			resp, body := get(t, statusURL+"/snapshot/demo.jpg")
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), c.want) {
				t.Errorf("snapshot URL answered %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestSnapshotUnsupported: a camera without GetSnapshotUri gives a 503
// saying so, and the page then drops the broken thumbnail.
func TestSnapshotUnsupported(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.Unsupported = []string{"GetSnapshotUri"} }})
	waitReady(t, r)
	resp, body := get(t, statusURL+"/snapshot/demo.jpg")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "offers no snapshot") {
		t.Errorf("snapshot of a camera without one: %d %q", resp.StatusCode, body)
	}
	if _, page := get(t, statusURL+"/"); strings.Contains(string(page), "<img") {
		t.Error("the page still shows a thumbnail the camera cannot give")
	}
}

// TestSnapshotPNGBecomesJPEG: a camera whose snapshot URI serves PNG
// (onvifsim quirk SnapshotPNG) still has a thumbnail and previews: the
// agent converts the picture to the JPEG the cloud takes.
func TestSnapshotPNGBecomesJPEG(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.SnapshotPNG = true }})
	waitReady(t, r)
	resp, body := get(t, statusURL+"/snapshot/demo.jpg")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("snapshot of a PNG camera: %d %q", resp.StatusCode, body)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(body)); err != nil || cfg.Width != 320 || cfg.Height != 180 {
		t.Errorf("snapshot of a PNG camera is not its 320x180 picture as JPEG: %v %+v", err, cfg)
	}
}

// TestSnapshotCameraDown: a camera gone from the network gives a 503 that
// says it cannot be reached.
func TestSnapshotCameraDown(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)
	r.ONVIF.Close()
	resp, body := get(t, statusURL+"/snapshot/demo.jpg")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "unreachable") {
		t.Errorf("snapshot of a camera that is down: %d %q", resp.StatusCode, body)
	}
}

// TestStatusPageRTSPOnly: a camera configured by its RTSP URL alone, with
// credentials in it, shows the URL without them, no thumbnail, and a
// snapshot request says why there is none.
func TestStatusPageRTSPOnly(t *testing.T) {
	var rtspURL string
	r, _, statusURL := runRig(t, rig.Options{
		ONVIF: func(o *onvifsim.Options) { rtspURL = o.RTSPURL },
		Config: func(c *config.Config) {
			c.Cameras[0].ONVIF.URL = ""
			c.Cameras[0].RTSP = config.NewSecretURL(strings.Replace(rtspURL, "rtsp://", "rtsp://"+rig.User+":"+rig.Password+"@", 1))
		},
	})
	waitReady(t, r)
	_, page := get(t, statusURL+"/")
	html := string(page)
	if !strings.Contains(html, "from "+rtspURL+"</td>") || strings.Contains(html, rig.Password) || strings.Contains(html, rig.User+":") {
		t.Errorf("the RTSP source is not shown exactly without its credentials:\n%s", html)
	}
	if strings.Contains(html, "<img") {
		t.Error("a camera without ONVIF has a thumbnail")
	}
	resp, body := get(t, statusURL+"/snapshot/demo.jpg")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "no ONVIF address") {
		t.Errorf("snapshot of a camera without ONVIF: %d %q", resp.StatusCode, body)
	}
}

// TestStatusPageSaysWhatIsWrong: a camera that refuses the configured
// credentials or does not answer is described once, in words that name
// the fix, with the technical detail beside them, on the page and in
// status.json, for ONVIF and for RTSP alike; the part's row says only
// where it stands. The retries that fail the same way are one problem,
// counted. A refused login is retried only after camera.CredentialRetry
// (cameras lock accounts), so there the log's retry_in is checked instead
// of the count.
func TestStatusPageSaysWhatIsWrong(t *testing.T) {
	mainStream := func(cs CameraStatus) string {
		if len(cs.Streams) == 0 {
			return ""
		}
		return cs.Streams[0].RTSP
	}
	onvifRow := func(cs CameraStatus) string { return cs.ONVIF }
	for _, tc := range []struct {
		name   string
		rig    rig.Options
		state  func(CameraStatus) string // where the part's state shows
		want   string                    // its state there
		words  string                    // the problem, in words
		detail string                    // in the problem's detail
		login  bool                      // a refused login: retried after camera.CredentialRetry
	}{
		{
			name: "onvif password",
			rig: rig.Options{
				ONVIF: func(o *onvifsim.Options) { o.Password = "changed-on-the-camera" },
			},
			state: onvifRow, want: "error",
			words:  "camera refused the ONVIF user name or password (check onvif.username and onvif.password)",
			detail: "NotAuthorized",
			login:  true,
		},
		{
			name: "onvif unreachable",
			rig: rig.Options{
				Config: func(c *config.Config) { c.Cameras[0].ONVIF.URL = "http://127.0.0.1:1/onvif/device_service" },
			},
			// With an RTSP URL configured, video goes on without ONVIF
			// and the problem says so.
			state: onvifRow, want: "error",
			words:  "ONVIF fails; live video goes on from the configured RTSP URL, camera settings and ONVIF events wait until ONVIF answers: camera does not answer ONVIF (check onvif.url, that the camera is on, and the network)",
			detail: "connection refused",
		},
		{
			name: "rtsp password",
			rig: rig.Options{
				Config: func(c *config.Config) {
					c.Cameras[0].RTSP = config.NewSecretURL("rtsp://" + rig.User + ":wrong-Passw0rd@" + strings.TrimPrefix(c.Cameras[0].RTSP.Reveal(), "rtsp://"))
				},
			},
			state: mainStream, want: "failing",
			words:  "stream Main: no video from the camera: camera refused the RTSP user name or password (check the camera's password in the config)",
			detail: "unauthorized",
			login:  true,
		},
		{
			name: "rtsp unreachable",
			rig: rig.Options{
				Config: func(c *config.Config) { c.Cameras[0].RTSP = config.NewSecretURL("rtsp://127.0.0.1:1/stream") },
			},
			state: mainStream, want: "failing",
			words:  "stream Main: no video from the camera: camera's RTSP server does not answer (check that the camera is on and its RTSP port is reachable from this machine)",
			detail: "connection refused",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The camera never registers: the rig's check for the
			// registered log line does not apply.
			core, logs := observer.New(zap.DebugLevel)
			tc.rig.Logger = zaptest.NewLogger(t).WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) }))
			if tc.rig.Config != nil {
				// The rig's camera RTSP URL is known once it runs.
				set := tc.rig.Config
				var rtspURL string
				tc.rig.ONVIF = func(o *onvifsim.Options) { rtspURL = o.RTSPURL }
				tc.rig.Config = func(c *config.Config) {
					c.Cameras[0].RTSP = config.NewSecretURL(rtspURL)
					set(c)
				}
			}
			_, _, statusURL := runRig(t, tc.rig)
			var cs CameraStatus
			waitFor(t, "the status to say "+tc.words, func() bool {
				cs = cameraStatus(t, statusURL)
				return tc.state(cs) == tc.want && len(cs.Errors) > 0 && cs.Errors[0].What == tc.words
			})
			if p := cs.Errors[0]; !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("problem %q has the detail %q, want it to name %q", p.What, p.Detail, tc.detail)
			}
			if tc.login {
				// One login attempt, then a long wait, said in the log.
				var retry time.Duration
				for _, e := range logs.FilterField(zap.String("camera", "demo")).All() {
					if d, ok := e.ContextMap()["retry_in"].(time.Duration); ok && strings.Contains(e.Message, tc.words) {
						retry = d
					}
				}
				if retry < camera.CredentialRetry*8/10 {
					t.Errorf("refused login retried in %v, want about %v", retry, camera.CredentialRetry)
				}
			} else {
				// The retries repeat it: one entry, counted.
				waitFor(t, "the problem counted twice", func() bool {
					cs = cameraStatus(t, statusURL)
					return len(cs.Errors) > 0 && cs.Errors[0].Count >= 2
				})
			}
			for _, e := range cs.Errors[1:] {
				if e.What == cs.Errors[0].What {
					t.Errorf("the same problem listed twice: %+v", cs.Errors)
				}
			}
			if strings.Contains(cs.Errors[0].What, "retry in") {
				t.Errorf("problem %q carries a retry delay that goes stale on the page", cs.Errors[0].What)
			}
			_, page := get(t, statusURL+"/")
			// The page escapes the apostrophes of the words.
			words := template.HTMLEscapeString(tc.words)
			if n := strings.Count(string(page), words); n != 1 {
				t.Errorf("the page says %q %d times, want once:\n%s", tc.words, n, page)
			}
			_, js := get(t, statusURL+"/status.json")
			for _, secret := range []string{rig.Password, "wrong-Passw0rd"} {
				if strings.Contains(string(page), secret) || strings.Contains(string(js), secret) {
					t.Errorf("a configured password appears on the page or in status.json")
				}
			}
			if !strings.Contains(string(page), `<small class="detail">`) {
				t.Error("the page does not show the problem's detail")
			}
			if !tc.login && !regexp.MustCompile(`\(\d+ times since <time`).Match(page) {
				t.Errorf("the page does not count the repeated %q", tc.words)
			}
		})
	}
}

// TestStatusPageCloudUnreachable: a cloud that goes away is a problem on
// the page, in words that say what to check, with the cloud's row saying
// disconnected.
func TestStatusPageCloudUnreachable(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)
	r.Cloud.Close()
	const words = "cannot reach the cloud (check this machine's internet connection, firewall or proxy)"
	var cs CameraStatus
	waitFor(t, "the status to say the cloud cannot be reached", func() bool {
		cs = cameraStatus(t, statusURL)
		return len(cs.Errors) > 0 && cs.Errors[0].What == words
	})
	if !strings.Contains(cs.Errors[0].Detail, "connection refused") {
		t.Errorf("problem detail %q does not name the refused connection", cs.Errors[0].Detail)
	}
	if cs.Cloud != "disconnected" {
		t.Errorf("cloud row %q, want disconnected", cs.Cloud)
	}
	_, page := get(t, statusURL+"/")
	if n := strings.Count(string(page), template.HTMLEscapeString(words)); n != 1 {
		t.Errorf("the page says %q %d times, want once", words, n)
	}
	if !strings.Contains(string(page), `class="badge bad">trouble<`) {
		t.Error("the camera's badge does not say trouble")
	}
}

// scrubCases are messages with credentials in them and what people see.
var scrubCases = []struct{ name, in, want string }{
	{"rtsp url in an error", `dial rtsp://admin:hunter2@10.0.0.5:554/live failed`, `dial rtsp://10.0.0.5:554/live failed`},
	{"quoted http url", `Get "http://u:p@cam/snap.jpg": EOF`, `Get "http://cam/snap.jpg": EOF`},
	{"password with an at sign", `rtsp://admin:p@ss@cam/live`, `rtsp://cam/live`},
	{"user only", `rtsp://admin@cam/live`, `rtsp://cam/live`},
	{"configured secret", `token tok-SECRET-123 refused`, `token [redacted] refused`},
	{"short value left alone", `a pw is too short to hide`, `a pw is too short to hide`},
	{"url without credentials", `rtsp://10.0.0.5/x`, `rtsp://10.0.0.5/x`},
	{"mail address", `mail me at a@b.c`, `mail me at a@b.c`},
}

// TestScrub: credentials in URLs inside messages and the configured
// secrets never survive.
func TestScrub(t *testing.T) {
	sc := newScrubber([]string{"tok-SECRET-123", "pw", ""})
	for _, c := range scrubCases {
		if got := sc.scrub(c.in); got != c.want {
			t.Errorf("%s: scrub(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

// FuzzScrub: whatever the text, the configured secret is gone and no URL
// keeps a user or password.
func FuzzScrub(f *testing.F) {
	for _, c := range scrubCases {
		f.Add(c.in)
	}
	const secret = "tok-SECRET-123"
	sc := newScrubber([]string{secret})
	f.Fuzz(func(t *testing.T, in string) {
		out := sc.scrub(in)
		if strings.Contains(out, secret) {
			t.Errorf("scrub(%q) = %q keeps the secret", in, out)
		}
		if userinfoRE.MatchString(out) {
			t.Errorf("scrub(%q) = %q keeps a URL's userinfo", in, out)
		}
	})
}
