//go:build bench

package agent

// The end-to-end benchmark behind `make bench`: N simulated 1080p25
// ≈4 Mbit/s H.264+AAC cameras go through the real camagent binary, run as a
// child process so its CPU and memory can be measured alone, into an RTMP
// ingest. Beside it, the same cameras go through one `ffmpeg -c copy` relay
// each, the usual way of doing this job (and through go2rtc when GO2RTC
// names its binary), measured over the same windows so background load
// skews all alike. Then the agent alone records 16 cameras to disk. It
// reports numbers and never fails on them (timings are not asserted); it
// fails only when video does not flow. A camera count the machine cannot
// carry is reported as such (frames lost, latency), not failed.
//
//	go test -tags bench -run TestBench -v -count=1 -timeout 20m ./agent/
//
// (-count=1: otherwise go test may replay the table of an earlier run from
// its cache.)
//
// CAMAGENT_BENCH_CAMERAS (default "1,16,64", up to 128; none: only the
// recording row),
// CAMAGENT_BENCH_RECORDING (the recording row's cameras, default 16, 0
// for none), CAMAGENT_BENCH_WINDOW (default 10s) and CAMAGENT_BENCH_ROUNDS
// (windows per row, default 3) shorten a run while working on the
// benchmark itself; GO2RTC=/path/to/go2rtc adds go2rtc's rows;
// MINRELAY=1 adds the minimal Go relay's (bench_minrelay_test.go);
// CAMAGENT_BENCH_SOAK=30m runs the soak instead (bench_soak_test.go);
// CAMAGENT_BENCH_AGENT_ENV ("GOGC=50 GOMAXPROCS=1") adds environment
// variables to the agent only; CAMAGENT_BENCH_PERF=PREFIX records the
// agent with perf into PREFIX-<cameras>.data (and the minimal relay into
// PREFIX-minrelay-<cameras>.data).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

const (
	benchWarmup   = 3 * time.Second
	benchSample   = 250 * time.Millisecond
	benchUser     = "bench"
	benchPass     = "bench-Passw0rd"
	benchCamBase  = 320000 // cam_id of camera k is benchCamBase+k+1
	benchStreamID = "Main"
)

// benchFixture returns the 1080p25 fixture, generating it (git-ignored) on
// first use with the media package's script.
func benchFixture(t *testing.T) (video, audio string) {
	dir, err := filepath.Abs(filepath.Join("..", "media", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	video = filepath.Join(dir, "gen", "bench.h264")
	audio = filepath.Join(dir, "gen", "bench.aac")
	if fileExists(video) && fileExists(audio) {
		return video, audio
	}
	t.Logf("generating the 1080p25 fixture with %s/make-fixture.sh bench (once)", dir)
	out, err := exec.Command(filepath.Join(dir, "make-fixture.sh"), "bench").CombinedOutput()
	if err != nil {
		t.Fatalf("make-fixture.sh bench: %v\n%s", err, out)
	}
	if !fileExists(video) || !fileExists(audio) {
		t.Fatalf("make-fixture.sh bench did not produce %s and %s", video, audio)
	}
	return video, audio
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Size() > 0
}

// benchBuildAgent builds the binary the way `make build` does.
func benchBuildAgent(t *testing.T) string {
	var tags []string
	if os.Getenv("CAMAGENT_BENCH_MEMPROFILE") != "" {
		tags = append(tags, "-tags", "memprofile")
	}
	return benchBuild(t, "camagent", "./cmd/camagent", tags...)
}

// benchBuild builds the package pkg (relative to the module root) as a
// static, stripped binary named name in a temporary directory; with
// CAMAGENT_BENCH_PERF it keeps the symbol table, which perf needs.
func benchBuild(t *testing.T, name, pkg string, flags ...string) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), name)
	ldflags := "-s -w"
	if os.Getenv("CAMAGENT_BENCH_PERF") != "" {
		ldflags = ""
	}
	args := append([]string{"build", "-trimpath", "-ldflags", ldflags, "-o", bin}, flags...)
	cmd := exec.Command(goBin, append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100 // USER_HZ on every Linux architecture Go supports
}

