package agent

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The go_* and process_* metrics client_golang's Go and process collectors
// exported (v1.25 defaults), same names, help, types and sources, so
// dashboards built on them keep working.

// goMemStat is one go_memstats_* gauge or counter derived from
// runtime/metrics as client_golang derives them (no stop-the-world
// runtime.ReadMemStats).
type goMemStat struct {
	d   *metricDesc
	sum []string // runtime/metrics names added up
}

// runtimeCollector exports the Go runtime and the process.
type runtimeCollector struct {
	goroutines, threads, gcDuration, lastGC, goInfo *metricDesc
	memStats                                        []goMemStat
	rm                                              []*metricDesc // go_gc_gogc_percent …, in runtimeGauges' order
	rmIndex                                         map[string]int

	mu        sync.Mutex // scrapes may run at once
	rmSamples []metrics.Sample

	cpu, openFDs, maxFDs, vsize, maxVsize, rss, start, netIn, netOut *metricDesc
}

// runtimeGauges are the runtime/metrics client_golang exports by default,
// under its names; the help is the runtime's description.
var runtimeGauges = []struct{ name, rm string }{
	{"go_gc_gogc_percent", "/gc/gogc:percent"},
	{"go_gc_gomemlimit_bytes", "/gc/gomemlimit:bytes"},
	{"go_sched_gomaxprocs_threads", "/sched/gomaxprocs:threads"},
}

