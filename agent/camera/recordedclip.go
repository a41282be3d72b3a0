package camera

import (
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/media/record"
	"github.com/camagent/camagent/media/recorder"
)

// preEventMaxRecorded is pre_event_max while the memory card records the
// event stream: clips are then cut from the recording, which holds hours,
// so memory no longer limits pre_event. Two minutes bounds what one event
// uploads (60 MB at 4 Mbit/s, a tenth of the reference's 10 min chunk
// limit); longer context is what cam_memorycard_synchronize is for
// (docs/protocol.md#stream-by-event, docs/protocol.md#memory-card).
const preEventMaxRecorded = 120_000

// recordedPoll is how often a clip cut from the recording looks for new
// fragments: the recorder writes one about every second and tells no one.
const recordedPoll = 250 * time.Millisecond

// recordedClip is an event clip cut from the memory card's recording
// instead of the pre-event buffer. runClips advances it; events move its
// end under clipState.mu.
type recordedClip struct {
	rec    *recorder.Recorder
	stream string
	from   time.Time // event − pre_event
	end    time.Time // last event's end + post_event; clipState.mu
	// next is where the next chunk starts: the key frame the last chunk
	// uploaded stopped before. Zero before the first.
	next   time.Time
	chunks int
}

// preEventCap is the longest pre_event for stream: the recording's when
// the memory card records it, else the RAM buffer's.
func (w *Camera) preEventCap(stream string) int64 {
	if w.recorderOf(stream) != nil {
		return preEventMaxRecorded
	}
	return preEventMax
}

// recorderOf returns the recorder when the memory card records stream now
// without trouble, nil when it does not.
func (w *Camera) recorderOf(stream string) *recorder.Recorder {
	if w.rec == nil || w.rec.formatting.Load() {
		return nil
	}
	rec := w.rec.cur.Load()
	st := w.Status()
	if rec == nil || !st.recording.Enabled || !st.Activity || w.recordedStream(st.recording) != stream ||
		rec.Dir() != w.recordingDir(stream) || rec.Problem() != nil {
		return nil
	}
	return rec
}

// recordedEventClip starts, or extends, the clip of an event seen at now
// cut from the recording; c.mu held. A clip that follows an uploaded one
// starts where that ended, so nothing is sent twice but the GOP the cut
// falls in.
func (w *Camera) recordedEventClip(now, end time.Time) {
	c := w.clips
	if rc := c.recorded; rc != nil {
		rc.end = maxTime(rc.end, end)
		return
	}
	rec := w.recorderOf(c.recStream)
	if rec == nil {
		w.log.Info("event clip lost: the memory card stopped recording its stream", zap.String("stream", c.recStream))
		return
	}
	from := now.Add(-time.Duration(w.Status().events.StreamByEvent.PreEvent) * time.Millisecond)
	if c.recordedUntil.After(from) {
		from = c.recordedUntil
	}
	c.recorded = &recordedClip{rec: rec, stream: c.recStream, from: from, end: end}
	c.reconfigure()
}

// advanceRecorded uploads the chunks of the recorded clip that are
// complete: those a key frame ends, and the last once the recorder has
// written past the clip's end (or gave up: the stream stopped, or final,
// the camera's run ends).
func (w *Camera) advanceRecorded(now time.Time, final bool) {
	c := w.clips
	c.mu.Lock()
	rc := c.recorded
	var end time.Time
	if rc != nil {
		end = rc.end
	}
	c.mu.Unlock()
	if rc == nil {
		return
	}
	var written time.Time
	if tl := rc.rec.Timeline(rc.from, farFuture); len(tl) > 0 {
		written = tl[len(tl)-1].End
	}
	start := rc.from
	if !rc.next.IsZero() {
		start = rc.next
	}
	last := final || !written.Before(end) || now.After(end.Add(clipStall))
	if !last && written.Sub(start) < clipChunkMax {
		return // not a whole chunk yet
	}
	to := end
	if !last {
		to = written
	}
	w.cutRecorded(rc, to, last)
	if !last {
		return
	}
	c.mu.Lock()
	c.recorded = nil
	if !rc.next.IsZero() {
		c.recordedUntil = rc.next
	}
	if rc.end.After(end) && !final {
		// An event extended the clip after its last chunk was cut: the
		// rest is a clip of its own.
		c.recorded = &recordedClip{rec: rc.rec, stream: rc.stream, from: maxTime(rc.from, c.recordedUntil), end: rc.end}
	}
	c.mu.Unlock()
	for _, g := range rc.rec.Gaps(rc.from, end) {
		w.log.Warn("event clip has a gap in the recording", zap.String("stream", rc.stream),
			zap.Time("start", g.Start), zap.Time("end", g.End), zap.Stringer("reason", g.Reason))
	}
	w.log.Info("event clip cut from the recording", zap.String("stream", rc.stream), zap.Time("from", rc.from),
		zap.Time("end", end), zap.Int("chunks", rc.chunks))
}

// cutRecorded uploads the chunks of [rc.next, to) that are complete: all
// when last, else all but the one the recording's end cuts short.
func (w *Camera) cutRecorded(rc *recordedClip, to time.Time, last bool) {
	start := rc.from
	if !rc.next.IsZero() {
		start = rc.next
	}
	var held *recorder.Chunk
	send := func(ch recorder.Chunk) {
		w.spoolClip(rc.stream, record.Chunk{Start: ch.Start, Duration: ch.Duration, Data: ch.Data, Frames: ch.Frames})
		rc.chunks++
		rc.next = ch.End()
	}
	for ch, err := range rc.rec.Extract(start, to, clipChunkMax) {
		if err != nil {
			w.log.Warn("event clip: recorded segment unreadable", zap.String("stream", rc.stream), zap.Time("segment", ch.Segment), zap.Error(err))
			continue
		}
		// A neighbouring segment's last GOP may reach past where the
		// clip goes on: it went up already.
		if !rc.next.IsZero() && ch.Start.Before(rc.next) {
			continue
		}
		if held != nil {
			// A chunk follows it: a key frame or its segment's end cut it.
			send(*held)
		}
		held = &ch
	}
	if held == nil {
		return
	}
	if last || held.SegmentEnd {
		send(*held)
		return
	}
	rc.next = held.Start // cut short by the recording's end: again, longer, next time
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
