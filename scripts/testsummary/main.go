// Command testsummary runs go test with -json and prints what a person
// waiting for it wants to see: each package's closing line (ok …, FAIL …)
// as soon as that package finishes, the output of every failed test, a
// progress line when nothing was printed for a while (a cold -race build
// of the suite takes minutes before the first test runs), and a closing
// count of the tests. It exits with go test's exit code.
//
//	go run ./scripts/testsummary go test -race -count=1 ./...
//
// The closing lines are go test's own ("ok  \tpkg\t1.2s", "FAIL\tpkg
// 3.4s", a final "FAIL"), so tools that read go test's output still find
// them; progress goes to stderr.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// quiet is how long nothing may be printed before a progress line.
const quiet = 20 * time.Second

func main() {
	if len(os.Args) < 3 || os.Args[2] != "test" {
		fmt.Fprintln(os.Stderr, "usage: testsummary GO test [flags] [packages]")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, quiet))
}

// run runs the go test command line args (with -json added after "test")
// and returns its exit code.
func run(args []string, stdout, stderr io.Writer, every time.Duration) int {
	cmd := exec.Command(args[0], append([]string{"test", "-json"}, args[2:]...)...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	// Ctrl-C reaches go test too (same process group): let it end the
	// run and report, then exit with its code.
	signal.Ignore(syscall.SIGINT)
	s := newSummary(stdout, stderr, time.Now())
	intro := strings.Join(args, " ") + ": each package is listed as it finishes"
	if slices.Contains(args, "-race") {
		intro += "; the first run compiles every test binary with the race detector, which takes a few minutes"
	}
	s.say(intro)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	done := make(chan struct{})
	go s.heartbeat(every, done)
	readErr := s.read(out)
	waitErr := cmd.Wait()
	close(done)
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(waitErr, &exit):
		code = exit.ExitCode()
	case waitErr != nil:
		fmt.Fprintln(stderr, "testsummary:", waitErr)
		code = 1
	}
	if readErr != nil {
		fmt.Fprintln(stderr, "testsummary: reading go test's output:", readErr)
		code = max(code, 1)
	}
	if code == 0 && s.failed() {
		code = 1 // cannot happen with go test; never hide a failure
	}
	s.close(code != 0)
	return code
}

// event is one line of go test -json (cmd/test2json), build events included.
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Output     string
}

// summary follows the events; its methods are safe for the reader and the
// heartbeat goroutines.
type summary struct {
	stdout, stderr io.Writer
	start          time.Time

	mu       sync.Mutex
	lastSaid time.Time
	running  map[string]time.Time // package → when its tests started
	// output holds each package's lines in order, its running tests'
	// and its own (test ""): a test's are printed only if it fails, as
	// go test does without -v.
	output           map[string][]line
	pkgOK, pkgFail   []string
	pkgNoTests       int
	passed, failures int
	skipped          int
}

// line is one line of output and the test that wrote it.
type line struct{ test, text string }

// of says whether l belongs to test or one of its subtests.
func (l line) of(test string) bool {
	return l.test == test || strings.HasPrefix(l.test, test+"/")
}

func newSummary(stdout, stderr io.Writer, start time.Time) *summary {
	return &summary{stdout: stdout, stderr: stderr, start: start, lastSaid: start,
		running: map[string]time.Time{}, output: map[string][]line{}}
}

// read applies every event of r until it ends.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			s.print(sc.Text() + "\n") // not an event: pass it on
			continue
		}
		s.apply(e)
	}
	return sc.Err()
}

func (s *summary) apply(e event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Action {
	case "build-output":
		s.printLocked(e.Output)
		return
	case "start":
		s.running[e.Package] = time.Now()
		return
	case "output":
		if strings.HasPrefix(e.Output, "=== ") {
			return // RUN, PAUSE, CONT: only -v shows them
		}
		s.output[e.Package] = append(s.output[e.Package], line{e.Test, e.Output})
		return
	}
	if e.Test != "" {
		s.testEnded(e)
		return
	}
	switch e.Action {
	case "pass", "fail", "skip":
		s.packageEnded(e)
	}
}

