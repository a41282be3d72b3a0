package camera

import (
	"errors"
	"net/url"
	"strings"
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

// Status is one camera's state, derived from the facts its worker records.
type Status struct {
	Name   string `json:"name"`
	ONVIF  string `json:"onvif"`
	Device string `json:"device,omitempty"`
	IP     string `json:"ip,omitempty"`
	Cloud  string `json:"cloud"`
	CamID  int64  `json:"cam_id,omitempty"`
	// Streams lists each media stream the camera offers the cloud.
	Streams []StreamStatus `json:"streams"`
	// Errors are the most recent problems, newest first, in plain words.
	Errors []Problem `json:"errors,omitempty"`
	// LastEvent is the newest camera event the agent handled, nil before
	// the first.
	LastEvent *EventStatus `json:"last_event,omitempty"`
	// Snapshot is the path of the camera's latest picture on this server,
	// "" when the camera has no ONVIF connection to take one.
	Snapshot string `json:"snapshot,omitempty"`
}

// StreamStatus is one media stream of a camera.
type StreamStatus struct {
	ID string `json:"id"`
	// RTSP is the pull's state: playing, connecting, stalled: why.
	RTSP string `json:"rtsp"`
	// URL is where the stream is pulled from, without user and password.
	URL        string   `json:"url,omitempty"`
	Codec      string   `json:"codec,omitempty"`
	Resolution string   `json:"resolution,omitempty"`
	FPS        float64  `json:"fps"`
	Kbps       float64  `json:"kbps"`
	Frames     uint64   `json:"frames"`
	Reasons    []string `json:"reasons,omitempty"`
	Publishing bool     `json:"publishing"`
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

// settledByes are the bye reasons after which the cloud will not take the
// camera back by itself: someone has to fix the token, the account or the
// other device. Whatever else ended a connection is retried and transient.
var settledByes = []string{uplink.ByeAuthFailure, uplink.ByeInvalidUser, uplink.ByeDeleted, uplink.ByeConnConflict}

// Readiness is where a camera stands for the Readiness probe.
type Readiness int

const (
	// ReadyPending: on its way (connecting, registering, backing off after
	// a transient error).
	ReadyPending Readiness = iota
	// ReadyRegistered: the cloud session is ready.
	ReadyRegistered
	// ReadyFailed: stopped in a named failure that retrying will not fix.
	ReadyFailed
)

// Readiness says where the camera stands, and why in plain words.
func (w *Camera) Readiness() (Readiness, string) {
	w.mu.Lock()
	onvifState, onvifErr, pipes := w.onvifState, w.onvifErr, w.pipes
	w.mu.Unlock()
	state := w.session.State()
	if state == uplink.StateReady {
		return ReadyRegistered, "registered in cloud"
	}
	if errors.Is(onvifErr, onvif.ErrUnauthorized) {
		return ReadyFailed, "camera refused the ONVIF credentials"
	}
	// The cloud session registers the camera once its main stream plays,
	// so RTSP credentials the camera refuses hold it back for good too.
	if len(pipes) > 0 {
		p := pipes[0]
		p.mu.Lock()
		err := p.lastErr
		p.mu.Unlock()
		if errors.Is(err, media.ErrUnauthorized) && p.stream.Stats().FPS == 0 {
			return ReadyFailed, "camera refused the RTSP credentials"
		}
	}
	last := w.session.LastEnd()
	for _, reason := range settledByes {
		if strings.HasPrefix(last, "cloud said bye "+reason) {
			return ReadyFailed, last
		}
	}
	why := "cloud session " + state.String()
	switch {
	case onvifState != "connected" && onvifState != "not configured":
		why += ", onvif " + onvifState
	case last != "":
		why += " (last connection: " + last + ")"
	}
	return ReadyPending, why
}

// describe adds the facts only the page and status.json show.
func (w *Camera) Describe(cs *Status) {
	cs.LastEvent = w.lastEv.get()
	w.mu.Lock()
	connected, pipes := w.onvif != nil, w.pipes
	w.mu.Unlock()
	w.snap.mu.Lock()
	// A camera that said it has no snapshot URI keeps saying so: no
	// broken image on every refresh.
	noURI := errors.Is(w.snap.err, errNoSnapshot)
	w.snap.mu.Unlock()
	if connected && !noURI && len(pipes) > 0 && pipes[0].profile != nil {
		cs.Snapshot = "/snapshot/" + url.PathEscape(w.name) + ".jpg"
	}
	for i := range cs.Streams {
		for _, p := range pipes {
			if p.id == cs.Streams[i].ID {
				cs.Streams[i].URL = withoutUserinfo(p.url)
			}
		}
	}
}

// secrets are the values of w's config that no page may show.
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

// plain puts a failure in words an installer can act on, ahead of the
// technical detail: the typed errors of onvif and media name the likely
// cause and the config keys to check. Other errors are shown as they are.
func plain(err error) string {
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
