//go:build bench

package agent

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/camagent/camagent/config"
)

// benchTable renders the results as Markdown for docs/performance.md: one
// line per relay and camera count, then the goals and what else is worth
// knowing.
func benchTable(rows []benchRow, window time.Duration, rounds int) string {
	var sb strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&sb, "\nEnd-to-end benchmark: 1080p25 ≈4 Mbit/s H.264 + AAC per camera, RTSP/TCP in, RTMP out; %d windows of %s after %s warm-up; %d CPUs, %s/%s (%s).\n\n",
		rounds, window, benchWarmup, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, host)
	sb.WriteString("| cameras | relay | CPU % of a core per stream | peak RSS MiB | RSS per camera MiB | (peak − 1-camera peak) ÷ cameras MiB | added latency p50 / p95 ms | video delivered | keeps up |\n")
	sb.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	// The 1-camera row is each relay's fixed cost.
	var base *benchRow
	for i := range rows {
		if rows[i].cameras == 1 {
			base = &rows[i]
			break
		}
	}
	for _, r := range rows {
		n := float64(r.cameras)
		for _, rel := range []struct {
			name   string
			s, one *relayStats
		}{
			{"camagent", &r.agent, baseStats(base, func(b *benchRow) *relayStats { return &b.agent })},
			{fmt.Sprintf("ffmpeg -c copy ×%d", r.cameras), &r.ffmpeg, baseStats(base, func(b *benchRow) *relayStats { return &b.ffmpeg })},
			{"go2rtc", &r.go2rtc, baseStats(base, func(b *benchRow) *relayStats { return &b.go2rtc })},
			{"minimal Go relay", &r.minrelay, baseStats(base, func(b *benchRow) *relayStats { return &b.minrelay })},
		} {
			if !rel.s.ran {
				continue
			}
			marginal := "n/a"
			if rel.one != nil && rel.one.ran {
				marginal = fmt.Sprintf("%.2f", (rel.s.rss-rel.one.rss)/n)
			}
			up := "yes"
			if why := rel.s.keepsUp(rel.one); why != "" {
				up = "**NO**: " + why
			}
			fmt.Fprintf(&sb, "| %d | %s | %.2f | %.1f | %.2f | %s | %s | %s | %s |\n",
				r.cameras, rel.name, medianF(rel.s.cpu)/n, rel.s.rss, rel.s.rss/n, marginal, rel.s.lat,
				pct(rel.s.got, rel.s.sent), up)
		}
	}
	fmt.Fprintf(&sb, "\nEvery relay pulls the same simulated cameras side by side and is measured over the same windows: camagent is one process for all cameras with its default settings (memory_limit %s, GOMAXPROCS one per 16 cameras), ffmpeg one process per camera (CPU and RSS summed), go2rtc (when GO2RTC names its binary) one process publishing each camera over RTMP, the minimal Go relay (MINRELAY=1, agent/testdata/minrelay: one goroutine and reused buffers per camera, no GOP cache, no recovery) one process for all cameras, the floor of a Go relay. CPU is %% of one core (thread run time from /proc schedstat) of the whole process(es) ÷ cameras, median over the windows. Peak RSS is the kernel's high-water mark (VmHWM, reset at each window's start, so a peak between samples counts) and at least the largest VmRSS sampled every 250 ms; the marginal column takes the same relay's 1-camera peak off. Added latency: per non-key video frame during the windows, from its last RTP packet leaving the camera (a TCP tap in front of each client) to its RTMP message read whole at the ingest, the same clock at both ends; frames matched by size. Keeps up: at least 98 %% of the cameras' video frames reached the ingest during the windows and the p95 added latency is at most twice the same relay's at 1 camera (or 10 ms); a relay that does not is over this machine's capacity at that count, and its CPU figure is what it managed, not what the work needs.\n\n", config.MemoryLimit(config.DefaultMemoryLimit))

	goal := rows[len(rows)-1]
	for _, r := range rows {
		if r.cameras == 16 {
			goal = r
		}
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	a, n := goal.agent, float64(goal.cameras)
	cpu := medianF(a.cpu) / n
	fmt.Fprintf(&sb, "Goals at %d cameras (issue 13): peak RSS ≤ 40 MiB → %.1f (%s); ≤ 15 + 1×%d = %.0f MiB → %s; added latency p50 ≤ 1 ms, p95 ≤ 5 ms → %s (%s); CPU ≤ 0.30 %% of a core per stream → %.2f (%s); stream start ≤ 200 ms → max %s ms (%s).\n\n",
		goal.cameras, a.rss, verdict(a.rss <= 40), goal.cameras, 15+n, verdict(a.rss <= 15+n),
		a.lat, verdict(a.lat.err == nil && a.lat.p50 <= time.Millisecond && a.lat.p95 <= 5*time.Millisecond),
		cpu, verdict(cpu <= 0.30), ms(slices.Max(goal.latencies)), verdict(slices.Max(goal.latencies) <= 200*time.Millisecond))

	for _, r := range rows {
		benchNotes(&sb, r)
	}
	return sb.String()
}