func newRuntimeCollector() *runtimeCollector {
	g := func(name, help string) *metricDesc { return newDesc(name, "gauge", help) }
	c := func(name, help string) *metricDesc { return newDesc(name, "counter", help) }
	rc := &runtimeCollector{
		goroutines: g("go_goroutines", "Number of goroutines that currently exist."),
		threads:    g("go_threads", "Number of OS threads created."),
		gcDuration: newDesc("go_gc_duration_seconds", "summary", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."),
		lastGC:     g("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection."),
		goInfo:     newDesc("go_info", "gauge", "Information about the Go environment.", "version"),

		cpu:      c("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
		openFDs:  g("process_open_fds", "Number of open file descriptors."),
		maxFDs:   g("process_max_fds", "Maximum number of open file descriptors."),
		vsize:    g("process_virtual_memory_bytes", "Virtual memory size in bytes."),
		maxVsize: g("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes."),
		rss:      g("process_resident_memory_bytes", "Resident memory size in bytes."),
		start:    g("process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
		netIn:    c("process_network_receive_bytes_total", "Number of bytes received by the process over the network."),
		netOut:   c("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network."),
		rmIndex:  map[string]int{},
	}
	const (
		tiny       = "/gc/heap/tiny/allocs:objects"
		heapObj    = "/memory/classes/heap/objects:bytes"
		heapUnused = "/memory/classes/heap/unused:bytes"
		heapRel    = "/memory/classes/heap/released:bytes"
		heapFree   = "/memory/classes/heap/free:bytes"
		stacks     = "/memory/classes/heap/stacks:bytes"
		mspan      = "/memory/classes/metadata/mspan/inuse:bytes"
		mcache     = "/memory/classes/metadata/mcache/inuse:bytes"
	)
	ms := func(name, typ, help string, sum ...string) goMemStat {
		return goMemStat{d: newDesc("go_memstats_"+name, typ, help), sum: sum}
	}
	rc.memStats = []goMemStat{
		ms("alloc_bytes", "gauge", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", heapObj),
		ms("alloc_bytes_total", "counter", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", "/gc/heap/allocs:bytes"),
		ms("sys_bytes", "gauge", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", "/memory/classes/total:bytes"),
		ms("mallocs_total", "counter", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", "/gc/heap/allocs:objects", tiny),
		ms("frees_total", "counter", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", "/gc/heap/frees:objects", tiny),
		ms("heap_alloc_bytes", "gauge", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", heapObj),
		ms("heap_sys_bytes", "gauge", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", heapObj, heapUnused, heapRel, heapFree),
		ms("heap_idle_bytes", "gauge", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", heapRel, heapFree),
		ms("heap_inuse_bytes", "gauge", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", heapObj, heapUnused),
		ms("heap_released_bytes", "gauge", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", heapRel),
		ms("heap_objects", "gauge", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", "/gc/heap/objects:objects"),
		ms("stack_inuse_bytes", "gauge", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", stacks),
		ms("stack_sys_bytes", "gauge", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", stacks, "/memory/classes/os-stacks:bytes"),
		ms("mspan_inuse_bytes", "gauge", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", mspan),
		ms("mspan_sys_bytes", "gauge", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", mspan, "/memory/classes/metadata/mspan/free:bytes"),
		ms("mcache_inuse_bytes", "gauge", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", mcache),
		ms("mcache_sys_bytes", "gauge", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", mcache, "/memory/classes/metadata/mcache/free:bytes"),
		ms("buck_hash_sys_bytes", "gauge", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", "/memory/classes/profiling/buckets:bytes"),
		ms("gc_sys_bytes", "gauge", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", "/memory/classes/metadata/other:bytes"),
		ms("other_sys_bytes", "gauge", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", "/memory/classes/other:bytes"),
		ms("next_gc_bytes", "gauge", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", "/gc/heap/goal:bytes"),
	}
	known := map[string]string{}
	for _, d := range metrics.All() {
		known[d.Name] = d.Description
	}
	sample := func(name string) {
		if _, ok := rc.rmIndex[name]; !ok && known[name] != "" {
			rc.rmIndex[name] = len(rc.rmSamples)
			rc.rmSamples = append(rc.rmSamples, metrics.Sample{Name: name})
		}
	}
	for _, r := range runtimeGauges {
		if desc, ok := known[r.rm]; ok {
			rc.rm = append(rc.rm, g(r.name, desc+" Sourced from "+r.rm+"."))
			sample(r.rm)
		}
	}
	for _, m := range rc.memStats {
		for _, name := range m.sum {
			sample(name)
		}
	}
	return rc
}

func (rc *runtimeCollector) collect(e *exposition) {
	e.add(rc.goroutines, float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	e.add(rc.threads, float64(threads))
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	qs := make([]quantile, len(gc.PauseQuantiles))
	for i, p := range gc.PauseQuantiles {
		qs[i] = quantile{float64(i) / float64(len(gc.PauseQuantiles)-1), p.Seconds()}
	}
	e.summary(rc.gcDuration, qs, gc.PauseTotal.Seconds(), float64(gc.NumGC))
	e.add(rc.lastGC, float64(gc.LastGC.UnixNano())/1e9)
	e.add(rc.goInfo, 1, runtime.Version())

	rc.mu.Lock()
	defer rc.mu.Unlock()
	metrics.Read(rc.rmSamples)
	value := func(name string) float64 {
		i, ok := rc.rmIndex[name]
		if !ok {
			return 0
		}
		switch v := rc.rmSamples[i].Value; v.Kind() {
		case metrics.KindUint64:
			return float64(v.Uint64())
		case metrics.KindFloat64:
			return v.Float64()
		}
		return 0
	}
	for i, d := range rc.rm {
		e.add(d, value(runtimeGauges[i].rm))
	}
	for _, m := range rc.memStats {
		var sum uint64 // added as integers, as client_golang does, before the float
		for _, name := range m.sum {
			if i, ok := rc.rmIndex[name]; ok && rc.rmSamples[i].Value.Kind() == metrics.KindUint64 {
				sum += rc.rmSamples[i].Value.Uint64()
			}
		}
		e.add(m.d, float64(sum))
	}
	rc.collectProcess(e)
}

// userHZ is the kernel's clock tick for /proc times (fixed at 100 for
// userspace on Linux).
const userHZ = 100

// collectProcess reads /proc; what cannot be read (another OS, a sandbox
// such as ProcSubset=pid hiding /proc/stat) is left out, as client_golang did.
func (rc *runtimeCollector) collectProcess(e *exposition) {
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command, which is in parentheses and may hold spaces.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			f := strings.Fields(string(stat[i+1:]))
			field := func(n int) float64 { // n as numbered in proc(5)
				if n-3 >= len(f) {
					return 0
				}
				v, _ := strconv.ParseUint(f[n-3], 10, 64)
				return float64(v)
			}
			e.add(rc.cpu, (field(14)+field(15))/userHZ)
			e.add(rc.vsize, field(23))
			e.add(rc.rss, field(24)*float64(os.Getpagesize()))
			if boot, ok := bootTime(); ok {
				e.add(rc.start, boot+field(22)/userHZ)
			}
		}
	}
	if n, ok := openFDs(); ok {
		e.add(rc.openFDs, n)
	}
	if limits, err := os.ReadFile("/proc/self/limits"); err == nil {
		e.add(rc.maxFDs, procLimit(string(limits), "Max open files"))
		e.add(rc.maxVsize, procLimit(string(limits), "Max address space"))
	}
	if netstat, err := os.ReadFile("/proc/self/net/netstat"); err == nil {
		in, out := ipExtOctets(string(netstat))
		e.add(rc.netIn, in)
		e.add(rc.netOut, out)
	}
}

func bootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			t, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return float64(t), err == nil
		}
	}
	return 0, false
}

func openFDs() (float64, bool) {
	// Linux 6.2+ gives the count as the directory's size.
	if st, err := os.Stat("/proc/self/fd"); err == nil && st.Size() > 0 {
		return float64(st.Size()), true
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return float64(len(names)), err == nil
}

// procLimit is a soft limit from /proc/self/limits; unlimited is the
// largest uint64, as procfs reports it.
func procLimit(limits, name string) float64 {
	for line := range strings.Lines(limits) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			if f[0] == "unlimited" {
				return math.MaxUint64
			}
			v, _ := strconv.ParseUint(f[0], 10, 64)
			return float64(v)
		}
	}
	return 0
}

// ipExtOctets are InOctets and OutOctets of the IpExt lines of
// /proc/self/net/netstat (a header line of names, then one of values).
func ipExtOctets(netstat string) (in, out float64) {
	var names []string
	for line := range strings.Lines(netstat) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "IpExt:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i := 1; i < len(f) && i < len(names); i++ {
			v, _ := strconv.ParseFloat(f[i], 64)
			switch names[i] {
			case "InOctets":
				in = v
			case "OutOctets":
				out = v
			}
		}
		return in, out
	}
	return 0, 0
}
