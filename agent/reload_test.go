package agent

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// reloadRig is the rig's simulated camera and cloud plus two more cloud
// accounts, so three cameras (a, b, c) can each hold their own camera
// channel; all publish to the rig's one ingest. Every camera pulls the
// same simulated camera.
type reloadRig struct {
	*rig.Rig
	clouds   map[string]*cloudsim.Server // by camera name
	a        *Agent
	path     string // the config file
	stateDir string
	listen   string
	url      string // status page
	logs     *observer.ObservedLogs
	levels   chan zapcore.Level // what SetLogLevel was called with
}

func startReloadRig(t *testing.T, initial func(*reloadRig) string) *reloadRig {
	t.Helper()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	r, err := rig.Start(rig.Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	rr := &reloadRig{Rig: r, clouds: map[string]*cloudsim.Server{"a": r.Cloud}, levels: make(chan zapcore.Level, 4)}
	for i, name := range []string{"b", "c"} {
		c, err := cloudsim.New(cloudsim.Options{CamID: r.Cloud.CamID() + int64(i) + 1, MediaServer: r.Ingest.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		rr.clouds[name] = c
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rr.listen, rr.url = ln.Addr().String(), "http://"+ln.Addr().String()
	rr.stateDir = t.TempDir()
	rr.path = filepath.Join(t.TempDir(), "camagent.yaml")
	rr.write(t, initial(rr))
	cfg, err := config.Load(rr.path)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	rr.logs = logs
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) })))
	rr.a, err = New(Options{Config: cfg, Logger: log, Version: "test", RootCAs: r.Roots, Listener: ln,
		SetLogLevel: func(l zapcore.Level) { rr.levels <- l }})
	if err != nil {
		t.Fatal(err)
	}
	stop := goRun(t, rr.a)
	t.Cleanup(func() {
		stop()
		// No reload outcome may log a secret.
		for _, e := range logs.All() {
			line := e.Message + fmt.Sprint(e.ContextMap())
			for name, c := range rr.clouds {
				if strings.Contains(line, c.Token()) || strings.Contains(line, c.Secret()) {
					t.Errorf("log line %q shows camera %s's token", e.Message, name)
				}
			}
			if strings.Contains(line, rig.Password) {
				t.Errorf("log line %q shows the camera password", e.Message)
			}
		}
	})
	return rr
}

// camera is one cameras[] entry: name's cloud account and the simulated
// camera over ONVIF (extra is more onvif keys in flow style) or, when
// extra is "rtsp", by its RTSP URL with credentials.
func (rr *reloadRig) camera(name, extra string) string {
	tok := rr.clouds[name].Token()
	if extra == "rtsp" {
		u := strings.Replace(rr.RTSP.URL(), "rtsp://", "rtsp://"+rig.User+":"+rig.Password+"@", 1)
		return fmt.Sprintf("  - name: %s\n    token: %q\n    rtsp: %q\n", name, tok, u)
	}
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf("  - name: %s\n    token: %q\n    onvif: {url: %q, username: %q, password: %q%s}\n",
		name, tok, rr.ONVIF.URL(), rig.User, rig.Password, extra)
}

// config is a whole config file; head is extra top-level YAML.
func (rr *reloadRig) config(head string, cameras ...string) string {
	return fmt.Sprintf("state_dir: %q\nhttp: {listen: %q}\ncloud: {insecure: true}\n%scameras:\n%s",
		rr.stateDir, rr.listen, head, strings.Join(cameras, ""))
}

func (rr *reloadRig) write(t *testing.T, text string) {
	t.Helper()
	tmp := rr.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, rr.path); err != nil {
		t.Fatal(err)
	}
}

// reload writes text to the config file and hands it to the agent as
// cmd/camagent does with what config.Watcher reports: a file that does not
// load is refused, one that does is applied.
func (rr *reloadRig) reload(t *testing.T, text string) error {
	t.Helper()
	rr.write(t, text)
	cfg, err := config.Load(rr.path)
	if err != nil {
		rr.a.Refuse(err)
		return err
	}
	return rr.a.Apply(cfg)
}

func (rr *reloadRig) waitReady(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := rr.clouds[name]
	if err := c.WaitReady(ctx, c.CamID()); err != nil {
		t.Fatalf("camera %s never became ready in its cloud: %v", name, err)
	}
}

