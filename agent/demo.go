package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// The demo is the one place production code starts simulators: `camagent
// demo` must run the agent's real job on a machine with no camera and no cloud.

// DemoOptions configures RunDemo.
type DemoOptions struct {
	// HTTPListen is where the status page is served.
	HTTPListen string
	Logger     *zap.Logger
	// Out receives one line per Tick with what arrives at the simulated cloud.
	Out     io.Writer
	Version string
	Tick    time.Duration
	// LogRing is handed to the agent (Options.LogRing), so the simulated
	// cloud can fetch the log.
	LogRing *LogRing
}

// rig is a simulated camera (RTSP + ONVIF with a skewed clock and digest
// credentials) and a simulated cloud (wss camera server with its legacy upload endpoint + rtmps ingest),
// all on loopback. The demo and the end-to-end tests share it.
type rig struct {
	rtsp   *rtspsim.Server
	onvif  *onvifsim.Server
	ingest *cloudsim.Ingest
	cloud  *cloudsim.Server
	roots  *x509.CertPool

	onvifConfig string // ", " + rigOptions.onvifConfig, or ""
	onvifByName bool   // rigOptions.onvifByName
}

const (
	rigUser = "admin"
	rigPass = "demo-Passw0rd"
)

// rigOptions varies the simulated parts for tests.
type rigOptions struct {
	rtsp     rtspsim.Options
	insecure bool
	log      *zap.Logger
	// onvif, when set, adjusts the simulated camera (vendor behaviours).
	onvif func(*onvifsim.Options)
	// onvifConfig, when set, is extra keys for the camera's onvif config
	// section in YAML flow style, e.g. "clock_sync: gateway".
	onvifConfig string
	// onvifByName configures the camera as localhost instead of 127.0.0.1,
	// as integrators who use host names do.
	onvifByName bool
	// config, when set, adjusts the agent's config before it starts (tests).
	config func(*config.Config)
	// noUploads: the cloud serves no legacy upload endpoint and names none
	// in hello.
	noUploads bool
}

