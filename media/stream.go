package media

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Limits of the GOP cache. A camera with a very long GOP or a huge bitrate
// overflows them; the cache is then empty until the next key frame, and a new
// reader simply waits for that key frame live.
const (
	MaxGOPUnits = 1024
	MaxGOPBytes = 8 << 20
)

// sessionGap separates the last unit of one RTSP session from the first of
// the next on the stream timeline, so a reconnect never maps two units of
// one kind onto the same instant.
const sessionGap = 100 * time.Millisecond

// statsWindow is how long rate estimates average over.
const statsWindow = time.Second

// Errors returned by Reader.Read.
var (
	ErrReaderClosed = errors.New("media: reader closed")
	ErrStreamClosed = errors.New("media: stream closed")
)

// StreamStats is a snapshot of a Stream for the status page and metrics.
type StreamStats struct {
	Sessions    uint64    // RTSP sessions that fed this stream
	VideoFrames uint64    // video access units published
	AudioUnits  uint64    // audio units published
	Bytes       uint64    // payload bytes published
	Discarded   uint64    // units dropped because their time went backwards across a reconnect
	GOPOverflow uint64    // GOPs that outgrew the cache (MaxGOPUnits/MaxGOPBytes)
	ReaderDrops uint64    // units readers lost to a full queue, summed over every reader ever attached
	LastFrame   time.Time // arrival of the last unit; zero before the first
	LastVideo   time.Time // arrival of the last video access unit; zero before the first
	FPS         float64   // video frames per second over the last second, 0 when stalled
	Kbps        float64   // payload kbit/s over the last second, 0 when stalled
	VideoCodec  Codec
	Width       int
	Height      int
	AudioCodec  Codec
	Readers     int
	GOPUnits    int // units now held in the GOP cache
	GOPBytes    int
}

// Stream is the fan-out hub of one camera stream. It outlives RTSP sessions:
// the agent creates one per camera stream and runs Sources on it one after
// another, while Readers stay attached. Writing never blocks on a reader.
type Stream struct {
	log  *zap.Logger
	done chan struct{}
	// tracksReady is closed when the first session delivered its tracks.
	tracksReady chan struct{}

	mu     sync.Mutex
	closed bool
	// haveTracks: tracksReady is closed.
	haveTracks bool
	video      *Track
	audio      *Track
	readers    []*Reader

	// GOP cache: from the last video key frame on, audio included. It
	// grows to the camera's GOP and keeps that capacity.
	gop      []*Unit
	gopBytes int
	gopValid bool

	// Timeline rebasing across sessions.
	offset    time.Duration
	offsetSet bool
	nextStart time.Duration
	maxTS     time.Duration
	lastDTS   [2]time.Duration // per kind: 0 video, 1 audio
	haveDTS   [2]bool
	anyUnit   bool

	// resync: the session has not delivered its first video key frame yet,
	// so nothing of it reaches readers. videoKey: a video unit was
	// discarded, so video waits for a key frame. discont: the next unit
	// readers get is the first of a new session.
	resync   bool
	videoKey bool
	discont  bool

	// Counters and the current rate window.
	st          StreamStats
	winStart    time.Duration
	winStarted  bool
	winFrames   int
	winBytes    int
	fps, kbps   float64
	overflowLog bool
}

// NewStream returns an empty Stream; Tracks is nil until a Source starts.
func NewStream(log *zap.Logger) *Stream {
	if log == nil {
		log = zap.NewNop()
	}
	return &Stream{
		log:         log,
		done:        make(chan struct{}),
		tracksReady: make(chan struct{}),
	}
}

// Tracks returns the current tracks, video first; nil before the first session.
func (s *Stream) Tracks() []*Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Track
	if s.video != nil {
		out = append(out, s.video)
	}
	if s.audio != nil {
		out = append(out, s.audio)
	}
	return out
}

// TracksReady is closed once a session delivered the stream's tracks;
// Tracks is not nil from then on.
func (s *Stream) TracksReady() <-chan struct{} { return s.tracksReady }

// beginSession starts a new source session with the tracks from its SDP.
// A track equal to the current one keeps its pointer, so readers see a
// change only when parameters really changed. It returns the tracks to use.
func (s *Stream) beginSession(video, audio *Track) (*Track, *Track) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Sessions++
	s.video = pickTrack(s.video, video)
	s.audio = pickTrack(s.audio, audio)
	if !s.haveTracks && (s.video != nil || s.audio != nil) {
		s.haveTracks = true
		close(s.tracksReady)
	}
	s.offsetSet = false
	s.winStarted, s.winFrames, s.winBytes = false, 0, 0
	if s.anyUnit {
		s.nextStart = s.maxTS + sessionGap
		s.discont = true
	}
	// A session may begin mid-GOP, or lose its first key frame to the
	// timeline check below; either way the track pointer can stay the same,
	// so readers could not tell the new session's P frames from the old
	// one's. Hold the session back until its first key frame.
	s.resync = s.video != nil
	s.videoKey = false
	// The cached GOP belongs to the old session; a reader joining now waits
	// for the new session's first key frame.
	s.resetGOP(false)
	return s.video, s.audio
}

