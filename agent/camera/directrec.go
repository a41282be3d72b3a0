package camera

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/media/recorder"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/spool"
)

// Direct-to-storage continuous recording (docs/protocol.md#storage-direct-recording):
// the memory card records the stream and every finished segment is pushed
// to the cloud's storage as one record upload, instead of an RTMP publish.
//
// How it shares the memory card, which records one stream:
//   - While direct recording is requested the card records that stream,
//     whatever cam_memorycard_recording last said: off, or on for the
//     other stream. The switch keeps its value (and the memorycard event
//     reports it); when direct recording ends the card records as the
//     switch says again.
//   - One stream at a time: direct recording asked for a second stream
//     falls back to RTMP for that one, as without a memory card.
//   - What was recorded before the request is not pushed (the cloud pulls
//     it with cam_memorycard_synchronize when it wants it).
//
// The request lasts until stream_stop, across connection losses (the card
// goes on recording; the backlog is pushed after the reconnect), passive
// mode (nothing is recorded or pushed meanwhile) and restarts (persisted).
// The cloud re-issues stream_start after every connect; one that has not
// within directReissueWait of a READY connection no longer wants it, and
// direct recording ends as if stopped.
const (
	// directReissueWait is how long a new connection may go without the
	// cloud asking for direct recording again.
	directReissueWait = 2 * time.Minute
	// directPoll: how often the pusher looks for finished segments.
	directPoll = time.Second
)

// directRec is a camera's direct recording; guarded by mu. The pusher
// (runDirect) is the only uploader.
type directRec struct {
	mu   sync.Mutex
	path string // persisted request, "" = not persisted
	req  directRequest
	// conn is the connection the cloud last asked on (Status.conn), 0
	// when not on one of this process's.
	conn int64
	// handled: segments that start at or before it were pushed, given up
	// or skipped; zero before the first.
	handled   time.Time
	uploading bool
	counts    directCounts
	lastPush  time.Time
	wake      chan struct{}
}

