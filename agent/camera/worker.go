package camera

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// Options is what a camera worker takes from the config; it is the one
// place that translates config into the options of onvif, media and uplink.
type Options struct {
	Camera    config.Camera
	Token     uplink.Token
	Insecure  bool
	RootCAs   *x509.CertPool
	StatePath string
	Version   string
	Logger    *zap.Logger
	LogRing   LogSource // recent log lines for cam_get_log; nil = not kept
	Timing    Timing    // zero: DefaultTiming
}

// maxStreams is how many ONVIF profiles become cloud streams: the main and
// the sub stream are what the cloud's players use.
const maxStreams = 2

var streamIDs = [maxStreams]string{"Main", "Sub"}

// pipe is one media stream of the camera: where it comes from and the hub
// that fans it out.
type pipe struct {
	id      string
	url     string // RTSP URL as the camera gave it (may carry credentials: never log)
	profile *onvif.Profile
	stream  *media.Stream
	source  media.SourceOptions

	// advertised marks a URL the camera gave through ONVIF: cameras behind
	// NAT or port forwarding advertise their own LAN address.
	advertised bool
	fellBack   bool // advertised host replaced by the configured one

	mu      sync.Mutex
	lastErr error // of the last RTSP session; typed, for status and Readiness
}

func (p *pipe) videoES() string { return p.id + "Video" }
func (p *pipe) audioES() string { return p.id + "Audio" }

// Camera owns one camera: its ONVIF client, its RTSP pipes, its cloud
// session and its publishes.
type Camera struct {
	opts  Options
	name  string
	log   *zap.Logger
	onvif *onvif.Client // nil when the camera has no ONVIF URL

	session *uplink.Session
	pubs    *uplink.Streams
	ev      eventsState   // event settings and pipeline (events.go)
	clock   clockState    // clock checks (timesync.go)
	snap    snapshotCache // latest picture (snapshot.go)
	maint   maintState    // legacy uploads in flight (maintenance.go)
	ptz     ptzNode       // the main profile's PTZ node, once read (settings_ptz.go)
	lastEv  lastEvent     // newest event, for the status page (events_pipeline.go)

	mu         sync.Mutex
	onvifState string
	onvifErr   error // the last ONVIF failure, typed, for Readiness
	device     onvif.DeviceInfo
	ip         string
	pipes      []*pipe // set once by resolve, then read-only
	ready      bool
	link       uplink.Link
	activity   bool
	// requested is what the cloud asked to publish on this connection,
	// stream id → reason → publish_session_id, kept in passive mode too so
	// leaving it resumes the streams (§4.1.5).
	requested map[string]map[uplink.StreamReason]int64
	errs      []Problem
}

func New(opts Options) *Camera {
	if opts.Timing == (Timing{}) {
		opts.Timing = DefaultTiming
	}
	cam := opts.Camera
	w := &Camera{
		opts:       opts,
		name:       cam.Name,
		log:        opts.Logger.Named("camera").With(zap.String("camera", cam.Name)),
		onvifState: "not configured",
		activity:   true,
	}
	if cam.ONVIF.URL != "" {
		w.onvifState = "connecting"
	}
	tlsConf := &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
	w.pubs = uplink.NewStreams(uplink.StreamsOptions{
		Open:      w.openReader,
		TLSConfig: tlsConf,
		Logger:    opts.Logger.Named("publish").With(zap.String("camera", cam.Name)),
	})
	w.session = uplink.NewSession(uplink.Options{
		Token:     opts.Token,
		Insecure:  opts.Insecure,
		RootCAs:   opts.RootCAs,
		StatePath: opts.StatePath,
		Version:   "camagent/" + opts.Version,
		Vendor:    "camagent",
		Handler:   w,
		Logger:    opts.Logger.Named("uplink").With(zap.String("camera", cam.Name)),
	})
	return w
}

