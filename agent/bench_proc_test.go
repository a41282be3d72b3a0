//go:build bench

package agent

// What the benchmark reads of its processes and the host from /proc.

import (
	"bufio"
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cpuTime is the CPU time of a set of processes, read two ways.
type cpuTime struct {
	// sched sums every living thread's run time from schedstat, in
	// nanoseconds: precise, but a thread that exits takes its time along.
	sched time.Duration
	// ticks sums utime+stime, which keeps exited threads' time but comes
	// in clock ticks (10 ms): too coarse for one camera's 1 % over 10 s.
	ticks time.Duration
}

// since is the CPU time between c0 and c: schedstat's, unless the ticks
// say a thread exited with more than a tick of run time.
func (c cpuTime) since(c0 cpuTime) time.Duration {
	sched, ticks := c.sched-c0.sched, c.ticks-c0.ticks
	if sched > 0 && sched > ticks-20*time.Millisecond {
		return sched
	}
	return ticks
}

func (b *benchRun) cpu(pids []int) (cpuTime, error) {
	ticks, err := cpuTicks(pids)
	if err != nil {
		return cpuTime{}, err
	}
	c := cpuTime{ticks: time.Duration(float64(ticks) / b.hz * float64(time.Second))}
	for _, pid := range pids {
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				continue // the thread just exited
			}
			fs := strings.Fields(string(raw))
			if len(fs) > 0 {
				ns, _ := strconv.ParseInt(fs[0], 10, 64)
				c.sched += time.Duration(ns)
			}
		}
	}
	return c, nil
}

// cpuTicks sums utime+stime of pids (every thread, living or exited).
func cpuTicks(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, fmt.Errorf("read stat of %d: %w", pid, err)
		}
		// The command name may hold spaces and parentheses: fields start
		// after the last ')'. utime and stime are fields 14 and 15.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			return 0, fmt.Errorf("stat of %d: no ')'", pid)
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("stat of %d: %d fields", pid, len(f))
		}
		for _, s := range f[11:13] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("stat of %d: %w", pid, err)
			}
			sum += v
		}
	}
	return sum, nil
}

// contextSwitches sums voluntary and involuntary context switches over
// every thread of pids. Threads that exit in between are lost, which
// neither Go nor ffmpeg does while streaming.
func contextSwitches(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
		for _, st := range tasks {
			b, err := os.ReadFile(st)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					sum += n
				}
			}
		}
	}
	return sum
}

// resetPeakRSS sets pid's VmHWM to its current RSS (clear_refs 5, Linux
// 4.0+), so that the window's peak is read whole, not sampled.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakRSSKB returns pid's VmHWM in KiB: the largest RSS since the last
// resetPeakRSS, however short.
func peakRSSKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if fs := strings.Fields(v); len(fs) > 0 {
				return strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("status of %d: no VmHWM", pid)
}

// memKB returns VmRSS and RssAnon (heap, stacks: what is not the mapped
// binary) of pid in KiB.
func memKB(pid int) (rss, anon int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "RssAnon") {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("status of %d: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			anon = n
		}
		found++
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("status of %d: no VmRSS/RssAnon (process gone?)", pid)
	}
	return rss, anon, nil
}

// hostTicks returns busy and total jiffies of all CPUs from /proc/stat.
func hostTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 7 { // guest time is already inside user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// simDrops counts the simulated cameras' "write queue is full" lines:
// gortsplib's server logs one (with the standard logger) for each packet
// it drops because a client did not read in time, i.e. the box could not
// keep up. Other lines go on to stderr.
type simDrops struct{ n atomic.Int64 }

func (d *simDrops) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("write queue is full")) {
		d.n.Add(int64(bytes.Count(p, []byte("write queue is full"))))
		return len(p), nil
	}
	return os.Stderr.Write(p)
}

// countSimDrops routes the standard logger through a simDrops until the
// test ends.
func countSimDrops(t *testing.T) *simDrops {
	d := &simDrops{}
	prev, flags := log.Writer(), log.Flags()
	log.SetOutput(d)
	t.Cleanup(func() { log.SetOutput(prev); log.SetFlags(flags) })
	return d
}