func baseStats(base *benchRow, pick func(*benchRow) *relayStats) *relayStats {
	if base == nil {
		return nil
	}
	return pick(base)
}

// benchNotes is one row's line below the table: what supports or
// qualifies its figures.
func benchNotes(sb *strings.Builder, r benchRow) {
	fmt.Fprintf(sb, "- %d cameras", r.cameras)
	if r.mode.recording {
		sb.WriteString(" recording")
	}
	fmt.Fprintf(sb, ": stream start median %s / max %s ms", ms(median(r.latencies)), ms(slices.Max(r.latencies)))
	if len(r.ratios) > 0 {
		fmt.Fprintf(sb, "; CPU camagent ÷ ffmpeg per window %s", ratioList(r.ratios))
	}
	fmt.Fprintf(sb, "; context switches/s per stream camagent %.0f", medianF(r.agent.switches)/float64(r.cameras))
	if r.ffmpeg.ran {
		fmt.Fprintf(sb, ", ffmpeg %.0f", medianF(r.ffmpeg.switches)/float64(r.cameras))
	}
	if r.go2rtc.ran {
		fmt.Fprintf(sb, ", go2rtc %.0f", medianF(r.go2rtc.switches)/float64(r.cameras))
	}
	if r.minrelay.ran {
		fmt.Fprintf(sb, ", minimal relay %.0f", medianF(r.minrelay.switches)/float64(r.cameras))
	}
	fmt.Fprintf(sb, "; host busy %.0f %% of all CPUs, of which the simulated cameras and ingest %.0f %% of one core", r.hostBusy, r.simCPU)
	fmt.Fprintf(sb, "; camagent RSS %.1f MiB, anonymous part (heap, stacks; the rest is the mapped binary) %.1f", r.agent.rss, r.agent.anon)
	fmt.Fprintf(sb, "; added latency over %s camagent frames", r.agent.lat.count())
	if r.ffmpeg.ran {
		fmt.Fprintf(sb, ", %s ffmpeg", r.ffmpeg.lat.count())
	}
	if r.go2rtc.ran {
		fmt.Fprintf(sb, ", %s go2rtc", r.go2rtc.lat.count())
	}
	if r.minrelay.ran {
		fmt.Fprintf(sb, ", %s minimal relay", r.minrelay.lat.count())
	}
	if r.dropsSetup+r.dropsWindows > 0 {
		fmt.Fprintf(sb, "; the simulated cameras dropped %d packets at start-up and %d during the windows because a client did not read in time", r.dropsSetup, r.dropsWindows)
	}
	if r.hostBusy >= 85 {
		fmt.Fprintf(sb, "; HOST SATURATED (%.0f %% of all CPUs busy): the figures are what the relays managed on a full machine", r.hostBusy)
	}
	if r.pace < 0.97 {
		fmt.Fprintf(sb, "; UNRELIABLE: the simulated cameras sent only %.0f %% of real time, the box is overloaded", 100*r.pace)
	}
	if r.nonKeyFirst > 0 {
		fmt.Fprintf(sb, "; %d publishes started on a non-key frame", r.nonKeyFirst)
	}
	if len(r.agentWarns) > 0 {
		fmt.Fprintf(sb, "; agent warnings: %s", strings.Join(r.agentWarns, "; "))
	}
	sb.WriteString("\n")
}

// recordingTable renders the recording rows, with the live row of the same
// camera count (if any) for the cost of recording.
func recordingTable(rec, live []benchRow) string {
	var sb strings.Builder
	sb.WriteString("\nRecording (the gateway as the cameras' memory card): camagent alone, every camera streaming live and recorded to disk (cameras[].recording.enabled, recording.dir on the machine's disk).\n\n")
	sb.WriteString("| cameras | CPU % of a core per stream | same, live only | peak RSS MiB | same, live only | media MB/s | disk writes MB/s | write amplification |\n")
	sb.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rec {
		n := float64(r.cameras)
		liveCPU, liveRSS := "n/a", "n/a"
		for _, l := range live {
			if l.cameras == r.cameras {
				liveCPU, liveRSS = fmt.Sprintf("%.2f", medianF(l.agent.cpu)/n), fmt.Sprintf("%.1f", l.agent.rss)
			}
		}
		amp := "n/a"
		if r.mediaBytes > 0 {
			amp = fmt.Sprintf("%.3f", float64(r.diskBytes)/float64(r.mediaBytes))
		}
		fmt.Fprintf(&sb, "| %d | %.2f | %s | %.1f | %s | %.2f | %.2f | %s |\n",
			r.cameras, medianF(r.agent.cpu)/n, liveCPU, r.agent.rss, liveRSS,
			float64(r.mediaBytes)/r.seconds/1e6, float64(r.diskBytes)/r.seconds/1e6, amp)
	}
	sb.WriteString("\nMedia bytes: RTP payload (H.264 and AAC) the cameras sent to camagent during the windows. Disk writes: write_bytes of camagent's /proc/<pid>/io over the same windows (page-cache pages it dirtied: segments, index, state), so the amplification counts the MP4 framing and the index, not the file system's own journal.\n\n")
	for _, r := range rec {
		benchNotes(&sb, r)
	}
	return sb.String()
}
