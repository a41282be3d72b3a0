package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/media/recorder"
	"github.com/camagent/camagent/uplink"
)

// Limits of memory-card sync (docs/protocol.md#memory-card).
const (
	// maxSyncJobs run at once; one more is refused with too_many_requests.
	maxSyncJobs = 2
	// maxSyncDuration is the longest range one job may ask for, offered
	// as max_sync_duration.
	maxSyncDuration = time.Hour
	// syncChunkMax: synced chunks are as long as event clip chunks, so the
	// cloud stores both alike and progress comes every few seconds.
	syncChunkMax = clipChunkMax
	// syncFinalWait bounds sending a job's final status once the camera's
	// run is over (the agent stops): best effort on a session that ends.
	syncFinalWait = 2 * time.Second
	// syncRetrySend: how often a final status waits for a connection.
	syncRetrySend = time.Second
)

// syncJobs are a camera's memory-card sync jobs. runSync owns them: jobs
// start only while it runs, and it cancels and waits for all as it ends.
type syncJobs struct {
	mu   sync.Mutex
	ctx  context.Context // runSync's; nil while it does not run
	jobs map[string]*syncJob
	wg   sync.WaitGroup
}

// syncJob is one cam_memorycard_synchronize.
type syncJob struct {
	id       string
	from, to time.Time
	cancel   context.CancelFunc
	canceled bool // by the cloud; guarded by syncJobs.mu
}

// runSync keeps the sync jobs' context until ctx ends, then ends the jobs.
func (w *Camera) runSync(ctx context.Context) {
	sj := &w.rec.sync
	sj.mu.Lock()
	sj.ctx, sj.jobs = ctx, map[string]*syncJob{}
	sj.mu.Unlock()
	<-ctx.Done()
	sj.mu.Lock()
	sj.ctx = nil
	sj.mu.Unlock()
	sj.wg.Wait()
}

// synchronize answers cam_memorycard_synchronize: pending and a job that
// uploads the range, or a refusal.
func (w *Camera) synchronize(r *uplink.CamMemorycardSynchronize) uplink.Reply {
	rec := w.rec.cur.Load()
	stream := w.recordedStream(w.Status().recording)
	if rec == nil || stream == "" {
		return uplink.Done(uplink.StatusError, errors.New("no recording: the recordings directory cannot be opened"))
	}
	if d := r.End.Sub(r.Start.Time); d > maxSyncDuration {
		return uplink.Done(uplink.StatusError, fmt.Errorf("range of %v is longer than max_sync_duration %v", d, maxSyncDuration))
	}
	if len(rec.Timeline(r.Start.Time, r.End.Time)) == 0 {
		return uplink.Done(uplink.StatusError, errors.New("nothing recorded in the range"))
	}
	sj := &w.rec.sync
	sj.mu.Lock()
	defer sj.mu.Unlock()
	if sj.ctx == nil {
		return uplink.Done(uplink.StatusRetry, errors.New("camera not running"))
	}
	for _, id := range r.CancelRequests {
		sj.cancelLocked(id)
	}
	running := 0
	for _, j := range sj.jobs {
		if j.id == r.RequestID && !j.canceled {
			return uplink.Done(uplink.StatusError, fmt.Errorf("job %q is running", r.RequestID))
		}
		if !j.canceled {
			running++
		}
	}
	status := uplink.CamMemorycardSynchronizeStatus{RequestID: r.RequestID, Status: uplink.SyncTooManyRequests}
	if running >= maxSyncJobs || sj.jobs[r.RequestID] != nil {
		w.log.Info("memory-card sync refused: too many jobs", zap.String("request_id", r.RequestID))
		return uplink.Answer(status)
	}
	runCtx := sj.ctx
	jctx, cancel := context.WithCancel(runCtx)
	job := &syncJob{id: r.RequestID, from: r.Start.Time, to: r.End.Time, cancel: cancel}
	sj.jobs[job.id] = job
	replied := make(chan struct{})
	sj.wg.Go(func() {
		defer sj.remove(job)
		defer cancel()
		// The job's statuses follow its pending reply.
		select {
		case <-replied:
		case <-jctx.Done():
		}
		w.runSyncJob(jctx, runCtx, job, rec, stream)
	})
	w.log.Info("memory-card sync started", zap.String("request_id", job.id), zap.Time("start", job.from), zap.Time("end", job.to))
	status.Status = uplink.SyncPending
	return uplink.Answer(status).Then(func() { close(replied) })
}

