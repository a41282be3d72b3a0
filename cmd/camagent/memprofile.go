//go:build memprofile

package main

// A debug-only memory dump for the benchmark (agent/bench_test.go,
// CAMAGENT_BENCH_MEMPROFILE): built with -tags memprofile, and with
// CAMAGENT_MEMPROFILE=PREFIX set, the agent writes on each SIGUSR1 its heap
// profile to PREFIX.heap (go tool pprof), every runtime/metrics value to
// PREFIX.metrics and its goroutines by stack to PREFIX.goroutines. Release
// builds link none of this.

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
)

func init() {
	prefix := os.Getenv("CAMAGENT_MEMPROFILE")
	if prefix == "" {
		return
	}
	// Finer than the default 512 KiB, for a live heap of a few MiB.
	runtime.MemProfileRate = 16 << 10
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		for range sig {
			if err := dumpMemory(prefix); err != nil {
				fmt.Fprintln(os.Stderr, "camagent: memprofile:", err)
			}
		}
	}()
}

func dumpMemory(prefix string) error {
	// The metrics first: writing the profile allocates.
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i, d := range descs {
		samples[i].Name = d.Name
	}
	metrics.Read(samples)
	f, err := os.Create(prefix + ".metrics.tmp")
	if err != nil {
		return err
	}
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(f, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(f, "%s %g\n", s.Name, s.Value.Float64())
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	g, err := os.Create(prefix + ".goroutines")
	if err != nil {
		return err
	}
	if err := pprof.Lookup("goroutine").WriteTo(g, 1); err != nil {
		g.Close()
		return err
	}
	if err := g.Close(); err != nil {
		return err
	}
	h, err := os.Create(prefix + ".heap.tmp")
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(h, 0); err != nil {
		h.Close()
		return err
	}
	if err := h.Close(); err != nil {
		return err
	}
	// The benchmark waits for the .heap file: it appears whole and last.
	if err := os.Rename(prefix+".metrics.tmp", prefix+".metrics"); err != nil {
		return err
	}
	return os.Rename(prefix+".heap.tmp", prefix+".heap")
}
