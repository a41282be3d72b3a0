package camera

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/spool"
)

// What an upload queue item is (uploadMeta.Kind).
const (
	uploadEvent    = "event"    // a cam_event, with its snapshot as payload if it has one
	uploadSnapshot = "snapshot" // an event snapshot whose cam_event went out already
	uploadClip     = "clip"     // an event clip chunk (MP4)
)

// uploadMeta is a queue item's description, kept on disk with it.
type uploadMeta struct {
	Kind  string           `json:"kind"`
	Event *uplink.CamEvent `json:"event,omitempty"`
	// Snapshot (uploadSnapshot): when it was taken (its image_time) and its size.
	ImageTime time.Time `json:"image_time,omitzero"`
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	// Clip.
	Stream     string    `json:"stream,omitempty"`
	FileTime   time.Time `json:"file_time,omitzero"`
	DurationMS int64     `json:"duration,omitempty"`
}

// snapshotTimeout bounds taking an event's picture: an event is queued
// within a second or two even when the camera is slow to answer.
const snapshotTimeout = 2 * time.Second

// eventSnapshotAge is how old a picture may be to stand for an event.
const eventSnapshotAge = 300 * time.Millisecond

// raise queues the cam_event ev, with a snapshot when the cloud asked for
// one and the camera can take it, and starts or extends its clip. It runs
// on the event pipeline's goroutine: events are raised in order, and each
// image_time is unique.
func (w *Camera) raise(ctx context.Context, ev uplink.CamEvent, now, until time.Time, repeat bool) {
	st := w.Status()
	es := st.events.Events[ev.Event]
	d, declared := w.declaration(ev.Event)
	switch {
	case !st.Activity:
		w.notSent(ev, "passive mode")
		return
	case !st.events.Enabled:
		w.notSent(ev, "events disabled")
		return
	case !declared || !es.Active:
		w.notSent(ev, "event inactive")
		return
	}
	caps := w.eventCaps(d)
	// image_time names the picture and must be unique per camera
	// (docs/protocol.md#cam-event); the event time is the same instant.
	at := ev.Time.Time.Truncate(time.Millisecond)
	if !at.After(w.ev.lastTime) {
		at = w.ev.lastTime.Add(time.Millisecond)
	}
	w.ev.lastTime = at
	ev.Time.Time = at
	var jpeg []byte
	if es.Snapshot && caps.Snapshot || ev.Event == uplink.EventSnapshot {
		var err error
		jpeg, err = w.eventSnapshot(ctx, &ev)
		if err != nil {
			// Plain words only: the error's own text may name the
			// camera's snapshot URL, which can carry its user name.
			why := Plain(err)
			if why == "" {
				why = "the camera gave no picture"
			}
			ev.Status, ev.ErrorDescription = uplink.EventStatusError, "no snapshot: "+why
			w.log.Info("event without its snapshot", zap.String("event", ev.Event), zap.Error(err))
		}
	}
	if ev.Event == uplink.EventSnapshot && jpeg == nil {
		w.notSent(ev, "no picture") // the periodic snapshot is its picture
		return
	}
	meta, _ := json.Marshal(uploadMeta{Kind: uploadEvent, Event: &ev})
	// Told before the item is in the queue: once it is, a worker may send
	// it and say "sent" first, which a later "queued" would overwrite.
	w.eventHandled(ev, "queued")
	if err := w.put(spool.Item{Class: spool.ClassEvent, Created: at, Meta: meta, Size: int64(len(jpeg))}, jpeg); err != nil {
		w.notSent(ev, "not queued: "+err.Error())
		return
	}
	// The video after the event: its clip is queued only once the event
	// is, so a crash between them cannot leave a clip without its event.
	if es.Stream && caps.Stream {
		if w.opts.Shared.prebuffer != nil {
			w.eventClip(now, until)
		} else {
			w.streamModeEvent(until, true)
		}
	}
	if repeat {
		w.log.Debug("event repeated", zap.String("event", ev.Event))
	} else {
		w.log.Info("event", zap.String("event", ev.Event), zap.Time("time", at), zap.Bool("snapshot", jpeg != nil))
	}
}

