package camera

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// maxStreams is how many ONVIF profiles become cloud streams: the main and
// the sub stream are what the cloud's players use.
const maxStreams = 2

var streamIDs = [maxStreams]string{"Main", "Sub"}

// identity is what resolve learnt about the camera. It never changes once
// stored, so any goroutine may read it without a lock; the owner replaces
// it whole once when ONVIF comes back (withONVIF).
type identity struct {
	onvif *onvif.Client // nil when the camera has no ONVIF URL or it failed
	// onvifErr is why ONVIF failed for a camera served from its
	// configured RTSP URL without it; relearnONVIF keeps trying.
	onvifErr error
	device   onvif.DeviceInfo
	ip       string // the camera's address as cam_register and cam_status report it
	pipes    []*pipe
}

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
}

func (p *pipe) videoES() string { return p.id + "Video" }
func (p *pipe) audioES() string { return p.id + "Audio" }

// pipeIndex is the index of stream id, -1 when there is none.
func (id *identity) pipeIndex(streamID string) int {
	for i, p := range id.pipes {
		if p.id == streamID {
			return i
		}
	}
	return -1
}

// pipe returns stream id's pipe, nil when there is none.
func (w *Camera) pipe(streamID string) *pipe {
	id := w.ident()
	if id == nil {
		return nil
	}
	if i := id.pipeIndex(streamID); i >= 0 {
		return id.pipes[i]
	}
	return nil
}

// pipes are the camera's streams, nil before it was resolved.
func (w *Camera) pipes() []*pipe {
	if id := w.ident(); id != nil {
		return id.pipes
	}
	return nil
}

// onvifClient is the camera's ONVIF client, nil without one.
func (w *Camera) onvifClient() *onvif.Client {
	if id := w.ident(); id != nil {
		return id.onvif
	}
	return nil
}

// resolveOnce learns the camera and tells the owner how it went. A camera
// that is off (its ONVIF port refuses) is knocked at every probeInterval
// and learnt on the knock that finds it on: after a power cut the gateway
// is often up before its cameras, which then waited out a backoff of up to
// a minute. Other failures go to the owner, and Run's caller retries them
// with its backoff.
func (w *Camera) resolveOnce(ctx context.Context) {
	for {
		id, err := w.resolve(ctx)
		if err == nil {
			w.send(resolved{id: id})
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, onvif.ErrUnreachable) || !w.waitONVIF(ctx, err) {
			if ctx.Err() == nil {
				w.send(resolveFailed{err: err})
			}
			return
		}
	}
}

// waitONVIF knocks at the camera's ONVIF port (a TCP connect, no request)
// every probeInterval until it answers (true), after err said the camera
// does not. It returns false at once when the first knock gets through:
// the camera is there and failed otherwise, which the backoff paces.
func (w *Camera) waitONVIF(ctx context.Context, err error) bool {
	if w.probeONVIF(ctx) == nil || ctx.Err() != nil {
		return false
	}
	w.log.Warn(Plain(err)+"; knocking until it does", zap.Error(err), zap.Duration("every", probeInterval))
	w.send(resolveAway{err: err})
	knock := &reconnect{clock: backoff.RealClock{}, interval: probeInterval, probe: w.probeONVIF, stillAway: func(error) {}}
	if !knock.waitBack(ctx) {
		return false
	}
	w.log.Info("camera answers on its onvif port again")
	return true
}

// errNoVideoProfile: the camera has no media profile the cloud can take.
var errNoVideoProfile = errors.New("no H.264/H.265 media profile")

// resolve learns the camera's identity and stream URLs, from ONVIF unless
// the config names an RTSP URL. ONVIF trouble does not keep a camera with
// a configured RTSP URL off the cloud (docs/protocol.md#onvif-fallback):
// it is served from that URL, with onvifErr set, and ONVIF is learnt again
// in the background (relearnONVIF).
func (w *Camera) resolve(ctx context.Context) (*identity, error) {
	cam := w.opts.Camera
	var id *identity
	if cam.ONVIF.URL != "" {
		var err error
		id, err = w.learnONVIF(ctx)
		switch {
		case err == nil:
		case cam.RTSP.Reveal() == "" || ctx.Err() != nil:
			return nil, err
		default:
			w.log.Warn("onvif failed; serving the configured rtsp url without camera settings and retrying onvif", zap.Error(err))
			id = &identity{onvifErr: err}
		}
	} else {
		id = &identity{}
	}
	if len(id.pipes) == 0 {
		u, err := url.Parse(cam.RTSP.Reveal())
		if err != nil {
			return nil, fmt.Errorf("rtsp url: %w", err)
		}
		id.pipes = append(id.pipes, w.newPipe(streamIDs[0], cam.RTSP.Reveal(), nil))
		if id.ip == "" {
			id.ip = u.Hostname()
		}
	}
	// cam_register and cam_status report an IP address (docs/protocol.md#cam-register).
	if net.ParseIP(id.ip) == nil {
		if addrs, err := net.DefaultResolver.LookupHost(ctx, id.ip); err == nil && len(addrs) > 0 {
			id.ip = addrs[0]
		}
	}
	return id, nil
}

