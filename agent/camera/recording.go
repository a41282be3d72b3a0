package camera

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media/recorder"
	"github.com/camagent/camagent/uplink"
)

// recorderQueue is the recorder's reader queue: two seconds of 25 fps
// video with audio. Write never blocks on the disk, so it drains fast.
const recorderQueue = 256

// recState is a camera's memory card on the gateway (docs/protocol.md#memory-card):
// continuous recording of one stream while it is switched on. nil when the
// config gives the camera none. The recording goroutine (runRecording)
// owns the recorder; others read it through cur.
type recState struct {
	path string // persisted on/off, "" = not persisted
	wake chan struct{}
	// cur is the open recorder, nil while none could be opened.
	cur atomic.Pointer[recorder.Recorder]
	// openErr is why the recorder could not be opened, nil when it is.
	openErr atomic.Pointer[recorder.DiskError]
	// formatting: cam_format_memorycard is deleting the recordings.
	formatting atomic.Bool

	// mu orders the memorycard events; sentConn is the connection the
	// last went out on and sent what it said.
	mu       sync.Mutex
	sentConn int64
	sent     uplink.MemorycardInfo

	sync   syncJobs  // memorysync.go
	direct directRec // directrec.go
}

// recSetting is whether the memory card records, as the config or the
// cloud last said (persisted 0600 beside the session state).
type recSetting struct {
	Enabled bool `json:"enabled"`
	// StreamID is the stream the cloud chose; "" is the config's.
	StreamID string `json:"stream_id,omitempty"`
}

// RecordingStatus is the camera's memory card, as typed facts.
type RecordingStatus struct {
	// Storage: the config gives the camera a memory card.
	Storage bool
	// On: recording is switched on (config, or the cloud since).
	On bool
	// Stream is the recorded stream, "" before the camera is known.
	Stream string
	// Bytes and Segments are what is on disk for Stream.
	Bytes    int64
	Segments int
	// Problem is the disk trouble that stops recording now, nil when
	// none; live video is never affected by it.
	Problem *recorder.DiskError
	// Direct is direct-to-storage recording, nil while off.
	Direct *DirectRecordingStatus
}

func (w *Camera) newRecState() (*recState, recSetting) {
	cfg := w.opts.Camera.Recording
	if !cfg.Enabled {
		return nil, recSetting{}
	}
	rs := &recState{wake: make(chan struct{}, 1)}
	s := recSetting{Enabled: true}
	if w.opts.StatePath == "" {
		return rs, s
	}
	rs.path = strings.TrimSuffix(strings.TrimSuffix(w.opts.StatePath, ".json"), ".state") + ".recording.json"
	b, err := os.ReadFile(rs.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err == nil && json.Unmarshal(b, &s) == nil:
	default:
		w.log.Warn("recording setting unreadable, recording as the config says", zap.String("path", rs.path), zap.Error(err))
		s = recSetting{Enabled: true}
	}
	return rs, s
}

func (rs *recState) wakeUp() {
	select {
	case rs.wake <- struct{}{}:
	default:
	}
}

// recordedStream is the stream the memory card records: direct
// recording's while it is on, else setting s's; "" before the camera's
// streams are known.
func (w *Camera) recordedStream(s recSetting) string {
	if d := w.directStream(); d != "" {
		if id := w.ident(); id != nil && id.pipeIndex(d) >= 0 {
			return d
		}
	}
	return w.settingStream(s)
}

// settingStream is the stream setting s records, "" before the camera's
// streams are known.
func (w *Camera) settingStream(s recSetting) string {
	id := w.ident()
	if id == nil || len(id.pipes) == 0 {
		return ""
	}
	if s.StreamID != "" && id.pipeIndex(s.StreamID) >= 0 {
		return s.StreamID
	}
	if w.opts.Camera.Recording.Stream == config.RecordingStreamSub && len(id.pipes) > 1 {
		return id.pipes[1].id
	}
	return id.pipes[0].id
}