// eventSnapshot takes the picture of ev, scaled to fit snapshot_max, and
// fills in its snapshot_info.
func (w *Camera) eventSnapshot(ctx context.Context, ev *uplink.CamEvent) ([]byte, error) {
	sctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	raw, _, err := w.Snapshot(sctx, eventSnapshotAge)
	if err != nil {
		return nil, err
	}
	box := w.opts.Shared.snapshotMax
	jpeg, width, height, err := media.FitJPEG(raw, box.Width, box.Height)
	if err != nil {
		return nil, err
	}
	ev.SnapshotInfo = &uplink.SnapshotInfo{ImageTime: uplink.PackedTime{Time: ev.Time.Time}, Width: width, Height: height, Size: int64(len(jpeg))}
	return jpeg, nil
}

// notSent counts and logs an event the cloud will not get.
func (w *Camera) notSent(ev uplink.CamEvent, why string) {
	n := w.ev.dropped.Add(1)
	w.log.Debug("event not sent", zap.String("event", ev.Event), zap.String("why", why), zap.Int64("dropped", n))
	w.eventHandled(ev, "not sent: "+why)
}

// deliver hands one queue item to the cloud: it is the upload queue's
// deliver function. An item that must wait for the cloud returns
// spool.ErrWait; one the cloud refused for good spool.ErrDrop.
func (w *Camera) deliver(ctx context.Context, it spool.Item, payload io.Reader) error {
	var m uploadMeta
	if err := json.Unmarshal(it.Meta, &m); err != nil {
		return fmt.Errorf("%w: unreadable item: %v", spool.ErrDrop, err)
	}
	switch m.Kind {
	case uploadEvent:
		return w.deliverEvent(ctx, it, m, payload)
	case uploadSnapshot:
		return w.deliverFile(ctx, it, payload, &uplink.GetDirectUploadURL{Category: uplink.CategorySnapshot, Type: "jpg",
			FileTime: uplink.PackedTime{Time: m.ImageTime}, Size: it.Size, Width: m.Width, Height: m.Height})
	case uploadClip:
		return w.deliverFile(ctx, it, payload, &uplink.GetDirectUploadURL{Category: uplink.CategoryRecord, Type: "mp4",
			StreamID: m.Stream, FileTime: uplink.PackedTime{Time: m.FileTime}, Duration: m.DurationMS, Size: it.Size})
	}
	return fmt.Errorf("%w: unknown item kind %q", spool.ErrDrop, m.Kind)
}

// waitable turns "no connection" into spool.ErrWait.
func waitable(err error) error {
	if errors.Is(err, uplink.ErrNotReady) {
		return fmt.Errorf("%w: %v", spool.ErrWait, err)
	}
	return err
}

// deliverEvent sends a queued cam_event, then its snapshot. The event goes
// out once: when the snapshot's grant or PUT fails after it, the picture is
// queued again on its own and asked for with get_direct_upload_url.
func (w *Camera) deliverEvent(ctx context.Context, it spool.Item, m uploadMeta, payload io.Reader) error {
	ev := m.Event
	if ev == nil {
		return fmt.Errorf("%w: event item without its event", spool.ErrDrop)
	}
	st := w.Status()
	if !st.ready || st.declared != st.conn {
		return fmt.Errorf("%w: not declared on this connection", spool.ErrWait)
	}
	if !st.events.Enabled || !st.events.Events[ev.Event].Active || !st.Activity {
		w.notSent(*ev, "switched off before it could be sent")
		return fmt.Errorf("%w: event switched off", spool.ErrDrop)
	}
	if ev.SnapshotInfo == nil {
		if err := w.session.Send(ctx, uplink.CmdCamEvent, ev); err != nil {
			return waitable(err)
		}
		w.eventHandled(*ev, "sent")
		return nil
	}
	grant, err := w.session.RequestUpload(ctx, uplink.CmdCamEvent, ev)
	var pe *uplink.ParamError
	switch {
	case errors.Is(err, uplink.ErrNotReady):
		return waitable(err)
	case errors.As(err, &pe):
		return fmt.Errorf("%w: %v", spool.ErrDrop, err)
	case err != nil && !eventWentOut(ctx, err):
		return err // not written: the event is sent again
	}
	w.eventHandled(*ev, "sent")
	// The cloud has the event: from now on the item is its picture alone,
	// asked for with get_direct_upload_url if this PUT does not make it,
	// also after a restart. The event is never sent twice.
	si := ev.SnapshotInfo
	meta, _ := json.Marshal(uploadMeta{Kind: uploadSnapshot, ImageTime: si.ImageTime.Time, Width: si.Width, Height: si.Height})
	if q := w.uploads.Load(); q != nil {
		if _, merr := q.SetMeta(it, meta); merr != nil {
			w.log.Warn("upload queue: event not marked as sent; a restart now would send it again", zap.Error(merr))
		}
	}
	if errors.Is(err, uplink.ErrUploadRefused) {
		w.log.Info("cloud refused the event's snapshot", zap.String("event", ev.Event), zap.Error(err))
		return nil
	}
	if err == nil {
		t, ok := grant.For(uplink.CategorySnapshot)
		if !ok {
			return errors.New("no snapshot entry in direct_upload_url")
		}
		err = uplink.PutUpload(ctx, w.upc, t, payload, it.Size)
	}
	if err != nil {
		w.log.Info("event snapshot not uploaded, asking again for it alone", zap.String("event", ev.Event), zap.Error(err))
	}
	return err
}

