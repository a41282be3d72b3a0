package agent

import (
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"time"
)

// Status is what the agent shows people: the status page and /status.json.
type Status struct {
	Version string         `json:"version"`
	Started time.Time      `json:"started"`
	Uptime  string         `json:"uptime"`
	Cameras []CameraStatus `json:"cameras"`
	// Config is where the running config came from and how the last
	// reload went (reload.go).
	Config ConfigStatus `json:"config"`
}

// CameraStatus is one camera's state, derived from the facts its worker records.
type CameraStatus struct {
	Name   string `json:"name"`
	ONVIF  string `json:"onvif"`
	Device string `json:"device,omitempty"`
	IP     string `json:"ip,omitempty"`
	Cloud  string `json:"cloud"`
	CamID  int64  `json:"cam_id,omitempty"`
	// Streams lists each media stream the camera offers the cloud.
	Streams []StreamStatus `json:"streams"`
	// Errors are the most recent problems, newest first, in plain words.
	Errors []StatusError `json:"errors,omitempty"`
}

// StreamStatus is one media stream of a camera.
type StreamStatus struct {
	ID         string   `json:"id"`
	RTSP       string   `json:"rtsp"`
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

// StatusError is a remembered problem.
type StatusError struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

//go:embed status.html
var statusFS embed.FS

var statusPage = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"since": func(t time.Time) string { return time.Since(t).Truncate(time.Second).String() },
}).ParseFS(statusFS, "status.html"))

// handler serves the status page, its JSON form, the liveness and readiness
// probes and the Prometheus metrics, behind basic auth when configured.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, a.Status()); err != nil {
			a.log.Warn("status page", errField(err))
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.serveReady)
	mux.Handle("GET /metrics", a.metricsHandler())
	return a.withAuth(mux)
}
