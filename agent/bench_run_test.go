//go:build bench

package agent

// TestBench's rows: each camera count with the agent beside the ffmpeg
// relays (and go2rtc when GO2RTC names its binary, the minimal Go relay
// with MINRELAY=1), then the agent alone
// recording the cameras to disk. CAMAGENT_BENCH_SOAK runs the soak
// instead (bench_soak_test.go).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// benchRecordingCameras is the recording row's camera count: the 16 of
// the side-by-side measurement.
const benchRecordingCameras = 16

// benchMode says what runs beside the agent in one row.
type benchMode struct {
	relays    bool   // one ffmpeg -c copy relay per camera
	go2rtc    string // go2rtc binary relaying every camera, "" for none
	minrelay  string // testdata/minrelay binary relaying every camera, "" for none
	recording bool   // the agent records every camera (cameras[].recording)
}

// relayStats is what the windows saw of one relay: the agent, all ffmpeg
// relays together, go2rtc or the minimal relay.
type relayStats struct {
	ran       bool
	cpu       []float64 // % of one core per window, whole process(es)
	switches  []float64 // context switches per second, per window
	rss       float64   // MiB, max over the windows (relays: sum of each one's max)
	anon      float64   // MiB, anonymous part of rss (heap, stacks)
	got, sent int64     // video frames at the ingest / sent by the cameras
	lat       frameLatency
}

func (s *relayStats) add(m measurement) {
	s.ran = true
	s.cpu = append(s.cpu, m.cpuPercent)
	s.switches = append(s.switches, m.switches)
	s.rss = max(s.rss, m.rssSum)
	var anon int64
	for _, kb := range m.anonKB {
		anon += kb
	}
	s.anon = max(s.anon, float64(anon)/1024)
	s.got, s.sent = s.got+m.got, s.sent+m.sent
}

// keepsUp says why the relay did not keep up with the cameras, "" when it
// did: at least 98 % of the video frames delivered (a window's edges cut
// a few in flight) and a p95 added latency within twice the same relay's
// at one camera, or 10 ms if more (1 s without a 1-camera row).
func (s *relayStats) keepsUp(one *relayStats) string {
	switch {
	case s.sent == 0 || float64(s.got) < 0.98*float64(s.sent):
		return "delivered " + pct(s.got, s.sent)
	case s.lat.err != nil:
		return "no latency"
	}
	limit := time.Second
	if one != nil && one.ran && one.lat.err == nil {
		limit = max(10*time.Millisecond, 2*one.lat.p95)
	}
	if s.lat.p95 > limit {
		return fmt.Sprintf("p95 %.1f ms > %.1f", float64(s.lat.p95.Microseconds())/1000, float64(limit.Microseconds())/1000)
	}
	return ""
}

// benchRow is one camera count's result.
type benchRow struct {
	cameras int
	mode    benchMode

	agent, ffmpeg, go2rtc, minrelay relayStats

	ratios      []float64       // agent CPU ÷ ffmpeg CPU, per window
	latencies   []time.Duration // stream_start → first key frame at the ingest
	nonKeyFirst int             // publishes whose first video frame was not a key frame
	agentWarns  []string

	// Packets the simulated cameras dropped because a client did not read
	// in time: before the windows (start-up) and during them.
	dropsSetup, dropsWindows int64

	pace     float64 // lowest camera pace over the windows (1 = real time)
	hostBusy float64 // % of all cores busy, mean over the windows
	simCPU   float64 // the test process (cameras, clouds, ingest), % of one core, mean

	// Recording row: bytes the agent had written to storage
	// (/proc/<pid>/io write_bytes) and media bytes the cameras sent to it,
	// over seconds of windows.
	diskBytes, mediaBytes int64
	seconds               float64
}

