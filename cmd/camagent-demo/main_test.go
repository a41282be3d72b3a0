package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the test binary as camagent-demo itself, to
// send it a real signal.
func TestMain(m *testing.M) {
	if os.Getenv("CAMAGENT_DEMO_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lineWriter hands each complete line written to it to a channel, so a
// test can follow the demo's output as a person watching it would, and
// keeps every line.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	all     []string
	lines   chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 1000)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimRight(string(w.partial[:i]), "\r")
		w.all = append(w.all, line)
		select {
		case w.lines <- line:
		default: // the test stopped reading
		}
		w.partial = w.partial[i+1:]
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.all, "\n")
}

// seen returns every line so far.
func (w *lineWriter) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.all...)
}

// waitLine follows the output until match returns true for a line, and
// returns that line.
func waitLine(t *testing.T, out *lineWriter, done <-chan error, what string, match func(string) bool) string {
	t.Helper()
	return waitLineWithin(t, 90*time.Second, out, done, what, match)
}

func waitLineWithin(t *testing.T, limit time.Duration, out *lineWriter, done <-chan error, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case line := <-out.lines:
			if match(line) {
				return line
			}
		case err := <-done:
			t.Fatalf("demo ended (%v) before %s\n%s", err, what, out)
		case <-deadline:
			t.Fatalf("no %s within %v\n%s", what, limit, out)
		}
	}
}

var (
	receives  = regexp.MustCompile(`^\d\d:\d\d:\d\d cloud receives from lobby: .* \(total ([0-9]+) frames\)$`)
	keyNote   = regexp.MustCompile(`key frame`)
	clockWarn = regexp.MustCompile(`^\d\d:\d\d:\d\d warn +lobby: .*clock`)
)

// TestDemoShowsWhatTheAgentDoes is `make demo` as a user runs it: two
// cameras register with the simulated cloud, live video from one arrives
// starting with a key frame (said once), the other's simulated motion
// becomes the status page's last event and reaches the cloud with its
// snapshot and clip, every line on the console reads
// as words rather than JSON, and Ctrl-C stops it cleanly.
func TestDemoShowsWhatTheAgentDoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newLineWriter()
	done := make(chan error, 1)
	// The console: the demo's lines and its log lines on one screen.
	go func() { done <- run(ctx, []string{"--http", "127.0.0.1:0"}, out, out) }()

	line := waitLine(t, out, done, "status page address", func(l string) bool { return strings.HasPrefix(l, "status page: ") })
	statusURL, _, _ := strings.Cut(strings.TrimPrefix(line, "status page: "), " ")
	for _, cam := range []string{"lobby", "yard"} {
		waitLine(t, out, done, cam+" registering", func(l string) bool { return strings.Contains(l, " "+cam+" registered with the cloud as cam ") })
	}
	waitLine(t, out, done, "motion reaching the cloud", func(l string) bool {
		return strings.Contains(l, "cloud received event motion from yard")
	})
	waitLine(t, out, done, "the motion's snapshot", func(l string) bool {
		return strings.Contains(l, "cloud received the event's snapshot from yard (")
	})
	waitLine(t, out, done, "the motion's clip", func(l string) bool {
		return strings.Contains(l, "cloud received an event clip from yard: ")
	})
	// Enough per-second lines with video to see a note repeated.
	for n := 0; n < 3; {
		l := waitLine(t, out, done, "video reaching the cloud", receives.MatchString)
		if receives.FindStringSubmatch(l)[1] != "0" {
			n++
		}
	}

	var st struct {
		Cameras []struct {
			Name      string `json:"name"`
			Cloud     string `json:"cloud"`
			LastEvent *struct {
				Kind    string `json:"kind"`
				Outcome string `json:"outcome"`
			} `json:"last_event"`
		} `json:"cameras"`
	}
	client := &http.Client{Timeout: 10 * time.Second}
	// The cloud has the event before the agent hears back that it went
	// out (its snapshot's grant comes first): the page says "sent" a moment
	// later, so it is read until it does.
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(statusURL + "/status.json")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status page: %s %v\n%s", resp.Status, err, body)
		}
		if !strings.Contains(string(body), `"outcome": "queued"`) || time.Now().After(deadline) {
			break
		}
	}
	var names []string
	for _, c := range st.Cameras {
		names = append(names, c.Name+" "+c.Cloud)
		if c.Name == "yard" && (c.LastEvent == nil || c.LastEvent.Kind != "motion" || c.LastEvent.Outcome != "sent") {
			t.Errorf("yard's last event on the status page: %+v, want motion sent\n%s", c.LastEvent, body)
		}
	}
	if got := strings.Join(names, ", "); got != "lobby ready, yard ready" {
		t.Errorf("status page cameras: %s, want lobby and yard ready", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of Ctrl-C")
	}

	lines := out.seen()
	var keyNotes, warns int
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "{") {
			t.Errorf("a JSON line on the console: %s", l)
		}
		if keyNote.MatchString(l) {
			keyNotes++
			if !strings.Contains(l, "from lobby is a key frame") {
				t.Errorf("the cloud's first frame is not a key frame: %q", l)
			}
		}
		if clockWarn.MatchString(l) {
			warns++
		}
	}
	if keyNotes != 1 {
		t.Errorf("the first-frame note appears %d times, want once\n%s", keyNotes, out)
	}
	if warns == 0 {
		t.Errorf("no readable warning about lobby's clock, which is 90 min off\n%s", out)
	}
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, " stopped") {
		t.Errorf("last line %q, want it to say the demo stopped", last)
	}
}

// --duration ends the demo by itself, successfully, and says so.
func TestDemoDuration(t *testing.T) {
	out := newLineWriter()
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"--duration", "2s", "--http", "127.0.0.1:0"}, out, io.Discard)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo --duration 2s: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo --duration 2s still running after 60 s")
	}
	if !strings.Contains(out.String(), " --duration 2s is over; stopping\n") {
		t.Errorf("the demo did not say --duration ended it:\n%s", out)
	}
}

// Ctrl-C (a real SIGINT) ends the demo binary with exit status 0.
func TestDemoInterruptExitsZero(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CAMAGENT_DEMO_RUN_MAIN=1")
	out := newLineWriter()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	waitLine(t, out, done, "live video request", func(l string) bool { return strings.Contains(l, "cloud requested live video") })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo after SIGINT: %v, want exit status 0\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("demo did not stop within 30 s of SIGINT\n%s", out)
	}
	if !strings.HasSuffix(out.String(), " stopped") {
		t.Errorf("the demo did not say it stopped:\n%s", out)
	}
}

func TestDemoUsage(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"--motion-every", "0s"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "camagent-demo dev (commit ") {
		t.Errorf("--version: %v, printed %q", err, out.String())
	}
}
