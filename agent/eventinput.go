package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/agent/camera"
)

// maxEventBody bounds one local event: a name, a time and a little metadata.
const maxEventBody = 64 << 10

// Limits on a local event's own time: a clock a little ahead is tolerated,
// an event from yesterday is a sender's bug, not news.
const (
	eventFuture = time.Minute
	eventPast   = 24 * time.Hour
)

// localEvent is the body of POST /api/v1/cameras/{name}/events. Time is
// epoch seconds (a number, fractions allowed) or RFC 3339; absent = now.
type localEvent struct {
	Event string          `json:"event"`
	Time  json.RawMessage `json:"time,omitempty"`
	Meta  map[string]any  `json:"meta,omitempty"`
}

// eventTime reads the time of a local event.
func (e localEvent) eventTime(now time.Time) (time.Time, error) {
	if len(e.Time) == 0 || string(e.Time) == "null" {
		return now, nil
	}
	var t time.Time
	var f float64
	if err := json.Unmarshal(e.Time, &f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		t = time.UnixMilli(int64(math.Round(f * 1000)))
	} else if err := json.Unmarshal(e.Time, &t); err != nil {
		return time.Time{}, errors.New(`"time" must be epoch seconds (1710408413.5) or RFC 3339 ("2024-03-14T09:26:53.5Z")`)
	}
	if t.After(now.Add(eventFuture)) || t.Before(now.Add(-eventPast)) {
		return time.Time{}, fmt.Errorf(`"time" %s is more than %s ahead of or %s behind this gateway's clock`, t.UTC().Format(time.RFC3339Nano), eventFuture, eventPast)
	}
	return t, nil
}

// decodeLocalEvent reads one local event and its time (now when it has
// none). Unknown fields are refused: a misspelt "meta" must not vanish.
func decodeLocalEvent(body io.Reader, now time.Time) (localEvent, time.Time, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var in localEvent
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return in, time.Time{}, err
		}
		return in, time.Time{}, errors.New("body is not the JSON object {event, time?, meta?}: " + err.Error())
	}
	if in.Event == "" {
		return in, time.Time{}, errors.New(`"event" is required`)
	}
	at, err := in.eventTime(now)
	return in, at, err
}

// serveEventInput is the local event input: other programs on the gateway
// (a door contact, a doorbell, an AI detector) raise an event of a camera,
// which the cloud then gets like motion, with snapshot and clip as its
// settings say. Only a JSON POST is taken, so a web page cannot raise
// events through a plain form or image request.
func (a *Agent) serveEventInput(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	cw := a.cameraNamed(name)
	if cw == nil {
		jsonError(w, http.StatusNotFound, "no such camera")
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		jsonError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	in, at, err := decodeLocalEvent(http.MaxBytesReader(w, r.Body, maxEventBody), time.Now())
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			jsonError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxEventBody))
			return
		}
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch err := cw.RaiseEvent(in.Event, at, in.Meta); {
	case errors.Is(err, camera.ErrUnknownEvent):
		jsonError(w, http.StatusBadRequest, err.Error()+" (motion and the kinds in cameras[].events.custom can)")
		return
	case errors.Is(err, camera.ErrEventInactive):
		jsonError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		w.Header().Set("Retry-After", "1")
		jsonError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	a.log.Info("local event", zap.String("camera", name), zap.String("event", in.Event), zap.Time("time", at), zap.String("from", r.RemoteAddr))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"camera": name, "event": in.Event, "time": float64(at.UnixMilli()) / 1000})
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// cameraNamed is the running camera called name, nil when none is.
func (a *Agent) cameraNamed(name string) *camera.Camera {
	for _, cw := range a.cameraWorkers() {
		if cw.Name() == name {
			return cw
		}
	}
	return nil
}