// TestBench runs every camera count as a subtest with its own simulators,
// agent and relays, then the recording row, then prints the tables.
func TestBench(t *testing.T) {
	if soak := os.Getenv("CAMAGENT_BENCH_SOAK"); soak != "" {
		benchSoak(t, soak)
		return
	}
	counts := benchCounts(t)
	window := benchWindow(t)
	rounds := benchRounds(t)
	recCams := benchRecording(t)
	env := benchSetup(t)

	var rows, recRows []benchRow
	for _, n := range counts {
		t.Run(fmt.Sprintf("cameras=%d", n), func(t *testing.T) {
			mode := benchMode{relays: true, go2rtc: env.go2rtc, minrelay: env.minrelay}
			rows = append(rows, env.row(t, n, mode, window, rounds))
		})
	}
	if recCams > 0 {
		t.Run(fmt.Sprintf("recording,cameras=%d", recCams), func(t *testing.T) {
			recRows = append(recRows, env.row(t, recCams, benchMode{recording: true}, window, rounds))
		})
	}
	if len(rows) > 0 {
		fmt.Print(benchTable(rows, window, rounds))
	}
	if len(recRows) > 0 {
		fmt.Print(recordingTable(recRows, rows))
	}
}

// benchEnv is what every row shares: the fixture, the binaries.
type benchEnv struct {
	hz                  float64
	drops               *simDrops
	bin, ffmpeg, go2rtc string
	minrelay            string // "" without MINRELAY=1
	video, audio        string
}

func benchSetup(t *testing.T) benchEnv {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("the benchmark needs ffmpeg (fixture generation and the reference relays): install it, e.g. apt-get install ffmpeg")
	}
	e := benchEnv{hz: clockTicks(), ffmpeg: ffmpeg, go2rtc: os.Getenv("GO2RTC"), drops: countSimDrops(t)}
	if e.go2rtc != "" {
		if _, err := os.Stat(e.go2rtc); err != nil {
			t.Fatalf("GO2RTC=%s: %v", e.go2rtc, err)
		}
	}
	e.video, e.audio = benchFixture(t)
	e.bin = benchBuildAgent(t)
	e.minrelay = benchBuildMinRelay(t)
	return e
}

func (e benchEnv) row(t *testing.T, n int, mode benchMode, window time.Duration, rounds int) benchRow {
	b := &benchRun{t: t, n: n, mode: mode, window: window, rounds: rounds, hz: e.hz, bin: e.bin,
		ffmpeg: e.ffmpeg, video: e.video, audio: e.audio, drops: e.drops}
	b.start()
	row := benchRow{cameras: n, mode: mode}
	b.run(&row)
	return row
}

func benchCounts(t *testing.T) []int {
	s := os.Getenv("CAMAGENT_BENCH_CAMERAS")
	switch s {
	case "":
		return []int{1, 16, 64}
	case "none": // the recording row only
		return nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 128 {
			t.Fatalf("CAMAGENT_BENCH_CAMERAS=%q: want none or a comma-separated list of 1..128", s)
		}
		out = append(out, n)
	}
	return out
}

