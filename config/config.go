// Package config is camagent's typed configuration: the YAML schema, its
// defaults, ${ENV} and systemd-credential substitution, and validation.
//
// Loading goes defaults → file → substitution → Validate. Unknown keys are
// errors, and every error names the key path (cameras[1].onvif.url), what is
// allowed, and the file and line when known, so a typo never silently turns
// into a default. packaging/camagent.example.yaml documents every key.
package config

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults for optional keys.
const (
	DefaultStateDir     = "/var/lib/camagent"
	DefaultListen       = "127.0.0.1:8089"
	DefaultONVIFTimeout = 10 * time.Second
	// DefaultMaxClockSkew is how far a camera's clock may be off before
	// the agent warns or, with clock_sync, corrects it. Event times a few
	// seconds off are harmless; minutes off misplace clips on the timeline.
	DefaultMaxClockSkew = 30 * time.Second
)

// maxFileSize bounds what Load and Parse accept; real configs are a few KiB.
const maxFileSize = 1 << 20

// Config is the whole agent configuration.
type Config struct {
	// StateDir holds persisted cloud state and, later, recordings.
	StateDir string `yaml:"state_dir"`
	Log      Log    `yaml:"log"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT, which
	// wins when set in the environment); 0 is off.
	MemoryLimit MemoryLimit `yaml:"memory_limit"`
	HTTP        HTTP        `yaml:"http"`
	Cloud       Cloud       `yaml:"cloud"`
	Events      Events      `yaml:"events"`
	Uploads     Uploads     `yaml:"uploads"`
	// Recording is where and how much the cameras that record keep.
	Recording Recording `yaml:"recording"`
	Cameras   []Camera  `yaml:"cameras"`

	source string            // file name for error messages
	lines  map[string]int    // key path → line, for Validate's errors
	digest [sha256.Size]byte // of the parsed text, for Watcher
}

// Log configures logging.
type Log struct {
	Level Level `yaml:"level"` // minimum level; default info
}

// Cloud configures the connection to the VXG cloud. Where to connect comes
// from each camera's token.
type Cloud struct {
	// Insecure uses ws:// and rtmp:// instead of wss:// and rtmps://. Only
	// for test clouds.
	Insecure bool `yaml:"insecure"`
	// CAFile is a PEM bundle trusted instead of the system roots; "" uses
	// the system roots.
	CAFile string `yaml:"ca_file"`
}

// Camera is one camera the agent serves.
type Camera struct {
	// Name identifies the camera in logs, metrics and the status page:
	// 1–64 characters of A–Z a–z 0–9 _ -, unique.
	Name string `yaml:"name"`
	// Token is the VXG camera access token (base64); required.
	Token Secret `yaml:"token"`
	ONVIF ONVIF  `yaml:"onvif"`
	// RTSP, when set, is pulled instead of asking ONVIF GetStreamUri. It may
	// carry credentials, hence SecretURL.
	RTSP SecretURL `yaml:"rtsp"`
	// RTSPTransport is how RTP travels from the camera; default tcp.
	RTSPTransport RTSPTransport `yaml:"rtsp_transport"`
	// Pull says which streams stay pulled without a reader.
	Pull Pull `yaml:"pull"`
	// Events configures this camera's own event kinds.
	Events CameraEvents `yaml:"events"`
	// Recording is the camera's continuous local recording.
	Recording CameraRecording `yaml:"recording"`
}

// CameraEvents configures one camera's events.
type CameraEvents struct {
	// Custom are event kinds other programs on the gateway raise through
	// the local event input (a door contact, a doorbell, an AI detector):
	// declared to the cloud, with snapshot and clip like motion.
	Custom []string `yaml:"custom"`
}

// ONVIF says how to reach a camera's ONVIF device service.
type ONVIF struct {
	URL      string        `yaml:"url"` // device service URL, http or https
	Username string        `yaml:"username"`
	Password Secret        `yaml:"password"`
	Timeout  time.Duration `yaml:"timeout"` // per request; default 10s
	// ClockSync corrects a camera clock off by more than MaxClockSkew;
	// default off (warn only).
	ClockSync ClockSync `yaml:"clock_sync"`
	// NTPServers are the host names or IP addresses given to the camera
	// with clock_sync ntp; empty makes the camera use the servers DHCP
	// announces.
	NTPServers []string `yaml:"ntp_servers"`
	// MaxClockSkew is the tolerated camera clock error; default 30s.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
}

// Default returns a Config with every default set and no cameras.
func Default() *Config {
	return &Config{
		StateDir:    DefaultStateDir,
		Log:         Log{Level: LevelInfo},
		MemoryLimit: DefaultMemoryLimit,
		HTTP:        HTTP{Listen: DefaultListen},
		Events:      Events{PrebufferMemory: DefaultPrebufferMemory, SnapshotMax: DefaultSnapshotMax},
		Uploads:     Uploads{SpoolMax: DefaultSpoolMax, MinFree: DefaultMinFree},
		Recording:   Recording{MinFree: DefaultRecordingMinFree},
	}
}

// defaultCamera is what each cameras[] entry starts from.
func defaultCamera() Camera {
	return Camera{
		ONVIF:         ONVIF{Timeout: DefaultONVIFTimeout, MaxClockSkew: DefaultMaxClockSkew},
		RTSPTransport: RTSPTransportTCP,
		Pull:          Pull{Warm: PullWarmMain, IdleTimeout: DefaultPullIdleTimeout},
		Recording:     CameraRecording{Stream: RecordingStreamMain, Segment: DefaultRecordingSegment},
	}
}

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	data, err := read(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// LoadChecked is Load followed by check, a check that needs more than the
// file (agent.Check: tokens decode, the CA file holds certificates). check
// runs even when Validate refused the file, as long as it decoded, so that
// one run reports every problem; its errors about keys already reported are
// dropped. check must not change anything.
func LoadChecked(path string, check func(*Config) error) (*Config, error) {
	data, err := read(path)
	if err != nil {
		return nil, err
	}
	return parse(data, path, check)
}

func read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	// Read one byte past the limit so Parse can refuse an oversized file.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return data, nil
}

// Parse builds a Config from YAML text: defaults, then the document, then
// ${ENV} and credential: substitution, then Validate. source names the text
// in error messages (usually the file name). The returned error is a
// *FieldError or an errors.Join of them (see FieldErrors), every problem of
// the file in the order of its lines; a YAML syntax error is one too, at the
// line the YAML library names, unless the library names none.
func Parse(data []byte, source string) (*Config, error) {
	return parse(data, source, nil)
}

func parse(data []byte, source string, check func(*Config) error) (*Config, error) {
	if len(data) > maxFileSize {
		return nil, &FieldError{Source: source, Msg: "config is larger than " + strconv.Itoa(maxFileSize) + " bytes"}
	}
	cfg := Default()
	cfg.source = source
	d := decoder{source: source, lookup: os.LookupEnv, lines: map[string]int{}}
	if err := d.document(data, cfg); err != nil {
		return nil, err
	}
	if d.capped() {
		return nil, errors.Join(d.errs...)
	}
	cfg.lines = d.lines
	cfg.digest = sha256.Sum256(data)
	// A refused value keeps its default: Validate's word on it, or on the
	// keys below it, would only echo the decoder's.
	errs := d.errs
	var validated []string
	for _, err := range splitErrors(cfg.Validate()) {
		p, ok := fieldPath(err)
		if ok && underAny(p, d.refused) {
			continue
		}
		errs = append(errs, err)
		if ok {
			validated = append(validated, p)
		}
	}
	if check != nil {
		for _, err := range splitErrors(check(cfg)) {
			p, ok := fieldPath(err)
			if !ok || !underAny(p, d.refused) && !slices.Contains(validated, p) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(errorLine(a), errorLine(b)) })
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// splitErrors undoes one errors.Join.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func fieldPath(err error) (string, bool) {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return "", false
	}
	return fe.Path, true
}

func errorLine(err error) int {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return 0
	}
	return fe.Line
}

// underAny reports whether path is one of roots or a key below one.
func underAny(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || r != "" && strings.HasPrefix(path, r) && strings.ContainsRune(".[", rune(path[len(r)])) {
			return true
		}
	}
	return false
}

// Validate checks every key and returns all problems at once, each a
// *FieldError naming the key path and what is allowed.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Source: c.source, Line: c.line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}

	if c.StateDir == "" {
		bad("state_dir", "must not be empty")
	}
	if _, ok := levelNames[c.Log.Level]; !ok {
		bad("log.level", "%d is not one of debug, info, warn, error", int8(c.Log.Level))
	}
	c.validateMemoryLimit(bad)
	c.validateHTTP(bad)
	if c.Cloud.CAFile != "" {
		if _, err := os.Stat(c.Cloud.CAFile); err != nil {
			bad("cloud.ca_file", "%v", err)
		}
	}

	if len(c.Cameras) == 0 {
		bad("cameras", "at least one camera is required")
	}
	seen := map[string]int{}
	for i, cam := range c.Cameras {
		p := "cameras[" + strconv.Itoa(i) + "]"
		switch {
		case cam.Name == "":
			bad(p+".name", "is required")
		case !validName(cam.Name):
			bad(p+".name", "%q must be 1-64 characters of A-Z a-z 0-9 _ -", cam.Name)
		default:
			if j, dup := seen[cam.Name]; dup {
				bad(p+".name", "duplicate name %q (also cameras[%d])", cam.Name, j)
			} else {
				seen[cam.Name] = i
			}
		}
		if cam.Token.IsZero() {
			bad(p+".token", "is required (the VXG camera access token)")
		}
		if cam.ONVIF.URL == "" && cam.RTSP.IsZero() {
			bad(p, "needs onvif.url or rtsp")
		}
		if cam.ONVIF.URL != "" {
			// onvif.url is not a secret: a user:password in it would reach
			// logs and pages, so it is refused without being quoted.
			if u, err := url.Parse(cam.ONVIF.URL); err == nil && u.User != nil {
				bad(p+".onvif.url", "must not carry user:password (it would show in logs); put them in onvif.username and onvif.password")
			} else if err := checkURL(cam.ONVIF.URL, "http", "https"); err != nil {
				bad(p+".onvif.url", "%q %v", cam.ONVIF.URL, err)
			}
		}
		if cam.ONVIF.Timeout <= 0 {
			bad(p+".onvif.timeout", "%s must be positive (e.g. 10s)", cam.ONVIF.Timeout)
		}
		c.validateClock(p+".onvif", cam.ONVIF, bad)
		if !cam.RTSP.IsZero() {
			if err := checkURL(cam.RTSP.Reveal(), "rtsp", "rtsps"); err != nil {
				// The URL may hold a password: show only its redacted form.
				bad(p+".rtsp", "%q %v", cam.RTSP.String(), err)
			}
		}
		if cam.RTSPTransport != RTSPTransportTCP && cam.RTSPTransport != RTSPTransportUDP {
			bad(p+".rtsp_transport", "%d is not one of tcp, udp", int8(cam.RTSPTransport))
		}
		if cam.Pull.Warm < PullWarmMain || cam.Pull.Warm > PullWarmNone {
			bad(p+".pull.warm", "%d is not one of main, all, none", int8(cam.Pull.Warm))
		}
		if cam.Pull.IdleTimeout < time.Second || cam.Pull.IdleTimeout > time.Hour {
			bad(p+".pull.idle_timeout", "%s must be between 1s and 1h", cam.Pull.IdleTimeout)
		}
		validateCustomEvents(p+".events.custom", cam.Events.Custom, bad)
		validateCameraRecording(p+".recording", cam.Recording, bad)
	}
	c.validateMedia(bad)
	c.validateRecording(bad)
	return errors.Join(errs...)
}

// validateClock checks the clock keys of one camera's onvif section at p.
func (c *Config) validateClock(p string, o ONVIF, bad func(path, format string, args ...any)) {
	switch o.ClockSync {
	case ClockSyncOff, ClockSyncGateway, ClockSyncNTP:
		if o.ClockSync != ClockSyncOff && o.URL == "" {
			bad(p+".clock_sync", "%s needs onvif.url (the clock is set over ONVIF)", o.ClockSync)
		}
	default:
		bad(p+".clock_sync", "%d is not one of off, gateway, ntp", int8(o.ClockSync))
	}
	if len(o.NTPServers) > 0 && o.ClockSync != ClockSyncNTP {
		bad(p+".ntp_servers", "is only used with clock_sync: ntp (clock_sync is %s)", o.ClockSync)
	}
	for i, s := range o.NTPServers {
		if !validHost(s) {
			bad(p+".ntp_servers["+strconv.Itoa(i)+"]", "%q must be a host name or IP address", s)
		}
	}
	if o.MaxClockSkew <= 0 {
		bad(p+".max_clock_skew", "%s must be positive (e.g. 30s)", o.MaxClockSkew)
	}
}

// validHost accepts an IP address or a DNS host name (letters, digits,
// hyphens, dots; labels of 1-63 characters).
func validHost(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// line returns the line of path in the parsed file or, for a key the file
// leaves out (a missing token), the line of the nearest enclosing key that
// is there (the camera's entry), so the reader knows where to add it; 0 when
// none is.
func (c *Config) line(path string) int {
	for path != "" {
		if n, ok := c.lines[path]; ok {
			return n
		}
		path = path[:max(strings.LastIndexAny(path, ".["), 0)]
	}
	return 0
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		switch {
		case c == '_', c == '-', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

func checkListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number 0-65535", port)
	}
	return nil
}

// checkURL requires an absolute URL with one of schemes and a host.
func checkURL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	ok := false
	for _, sc := range schemes {
		ok = ok || u.Scheme == sc
	}
	if !ok {
		return fmt.Errorf("must use scheme %s", joinOr(schemes))
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("has no host")
	}
	return nil
}

func joinOr(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " or "
		}
		out += v
	}
	return out
}
