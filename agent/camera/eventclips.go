package camera

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/record"
	"github.com/camagent/camagent/uplink/spool"
)

// clipChunkMax is the longest event clip chunk: each is uploaded as soon
// as it closes, so a long event reaches the cloud in pieces while it lasts
// instead of at its end (docs/protocol.md#stream-by-event).
const clipChunkMax = 10 * time.Second

// prebufferMaxBytes caps one camera's pre-event buffer, 30 s at 8 Mbit/s,
// so that one 4K camera cannot take the memory all cameras share.
const prebufferMaxBytes = 32 << 20

// prebufferQueue is the reader queue of the pre-event buffer: two seconds
// of 25 fps video with audio, enough to ride out a slow spool write.
const prebufferQueue = 256

// clipState keeps a camera's pre-event buffer and its event clip, while
// record_by_event is on for the event stream. The feeder goroutine writes
// every unit into both; events start or extend the clip.
type clipState struct {
	wake chan struct{} // settings changed: the runner looks again (1 slot)

	mu     sync.Mutex
	buf    *record.Buffer // nil while no buffer is kept
	stream string
	clip   *record.Clip // the event clip being cut, nil when none
	until  time.Time    // where clip ends
	// audioDropped: an audio codec MP4 cannot carry was left out of a
	// clip, which is logged once.
	audioDropped bool

	// recStream is the event stream while the memory card records it:
	// clips are cut from the recording and no buffer is kept (recordedclip.go).
	recStream string
	// recorded is the clip being cut from the recording, nil when none;
	// recordedUntil is where the last one ended.
	recorded      *recordedClip
	recordedUntil time.Time
}

// clipStall is how long past its end a clip waits for the frame that
// closes it: a camera that stopped streaming must not keep it open.
const clipStall = 5 * time.Second

func newClipState() *clipState { return &clipState{wake: make(chan struct{}, 1)} }

// reconfigure tells the runner the event video settings changed.
func (c *clipState) reconfigure() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// runClips keeps a pre-event buffer on the event stream while
// record_by_event is on for it and the agent has pre-event memory, until
// ctx ends.
func (w *Camera) runClips(ctx context.Context) {
	if w.opts.Shared.prebuffer == nil {
		return // stream mode publishes instead (eventstream.go)
	}
	c := w.clips
	var (
		cancel context.CancelFunc
		done   chan struct{}
		cur    streamByEvent
	)
	stopFeed := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	defer stopFeed()
	defer w.advanceRecorded(time.Now(), true)
	for {
		sb, ok := w.eventStream()
		on := ok && slices.Contains(w.Status().events.RecordByEvent, sb.StreamID)
		// While the memory card records the stream, clips come from the
		// recording: the buffer's memory is freed.
		recorded := on && w.recorderOf(sb.StreamID) != nil
		c.mu.Lock()
		c.recStream = ""
		if recorded {
			c.recStream = sb.StreamID
		}
		c.mu.Unlock()
		// A new post_event applies to the next clip; only a new stream or
		// pre_event needs a new buffer.
		if (!on || recorded) && cancel != nil || on && (cancel == nil || sb.StreamID != cur.StreamID || sb.PreEvent != cur.PreEvent) {
			stopFeed()
		}
		if on && !recorded && cancel == nil {
			rd, err := w.openReaderNamed(sb.StreamID, "prebuffer", prebufferQueue)
			if err != nil {
				w.log.Warn("no pre-event buffer", zap.String("stream", sb.StreamID), zap.Error(err))
			} else {
				cur = sb
				fctx, fcancel := context.WithCancel(ctx)
				cancel, done = fcancel, make(chan struct{})
				go func() {
					defer close(done)
					w.feedClips(fctx, rd, sb)
				}()
			}
		}
		c.closeStalled(time.Now())
		w.advanceRecorded(time.Now(), false)
		look := time.Second // the camera's streams may have become known
		c.mu.Lock()
		if c.recorded != nil {
			look = recordedPoll
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-time.After(look):
		}
	}
}

// closeStalled ends a clip whose stream stopped before its end.
func (c *clipState) closeStalled(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clip != nil && now.After(c.until.Add(clipStall)) {
		c.clip.Close()
		c.clip = nil
	}
}

