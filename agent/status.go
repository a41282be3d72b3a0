package agent

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/camagent/camagent/agent/camera"
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
	// Disk is the state directory's use; filled for the page and
	// /status.json (see report).
	Disk *DiskStatus `json:"disk,omitempty"`
}

// DiskStatus is what camagent keeps in state_dir and the room left there.
type DiskStatus struct {
	Dir string `json:"dir"`
	// UsedBytes is the size of camagent's files in the directory.
	UsedBytes int64 `json:"used_bytes"`
	// FreeBytes is what the filesystem still grants an unprivileged writer.
	FreeBytes uint64 `json:"free_bytes"`
	// TotalBytes is the filesystem's size.
	TotalBytes uint64 `json:"total_bytes"`
	// Error says why the numbers are missing.
	Error string `json:"error,omitempty"`
}

const (
	// pageRefresh is how often the status page reloads itself.
	pageRefresh = 3 * time.Second
	// pageSnapshotAge is the oldest thumbnail the page shows; viewers
	// refreshing within it share one picture from the camera.
	pageSnapshotAge = 2 * time.Second
	// thumbWidth is the thumbnail's width on the page, in CSS pixels.
	thumbWidth = 320
)

//go:embed status.html
var statusFS embed.FS

var statusPage = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"ago":     ago,
	"bytes":   humanBytes,
	"state":   stateClass,
	"thumbH":  thumbHeight,
	"verdict": verdict,
	"join":    func(s []string) string { return strings.Join(s, ", ") },
	"clock":   func(t time.Time) string { return t.Local().Format("15:04:05") },
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).ParseFS(statusFS, "status.html"))

// page is what the template renders.
type page struct {
	Status
	Refresh int // seconds
	Thumb   int // thumbnail width
	// Open is set with http.insecure_open: anyone reaching the page sees
	// it, and the page says so.
	Open bool
	// Timelines are the last day of each camera with a memory card, by name.
	Timelines map[string]*timelineView
}

// handler serves the status page, its JSON form, camera snapshots, the
// liveness and readiness probes, the Prometheus metrics and the local event
// input, each behind basic auth as its access rule says (auth.go).
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		h, _, _ := a.accessConfig()
		p := page{Status: a.report(), Refresh: int(pageRefresh / time.Second), Thumb: thumbWidth, Open: h.InsecureOpen,
			Timelines: a.timelines(time.Now())}
		if err := statusPage.Execute(w, p); err != nil {
			a.log.Warn("status page", errField(err))
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.report())
	})
	mux.HandleFunc("GET /snapshot/{file}", a.serveSnapshot)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// Like /readyz: a cached answer would say nothing of now.
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.serveReady)
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("POST /api/v1/cameras/{name}/events", a.serveEventInput)
	mux.HandleFunc("GET /api/v1/cameras/{name}/timeline", a.serveTimeline)
	return a.withAuth(mux)
}

// report is Status plus what only people look at: disk use, the newest
// event, the thumbnail and the stream sources; every string passes
// through the worker's scrub, so no secret reaches a page.
func (a *Agent) report() Status {
	st := a.Status()
	a.mu.Lock()
	dir, httpPass, generated := a.cfg.StateDir, a.cfg.HTTP.Password.Reveal(), a.generated
	a.mu.Unlock()
	d := diskUsage(dir)
	st.Disk = &d
	var secrets []string
	for _, w := range a.cameraWorkers() {
		secrets = append(secrets, w.Secrets()...)
	}
	secrets = append(secrets, httpPass, generated)
	sc := newScrubber(secrets)
	st.Config.Error = sc.scrub(st.Config.Error)
	st.Config.Pending = sc.scrub(st.Config.Pending)
	for i := range st.Cameras {
		cs := &st.Cameras[i]
		cs.ONVIF, cs.Cloud = sc.scrub(cs.ONVIF), sc.scrub(cs.Cloud)
		for j := range cs.Errors {
			cs.Errors[j].What = sc.scrub(cs.Errors[j].What)
			cs.Errors[j].Detail = sc.scrub(cs.Errors[j].Detail)
		}
		for j := range cs.Streams {
			cs.Streams[j].RTSP = sc.scrub(cs.Streams[j].RTSP)
			cs.Streams[j].URL = sc.scrub(cs.Streams[j].URL)
		}
		if cs.LastEvent != nil {
			cs.LastEvent.Outcome = sc.scrub(cs.LastEvent.Outcome)
		}
	}
	return st
}