// runRecording keeps the recorder open and fed while recording is on,
// until ctx ends. The reader keeps the stream pulled; a camera that is
// away, stalled or switched off leaves a gap with its reason.
func (w *Camera) runRecording(ctx context.Context) {
	rs := w.rec
	var (
		rec    *recorder.Recorder
		cancel context.CancelFunc
		done   chan struct{}
	)
	stopFeed := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	closeRec := func() {
		stopFeed()
		if rec != nil {
			_ = rec.Close()
			rs.cur.Store(nil)
			rec = nil
		}
	}
	defer closeRec()
	for {
		st := w.Status()
		stream := w.recordedStream(st.recording)
		if rec != nil && rec.Dir() != w.recordingDir(stream) {
			closeRec()
		}
		if rec == nil && stream != "" {
			rec = w.openRecorder(stream)
		}
		if cancel != nil {
			select {
			case <-done: // the stream closed under the reader
				cancel = nil
			default:
			}
		}
		on := rec != nil && (st.recording.Enabled || w.directStream() != "") && st.Activity
		switch {
		case on && cancel == nil:
			rd, err := w.openReaderNamed(stream, "recorder", recorderQueue)
			if err != nil {
				w.log.Warn("recording cannot read the stream", zap.String("stream", stream), zap.Error(err))
				break
			}
			fctx, fcancel := context.WithCancel(ctx)
			cancel, done = fcancel, make(chan struct{})
			go func(rec *recorder.Recorder) {
				defer close(done)
				defer rd.Close()
				for {
					u, err := rd.Read(fctx)
					if err != nil {
						return
					}
					rec.Write(u)
				}
			}(rec)
		case !on && cancel != nil:
			stopFeed()
			rec.Pause(recorder.GapRecordingOff)
		}
		if on {
			// The recorder sees a break only at the next unit; say now why
			// nothing comes, so the open segment ends where the video did.
			for _, s := range st.Streams {
				switch {
				case s.ID != stream:
				case s.Pull == PullFailing:
					rec.Pause(recorder.GapCameraOffline)
				case s.Pull == PullStalled:
					rec.Pause(recorder.GapStreamStalled)
				}
			}
		}
		w.sendMemorycard(ctx, false)
		select {
		case <-ctx.Done():
			return
		case <-rs.wake:
		case <-time.After(time.Second):
		}
	}
}

// recordingDir is where stream's segments go.
func (w *Camera) recordingDir(stream string) string {
	return filepath.Join(w.opts.Shared.recDir, w.name, stream)
}

// openRecorder opens the recorder of stream; nil, with the reason in
// openErr, when the disk refuses.
func (w *Camera) openRecorder(stream string) *recorder.Recorder {
	sh := w.opts.Shared
	rec, err := recorder.Open(recorder.Options{
		Dir:           filepath.Join(sh.recDir, w.name),
		Stream:        stream,
		Camera:        w.name,
		Log:           w.opts.Logger,
		SegmentLength: w.opts.Camera.Recording.Segment,
		MinFreeBytes:  sh.recMinFree,
		Budget:        sh.recBudget,
	})
	if err != nil {
		if old := w.rec.openErr.Load(); old == nil {
			w.log.Warn("recording cannot open its directory", zap.String("stream", stream), zap.Error(err))
		}
		w.rec.openErr.Store(diskError("open", err))
		return nil
	}
	if w.rec.openErr.Swap(nil) != nil {
		w.log.Info("recording directory usable again", zap.String("stream", stream))
	}
	w.rec.cur.Store(rec)
	return rec
}

// diskError classifies err as the recorder does its own.
func diskError(op string, err error) *recorder.DiskError {
	kind := recorder.ProblemIO
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		kind = recorder.ProblemDiskFull
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		kind = recorder.ProblemReadOnly
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EEXIST):
		kind = recorder.ProblemDirGone
	}
	return &recorder.DiskError{Kind: kind, Op: op, Err: err, Since: time.Now()}
}

// recordingStatus is the memory card's part of Status.
func (w *Camera) recordingStatus(s recSetting) *RecordingStatus {
	if w.rec == nil {
		return nil
	}
	out := &RecordingStatus{Storage: true, On: s.Enabled, Stream: w.recordedStream(s), Problem: w.rec.openErr.Load()}
	if rec := w.rec.cur.Load(); rec != nil {
		var de *recorder.DiskError
		if errors.As(rec.Problem(), &de) {
			out.Problem = de
		}
		for _, seg := range rec.Segments() {
			out.Bytes += seg.Bytes
			out.Segments++
		}
	}
	return out
}

// memorycardInfo is the memorycard event's payload now. Sizes are of the
// recordings' budget: recording.max_size when set, else the file system
// less recording.min_free. A sync job may ask for up to maxSyncDuration.
func (w *Camera) memorycardInfo(st *Status) uplink.MemorycardInfo {
	info := uplink.MemorycardInfo{Status: uplink.MemorycardNormal, RecordingStatus: st.recording.Enabled,
		MaxSyncDuration: int64(maxSyncDuration / time.Second)}
	if r := st.Recording; r == nil || w.rec.cur.Load() == nil || r.Problem != nil && r.Problem.Kind == recorder.ProblemDirGone {
		info.Status, info.MaxSyncDuration = uplink.MemorycardNone, 0
	}
	if w.rec.formatting.Load() {
		info.Status = uplink.MemorycardFormatting
	}
	sh := w.opts.Shared
	var fsb syscall.Statfs_t
	if err := syscall.Statfs(sh.recDir, &fsb); err == nil {
		total := int64(fsb.Blocks) * int64(fsb.Bsize)
		free := max(int64(fsb.Bavail)*int64(fsb.Bsize)-sh.recMinFree, 0)
		size := max(total-sh.recMinFree, 0)
		if b := sh.recBudget; b != nil && b.Max() < size {
			size, free = b.Max(), min(free, max(b.Max()-b.Used(), 0))
		}
		info.Size, info.Free = size>>20, min(free, size)>>20
	}
	return info
}