// cancelSync answers cam_memorycard_synchronize_cancel: always OK; a
// running job ends with canceled.
func (w *Camera) cancelSync(r *uplink.CamMemorycardSynchronizeCancel) uplink.Reply {
	sj := &w.rec.sync
	sj.mu.Lock()
	sj.cancelLocked(r.RequestID)
	sj.mu.Unlock()
	return uplink.Done(uplink.StatusOK)
}

func (sj *syncJobs) cancelLocked(id string) {
	if j := sj.jobs[id]; j != nil {
		j.canceled = true
		j.cancel()
	}
}

func (sj *syncJobs) remove(j *syncJob) {
	sj.mu.Lock()
	defer sj.mu.Unlock()
	if sj.jobs[j.id] == j {
		delete(sj.jobs, j.id)
	}
}

func (sj *syncJobs) wasCanceled(j *syncJob) bool {
	sj.mu.Lock()
	defer sj.mu.Unlock()
	return j.canceled
}

// runSyncJob uploads the job's range chunk by chunk, telling progress
// after each, and ends with exactly one final status, sent while runCtx
// lasts. A connection lost on the way ends the job with error: what was
// being uploaded is not known to have arrived.
func (w *Camera) runSyncJob(ctx, runCtx context.Context, job *syncJob, rec *recorder.Recorder, stream string) {
	log := w.log.With(zap.String("request_id", job.id))
	var uploaded, failed, bytesUp int
	var lost error
	began := time.Now()
	// seg is the segment being uploaded; segWhole while all of it went up
	// so far, from its first frame.
	var seg time.Time
	segWhole := false
	for ch, err := range rec.Extract(job.from, job.to, syncChunkMax) {
		if ctx.Err() != nil {
			break
		}
		if !ch.Segment.Equal(seg) {
			seg, segWhole = ch.Segment, err == nil && ch.Start.Equal(ch.Segment)
		}
		if err == nil {
			err = w.uploadRecordChunkRetrying(ctx, log, stream, ch)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, uplink.ErrNotReady) || errors.Is(err, uplink.ErrConnClosed) {
				lost = err
				break
			}
			failed++
			segWhole = false
			log.Warn("memory-card sync: chunk not uploaded", zap.Time("start", ch.Start), zap.Error(err))
		} else {
			uploaded++
			bytesUp += len(ch.Data)
			if ch.SegmentEnd && segWhole {
				if err := rec.MarkUploaded(ch.Segment); err != nil && !errors.Is(err, recorder.ErrClosed) {
					log.Warn("memory-card sync: segment not marked uploaded", zap.Error(err))
				}
			}
		}
		p := min(99, max(0, int(100*ch.End().Sub(job.from)/job.to.Sub(job.from))))
		if err := w.session.Send(ctx, uplink.CmdCamMemorycardSynchronizeStatus,
			uplink.CamMemorycardSynchronizeStatus{RequestID: job.id, Progress: &p, Status: uplink.SyncPending}); err != nil {
			if ctx.Err() == nil {
				lost = err
			}
			break
		}
	}
	final := uplink.SyncDone
	switch {
	case w.rec.sync.wasCanceled(job):
		final = uplink.SyncCanceled
	case lost != nil, ctx.Err() != nil, uploaded == 0:
		final = uplink.SyncError
	}
	fields := []zap.Field{zap.String("status", final), zap.Int("chunks", uploaded), zap.Int("failed", failed),
		zap.Int("bytes", bytesUp), zap.Duration("took", time.Since(began))}
	if lost != nil {
		fields = append(fields, zap.NamedError("connection_lost", lost))
	}
	log.Info("memory-card sync ended", fields...)
	w.sendSyncFinal(runCtx, job.id, final)
}

