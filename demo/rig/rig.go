// Package rig is simulated cameras and a simulated cloud on loopback: each
// camera serves RTSP and ONVIF with a skewed clock and digest credentials,
// the cloud serves the camera channel over wss (with its legacy upload
// endpoint) and an rtmps ingest. The demo and the agent's end-to-end tests
// share it. It imports the simulators and config, never agent, so agent's
// tests can use it and the daemon links none of it.
package rig

import (
	"cmp"
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

// Rig is a running set of simulated cameras and their cloud.
type Rig struct {
	// The first camera's RTSP and ONVIF servers and its camera-channel
	// server (Cameras[0]), and the cloud's rtmp(s) ingest all cameras
	// publish to.
	RTSP   *rtspsim.Server
	ONVIF  *onvifsim.Server
	Ingest *cloudsim.Ingest
	Cloud  *cloudsim.Server
	// Cameras are all the cameras, in config order.
	Cameras []*Camera
	// Roots trusts the cloud's and the ingest's self-signed certificates
	// (empty when Options.Insecure).
	Roots *x509.CertPool

	onvifConfig string // ", " + Options.ONVIFConfig, or ""
	onvifByName bool
	adjust      func(*config.Config)
}

// Camera is one simulated camera and the cloud's camera-channel server
// holding its token: a cloudsim server is strict about one camera token,
// so each camera has a server of its own, as each has its own token.
type Camera struct {
	Name  string
	RTSP  *rtspsim.Server
	ONVIF *onvifsim.Server
	Cloud *cloudsim.Server
}

// Options varies the simulated parts for tests; the zero value is the
// agent tests' one camera.
type Options struct {
	RTSP rtspsim.Options
	// Insecure serves ws:// and rtmp:// instead of wss:// and rtmps://.
	Insecure bool
	Logger   *zap.Logger
	// Name is the first camera's name; default "demo".
	Name string
	// ONVIF, when set, adjusts the first simulated camera (vendor behaviours).
	ONVIF func(*onvifsim.Options)
	// ONVIFConfig, when set, is extra keys for every camera's onvif config
	// section in YAML flow style, e.g. "clock_sync: gateway".
	ONVIFConfig string
	// ONVIFByName configures the cameras as localhost instead of 127.0.0.1,
	// as integrators who use host names do.
	ONVIFByName bool
	// Config, when set, adjusts the config Rig.Config returns.
	Config func(*config.Config)
	// NoUploads: the cloud serves no legacy upload endpoint and names none
	// in hello.
	NoUploads bool
	// More are cameras after the first.
	More []CameraOptions
}

// CameraOptions is a camera after the first.
type CameraOptions struct {
	Name string
	// ONVIF, when set, adjusts the simulated camera.
	ONVIF func(*onvifsim.Options)
}

// firstCamID is the first camera's cloud camera id; the next cameras
// count up in tens, so the ids tell cameras apart at a glance.
const firstCamID = 310042

// Start starts the simulated cameras and cloud; Close stops them.
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
	r.Ingest = cloudsim.NewIngest(cloudsim.IngestOptions{TLS: !o.Insecure})
	if err := r.Ingest.Start(); err != nil {
		return nil, fmt.Errorf("simulated cloud rtmp: %w", err)
	}
	r.Roots = x509.NewCertPool()
	if !o.Insecure {
		r.Roots.AppendCertsFromPEM(r.Ingest.CertPEM())
	}
	cams := append([]CameraOptions{{Name: cmp.Or(o.Name, "demo"), ONVIF: o.ONVIF}}, o.More...)
	for i, co := range cams {
		c := &Camera{Name: co.Name}
		r.Cameras = append(r.Cameras, c)
		if err := r.startCamera(c, i, co, o); err != nil {
			return nil, fmt.Errorf("camera %s: %w", c.Name, err)
		}
	}
	first := r.Cameras[0]
	r.RTSP, r.ONVIF, r.Cloud = first.RTSP, first.ONVIF, first.Cloud
	return r, nil
}

// startCamera starts the i-th camera's servers and its cloud server.
func (r *Rig) startCamera(c *Camera, i int, co CameraOptions, o Options) error {
	ro := o.RTSP
	ro.Username, ro.Password = User, Password
	c.RTSP = rtspsim.New(ro)
	if err := c.RTSP.Start(); err != nil {
		return fmt.Errorf("simulated camera rtsp: %w", err)
	}
	oo := onvifsim.Options{
		Username: User, Password: Password,
		// Cameras are often hours off; the agent must sign with the camera's clock.
		ClockSkew: 90 * time.Minute,
		RTSPURL:   c.RTSP.URL(),
		DeviceInfo: onvifsim.DeviceInfo{
			Manufacturer: "SimCam", Model: "SC-640", FirmwareVersion: "1.0.0", SerialNumber: fmt.Sprintf("SIM-%04d", i+1),
		},
		Profiles: []onvifsim.Profile{{
			Token: "main", Name: "Main", Encoding: "H264", Width: 640, Height: 360,
			FrameRate: rtspsim.FPS, BitrateKbps: 1024, GOP: rtspsim.FPS, H264Profile: "Main", AudioEncoding: "AAC",
		}},
	}
	if co.ONVIF != nil {
		co.ONVIF(&oo)
	}
	c.ONVIF = onvifsim.New(oo)
	if err := c.ONVIF.Start(); err != nil {
		return fmt.Errorf("simulated camera onvif: %w", err)
	}
	var err error
	c.Cloud, err = cloudsim.New(cloudsim.Options{TLS: !o.Insecure, CamID: firstCamID + 10*int64(i), MediaServer: r.Ingest.Addr(),
		Uploads: !o.NoUploads, Logger: o.Logger.Named("cloudsim").With(zap.String("camera", c.Name))})
	if err != nil {
		return fmt.Errorf("simulated cloud: %w", err)
	}
	if err := c.Cloud.Start(); err != nil {
		return fmt.Errorf("simulated cloud: %w", err)
	}
	if !o.Insecure {
		r.Roots.AppendCertsFromPEM(c.Cloud.CertPEM())
	}
	return nil
}

// Config is the config an integrator would write for the rig's cameras
// (the first named "demo" unless Options.Name says otherwise), adjusted by
// Options.Config and validated.
func (r *Rig) Config(stateDir, listen string, insecure bool) (*config.Config, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %q\nhttp: {listen: %q}\ncloud: {insecure: %t}\ncameras:\n", stateDir, listen, insecure)
	for _, c := range r.Cameras {
		fmt.Fprintf(&b, "  - name: %s\n    token: %q\n    onvif: {url: %q, username: %q, password: %q%s}\n",
			c.Name, c.Cloud.Token(), r.onvifURL(c.ONVIF), User, Password, r.onvifConfig)
	}
	cfg, err := config.Parse([]byte(b.String()), "demo")
	if err != nil || r.adjust == nil {
		return cfg, err
	}
	r.adjust(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (r *Rig) onvifURL(s *onvifsim.Server) string {
	if r.onvifByName {
		return strings.Replace(s.URL(), "127.0.0.1", "localhost", 1)
	}
	return s.URL()
}

// Close stops what Start started, the cloud first.
func (r *Rig) Close() {
	for _, c := range r.Cameras {
		if c.Cloud != nil {
			c.Cloud.Close()
		}
	}
	if r.Ingest != nil {
		r.Ingest.Close()
	}
	for _, c := range r.Cameras {
		if c.ONVIF != nil {
			c.ONVIF.Close()
		}
		if c.RTSP != nil {
			c.RTSP.Close()
		}
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
