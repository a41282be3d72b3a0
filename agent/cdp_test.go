//go:build browser

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// chromiumPath is Debian's chromium, which CI installs for the browser tests.
const chromiumPath = "/usr/bin/chromium"

// browser is a headless chromium started for one test, in its own process
// group so that the test can end it with every helper process it spawned.
type browser struct {
	cmd     *exec.Cmd
	dataDir string
	stderr  *syncBuffer
	port    int
}

// startBrowser launches headless chromium on about:blank with the DevTools
// server on a free port; the test's cleanup kills its process group and
// checks nothing of it is left.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s: %v: the browser tests need Debian's chromium (apt-get install chromium)", chromiumPath, err)
	}
	b := &browser{dataDir: t.TempDir(), stderr: &syncBuffer{}}
	b.cmd = exec.Command(chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+b.dataDir, "--remote-debugging-port=0", "about:blank")
	b.cmd.Stdout, b.cmd.Stderr = b.stderr, b.stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// Negative pid: the whole group (zygote, renderers, utilities).
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Error("chromium did not exit within 10 s of SIGKILL")
		}
		waitFor(t, "every chromium process of the test to end", func() bool { return len(b.leftovers()) == 0 })
	})

	// Chromium writes the port it picked, then the browser target's path.
	portFile := filepath.Join(b.dataDir, "DevToolsActivePort")
	waitFor(t, "chromium's DevToolsActivePort file", func() bool {
		select {
		case <-exited:
			t.Fatalf("chromium exited before it listened: %s", b.stderr.String())
		default:
		}
		data, err := os.ReadFile(portFile)
		if err != nil {
			return false
		}
		line, _, ok := strings.Cut(string(data), "\n")
		if !ok {
			return false // still being written
		}
		b.port, err = strconv.Atoi(strings.TrimSpace(line))
		return err == nil && b.port > 0
	})
	return b
}

// leftovers lists the pids still running with this browser's profile.
func (b *browser) leftovers() []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(b.dataDir)) {
			if stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat")); err == nil && isZombie(stat) {
				continue // dead, waiting for a parent that is gone
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

// isZombie reads the state field of /proc/<pid>/stat ("pid (comm) S ...").
func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// page attaches to the browser's first page target (the about:blank tab).
func (b *browser) page(t *testing.T) *cdpConn {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/json/list", b.port))
	if err != nil {
		t.Fatalf("devtools target list: %v", err)
	}
	defer resp.Body.Close()
	var targets []struct {
		Type string `json:"type"`
		URL  string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		t.Fatalf("devtools target list: %v", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" && tg.URL != "" {
			return dialCDP(t, tg.URL)
		}
	}
	t.Fatalf("chromium has no page target: %+v", targets)
	return nil
}

// cdpConn is a minimal Chrome DevTools Protocol client on one target:
// numbered calls with their replies, and a log of every event.
type cdpConn struct {
	ws   *websocket.Conn
	done chan struct{} // closed when the read loop ends

	wmu  sync.Mutex // serializes writes
	next int64

	mu      sync.Mutex
	replies map[int64]chan cdpMessage
	events  []cdpMessage
	changed chan struct{} // closed and replaced at every event
	readErr error
}

type cdpMessage struct {
	ID     int64           `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func dialCDP(t *testing.T, url string) *cdpConn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("devtools websocket: %v", err)
	}
	c := &cdpConn{ws: ws, done: make(chan struct{}), replies: map[int64]chan cdpMessage{}, changed: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(func() {
		ws.Close()
		<-c.done
	})
	return c
}

func (c *cdpConn) readLoop() {
	defer close(c.done)
	for {
		var m cdpMessage
		if err := c.ws.ReadJSON(&m); err != nil {
			c.mu.Lock()
			c.readErr = err
			for id, ch := range c.replies {
				close(ch)
				delete(c.replies, id)
			}
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch, ok := c.replies[m.ID]; ok {
				ch <- m
				delete(c.replies, m.ID)
			}
		} else {
			c.events = append(c.events, m)
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
	}
}

// call sends method with params and decodes the reply's result into out
// (when not nil).
func (c *cdpConn) call(ctx context.Context, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan cdpMessage, 1)
	c.wmu.Lock()
	c.next++
	id := c.next
	c.mu.Lock()
	if c.readErr != nil {
		c.mu.Unlock()
		c.wmu.Unlock()
		return fmt.Errorf("%s: connection gone: %w", method, c.readErr)
	}
	c.replies[id] = ch
	c.mu.Unlock()
	err := c.ws.WriteJSON(map[string]any{"id": id, "method": method, "params": params})
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: connection closed before the reply", method)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	}
}

// watch enables the domains whose events the tests read: console
// messages, log entries, page loads and network failures.
func (c *cdpConn) watch(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, domain := range []string{"Runtime", "Log", "Page", "Network"} {
		if err := c.call(ctx, domain+".enable", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// screen makes the page w×h CSS pixels at scale device pixels each, as a
// phone when mobile.
func (c *cdpConn) screen(ctx context.Context, t *testing.T, w, h, scale int, mobile bool) {
	t.Helper()
	if err := c.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": w, "height": h, "deviceScaleFactor": scale, "mobile": mobile,
	}, nil); err != nil {
		t.Fatal(err)
	}
}

// mark returns the position in the event log; waitEvent looks after it.
func (c *cdpConn) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// waitEvent waits for the first event named method at or after position
// from, and returns its position.
func (c *cdpConn) waitEvent(ctx context.Context, method string, from int) (int, error) {
	for {
		c.mu.Lock()
		for i := from; i < len(c.events); i++ {
			if c.events[i].Method == method {
				c.mu.Unlock()
				return i, nil
			}
		}
		from = len(c.events)
		changed, err := c.changed, c.readErr
		c.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("waiting for %s: %w", method, err)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		case <-changed:
		}
	}
}

// eventsNamed returns the params of every logged event named method.
func (c *cdpConn) eventsNamed(method string) []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []json.RawMessage
	for _, e := range c.events {
		if e.Method == method {
			out = append(out, e.Params)
		}
	}
	return out
}

// eval evaluates a JavaScript expression in the page and decodes its
// value (returned by value, so objects arrive as JSON) into out.
func (c *cdpConn) eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := c.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("evaluate %q: %s", expr, r.Exception.Text)
	}
	if len(r.Result.Value) == 0 {
		return errors.New("evaluate " + strconv.Quote(expr) + ": no value")
	}
	return json.Unmarshal(r.Result.Value, out)
}