// syncChunkAttempts bounds how often one chunk is tried. A failed PUT or a
// grant that does not come is mostly passing trouble, and a job that ends
// done must not leave a gap it could have filled.
const syncChunkAttempts = 3

// uploadRecordChunkRetrying is uploadRecordChunk, tried again after a failure
// the cloud did not decide (it refused the upload or reported a problem)
// and that did not end the connection (the job ends then).
func (w *Camera) uploadRecordChunkRetrying(ctx context.Context, log *zap.Logger, stream string, ch recorder.Chunk) error {
	return w.uploadRecordRetrying(ctx, log, stream, recordFile{start: ch.Start, duration: ch.Duration, size: int64(len(ch.Data)),
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(ch.Data)), nil }})
}

// recordFile is one MP4 to upload as a record: a chunk in memory or a
// segment file on the memory card, opened for each attempt.
type recordFile struct {
	start    time.Time
	duration time.Duration
	size     int64
	open     func() (io.ReadCloser, error)
}

// uploadRecordRetrying uploads f, trying again with the backoff up to
// syncChunkAttempts times unless the cloud refused it or is gone.
func (w *Camera) uploadRecordRetrying(ctx context.Context, log *zap.Logger, stream string, f recordFile) error {
	b := backoff.Backoff{Min: time.Second, Max: 4 * time.Second}
	for attempt := 1; ; attempt++ {
		err := w.uploadRecord(ctx, stream, f)
		if err == nil || attempt == syncChunkAttempts || ctx.Err() != nil ||
			errors.Is(err, uplink.ErrNotReady) || errors.Is(err, uplink.ErrConnClosed) ||
			errors.Is(err, uplink.ErrUploadRefused) || errors.Is(err, uplink.ErrUploadProblem) ||
			errors.Is(err, fs.ErrNotExist) {
			return err
		}
		wait := b.Next()
		log.Info("record upload failed, trying again", zap.Time("start", f.start),
			zap.Int("attempt", attempt), zap.Duration("retry_in", wait), zap.Error(err))
		if err := (backoff.RealClock{}).Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// uploadRecord asks for a record upload URL for f and PUTs it.
func (w *Camera) uploadRecord(ctx context.Context, stream string, f recordFile) error {
	grant, err := w.session.RequestUpload(ctx, uplink.CmdGetDirectUploadURL, &uplink.GetDirectUploadURL{
		Category: uplink.CategoryRecord, Type: "mp4", StreamID: stream,
		FileTime: uplink.PackedTime{Time: f.start}, Duration: f.duration.Milliseconds(), Size: f.size})
	if err != nil {
		return err
	}
	t, ok := grant.For(uplink.CategoryRecord)
	if !ok {
		return errors.New("no record entry in direct_upload_url")
	}
	rc, err := f.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	body := io.Reader(rc)
	if l := w.opts.Shared.rate; l != nil {
		body = l.Reader(ctx, body)
	}
	return uplink.PutUpload(ctx, w.upc, t, body, f.size)
}

// sendSyncFinal sends a job's final status, waiting for a connection
// while the camera runs: the cloud learns how every job ended.
func (w *Camera) sendSyncFinal(ctx context.Context, id, status string) {
	p := 100
	body := uplink.CamMemorycardSynchronizeStatus{RequestID: id, Progress: &p, Status: status}
	for {
		sctx := ctx
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(context.Background(), syncFinalWait)
			defer cancel()
		}
		err := w.session.Send(sctx, uplink.CmdCamMemorycardSynchronizeStatus, body)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			w.log.Warn("memory-card sync: final status not sent", zap.String("request_id", id), zap.String("status", status), zap.Error(err))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(syncRetrySend):
		}
	}
}