// testEnded counts a top-level test and prints a failed test's output,
// its subtests' included; the lines of a test that passed are dropped.
func (s *summary) testEnded(e event) {
	top := !strings.Contains(e.Test, "/")
	switch e.Action {
	case "pass":
		if top {
			s.passed++
		}
	case "skip":
		if top {
			s.skipped++
		}
	case "fail":
		if top {
			s.failures++
		}
	default:
		return
	}
	var b strings.Builder
	keep := s.output[e.Package][:0]
	for _, l := range s.output[e.Package] {
		switch {
		case !l.of(e.Test):
			keep = append(keep, l)
		case e.Action == "fail":
			b.WriteString(l.text)
		}
	}
	s.output[e.Package] = keep
	s.printLocked(b.String())
}

// packageEnded prints the package's own lines: the closing ok line of a
// package that passed; of one that failed everything left, the output of
// tests that were running when it crashed or timed out included.
func (s *summary) packageEnded(e event) {
	delete(s.running, e.Package)
	lines := s.output[e.Package]
	delete(s.output, e.Package)
	var b strings.Builder
	for _, l := range lines {
		if e.Action != "fail" && (l.test != "" || l.text == "PASS\n" || l.text == "testing: warning: no tests to run\n") {
			continue
		}
		b.WriteString(l.text)
	}
	s.printLocked(b.String())
	switch {
	case e.Action == "fail":
		s.pkgFail = append(s.pkgFail, e.Package)
	case e.Action == "skip":
		s.pkgNoTests++
	default:
		s.pkgOK = append(s.pkgOK, e.Package)
	}
}

func (s *summary) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pkgFail) > 0 || s.failures > 0
}

// heartbeat says what is going on whenever nothing was printed for every.
func (s *summary) heartbeat(every time.Duration, done <-chan struct{}) {
	t := time.NewTicker(every / 4)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.mu.Lock()
			if now.Sub(s.lastSaid) >= every {
				s.sayLocked(s.progress(now))
			}
			s.mu.Unlock()
		}
	}
}

// progress says how far the run is, e.g. "1m20s: 3 packages done;
// testing agent (1m5s)"; s.mu held.
func (s *summary) progress(now time.Time) string {
	done := len(s.pkgOK) + len(s.pkgFail) + s.pkgNoTests
	line := fmt.Sprintf("%s: %d package%s done", now.Sub(s.start).Round(time.Second), done, plural(done))
	if len(s.running) == 0 {
		return line + "; building test binaries"
	}
	var names []string
	for pkg, since := range s.running {
		names = append(names, fmt.Sprintf("%s (%s)", short(pkg), now.Sub(since).Round(time.Second)))
	}
	slices.Sort(names)
	return line + "; testing " + strings.Join(names, ", ")
}

// close prints the closing lines: which packages failed, the count of
// tests, and go test's final FAIL when the run failed.
func (s *summary) close(failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.pkgOK) + len(s.pkgFail) + s.pkgNoTests
	line := fmt.Sprintf("%d package%s in %s: %d ok, %d failed, %d without tests",
		n, plural(n), time.Since(s.start).Round(time.Second), len(s.pkgOK), len(s.pkgFail), s.pkgNoTests)
	if len(s.pkgFail) > 0 {
		line += " (" + strings.Join(s.pkgFail, ", ") + ")"
	}
	s.printLocked(line + "\n")
	s.printLocked(fmt.Sprintf("tests: %d passed, %d failed, %d skipped\n", s.passed, s.failures, s.skipped))
	if failed {
		s.printLocked("FAIL\n")
	}
}

func (s *summary) print(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.printLocked(text)
}

func (s *summary) printLocked(text string) {
	if text == "" {
		return
	}
	io.WriteString(s.stdout, text)
	s.lastSaid = time.Now()
}

// say writes a progress line to stderr.
func (s *summary) say(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sayLocked(line)
}

func (s *summary) sayLocked(line string) {
	fmt.Fprintln(s.stderr, "... "+line)
	s.lastSaid = time.Now()
}

// short drops the module path from a package's import path.
func short(pkg string) string {
	if i := strings.Index(pkg, "/camagent/"); i >= 0 {
		return pkg[i+len("/camagent/"):]
	}
	return pkg
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