// eventWentOut says whether RequestUpload's err came after the message was
// written: no grant in time, a refusal, a problem, the connection or ctx
// ending while waiting.
func eventWentOut(ctx context.Context, err error) bool {
	return errors.Is(err, uplink.ErrUploadRefused) || errors.Is(err, uplink.ErrUploadTimeout) ||
		errors.Is(err, uplink.ErrUploadProblem) || errors.Is(err, uplink.ErrConnClosed) || ctx.Err() != nil
}

// deliverFile asks for an upload URL for a file and PUTs it.
func (w *Camera) deliverFile(ctx context.Context, it spool.Item, payload io.Reader, req *uplink.GetDirectUploadURL) error {
	grant, err := w.session.RequestUpload(ctx, uplink.CmdGetDirectUploadURL, req)
	switch {
	case errors.Is(err, uplink.ErrUploadRefused):
		return fmt.Errorf("%w: %v", spool.ErrDrop, err)
	case err != nil:
		return waitable(err)
	}
	t, ok := grant.For(req.Category)
	if !ok {
		return fmt.Errorf("no %s entry in direct_upload_url", req.Category)
	}
	return uplink.PutUpload(ctx, w.upc, t, payload, it.Size)
}

// wakeUploads tells the upload queue the cloud can take items again.
func (w *Camera) wakeUploads() {
	if q := w.uploads.Load(); q != nil {
		q.Wake()
	}
}

// openUploads opens the camera's upload queue for a Run and returns what
// closes it. Items left by an earlier run, or by an agent that was killed,
// are in it again. A queue that cannot be opened is a problem on the page;
// the camera runs on without events. Run calls it, as the owner, before
// its loop.
func (w *Camera) openUploads() (closeQueue func()) {
	if w.opts.SpoolDir == "" {
		return func() {}
	}
	sh := w.opts.Shared
	q, err := spool.Open(spool.Options{
		Dir: w.opts.SpoolDir, Budget: sh.spool, MinFree: sh.minFree, Limiter: sh.rate,
		Backoff: uploadBackoff, Logger: w.log.Named("spool"),
		// One event at a time: the cloud gets a camera's events in order.
		// Clip chunks go two at a time, as the protocol's reference does.
		Workers: map[spool.Class]int{spool.ClassEvent: 1},
	})
	if err != nil {
		p := problemOf("the upload queue cannot be opened: events are not sent (check state_dir)", err)
		p.At = time.Now()
		w.st.record(p)
		w.log.Error("upload queue", zap.Error(err))
		return func() {}
	}
	if n := q.Stats().Items; n > 0 {
		w.log.Info("uploads waiting from before", zap.Int("items", n))
	}
	w.uploads.Store(q)
	return func() {
		w.uploads.Store(nil)
		if err := q.Close(); err != nil {
			w.log.Warn("upload queue close", zap.Error(err))
		}
	}
}

// put queues an item, failing when the Run has no queue.
func (w *Camera) put(it spool.Item, payload []byte) error {
	q := w.uploads.Load()
	if q == nil {
		return errors.New("no upload queue")
	}
	_, err := q.Put(it, payload)
	return err
}

// uploadBackoff spaces the retries of one failed upload: a cloud or store
// that failed once is asked again soon, one that keeps failing every
// five minutes at most (items older than the queue's age limit go).
var uploadBackoff = backoff.Backoff{Min: 2 * time.Second, Max: 5 * time.Minute}

// directUploadTimeout bounds one PUT: a 10 s clip chunk of a 4 Mbit/s
// camera is 5 MB, which takes minutes under a tight uploads.max_rate.
const directUploadTimeout = 15 * time.Minute

// UploadQueue reports the camera's upload queue; zero while no Run has
// it open.
func (w *Camera) UploadQueue() spool.Stats {
	if q := w.uploads.Load(); q != nil {
		return q.Stats()
	}
	return spool.Stats{}
}
