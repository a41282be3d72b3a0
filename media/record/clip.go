package record

import (
	"bytes"
	"slices"
	"time"

	"github.com/camagent/camagent/media"
)

// DefaultChunkMax is the chunk length a clip uses when ClipOptions.ChunkMax
// is not set.
const DefaultChunkMax = 10 * time.Second

// ClipOptions describes the interval a Clip cuts.
type ClipOptions struct {
	// From and Until bound the interval by arrival (wall) time: From is
	// the event minus the pre-event time, Until the end plus the
	// post-event time. Extend moves Until later.
	From, Until time.Time
	// ChunkMax is how long (in media time) a chunk grows before it is cut
	// at the next key frame; DefaultChunkMax when <= 0.
	ChunkMax time.Duration
	// OnChunk receives each chunk as soon as it is closed, in order, never
	// two at a time. It runs on the goroutine that closed the chunk
	// (Buffer.Write, StartClip, Close) and must not call Buffer.Write.
	OnChunk func(Chunk)
}

// Chunk is one standalone MP4 file of a clip.
type Chunk struct {
	// Start is when the chunk's first frame was taken, on the clip's one
	// timeline: the arrival time of the clip's first frame plus the
	// media time since. Arrival times jitter (a camera sends in bursts, a
	// busy gateway reads late); media time does not, so consecutive chunks
	// meet exactly: one's Start plus Duration is the next one's Start.
	Start time.Time
	// Duration is the video duration, from the sample durations.
	Duration time.Duration
	// Data is the complete MP4 file; nil when Err is set.
	Data []byte
	// Frames is the number of video frames.
	Frames int
	// Last marks the clip's final chunk; Done is closed after it.
	Last bool
	// Info tells what went into the file (and what could not).
	Info MP4Info
	// Err is set when the units could not be written as MP4.
	Err error
}

// Clip cuts one event interval of a stream into MP4 chunks. Chunks are
// contiguous: each starts with a video key frame, the one the previous
// chunk stopped before, so no frame is lost or repeated.
//
// Cut rule. A chunk is cut at the first key frame at or after its start +
// ChunkMax, unless the clip ends less than ChunkMax/2 after that key
// frame (then the last chunk runs to the end). To get the pre-event part out early, StartClip also cuts at once
// at the newest buffered key frame (everything before it is complete), and
// the chunk holding the current GOP is cut at the first key frame that
// arrives after StartClip. The last chunk ends before the first unit that
// arrives at or after Until, possibly on a non-key frame.
type Clip struct {
	b        *Buffer
	onChunk  func(Chunk)
	chunkMax time.Duration
	done     chan struct{}

	// Guarded by b.mu.
	until   time.Time
	cur     []*media.Unit
	early   bool // no live key frame has cut a chunk yet
	pending []pendingChunk
	// sealing is a chunk cut at a key frame that still takes the audio
	// frames arriving after that key frame but playing before it (cameras
	// send a frame once it is encoded): until an audio frame playing at or
	// after the cut arrives (audio comes in order), or, without audio,
	// the next video frame, or after sealFrames video frames at most.
	sealing   *pendingChunk
	sealVideo int // video frames since sealing began
	// anchorWall and anchorDTS tie the clip's media time to the clock:
	// the arrival and DTS of its first frame, or of the first frame after
	// a discontinuity.
	anchorWall time.Time
	anchorDTS  time.Duration
	finished   bool
	delivering bool
	doneClosed bool
}

type pendingChunk struct {
	units    []*media.Unit
	start    time.Time     // Chunk.Start
	end      time.Duration // DTS where the last video frame ends; 0 unknown
	last     bool
	hasAudio bool // audio to wait for while sealing
}

// sealFrames bounds how long a cut chunk waits for late audio: a second
// at 25 fps, far more than any camera's audio lags its video.
const sealFrames = 25