func startRig(o rigOptions) (_ *rig, err error) {
	if o.log == nil {
		o.log = zap.NewNop()
	}
	r := &rig{onvifByName: o.onvifByName}
	if o.onvifConfig != "" {
		r.onvifConfig = ", " + o.onvifConfig
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	o.rtsp.Username, o.rtsp.Password = rigUser, rigPass
	r.rtsp = rtspsim.New(o.rtsp)
	if err := r.rtsp.Start(); err != nil {
		return nil, fmt.Errorf("simulated camera rtsp: %w", err)
	}
	oo := onvifsim.Options{
		Username: rigUser, Password: rigPass,
		// Cameras are often hours off; the agent must sign with the camera's clock.
		ClockSkew: 90 * time.Minute,
		RTSPURL:   r.rtsp.URL(),
		DeviceInfo: onvifsim.DeviceInfo{
			Manufacturer: "SimCam", Model: "SC-640", FirmwareVersion: "1.0.0", SerialNumber: "SIM-0001",
		},
		Profiles: []onvifsim.Profile{{
			Token: "main", Name: "Main", Encoding: "H264", Width: 640, Height: 360,
			FrameRate: rtspsim.FPS, BitrateKbps: 1024, GOP: rtspsim.FPS, H264Profile: "Main", AudioEncoding: "AAC",
		}},
	}
	if o.onvif != nil {
		o.onvif(&oo)
	}
	r.onvif = onvifsim.New(oo)
	if err := r.onvif.Start(); err != nil {
		return nil, fmt.Errorf("simulated camera onvif: %w", err)
	}
	r.ingest = cloudsim.NewIngest(cloudsim.IngestOptions{TLS: !o.insecure})
	if err := r.ingest.Start(); err != nil {
		return nil, fmt.Errorf("simulated cloud rtmp: %w", err)
	}
	r.cloud, err = cloudsim.New(cloudsim.Options{TLS: !o.insecure, MediaServer: r.ingest.Addr(), Uploads: !o.noUploads, Logger: o.log.Named("cloudsim")})
	if err != nil {
		return nil, fmt.Errorf("simulated cloud: %w", err)
	}
	if err := r.cloud.Start(); err != nil {
		return nil, fmt.Errorf("simulated cloud: %w", err)
	}
	r.roots = x509.NewCertPool()
	if !o.insecure {
		r.roots.AppendCertsFromPEM(r.cloud.CertPEM())
		r.roots.AppendCertsFromPEM(r.ingest.CertPEM())
	}
	return r, nil
}

// config is the camera config an integrator would write for the rig.
func (r *rig) config(stateDir, listen string, insecure bool) (*config.Config, error) {
	yaml := fmt.Sprintf(`state_dir: %q
http: {listen: %q}
cloud: {insecure: %t}
cameras:
  - name: demo
    token: %q
    onvif: {url: %q, username: %q, password: %q%s}
`, stateDir, listen, insecure, r.cloud.Token(), r.onvifURL(), rigUser, rigPass, r.onvifConfig)
	return config.Parse([]byte(yaml), "demo")
}

func (r *rig) onvifURL() string {
	if r.onvifByName {
		return strings.Replace(r.onvif.URL(), "127.0.0.1", "localhost", 1)
	}
	return r.onvif.URL()
}

func (r *rig) close() {
	if r.cloud != nil {
		r.cloud.Close()
	}
	if r.ingest != nil {
		r.ingest.Close()
	}
	if r.onvif != nil {
		r.onvif.Close()
	}
	if r.rtsp != nil {
		r.rtsp.Close()
	}
}

// RunDemo starts a simulated camera and cloud, runs the agent against them,
// has the cloud request live video and reports what arrives until ctx ends.
func RunDemo(ctx context.Context, o DemoOptions) error {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	r, err := startRig(rigOptions{log: o.Logger})
	if err != nil {
		return err
	}
	defer r.close()
	stateDir, err := os.MkdirTemp("", "camagent-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	cfg, err := r.config(stateDir, o.HTTPListen, false)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.HTTPListen)
	if err != nil {
		return fmt.Errorf("status page on %s: %w (pick another with --http)", o.HTTPListen, err)
	}
	a, err := New(Options{Config: cfg, Logger: o.Logger, Version: o.Version, RootCAs: r.roots, Listener: ln, LogRing: o.LogRing})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	fmt.Fprintf(o.Out, "camagent demo: camera rtsp %s, onvif %s (clock +90m), cloud %s, rtmps ingest %s\n",
		r.rtsp.URL(), r.onvif.URL(), r.cloud.URL(), r.ingest.Addr())
	fmt.Fprintf(o.Out, "status page: http://%s  (Ctrl-C to stop)\n", ln.Addr())
	if err := demoStartLive(ctx, r); err != nil {
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
			frames, bytes, keyFirst := ingestTotals(r.ingest)
			secs := now.Sub(last).Seconds()
			fmt.Fprintf(o.Out, "%s cloud receives: %5.1f frames/s %7.0f kbit/s (total %d frames, first frame key: %t)\n",
				now.Format("15:04:05"), float64(frames-lastFrames)/secs, float64(bytes-lastBytes)*8/1000/secs, frames, keyFirst)
			lastFrames, lastBytes, last = frames, bytes, now
		}
	}
}

// demoStartLive waits for the camera to register and asks for live video,
// as a viewer opening the camera in the cloud would.
func demoStartLive(ctx context.Context, r *rig) error {
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.cloud.WaitReady(wait, r.cloud.CamID()); err != nil {
		return fmt.Errorf("camera did not register with the simulated cloud: %w", err)
	}
	rep, err := r.cloud.Request(wait, r.cloud.CamID(), "stream_start", map[string]any{"stream_id": "Main", "reason": "live"})
	if err != nil {
		return fmt.Errorf("stream_start: %w", err)
	}
	if rep["status"] != "OK" {
		return fmt.Errorf("stream_start answered %v", rep["status"])
	}
	return nil
}

func ingestTotals(in *cloudsim.Ingest) (frames int, bytes int64, firstKey bool) {
	pubs := in.Publishes()
	for _, p := range pubs {
		frames += p.VideoFrames
		bytes += p.Bytes
	}
	if len(pubs) > 0 {
		firstKey = pubs[0].FirstVideoKey
	}
	return frames, bytes, firstKey
}
