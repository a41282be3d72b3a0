package agent

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/spool"
)

// CameraStatus is one camera as the status page and /status.json show it:
// words derived from the typed facts of its camera.Status.
type CameraStatus struct {
	Name   string `json:"name"`
	ONVIF  string `json:"onvif"`
	Device string `json:"device,omitempty"`
	IP     string `json:"ip,omitempty"`
	Cloud  string `json:"cloud"`
	CamID  int64  `json:"cam_id,omitempty"`
	// Streams lists each media stream the camera offers the cloud.
	Streams []StreamStatus `json:"streams"`
	// Errors are the most recent problems, the latest first, each once:
	// what in plain words, the technical detail beside it. The state
	// fields above say only where each part stands, so that a problem is
	// told once.
	Errors []camera.Problem `json:"errors,omitempty"`
	// LastEvent is the newest camera event the agent handled, nil before
	// the first.
	LastEvent *camera.EventStatus `json:"last_event,omitempty"`
	// Snapshot is the path of the camera's latest picture on this server,
	// "" when the camera has no ONVIF connection to take one.
	Snapshot string `json:"snapshot,omitempty"`
	// Uploads is the camera's upload queue (events, snapshots, clips).
	Uploads UploadQueueStatus `json:"uploads"`
	// EventBuffer is the pre-event buffer, nil while none is kept.
	EventBuffer *EventBufferStatus `json:"event_buffer,omitempty"`
	// Recording is the camera's memory card, nil when it has none.
	Recording *RecordingView `json:"recording,omitempty"`
}

// RecordingView is a camera's continuous recording in words.
type RecordingView struct {
	On       bool   `json:"on"`
	Stream   string `json:"stream,omitempty"`
	Bytes    int64  `json:"bytes"`
	Segments int    `json:"segments"`
	// Problem is why nothing is recorded now ("disk full", "directory
	// gone", …), "" when none.
	Problem string `json:"problem,omitempty"`
	// Direct is direct-to-storage recording, nil while off.
	Direct *DirectRecordingView `json:"direct,omitempty"`
}

// DirectRecordingView is direct-to-storage recording: what waits to be
// pushed to the cloud's storage and what became of the rest.
type DirectRecordingView struct {
	Stream       string     `json:"stream,omitempty"`
	Since        *time.Time `json:"since,omitempty"`
	Waiting      int        `json:"waiting"`
	WaitingBytes int64      `json:"waiting_bytes"`
	Oldest       *time.Time `json:"oldest,omitempty"`
	Uploading    bool       `json:"uploading"`
	Pushed       uint64     `json:"pushed"`
	// Skipped were too old to push, Failed refused by the cloud; both
	// stay on the memory card.
	Skipped  uint64     `json:"skipped"`
	Failed   uint64     `json:"failed"`
	LastPush *time.Time `json:"last_push,omitempty"`
}

func directView(d *camera.DirectRecordingStatus) *DirectRecordingView {
	if d == nil {
		return nil
	}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return &DirectRecordingView{Stream: d.Stream, Since: at(d.Since), Waiting: d.Waiting, WaitingBytes: d.WaitingBytes,
		Oldest: at(d.Oldest), Uploading: d.Uploading, Pushed: d.Pushed, Skipped: d.Skipped, Failed: d.Failed, LastPush: at(d.LastPush)}
}

// recordingView puts the memory card's facts in words.
func recordingView(r *camera.RecordingStatus) *RecordingView {
	if r == nil {
		return nil
	}
	v := &RecordingView{On: r.On, Stream: r.Stream, Bytes: r.Bytes, Segments: r.Segments, Direct: directView(r.Direct)}
	if r.Problem != nil {
		v.Problem = r.Problem.Kind.String()
	}
	return v
}

// UploadQueueStatus is what waits for the cloud and what became of it.
type UploadQueueStatus struct {
	Items int   `json:"items"`
	Bytes int64 `json:"bytes"`
	// Oldest is when the oldest waiting item happened, nil when none waits.
	Oldest   *time.Time `json:"oldest,omitempty"`
	Uploaded int64      `json:"uploaded"`
	// LastUpload is when the cloud last took an item.
	LastUpload *time.Time `json:"last_upload,omitempty"`
	Failures   int64      `json:"failures"`
	LastError  string     `json:"last_error,omitempty"`
	// Dropped counts items given up unsent, by reason (budget, age, refused, …).
	Dropped map[string]int64 `json:"dropped,omitempty"`
}

