package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// Canary credentials: values found nowhere else, so any place they turn
// up is a leak. The first camera keeps the rig's fixed password
// (rig.Password: the rig gives ONVIF and RTSP the same one and has no
// option to change it); the second camera ("yard") has canaries of its own.
const (
	// yardPassword is accepted by yard's ONVIF and refused by its RTSP
	// server (which wants rig.Password): the wrong-RTSP-password path.
	yardPassword = "canary-yard-5e1dA7"
	// yardWrongPassword replaces it on reload: ONVIF refuses the login.
	yardWrongPassword = "canary-wrong-91c7Bq"
	// yardRTSPPassword is in the rtsp: URL the reload gives yard.
	yardRTSPPassword = "canary-rtsp-3b8fZx"
	// statusPassword guards the status page.
	statusUser, statusPassword = "canary-viewer", "canary-status-c0d4Kp"
)

// TestSecretsNeverLeave runs the whole agent — registration, live video,
// an event with snapshot and clip, cam_get_log, a cloud outage with
// events queued on disk, a refused RTSP login, a reload to a refused ONVIF
// login and a credentialed rtsp: URL — and then looks for every token,
// channel secret and password in everything that leaves the agent or
// stays behind: each log line, the status page, /status.json, /metrics,
// /snapshot errors, every upload and message the cloud received, the
// ingest's publish names and every file in state_dir (whose modes must be
// 0600/0700). The session file holds only a hash of the token
// (docs/protocol.md#state), so no canary may be in any state file.
func TestSecretsNeverLeave(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	var logs syncBuffer
	ring := NewLogRing(0, 0)
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zaptest.NewLogger(t, zaptest.Level(zapcore.DebugLevel), zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, zapcore.NewCore(enc, zapcore.AddSync(&logs), zapcore.DebugLevel), ring.Core(enc, zapcore.DebugLevel))
	})))
	r, err := rig.Start(rig.Options{
		More: []rig.CameraOptions{{Name: "yard", ONVIF: func(o *onvifsim.Options) { o.Password = yardPassword }}},
		Config: func(cfg *config.Config) {
			cfg.Cameras[1].ONVIF.Password = config.NewSecret(yardPassword)
			cfg.HTTP.Username, cfg.HTTP.Password = statusUser, config.NewSecret(statusPassword)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	yard := r.Cameras[1]
	canaries := map[string]string{
		"demo token": r.Cloud.Token(), "demo channel secret": r.Cloud.Secret(),
		"yard token": yard.Cloud.Token(), "yard channel secret": yard.Cloud.Secret(),
		"demo camera password": rig.Password, "yard camera password": yardPassword,
		"yard's refused ONVIF password": yardWrongPassword, "yard's rtsp: URL password": yardRTSPPassword,
		"status page password": statusPassword,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state") // the agent creates it
	cfg, err := r.Config(stateDir, ln.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: log, Version: "test", RootCAs: r.Roots, Listener: ln, LogRing: ring, timing: testTiming})
	if err != nil {
		t.Fatal(err)
	}
	stop := goRun(t, a)
	base := "http://" + ln.Addr().String()
	var pages []string // every body the status server gave
	fetch := func(path string) {
		t.Helper()
		pages = append(pages, path+": "+authGet(t, base+path))
	}

	// demo registers; yard's RTSP refuses its password, so yard connects
	// to its cloud but defers cam_register.
	eventsReady(t, r)
	demo, yardW := a.workers[0], a.workers[1]
	waitFor(t, "yard's RTSP refusal on its status", func() bool { return len(yardW.Status().Problems) > 0 })
	fetch("/status.json")
	fetch("/")

	// Live video, then an event with snapshot and clip.
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_start live: %v", rep)
	}
	waitCtx(t, "live video at the ingest", func(ctx context.Context) error { return r.Ingest.WaitFrames(ctx, 10) })
	request(t, r, "set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": 1000, "post_event": 1000})
	request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record_by_event"})
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": true, "stream": true}}})
	waitFor(t, "the pre-event buffer", func() bool { return demo.EventBuffer().Span >= time.Second })
	r.ONVIF.TriggerMotion(true)
	waitCloudEvent(t, r, "motion", func(e map[string]any) bool { return e["event"] == "motion" && hasSnapshot(e) })
	r.ONVIF.TriggerMotion(false)
	waitPut(t, r, "event snapshot", func(p cloudsim.Put) bool { return p.Category == "snapshot" })
	waitPut(t, r, "event clip", func(p cloudsim.Put) bool { return p.Category == "record" })

	// The cloud fetches the camera's log and preview.
	if rep := request(t, r, "cam_get_log", nil); rep["status"] != "OK" {
		t.Fatalf("cam_get_log: %v", rep)
	}
	if up := waitUpload(t, r, "log"); !bytes.Contains(up.Body, []byte(`"camera":"demo"`)) {
		t.Fatalf("uploaded log has none of demo's lines:\n%s", up.Body)
	}
	request(t, r, "cam_update_preview", nil)
	waitUpload(t, r, "preview")

	// An outage: a motion meanwhile waits in the spool on disk.
	r.Cloud.Bye(uplink.ByeSystemError, 2)
	waitFor(t, "demo offline", func() bool { return demo.Status().Cloud != uplink.StateReady })
	r.ONVIF.TriggerMotion(true)
	r.ONVIF.TriggerMotion(false)
	waitFor(t, "the motion queued on disk", func() bool { return demo.UploadQueue().Items > 0 })
	files := stateFiles(t, stateDir)
	if !slices.ContainsFunc(slices.Collect(maps.Keys(files)), func(f string) bool { return strings.HasPrefix(f, "spool"+string(filepath.Separator)) }) {
		t.Errorf("nothing spooled in state_dir during the outage: %v", slices.Sorted(maps.Keys(files)))
	}
	fetch("/status.json")
	waitReady(t, r)
	request(t, r, "get_cam_events", nil) // the cloud reads the declaration, then the queue goes
	waitFor(t, "the queue sent after the outage", func() bool { return demo.UploadQueue().Items == 0 })

	// A reload gives yard an rtsp: URL whose password its RTSP refuses,
	// the next one a password its ONVIF refuses.
	reload := func(adjust func(*config.Camera)) *camera.Camera {
		t.Helper()
		cfg, err := r.Config(stateDir, ln.Addr().String(), false)
		if err != nil {
			t.Fatal(err)
		}
		adjust(&cfg.Cameras[1])
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := a.Apply(cfg); err != nil {
			t.Fatalf("reload: %v", err)
		}
		return a.cameraWorkers()[1]
	}
	yardW = reload(func(c *config.Camera) {
		c.RTSP = config.NewSecretURL(strings.Replace(yard.RTSP.URL(), "rtsp://", "rtsp://"+rig.User+":"+yardRTSPPassword+"@", 1))
	})
	waitFor(t, "yard's refused rtsp: URL on its status", func() bool {
		p := yardW.Status().Problems
		return len(p) > 0 && strings.Contains(p[0].What, "RTSP")
	})
	fetch("/status.json")
	fetch("/")
	yardW = reload(func(c *config.Camera) { c.ONVIF.Password = config.NewSecret(yardWrongPassword) })
	waitFor(t, "yard's refused ONVIF login on its status", func() bool { return yardW.Status().ONVIF == camera.ONVIFFailed })
	for _, p := range []string{"/status.json", "/", "/metrics", "/readyz", "/snapshot/yard.jpg", "/snapshot/demo.jpg"} {
		fetch(p)
	}
	stop() // every log line is written

	found := func(where, text string) {
		t.Helper()
		for name, v := range canaries {
			if strings.Contains(text, v) {
				i := strings.Index(text, v)
				t.Errorf("the %s is in %s: …%s…", name, where, text[max(0, i-200):min(len(text), i+len(v)+40)])
			}
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"config reloaded"`) || !strings.Contains(out, `"camera":"yard"`) {
		t.Fatal("log capture is missing the agent's lines")
	}
	for _, line := range strings.Split(out, "\n") {
		found("a log line", line)
	}
	for _, p := range pages {
		found("the status server's answer to "+p[:strings.Index(p, ":")], p)
	}
	for _, c := range r.Cameras {
		for _, up := range c.Cloud.Uploads() {
			found(c.Name+"'s "+up.Cat+" upload", string(up.Body)+up.Path+up.ContentType)
		}
		for _, p := range c.Cloud.Puts() {
			found(c.Name+"'s "+p.Category+" PUT", string(p.Body)+p.Path+p.ContentType)
		}
		for _, m := range c.Cloud.Received() {
			b, _ := json.Marshal(m)
			found("a message to "+c.Name+"'s cloud", string(b))
		}
	}
	for _, p := range r.Ingest.Publishes() {
		found("an RTMP publish", p.App+" "+p.TCURL+" "+p.Name)
	}
	if len(r.Cloud.Puts()) < 2 || len(r.Cloud.Uploads()) < 2 {
		t.Errorf("%d PUTs and %d legacy uploads: the test meant to check more", len(r.Cloud.Puts()), len(r.Cloud.Uploads()))
	}
	for path, body := range files {
		found("the state file "+path+" (during the outage)", body)
	}
	files = stateFiles(t, stateDir)
	if _, ok := files["demo.state.json"]; !ok {
		t.Errorf("no session state file for demo in %v", files)
	}
	for path, body := range files {
		found("the state file "+path, body)
	}
}

// authGet GETs url with the status page's canary credentials and returns
// the body, whatever the status.
func authGet(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(statusUser, statusPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("get %s: %v", url, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		t.Fatalf("get %s: the canary credentials were refused", url)
	}
	return string(body)
}

// stateFiles reads every file under dir, keyed by its path relative to
// dir, and fails the test for any file not 0600 or directory not 0700.
func stateFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the directory was read (a sent upload)
		}
		if err != nil {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch mode := info.Mode(); {
		case d.IsDir() && mode.Perm() != 0o700:
			t.Errorf("state directory %s has mode %v, want 0700", rel, mode.Perm())
		case !d.IsDir() && mode.Perm() != 0o600:
			t.Errorf("state file %s has mode %v, want 0600", rel, mode.Perm())
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("read state dir: %v", err)
	}
	return out
}

// waitCtx runs wait with a 20 s deadline and fails the test on its error.
func waitCtx(t *testing.T, what string, wait func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := wait(ctx); err != nil {
		t.Fatalf("timed out waiting for %s: %v", what, err)
	}
}
