package camera

import (
	"errors"
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
	// LastEnd is how the last cloud connection ended, nil before one did.
	LastEnd *uplink.End
	CamID   int64 // while the cloud session is READY
	// Activity is false in passive mode (docs/protocol.md#passive-mode).
	Activity bool
	Streams  []StreamStatus
	// Problems are the most recent ones, newest first, in plain words.
	Problems []Problem
	// LastEvent is the newest camera event the agent handled, nil before
	// the first.
	LastEvent *EventStatus

	// link is the READY connection's link, for the camera's own
	// goroutines; conn counts READY connections, naming this one.
	link  uplink.Link
	ready bool
	conn  int64
	// events are the event settings and declared the connection they
	// were declared on (state.events, state.declared).
	events   eventSettings
	declared int64
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
	At   time.Time `json:"at"` // the latest time it happened
	What string    `json:"what"`
	// Count is how many times in a row it happened (a retried step that
	// keeps failing).
	Count int `json:"count"`
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
	}
	if st.ready {
		s.CamID = st.link.CamID
	}
	if end, ok := w.session.LastEnd(); ok {
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

// Plain puts a failure in words an installer can act on, ahead of the
// technical detail: the typed errors of onvif and media name the likely
// cause and the config keys to check. Other errors are shown as they are.
func Plain(err error) string {
	var words string
	switch {
	case errors.Is(err, onvif.ErrUnauthorized):
		words = "camera refused the ONVIF user name or password (check onvif.username and onvif.password)"
	case errors.Is(err, onvif.ErrUnreachable):
		words = "camera does not answer ONVIF (check onvif.url and the network)"
	case errors.Is(err, media.ErrUnauthorized):
		words = "camera refused the RTSP user name or password"
	case errors.Is(err, media.ErrUnreachable):
		words = "camera's RTSP server does not answer"
	case errors.Is(err, media.ErrUnsupportedCodec):
		words = "camera sends a video codec the cloud cannot take (set it to H.264 or H.265)"
	case errors.Is(err, media.ErrStalled):
		words = "camera stopped sending video"
	default:
		return err.Error()
	}
	return words + ": " + err.Error()
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
