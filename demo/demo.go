// Package demo runs the agent against simulated cameras and a simulated
// cloud on loopback (package rig), so `camagent-demo` shows the agent's
// real job on a machine with no camera and no cloud. It is the one place
// outside tests that starts simulators; the daemon, cmd/camagent, never
// imports it.
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
	"github.com/camagent/camagent/onvif/onvifsim"
)

// The demo's cameras: the cloud watches the PTZ camera live, the fixed
// one reports motion.
const (
	LiveCamera   = "lobby"
	MotionCamera = "yard"
)

// Options configures Run.
type Options struct {
	// HTTPListen is where the status page is served.
	HTTPListen string
	Logger     *zap.Logger
	// Out receives what happens, in lines for a person: the cameras
	// registering, the video arriving at the simulated cloud once per
	// Tick, motion and the events the cloud receives.
	Out     io.Writer
	Version string
	Tick    time.Duration
	// Duration, when positive, ends the demo after it.
	Duration time.Duration
	// MotionEvery is how often the fixed camera sees motion; default 20 s.
	MotionEvery time.Duration
	// LogRing is handed to the agent (agent.Options.LogRing), so the
	// simulated cloud can fetch the log.
	LogRing *agent.LogRing
}

// errDurationOver is why the demo's context ends when Options.Duration passed.
var errDurationOver = errors.New("duration over")

// Run starts two simulated cameras and the cloud, runs the agent against
// them and shows what the cloud sees, until ctx ends or Options.Duration
// passes; either is a clean end.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.MotionEvery <= 0 {
		o.MotionEvery = 20 * time.Second
	}
	r, err := rig.Start(rig.Options{Logger: o.Logger, Name: LiveCamera,
		More: []rig.CameraOptions{{Name: MotionCamera, ONVIF: fixedCamera}}})
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
		ln.Close()
		return err
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Duration, errDurationOver)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The show ends early when the agent does.
	showCtx, stopShow := context.WithCancel(ctx)
	defer stopShow()
	var agentErr error
	agentDone := make(chan struct{})
	go func() {
		agentErr = a.Run(ctx)
		stopShow()
		close(agentDone)
	}()

	intro(o.Out, r, o.Version, ln.Addr())
	showErr := newShow(r, o).run(showCtx)
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errDurationOver) {
			fmt.Fprintf(o.Out, "%s --duration %v is over; stopping\n", clock(time.Now()), o.Duration)
		} else {
			fmt.Fprintf(o.Out, "%s stopping\n", clock(time.Now()))
		}
		showErr = nil
	}
	cancel()
	<-agentDone
	if agentErr != nil {
		return agentErr
	}
	if showErr != nil {
		return showErr
	}
	fmt.Fprintf(o.Out, "%s stopped\n", clock(time.Now()))
	return nil
}

// fixedCamera makes the second camera a different model: fixed, with a
// clock that is right.
func fixedCamera(o *onvifsim.Options) {
	o.NoPTZ = true
	o.ClockSkew = 0
	o.DeviceInfo.Model = "SC-200F"
}

// intro says what runs where.
func intro(out io.Writer, r *rig.Rig, version string, status net.Addr) {
	fmt.Fprintf(out, "camagent-demo %s: the agent between two simulated cameras and a simulated cloud, all on loopback\n", version)
	for _, c := range r.Cameras {
		kind := "PTZ"
		if c.Name == MotionCamera {
			kind = "fixed, sees motion"
		}
		if skew := c.ONVIF.Now().Sub(time.Now()).Round(time.Minute); skew != 0 {
			kind += fmt.Sprintf(", clock %.0f min off", skew.Minutes())
		}
		fmt.Fprintf(out, "  camera %-6s %-24s %s  onvif %s  cloud %s (cam %d)\n", c.Name, kind, c.RTSP.URL(), c.ONVIF.URL(), c.Cloud.URL(), c.Cloud.CamID())
	}
	fmt.Fprintf(out, "  cloud video ingest rtmps://%s\n", r.Ingest.Addr())
	fmt.Fprintf(out, "status page: http://%s  (Ctrl-C to stop)\n", status)
}

func clock(t time.Time) string { return t.Format("15:04:05") }
