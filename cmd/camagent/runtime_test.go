package main

import (
	"os"
	"runtime"
	"testing"

	"go.uber.org/zap"
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