// setTrack replaces the current track of t's kind after an in-band
// parameter change and returns the pointer units must carry.
func (s *Stream) setTrack(t *Track) *Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Codec.IsVideo() {
		s.video = pickTrack(s.video, t)
		return s.video
	}
	s.audio = pickTrack(s.audio, t)
	return s.audio
}

// pickTrack keeps cur when next describes the same stream. A video track
// without parameter sets (the camera sends them only in band) also keeps
// cur: the in-band check then compares against cur's sets.
func pickTrack(cur, next *Track) *Track {
	if cur == nil || next == nil {
		return next
	}
	if sameTrack(cur, next) {
		return cur
	}
	if next.Codec.IsVideo() && next.Codec == cur.Codec && next.ClockRate == cur.ClockRate && next.SPS == nil {
		return cur
	}
	return next
}

func sameTrack(a, b *Track) bool {
	return a.Codec == b.Codec && a.ClockRate == b.ClockRate &&
		bytes.Equal(a.VPS, b.VPS) && bytes.Equal(a.SPS, b.SPS) && bytes.Equal(a.PPS, b.PPS) &&
		a.Width == b.Width && a.Height == b.Height &&
		bytes.Equal(a.Config, b.Config) && a.SampleRate == b.SampleRate && a.Channels == b.Channels
}

// write rebases u onto the stream timeline and offers it to every reader.
// u's PTS/DTS are relative to its session on entry; write owns u until it
// returns and never blocks on readers.
func (s *Stream) write(u *Unit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	video := u.Track.Codec.IsVideo()
	kind := 1
	if video {
		kind = 0
	}
	if !s.offsetSet {
		s.offset = s.nextStart - u.DTS
		s.offsetSet = true
	}
	u.PTS += s.offset
	u.DTS += s.offset
	if u.DTS < 0 || (s.haveDTS[kind] && u.DTS <= s.lastDTS[kind]) {
		s.st.Discarded++
		// Later frames reference this one: drop video up to a key frame.
		s.videoKey = s.videoKey || video
		return
	}
	s.lastDTS[kind], s.haveDTS[kind], s.anyUnit = u.DTS, true, true
	s.maxTS = max(s.maxTS, u.DTS, u.PTS)

	size := unitSize(u)
	s.count(u, video, size)
	switch {
	case video && u.Key:
		s.resync, s.videoKey = false, false
	case s.resync || (video && s.videoKey):
		return // counted above: the camera sent it
	}
	if s.discont {
		u.Discontinuity, s.discont = true, false
	}
	s.cache(u, video, size)
	for _, r := range s.readers {
		r.offer(u, video, s.video != nil)
	}
}

func unitSize(u *Unit) int {
	n := 0
	for _, b := range u.NALUs {
		n += len(b)
	}
	for _, b := range u.Frames {
		n += len(b)
	}
	return n
}

// count updates counters. Rates are measured on the media timeline, not
// the wall clock, so a busy host does not distort them.
func (s *Stream) count(u *Unit, video bool, size int) {
	if video {
		s.st.VideoFrames++
		s.st.LastVideo = u.Wall
		s.winFrames++
	} else {
		s.st.AudioUnits++
	}
	s.st.Bytes += uint64(size)
	s.winBytes += size
	s.st.LastFrame = u.Wall
	if !s.winStarted {
		s.winStart, s.winStarted = s.maxTS, true
		return
	}
	if el := s.maxTS - s.winStart; el >= statsWindow {
		sec := el.Seconds()
		s.fps = float64(s.winFrames) / sec
		s.kbps = float64(s.winBytes) * 8 / 1000 / sec
		s.winStart, s.winFrames, s.winBytes = s.maxTS, 0, 0
	}
}

func (s *Stream) cache(u *Unit, video bool, size int) {
	switch {
	case video && u.Key:
		s.resetGOP(true)
	case !s.gopValid:
		return
	case len(s.gop) == MaxGOPUnits || s.gopBytes+size > MaxGOPBytes:
		s.st.GOPOverflow++
		if !s.overflowLog {
			s.log.Warn("gop cache overflow, new readers wait for the next key frame",
				zap.Int("units", len(s.gop)), zap.Int("bytes", s.gopBytes))
			s.overflowLog = true
		}
		s.resetGOP(false)
		return
	}
	s.gop = append(s.gop, u)
	s.gopBytes += size
}

