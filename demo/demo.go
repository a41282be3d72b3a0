// Package demo runs the agent against a simulated camera and cloud on
// loopback (package rig), so `camagent-demo` shows the agent's real job on
// a machine with no camera and no cloud. It is the one place outside tests
// that starts simulators; the daemon, cmd/camagent, never imports it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/agent"
	"github.com/camagent/camagent/demo/rig"
)

// Options configures Run.
type Options struct {
	// HTTPListen is where the status page is served.
	HTTPListen string
	Logger     *zap.Logger
	// Out receives one line per Tick with what arrives at the simulated cloud.
	Out     io.Writer
	Version string
	Tick    time.Duration
	// LogRing is handed to the agent (agent.Options.LogRing), so the
	// simulated cloud can fetch the log.
	LogRing *agent.LogRing
}

// Run starts a simulated camera and cloud, runs the agent against them,
// has the cloud request live video and reports what arrives until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	r, err := rig.Start(rig.Options{Logger: o.Logger})
	if err != nil {
		return err
	}
	defer r.Close()
	stateDir, err := os.MkdirTemp("", "camagent-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	cfg, err := r.Config(stateDir, o.HTTPListen, false)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.HTTPListen)
	if err != nil {
		return fmt.Errorf("status page on %s: %w (pick another with --http)", o.HTTPListen, err)
	}
	a, err := agent.New(agent.Options{Config: cfg, Logger: o.Logger, Version: o.Version, RootCAs: r.Roots, Listener: ln, LogRing: o.LogRing})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	fmt.Fprintf(o.Out, "camagent demo: camera rtsp %s, onvif %s (clock +90m), cloud %s, rtmps ingest %s\n",
		r.RTSP.URL(), r.ONVIF.URL(), r.Cloud.URL(), r.Ingest.Addr())
	fmt.Fprintf(o.Out, "status page: http://%s  (Ctrl-C to stop)\n", ln.Addr())
	if err := startLive(ctx, r); err != nil {
		cancel()
		<-done
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		return err
	}
	fmt.Fprintln(o.Out, "cloud requested live video (stream_start Main live)")
	tick := time.NewTicker(o.Tick)
	defer tick.Stop()
	var lastFrames int
	var lastBytes int64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return <-done
		case err := <-done:
			return err
		case now := <-tick.C:
			frames, bytes, keyFirst := rig.IngestTotals(r.Ingest)
			secs := now.Sub(last).Seconds()
			fmt.Fprintf(o.Out, "%s cloud receives: %5.1f frames/s %7.0f kbit/s (total %d frames, first frame key: %t)\n",
				now.Format("15:04:05"), float64(frames-lastFrames)/secs, float64(bytes-lastBytes)*8/1000/secs, frames, keyFirst)
			lastFrames, lastBytes, last = frames, bytes, now
		}
	}
}

// startLive waits for the camera to register and asks for live video, as a
// viewer opening the camera in the cloud would.
func startLive(ctx context.Context, r *rig.Rig) error {
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.Cloud.WaitReady(wait, r.Cloud.CamID()); err != nil {
		return fmt.Errorf("camera did not register with the simulated cloud: %w", err)
	}
	rep, err := r.Cloud.Request(wait, r.Cloud.CamID(), "stream_start", map[string]any{"stream_id": "Main", "reason": "live"})
	if err != nil {
		return fmt.Errorf("stream_start: %w", err)
	}
	if rep["status"] != "OK" {
		return fmt.Errorf("stream_start answered %v", rep["status"])
	}
	return nil
}
