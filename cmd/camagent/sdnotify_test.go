package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listenNotify plays systemd: a unixgram socket whose datagrams arrive on
// the returned channel, one message per datagram.
func listenNotify(t *testing.T, name string) <-chan string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- string(buf[:n]):
			default: // the test stopped reading
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return msgs
}

// next waits for the next datagram that satisfies match.
func next(t *testing.T, msgs <-chan string, what string, match func(string) bool) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-msgs:
			if match(m) {
				return m
			}
		case <-timeout:
			t.Fatalf("systemd never got %s", what)
			return ""
		}
	}
}

func hasLine(line string) func(string) bool {
	return func(m string) bool {
		for _, l := range strings.Split(m, "\n") {
			if l == line {
				return true
			}
		}
		return false
	}
}

func TestNotifierEnv(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name, socket, usec, wdPID string
		wantNil, wantErr          bool
		watchdog                  time.Duration
	}{
		{name: "not under systemd", wantNil: true},
		{name: "path socket with watchdog", socket: "/run/systemd/notify", usec: "30000000", watchdog: 15 * time.Second},
		{name: "abstract socket", socket: "@/org/freedesktop/systemd1/notify"},
		{name: "watchdog for our pid", socket: "/n", usec: "2000", wdPID: pid, watchdog: time.Millisecond},
		{name: "watchdog for another process", socket: "/n", usec: "2000", wdPID: "1"},
		{name: "relative socket", socket: "notify", wantErr: true},
		{name: "bare at sign", socket: "@", wantErr: true},
		{name: "bad watchdog usec", socket: "/n", usec: "30s", wantErr: true},
		{name: "zero watchdog usec", socket: "/n", usec: "0", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tc.socket)
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.wdPID)
			n, err := newNotifier()
			if err == nil {
				var wd time.Duration
				wd, err = watchdogInterval()
				if err == nil && wd != tc.watchdog {
					t.Errorf("watchdog every %v, want %v", wd, tc.watchdog)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && (n == nil) != tc.wantNil {
				t.Errorf("notifier = %v, want nil %v", n, tc.wantNil)
			}
		})
	}
}

// TestNotifyAbstractSocket sends to an "@name" socket as systemd in a
// container or user session may hand out.
func TestNotifyAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@camagent-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	msgs := listenNotify(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	n, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	next(t, msgs, "READY=1", hasLine("READY=1"))
	var none *notifier
	if err := none.notify("READY=1"); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
}

// TestRunNotifiesSystemd runs the daemon as systemd would start it with
// Type=notify and WatchdogSec: READY=1 only once the status page answers,
// WATCHDOG=1 again and again while it runs, a STATUS line counting the
// ready cameras, and STOPPING=1 when it is told to stop.
func TestRunNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	msgs := listenNotify(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	_, cfg := startSims(t, "info")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var buf bytes.Buffer
	logs := &syncWriter{w: &buf}
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, logs, logs) }()

	ready := next(t, msgs, "READY=1", hasLine("READY=1"))
	if !strings.Contains(ready, "STATUS=") || !strings.Contains(ready, "/1 cameras ready") {
		t.Errorf("READY message %q lacks a STATUS line counting 1 camera", ready)
	}
	// By READY the status page must already answer.
	logs.mu.Lock()
	m := regexp.MustCompile(`"status_page":"(http://[^"]+)"`).FindStringSubmatch(buf.String())
	logs.mu.Unlock()
	if m == nil {
		t.Fatal("no status_page address logged before READY=1")
	}
	resp, err := http.Get(m[1] + "/healthz")
	if err != nil {
		t.Fatalf("status page not serving at READY=1: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz at READY=1: %s", resp.Status)
	}

	// The camera registers with the cloud meanwhile; its STATUS may ride
	// on a WATCHDOG=1 message.
	watchdogs, registered := 0, false
	next(t, msgs, "3 × WATCHDOG=1 and STATUS=1/1 cameras ready", func(m string) bool {
		if hasLine("WATCHDOG=1")(m) {
			watchdogs++
		}
		registered = registered || hasLine("STATUS=1/1 cameras ready")(m)
		return watchdogs >= 3 && registered
	})

	cancel()
	next(t, msgs, "STOPPING=1", hasLine("STOPPING=1"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop within 10 s")
	}
}