// resetGOP empties the cache (dropping references so units can be freed).
func (s *Stream) resetGOP(valid bool) {
	clear(s.gop)
	s.gop = s.gop[:0]
	s.gopBytes = 0
	s.gopValid = valid
}

// AddReader attaches a consumer with a queue of the given length. It first
// receives the GOP cache, so its first unit is a video key frame (when the
// stream has video), then live units.
func (s *Stream) AddReader(name string, queue int) *Reader {
	if queue < 1 {
		queue = 1
	}
	r := &Reader{
		name:    name,
		s:       s,
		ch:      make(chan *Unit, queue),
		done:    make(chan struct{}),
		waitKey: true,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		r.closeOnce.Do(func() { close(r.done) })
		return r
	}
	for _, u := range s.gop {
		r.offer(u, u.Track.Codec.IsVideo(), s.video != nil)
	}
	s.readers = append(s.readers, r)
	return r
}

func (s *Stream) removeReader(r *Reader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.readers {
		if x == r {
			last := len(s.readers) - 1
			s.readers[i] = s.readers[last]
			s.readers[last] = nil
			s.readers = s.readers[:last]
			return
		}
	}
}

// Stats returns a snapshot of the stream's counters.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	if !st.LastFrame.IsZero() && time.Since(st.LastFrame) < 2*statsWindow {
		st.FPS, st.Kbps = s.fps, s.kbps
	}
	if s.video != nil {
		st.VideoCodec, st.Width, st.Height = s.video.Codec, s.video.Width, s.video.Height
	}
	if s.audio != nil {
		st.AudioCodec = s.audio.Codec
	}
	st.Readers = len(s.readers)
	st.GOPUnits, st.GOPBytes = len(s.gop), s.gopBytes
	return st
}

// Close detaches every reader: their Read returns ErrStreamClosed once
// their queue is drained. Later writes are ignored.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.readers = nil
	s.resetGOP(false)
	close(s.done)
}

// Reader is one consumer of a Stream with its own bounded queue. Read it
// from one goroutine.
type Reader struct {
	name      string
	s         *Stream
	ch        chan *Unit
	done      chan struct{}
	closeOnce sync.Once
	dropped   atomic.Uint64

	// Owned by the stream's writer (under Stream.mu).
	started bool // first video key frame delivered (or stream has no video)
	waitKey bool // a video unit was dropped: skip video until a key frame
}

// offer enqueues u without blocking; on a full queue it counts a drop and,
// for video, skips until the next key frame because later frames reference
// the dropped one. Audio keeps flowing.
func (r *Reader) offer(u *Unit, video, hasVideo bool) {
	if !r.started {
		if hasVideo && !(video && u.Key) {
			return // start at a key frame so the consumer can decode from unit one
		}
		r.started = true
	}
	if video && r.waitKey {
		if !u.Key {
			r.drop()
			return
		}
		r.waitKey = false
	}
	select {
	case r.ch <- u:
	default:
		r.drop()
		if video {
			r.waitKey = true
		}
	}
}

// Tracks are the stream's current tracks (see Stream.Tracks).
func (r *Reader) Tracks() []*Track { return r.s.Tracks() }

// Name is the name given to AddReader.
func (r *Reader) Name() string { return r.name }

// Read returns the next unit, waiting for one. It fails with ctx's error,
// ErrReaderClosed after Close, or ErrStreamClosed once the stream is closed
// and the queue is empty.
func (r *Reader) Read(ctx context.Context) (*Unit, error) {
	select {
	case <-r.done:
		return nil, ErrReaderClosed
	default:
	}
	select {
	case u := <-r.ch:
		return u, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.done:
		return nil, ErrReaderClosed
	case <-r.s.done:
		select {
		case u := <-r.ch:
			return u, nil
		default:
			return nil, ErrStreamClosed
		}
	}
}

// drop counts a lost unit for the reader and for the stream, whose total
// survives the reader (a publish that ends takes its reader along). Called
// under Stream.mu, like offer.
func (r *Reader) drop() {
	r.dropped.Add(1)
	r.s.st.ReaderDrops++
}

// Dropped counts units this reader lost because its queue was full,
// including video skipped while waiting for a key frame after a drop.
func (r *Reader) Dropped() uint64 { return r.dropped.Load() }

// Queued is the number of units waiting in the queue.
func (r *Reader) Queued() int { return len(r.ch) }

// Close detaches the reader; pending and later Reads return ErrReaderClosed.
func (r *Reader) Close() {
	r.s.removeReader(r)
	r.closeOnce.Do(func() { close(r.done) })
}