// benchRecording is the recording row's camera count:
// CAMAGENT_BENCH_RECORDING, 0 for no recording row.
func benchRecording(t *testing.T) int {
	s := os.Getenv("CAMAGENT_BENCH_RECORDING")
	if s == "" {
		return benchRecordingCameras
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 128 {
		t.Fatalf("CAMAGENT_BENCH_RECORDING=%q: want 0 (no recording row) to 128 cameras", s)
	}
	return n
}

func benchRounds(t *testing.T) int {
	s := os.Getenv("CAMAGENT_BENCH_ROUNDS")
	if s == "" {
		return 3
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 20 {
		t.Fatalf("CAMAGENT_BENCH_ROUNDS=%q: want 1..20", s)
	}
	return n
}

func benchWindow(t *testing.T) time.Duration {
	s := os.Getenv("CAMAGENT_BENCH_WINDOW")
	if s == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		t.Fatalf("CAMAGENT_BENCH_WINDOW=%q: want a duration of at least 1s", s)
	}
	return d
}

// startAgent writes the config and starts the agent. The returned context
// ends early when the agent exits, so no wait on it outlives the agent.
func (b *benchRun) startAgent(dir string, budget time.Duration) (agent *child, listen string, ctx context.Context, cancel context.CancelFunc) {
	t := b.t
	listen = freeAddr(t)
	cfgPath := filepath.Join(dir, "camagent.yaml")
	if err := os.WriteFile(cfgPath, []byte(b.config(dir, listen)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Runtime experiments (GOGC=50, GOMAXPROCS=1, …) without touching the
	// test process itself.
	env := strings.Fields(os.Getenv("CAMAGENT_BENCH_AGENT_ENV"))
	if os.Getenv("CAMAGENT_BENCH_MEMPROFILE") != "" {
		env = append(env, "CAMAGENT_MEMPROFILE="+filepath.Join(dir, "mem"))
	}
	agent = startChild(t, "camagent", filepath.Join(dir, "agent.log"), env, b.bin, "run", "--config", cfgPath)
	ctx, cancel = context.WithTimeout(context.Background(), budget)
	go func() {
		select {
		case <-agent.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return agent, listen, ctx, cancel
}

// agentFatal fails the test with the agent's state and log tail.
func agentFatal(t *testing.T, agent *child, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if agent.exited() {
		msg += fmt.Sprintf(" (camagent exited: %v)", agent.err)
	}
	t.Fatalf("%s\nagent log tail:\n%s", msg, tail(agent.log, 30))
}

// streamAll has every camera registered and pulling, then sends each its
// stream_start, one camera at a time so each latency is its own: from
// sending stream_start to the first video key frame at the ingest.
func (b *benchRun) streamAll(ctx context.Context, agent *child, listen string, row *benchRow) {
	t := b.t
	// The agent only registers once RTSP delivers tracks; waiting for a
	// GOP's worth of frames more means its GOP cache holds a key frame.
	for k, c := range b.clouds {
		if err := c.WaitReady(ctx, c.CamID()); err != nil {
			agentFatal(t, agent, "camera %d never became READY in its cloud: %v", k+1, err)
		}
	}
	if err := waitAgentFrames(ctx, "http://"+listen+"/status.json", b.n, rtspsim.FPS+1); err != nil {
		agentFatal(t, agent, "cameras do not stream into the agent: %v", err)
	}
	for k, c := range b.clouds {
		name := agentStreamName(k)
		t0 := time.Now()
		rep, err := c.Request(ctx, c.CamID(), "stream_start", map[string]any{
			"stream_id": benchStreamID, "reason": "live", "publish_session_id": k + 1,
		})
		if err != nil {
			agentFatal(t, agent, "camera %d stream_start: %v", k+1, err)
		}
		if rep["status"] != "OK" {
			agentFatal(t, agent, "camera %d stream_start answered %v", k+1, rep)
		}
		var firstKey bool
		err = b.ingest.WaitFor(ctx, func(ps []cloudsim.PublishRecord) bool {
			for _, p := range ps {
				if p.Stream != name || !p.Accepted {
					continue
				}
				for _, f := range p.Frames {
					if f.Video && f.Key {
						firstKey = p.FirstVideoKey
						return true
					}
				}
			}
			return false
		})
		if err != nil {
			agentFatal(t, agent, "camera %d: no key frame at the ingest after stream_start: %v", k+1, err)
		}
		row.latencies = append(row.latencies, time.Since(t0))
		if !firstKey {
			row.nonKeyFirst++
		}
	}
}

func isAgentStream(s string) bool { return strings.HasPrefix(s, "u1m1c") }
func isRelayStream(s string) bool { return strings.HasPrefix(s, "relay") }

// run measures one row: start the agent, time each camera's stream start,
// start the other relays beside it, then measure all over the same windows
// so background load on the box affects them alike.
func (b *benchRun) run(row *benchRow) {
	t := b.t
	dir := t.TempDir()
	memPrefix := os.Getenv("CAMAGENT_BENCH_MEMPROFILE")
	agent, listen, ctx, cancel := b.startAgent(dir, 2*time.Minute+benchWarmup+time.Duration(b.rounds)*b.window)
	defer cancel()
	fatal := func(format string, args ...any) {
		t.Helper()
		agentFatal(t, agent, format, args...)
	}
	b.streamAll(ctx, agent, listen, row)

	groups := []group{{[]int{agent.pid()}, isAgentStream}}
	var relays []*child
	if b.mode.relays {
		relays = b.startRelays(ctx, dir)
		var pids []int
		for _, r := range relays {
			pids = append(pids, r.pid())
		}
		groups = append(groups, group{pids, isRelayStream})
	}
	var g2r *child
	if b.mode.go2rtc != "" {
		g2r = b.startGo2rtc(ctx, dir) // bench_go2rtc_test.go
		groups = append(groups, group{[]int{g2r.pid()}, isGo2rtcStream})
	}
	var mr *child
	if b.mode.minrelay != "" {
		mr = b.startMinRelay(ctx, dir) // bench_minrelay_test.go
		groups = append(groups, group{[]int{mr.pid()}, isMinRelayStream})
	}

	// Warm up, then several windows: the median resists a burst of
	// background load on the box better than one long window.
	select {
	case <-time.After(benchWarmup):
	case <-ctx.Done():
		fatal("warm-up: %v", ctx.Err())
	}
	stopPerf := b.perf("agent", agent.pid())
	if mr != nil {
		stopAgentPerf, stopMRPerf := stopPerf, b.perf("minrelay", mr.pid())
		stopPerf = func() { stopAgentPerf(); stopMRPerf() }
	}
	b.lat.on.Store(true)
	drops0 := b.drops.n.Load()
	row.dropsSetup = drops0 - b.drops0
	var mem0 memDump
	var sent0 int64
	if memPrefix != "" {
		mem0 = b.memDump(ctx, agent.pid(), filepath.Join(dir, "mem"), memPrefix, "start")
		sent0 = b.sentFrames()
	}
	for range b.rounds {
		disk0, media0 := writeBytes(t, agent.pid()), b.agentMedia()
		ms, err := b.measure(ctx, groups)
		if err != nil {
			stopPerf()
			fatal("measure: %v", err)
		}
		row.diskBytes += writeBytes(t, agent.pid()) - disk0
		row.mediaBytes += b.agentMedia() - media0
		row.seconds += b.window.Seconds()
		am := ms[0]
		if am.publishes != b.n {
			fatal("%d agent publishes at the ingest, want %d", am.publishes, b.n)
		}
		for k, f := range am.perPublish {
			if f == 0 {
				fatal("no video from camera %d reached the ingest through the agent during a window", k+1)
			}
		}
		row.agent.add(am)
		line := fmt.Sprintf("window: agent %.1f %% CPU, RSS %.1f MiB, %.0f switches/s", am.cpuPercent, am.rssSum, am.switches)
		i := 1
		if b.mode.relays {
			fm := ms[i]
			i++
			for k, f := range fm.perPublish {
				if f == 0 {
					t.Fatalf("no video from ffmpeg relay %d reached the ingest during a window\n%s", k+1, tail(relays[k].log, 20))
				}
			}
			row.ffmpeg.add(fm)
			if fm.cpuPercent > 0 {
				row.ratios = append(row.ratios, am.cpuPercent/fm.cpuPercent)
			}
			line += fmt.Sprintf("; ffmpeg %.1f %% CPU, RSS %.1f MiB", fm.cpuPercent, fm.rssSum)
		}
		if g2r != nil {
			gm := ms[i]
			i++
			row.go2rtc.add(gm)
			line += fmt.Sprintf("; go2rtc %.1f %% CPU, RSS %.1f MiB, %d of %d publishes", gm.cpuPercent, gm.rssSum, gm.publishes, b.n)
		}
		if mr != nil {
			mm := ms[i]
			for k, f := range mm.perPublish {
				if f == 0 {
					t.Fatalf("no video from camera %d reached the ingest through minrelay during a window\n%s", k+1, tail(mr.log, 20))
				}
			}
			row.minrelay.add(mm)
			line += fmt.Sprintf("; minrelay %.1f %% CPU, RSS %.1f MiB", mm.cpuPercent, mm.rssSum)
		}
		t.Logf("%s; cameras at %.0f %% of real time", line, 100*am.pace)
		row.hostBusy += am.hostBusy / float64(b.rounds)
		row.pace = min(row.pace, am.pace)
		if row.pace == 0 {
			row.pace = am.pace
		}
		row.simCPU += am.simCPU / float64(b.rounds)
	}
	stopPerf()
	row.dropsWindows = b.drops.n.Load() - drops0
	if memPrefix != "" {
		mem1 := b.memDump(ctx, agent.pid(), filepath.Join(dir, "mem"), memPrefix, "end")
		b.memReport(agent.pid(), mem0, mem1, b.sentFrames()-sent0)
	}
	b.lat.on.Store(false)
	row.agent.lat = b.latency("agent")
	if b.mode.relays {
		row.ffmpeg.lat = b.latency("ffmpeg")
	}
	if g2r != nil {
		row.go2rtc.lat = b.latency("go2rtc")
	}
	if mr != nil {
		row.minrelay.lat = b.latency("minrelay")
	}
	for _, p := range b.ingest.Publishes() {
		if (isAgentStream(p.Stream) || isMinRelayStream(p.Stream)) && len(p.Violations) > 0 {
			t.Errorf("ingest saw protocol violations on %s: %v", p.Stream, p.Violations)
		}
	}

	for _, r := range relays {
		_ = r.stop(os.Interrupt, 10*time.Second) // ffmpeg exits 255 on a signal
	}
	if g2r != nil {
		_ = g2r.stop(os.Interrupt, 10*time.Second)
	}
	if mr != nil {
		_ = mr.stop(os.Interrupt, 10*time.Second) // exits 2 on a signal, as Go programs do
	}
	if err := agent.stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("camagent after SIGTERM: %v\n%s", err, tail(agent.log, 20))
	}
	row.agentWarns = warnings(agent.log)
}

// startRelays starts one ffmpeg -c copy relay per camera and waits until
// each delivers video to the ingest.
func (b *benchRun) startRelays(ctx context.Context, dir string) []*child {
	t := b.t
	var relays []*child
	for k := range b.n {
		relays = append(relays, startChild(t, "ffmpeg", filepath.Join(dir, fmt.Sprintf("relay%02d.log", k+1)), nil, b.ffmpeg,
			"-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", b.cameraURL(k, b.relayTaps[k]),
			"-c", "copy", "-f", "flv", fmt.Sprintf("rtmp://%s/live/%s", b.ingest.Addr(), relayStreamName(k))))
	}
	if err := b.waitPublishing(ctx, isRelayStream); err != nil {
		t.Fatalf("ffmpeg relays do not deliver video to the ingest: %v\nrelay01 log:\n%s", err, tail(relays[0].log, 20))
	}
	return relays
}

// waitPublishing waits until every camera has a publish matching match
// with video at the ingest.
func (b *benchRun) waitPublishing(ctx context.Context, match func(string) bool) error {
	return b.ingest.WaitFor(ctx, func(ps []cloudsim.PublishRecord) bool {
		n := 0
		for _, p := range ps {
			if match(p.Stream) && p.Accepted && p.VideoFrames > 0 {
				n++
			}
		}
		return n == b.n
	})
}

// agentMedia is the media bytes all cameras sent to the agent so far.
func (b *benchRun) agentMedia() int64 {
	var n int64
	for _, tp := range b.agentTaps {
		n += tp.media.Load()
	}
	return n
}

// writeBytes is what pid caused to be written to storage so far
// (write_bytes of /proc/<pid>/io: page-cache pages it dirtied, whether or
// not written back yet).
func writeBytes(t *testing.T, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatalf("read io of %d: %v", pid, err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("io of %d: %q", pid, line)
			}
			return n
		}
	}
	t.Fatalf("io of %d: no write_bytes", pid)
	return 0
}

func relayStreamName(k int) string { return fmt.Sprintf("relay%02d", k+1) }
