package camera

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/camagent/camagent/uplink"
)

// streamByEvent returns the event video setting with the stream resolved:
// the configured one while the camera has it, else its first stream.
func (w *Camera) eventStream() (streamByEvent, bool) {
	sb := w.Status().events.StreamByEvent
	pipes := w.pipes()
	if len(pipes) == 0 {
		return sb, false
	}
	if sb.StreamID == "" || w.pipe(sb.StreamID) == nil {
		sb.StreamID = pipes[0].id
	}
	return sb, true
}

// getStreamByEvent answers get_stream_by_event (docs/protocol.md#stream-by-event).
func (w *Camera) getStreamByEvent() uplink.Reply {
	sb, ok := w.eventStream()
	if !ok {
		return uplink.Done(uplink.StatusRetry, errNotResolved)
	}
	return uplink.Answer(uplink.StreamByEventConf{
		StreamID: sb.StreamID, PreEvent: sb.PreEvent, PostEvent: sb.PostEvent,
		Caps: uplink.StreamByEventCaps{PreEventMax: w.preEventCap(sb.StreamID), PostEventMax: postEventMax},
	})
}

// setStreamByEvent serves set_stream_by_event: INVALID_PARAM for an
// unknown stream or times beyond the caps, else stored and persisted.
func (w *Camera) setStreamByEvent(ctx context.Context, req *uplink.SetStreamByEvent) uplink.Reply {
	if w.pipe(req.StreamID) == nil {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("unknown stream_id %q", req.StreamID))
	}
	if preMax := w.preEventCap(req.StreamID); req.PreEvent > preMax || req.PostEvent > postEventMax {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("pre_event %d / post_event %d ms beyond %d / %d",
			req.PreEvent, req.PostEvent, preMax, postEventMax))
	}
	s := w.Status().events
	s.StreamByEvent = streamByEvent{StreamID: req.StreamID, PreEvent: req.PreEvent, PostEvent: req.PostEvent}
	if err := w.storeEventSettings(ctx, s); err != nil {
		return uplink.Done(uplink.StatusError, err)
	}
	w.log.Info("event video set", zap.String("stream", req.StreamID), zap.Int64("pre_event_ms", req.PreEvent), zap.Int64("post_event_ms", req.PostEvent))
	w.clips.reconfigure()
	return uplink.Done(uplink.StatusOK)
}

// setRecordByEvent switches event video for stream on or off, persisted:
// stream_start/stream_stop with reason record_by_event.
func (w *Camera) setRecordByEvent(ctx context.Context, stream string, on bool) error {
	s := w.Status().events
	if slices.Contains(s.RecordByEvent, stream) == on {
		return nil
	}
	if on {
		s.RecordByEvent = append(slices.Clone(s.RecordByEvent), stream)
	} else {
		s.RecordByEvent = slices.DeleteFunc(slices.Clone(s.RecordByEvent), func(id string) bool { return id == stream })
	}
	if err := w.storeEventSettings(ctx, s); err != nil {
		return err
	}
	w.log.Info("event video", zap.String("stream", stream), zap.Bool("on", on))
	w.clips.reconfigure()
	return nil
}
