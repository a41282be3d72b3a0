//go:build bench

package agent

// The soak: CAMAGENT_BENCH_SOAK=30m runs 16 cameras through the agent (no
// relays beside it) for that long, samples its RSS every 10 s and compares
// the RSS after a 2-minute warm-up with the RSS at the end. Memory that
// grows with time (a leak, a queue that never drains, a cache without a
// bound) shows here and not in make bench's short windows. Not in CI:
//
//	CAMAGENT_BENCH_SOAK=30m go test -tags bench -run TestBench -v -count=1 -timeout 40m ./agent/

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	soakCameras = 16
	soakWarmup  = 2 * time.Minute
	soakSample  = 10 * time.Second
)

// soakPoint is one RSS sample.
type soakPoint struct {
	at        time.Duration // since the cameras streamed
	rss, anon float64       // MiB
}

func benchSoak(t *testing.T, spec string) {
	d, err := time.ParseDuration(spec)
	if err != nil || d < soakWarmup+time.Minute {
		t.Fatalf("CAMAGENT_BENCH_SOAK=%q: want a duration of at least %s (the warm-up and a minute)", spec, soakWarmup+time.Minute)
	}
	env := benchSetup(t)
	b := &benchRun{t: t, n: soakCameras, hz: env.hz, bin: env.bin, ffmpeg: env.ffmpeg, video: env.video, audio: env.audio, drops: env.drops}
	b.start()
	dir := t.TempDir()
	agent, listen, ctx, cancel := b.startAgent(dir, d+2*time.Minute)
	defer cancel()
	var row benchRow
	b.streamAll(ctx, agent, listen, &row)
	b.lat.on.Store(true)

	start := time.Now()
	got0, _ := b.ingestFrames(isAgentStream)
	sent0 := b.sentFrames()
	cpu0, err := b.cpu([]int{agent.pid()})
	if err != nil {
		t.Fatal(err)
	}
	var points []soakPoint
	tick := time.NewTicker(soakSample)
	defer tick.Stop()
	lastGot := got0
	for {
		rss, anon, err := memKB(agent.pid())
		if err != nil {
			agentFatal(t, agent, "soak: %v", err)
		}
		p := soakPoint{at: time.Since(start), rss: float64(rss) / 1024, anon: float64(anon) / 1024}
		points = append(points, p)
		got, _ := b.ingestFrames(isAgentStream)
		t.Logf("soak %s: RSS %.1f MiB (anonymous %.1f), %d video frames at the ingest since the last sample",
			p.at.Round(time.Second), p.rss, p.anon, got-lastGot)
		if len(points) > 1 && got == lastGot {
			agentFatal(t, agent, "soak: no video reached the ingest in %s", soakSample)
		}
		lastGot = got
		if p.at >= d {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			agentFatal(t, agent, "soak: %v", ctx.Err())
		}
	}
	elapsed := time.Since(start)
	cpu1, err := b.cpu([]int{agent.pid()})
	if err != nil {
		t.Fatal(err)
	}
	got1, _ := b.ingestFrames(isAgentStream)
	sent1 := b.sentFrames()
	b.lat.on.Store(false)
	lat := b.latency("agent")
	if err := agent.stop(syscall.SIGTERM, 15*time.Second); err != nil {
		t.Errorf("camagent after SIGTERM: %v\n%s", err, tail(agent.log, 20))
	}
	cpu := 100 * cpu1.since(cpu0).Seconds() / elapsed.Seconds() / soakCameras
	warns := warnings(agent.log)
	if n := b.drops.n.Load() - b.drops0; n > 0 {
		warns = append(warns, fmt.Sprintf("the simulated cameras dropped %d packets a client did not read in time", n))
	}
	fmt.Print(soakReport(points, d, cpu, lat, pct(got1-got0, sent1-sent0), warns))
}

// soakReport compares the peak RSS of the minute after the warm-up with
// the peak of the last minute (peaks, because the GC's sawtooth makes any
// single sample a matter of luck), and fits a line through every sample
// after the warm-up for the trend.
func soakReport(points []soakPoint, d time.Duration, cpu float64, lat frameLatency, delivered string, warns []string) string {
	span := min(time.Minute, (d-soakWarmup)/2)
	var warm, end, peak float64
	var xs, ys []float64
	for _, p := range points {
		if p.at < soakWarmup {
			continue
		}
		if p.at < soakWarmup+span {
			warm = max(warm, p.rss)
		}
		if p.at > d-span {
			end = max(end, p.rss)
		}
		peak = max(peak, p.rss)
		xs, ys = append(xs, p.at.Hours()), append(ys, p.rss)
	}
	var sb strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&sb, "\nSoak: %d cameras (1080p25 ≈4 Mbit/s H.264 + AAC, RTSP/TCP in, RTMP out) through camagent for %s, RSS sampled every %s; %s.\n\n",
		soakCameras, d, soakSample, host)
	sb.WriteString("| RSS after warm-up MiB | RSS at the end MiB | growth | peak after warm-up MiB | trend MiB/hour | CPU % of a core per stream | added latency p50 / p95 ms | video delivered |\n")
	sb.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	growth := 100 * (end - warm) / warm
	fmt.Fprintf(&sb, "| %.1f | %.1f | %+.1f %% | %.1f | %+.1f | %.2f | %s | %s |\n\n",
		warm, end, growth, peak, slope(xs, ys), cpu, lat, delivered)
	fmt.Fprintf(&sb, "After warm-up: the peak of the samples in the %s after the first %s; at the end: the peak of the last %s. Goal (issue 13): growth ≤ 5 %% → %s.\n",
		span, soakWarmup, span, map[bool]string{true: "met", false: "MISSED"}[growth <= 5])
	if len(warns) > 0 {
		fmt.Fprintf(&sb, "Agent warnings: %s\n", strings.Join(warns, "; "))
	}
	return sb.String()
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}