// EventBufferStatus is a camera's pre-event buffer.
type EventBufferStatus struct {
	Stream  string  `json:"stream"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
}

// uploadQueueStatus puts a queue's numbers into the page's form.
func uploadQueueStatus(q spool.Stats) UploadQueueStatus {
	u := UploadQueueStatus{Items: q.Items, Bytes: q.Bytes, Uploaded: q.Uploaded, Failures: q.Failures, LastError: q.LastError, Dropped: q.Dropped}
	if !q.OldestCreated.IsZero() {
		t := q.OldestCreated
		u.Oldest = &t
	}
	if !q.LastUpload.IsZero() {
		t := q.LastUpload
		u.LastUpload = &t
	}
	return u
}

// StreamStatus is one media stream of a camera.
type StreamStatus struct {
	ID string `json:"id"`
	// RTSP is the pull's state: idle, connecting, playing, stalled or
	// failing (Errors say why).
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

// describeCamera puts what w reports in words.
func describeCamera(w *camera.Camera) CameraStatus {
	cs := describe(w.Status(), w.CanSnapshot())
	cs.Uploads = uploadQueueStatus(w.UploadQueue())
	if b := w.EventBuffer(); b.Stream != "" {
		cs.EventBuffer = &EventBufferStatus{Stream: b.Stream, Seconds: b.Span.Seconds(), Bytes: b.Bytes}
	}
	return cs
}

// describe puts a camera's facts in words.
func describe(s *camera.Status, canSnapshot bool) CameraStatus {
	// Copies: the page scrubs them in place, and s is shared.
	cs := CameraStatus{Name: s.Name, ONVIF: s.ONVIF.String(), IP: s.IP, CamID: s.CamID, Errors: slices.Clone(s.Problems), Recording: recordingView(s.Recording)}
	if s.LastEvent != nil {
		ev := *s.LastEvent
		cs.LastEvent = &ev
	}
	if d := s.Device; d.Manufacturer != "" {
		cs.Device = strings.TrimSpace(d.Manufacturer + " " + d.Model + " " + d.FirmwareVersion)
	}
	cs.Cloud = s.Cloud.String()
	if s.Cloud == uplink.StateDisconnected {
		if s.LastEnd == nil {
			// Not connected yet, and no connection failed: on its way.
			cs.Cloud = "connecting"
		} else if _, bad := camera.CloudEnd(*s.LastEnd); !bad {
			cs.Cloud = "reconnecting"
		}
	}
	if canSnapshot {
		cs.Snapshot = "/snapshot/" + url.PathEscape(s.Name) + ".jpg"
	}
	for _, x := range s.Streams {
		ss := StreamStatus{ID: x.ID, URL: x.URL, RTSP: x.Pull.String(), FPS: x.Stats.FPS, Kbps: x.Stats.Kbps,
			Frames: x.Stats.VideoFrames, Reasons: x.Reasons, Publishing: len(x.Reasons) > 0}
		if x.Stats.VideoCodec != media.CodecUnknown {
			ss.Codec = x.Stats.VideoCodec.String()
			ss.Resolution = fmt.Sprintf("%dx%d", x.Stats.Width, x.Stats.Height)
		}
		cs.Streams = append(cs.Streams, ss)
	}
	return cs
}

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

// readinessOf says where a camera stands, and why in plain words.
func readinessOf(s *camera.Status) (readiness, string) {
	if s.Cloud == uplink.StateReady {
		return readyRegistered, "registered in cloud"
	}
	if errors.Is(s.ONVIFErr, onvif.ErrUnauthorized) {
		return readyFailed, "camera refused the ONVIF credentials"
	}
	// The cloud session registers the camera once its main stream plays,
	// so RTSP credentials the camera refuses hold it back for good too.
	if len(s.Streams) > 0 {
		if m := s.Streams[0]; errors.Is(m.Err, media.ErrUnauthorized) && m.Pull != camera.PullPlaying {
			return readyFailed, "camera refused the RTSP credentials"
		}
	}
	if s.LastEnd != nil && s.LastEnd.Settled() {
		return readyFailed, s.LastEnd.String()
	}
	why := "cloud session " + s.Cloud.String()
	switch {
	case s.ONVIF != camera.ONVIFConnected && s.ONVIF != camera.ONVIFNotConfigured:
		onvifState := s.ONVIF.String()
		if s.ONVIFErr != nil {
			onvifState = "error: " + camera.Explain(s.ONVIFErr)
		}
		why += ", onvif " + onvifState
	case s.LastEnd != nil:
		why += " (last connection: " + s.LastEnd.String() + ")"
	}
	return readyPending, why
}
