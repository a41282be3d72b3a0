package agent

import (
	"net/http"
	"strings"
)

// serveReady answers the readiness probe: 200 when every camera has settled
// (see readinessOf), else 503 with one line per camera still on its way. Both
// bodies list the cameras that settled in a failure, so a probe log tells
// the operator what to fix.
func (a *Agent) serveReady(w http.ResponseWriter, r *http.Request) {
	var pending, failed strings.Builder
	for _, cw := range a.cameraWorkers() {
		// A disk problem stops recording, not the camera: said, not unready.
		if rec := cw.Status().Recording; rec != nil && rec.Problem != nil {
			failed.WriteString(cw.Name() + ": recording stopped: " + rec.Problem.Kind.String() + "\n")
		}
		switch st, why := readinessOf(cw.Status()); st {
		case readyPending:
			pending.WriteString(cw.Name() + ": not ready: " + why + "\n")
		case readyFailed:
			failed.WriteString(cw.Name() + ": failed: " + why + "\n")
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
