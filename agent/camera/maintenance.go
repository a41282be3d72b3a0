package camera

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/uplink"
)

// Timing of the legacy uploads (cam_update_preview, cam_get_log).
const (
	// previewMaxAge is how old a cached picture may be to serve as the
	// preview: the cloud asks when someone looks at the camera list.
	previewMaxAge = 2 * time.Second
	// previewTimeout bounds taking the picture, which happens before the
	// reply so a camera without a picture is answered ERROR (docs/protocol.md#cam-update-preview); the
	// reply is due within 10 s (docs/protocol.md#timeouts).
	previewTimeout = 8 * time.Second
	// uploadTimeout bounds one legacy upload after the reply.
	uploadTimeout = time.Minute
)

// maintState is a camera's legacy uploads in flight (maintenance.go). The
// uploads start once the done is on the wire (Reply.Then), as docs/protocol.md#cam-get-log and
// docs/protocol.md#cam-update-preview order; the worker's Run waits for them.
type maintState struct {
	wg      sync.WaitGroup
	preview atomic.Bool // a preview upload is running
	log     atomic.Bool // a log upload is running

	mu      sync.Mutex
	uploads map[UploadKey]uint64 // finished uploads, for metrics
}

// UploadKey names a count of finished uploads: category (docs/protocol.md#legacy-upload cat) and
// result ("ok" or "failed").
type UploadKey struct{ Category, Result string }

func (m *maintState) count(cat string, ok bool) {
	k := UploadKey{cat, "failed"}
	if ok {
		k.Result = "ok"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.uploads == nil {
		m.uploads = make(map[UploadKey]uint64)
	}
	m.uploads[k]++
}

// uploadCounts copies the finished-upload counts.
func (m *maintState) uploadCounts() map[UploadKey]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[UploadKey]uint64, len(m.uploads))
	for k, v := range m.uploads {
		out[k] = v
	}
	return out
}

// uploadLink is the current connection's link, or the reason the legacy
// endpoint cannot be used on it.
func (w *Camera) uploadLink() (uplink.Link, error) {
	st := w.Status()
	link, ready := st.link, st.ready
	if !ready {
		return link, uplink.ErrNotReady
	}
	if link.UploadURI == "" {
		return link, uplink.ErrNoUploadURI
	}
	return link, nil
}

// getLog serves cam_get_log (docs/protocol.md#cam-get-log): done OK, then this camera's lines
// and the agent-wide lines of the log ring as text/plain. Other cameras'
// lines are never sent; secrets never reach a log line in the first place.
func (w *Camera) getLog(ctx context.Context) uplink.Reply {
	ring := w.opts.LogRing
	if ring == nil {
		return uplink.Done(uplink.StatusNotSupported, errors.New("no log ring"))
	}
	link, err := w.uploadLink()
	if err != nil {
		w.log.Warn("cloud asked for the log, but it cannot be uploaded", zap.Error(err))
		return uplink.Done(uplink.StatusError, err)
	}
	if !w.maint.log.CompareAndSwap(false, true) {
		// docs/protocol.md#done's busy status: the cloud may ask again when the first is done.
		return uplink.Done(uplink.StatusRetry, errors.New("a log upload is still running"))
	}
	w.log.Info("uploading log for the cloud")
	start := time.Now()
	text := ring.Text(w.name)
	return uplink.Done(uplink.StatusOK).Then(func() {
		w.maint.wg.Go(func() {
			err := w.postLegacy(ctx, link, uplink.LegacyLog, uplink.LegacyText, start, text)
			// Free before the outcome is logged: who reads "uploaded" may ask again.
			w.maint.log.Store(false)
			w.logUpload(ctx, uplink.LegacyLog, len(text), err)
		})
	})
}

// updatePreview serves cam_update_preview (docs/protocol.md#cam-update-preview): it takes the picture
// first, answers ERROR when there is none or a preview upload is still
// running, else done OK and then posts the JPEG. The camera's JPEG goes as
// it is: the reference scales previews to at most 800×600, but the agent
// never transcodes, and the main profile's snapshot size is the camera's.
func (w *Camera) updatePreview(ctx context.Context) uplink.Reply {
	link, err := w.uploadLink()
	if err != nil {
		w.log.Warn("cloud asked for a preview, but it cannot be uploaded", zap.Error(err))
		return uplink.Done(uplink.StatusError, err)
	}
	if !w.maint.preview.CompareAndSwap(false, true) {
		return uplink.Done(uplink.StatusError, errors.New("a preview upload is still running"))
	}
	sctx, cancel := context.WithTimeout(ctx, previewTimeout)
	jpeg, at, err := w.Snapshot(sctx, previewMaxAge)
	cancel()
	if err != nil {
		w.maint.preview.Store(false)
		w.log.Warn("no picture for the cloud preview", zap.Error(err))
		return uplink.Done(uplink.StatusError, err)
	}
	return uplink.Done(uplink.StatusOK).Then(func() {
		w.maint.wg.Go(func() {
			err := w.postLegacy(ctx, link, uplink.LegacyPreview, uplink.LegacyJPEG, at, jpeg)
			w.maint.preview.Store(false)
			w.logUpload(ctx, uplink.LegacyPreview, len(jpeg), err)
		})
	})
}

// postLegacy uploads body and counts the outcome; conn is the
// connection's context, whose sid the upload URL carries.
func (w *Camera) postLegacy(conn context.Context, link uplink.Link, cat, typ string, start time.Time, body []byte) error {
	ctx, cancel := context.WithTimeout(conn, uploadTimeout)
	defer cancel()
	client := uplink.NewUploadClient(w.opts.RootCAs, uploadTimeout)
	defer client.CloseIdleConnections()
	err := uplink.PostLegacy(ctx, client, link, cat, typ, start, bytes.NewReader(body))
	w.maint.count(cat, err == nil)
	return err
}

// logUpload logs the outcome of postLegacy.
func (w *Camera) logUpload(conn context.Context, cat string, size int, err error) {
	var se *uplink.UploadStatusError
	switch {
	case err == nil:
		w.log.Info("uploaded", zap.String("cat", cat), zap.Int("bytes", size))
	case errors.As(err, &se):
		w.log.Warn("cloud refused the upload", zap.String("cat", cat), zap.Int("http_status", se.Status))
	case conn.Err() != nil:
		w.log.Info("upload abandoned: the connection closed", zap.String("cat", cat))
	default:
		w.log.Warn("upload failed", zap.String("cat", cat), zap.Error(err))
	}
}
