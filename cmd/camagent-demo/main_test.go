package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineWriter hands each complete line written to it to a channel, so a
// test can follow the demo's output as a person watching it would.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	lines   chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.partial[:i]):
		default: // the test stopped reading
		}
		w.partial = w.partial[i+1:]
	}
}

// syncBuffer is the demo's stderr, read by the test while the demo logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var receives = regexp.MustCompile(`cloud receives: .* \(total ([0-9]+) frames, first frame key: (true|false)\)`)

// TestDemoShowsVideoReachingTheCloud is `make demo` as a user runs it: the
// status page serves the demo camera, and the per-second lines show video
// arriving at the simulated cloud, starting with a key frame.
func TestDemoShowsVideoReachingTheCloud(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWriter{lines: make(chan string, 100)}
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--http", "127.0.0.1:0"}, out, &stderr) }()

	deadline := time.After(60 * time.Second)
	var statusURL string
	for frames := false; !frames; {
		select {
		case line := <-out.lines:
			t.Log(line)
			if u, ok := strings.CutPrefix(line, "status page: "); ok {
				statusURL, _, _ = strings.Cut(u, " ")
			}
			if m := receives.FindStringSubmatch(line); m != nil && m[1] != "0" {
				if m[2] != "true" {
					t.Errorf("the cloud's first frame is not a key frame: %q", line)
				}
				frames = true
			}
		case err := <-done:
			t.Fatalf("demo ended before video reached the cloud: %v\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("no video reached the simulated cloud within 60 s\n%s", stderr.String())
		}
	}
	if statusURL == "" {
		t.Fatal("the demo did not print its status page address")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(statusURL + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"demo"`) {
		t.Errorf("status page: %s\n%s", resp.Status, body)
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
}

// --duration ends the demo by itself, successfully.
func TestDemoDuration(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"--duration", "2s", "--http", "127.0.0.1:0"}, io.Discard, io.Discard)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo --duration 2s: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo --duration 2s still running after 60 s")
	}
}

func TestDemoUsage(t *testing.T) {
	if err := run(context.Background(), []string{"--bogus"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("--bogus: %v, want a usage error", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "camagent-demo dev (commit ") {
		t.Errorf("--version: %v, printed %q", err, out.String())
	}
}