// Run resolves the camera, then pulls its streams and serves its cloud
// session until ctx is cancelled.
func (w *Camera) Run(ctx context.Context) {
	defer w.pubs.Close()
	b := newBackoff(2*time.Second, time.Minute)
	for {
		err := w.resolve(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		wait := b.retryDelay(0, err)
		w.failRetry(wait, "%s", plain(err))
		if !sleepCtx(ctx, wait) {
			return
		}
	}

	var wg sync.WaitGroup
	for _, p := range w.pipes {
		wg.Add(1)
		go func() { defer wg.Done(); w.pull(ctx, p) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.runEvents(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); w.runClock(ctx) }()
	err := w.session.Run(ctx)
	if errors.Is(err, uplink.ErrDeleted) {
		w.fail("camera was deleted from its cloud account: not reconnecting; give it a new token")
	} else if err != nil {
		w.fail("cloud session ended: %v", err)
	}
	wg.Wait()
	w.maint.wg.Wait()
	for _, p := range w.pipes {
		p.stream.Close()
	}
}

// resolve learns the camera's identity and stream URLs, from ONVIF unless
// the config names an RTSP URL.
func (w *Camera) resolve(ctx context.Context) error {
	cam := w.opts.Camera
	var pipes []*pipe
	if cam.ONVIF.URL != "" {
		c, err := onvif.New(onvif.Options{
			URL:      cam.ONVIF.URL,
			Username: cam.ONVIF.Username,
			Password: cam.ONVIF.Password.Reveal(),
			Timeout:  cam.ONVIF.Timeout,
			Logger:   w.log.Named("onvif"),
		})
		if err != nil {
			return w.onvifFailed(err)
		}
		if err := c.Connect(ctx); err != nil {
			return w.onvifFailed(err)
		}
		w.checkClock(ctx, c, c.ClockOffset())
		info, err := c.DeviceInfo(ctx)
		if err != nil {
			return w.onvifFailed(err)
		}
		profiles, err := c.Profiles(ctx)
		if err != nil {
			return w.onvifFailed(err)
		}
		if cam.RTSP.Reveal() == "" {
			var lastErr error
			for i := range profiles {
				if len(pipes) == maxStreams {
					break
				}
				pr := &profiles[i]
				if pr.Video == nil || (pr.Video.Encoding != "H264" && pr.Video.Encoding != "H265") {
					continue
				}
				uri, err := c.StreamURI(ctx, pr.Token)
				if err != nil {
					// One broken profile must not take the camera down.
					w.log.Warn("profile has no usable stream uri, skipped", zap.String("profile", pr.Token), zap.Error(err))
					lastErr = err
					continue
				}
				p := w.newPipe(streamIDs[len(pipes)], uri, pr)
				p.advertised = true
				pipes = append(pipes, p)
			}
			if len(pipes) == 0 && lastErr != nil {
				return w.onvifFailed(lastErr)
			}
			if len(pipes) == 0 {
				return w.onvifFailed(errors.New("no H.264/H.265 media profile"))
			}
		} else if len(profiles) > 0 {
			pipes = append(pipes, w.newPipe(streamIDs[0], cam.RTSP.Reveal(), &profiles[0]))
		}
		w.mu.Lock()
		w.onvif, w.device, w.onvifState, w.onvifErr, w.ip = c, info, "connected", nil, c.Host()
		w.mu.Unlock()
		w.learnEventKinds(ctx, c)
		w.log.Info("onvif connected", zap.String("brand", info.Manufacturer), zap.String("model", info.Model),
			zap.String("firmware", info.FirmwareVersion), zap.Duration("clock_offset", c.ClockOffset()),
			zap.Int("streams", len(pipes)))
	}
	if len(pipes) == 0 {
		u, err := url.Parse(cam.RTSP.Reveal())
		if err != nil {
			return fmt.Errorf("rtsp url: %w", err)
		}
		pipes = append(pipes, w.newPipe(streamIDs[0], cam.RTSP.Reveal(), nil))
		w.mu.Lock()
		if w.ip == "" {
			w.ip = u.Hostname()
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	w.pipes = pipes
	w.mu.Unlock()
	return nil
}

func (w *Camera) onvifFailed(err error) error {
	w.mu.Lock()
	w.onvifState, w.onvifErr = "error: "+plain(err), err
	w.mu.Unlock()
	if strings.HasPrefix(err.Error(), "onvif:") { // the onvif package's errors
		return err
	}
	return fmt.Errorf("onvif: %w", err)
}

func (w *Camera) newPipe(id, rawURL string, pr *onvif.Profile) *pipe {
	cam := w.opts.Camera
	src := media.SourceOptions{
		URL: rawURL,
		Log: w.log.Named("rtsp").With(zap.String("stream", id)),
	}
	// config validated the value, so the two enums always agree.
	src.Transport, _ = media.ParseTransport(cam.RTSPTransport.String())
	// Cameras protect RTSP with the ONVIF account; use it unless the URL carries its own.
	if u, err := url.Parse(rawURL); err == nil && u.User == nil {
		src.Username, src.Password = cam.ONVIF.Username, cam.ONVIF.Password.Reveal()
	}
	return &pipe{
		id:      id,
		url:     rawURL,
		profile: pr,
		stream:  media.NewStream(w.log.Named("media").With(zap.String("stream", id))),
		source:  src,
	}
}

// pull keeps one RTSP session running, reconnecting with backoff. The
// stream outlives each session, so publishers stay attached.
func (w *Camera) pull(ctx context.Context, p *pipe) {
	supervise(ctx, newBackoff(time.Second, 30*time.Second), func(ctx context.Context) error {
		return media.NewSource(p.source, p.stream).Run(ctx)
	}, func(err error, wait time.Duration) {
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		w.failRetry(wait, "stream %s: %s", p.id, plain(err))
		if errors.Is(err, media.ErrUnreachable) && p.advertised && !p.fellBack {
			if alt, ok := configuredHost(p.source.URL, w.opts.Camera.ONVIF.URL); ok {
				p.source.URL, p.fellBack = alt, true
				w.log.Warn("camera advertises an rtsp address the agent cannot reach; using the configured camera host",
					zap.String("stream", p.id), zap.String("host", hostOf(alt)))
			}
		}
	})
}

// configuredHost puts the host of the configured ONVIF URL into an RTSP URL
// the camera advertised, keeping scheme, port, path and credentials. It
// reports false when the hosts already agree.
func configuredHost(rtspURL, onvifURL string) (string, bool) {
	r, err := url.Parse(rtspURL)
	if err != nil {
		return "", false
	}
	o, err := url.Parse(onvifURL)
	if err != nil || o.Hostname() == "" || o.Hostname() == r.Hostname() {
		return "", false
	}
	port := r.Port()
	if port == "" {
		port = "554"
	}
	r.Host = net.JoinHostPort(o.Hostname(), port)
	return r.String(), true
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// fail records a problem for the status page and logs it.
func (w *Camera) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.log.Warn(msg)
	w.record(msg)
}

// failRetry is fail for a step retried after wait. The retry delay goes to
// the log line only, so that the same failure repeating is one entry on
// the status page, counted, and does not push the others out.
func (w *Camera) failRetry(wait time.Duration, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.log.Warn(msg, zap.Duration("retry_in", wait))
	w.record(msg)
}

// maxStatusErrors is how many different recent problems a camera keeps.
const maxStatusErrors = 5

func (w *Camera) record(msg string) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 && w.errs[0].What == msg {
		w.errs[0].At = now
		w.errs[0].Count++
		return
	}
	w.errs = append([]Problem{{At: now, What: msg, Count: 1}}, w.errs...)
	if len(w.errs) > maxStatusErrors {
		w.errs = w.errs[:maxStatusErrors]
	}
}

func (w *Camera) pipe(id string) *pipe {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.pipes {
		if p.id == id {
			return p
		}
	}
	return nil
}

// openReader attaches a publisher to a stream; the GOP cache lets it start at once.
func (w *Camera) openReader(streamID string) (uplink.UnitReader, error) {
	p := w.pipe(streamID)
	if p == nil {
		return nil, fmt.Errorf("unknown stream %q", streamID)
	}
	return p.stream.AddReader("rtmp", 512), nil
}

// CameraInfo implements uplink.Handler. It waits for the main stream to
// deliver its tracks: a camera that does not stream is not online (§4.1.4).
func (w *Camera) CameraInfo(ctx context.Context) (uplink.CameraInfo, error) {
	w.mu.Lock()
	pipes, dev, ip := w.pipes, w.device, w.ip
	w.mu.Unlock()
	if len(pipes) == 0 {
		return uplink.CameraInfo{}, errors.New("camera not resolved yet")
	}
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for pipes[0].stream.Tracks() == nil {
		if !sleepCtx(wait, 100*time.Millisecond) {
			return uplink.CameraInfo{}, errors.New("main stream delivers no media")
		}
	}
	info := uplink.CameraInfo{IP: ip, Brand: dev.Manufacturer, Model: dev.Model, SN: dev.SerialNumber, Version: dev.FirmwareVersion}
	if info.Brand == "" {
		info.Brand = "Generic"
	}
	if info.Model == "" {
		info.Model = "RTSP camera"
	}
	if info.SN == "" {
		info.SN = w.name
	}
	if info.Version == "" {
		info.Version = "unknown"
	}
	if net.ParseIP(info.IP) == nil {
		if addrs, err := net.DefaultResolver.LookupHost(ctx, info.IP); err == nil && len(addrs) > 0 {
			info.IP = addrs[0]
			// cam_status reports the same address (§4.2.1 wants an IP).
			w.mu.Lock()
			w.ip = info.IP
			w.mu.Unlock()
		}
	}
	return info, nil
}

// Ready implements uplink.Handler.
func (w *Camera) Ready(link uplink.Link) {
	w.mu.Lock()
	w.ready, w.link, w.activity = true, link, link.Activity
	w.mu.Unlock()
	w.log.Info("camera registered in cloud", zap.Int64("cam_id", link.CamID))
}

// Down implements uplink.Handler: publishes stop with the connection (§2.7).
func (w *Camera) Down() {
	w.mu.Lock()
	w.ready = false
	w.requested = nil
	w.mu.Unlock()
	w.pubs.StopAll()
}

// Metrics are the camera's counters and states for /metrics, read at
// scrape time.
type Metrics struct {
	Cloud      uplink.Counts
	CloudState uplink.ConnState
	// ONVIFConfigured is false for an RTSP-only camera; ONVIFUp is then meaningless.
	ONVIFConfigured, ONVIFUp bool
	// Uploads counts finished legacy uploads by category and result.
	Uploads map[UploadKey]uint64
	Streams []StreamMetrics
	// EventsEnded counts activities ended (by the camera or by the hold);
	// EventsDropped the events not sent (queue full, not ready, disabled).
	EventsEnded, EventsDropped int64
	// ClockChecks counts the camera clock checks made (at connect and
	// every Timing.ClockCheck).
	ClockChecks int64
}

// StreamMetrics are one stream's pull and publish counters.
type StreamMetrics struct {
	ID         string
	Pull       media.StreamStats
	Publishing bool
	// Publish sums every publish of the stream; nil before the first.
	Publish *uplink.PublisherStats
}

// Metrics returns the camera's counters now.
func (w *Camera) Metrics() Metrics {
	w.mu.Lock()
	pipes, onvifState := w.pipes, w.onvifState
	w.mu.Unlock()
	m := Metrics{
		Cloud:           w.session.Counts(),
		CloudState:      w.session.State(),
		ONVIFConfigured: onvifState != "not configured",
		ONVIFUp:         onvifState == "connected",
		Uploads:         w.maint.uploadCounts(),
		EventsEnded:     w.evs().ended.Load(),
		EventsDropped:   w.evs().dropped.Load(),
		ClockChecks:     w.clock.checks.Load(),
	}
	active := w.pubs.Active()
	pubs := w.pubs.Stats()
	for _, p := range pipes {
		sm := StreamMetrics{ID: p.id, Pull: p.stream.Stats(), Publishing: len(active[p.id]) > 0}
		if ps, ok := pubs[p.id]; ok {
			sm.Publish = &ps
		}
		m.Streams = append(m.Streams, sm)
	}
	return m
}

// Name is the camera's name in the config.
func (w *Camera) Name() string { return w.name }

// Config is the camera's entry of the config it was built from.
func (w *Camera) Config() config.Camera { return w.opts.Camera }