// benchRun is one camera count: the simulated cameras and cloud, shared by
// the agent phase and the ffmpeg phase.
type benchRun struct {
	t      *testing.T
	n      int
	mode   benchMode
	window time.Duration
	rounds int
	hz     float64
	bin    string
	ffmpeg string
	video  string
	audio  string

	cams   []*rtspsim.Server
	clouds []*cloudsim.Server
	ingest *cloudsim.Ingest
	// Each camera has a tap for the agent, one for its ffmpeg relay and,
	// with go2rtc or the minimal relay, one for each.
	agentTaps, relayTaps, g2rTaps, mrTaps []*rtspTap
	lat                                   *latencyProbe
	drops                                 *simDrops
	drops0                                int64 // drops.n when the cameras started
}

func (b *benchRun) start() {
	t := b.t
	b.drops0 = b.drops.n.Load()
	b.lat = newLatencyProbe(func(stream string) string {
		switch {
		case isRelayStream(stream):
			return "ffmpeg"
		case isGo2rtcStream(stream):
			return "go2rtc"
		case isMinRelayStream(stream):
			return "minrelay"
		}
		return "agent"
	})
	for k := range b.n {
		cam := rtspsim.New(rtspsim.Options{
			Username: benchUser, Password: benchPass,
			VideoFile: b.video, AudioFile: b.audio,
		})
		if err := cam.Start(); err != nil {
			t.Fatalf("camera %d: %v", k, err)
		}
		t.Cleanup(cam.Close)
		b.cams = append(b.cams, cam)
		host := strings.TrimPrefix(cam.URL(), "rtsp://")
		host, _, _ = strings.Cut(host, "/")
		b.agentTaps = append(b.agentTaps, startTap(t, host))
		b.lat.taps[agentStreamName(k)] = b.agentTaps[k]
		if b.mode.relays {
			b.relayTaps = append(b.relayTaps, startTap(t, host))
			b.lat.taps[relayStreamName(k)] = b.relayTaps[k]
		}
		if b.mode.go2rtc != "" {
			b.g2rTaps = append(b.g2rTaps, startTap(t, host))
			b.lat.taps[go2rtcStreamName(k)] = b.g2rTaps[k]
		}
		if b.mode.minrelay != "" {
			b.mrTaps = append(b.mrTaps, startTap(t, host))
			b.lat.taps[minRelayStreamName(k)] = b.mrTaps[k]
		}
	}
	// The ingest keeps only the first frames of each publish: enough to
	// find the first key frame, without growing during the window.
	b.ingest = cloudsim.NewIngest(cloudsim.IngestOptions{MaxFrames: 200, OnFrame: b.lat.onFrame})
	if err := b.ingest.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.ingest.Close)
	for k := range b.n {
		cloud, err := cloudsim.New(cloudsim.Options{CamID: benchCamBase + int64(k) + 1, MediaServer: b.ingest.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		if err := cloud.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cloud.Close)
		b.clouds = append(b.clouds, cloud)
	}
}

// cameraURL is camera k's URL with credentials, through tap.
func (b *benchRun) cameraURL(k int, tap *rtspTap) string {
	_, path, _ := strings.Cut(strings.TrimPrefix(b.cams[k].URL(), "rtsp://"), "/")
	return "rtsp://" + benchUser + ":" + benchPass + "@" + tap.addr() + "/" + path
}

func (b *benchRun) sentFrames() int64 {
	var n int64
	for _, c := range b.cams {
		n += c.FramesSent()
	}
	return n
}

// ingestFrames sums the video frames of the ingest's publishes whose
// stream name match says are part of the phase, and counts them.
func (b *benchRun) ingestFrames(match func(stream string) bool) (frames int64, publishes int) {
	for _, p := range b.ingest.Publishes() {
		if p.Accepted && match(p.Stream) {
			frames += int64(p.VideoFrames)
			publishes++
		}
	}
	return frames, publishes
}

// config is the YAML an integrator would write for these cameras: plain
// RTSP URLs, no ONVIF, a test cloud without TLS.
func (b *benchRun) config(dir, listen string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "state_dir: %q\nlog: {level: info}\nhttp: {listen: %q}\ncloud: {insecure: true}\n",
		filepath.Join(dir, "state"), listen)
	if b.mode.recording {
		// Beside the state, as on a gateway whose recordings share its disk.
		fmt.Fprintf(&sb, "recording: {dir: %q}\n", filepath.Join(dir, "recordings"))
	}
	sb.WriteString("cameras:\n")
	for k := range b.n {
		fmt.Fprintf(&sb, "  - name: cam%02d\n    token: %q\n    rtsp: %q\n    rtsp_transport: tcp\n",
			k+1, b.clouds[k].Token(), b.cameraURL(k, b.agentTaps[k]))
		if b.mode.recording {
			sb.WriteString("    recording: {enabled: true}\n")
		}
	}
	return sb.String()
}

