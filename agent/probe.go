package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig needs the decoders of the formats cameras serve
	_ "image/png"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
)

// DefaultProbeTimeout bounds each step of Probe (one ONVIF call, one RTSP
// DESCRIBE, one snapshot) when ProbeOptions.Timeout is zero.
const DefaultProbeTimeout = 5 * time.Second

// ProbeOptions configures Probe.
type ProbeOptions struct {
	// URL is the camera's ONVIF device service URL, or just its host[:port]
	// (then http and the usual /onvif/device_service path are assumed).
	URL string
	// Username and Password are tried for ONVIF, RTSP and the snapshot,
	// as the agent would use them. The password never appears in the report.
	Username string
	Password string
	// Timeout bounds each step; DefaultProbeTimeout when zero.
	Timeout time.Duration
	// Logger is optional.
	Logger *zap.Logger
}

// ProbeReport is what Probe found out about one camera, for an installer.
type ProbeReport struct {
	// URL is the probed address, without credentials.
	URL string `json:"url"`
	// Usable says whether the agent can stream this camera; Verdict says
	// why in one line ("usable: …" or "not usable: …").
	Usable  bool   `json:"usable"`
	Verdict string `json:"verdict"`
	// Auth names the schemes that worked (onvif.AuthUsernameToken,
	// onvif.AuthHTTPDigest); empty without credentials. AuthMode says the
	// same in words ("HTTP digest only (the camera refuses ONVIF user
	// tokens)").
	Auth     []string     `json:"auth,omitempty"`
	AuthMode string       `json:"auth_mode,omitempty"`
	Device   *ProbeDevice `json:"device,omitempty"`
	Clock    *ProbeClock  `json:"clock,omitempty"`
	// Services maps service names (device, media, media2, ptz, events,
	// imaging, analytics) to the addresses in use; absent ones are not
	// offered.
	Services map[string]string `json:"services,omitempty"`
	// ServiceProblems names announced services that do not answer,
	// with why; they are treated as absent.
	ServiceProblems map[string]string `json:"service_problems,omitempty"`
	Profiles        []ProbeProfile    `json:"profiles,omitempty"`
	Snapshot        *ProbeSnapshot    `json:"snapshot,omitempty"`
	PTZ             *ProbeFeature     `json:"ptz,omitempty"`
	Events          *ProbeFeature     `json:"events,omitempty"`
	Motion          *ProbeFeature     `json:"motion,omitempty"`
	// Capabilities is the verdict on each thing the cloud will ask of
	// the camera.
	Capabilities []ProbeCapability `json:"capabilities,omitempty"`
	// Errors lists steps that failed without deciding the verdict.
	Errors []string `json:"errors,omitempty"`
}

// largeSkew is the clock skew worth pointing out to an installer.
const largeSkew = time.Minute

// ProbeDevice is what the camera says about itself.
type ProbeDevice struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Firmware     string `json:"firmware"`
	Serial       string `json:"serial"`
	HardwareID   string `json:"hardware_id,omitempty"`
}

// serviceNames orders ProbeReport.Services for people.
var serviceNames = []string{"device", "media", "media2", "ptz", "events", "imaging", "analytics"}

// ProbeClock is the camera's clock compared with this host's.
type ProbeClock struct {
	CameraUTC time.Time `json:"camera_utc"`
	// SkewSeconds is the camera clock minus this host's clock. The agent
	// copes with any skew; a large one still spoils recordings' times
	// unless the camera uses NTP.
	SkewSeconds float64 `json:"skew_seconds"`
	NTP         bool    `json:"ntp"`
	TZ          string  `json:"tz,omitempty"`
	// Unknown says why the camera's time could not be read; the other
	// fields are then empty.
	Unknown string `json:"unknown,omitempty"`
}