// userinfoRE matches the user:password@ of a URL inside free text (error
// messages quote the URLs they failed on).
// The userinfo runs to the authority's last @, as in URL parsing, so a
// password holding an @ goes with it.
var userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s"'<>]*@`)

// scrubber removes credentials from text before people see it.
type scrubber struct{ r *strings.Replacer }

func newScrubber(secrets []string) scrubber {
	var pairs []string
	for _, s := range secrets {
		// Very short values would blank out ordinary words; a password
		// that short is not worth hiding anyway.
		if len(s) >= 4 {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	return scrubber{r: strings.NewReplacer(pairs...)}
}

func (s scrubber) scrub(text string) string {
	if text == "" {
		return ""
	}
	return s.r.Replace(userinfoRE.ReplaceAllString(text, "$1"))
}

// serveSnapshot serves GET /snapshot/{camera}.jpg: the camera's latest
// picture, at most pageSnapshotAge old.
func (a *Agent) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".jpg")
	var cw *camera.Camera
	for _, x := range a.cameraWorkers() {
		if ok && x.Name() == name {
			cw = x
		}
	}
	if cw == nil {
		http.Error(w, "no such camera", http.StatusNotFound)
		return
	}
	jpeg, at, err := cw.Snapshot(r.Context(), pageSnapshotAge)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the viewer left
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "camera "+cw.Name()+" gives no picture now: "+newScrubber(cw.Secrets()).scrub(err.Error()), http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(jpeg)))
	h.Set("Last-Modified", at.UTC().Format(http.TimeFormat))
	_, _ = w.Write(jpeg)
}

// diskUsage measures dir: the bytes of the files in it and the room left
// on its filesystem.
func diskUsage(dir string) DiskStatus {
	d := DiskStatus{Dir: dir}
	var problems []string
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			problems = append(problems, err.Error())
			return nil
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				d.UsedBytes += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	var fsst syscall.Statfs_t
	if err := syscall.Statfs(dir, &fsst); err != nil {
		problems = append(problems, "statfs "+dir+": "+err.Error())
	} else {
		d.FreeBytes = uint64(fsst.Bavail) * uint64(fsst.Bsize)
		d.TotalBytes = uint64(fsst.Blocks) * uint64(fsst.Bsize)
	}
	if len(problems) > 0 {
		d.Error = strings.Join(problems, "; ")
	}
	return d
}

// ago says how long ago t was, in words a person reads at a glance.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h ago", d.Hours())
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n any) string {
	var v float64
	switch x := n.(type) {
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case int:
		v = float64(x)
	}
	const unit = 1024
	if v < unit {
		return fmt.Sprintf("%.0f B", v)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	i := -1
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// stateClass picks the colour of a state: ok for the good states, muted
// for those on their way or switched off, bad for the rest.
func stateClass(s string) string {
	word, _, _ := strings.Cut(s, " ")
	word = strings.TrimSuffix(word, ":")
	switch word {
	case "connected", "ready", "playing", "sent":
		return "ok"
	case "connecting", "reconnecting", "registering", "cam_registering", "ws_open", "not", "idle":
		return "muted"
	}
	return "bad"
}

// thumbHeight keeps the thumbnail in the main stream's proportions
// ("1920x1080"), 16:9 while they are unknown.
func thumbHeight(width int, cs CameraStatus) int {
	if len(cs.Streams) > 0 {
		w, h, _ := strings.Cut(cs.Streams[0].Resolution, "x")
		wi, err1 := strconv.Atoi(w)
		hi, err2 := strconv.Atoi(h)
		if err1 == nil && err2 == nil && wi > 0 && hi > 0 {
			return width * hi / wi
		}
	}
	return width * 9 / 16
}

// verdict sums a camera up in one word and its colour: online when the
// cloud session is ready and every stream plays (or is idle: pulled on
// demand), trouble when any part is in a bad state, else starting.
func verdict(cs CameraStatus) [2]string {
	states := []string{cs.ONVIF, cs.Cloud}
	allPlaying := cs.Cloud == "ready"
	for _, s := range cs.Streams {
		states = append(states, s.RTSP)
		allPlaying = allPlaying && (s.RTSP == "playing" || s.RTSP == "idle")
	}
	if allPlaying {
		return [2]string{"ok", "online"}
	}
	for _, s := range states {
		if stateClass(s) == "bad" {
			return [2]string{"bad", "trouble"}
		}
	}
	return [2]string{"muted", "starting"}
}