// StartClip starts cutting the interval in opts from the buffered units on
// (see Clip). Chunks already complete are delivered before it returns.
func (b *Buffer) StartClip(opts ClipOptions) *Clip {
	c := &Clip{
		b:        b,
		onChunk:  opts.OnChunk,
		chunkMax: opts.ChunkMax,
		done:     make(chan struct{}),
		until:    opts.Until,
		early:    true,
	}
	if c.chunkMax <= 0 {
		c.chunkMax = DefaultChunkMax
	}
	if c.onChunk == nil {
		c.onChunk = func(Chunk) {}
	}
	b.mu.Lock()
	if b.closed {
		c.finished = true
	} else {
		for _, u := range b.snapshot(opts.From) {
			c.add(u, false)
		}
		c.cutAtLastKey()
		if !c.finished {
			b.clips = append(b.clips, c)
		}
	}
	ready := c.claimDelivery()
	b.mu.Unlock()
	if ready {
		c.deliver()
	}
	return c
}

// Extend moves the end of the interval to until when that is later, so
// overlapping or repeated events make one clip. It has no effect once the
// last chunk is closed.
func (c *Clip) Extend(until time.Time) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if !c.finished && until.After(c.until) {
		c.until = until
	}
}

// SetEnd moves the end of the interval to until, earlier or later: the
// end of an activity is known only when it ends, and until then the
// interval runs a little ahead of it. A unit already past until closes the
// clip with the next Write. It has no effect once the last chunk is closed.
func (c *Clip) SetEnd(until time.Time) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if !c.finished {
		c.until = until
	}
}

// Close abandons the interval (say, the camera is gone): what the clip holds
// becomes the last chunk, delivered before Close returns unless another
// goroutine is delivering at the moment, which then delivers it.
func (c *Clip) Close() {
	c.b.mu.Lock()
	c.finish()
	c.b.clips = slices.DeleteFunc(c.b.clips, func(x *Clip) bool { return x == c })
	ready := c.claimDelivery()
	c.b.mu.Unlock()
	if ready {
		c.deliver()
	}
}

// Done is closed after the last chunk was delivered. When no key frame
// arrived during the interval there was nothing to deliver.
func (c *Clip) Done() <-chan struct{} { return c.done }

// add feeds the next unit of the stream; live is false for buffered units
// taken at StartClip. Called under b.mu.
func (c *Clip) add(u *media.Unit, live bool) {
	if c.finished {
		return
	}
	if !u.Wall.Before(c.until) {
		c.finish()
		return
	}
	video := u.Track.Codec.IsVideo()
	if c.sealing != nil {
		switch {
		case !video && u.DTS < c.sealing.end:
			c.sealing.units = append(c.sealing.units, u)
			return
		case !video:
			c.seal()
		default:
			c.sealVideo++
			if !c.sealing.hasAudio || c.sealVideo > sealFrames {
				c.seal()
			}
		}
	}
	key := u.Key && video
	if len(c.cur) == 0 {
		if key { // a chunk starts on a key frame; until one comes, skip
			c.cur = append(c.cur, u)
			if c.anchorWall.IsZero() || u.Discontinuity {
				c.anchorWall, c.anchorDTS = u.Wall, u.DTS
			}
		}
		return
	}
	if key && c.cutBefore(u, live) {
		c.queue(len(c.cur), u.DTS, false)
		if u.Discontinuity {
			// The stream's timeline runs on across a camera's reconnect
			// without the time it was away: tie it to the clock again.
			c.anchorWall, c.anchorDTS = u.Wall, u.DTS
		}
	}
	c.cur = append(c.cur, u)
}

func (c *Clip) cutBefore(u *media.Unit, live bool) bool {
	first := c.cur[0]
	switch {
	case u.Track != first.Track: // new parameters: one sample description per file
		return true
	case u.Discontinuity: // a new camera session: a gap in the video
		return true
	case live && c.early:
		c.early = false
		return true
	default:
		// A clip that ends soon after the cut would end on a chunk of a
		// few frames; the current chunk takes them instead.
		return u.DTS-first.DTS >= c.chunkMax && c.until.Sub(u.Wall) >= c.chunkMax/2
	}
}