// feedClips runs one pre-event buffer on rd until ctx ends; a clip still
// being cut then ends with what it has.
func (w *Camera) feedClips(ctx context.Context, rd *demandReader, sb streamByEvent) {
	defer rd.Close()
	c := w.clips
	buf := record.NewBuffer(record.BufferOptions{
		// The clip starts after the event's snapshot is taken, pre_event
		// before the event: keep that much more.
		// A pre_event beyond the buffer's cap was set while the memory
		// card recorded the stream: the buffer keeps its cap's worth.
		Keep:     time.Duration(min(sb.PreEvent, preEventMax))*time.Millisecond + snapshotTimeout + time.Second,
		MaxBytes: prebufferMaxBytes,
		Budget:   w.opts.Shared.prebuffer,
	})
	c.mu.Lock()
	c.buf, c.stream = buf, sb.StreamID
	c.mu.Unlock()
	w.log.Info("pre-event buffer on", zap.String("stream", sb.StreamID), zap.Int64("pre_event_ms", sb.PreEvent))
	defer func() {
		c.mu.Lock()
		if c.clip != nil {
			c.clip.Close()
			c.clip = nil
		}
		c.buf = nil
		c.mu.Unlock()
		buf.Close()
		w.log.Info("pre-event buffer off", zap.String("stream", sb.StreamID))
	}()
	for {
		u, err := rd.Read(ctx)
		if err != nil {
			return
		}
		// The buffer passes each unit on to the clip being cut.
		buf.Write(u)
		c.mu.Lock()
		if c.clip != nil {
			select {
			case <-c.clip.Done():
				c.clip = nil
			default:
			}
		}
		c.mu.Unlock()
	}
}

// eventClip asks for the event video of an event seen at now (this
// machine's clock, like the units' arrival times): pre_event before it to
// post_event after until. A clip still being cut is extended instead, so
// overlapping and repeating events make one clip and nothing is sent twice.
func (w *Camera) eventClip(now, until time.Time) {
	c := w.clips
	c.mu.Lock()
	defer c.mu.Unlock()
	end := until.Add(w.postEvent())
	if c.recStream != "" {
		w.recordedEventClip(now, end)
		return
	}
	if c.buf == nil {
		return
	}
	if c.clip != nil {
		select {
		case <-c.clip.Done():
			c.clip = nil
		default:
			c.clip.Extend(end)
			c.until = end
			return
		}
	}
	stream := c.stream
	c.until = end
	c.clip = c.buf.StartClip(record.ClipOptions{
		From:     now.Add(-time.Duration(w.Status().events.StreamByEvent.PreEvent) * time.Millisecond),
		Until:    end,
		ChunkMax: clipChunkMax,
		OnChunk:  func(ch record.Chunk) { w.spoolClip(stream, ch) },
	})
}

// spoolClip queues one closed chunk for upload (docs/protocol.md#stream-by-event).
// It runs on whichever goroutine closed the chunk, one chunk at a time.
func (w *Camera) spoolClip(stream string, ch record.Chunk) {
	if ch.Err != nil {
		w.log.Warn("event clip chunk not written", zap.String("stream", stream), zap.Error(ch.Err))
		return
	}
	if a := ch.Info.DroppedAudio; a != media.CodecUnknown && !w.clips.audioDropped {
		w.clips.audioDropped = true
		w.log.Info("event clips carry no audio: MP4 cannot carry the camera's codec as it is", zap.Stringer("audio", a))
	}
	meta := uploadMeta{Kind: uploadClip, Stream: stream, FileTime: ch.Start, DurationMS: ch.Duration.Milliseconds()}
	b, _ := json.Marshal(meta)
	if err := w.put(spool.Item{Class: spool.ClassClip, Created: ch.Start, Meta: b, Size: int64(len(ch.Data))}, ch.Data); err != nil {
		w.fail("an event clip was not queued for upload", err)
		return
	}
	w.log.Debug("event clip chunk queued", zap.String("stream", stream), zap.Time("start", ch.Start), zap.Duration("duration", ch.Duration), zap.Int("bytes", len(ch.Data)))
}

// eventEnded ends the clip being cut, or the stream-mode publish,
// post_event after now, when the camera's last activity ended.
func (w *Camera) eventEnded(now time.Time) {
	if w.opts.Shared.prebuffer == nil {
		w.streamModeEvent(now, false)
		return
	}
	c := w.clips
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clip != nil {
		c.until = now.Add(w.postEvent())
		c.clip.SetEnd(c.until)
	}
	if c.recorded != nil {
		c.recorded.end = now.Add(w.postEvent())
	}
}

// EventBufferStatus is what the pre-event buffer holds.
type EventBufferStatus struct {
	Stream string // "" while no buffer is kept
	Span   time.Duration
	Bytes  int64
	// Recorded is the event stream while its clips are cut from the
	// memory card's recording, and no buffer is kept.
	Recorded string
}

// EventBuffer reports the camera's pre-event buffer.
func (w *Camera) EventBuffer() EventBufferStatus {
	c := w.clips
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return EventBufferStatus{Recorded: c.recStream}
	}
	st := c.buf.Stats()
	return EventBufferStatus{Stream: c.stream, Span: st.Span, Bytes: st.Bytes}
}

// postEvent is how long event video goes on after the event.
func (w *Camera) postEvent() time.Duration {
	return time.Duration(w.Status().events.StreamByEvent.PostEvent) * time.Millisecond
}