// sendMemorycard sends the memorycard event when what it says changed
// or the connection is new (docs/protocol.md#memory-card); declaring is
// set by cam_events_conf, whose reply is on the wire and whose memorycard
// event must be the connection's first.
func (w *Camera) sendMemorycard(ctx context.Context, declaring bool) {
	if w.rec == nil {
		return
	}
	st := w.Status()
	if !st.ready || !st.Activity || !st.events.Enabled || !st.events.Events[uplink.EventMemorycard].Active ||
		!declaring && st.declared != st.conn {
		return
	}
	rs := w.rec
	rs.mu.Lock()
	defer rs.mu.Unlock()
	info := w.memorycardInfo(st)
	if rs.sentConn == st.conn && rs.sent.Status == info.Status && rs.sent.RecordingStatus == info.RecordingStatus {
		return
	}
	ev := newCamEvent(uplink.EventMemorycard, time.Now())
	ev.MemorycardInfo = &info
	if err := w.session.Send(ctx, uplink.CmdCamEvent, ev); err != nil {
		w.log.Info("memorycard event not sent", zap.Error(err))
		return
	}
	rs.sentConn, rs.sent = st.conn, info
	w.log.Info("memorycard event sent", zap.String("status", info.Status), zap.Bool("recording", info.RecordingStatus))
}

// handleMemorycard serves the memory-card commands of a camera with one;
// without, they stay NOT_SUPPORTED as before, but for the format, which
// answers ERROR as docs/protocol.md#memory-card says.
func (w *Camera) handleMemorycard(ctx context.Context, req uplink.Request) uplink.Reply {
	if _, ok := req.(*uplink.CamFormatMemorycard); ok {
		return w.formatMemorycard(ctx)
	}
	if w.rec == nil {
		return uplink.Done(uplink.StatusNotSupported)
	}
	switch r := req.(type) {
	case *uplink.GetCamMemorycardTimeline:
		return w.memorycardTimeline(r)
	case *uplink.CamMemorycardRecording:
		return w.setMemorycardRecording(ctx, r)
	case *uplink.CamMemorycardSynchronize:
		return w.synchronize(r)
	case *uplink.CamMemorycardSynchronizeCancel:
		return w.cancelSync(r)
	}
	return uplink.Done(uplink.StatusNotSupported)
}

// farFuture bounds "every gap" for the never-recorded check.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func (w *Camera) memorycardTimeline(r *uplink.GetCamMemorycardTimeline) uplink.Reply {
	rec := w.rec.cur.Load()
	if rec == nil {
		return uplink.Done(uplink.StatusError, errors.New("no recording: the recordings directory cannot be opened"))
	}
	if len(rec.Segments()) == 0 && len(rec.Gaps(time.Time{}, farFuture)) == 0 {
		return uplink.Done(uplink.StatusError, errors.New("no recording: never recorded"))
	}
	out := uplink.CamMemorycardTimeline{RequestID: r.RequestID, Start: r.Start, End: r.End}
	for _, x := range rec.Timeline(r.Start.Time, r.End.Time) {
		out.Data = append(out.Data, uplink.TimeRange{Start: uplink.PackedTime{Time: x.Start}, End: uplink.PackedTime{Time: x.End}})
	}
	return uplink.Answer(out)
}

func (w *Camera) setMemorycardRecording(ctx context.Context, r *uplink.CamMemorycardRecording) uplink.Reply {
	id := w.ident()
	if id == nil {
		return uplink.Done(uplink.StatusRetry, errNotResolved)
	}
	if id.pipeIndex(r.StreamID) < 0 {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("unknown stream %q", r.StreamID))
	}
	cur := w.Status().recording
	if !r.Enabled && w.settingStream(cur) != r.StreamID {
		return uplink.Done(uplink.StatusOK) // that stream is not recorded
	}
	s := recSetting{Enabled: r.Enabled, StreamID: r.StreamID}
	reply := make(chan struct{})
	if _, err := ask(ctx, w, setRecording{setting: s, reply: reply}, reply); err != nil {
		return uplink.Done(uplink.StatusError, err)
	}
	if w.rec.path != "" {
		if err := saveJSON(w.rec.path, "recording setting", s); err != nil {
			w.fail("recording setting not saved: the agent forgets it on restart (check that state_dir is writable)", err)
		}
	}
	w.log.Info("recording switched by the cloud", zap.String("stream", r.StreamID), zap.Bool("enabled", r.Enabled))
	return uplink.Done(uplink.StatusOK).Then(w.rec.wakeUp)
}