// ProbeProfile is one media profile with its stream as RTSP describes it.
type ProbeProfile struct {
	Token       string  `json:"token"`
	Name        string  `json:"name"`
	Encoding    string  `json:"encoding,omitempty"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	FPS         float64 `json:"fps,omitempty"`
	BitrateKbps int     `json:"bitrate_kbps,omitempty"`
	Audio       string  `json:"audio,omitempty"`
	// StreamURI is the RTSP URI without credentials.
	StreamURI string `json:"stream_uri,omitempty"`
	// Tracks are what DESCRIBE announced; Error says why there are none.
	Tracks []ProbeTrack `json:"tracks,omitempty"`
	Error  string       `json:"error,omitempty"`

	rtspErr error // classifies the verdict when no profile is usable
}

// ProbeTrack is one track of an RTSP stream.
type ProbeTrack struct {
	Kind  string `json:"kind"`
	Codec string `json:"codec"`
	// Carried says whether the agent can forward this codec.
	Carried    bool `json:"carried"`
	Width      int  `json:"width,omitempty"`
	Height     int  `json:"height,omitempty"`
	SampleRate int  `json:"sample_rate,omitempty"`
	Channels   int  `json:"channels,omitempty"`
}

// ProbeSnapshot is the camera's snapshot as fetched with its auth.
type ProbeSnapshot struct {
	URI string `json:"uri,omitempty"`
	// Format is the picture's format ("JPEG", "PNG"); a PNG is converted
	// to JPEG for the cloud. Empty when the body is no picture.
	Format string `json:"format,omitempty"`
	Bytes  int    `json:"bytes,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	Error  string `json:"error,omitempty"`

	notOffered bool // the camera offers no snapshot URI
}

