package camera

import (
	"context"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/uplink"
)

// Stream mode (docs/protocol.md#stream-by-event): without pre-event memory,
// an event's video is the live stream from the event on, published over
// RTMP between a record event on and a record event off post_event after
// the end. Nested and repeated events keep the one publish.

// eventPublishReq asks the stream-mode runner to publish until a time.
// start (an event) begins a publish if none runs and only ever moves the
// end later; otherwise (the activity's end) it sets the end of a running
// publish, earlier or later.
type eventPublishReq struct {
	until time.Time
	start bool
}

// eventPublish runs the stream-mode publish of a camera's events. Only its
// goroutine (runEventPublish) touches the fields after construction.
type eventPublish struct {
	req chan eventPublishReq // latest wins (1 slot)
}

func newEventPublish() *eventPublish { return &eventPublish{req: make(chan eventPublishReq, 1)} }

// ask hands the runner r merged with a request it has not taken yet: ends
// only grow, and a start is not lost.
func (p *eventPublish) ask(r eventPublishReq) {
	for {
		select {
		case p.req <- r:
			return
		default:
		}
		select {
		case old := <-p.req:
			if r.start && old.until.After(r.until) {
				r.until = old.until
			}
			r.start = r.start || old.start
		default:
		}
	}
}

// streamModeEvent publishes the event stream (start) or keeps a publish
// running (not start) until post_event after until, when record_by_event
// is on for it.
func (w *Camera) streamModeEvent(until time.Time, start bool) {
	w.evpub.ask(eventPublishReq{until: until.Add(w.postEvent()), start: start})
}

// runEventPublish opens and closes the stream-mode publish, until ctx ends.
func (w *Camera) runEventPublish(ctx context.Context) {
	if w.opts.Shared.prebuffer != nil {
		return // upload mode: clips come from the pre-event buffer
	}
	var (
		on     bool
		stream string
		conn   int64 // the connection the record event on went to
		until  time.Time
	)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	stop := func() {
		if !on {
			return
		}
		on = false
		if st := w.Status(); st.ready && st.conn == conn {
			w.sendRecord(ctx, stream, false)
		}
		w.pubs.Stop(stream, uplink.ReasonEventVideo)
		w.log.Info("event video published", zap.String("stream", stream), zap.Bool("on", false))
	}
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-w.evpub.req:
			if !r.start || r.until.After(until) {
				until = r.until
			}
			if on || !r.start {
				continue
			}
			sb, ok := w.eventStream()
			st := w.Status()
			if !ok || !slices.Contains(st.events.RecordByEvent, sb.StreamID) || !st.ready {
				continue
			}
			// record on first: the cloud records what the publish brings.
			if err := w.sendRecord(ctx, sb.StreamID, true); err != nil {
				continue
			}
			on, stream, conn = true, sb.StreamID, st.conn
			if err := w.pubs.Start(ctx, st.link, stream, uplink.ReasonEventVideo, 0); err != nil {
				w.fail("stream "+stream+": the event's video could not be published (the next event tries again)", err)
				stop()
				continue
			}
			w.log.Info("event video published", zap.String("stream", stream), zap.Bool("on", true))
		case now := <-tick.C:
			if on && !now.Before(until) {
				stop()
			}
		}
	}
}

// sendRecord sends the system event record (docs/protocol.md#cam-event).
func (w *Camera) sendRecord(ctx context.Context, stream string, on bool) error {
	ev := newCamEvent(uplink.EventRecord, time.Now())
	ev.RecordInfo = &uplink.RecordInfo{On: on, StreamID: stream}
	if err := w.session.Send(ctx, uplink.CmdCamEvent, ev); err != nil {
		w.log.Info("record event not sent", zap.Bool("on", on), zap.Error(err))
		return err
	}
	return nil
}
