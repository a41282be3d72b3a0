package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camagent/camagent/config"
)

func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		name             string
		cameras, current int
		want             int
	}{
		{"no cameras", 0, 4, 1},
		{"one camera", 1, 4, 1},
		{"a full P", 16, 4, 1},
		{"one over", 17, 4, 2},
		{"many cameras, few cpus", 100, 2, 2},
		{"many cameras, many cpus", 64, 8, 4},
		{"single cpu", 40, 1, 1},
	} {
		if got := procsFor(c.cameras, c.current); got != c.want {
			t.Errorf("%s: procsFor(%d, %d) = %d, want %d", c.name, c.cameras, c.current, got, c.want)
		}
	}
}

// TestTuneProcsKeepsExplicitSetting: GOMAXPROCS from the environment wins.
func TestTuneProcsKeepsExplicitSetting(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	runtime.GOMAXPROCS(3)
	t.Setenv("GOMAXPROCS", "3")
	tuneProcs(1, zap.NewNop())
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("GOMAXPROCS=3 in the environment, tuneProcs set %d", got)
	}
	os.Unsetenv("GOMAXPROCS")
	tuneProcs(1, zap.NewNop())
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("one camera: GOMAXPROCS %d, want 1", got)
	}
	// A reload that adds cameras raises it again, up to the default.
	tuneProcs(10*camerasPerProc, zap.NewNop())
	if got, want := runtime.GOMAXPROCS(0), min(defaultProcs, 10); got != want {
		t.Fatalf("%d cameras: GOMAXPROCS %d, want %d", 10*camerasPerProc, got, want)
	}
}

// TestRunAppliesMemoryLimit: the daemon runs with memory_limit's default,
// takes a changed value on reload, and off lifts the limit.
func TestRunAppliesMemoryLimit(t *testing.T) {
	defer func(d time.Duration) { watchInterval = d }(watchInterval)
	watchInterval = 20 * time.Millisecond
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "")

	s := startReloadSims(t)
	s.write(t, "lobby")
	base, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	logs := s.run(t)
	logs.waitFor(t, `"msg":"memory limit","limit":"256MiB","from":"memory_limit"`)
	if got := debug.SetMemoryLimit(-1); got != config.DefaultMemoryLimit {
		t.Errorf("memory limit at start = %d, want the default %d", got, config.DefaultMemoryLimit)
	}
	s.waitReady(t, "lobby")

	s.writeText(t, "memory_limit: 64MiB\n"+string(base))
	logs.waitFor(t, `"limit":"64MiB"`)
	if got := debug.SetMemoryLimit(-1); got != 64<<20 {
		t.Errorf("memory limit after the reload = %d, want %d", got, 64<<20)
	}
	s.writeText(t, "memory_limit: off\n"+string(base))
	logs.waitFor(t, `"limit":"off"`)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory_limit off left the limit at %d", got)
	}
}

// TestMemoryLimitKeepsGOMEMLIMIT: GOMEMLIMIT in the environment wins over
// memory_limit, at start and on reloads, and the log says which applies.
func TestMemoryLimitKeepsGOMEMLIMIT(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(100 << 20)) // as the runtime read it
	t.Setenv("GOMEMLIMIT", "100MiB")
	core, logs := observer.New(zapcore.InfoLevel)
	tuneMemoryLimit(64<<20, true, zap.New(core))
	tuneMemoryLimit(config.DefaultMemoryLimit, false, zap.New(core))
	if got := debug.SetMemoryLimit(-1); got != 100<<20 {
		t.Errorf("GOMEMLIMIT=100MiB, memory limit %d", got)
	}
	if es := logs.All(); len(es) != 1 || es[0].ContextMap()["from"] != "GOMEMLIMIT" || es[0].ContextMap()["limit"] != "100MiB" {
		t.Errorf("logs %v, want one line naming GOMEMLIMIT", es)
	}
}
