package camera

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// LogSource holds recent log lines; cam_get_log uploads a camera's share.
type LogSource interface {
	// Text returns the lines of camera plus the agent-wide lines.
	Text(camera string) []byte
}

// Status is what one camera knows, as typed facts: the status page,
// /status.json, /metrics and /readyz derive their words from it. The
// camera's owner publishes a new one after every change (and every second,
// for the counters); a published Status never changes.
type Status struct {
	Name     string
	ONVIF    ONVIFState
	ONVIFErr error // why ONVIF failed; nil unless ONVIF is ONVIFFailed
	Device   onvif.DeviceInfo
	IP       string
	Cloud    uplink.ConnState
	// LastEnd is how the last cloud connection ended, nil before one did
	// and when the camera's own stop ended it (the camera restarts).
	LastEnd *uplink.End
	CamID   int64 // while the cloud session is READY
	// Activity is false in passive mode (docs/protocol.md#passive-mode).
	Activity bool
	Streams  []StreamStatus
	// Problems are the most recent ones, the latest first, each once.
	Problems []Problem
	// LastEvent is the newest camera event the agent handled, nil before
	// the first.
	LastEvent *EventStatus
	// Recording is the camera's memory card, nil when it has none.
	Recording *RecordingStatus

	// link is the READY connection's link, for the camera's own
	// goroutines; conn counts READY connections, naming this one.
	link  uplink.Link
	ready bool
	conn  int64
	// events are the event settings and declared the connection they
	// were declared on (state.events, state.declared).
	events    eventSettings
	declared  int64
	recording recSetting
}

// ONVIFState is where the camera's ONVIF connection stands.
type ONVIFState int

// ONVIF states.
const (
	ONVIFNotConfigured ONVIFState = iota // the config has no onvif.url
	ONVIFConnecting
	ONVIFConnected
	ONVIFFailed // Status.ONVIFErr says why
)

func (s ONVIFState) String() string {
	switch s {
	case ONVIFNotConfigured:
		return "not configured"
	case ONVIFConnecting:
		return "connecting"
	case ONVIFConnected:
		return "connected"
	}
	return "error"
}

// PullState is where a stream's RTSP pull stands.
type PullState int

// Pull states.
const (
	// PullIdle: not pulled, no reader needs it (pull on demand).
	PullIdle PullState = iota
	// PullConnecting: pulled, no video yet from this pull.
	PullConnecting
	// PullPlaying: video arrives.
	PullPlaying
	// PullStalled: video came and stopped, the RTSP session still open.
	PullStalled
	// PullFailing: the RTSP session failed after the last video (Err says
	// why, a Problem says it in words); the pull retries.
	PullFailing
)

func (s PullState) String() string {
	return [...]string{"idle", "connecting", "playing", "stalled", "failing"}[s]
}

// stallAfter is how long without video a pulled stream is still playing:
// long enough for a camera at 1 frame/s, short enough to show a hung
// encoder within one refresh of the status page.
const stallAfter = 3 * time.Second

// pullState says where stream s stands at now. Only video counts: audio
// keeps coming from a camera whose picture froze. Video from an earlier
// pull of the stream does not count either.
func pullState(s *streamState, lastVideo, now time.Time) PullState {
	sincePull := lastVideo.After(s.pullStarted)
	switch {
	case !s.pulling:
		return PullIdle
	case s.err != nil && s.errAt.After(s.pullStarted) && s.errAt.After(lastVideo):
		return PullFailing
	case !sincePull:
		return PullConnecting
	case now.Sub(lastVideo) < stallAfter:
		return PullPlaying
	}
	return PullStalled
}

// StreamStatus is one media stream of a camera.
type StreamStatus struct {
	ID string
	// URL is where the stream is pulled from, without user and password.
	URL  string
	Pull PullState
	// Err is the last RTSP session's failure, typed; nil before one failed.
	Err   error
	Stats media.StreamStats
	// Reasons are why the cloud has it published; empty when it is not.
	Reasons []string
}

// EventStatus is the newest camera event the agent handled.
type EventStatus struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// Outcome is "sent" or why the cloud did not get it ("not sent: events disabled").
	Outcome string `json:"outcome"`
}

// Problem is a remembered problem.
type Problem struct {
	// What says in plain words what went wrong and, where the agent can
	// tell, what to check.
	What string `json:"what"`
	// Detail is the technical error behind it, for a bug report; "" when
	// the words say all.
	Detail string `json:"detail,omitempty"`
	// Count is how many times it happened (a retried step that keeps
	// failing is one problem), First the first time and At the latest.
	Count int       `json:"count"`
	First time.Time `json:"first"`
	At    time.Time `json:"at"`
}

// CanSnapshot says whether the camera can be asked for a picture: it is
// connected over ONVIF with a profile and has not said it has no snapshot
// URI (then it keeps saying so: no broken image on every refresh).
func (w *Camera) CanSnapshot() bool {
	id := w.ident()
	if id == nil || id.onvif == nil || len(id.pipes) == 0 || id.pipes[0].profile == nil {
		return false
	}
	w.snap.mu.Lock()
	defer w.snap.mu.Unlock()
	return !errors.Is(w.snap.err, errNoSnapshot)
}