// ProbeFeature is an optional camera capability: whether it works and what
// it offers, in a few words.
type ProbeFeature struct {
	Supported bool     `json:"supported"`
	Detail    string   `json:"detail,omitempty"`
	Items     []string `json:"items,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Probe is the camera doctor: it connects as the agent would and reports
// device information, clock skew, which authentication worked, services,
// profiles, what RTSP DESCRIBE returns for each stream, the snapshot, PTZ,
// events and the motion engine, ending with a verdict. Camera problems are
// in the report (Usable false), not in the error, which is only for bad
// options or a cancelled ctx.
func Probe(ctx context.Context, opts ProbeOptions) (ProbeReport, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultProbeTimeout
	}
	if !strings.Contains(opts.URL, "://") {
		// Installers type the camera's address; ONVIF is plain HTTP.
		opts.URL = "http://" + opts.URL
	}
	c, err := onvif.New(onvif.Options{URL: opts.URL, Username: opts.Username, Password: opts.Password,
		Timeout: opts.Timeout, Logger: opts.Logger})
	if err != nil {
		return ProbeReport{}, fmt.Errorf("probe: %w", err)
	}
	p := &prober{c: c, opts: opts}
	p.r.URL = p.redact(opts.URL)
	p.run(ctx)
	if err := ctx.Err(); err != nil {
		return ProbeReport{}, fmt.Errorf("probe: %w", err)
	}
	return p.r, nil
}

// prober carries one Probe's state; its steps fill r in order.
type prober struct {
	c    *onvif.Client
	opts ProbeOptions
	r    ProbeReport
}

func (p *prober) run(ctx context.Context) {
	if err := p.c.Connect(ctx); err != nil {
		p.r.Verdict = "not usable: " + p.connectProblem(err)
		return
	}
	p.r.Auth = p.c.AuthUsed()
	svc := p.c.Services()
	p.r.Services = map[string]string{}
	for i, addr := range []string{svc.Device, svc.Media, svc.Media2, svc.PTZ, svc.Events, svc.Imaging, svc.Analytics} {
		if addr != "" {
			p.r.Services[serviceNames[i]] = addr
		}
	}
	p.clock(ctx)
	if d, err := p.c.DeviceInfo(ctx); err != nil {
		p.fail("device information", err)
	} else {
		p.r.Device = &ProbeDevice{Manufacturer: d.Manufacturer, Model: d.Model, Firmware: d.FirmwareVersion,
			Serial: d.SerialNumber, HardwareID: d.HardwareID}
	}
	profiles, err := p.c.Profiles(ctx)
	if err != nil {
		p.r.Verdict = "not usable: cannot read media profiles: " + p.scrub(err)
		return
	}
	if len(profiles) == 0 {
		p.r.Verdict = "not usable: camera has no media profiles"
		return
	}
	for i := range profiles {
		p.r.Profiles = append(p.r.Profiles, p.profile(ctx, &profiles[i]))
	}
	p.snapshot(ctx, profiles)
	p.ptz(ctx, svc, profiles[0].Token)
	p.events(ctx, svc)
	p.motion(ctx, profiles[0].Token)
	p.r.Usable, p.r.Verdict = p.verdict()
	p.capabilities(ctx, profiles, svc)
	// Later calls may have met an HTTP digest challenge or found a
	// service that does not answer.
	p.r.Auth, p.r.AuthMode = p.c.AuthUsed(), p.c.Auth().String()
	for name, err := range p.c.ServiceProblems() {
		if p.r.ServiceProblems == nil {
			p.r.ServiceProblems = map[string]string{}
		}
		p.r.ServiceProblems[name] = cause(err)
	}
}

// connectProblem says in words why Connect failed.
func (p *prober) connectProblem(err error) string {
	var f *onvif.Fault
	switch {
	case errors.Is(err, onvif.ErrUnauthorized):
		said := "HTTP 401"
		var he *onvif.HTTPError
		switch {
		case errors.As(err, &f) && f.Subcode != "":
			said = f.Subcode
		case errors.As(err, &f) && f.Reason != "":
			said = fmt.Sprintf("%q", f.Reason)
		case errors.As(err, &f):
			said = f.Code
		case errors.As(err, &he):
			said = fmt.Sprintf("HTTP %d", he.Status)
			if he.Text != "" {
				said += fmt.Sprintf(" %q", he.Text)
			}
		}
		if p.opts.Username == "" {
			return fmt.Sprintf("camera wants credentials (ONVIF said %s)", said)
		}
		return fmt.Sprintf("wrong credentials (ONVIF said %s)", said)
	case errors.Is(err, onvif.ErrUnreachable):
		return fmt.Sprintf("camera unreachable at %s (%s)", p.hostPort(), p.scrub(errors.New(cause(err))))
	case errors.Is(err, onvif.ErrUnsupported):
		return "no ONVIF media service (" + p.scrub(err) + ")"
	}
	return "onvif connect failed: " + p.scrub(err)
}

// hostPort is the camera's address as the installer gave it.
func (p *prober) hostPort() string {
	if u, err := url.Parse(p.opts.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return p.c.Host()
}

func (p *prober) clock(ctx context.Context) {
	off := p.c.ClockOffset()
	pc := &ProbeClock{CameraUTC: time.Now().Add(off).UTC().Truncate(time.Second), SkewSeconds: off.Round(100 * time.Millisecond).Seconds()}
	if st, err := p.c.SystemTime(ctx); err != nil {
		// Connect's offset is then 0 for want of one: not a fact to show.
		p.r.Clock = &ProbeClock{Unknown: "GetSystemDateAndTime failed: " + p.scrub(err)}
		return
	} else {
		pc.CameraUTC, pc.NTP, pc.TZ = st.UTC, st.NTP, st.TZ
	}
	p.r.Clock = pc
}

func (p *prober) profile(ctx context.Context, pr *onvif.Profile) ProbeProfile {
	out := ProbeProfile{Token: pr.Token, Name: pr.Name}
	if v := pr.Video; v != nil {
		out.Encoding, out.Width, out.Height, out.FPS, out.BitrateKbps = v.Encoding, v.Width, v.Height, v.FrameRate, v.BitrateKbps
	}
	if a := pr.Audio; a != nil {
		out.Audio = a.Encoding
	}
	uri, err := p.c.StreamURI(ctx, pr.Token)
	if err != nil {
		out.Error = "stream uri: " + p.scrub(err)
		return out
	}
	out.StreamURI = p.redact(uri)
	dctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	tracks, err := media.Describe(dctx, uri, p.opts.Username, p.opts.Password)
	if err != nil {
		out.Error = p.scrub(err)
		out.rtspErr = err
		return out
	}
	for _, t := range tracks {
		out.Tracks = append(out.Tracks, ProbeTrack{Kind: t.Kind, Codec: t.Format, Carried: t.Codec != media.CodecUnknown,
			Width: t.Width, Height: t.Height, SampleRate: t.SampleRate, Channels: t.Channels})
	}
	return out
}

// snapshot fetches the first profile's snapshot that the camera offers.
func (p *prober) snapshot(ctx context.Context, profiles []onvif.Profile) {
	s := &ProbeSnapshot{}
	p.r.Snapshot = s
	var uri string
	var err error
	for _, pr := range profiles {
		if uri, err = p.c.SnapshotURI(ctx, pr.Token); err == nil {
			break
		}
	}
	if err != nil {
		s.Error = "snapshot uri: " + p.scrub(err)
		s.notOffered = errors.Is(err, onvif.ErrUnsupported)
		return
	}
	s.URI = p.redact(uri)
	data, err := p.c.Snapshot(ctx, uri)
	if err != nil {
		s.Error = p.scrub(err)
		return
	}
	s.Bytes = len(data)
	if len(data) == 0 {
		s.Error = "the camera answered with an empty body"
		return
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err != nil:
		// Say what came instead: cameras answer errors with an HTML page.
		s.Error = fmt.Sprintf("not a picture: %s, %d bytes", http.DetectContentType(data), len(data))
		return
	case format != "jpeg" && format != "png":
		s.Error = fmt.Sprintf("picture is %s %dx%d, which the cloud does not take", strings.ToUpper(format), cfg.Width, cfg.Height)
	}
	s.Format, s.Width, s.Height = strings.ToUpper(format), cfg.Width, cfg.Height
	if format == "jpeg" {
		s.Format = "JPEG"
	}
}

func (p *prober) ptz(ctx context.Context, svc onvif.Services, profileToken string) {
	f := &ProbeFeature{}
	p.r.PTZ = f
	if svc.PTZ == "" {
		f.Detail = "no PTZ service"
		return
	}
	info, err := p.c.PTZConfig(ctx, profileToken)
	if errors.Is(err, onvif.ErrUnsupported) {
		f.Detail = "PTZ service, but the main profile has no PTZ node"
		return
	}
	if err != nil {
		f.Error = p.scrub(err)
		return
	}
	f.Supported = true
	var can []string
	if info.ContinuousPanTilt {
		can = append(can, "pan/tilt")
	}
	if info.ContinuousZoom {
		can = append(can, "zoom")
	}
	if info.HomeSupported {
		can = append(can, "home")
	}
	f.Detail = fmt.Sprintf("%s; up to %d presets", orNone(strings.Join(can, ", ")), info.MaxPresets)
	presets, err := p.c.Presets(ctx, profileToken)
	if err != nil {
		f.Error = "presets: " + p.scrub(err)
		return
	}
	for _, pr := range presets {
		name := pr.Name
		if name == "" {
			name = pr.Token
		}
		f.Items = append(f.Items, name)
	}
}

// events checks that a pull-point subscription works, which is how the
// agent receives motion, and lists the event kinds the camera's topics offer.
func (p *prober) events(ctx context.Context, svc onvif.Services) {
	f := &ProbeFeature{}
	p.r.Events = f
	if svc.Events == "" {
		f.Detail = "no events service"
		return
	}
	pp, err := p.c.Subscribe(ctx)
	if err != nil {
		f.Error = "pull-point subscription: " + p.scrub(err)
		return
	}
	f.Supported = true
	f.Detail = "pull-point subscription works"
	if topics, err := p.c.EventTopics(ctx); err == nil {
		kinds := map[onvif.Kind]bool{}
		for _, t := range topics {
			if t.Kind != "" && !kinds[t.Kind] {
				kinds[t.Kind] = true
				f.Items = append(f.Items, string(t.Kind))
			}
		}
		f.Detail += fmt.Sprintf("; %d topics", len(topics))
	}
	if err := pp.Unsubscribe(ctx); err != nil {
		f.Error = "unsubscribe: " + p.scrub(err)
	}
}

func (p *prober) motion(ctx context.Context, profileToken string) {
	f := &ProbeFeature{}
	p.r.Motion = f
	m, err := p.c.MotionConfig(ctx, profileToken)
	if errors.Is(err, onvif.ErrUnsupported) {
		f.Detail = "no cell motion engine; motion only from camera events"
		return
	}
	if err != nil {
		f.Error = p.scrub(err)
		return
	}
	f.Supported = true
	f.Detail = fmt.Sprintf("cell motion %dx%d, sensitivity %d", m.Columns, m.Rows, m.Sensitivity)
}

// verdict decides usability from the profiles: the agent needs one stream
// with a video track it can forward.
func (p *prober) verdict() (bool, string) {
	var offered []string
	var rtspErr error
	for _, pr := range p.r.Profiles {
		for _, t := range pr.Tracks {
			if t.Kind == "video" {
				offered = append(offered, t.Codec)
			}
			if t.Kind != "video" || !t.Carried {
				continue
			}
			w, h := t.Width, t.Height
			if w == 0 {
				w, h = pr.Width, pr.Height
			}
			return true, fmt.Sprintf("usable: %s %dx%d stream reachable over RTSP (profile %s)", codecLabel(t.Codec), w, h, pr.Name)
		}
		if rtspErr == nil {
			rtspErr = pr.rtspErr
		}
	}
	switch {
	case errors.Is(rtspErr, media.ErrUnauthorized):
		return false, "not usable: RTSP refused the credentials (DESCRIBE answered 401)"
	case errors.Is(rtspErr, media.ErrUnreachable):
		return false, "not usable: RTSP stream unreachable (" + p.scrub(errors.New(cause(rtspErr))) + ")"
	case len(offered) > 0:
		return false, "not usable: no video codec the agent can forward (camera offers " + strings.Join(offered, ", ") + ")"
	case rtspErr != nil:
		return false, "not usable: RTSP DESCRIBE failed: " + p.scrub(rtspErr)
	}
	return false, "not usable: no profile gave an RTSP stream with video"
}

func (p *prober) fail(step string, err error) {
	p.r.Errors = append(p.r.Errors, step+": "+p.scrub(err))
}

// scrub renders err without the password, which no step should include but
// a camera's error text might echo.
func (p *prober) scrub(err error) string {
	s := err.Error()
	if p.opts.Password != "" {
		s = strings.ReplaceAll(s, p.opts.Password, "***")
	}
	return s
}

// redact drops a URL's userinfo and masks the password elsewhere in it:
// some cameras put credentials in the URIs they hand out.
func (p *prober) redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	u.User = nil
	s := u.String()
	if p.opts.Password != "" {
		s = strings.ReplaceAll(s, url.QueryEscape(p.opts.Password), "***")
		s = strings.ReplaceAll(s, p.opts.Password, "***")
	}
	return s
}

// codecLabel spells gortsplib's codec names the way people write them.
func codecLabel(c string) string {
	switch c {
	case "H264":
		return "H.264"
	case "H265":
		return "H.265"
	}
	return c
}

func orNone(s string) string {
	if s == "" {
		return "no moves"
	}
	return s
}
