// Package rig is a simulated camera and a simulated cloud on loopback: the
// camera serves RTSP and ONVIF with a skewed clock and digest credentials,
// the cloud serves the camera channel over wss (with its legacy upload
// endpoint) and an rtmps ingest. The demo and the agent's end-to-end tests
// share it. It imports the simulators and config, never agent, so agent's
// tests can use it and the daemon links none of it.
package rig

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// The simulated camera's credentials, for ONVIF and RTSP alike.
const (
	User     = "admin"
	Password = "demo-Passw0rd"
)

// Rig is a running simulated camera and cloud.
type Rig struct {
	// The camera's RTSP and ONVIF servers, the cloud's rtmp(s) ingest and
	// camera-channel server.
	RTSP   *rtspsim.Server
	ONVIF  *onvifsim.Server
	Ingest *cloudsim.Ingest
	Cloud  *cloudsim.Server
	// Roots trusts the cloud's and the ingest's self-signed certificates
	// (empty when Options.Insecure).
	Roots *x509.CertPool

	onvifConfig string // ", " + Options.ONVIFConfig, or ""
	onvifByName bool
	adjust      func(*config.Config)
}

// Options varies the simulated parts for tests; the zero value is the demo.
type Options struct {
	RTSP rtspsim.Options
	// Insecure serves ws:// and rtmp:// instead of wss:// and rtmps://.
	Insecure bool
	Logger   *zap.Logger
	// ONVIF, when set, adjusts the simulated camera (vendor behaviours).
	ONVIF func(*onvifsim.Options)
	// ONVIFConfig, when set, is extra keys for the camera's onvif config
	// section in YAML flow style, e.g. "clock_sync: gateway".
	ONVIFConfig string
	// ONVIFByName configures the camera as localhost instead of 127.0.0.1,
	// as integrators who use host names do.
	ONVIFByName bool
	// Config, when set, adjusts the config Rig.Config returns.
	Config func(*config.Config)
	// NoUploads: the cloud serves no legacy upload endpoint and names none
	// in hello.
	NoUploads bool
}

// Start starts the simulated camera and cloud; Close stops them.
func Start(o Options) (_ *Rig, err error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	r := &Rig{onvifByName: o.ONVIFByName, adjust: o.Config}
	if o.ONVIFConfig != "" {
		r.onvifConfig = ", " + o.ONVIFConfig
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	o.RTSP.Username, o.RTSP.Password = User, Password
	r.RTSP = rtspsim.New(o.RTSP)
	if err := r.RTSP.Start(); err != nil {
		return nil, fmt.Errorf("simulated camera rtsp: %w", err)
	}
	oo := onvifsim.Options{
		Username: User, Password: Password,
		// Cameras are often hours off; the agent must sign with the camera's clock.
		ClockSkew: 90 * time.Minute,
		RTSPURL:   r.RTSP.URL(),
		DeviceInfo: onvifsim.DeviceInfo{
			Manufacturer: "SimCam", Model: "SC-640", FirmwareVersion: "1.0.0", SerialNumber: "SIM-0001",
		},
		Profiles: []onvifsim.Profile{{
			Token: "main", Name: "Main", Encoding: "H264", Width: 640, Height: 360,
			FrameRate: rtspsim.FPS, BitrateKbps: 1024, GOP: rtspsim.FPS, H264Profile: "Main", AudioEncoding: "AAC",
		}},
	}
	if o.ONVIF != nil {
		o.ONVIF(&oo)
	}
	r.ONVIF = onvifsim.New(oo)
	if err := r.ONVIF.Start(); err != nil {
		return nil, fmt.Errorf("simulated camera onvif: %w", err)
	}
	r.Ingest = cloudsim.NewIngest(cloudsim.IngestOptions{TLS: !o.Insecure})
	if err := r.Ingest.Start(); err != nil {
		return nil, fmt.Errorf("simulated cloud rtmp: %w", err)
	}
	r.Cloud, err = cloudsim.New(cloudsim.Options{TLS: !o.Insecure, MediaServer: r.Ingest.Addr(), Uploads: !o.NoUploads, Logger: o.Logger.Named("cloudsim")})
	if err != nil {
		return nil, fmt.Errorf("simulated cloud: %w", err)
	}
	if err := r.Cloud.Start(); err != nil {
		return nil, fmt.Errorf("simulated cloud: %w", err)
	}
	r.Roots = x509.NewCertPool()
	if !o.Insecure {
		r.Roots.AppendCertsFromPEM(r.Cloud.CertPEM())
		r.Roots.AppendCertsFromPEM(r.Ingest.CertPEM())
	}
	return r, nil
}

// Config is the config an integrator would write for the rig's camera
// (named "demo"), adjusted by Options.Config and validated.
func (r *Rig) Config(stateDir, listen string, insecure bool) (*config.Config, error) {
	yaml := fmt.Sprintf(`state_dir: %q
http: {listen: %q}
cloud: {insecure: %t}
cameras:
  - name: demo
    token: %q
    onvif: {url: %q, username: %q, password: %q%s}
`, stateDir, listen, insecure, r.Cloud.Token(), r.onvifURL(), User, Password, r.onvifConfig)
	cfg, err := config.Parse([]byte(yaml), "demo")
	if err != nil || r.adjust == nil {
		return cfg, err
	}
	r.adjust(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (r *Rig) onvifURL() string {
	if r.onvifByName {
		return strings.Replace(r.ONVIF.URL(), "127.0.0.1", "localhost", 1)
	}
	return r.ONVIF.URL()
}

// Close stops what Start started, the cloud first.
func (r *Rig) Close() {
	if r.Cloud != nil {
		r.Cloud.Close()
	}
	if r.Ingest != nil {
		r.Ingest.Close()
	}
	if r.ONVIF != nil {
		r.ONVIF.Close()
	}
	if r.RTSP != nil {
		r.RTSP.Close()
	}
}

// IngestTotals sums what reached the ingest over all publishes: video
// frames and bytes, and whether the first publish began with a key frame.
func IngestTotals(in *cloudsim.Ingest) (frames int, bytes int64, firstKey bool) {
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
