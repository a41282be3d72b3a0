package rtspsim

import (
	"bufio"
	_ "embed" // the script travels with the package, so tests of any package can run it
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gstScript runs GStreamer's RTSP server (gst-rtsp-server) with a live test
// pattern and tone; see its docstring.
//
//go:embed gst-rtsp-server.py
var gstScript []byte

// What the GStreamer camera sends: H.264 main profile with a key frame every
// second, and AAC.
const (
	GStreamerWidth      = 640
	GStreamerHeight     = 360
	GStreamerFPS        = 25
	GStreamerSampleRate = 48000
	GStreamerChannels   = 1
)

// gstPython is Debian's interpreter, which sees the python3-gi package; a
// pyenv or venv python3 first on PATH usually does not.
const gstPython = "/usr/bin/python3"

// gstStartTimeout bounds how long GStreamer may take to bind its socket.
const gstStartTimeout = 20 * time.Second

// gstStopTimeout bounds how long the script may take to exit once its stdin
// closes, before it is killed.
const gstStopTimeout = 5 * time.Second

// GStreamerOptions configures StartGStreamer.
type GStreamerOptions struct {
	// Dir is a scratch directory for the script and its log; tests pass
	// t.TempDir(). Required.
	Dir string
	// Username and Password, when Username is set, put the stream behind
	// digest authentication.
	Username, Password string
}

// GStreamer is GStreamer's RTSP server run as a child process: a camera
// implementation nobody on this project wrote, for interop tests. It comes
// from Debian packages (python3-gi, gir1.2-gst-rtsp-server-1.0 and the
// gstreamer1.0-plugins-base/-good/-ugly and gstreamer1.0-libav plugins).
type GStreamer struct {
	opts    GStreamerOptions
	host    string // 127.0.0.1:<port>
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	logPath string
	exited  chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// StartGStreamer starts GStreamer's RTSP server on 127.0.0.1 and returns
// once it accepts connections. When a Debian package it needs is missing,
// the error names it. Close stops the server.
func StartGStreamer(opts GStreamerOptions) (*GStreamer, error) {
	if opts.Dir == "" {
		return nil, errors.New("start gstreamer: no scratch directory")
	}
	if _, err := os.Stat(gstPython); err != nil {
		return nil, fmt.Errorf("start gstreamer: %s missing (Debian package python3): %w", gstPython, err)
	}
	script := filepath.Join(opts.Dir, "gst-rtsp-server.py")
	if err := os.WriteFile(script, gstScript, 0o644); err != nil {
		return nil, fmt.Errorf("start gstreamer: write script: %w", err)
	}
	g := &GStreamer{opts: opts, logPath: filepath.Join(opts.Dir, "gst-rtsp-server.log"), exited: make(chan struct{})}
	logFile, err := os.Create(g.logPath)
	if err != nil {
		return nil, fmt.Errorf("start gstreamer: create log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor

	args := []string{script, "0"}
	if opts.Username != "" {
		args = append(args, opts.Username, opts.Password)
	}
	g.cmd = exec.Command(gstPython, args...)
	g.cmd.Stderr = logFile
	// The script exits when its stdin closes, and Pdeathsig kills it with
	// its parent, so it never outlives a test binary that dies early.
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if g.stdin, err = g.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start gstreamer: %w", err)
	}
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start gstreamer: %w", err)
	}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gstreamer: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		// Wait only after stdout is drained, as os/exec requires.
		_ = g.cmd.Wait()
		close(g.exited)
	}()

	fail := func(format string, a ...any) (*GStreamer, error) {
		_ = g.Close()
		return nil, fmt.Errorf("start gstreamer: "+format, a...)
	}
	select {
	case line := <-lines:
		port, ok := strings.CutPrefix(line, "listening ")
		if _, err := strconv.Atoi(port); !ok || err != nil {
			return fail("server said %q, want \"listening <port>\"", line)
		}
		g.host = "127.0.0.1:" + port
		return g, nil
	case <-g.exited:
		// The script names the missing Debian package on stderr.
		return fail("server exited at start: %s", strings.TrimSpace(g.Log()))
	case <-time.After(gstStartTimeout):
		return fail("server did not listen within %v: %s", gstStartTimeout, strings.TrimSpace(g.Log()))
	}
}

// URL is the stream address without credentials, e.g.
// rtsp://127.0.0.1:41234/stream.
func (g *GStreamer) URL() string {
	return (&url.URL{Scheme: "rtsp", Host: g.host, Path: "/stream"}).String()
}

// URLWithCredentials is URL with the configured username and password in
// it, the way a camera is usually given to the agent.
func (g *GStreamer) URLWithCredentials() string {
	u := url.URL{Scheme: "rtsp", Host: g.host, Path: "/stream"}
	if g.opts.Username != "" {
		u.User = url.UserPassword(g.opts.Username, g.opts.Password)
	}
	return u.String()
}

// Log is what the server wrote to stderr so far, for failure messages.
func (g *GStreamer) Log() string {
	b, _ := os.ReadFile(g.logPath)
	return string(b)
}

// Close stops the server: it closes its stdin and kills it if it has not
// exited within 5 s. Calling Close again returns the first result.
func (g *GStreamer) Close() error {
	g.closeOnce.Do(func() {
		g.stdin.Close()
		select {
		case <-g.exited:
		case <-time.After(gstStopTimeout):
			_ = g.cmd.Process.Kill()
			<-g.exited
			g.closeErr = fmt.Errorf("gstreamer did not exit within %v of stdin closing; killed", gstStopTimeout)
		}
	})
	return g.closeErr
}