// waitCloud waits until cond holds for name's cloud account.
func (rr *reloadRig) waitCloud(t *testing.T, name, what string, cond func(c *cloudsim.Server) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := rr.clouds[name]
	if err := c.Wait(ctx, func() bool { return cond(c) }); err != nil {
		t.Fatalf("camera %s: %s: %v", name, what, err)
	}
}

func (rr *reloadRig) status(t *testing.T) Status {
	t.Helper()
	resp, err := http.Get(rr.url + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status.json: %s", resp.Status)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// streamName is the ingest stream of a camera's main stream.
func (rr *reloadRig) streamName(name string) string {
	return fmt.Sprintf("u1m1c%d_Main", rr.clouds[name].CamID())
}

// publishes returns the ingest's accepted publishes of a camera's main stream.
func (rr *reloadRig) publishes(name string) []cloudsim.PublishRecord {
	var out []cloudsim.PublishRecord
	for _, p := range rr.Ingest.Publishes() {
		if p.Accepted && p.Stream == rr.streamName(name) {
			out = append(out, p)
		}
	}
	return out
}

// waitPublish waits until the camera's one publish has received at least
// frames video frames.
func (rr *reloadRig) waitPublish(t *testing.T, name string, frames int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := rr.streamName(name)
	err := rr.Ingest.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool {
		for _, p := range rs {
			if p.Accepted && p.Stream == stream && p.VideoFrames >= frames {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("camera %s: %d video frames never arrived: %v", name, frames, err)
	}
}

func (rr *reloadRig) startLive(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := rr.clouds[name]
	rep, err := c.Request(ctx, c.CamID(), "stream_start", map[string]any{"stream_id": "Main", "reason": "live"})
	if err != nil || rep["status"] != "OK" {
		t.Fatalf("camera %s: stream_start: %v %v", name, rep, err)
	}
}

// reloadLines returns the fields of every "config reloaded" log line.
func (rr *reloadRig) reloadLines(msg string) []map[string]any {
	var out []map[string]any
	for _, e := range rr.logs.FilterMessage(msg).All() {
		out = append(out, e.ContextMap())
	}
	return out
}

func names(v any) []string {
	var out []string
	switch v := v.(type) {
	case []string:
		out = v
	case []any:
		for _, s := range v {
			out = append(out, fmt.Sprint(s))
		}
	}
	return out
}

// TestReloadByDiff: a reload leaves an unchanged camera alone (same cloud
// connection, same RTMP publish, frames keep arriving on one timeline),
// restarts a changed one, starts an added one, and stops a removed one
// with bye SHUTDOWN.
func TestReloadByDiff(t *testing.T) {
	rr := startReloadRig(t, func(rr *reloadRig) string {
		return rr.config("", rr.camera("a", ""), rr.camera("b", ""))
	})
	rr.waitReady(t, "a")
	rr.waitReady(t, "b")
	rr.startLive(t, "a")
	rr.startLive(t, "b")
	rr.waitPublish(t, "a", 10)
	rr.waitPublish(t, "b", 10)

	connsA, regsA := rr.clouds["a"].Connections(), len(rr.clouds["a"].CamRegistrations())
	regsB := len(rr.clouds["b"].CamRegistrations())
	framesA := rr.publishes("a")[0].VideoFrames

	// b gets another ONVIF timeout, c arrives.
	if err := rr.reload(t, rr.config("", rr.camera("a", ""), rr.camera("b", "timeout: 7s"), rr.camera("c", "rtsp"))); err != nil {
		t.Fatalf("reload refused: %v", err)
	}
	rr.waitReady(t, "c")
	rr.waitCloud(t, "b", "re-registration after its change", func(c *cloudsim.Server) bool {
		return len(c.CamRegistrations()) > regsB
	})
	rr.waitReady(t, "b")
	rr.waitCloud(t, "b", "old session's close", func(c *cloudsim.Server) bool { return len(c.CloseCodes()) > 0 })
	if byes := rr.clouds["b"].Byes(); !slices.Equal(byes, []string{"SHUTDOWN"}) {
		t.Errorf("changed camera b: old session said byes %v, want [SHUTDOWN]", byes)
	}

	// Two more seconds of video for a, after the reload.
	rr.waitPublish(t, "a", framesA+50)
	if n, regs := rr.clouds["a"].Connections(), len(rr.clouds["a"].CamRegistrations()); n != connsA || regs != regsA {
		t.Errorf("unchanged camera a: %d connections and %d cam_register after the reload, want %d and %d", n, regs, connsA, regsA)
	}
	if byes := rr.clouds["a"].Byes(); len(byes) > 0 {
		t.Errorf("unchanged camera a said bye %v", byes)
	}
	pubs := rr.publishes("a")
	if len(pubs) != 1 {
		t.Fatalf("unchanged camera a: %d publishes, want its one publish kept", len(pubs))
	}
	p := pubs[0]
	if !p.Active || !p.Monotonic || len(p.Violations) > 0 {
		t.Errorf("unchanged camera a: publish active %t monotonic %t violations %v", p.Active, p.Monotonic, p.Violations)
	}
	// One timeline: no step in the video timestamps a restart would make
	// (media time, set by the camera's clock, not the test's).
	var last time.Duration
	for i, f := range p.Frames {
		if !f.Video {
			continue
		}
		if i > 0 && last > 0 && f.DTS-last > time.Second {
			t.Errorf("unchanged camera a: video timestamps jump %v → %v", last, f.DTS)
			break
		}
		last = f.DTS
	}

	st := rr.status(t)
	if got := st.Config; got.Added != 1 || got.Restarted != 1 || got.Removed != 0 || got.Error != "" || got.Path != rr.path || got.LastReload == nil {
		t.Errorf("status config after the reload = %+v", got)
	}
	var cams []string
	for _, c := range st.Cameras {
		cams = append(cams, c.Name)
	}
	if !slices.Equal(cams, []string{"a", "b", "c"}) {
		t.Errorf("status cameras %v, want [a b c]", cams)
	}
	lines := rr.reloadLines("config reloaded")
	if len(lines) != 1 || !slices.Equal(names(lines[0]["unchanged"]), []string{"a"}) ||
		!slices.Equal(names(lines[0]["restarted"]), []string{"b"}) || !slices.Equal(names(lines[0]["added"]), []string{"c"}) {
		t.Errorf("reload log lines %v", lines)
	}

	// c goes away: its session ends as on shutdown.
	if err := rr.reload(t, rr.config("", rr.camera("a", ""), rr.camera("b", "timeout: 7s"))); err != nil {
		t.Fatalf("reload refused: %v", err)
	}
	rr.waitCloud(t, "c", "normal close", func(c *cloudsim.Server) bool { return len(c.CloseCodes()) > 0 })
	if byes := rr.clouds["c"].Byes(); !slices.Equal(byes, []string{"SHUTDOWN"}) {
		t.Errorf("removed camera c said byes %v, want [SHUTDOWN]", byes)
	}
	if codes := rr.clouds["c"].CloseCodes(); codes[0] != 1000 {
		t.Errorf("removed camera c closed with %v, want 1000", codes)
	}
	if got := rr.status(t).Config; got.Removed != 1 || got.Added != 0 || got.Restarted != 0 {
		t.Errorf("status config after removing c = %+v", got)
	}
	if n := len(rr.status(t).Cameras); n != 2 {
		t.Errorf("%d cameras on the status page, want 2", n)
	}
	for name, c := range rr.clouds {
		if v := c.Violations(); len(v) > 0 {
			t.Errorf("camera %s: cloud saw protocol violations: %v", name, v)
		}
	}
}

// TestReloadRefused: a config that fails validation or the agent's own
// checks changes nothing; the error, with file, line and key, is logged
// once and shown in /status.json until a good file replaces it. Then
// log.level and basic auth change without a restart.
func TestReloadRefused(t *testing.T) {
	rr := startReloadRig(t, func(rr *reloadRig) string { return rr.config("", rr.camera("a", "")) })
	rr.waitReady(t, "a")
	conns := rr.clouds["a"].Connections()
	good := rr.config("", rr.camera("a", ""))

	// A token that passes the schema but does not decode.
	bad := strings.Replace(good, rr.clouds["a"].Token(), "bm90IGEgdG9rZW4", 1)
	err := rr.reload(t, bad)
	fes := config.FieldErrors(err)
	if len(fes) != 1 || fes[0].Path != "cameras[0].token" || fes[0].Source != rr.path || fes[0].Line != 6 {
		t.Fatalf("bad token: Apply = %v, want a FieldError at %s:6 cameras[0].token", err, rr.path)
	}
	st := rr.status(t).Config
	if !strings.Contains(st.Error, rr.path+":6: cameras[0].token") || st.LastReload == nil {
		t.Errorf("status config after the bad token = %+v", st)
	}

	// A file that does not parse.
	if err := rr.reload(t, good+"  - name: [\n"); err == nil {
		t.Fatal("broken YAML loaded")
	}
	st = rr.status(t).Config
	if !strings.Contains(st.Error, rr.path) {
		t.Errorf("status config after the broken file = %+v, want the error naming the file", st)
	}
	if n := len(rr.reloadLines("config refused")); n != 2 {
		t.Errorf("%d \"config refused\" lines for two refusals", n)
	}

	// Fleet monitoring sees the refusal in /metrics too.
	loadedAt, _ := scrapeMetrics(t, rr.url).value("camagent_config_last_reload_success_timestamp_seconds")
	if v, ok := scrapeMetrics(t, rr.url).value("camagent_config_last_reload_successful"); !ok || v != 0 {
		t.Errorf("camagent_config_last_reload_successful = %v (present %t) while a config is refused, want 0", v, ok)
	}

	// Nothing moved.
	if n := rr.clouds["a"].Connections(); n != conns || len(rr.clouds["a"].Byes()) > 0 {
		t.Errorf("refused reloads touched camera a: %d connections (was %d), byes %v", n, conns, rr.clouds["a"].Byes())
	}
	if sts := rr.status(t).Cameras; len(sts) != 1 || sts[0].Cloud != uplink.StateReady.String() {
		t.Errorf("camera after refused reloads: %+v", sts)
	}

	// The fix clears the error and restarts nothing.
	if err := rr.reload(t, "log: {level: debug}\n"+good); err != nil {
		t.Fatalf("fixed file refused: %v", err)
	}
	if st := rr.status(t).Config; st.Error != "" || st.Added+st.Removed+st.Restarted != 0 {
		t.Errorf("status config after the fix = %+v", st)
	}
	s := scrapeMetrics(t, rr.url)
	if v, ok := s.value("camagent_config_last_reload_successful"); !ok || v != 1 {
		t.Errorf("camagent_config_last_reload_successful = %v (present %t) after the fix, want 1", v, ok)
	}
	if v, _ := s.value("camagent_config_last_reload_success_timestamp_seconds"); v <= loadedAt {
		t.Errorf("config success timestamp %v after the fix, want later than %v", v, loadedAt)
	}
	select {
	case l := <-rr.levels:
		if l != zapcore.DebugLevel {
			t.Errorf("log level set to %v, want debug", l)
		}
	default:
		t.Error("log.level change did not reach SetLogLevel")
	}

	// Basic auth applies to the running status page.
	if err := rr.reload(t, "http: {listen: "+fmt.Sprintf("%q", rr.listen)+", username: ops, password: s3cret-pw}\n"+
		strings.Replace(good, "http: {listen: "+fmt.Sprintf("%q", rr.listen)+"}\n", "", 1)); err != nil {
		t.Fatalf("auth config refused: %v", err)
	}
	resp, err := http.Get(rr.url + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status.json without credentials after auth was configured: %s", resp.Status)
	}
	if n := rr.clouds["a"].Connections(); n != conns {
		t.Errorf("camera a reconnected over status page settings: %d connections, want %d", n, conns)
	}
}

// TestConcurrentApplies: reloads arriving together are applied one after
// the other; no worker is leaked (the cleanup fails if Run does not return).
func TestConcurrentApplies(t *testing.T) {
	rr := startReloadRig(t, func(rr *reloadRig) string { return rr.config("", rr.camera("a", "")) })
	var wg sync.WaitGroup
	for _, extra := range []string{"timeout: 3s", "timeout: 4s"} {
		wg.Go(func() {
			cfg, err := config.Parse([]byte(rr.config("", rr.camera("a", extra), rr.camera("b", "rtsp"))), "test")
			if err != nil {
				t.Error(err)
				return
			}
			if err := rr.a.Apply(cfg); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(rr.a.cameraWorkers()); n != 2 {
		t.Errorf("%d workers after two reloads, want 2", n)
	}
}

// TestRestartWhileRunStartsCameras: a camera a reload stops is not started
// again by Run while the reload waits for it to end (Run starts what
// a.workers lists without a run when woken; the stopped camera is still
// listed until the reload swaps the list).
func TestRestartWhileRunStartsCameras(t *testing.T) {
	rr := startReloadRig(t, func(rr *reloadRig) string { return rr.config("", rr.camera("a", "")) })
	rr.waitReady(t, "a")
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case rr.a.changed <- struct{}{}: // what Apply does after a change
			default:
				runtime.Gosched()
			}
		}
	})
	for _, extra := range []string{"timeout: 3s", "timeout: 4s", "timeout: 5s"} {
		cfg, err := config.Parse([]byte(rr.config("", rr.camera("a", extra))), "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := rr.a.Apply(cfg); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	rr.a.mu.Lock()
	defer rr.a.mu.Unlock()
	for w := range rr.a.runs {
		if !slices.Contains(rr.a.workers, w) {
			t.Errorf("camera %s of an earlier config was started again and still runs", w.Name())
		}
	}
}

// TestRootsCompareByContent: Apply restarts every camera when the trusted
// CAs change, including a CA file rewritten under the same name, and not
// when the same roots are loaded again.
func TestRootsCompareByContent(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	system1, err := loadRootCAs("")
	if err != nil {
		t.Fatal(err)
	}
	system2, _ := loadRootCAs("")
	withCA, err := loadRootCAs(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if !system1.Equal(system2) {
		t.Error("the system roots loaded twice differ: every reload would restart every camera")
	}
	if system1.Equal(withCA) {
		t.Error("roots with a CA file equal the system roots: a new CA would not reach the cameras")
	}
	if err := os.WriteFile(caFile, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRootCAs(caFile); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without certificates: %v", err)
	}
}

// TestStateDirChangeRestartsAll: a new state_dir moves every camera's
// cloud state, so every camera restarts, whatever else stayed the same.
func TestStateDirChangeRestartsAll(t *testing.T) {
	rr := startReloadRig(t, func(rr *reloadRig) string { return rr.config("", rr.camera("a", "")) })
	rr.waitReady(t, "a")
	rr.stateDir = t.TempDir()
	if err := rr.reload(t, rr.config("", rr.camera("a", ""))); err != nil {
		t.Fatal(err)
	}
	rr.waitCloud(t, "a", "a second connection from the new state_dir", func(c *cloudsim.Server) bool { return c.Connections() == 2 })
	rr.waitReady(t, "a")
	if byes := rr.clouds["a"].Byes(); !slices.Equal(byes, []string{"SHUTDOWN"}) {
		t.Errorf("camera a's first session said byes %v, want [SHUTDOWN]", byes)
	}
	if _, err := os.Stat(filepath.Join(rr.stateDir, "a.state.json")); err != nil {
		t.Errorf("camera a keeps no state in the new state_dir: %v", err)
	}
}

// TestListenChangeWaitsForRestart: a new http.listen is not applied while
// running (the status page stays where it is and says why); the cameras
// are left alone.
func TestListenChangeWaitsForRestart(t *testing.T) {
	rr := startReloadRig(t, func(rr *reloadRig) string { return rr.config("", rr.camera("a", "")) })
	rr.waitReady(t, "a")
	moved := strings.Replace(rr.config("", rr.camera("a", "")), rr.listen, "127.0.0.1:1", 1)
	if err := rr.reload(t, moved); err != nil {
		t.Fatal(err)
	}
	st := rr.status(t) // still served on the old address
	if !strings.Contains(st.Config.Pending, "127.0.0.1:1") || !strings.Contains(st.Config.Pending, "restart") {
		t.Errorf("status config after moving http.listen = %+v, want Pending to say a restart is needed", st.Config)
	}
	if n := rr.clouds["a"].Connections(); n != 1 {
		t.Errorf("camera a has %d connections after an http.listen change, want 1", n)
	}
	// Moving it back clears the note.
	if err := rr.reload(t, rr.config("", rr.camera("a", ""))); err != nil {
		t.Fatal(err)
	}
	if p := rr.status(t).Config.Pending; p != "" {
		t.Errorf("Pending = %q after http.listen was restored", p)
	}
}