// directRequest is what is persisted: the stream and when it was asked for.
type directRequest struct {
	Stream string    `json:"stream,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

type directCounts struct{ pushed, skipped, failed uint64 }

// DirectRecordingStatus is direct-to-storage recording as typed facts.
type DirectRecordingStatus struct {
	Stream string
	// Since is when the cloud asked for it.
	Since time.Time
	// Waiting are the finished segments still to be pushed, WaitingBytes
	// their size and Oldest the start of the oldest (zero when none).
	Waiting      int
	WaitingBytes int64
	Oldest       time.Time
	// Uploading: a segment is on its way now.
	Uploading bool
	// Pushed, Skipped (older than spool.RecordMaxAge, left on the card) and
	// Failed (the cloud refused it or its PUT kept failing; left on the
	// card) count segments since the agent started.
	Pushed, Skipped, Failed uint64
	LastPush                time.Time
}

func (w *Camera) initDirect() {
	d := &w.rec.direct
	d.wake = make(chan struct{}, 1)
	if w.opts.StatePath == "" {
		return
	}
	d.path = strings.TrimSuffix(strings.TrimSuffix(w.opts.StatePath, ".json"), ".state") + ".direct.json"
	b, err := os.ReadFile(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err == nil && json.Unmarshal(b, &d.req) == nil:
		if d.req.Stream != "" {
			w.log.Info("direct recording goes on from the last run", zap.String("stream", d.req.Stream), zap.Time("since", d.req.Since))
		}
	default:
		w.log.Warn("direct recording request unreadable, forgotten", zap.String("path", d.path), zap.Error(err))
		d.req = directRequest{}
	}
}

// directStream is the stream recorded directly to storage, "" when none.
func (w *Camera) directStream() string {
	if w.rec == nil {
		return ""
	}
	d := &w.rec.direct
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.req.Stream
}

// isDirect reports whether a stream_start or stream_stop is about direct
// recording: reason record with the flag, or the reason of its own
// (docs/protocol.md#q7).
func isDirect(reason uplink.StreamReason, flag bool) bool {
	return reason == uplink.ReasonStorageDirectRecording || reason == uplink.ReasonRecord && flag
}

// startDirect takes a direct recording request for stream; false with
// the reason when it cannot be served locally (the caller publishes RTMP).
func (w *Camera) startDirect(stream string) (bool, string) {
	switch {
	case w.rec == nil:
		return false, "no memory card"
	case w.rec.openErr.Load() != nil:
		return false, "the memory card cannot be written"
	}
	d := &w.rec.direct
	d.mu.Lock()
	if d.req.Stream != "" && d.req.Stream != stream {
		other := d.req.Stream
		d.mu.Unlock()
		return false, "the memory card records stream " + other + " for direct recording"
	}
	d.conn = w.Status().conn
	if d.req.Stream == stream {
		d.mu.Unlock()
		return true, "" // asked again, after a reconnect or twice
	}
	d.req = directRequest{Stream: stream, Since: time.Now()}
	d.handled = time.Time{}
	err := w.saveDirectLocked()
	d.mu.Unlock()
	w.savedDirect(err)
	w.log.Info("direct recording started", zap.String("stream", stream))
	w.rec.wakeUp()
	return true, ""
}

// stopDirect ends direct recording of stream, if on. The segment being
// recorded and those not pushed yet stay on the memory card; an upload on
// its way finishes.
func (w *Camera) stopDirect(stream, why string) {
	if w.rec == nil {
		return
	}
	d := &w.rec.direct
	d.mu.Lock()
	if d.req.Stream != stream {
		d.mu.Unlock()
		return
	}
	req, handled := d.req, d.handled
	d.req, d.conn = directRequest{}, 0
	err := w.saveDirectLocked()
	d.mu.Unlock()
	w.savedDirect(err)
	waiting := 0
	if rec := w.rec.cur.Load(); rec != nil {
		waiting = len(pushable(rec.Segments(), req.Since, handled))
	}
	w.log.Info("direct recording stopped; what is not pushed stays on the memory card", zap.String("stream", stream),
		zap.String("why", why), zap.Int("finished_not_pushed", waiting))
	w.rec.wakeUp()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// saveDirectLocked persists the request; mu held.
func (w *Camera) saveDirectLocked() error {
	d := &w.rec.direct
	if d.path == "" {
		return nil
	}
	return saveJSON(d.path, "direct recording request", d.req)
}

// savedDirect reports a failed save; not under mu, since the owner
// publishing the problem reads the direct status.
func (w *Camera) savedDirect(err error) {
	if err != nil {
		w.fail("direct recording request not saved: the agent forgets it on restart (check that state_dir is writable)", err)
	}
}

// pushable are the segments to push, oldest first: finished, not uploaded,
// ending after since and starting after handled. Those too old to push
// are included: the pusher skips them, once.
func pushable(segs []recorder.Segment, since, handled time.Time) []recorder.Segment {
	var out []recorder.Segment
	for _, s := range segs {
		if s.Closed() && !s.Uploaded && s.Duration > 0 && s.End().After(since) && s.Start.After(handled) {
			out = append(out, s)
		}
	}
	return out
}

// runDirect pushes finished segments while direct recording is on, the
// connection READY and the camera active, one at a time, until ctx ends.
func (w *Camera) runDirect(ctx context.Context) {
	d := &w.rec.direct
	var readyConn int64
	var readyAt time.Time
	tick := time.NewTicker(directPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.wake:
		}
		st := w.Status()
		if st.ready && st.conn != readyConn {
			readyConn, readyAt = st.conn, time.Now()
		}
		d.mu.Lock()
		req, conn := d.req, d.conn
		d.mu.Unlock()
		if req.Stream == "" {
			continue
		}
		if st.ready && conn != st.conn && time.Since(readyAt) > directReissueWait {
			w.stopDirect(req.Stream, fmt.Sprintf("the cloud did not ask for it again within %v of connecting", directReissueWait))
			continue
		}
		rec := w.rec.cur.Load()
		if !st.ready || !st.Activity || rec == nil || rec.Dir() != w.recordingDir(req.Stream) {
			continue
		}
		w.pushBacklog(ctx, rec, req)
	}
}

// pushBacklog pushes what waits, oldest first, until it is done, the
// connection is lost or direct recording of req ends.
func (w *Camera) pushBacklog(ctx context.Context, rec *recorder.Recorder, req directRequest) {
	d := &w.rec.direct
	log := w.log.With(zap.String("stream", req.Stream))
	maxAge := w.opts.Timing.DirectMaxAge
	if maxAge <= 0 {
		maxAge = spool.RecordMaxAge // the clips' rule: the cloud backfills older video by sync
	}
	for {
		d.mu.Lock()
		if d.req != req {
			d.mu.Unlock()
			return
		}
		handled := d.handled
		d.mu.Unlock()
		now := time.Now()
		segs := pushable(rec.Segments(), req.Since, handled)
		if len(segs) == 0 {
			return
		}
		seg := segs[0]
		if age := now.Sub(seg.Start); age > maxAge {
			log.Warn("direct recording: segment too old to push, left on the memory card", zap.Time("start", seg.Start),
				zap.Duration("age", age), zap.Duration("max_age", maxAge))
			d.done(seg, func(c *directCounts) { c.skipped++ })
			continue
		}
		d.setUploading(true)
		n, err := w.pushSegment(ctx, log, rec, req.Stream, seg)
		d.setUploading(false)
		switch {
		case err == nil:
			d.done(seg, func(c *directCounts) { c.pushed++; d.lastPush = time.Now() })
			log.Debug("direct recording: segment pushed", zap.Time("start", seg.Start), zap.Duration("duration", seg.Duration), zap.Int64("bytes", n))
			continue
		case ctx.Err() != nil, errors.Is(err, uplink.ErrNotReady), errors.Is(err, uplink.ErrConnClosed):
			// Tried again on the next connection.
			log.Info("direct recording: connection lost, segment pushed after the reconnect", zap.Time("start", seg.Start), zap.Error(err))
			return
		}
		log.Warn("direct recording: segment not pushed, left on the memory card", zap.Time("start", seg.Start), zap.Error(err))
		d.done(seg, func(c *directCounts) { c.failed++ })
	}
}

func (d *directRec) setUploading(on bool) {
	d.mu.Lock()
	d.uploading = on
	d.mu.Unlock()
}

// done marks seg handled and counts how (under mu).
func (d *directRec) done(seg recorder.Segment, count func(*directCounts)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handled = seg.Start
	count(&d.counts)
}

// pushSegment uploads one finished segment file as it is on the memory
// card, streamed from the disk: a fragmented MP4 that starts with a key
// frame and plays standalone, so nothing is re-muxed and a 60 s segment
// (30 MB at 4 Mbit/s) is never held in memory. Marked uploaded once up.
func (w *Camera) pushSegment(ctx context.Context, log *zap.Logger, rec *recorder.Recorder, stream string, seg recorder.Segment) (int64, error) {
	path := filepath.Join(rec.Dir(), seg.Name())
	f := recordFile{start: seg.Start, duration: seg.Duration, size: seg.Bytes, open: func() (io.ReadCloser, error) {
		fh, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("segment no longer on the memory card: %w", err)
		}
		// An eviction during the upload unlinks the name, not the open file.
		return struct {
			io.Reader
			io.Closer
		}{io.NewSectionReader(fh, 0, seg.Bytes), fh}, nil
	}}
	if err := w.uploadRecordRetrying(ctx, log, stream, f); err != nil {
		return 0, err
	}
	if err := rec.MarkUploaded(seg.Start); err != nil && !errors.Is(err, recorder.ErrClosed) {
		log.Warn("direct recording: segment not marked uploaded", zap.Error(err))
	}
	return seg.Bytes, nil
}

// directStatus is direct recording's part of Status, nil while off.
func (w *Camera) directStatus() *DirectRecordingStatus {
	if w.rec == nil {
		return nil
	}
	d := &w.rec.direct
	d.mu.Lock()
	req, handled, up := d.req, d.handled, d.uploading
	out := DirectRecordingStatus{Stream: req.Stream, Since: req.Since, Uploading: up,
		Pushed: d.counts.pushed, Skipped: d.counts.skipped, Failed: d.counts.failed, LastPush: d.lastPush}
	d.mu.Unlock()
	if req.Stream == "" && !up {
		return nil
	}
	if rec := w.rec.cur.Load(); rec != nil && req.Stream != "" && rec.Dir() == w.recordingDir(req.Stream) {
		for _, s := range pushable(rec.Segments(), req.Since, handled) {
			if out.Waiting == 0 {
				out.Oldest = s.Start
			}
			out.Waiting++
			out.WaitingBytes += s.Bytes
		}
	}
	return &out
}