// cutAtLastKey closes, at StartClip, everything before the newest buffered
// key frame, so the pre-event part does not wait for the next one.
func (c *Clip) cutAtLastKey() {
	for i := len(c.cur) - 1; i > 0; i-- {
		if u := c.cur[i]; u.Key && u.Track.Codec.IsVideo() {
			c.queue(i, u.DTS, false)
			return
		}
	}
}

// queue cuts the first n units of cur as a chunk ending at end, the key
// frame at cur[n]. Audio among the rest that plays before end goes with
// it; the chunk is sealed at the next video frame (see sealing).
func (c *Clip) queue(n int, end time.Duration, last bool) {
	c.seal()
	units := c.cur[:n:n]
	hasAudio := false
	for _, u := range units {
		hasAudio = hasAudio || !u.Track.Codec.IsVideo()
	}
	rest := make([]*media.Unit, 0, max(len(c.cur)-n, cap(c.cur)))
	done := false // an audio frame at or after end is here: no more late ones
	video := 0
	for _, u := range c.cur[n:] {
		switch {
		case u.Track.Codec.IsVideo():
			video++
			rest = append(rest, u)
		case u.DTS < end:
			units = append(units, u)
		default:
			done = true
			rest = append(rest, u)
		}
	}
	c.sealing, c.sealVideo = &pendingChunk{units: units, start: c.startOf(units[0]), end: end, last: last, hasAudio: hasAudio}, video-1
	c.cur = rest
	if done || !hasAudio && video > 1 {
		c.seal()
	}
}

// startOf is when u was taken on the clip's timeline (Chunk.Start).
func (c *Clip) startOf(u *media.Unit) time.Time {
	return c.anchorWall.Add(u.DTS - c.anchorDTS)
}

// seal makes the sealing chunk pending.
func (c *Clip) seal() {
	if c.sealing != nil {
		c.pending = append(c.pending, *c.sealing)
		c.sealing = nil
	}
}

// finish closes what the clip holds as the last chunk. Called under b.mu.
func (c *Clip) finish() {
	if c.finished {
		return
	}
	c.finished = true
	c.seal()
	if len(c.cur) > 0 {
		c.pending = append(c.pending, pendingChunk{units: c.cur, start: c.startOf(c.cur[0]), last: true})
	}
	c.cur = nil
}

func (c *Clip) isFinished() bool { return c.finished }

// claimDelivery reports whether the caller must run deliver: there is work
// and no other goroutine is delivering. Called under b.mu.
func (c *Clip) claimDelivery() bool {
	if c.delivering || (len(c.pending) == 0 && (!c.finished || c.doneClosed)) {
		return false
	}
	c.delivering = true
	return true
}

// deliver builds and hands out pending chunks in order until none is left,
// then closes done if the clip is finished. Only the goroutine that claimed
// delivery runs it, so chunks never overtake each other.
func (c *Clip) deliver() {
	for {
		c.b.mu.Lock()
		if len(c.pending) == 0 {
			c.delivering = false
			closeDone := c.finished && !c.doneClosed
			c.doneClosed = c.doneClosed || closeDone
			c.b.mu.Unlock()
			if closeDone {
				close(c.done)
			}
			return
		}
		p := c.pending[0]
		c.pending[0] = pendingChunk{}
		c.pending = c.pending[1:]
		c.b.mu.Unlock()
		c.onChunk(buildChunk(p))
	}
}

func buildChunk(p pendingChunk) Chunk {
	var out bytes.Buffer
	info, err := WriteMP4(&out, p.units, p.end)
	ch := Chunk{Start: p.start, Last: p.last, Info: info, Err: err}
	if err == nil {
		ch.Data, ch.Duration, ch.Frames = out.Bytes(), info.Duration, info.VideoFrames
	}
	return ch
}
