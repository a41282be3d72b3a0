package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
)

// camerasPerProc is how many cameras one Go P (a thread running Go code at
// a time) serves. The agent's per-frame work is small and wake-up bound:
// each RTP burst and each frame for the publisher readies a goroutine, and
// with idle Ps the runtime wakes a spinning thread for it, which costs more
// context switches than the work itself. On a 2-core x86 VM, 16 cameras
// (1080p25, 4 Mbit/s, RTSP in, RTMP out) used 0.08 of a core with one P
// against 0.10 with two, 0.73-0.77 against 0.80-0.92 of ffmpeg's CPU (make
// bench); 16 cameras is also well under a core on a Raspberry Pi 4.
const camerasPerProc = 16

// procsFor is the GOMAXPROCS for cameras on a machine whose default is
// def: one P per camerasPerProc cameras, never more than the default.
func procsFor(cameras, def int) int {
	return max(1, min(def, (cameras+camerasPerProc-1)/camerasPerProc))
}

// defaultProcs is the runtime's own GOMAXPROCS (CPUs, or the cgroup's CPU
// limit), read before tuneProcs changes it, so a reload that adds cameras
// can raise it again.
var defaultProcs = runtime.GOMAXPROCS(0)

// tuneProcs sets GOMAXPROCS for the configured cameras, at start and after
// each applied reload, unless the GOMAXPROCS environment variable chose it.
func tuneProcs(cameras int, log *zap.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	n := procsFor(cameras, defaultProcs)
	if cur := runtime.GOMAXPROCS(0); n != cur {
		runtime.GOMAXPROCS(n)
		log.Info("gomaxprocs", zap.Int("procs", n), zap.Int("cameras", cameras), zap.Int("default", defaultProcs))
	}
}

// tuneMemoryLimit sets the runtime's soft memory limit from memory_limit,
// at start and after each applied reload, unless GOMEMLIMIT in the
// environment chose it (the runtime read that itself). It logs the limit
// in force at start and when a reload changes it.
func tuneMemoryLimit(limit config.MemoryLimit, start bool, log *zap.Logger) {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		if start {
			log.Info("memory limit", zap.String("limit", env), zap.String("from", "GOMEMLIMIT"))
		}
		return
	}
	want := int64(limit)
	if limit == 0 {
		want = math.MaxInt64 // the runtime's "no limit"
	}
	if prev := debug.SetMemoryLimit(want); start || prev != want {
		log.Info("memory limit", zap.Stringer("limit", limit), zap.String("from", "memory_limit"))
	}
}