// learnONVIF connects to the camera's ONVIF service and learns its device
// information and streams: from its profiles, or the configured RTSP URL
// with the first profile's settings.
func (w *Camera) learnONVIF(ctx context.Context) (*identity, error) {
	cam := w.opts.Camera
	id := &identity{}
	c, err := onvif.New(onvif.Options{
		URL:      cam.ONVIF.URL,
		Username: cam.ONVIF.Username,
		Password: cam.ONVIF.Password.Reveal(),
		Timeout:  cam.ONVIF.Timeout,
		Logger:   w.log.Named("onvif"),
	})
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	w.checkClock(ctx, c, c.ClockOffset())
	info, err := c.DeviceInfo(ctx)
	if err != nil {
		return nil, err
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		return nil, err
	}
	if cam.RTSP.Reveal() == "" {
		var lastErr error
		for i := range profiles {
			if len(id.pipes) == maxStreams {
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
			p := w.newPipe(streamIDs[len(id.pipes)], uri, pr)
			p.advertised = true
			id.pipes = append(id.pipes, p)
		}
		if len(id.pipes) == 0 && lastErr != nil {
			return nil, lastErr
		}
		if len(id.pipes) == 0 {
			return nil, fmt.Errorf("%w: %w", errNoVideoProfile, onvif.ErrUnsupported)
		}
	} else if len(profiles) > 0 {
		id.pipes = append(id.pipes, w.newPipe(streamIDs[0], cam.RTSP.Reveal(), &profiles[0]))
	}
	id.onvif, id.device, id.ip = c, info, c.Host()
	w.learnEventKinds(ctx, c)
	w.log.Info("onvif connected", zap.String("brand", info.Manufacturer), zap.String("model", info.Model),
		zap.String("firmware", info.FirmwareVersion), zap.Duration("clock_offset", c.ClockOffset()),
		zap.Int("streams", len(id.pipes)))
	return id, nil
}

// relearnONVIF retries ONVIF for a camera served without it until it
// answers, then hands the owner what it learnt (onvifLearned). Like the
// pulls, it knocks at a camera whose ONVIF port refuses and tries again on
// the knock that gets through; the backoff paces a camera that answers and
// fails.
func (w *Camera) relearnONVIF(ctx context.Context) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	r := &reconnect{
		backoff:  NewBackoff(),
		clock:    backoff.RealClock{},
		interval: probeInterval,
		attempt: func(ctx context.Context) error {
			id, err := w.learnONVIF(ctx)
			if err != nil {
				return err
			}
			w.send(onvifLearned{id: id})
			stop()
			return nil
		},
		probe: w.probeONVIF,
		failed: func(err error, wait time.Duration) {
			w.send(onvifRetry{err: err})
			w.log.Info("onvif still failing; video goes on from the configured rtsp url", zap.Error(err), zap.Duration("retry_in", wait))
		},
		stillAway: func(error) {},
	}
	r.run(ctx)
}

// probeONVIF knocks at the camera's ONVIF port: nil if it accepts a TCP
// connection, or if the URL cannot be knocked at (the backoff paces it).
func (w *Camera) probeONVIF(ctx context.Context) error {
	c, err := onvif.New(onvif.Options{URL: w.opts.Camera.ONVIF.URL})
	if err != nil {
		return nil
	}
	return c.Probe(ctx)
}

// withONVIF is id with what learnONVIF found in learnt: the ONVIF client,
// the device and the first profile's settings, on the same pipes (and so
// the same pulls and readers).
func (id *identity) withONVIF(learnt *identity) *identity {
	n := &identity{onvif: learnt.onvif, device: learnt.device, ip: id.ip, pipes: make([]*pipe, len(id.pipes))}
	for i, p := range id.pipes {
		c := *p
		if i < len(learnt.pipes) {
			c.profile = learnt.pipes[i].profile
		}
		n.pipes[i] = &c
	}
	return n
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

// cameraInfo is what cam_register says of the camera, with the defaults
// the cloud needs for what the camera does not tell.
func (id *identity) cameraInfo(name string) uplink.CameraInfo {
	dev := id.device
	info := uplink.CameraInfo{IP: id.ip, Brand: dev.Manufacturer, Model: dev.Model, SN: dev.SerialNumber, Version: dev.FirmwareVersion}
	if info.Brand == "" {
		info.Brand = "Generic"
	}
	if info.Model == "" {
		info.Model = "RTSP camera"
	}
	if info.SN == "" {
		info.SN = name
	}
	if info.Version == "" {
		info.Version = "unknown"
	}
	return info
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