func agentStreamName(k int) string {
	return fmt.Sprintf("u1m1c%d_%s", benchCamBase+k+1, benchStreamID)
}

// child is a process the benchmark started and measures.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited; then err is set
	err  error
}

func startChild(t *testing.T, name, logPath string, env []string, bin string, args ...string) *child {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	c := &child{name: name, cmd: exec.Command(bin, args...), log: logPath, done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if len(env) > 0 {
		c.cmd.Env = append(os.Environ(), env...)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.stop(syscall.SIGKILL, time.Second) })
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to timeout, then kills. It returns the exit
// error, or an error saying the process had to be killed.
func (c *child) stop(sig os.Signal, timeout time.Duration) error {
	if c.exited() {
		return c.err
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not exit within %s of %v", c.name, timeout, sig)
	}
}

// perf records the profile of the agent (or another relay, by name) over
// the windows when CAMAGENT_BENCH_PERF names an output prefix
// (`perf report -i PREFIX-16.data`). It returns the function that stops
// perf.
func (b *benchRun) perf(name string, pid int) func() {
	prefix := os.Getenv("CAMAGENT_BENCH_PERF")
	if prefix == "" {
		return func() {}
	}
	out := fmt.Sprintf("%s-%d.data", prefix, b.n)
	if name != "agent" {
		out = fmt.Sprintf("%s-%s-%d.data", prefix, name, b.n)
	}
	cmd := exec.Command("perf", "record", "-q", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
	if err := cmd.Start(); err != nil {
		b.t.Logf("perf record: %v", err)
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			b.t.Logf("perf record: %v", err)
		}
		b.t.Logf("%s profile in %s", name, out)
	}
}

// group is a set of processes measured together and the ingest publishes
// that carry their output.
type group struct {
	pids  []int
	match func(stream string) bool
}

// measurement is what one window saw of one group.
type measurement struct {
	cpuPercent float64 // summed over pids, % of one core
	rssSum     float64 // MiB, sum over pids of each one's max
	hostBusy   float64 // % of all cores
	simCPU     float64 // the test process (cameras, clouds, ingest), % of one core
	got, sent  int64   // video frames at the ingest / sent by the cameras
	publishes  int
	perPublish []int64 // video frames per matching publish, in ingest order
	switches   float64 // context switches per second, all threads of all pids
	pace       float64 // video frames the cameras sent ÷ what real time asks for
	anonKB     []int64 // max RssAnon of each pid
}

// measure samples every group's CPU and RSS over one window while
// counting video frames in and out.
func (b *benchRun) measure(ctx context.Context, groups []group) ([]measurement, error) {
	ms := make([]measurement, len(groups))
	per0 := make([][]int64, len(groups))
	got0 := make([]int64, len(groups))
	cpu0 := make([]cpuTime, len(groups))
	sw0 := make([]int64, len(groups))
	maxRSS := make([][]int64, len(groups))
	maxAnon := make([][]int64, len(groups))
	hwm := make([][]bool, len(groups)) // VmHWM was reset at the window's start
	var err error
	for i, g := range groups {
		per0[i] = perPublish(b.ingest, g.match)
		got0[i], _ = b.ingestFrames(g.match)
		if cpu0[i], err = b.cpu(g.pids); err != nil {
			return nil, err
		}
		sw0[i] = contextSwitches(g.pids)
		maxRSS[i] = make([]int64, len(g.pids))
		maxAnon[i] = make([]int64, len(g.pids))
		hwm[i] = make([]bool, len(g.pids))
		for j, pid := range g.pids {
			if err := resetPeakRSS(pid); err != nil {
				b.t.Logf("peak RSS of %d sampled every %v, not the kernel's high-water mark: %v", pid, benchSample, err)
				continue
			}
			hwm[i][j] = true
		}
	}
	sent0 := b.sentFrames()
	self0, err := b.cpu([]int{os.Getpid()})
	if err != nil {
		return nil, err
	}
	busy0, total0 := hostTicks()
	start := time.Now()

	sample := func() error {
		for i, g := range groups {
			for j, pid := range g.pids {
				rss, anon, err := memKB(pid)
				if err != nil {
					return err
				}
				maxRSS[i][j] = max(maxRSS[i][j], rss)
				maxAnon[i][j] = max(maxAnon[i][j], anon)
			}
		}
		return nil
	}
	tick := time.NewTicker(benchSample)
	defer tick.Stop()
	deadline := time.NewTimer(b.window)
	defer deadline.Stop()
	if err := sample(); err != nil {
		return nil, err
	}
loop:
	for {
		select {
		case <-tick.C:
			if err := sample(); err != nil {
				return nil, err
			}
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	elapsed := time.Since(start).Seconds()
	self1, err := b.cpu([]int{os.Getpid()})
	if err != nil {
		return nil, err
	}
	busy1, total1 := hostTicks()
	sent := b.sentFrames() - sent0
	pace := float64(sent) / (float64(b.n*rtspsim.FPS) * elapsed)
	for i, g := range groups {
		cpu1, err := b.cpu(g.pids)
		if err != nil {
			return nil, err
		}
		m := &ms[i]
		m.cpuPercent = 100 * cpu1.since(cpu0[i]).Seconds() / elapsed
		m.switches = float64(contextSwitches(g.pids)-sw0[i]) / elapsed
		for j, pid := range g.pids {
			// A peak between two samples shows in the high-water mark.
			if !hwm[i][j] {
				continue
			}
			kb, err := peakRSSKB(pid)
			if err != nil {
				return nil, err
			}
			maxRSS[i][j] = max(maxRSS[i][j], kb)
		}
		for _, kb := range maxRSS[i] {
			m.rssSum += float64(kb) / 1024
		}
		got1, pubs := b.ingestFrames(g.match)
		m.got, m.sent, m.publishes, m.pace = got1-got0[i], sent, pubs, pace
		m.anonKB = maxAnon[i]
		for k, f := range perPublish(b.ingest, g.match) {
			if k < len(per0[i]) {
				f -= per0[i][k]
			}
			m.perPublish = append(m.perPublish, f)
		}
		m.simCPU = 100 * self1.since(self0).Seconds() / elapsed
		if total1 > total0 {
			m.hostBusy = 100 * float64(busy1-busy0) / float64(total1-total0)
		}
	}
	return ms, nil
}

func perPublish(in *cloudsim.Ingest, match func(string) bool) []int64 {
	var out []int64
	for _, p := range in.Publishes() {
		if p.Accepted && match(p.Stream) {
			out = append(out, int64(p.VideoFrames))
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitAgentFrames polls the agent's status page until each of n cameras'
// main stream has delivered at least frames video frames.
func waitAgentFrames(ctx context.Context, url string, n int, frames uint64) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		st, err := fetchStatus(ctx, url)
		if err == nil {
			ok := 0
			for _, c := range st.Cameras {
				if len(c.Streams) > 0 && c.Streams[0].Frames >= frames {
					ok++
				}
			}
			if len(st.Cameras) == n && ok == n {
				return nil
			}
			last = fmt.Sprintf("%d of %d cameras past %d frames", ok, n, frames)
		} else {
			last = err.Error()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %s)", ctx.Err(), last)
		}
	}
}

func fetchStatus(ctx context.Context, url string) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, errors.New(resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// warnings returns the agent's warn and error log lines, deduplicated by
// message with numbers masked.
func warnings(logPath string) []string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return nil
	}
	seen := map[string]int{}
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			Level, Msg string
		}
		if json.Unmarshal([]byte(line), &e) != nil || (e.Level != "warn" && e.Level != "error") {
			continue
		}
		// "no frame for 15.061s" and "no frame for 15.085s" are one problem.
		key := e.Level + ": " + digits.ReplaceAllString(e.Msg, "N")
		if seen[key] == 0 {
			order = append(order, key)
		}
		seen[key]++
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, fmt.Sprintf("%s (×%d)", k, seen[k]))
	}
	return out
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	switch {
	case len(s) == 0:
		return 0
	case len(s)%2 == 1:
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratioList(v []float64) string {
	out := make([]string, len(v))
	for i, r := range v {
		out[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(out, ", ")
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func pct(got, sent int64) string {
	if sent == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(got)/float64(sent))
}
