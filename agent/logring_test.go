package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camagent/camagent/config"
)

// ringLogger is a logger teed into a JSON stderr stand-in and ring, as
// main builds it.
func ringLogger(ring *LogRing, stderr *bytes.Buffer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	return zap.New(zapcore.NewTee(
		zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(stderr)), zapcore.DebugLevel),
		ring.Core(zapcore.NewJSONEncoder(enc), zapcore.InfoLevel),
	))
}

func TestLogRingPerCamera(t *testing.T) {
	ring := NewLogRing(0, 0)
	var stderr bytes.Buffer
	log := ringLogger(ring, &stderr)
	front := log.Named("camera").With(zap.String("camera", "front"))
	back := log.Named("camera").With(zap.String("camera", "back"))
	log.Info("agent starting")
	front.Info("camera registered in cloud", zap.Int64("cam_id", 1))
	back.Info("camera registered in cloud", zap.Int64("cam_id", 2))
	front.Named("onvif").Warn("onvif slow")
	log.Info("camera restarted", zap.String("camera", "back")) // field on the entry, not the logger
	front.Debug("below the ring's level")

	got := string(ring.Text("front"))
	for _, want := range []string{`"msg":"agent starting"`, `"msg":"camera registered in cloud","camera":"front","cam_id":1`, `"msg":"onvif slow"`} {
		if !strings.Contains(got, want) {
			t.Errorf("front's log lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "back") || strings.Contains(got, "below the ring") {
		t.Errorf("front's log holds another camera's or a debug line:\n%s", got)
	}
	if n := strings.Count(got, "\n"); n != 3 {
		t.Errorf("front's log has %d lines, want 3", n)
	}
	back0 := string(ring.Text("back"))
	if strings.Contains(back0, "front") || strings.Count(back0, "\n") != 3 {
		t.Errorf("back's log:\n%s", back0)
	}
	// The lines are stderr's lines, byte for byte.
	for _, line := range strings.SplitAfter(got, "\n") {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("ring line %q is not on stderr", line)
		}
	}
}

func TestLogRingBounds(t *testing.T) {
	line := func(i int) []byte { return fmt.Appendf(nil, "line %02d\n", i) } // 8 bytes
	t.Run("lines", func(t *testing.T) {
		ring := NewLogRing(3, 1000)
		for i := range 5 {
			ring.add("", line(i))
		}
		if got := string(ring.Text("")); got != "line 02\nline 03\nline 04\n" {
			t.Errorf("kept %q", got)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		ring := NewLogRing(100, 20)
		for i := range 5 {
			ring.add("", line(i))
		}
		if got := string(ring.Text("")); got != "line 03\nline 04\n" {
			t.Errorf("kept %q", got)
		}
	})
	t.Run("one huge line", func(t *testing.T) {
		ring := NewLogRing(10, 20)
		ring.add("", line(0))
		ring.add("", bytes.Repeat([]byte("x"), 50))
		if got := string(ring.Text("")); got != strings.Repeat("x", 20) {
			t.Errorf("kept %q", got)
		}
		ring.add("", line(1))
		if got := string(ring.Text("")); got != "line 01\n" {
			t.Errorf("after the huge line kept %q", got)
		}
	})
}

// A full ring takes a line without allocating: it reuses the evicted
// line's buffer.
func TestLogRingSteadyStateAllocs(t *testing.T) {
	ring := NewLogRing(64, 1<<20)
	l := []byte(`{"level":"info","msg":"stream reconnected","camera":"front"}` + "\n")
	for range 128 {
		ring.add("front", l)
	}
	if n := testing.AllocsPerRun(1000, func() { ring.add("front", l) }); n != 0 {
		t.Errorf("%v allocations per line", n)
	}
}

// Secrets are redacted by their type wherever a line goes: the ring shows
// what stderr shows.
func TestLogRingSecretsRedacted(t *testing.T) {
	ring := NewLogRing(0, 0)
	var stderr bytes.Buffer
	log := ringLogger(ring, &stderr).With(zap.String("camera", "front"))
	pw := config.NewSecret("hunter2-Passw0rd")
	log.Info("any", zap.Any("password", pw))
	log.Info("stringer", zap.Stringer("password", pw))
	log.Info("reflect", zap.Reflect("onvif", struct{ Password config.Secret }{pw}))
	log.Info("sprintf", zap.String("what", fmt.Sprintf("%v %s %+v", pw, pw, pw)))
	got := string(ring.Text("front"))
	if strings.Count(got, "\n") != 4 {
		t.Fatalf("ring holds:\n%s", got)
	}
	if strings.Contains(got, "hunter2") || strings.Contains(stderr.String(), "hunter2") {
		t.Errorf("the secret reached a log line:\n%s", got)
	}
}

func TestLogRingConcurrent(t *testing.T) {
	ring := NewLogRing(50, 0)
	var stderr bytes.Buffer
	log := ringLogger(ring, &stderr)
	var wg sync.WaitGroup
	for i := range 4 {
		l := log.With(zap.String("camera", fmt.Sprint("cam", i)))
		wg.Go(func() {
			for range 200 {
				l.Info("tick")
			}
		})
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		for _, line := range strings.SplitAfter(string(ring.Text(fmt.Sprint("cam", i))), "\n") {
			if line == "" {
				continue
			}
			total++
			if !json.Valid([]byte(line)) || !strings.Contains(line, fmt.Sprintf(`"camera":"cam%d"`, i)) {
				t.Errorf("cam%d has line %q", i, line)
			}
		}
	}
	if total != 50 {
		t.Errorf("ring holds %d lines, want its bound 50", total)
	}
}
