package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// module writes a Go module with the given files into a new directory
// and makes it the current one.
func module(t *testing.T, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

// goTool is the go command that runs this test; "go" from PATH when the
// test binary does not know its GOROOT (built with -trimpath).
func goTool() string {
	if root := runtime.GOROOT(); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// syncBuffer is a buffer for output written by two goroutines; onWrite,
// when set, sees everything written so far after each write.
type syncBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	onWrite func(string)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if s.onWrite != nil {
		s.onWrite(s.b.String())
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFailingRun: every package's closing line is go test's own, a failed
// test's output is shown (a passing test's is not), a build failure is
// shown, the closing lines count the tests and end in FAIL, and the exit
// code is go test's.
func TestFailingRun(t *testing.T) {
	module(t, map[string]string{
		"good/good.go": "package good\n",
		"good/good_test.go": `package good

import "testing"

func TestOne(t *testing.T) { t.Log("quiet when passing") }

func TestTwo(t *testing.T) {
	t.Run("sub", func(t *testing.T) {})
}

func TestSkipped(t *testing.T) { t.Skip("not here") }
`,
		"bad/bad_test.go": `package bad

import "testing"

func TestBad(t *testing.T) {
	t.Run("sub", func(t *testing.T) { t.Error("boom") })
}
`,
		"none/none.go":     "package none\n",
		"broken/broken.go": "package broken\n\nvar x = nope\n",
		"broken/broken_test.go": `package broken

import "testing"

func TestX(t *testing.T) {}
`,
	})
	var stdout, stderr syncBuffer
	code := run([]string{goTool(), "test", "-count=1", "./..."}, &stdout, &stderr, time.Hour)
	out := stdout.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr.String())
	if code != 1 {
		t.Errorf("exit code %d, want go test's 1", code)
	}
	for _, want := range []string{
		"ok  \texample.com/m/good\t",
		"?   \texample.com/m/none\t[no test files]\n",
		"--- FAIL: TestBad/sub", "bad_test.go:6: boom\n", "--- FAIL: TestBad (",
		"FAIL\texample.com/m/bad\t",
		"undefined: nope", "FAIL\texample.com/m/broken [build failed]\n",
		"4 packages in ", ": 1 ok, 2 failed, 1 without tests (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, unwanted := range []string{"quiet when passing", "=== RUN", "--- PASS", "\nPASS\n"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("output has %q, which go test shows only with -v", unwanted)
		}
	}
	if !strings.HasSuffix(out, "\ntests: 2 passed, 1 failed, 1 skipped\nFAIL\n") {
		t.Errorf("output does not close with the test count and FAIL")
	}
	if !strings.Contains(stderr.String(), "... "+goTool()+" test -count=1 ./...: each package is listed as it finishes\n") {
		t.Errorf("stderr does not say at once what is being run")
	}
}

// TestProgressWhileQuiet: while a package's tests run and nothing is
// printed, a progress line names it; a passing run exits 0 and closes on
// its ok line and the count. The test blocks until the progress line
// appeared, so no timing is assumed.
func TestProgressWhileQuiet(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "seen")
	module(t, map[string]string{
		"slow/slow_test.go": `package slow

import (
	"os"
	"testing"
	"time"
)

func TestWaitsForProgress(t *testing.T) {
	for {
		if _, err := os.Stat(` + "`" + marker + "`" + `); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
`,
	})
	var stdout syncBuffer
	var once sync.Once
	stderr := syncBuffer{onWrite: func(s string) {
		if strings.Contains(s, "; testing example.com/m/slow (") {
			once.Do(func() { _ = os.WriteFile(marker, nil, 0o644) })
		}
	}}
	code := run([]string{goTool(), "test", "-count=1", "-timeout=2m", "./..."}, &stdout, &stderr, 50*time.Millisecond)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "0 packages done; testing example.com/m/slow (") {
		t.Errorf("no progress line named the running package")
	}
	out := stdout.String()
	if !strings.Contains(out, "ok  \texample.com/m/slow\t") || !strings.HasSuffix(out, "\ntests: 1 passed, 0 failed, 0 skipped\n") {
		t.Errorf("output does not close with the ok line and the count")
	}
}
