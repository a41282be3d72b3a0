package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// reloadSims is a simulated camera and two cloud accounts (cameras lobby
// and yard pull the same camera), and the config file run reads.
type reloadSims struct {
	cam    *rtspsim.Server
	clouds map[string]*cloudsim.Server
	state  string
	path   string
}

func startReloadSims(t *testing.T) *reloadSims {
	t.Helper()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	s := &reloadSims{cam: rtspsim.New(rtspsim.Options{}), clouds: map[string]*cloudsim.Server{}, state: t.TempDir()}
	if err := s.cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.cam.Close)
	for i, name := range []string{"lobby", "yard"} {
		c, err := cloudsim.New(cloudsim.Options{CamID: 310042 + int64(i), MediaServer: "127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		s.clouds[name] = c
	}
	s.path = filepath.Join(t.TempDir(), "camagent.yaml")
	return s
}

// write replaces the config file, as editors and config management do,
// with one entry per named camera.
func (s *reloadSims) write(t *testing.T, cameras ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %q\nlog: {level: info}\nhttp: {listen: \"127.0.0.1:0\"}\ncloud: {insecure: true}\ncameras:\n", s.state)
	for _, name := range cameras {
		fmt.Fprintf(&b, "  - name: %s\n    token: %q\n    rtsp: %q\n", name, s.clouds[name].Token(), s.cam.URL())
	}
	s.writeText(t, b.String())
}

func (s *reloadSims) writeText(t *testing.T, text string) {
	t.Helper()
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		t.Fatal(err)
	}
}

// run starts the daemon on the config file; it is stopped as by SIGTERM
// when the test ends and must return nil.
func (s *reloadSims) run(t *testing.T) *logBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := newLogBuffer()
	go func() { done <- run(ctx, []string{"run", "--config", s.path}, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after stop", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop within 10 s")
		}
		for name, c := range s.clouds {
			if strings.Contains(logs.String(), c.Token()) {
				t.Errorf("camera %s's token is in the logs", name)
			}
		}
	})
	return logs
}

// logBuffer collects run's log lines and wakes waitFor on every write.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // one pending wake-up
}

func newLogBuffer() *logBuffer { return &logBuffer{written: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.written <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until the logs contain text.
func (l *logBuffer) waitFor(t *testing.T, text string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for !strings.Contains(l.String(), text) {
		select {
		case <-l.written:
		case <-timeout:
			t.Fatalf("the logs never said %s:\n%s", text, l.String())
		}
	}
}

func (s *reloadSims) waitReady(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.clouds[name]
	if err := c.WaitReady(ctx, c.CamID()); err != nil {
		t.Fatalf("camera %s never registered: %v", name, err)
	}
}

// TestRunReloadsChangedFile: run notices an edited config file by itself,
// starts the added camera without touching the other, and tells systemd
// RELOADING=1 (with MONOTONIC_USEC) and READY=1 around the reload.
func TestRunReloadsChangedFile(t *testing.T) {
	defer func(d time.Duration) { watchInterval = d }(watchInterval)
	watchInterval = 20 * time.Millisecond
	sock := filepath.Join(t.TempDir(), "notify")
	msgs := listenNotify(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "")

	// Earlier in-process runs may have tuned it already: start from the default.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(defaultProcs))
	t.Setenv("GOMAXPROCS", "")

	s := startReloadSims(t)
	s.write(t, "lobby")
	logs := s.run(t)
	next(t, msgs, "READY=1", hasLine("READY=1"))
	s.waitReady(t, "lobby")
	// One camera needs one P (see runtime.go).
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("run with one camera left GOMAXPROCS at %d, want 1", got)
	}

	s.write(t, "lobby", "yard")
	reloading := next(t, msgs, "RELOADING=1", hasLine("RELOADING=1"))
	if !regexp.MustCompile(`(?m)^MONOTONIC_USEC=[1-9][0-9]*$`).MatchString(reloading) {
		t.Errorf("RELOADING message %q lacks MONOTONIC_USEC", reloading)
	}
	next(t, msgs, "READY=1 after the reload", hasLine("READY=1"))
	s.waitReady(t, "yard")
	if n := s.clouds["lobby"].Connections(); n != 1 {
		t.Errorf("lobby has %d cloud connections after yard was added, want its first one kept", n)
	}
	logs.waitFor(t, `"msg":"config reloaded"`)

	// A refused file: READY=1 again (the old config serves), and the
	// STATUS line says so.
	s.writeText(t, "cameras: [\n")
	next(t, msgs, "RELOADING=1 for the broken file", hasLine("RELOADING=1"))
	refused := next(t, msgs, "READY=1 after the refusal", hasLine("READY=1"))
	if !strings.Contains(refused, "STATUS=") || !strings.Contains(refused, "newest config refused") {
		t.Errorf("READY after a refused reload = %q, want a STATUS saying the config was refused", refused)
	}
}

// TestRunReloadsOnSIGHUP: SIGHUP makes run reload a file it would not
// poll for an hour, refuses a broken one and keeps running, instead of
// the process dying as SIGHUP's default would have it.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	defer func(d time.Duration) { watchInterval = d }(watchInterval)
	watchInterval = time.Hour
	t.Setenv("NOTIFY_SOCKET", "")

	s := startReloadSims(t)
	s.write(t, "lobby", "yard")
	logs := s.run(t)
	s.waitReady(t, "lobby")
	s.waitReady(t, "yard")

	s.write(t, "lobby")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	yard := s.clouds["yard"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := yard.Wait(ctx, func() bool { return len(yard.CloseCodes()) > 0 }); err != nil {
		t.Fatalf("yard's session did not end after SIGHUP removed it: %v", err)
	}
	if byes := yard.Byes(); len(byes) != 1 || byes[0] != "SHUTDOWN" {
		t.Errorf("removed camera yard said byes %v, want [SHUTDOWN]", byes)
	}

	s.writeText(t, "cameras: [\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, `"msg":"config refused"`)
	if n := s.clouds["lobby"].Connections(); n != 1 || len(s.clouds["lobby"].Byes()) > 0 {
		t.Errorf("lobby: %d connections, byes %v after two reloads, want its first connection kept", n, s.clouds["lobby"].Byes())
	}
}
