package agent

import (
	"errors"
	"net/http"
	"strings"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// settledByes are the bye reasons after which the cloud will not take the
// camera back by itself: someone has to fix the token, the account or the
// other device. Whatever else ended a connection is retried and transient.
var settledByes = []string{uplink.ByeAuthFailure, uplink.ByeInvalidUser, uplink.ByeDeleted, uplink.ByeConnConflict}

// readiness is where a camera stands for the readiness probe.
type readiness int

const (
	// readyPending: on its way (connecting, registering, backing off after
	// a transient error).
	readyPending readiness = iota
	// readyRegistered: the cloud session is ready.
	readyRegistered
	// readyFailed: stopped in a named failure that retrying will not fix.
	readyFailed
)

// readiness says where the camera stands, and why in plain words.
func (w *cameraWorker) readiness() (readiness, string) {
	w.mu.Lock()
	onvifState, onvifErr, pipes := w.onvifState, w.onvifErr, w.pipes
	w.mu.Unlock()
	state := w.session.State()
	if state == uplink.StateReady {
		return readyRegistered, "registered in cloud"
	}
	if errors.Is(onvifErr, onvif.ErrUnauthorized) {
		return readyFailed, "camera refused the ONVIF credentials"
	}
	// The cloud session registers the camera once its main stream plays,
	// so RTSP credentials the camera refuses hold it back for good too.
	if len(pipes) > 0 {
		p := pipes[0]
		p.mu.Lock()
		err := p.lastErr
		p.mu.Unlock()
		if errors.Is(err, media.ErrUnauthorized) && p.stream.Stats().FPS == 0 {
			return readyFailed, "camera refused the RTSP credentials"
		}
	}
	last := w.session.LastEnd()
	for _, reason := range settledByes {
		if strings.HasPrefix(last, "cloud said bye "+reason) {
			return readyFailed, last
		}
	}
	why := "cloud session " + state.String()
	switch {
	case onvifState != "connected" && onvifState != "not configured":
		why += ", onvif " + onvifState
	case last != "":
		why += " (last connection: " + last + ")"
	}
	return readyPending, why
}

// serveReady answers the readiness probe: 200 when every camera has settled
// (see cameraWorker.readiness), else 503 with one line per camera still on its way. Both
// bodies list the cameras that settled in a failure, so a probe log tells
// the operator what to fix.
func (a *Agent) serveReady(w http.ResponseWriter, r *http.Request) {
	var pending, failed strings.Builder
	for _, cw := range a.cameraWorkers() {
		switch st, why := cw.readiness(); st {
		case readyPending:
			pending.WriteString(cw.name + ": not ready: " + why + "\n")
		case readyFailed:
			failed.WriteString(cw.name + ": failed: " + why + "\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if pending.Len() > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(pending.String() + failed.String()))
		return
	}
	_, _ = w.Write([]byte("ok\n" + failed.String()))
}
