//go:build bench

package agent

// Where the agent's memory goes, for CAMAGENT_BENCH_MEMPROFILE (see
// bench_test.go): runtime/metrics and a heap profile taken by the agent
// itself on SIGUSR1 (cmd/camagent/memprofile.go), and /proc's split of
// its RSS.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// memDump is one runtime/metrics reading of the agent, by metric name.
type memDump map[string]float64

// memDump has the agent at pid write its metrics and heap profile to
// agentPrefix.{metrics,heap}, moves them to prefix-<cameras>-label.* and
// reads the metrics.
func (b *benchRun) memDump(ctx context.Context, pid int, agentPrefix, prefix, label string) memDump {
	b.t.Helper()
	_ = os.Remove(agentPrefix + ".heap")
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		b.t.Fatalf("signal the agent for a memory dump: %v", err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !fileExists(agentPrefix + ".heap") {
		select {
		case <-tick.C:
		case <-ctx.Done():
			b.t.Fatalf("no memory dump from the agent (built with -tags memprofile?): %v", ctx.Err())
		}
	}
	out := fmt.Sprintf("%s-%d-%s", prefix, b.n, label)
	for _, ext := range []string{".heap", ".metrics", ".goroutines"} {
		raw, err := os.ReadFile(agentPrefix + ext)
		if err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(out+ext, raw, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	f, err := os.Open(out + ".metrics")
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	d := memDump{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			d[name] = x
		}
	}
	return d
}

// memReport logs the allocation rate per video frame over the windows and
// the breakdown of the agent's memory at their end.
func (b *benchRun) memReport(pid int, d0, d1 memDump, videoFrames int64) {
	t := b.t
	mib := func(name string) float64 { return d1[name] / (1 << 20) }
	if videoFrames > 0 {
		objs := d1["/gc/heap/allocs:objects"] - d0["/gc/heap/allocs:objects"]
		bytes := d1["/gc/heap/allocs:bytes"] - d0["/gc/heap/allocs:bytes"]
		gcs := d1["/gc/cycles/total:gc-cycles"] - d0["/gc/cycles/total:gc-cycles"]
		t.Logf("memory: over %d video frames the agent allocated %.1f objects and %.0f bytes per video frame (audio included); %.0f GC cycles",
			videoFrames, objs/float64(videoFrames), bytes/float64(videoFrames), gcs)
	}
	rss, anon, _ := memKB(pid)
	t.Logf("memory: RSS %.1f MiB (anonymous %.1f, file/binary %.1f); runtime total %.1f MiB: heap objects %.1f (live at last GC %.1f, goal %.1f), heap unused %.1f, free %.1f, released %.1f, goroutine stacks %.1f (%.0f goroutines), OS stacks %.1f, GC/runtime metadata %.1f, other %.1f",
		float64(rss)/1024, float64(anon)/1024, float64(rss-anon)/1024,
		mib("/memory/classes/total:bytes"),
		mib("/memory/classes/heap/objects:bytes"), mib("/gc/heap/live:bytes"), mib("/gc/heap/goal:bytes"),
		mib("/memory/classes/heap/unused:bytes"), mib("/memory/classes/heap/free:bytes"), mib("/memory/classes/heap/released:bytes"),
		mib("/memory/classes/heap/stacks:bytes"), d1["/sched/goroutines:goroutines"], mib("/memory/classes/os-stacks:bytes"),
		mib("/memory/classes/metadata/mcache/inuse:bytes")+mib("/memory/classes/metadata/mcache/free:bytes")+
			mib("/memory/classes/metadata/mspan/inuse:bytes")+mib("/memory/classes/metadata/mspan/free:bytes")+
			mib("/memory/classes/metadata/other:bytes"),
		mib("/memory/classes/other:bytes")+mib("/memory/classes/profiling/buckets:bytes"))
	t.Logf("memory: RSS by mapping (KiB): %s", smapsRSS(pid))
	heap := fmt.Sprintf("%s-%d-end.heap", os.Getenv("CAMAGENT_BENCH_MEMPROFILE"), b.n)
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", "-sample_index=inuse_space", heap).CombinedOutput()
	if err != nil {
		t.Logf("go tool pprof %s: %v", heap, err)
	}
	t.Logf("memory: live heap by allocation site (%s):\n%s", heap, out)
}

// smapsRSS lists the resident KiB of pid's mappings that hold at least
// 256 KiB, by name and permissions: the binary's text (r-xp), read-only
// data and pclntab (r--p), data, and the anonymous heap and stacks.
func smapsRSS(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	var head string
	for line := range strings.Lines(string(raw)) {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			name := "anon"
			if len(f) >= 6 {
				name = f[5]
				if i := strings.LastIndexByte(name, '/'); i >= 0 {
					name = name[i+1:]
				}
			}
			head = name + " " + f[1]
			continue
		}
		if len(f) >= 2 && f[0] == "Rss:" {
			if kb, _ := strconv.Atoi(f[1]); kb >= 256 {
				out = append(out, fmt.Sprintf("%s %d", head, kb))
			}
		}
	}
	return strings.Join(out, "; ")
}
