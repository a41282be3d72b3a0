package camera

import (
	"os"
	"path/filepath"
	"time"

	"github.com/camagent/camagent/media/recorder"
)

// Timeline is what a camera's memory card holds over [From, To), for
// people: recorded ranges, which of them reached the cloud, and the gaps
// between with their reasons. Every moment of the window from Since on is
// in exactly one range or gap; the time before Since was never recorded.
// Its slices are the caller's own.
type Timeline struct {
	From, To time.Time
	// Stream is the recorded stream, "" when no recording could be read.
	Stream string
	// Since is when the memory card's history begins (its first segment,
	// or the first gap left by evicting it); zero when nothing was ever
	// recorded.
	Since time.Time
	// Ranges are the recorded stretches, oldest first; contiguous
	// segments are one range unless their upload state differs.
	Ranges []TimelineRange
	// Gaps are the stretches without recording, oldest first. The last may
	// be the one going on now, ending at the window's end.
	Gaps []recorder.Gap
	// Source says where the facts came from.
	Source TimelineSource
	// Problem is why the recorder is not open, nil when it is.
	Problem *recorder.DiskError
}

// TimelineRange is a recorded stretch on the gateway's disk.
type TimelineRange struct {
	Start, End time.Time
	// Uploaded: every segment of it reached the cloud.
	Uploaded bool
}

// TimelineSource is where a Timeline's facts came from.
type TimelineSource int

const (
	// SourceNone: nothing could be read (no recording directory yet, or
	// its index is unreadable).
	SourceNone TimelineSource = iota
	// SourceRecorder: the open recorder's index, up to the fragment being
	// written.
	SourceRecorder
	// SourceDisk: the index a recorder left on disk, read while none is
	// open (camera not known yet, directory refused); the segment that
	// was being written when it stopped is not in it.
	SourceDisk
)

var sourceNames = [...]string{"none", "recorder", "disk"}

func (s TimelineSource) String() string { return sourceNames[s] }

// Timeline returns the camera's memory card over [from, to); false when
// the config gives the camera none.
func (w *Camera) Timeline(from, to time.Time) (Timeline, bool) {
	if w.rec == nil {
		return Timeline{}, false
	}
	tl := Timeline{From: from, To: to}
	st := w.Status()
	var (
		h       recorder.History
		pending recorder.GapReason
		idle    bool
	)
	if rec := w.rec.cur.Load(); rec != nil {
		h, tl.Source, tl.Stream = rec.History(), SourceRecorder, filepath.Base(rec.Dir())
		pending, idle = rec.Pending()
		if pending == recorder.GapNone {
			pending = recorder.GapStreamStalled // as the recorder names a gap it was given no reason for
		}
	} else {
		tl.Problem = w.rec.openErr.Load()
		tl.Stream = w.recordedStream(st.recording)
		if tl.Stream == "" {
			tl.Stream = w.newestRecordedStream()
		}
		if tl.Stream != "" {
			if disk, err := recorder.ReadHistory(w.recordingDir(tl.Stream)); err == nil {
				h, tl.Source = disk, SourceDisk
			}
		}
		idle = true
		switch {
		case tl.Problem != nil:
			pending = recorder.GapDiskError
		case !st.recording.Enabled || !st.Activity:
			pending = recorder.GapRecordingOff
		default:
			// Not opened while recording is on: the camera has not
			// answered yet, so its streams are unknown.
			pending = recorder.GapCameraOffline
		}
	}
	tl.Since = h.Since()
	for _, s := range h.Spans(from, to) {
		tl.Ranges = append(tl.Ranges, TimelineRange{Start: s.Start, End: s.End, Uploaded: s.Uploaded})
	}
	tl.Gaps = h.GapsIn(from, to)
	// The gap going on now is in the index only once the next segment
	// starts; until then it runs from the last recording to now.
	now := time.Now()
	if last := h.OngoingFrom(); idle && !last.IsZero() && now.After(last) {
		if g := (recorder.Gap{Start: maxTime(last, from), End: minTime(now, to), Reason: pending}); g.End.After(g.Start) {
			tl.Gaps = append(tl.Gaps, g)
		}
	}
	return tl, true
}

// newestRecordedStream is the stream whose index on disk was written
// last, "" when there is none: before the camera answers, its streams
// are unknown, but what it recorded before is still there.
func (w *Camera) newestRecordedStream() string {
	ents, err := os.ReadDir(filepath.Join(w.opts.Shared.recDir, w.name))
	if err != nil {
		return ""
	}
	var (
		best string
		at   time.Time
	)
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		fi, err := os.Stat(filepath.Join(w.recordingDir(e.Name()), "index.json"))
		if err == nil && fi.ModTime().After(at) {
			best, at = e.Name(), fi.ModTime()
		}
	}
	return best
}