// publish stores a new Status built from the state; owner goroutine only.
func (w *Camera) publish() {
	st := &w.st
	id := w.ident()
	s := &Status{
		Name: w.name, ONVIF: st.onvif, ONVIFErr: st.onvifErr,
		Cloud: w.session.State(), Activity: st.activity,
		Problems: st.problems, LastEvent: st.lastEvent,
		link: st.link, ready: st.ready, conn: st.conn, events: st.events, declared: st.declared,
		recording: st.recording, Recording: w.recordingStatus(st.recording),
	}
	if s.Recording != nil {
		s.Recording.Direct = w.directStatus()
	}
	if st.ready {
		s.CamID = st.link.CamID
	}
	// The session records the end before it says disconnected, so a
	// Status that shows the state shows the reason too.
	if end, ok := w.session.LastEnd(); ok && !end.Stopped {
		s.LastEnd = &end
	}
	if id != nil {
		s.Device, s.IP = id.device, id.ip
	}
	active := w.pubs.Active()
	now := time.Now()
	for _, ss := range st.streams {
		x := StreamStatus{ID: ss.pipe.id, URL: withoutUserinfo(ss.pipe.url), Err: ss.err, Stats: ss.pipe.stream.Stats(), Reasons: active[ss.pipe.id]}
		x.Pull = pullState(ss, x.Stats.LastVideo, now)
		s.Streams = append(s.Streams, x)
	}
	w.status.Store(s)
}

// Secrets are the values of w's config that no page may show.
func (w *Camera) Secrets() []string {
	cam := w.opts.Camera
	out := []string{cam.Token.Reveal(), w.opts.Token.Secret, cam.ONVIF.Password.Reveal()}
	if raw := cam.RTSP.Reveal(); raw != "" {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			out = append(out, raw) // cannot tell where its password is
		case u.User != nil:
			p, _ := u.User.Password()
			out = append(out, raw, p)
		}
	}
	return out
}

// Plain puts a failure in words an installer can act on: the likely
// cause and what to check, from the typed errors of onvif and media. It
// returns "" for errors it has no words for: the caller's own words (what
// failed) then stand alone, with the error as the detail.
func Plain(err error) string {
	switch {
	case errors.Is(err, errNoVideoProfile):
		return "camera offers no H.264 or H.265 stream over ONVIF (set a media profile's encoder to H.264 or H.265 on the camera)"
	case errors.Is(err, onvif.ErrUnauthorized):
		return "camera refused the ONVIF user name or password (check onvif.username and onvif.password)"
	case errors.Is(err, onvif.ErrUnreachable):
		return "camera does not answer ONVIF (check onvif.url, that the camera is on, and the network)"
	case errors.Is(err, onvif.ErrServiceBroken):
		return "camera announces an ONVIF service that does not answer; camagent treats it as absent until the camera reconnects (a firmware update may fix it)"
	case errors.Is(err, onvif.ErrUnsupported):
		return "camera does not support this over ONVIF"
	case errors.Is(err, media.ErrUnauthorized):
		return "camera refused the RTSP user name or password (check the camera's password in the config)"
	case errors.Is(err, media.ErrUnreachable):
		return "camera's RTSP server does not answer (check that the camera is on and its RTSP port is reachable from this machine)"
	case errors.Is(err, media.ErrUnsupportedCodec):
		return "camera sends a video codec the cloud cannot take (set its encoder to H.264 or H.265)"
	case errors.Is(err, media.ErrNoSession):
		return "camera has no free streaming sessions (cameras allow only a few; something else, such as a recorder or another viewer, is using them, or the camera is still starting; the agent retries)"
	case errors.Is(err, media.ErrStalled):
		return "camera stopped sending video (the agent reconnects; if it keeps happening, check the camera's load and network)"
	}
	return ""
}

// Explain is Plain followed by the technical error, for one-line reports
// (/readyz, logs); the error alone when Plain has no words for it.
func Explain(err error) string {
	if words := Plain(err); words != "" {
		return words + ": " + err.Error()
	}
	return err.Error()
}

// problemOf is what failed, in the caller's words, followed by Plain's
// words for err and with err as the detail.
func problemOf(what string, err error) Problem {
	p := Problem{What: what}
	if err != nil {
		if words := Plain(err); words != "" {
			p.What += ": " + words
		}
		p.Detail = err.Error()
	}
	return p
}

// CloudEnd puts how a cloud connection ended in plain words with what to
// check; problem is false for ends that are part of normal operation (the
// cloud asked the camera to reconnect or is restarting; the camera stopped).
func CloudEnd(end uplink.End) (words string, problem bool) {
	if end.Stopped {
		return "camera's cloud session stopped", false
	}
	if b := end.Bye; b != nil {
		switch b.Reason {
		case uplink.ByeReconnect, uplink.ByeShutdown:
			return "cloud asked the camera to reconnect", false
		case uplink.ByeAuthFailure:
			return "cloud rejected the camera's access token (check the camera's token in the config)", true
		case uplink.ByeInvalidUser:
			return "cloud does not know the camera's account (check the camera's token; the account may have been removed)", true
		case uplink.ByeConnConflict:
			return "another device is connected to the cloud with this camera's token (give each camera its own token)", true
		case uplink.ByeDeleted:
			return "camera was deleted from its cloud account: not reconnecting; give it a new token", true
		}
		return "cloud ended the connection with an error (the agent reconnects)", true
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch err := end.Err; {
	case err == nil:
		return "cloud closed the connection (the agent reconnects)", true
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return "cloud's TLS certificate is not trusted (check cloud.ca_file and this machine's clock)", true
	case errors.As(err, &dnsErr):
		return "cloud's host name does not resolve (check this machine's DNS settings)", true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "cannot reach the cloud (check this machine's internet connection, firewall or proxy)", true
	}
	return "connection to the cloud failed (the agent reconnects; check this machine's internet connection if it keeps happening)", true
}

// withoutUserinfo returns raw with any user:password removed; "" when it
// does not parse, since then it cannot be shown safely.
func withoutUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
