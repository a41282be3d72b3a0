// Package recorder records a camera stream continuously to local disk as
// fragmented MP4 segments (the gateway as the camera's memory card): one
// fragment written about every second so a kill loses at most that much,
// segments cut on key frames, an index of what is on disk and of the gaps
// between, a byte budget that evicts the oldest (uploaded first), and
// standalone MP4 chunks cut from the segments without re-encoding.
package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"go.uber.org/zap"

	"github.com/camagent/camagent/media"
)

// Defaults of Options.
const (
	DefaultSegmentLength  = 60 * time.Second
	DefaultFragmentLength = time.Second
	DefaultStallAfter     = 5 * time.Second
)

// Fragments in flight between Write and the disk goroutine. Each holds
// about FragmentLength of media, so this bounds the memory a slow disk
// can pin; a fragment that finds none free is dropped.
const (
	fragBuffers = 4
	// maxFragBytes flushes a fragment early at a huge bitrate.
	maxFragBytes = 8 << 20
	// maxDrift: a segment's start follows media time from the session's
	// first frame; when that drifts this far from the arrival clock the
	// start is taken from the clock again.
	maxDrift = 2 * time.Second
)

// ErrClosed is returned by calls that change the index after Close.
var ErrClosed = errors.New("recorder: closed")

// Options configures a Recorder.
type Options struct {
	// Dir is the recording root; segments go to Dir/Stream/.
	Dir    string
	Stream string
	// Camera names the camera in logs.
	Camera string
	Log    *zap.Logger
	// SegmentLength: a segment is cut at the first key frame at or after
	// this much media time. Default DefaultSegmentLength.
	SegmentLength time.Duration
	// FragmentLength: how much media a fragment holds before it is written.
	FragmentLength time.Duration
	// StallAfter: a pause this long between units ends the segment with a
	// GapStreamStalled.
	StallAfter time.Duration
	// MaxBytes bounds this recorder's segments; 0 is no own limit.
	MaxBytes int64
	// MinFreeBytes keeps this much of the file system free by evicting.
	MinFreeBytes int64
	// Budget, when set, is a byte limit shared with other recorders.
	Budget *Budget
}

// Stats counts what a Recorder did.
type Stats struct {
	Units        uint64 // units given to Write
	Skipped      uint64 // video units before the first key frame of a segment
	AudioSkipped uint64 // audio units not recorded (not AAC, early, track change)
	Payload      uint64 // media payload bytes recorded (NAL units, AAC frames)
	Written      uint64 // bytes written to segment files
	Fragments    uint64 // fragments written
	Dropped      uint64 // fragments lost to a slow or failing disk
	Segments     uint64 // segments opened
	Repaired     int    // segments repaired (or deleted when empty) at Open
	// Evicted segments, by whether they had been uploaded.
	EvictedUploaded    uint64
	EvictedNotUploaded uint64
}

// Recorder writes one camera stream to segment files. Write is called
// from the stream's reader goroutine and does no disk I/O: fragments go to
// the Recorder's own disk goroutine through a bounded queue.
type Recorder struct {
	opts Options
	dir  string
	log  *zap.Logger

	mu        sync.Mutex // muxer state; Write, Pause, Close
	fmu       sync.Mutex // one Format at a time
	closed    bool
	inSeg     bool
	segStart  time.Time
	segBase   time.Duration // DTS of the segment's first frame
	segVideo  *media.Track
	segAudio  *media.Track
	vcodec    fmp4.Codec
	opened    bool         // the segment's init was sent
	openGap   GapReason    // why the time before the segment is empty
	audio     *media.Track // newest AAC track seen
	nextGap   GapReason
	lastWall  time.Time
	v, a      trackMux
	seq       uint32
	st        Stats
	needCut   atomic.Bool // the disk lost the current segment
	gapQueued atomic.Bool // a jobGap waits: at most one, so send never blocks
	free      chan *seekBuf
	jobs      chan job
	done      chan struct{}
	imu       sync.Mutex // index
	idx       *index
	problem   atomic.Pointer[DiskError]
	written   atomic.Uint64
	frags     atomic.Uint64
	dropped   atomic.Uint64
	evictedUp atomic.Uint64
	evictedNo atomic.Uint64

	disk diskState // owned by the disk goroutine
	vw   vecWriter // owned by the disk goroutine
	// waitDisk makes Write wait for a free fragment buffer instead of
	// dropping: tests feed minutes of media in milliseconds.
	waitDisk bool
}

// Open repairs what an earlier run left in Dir/Stream, loads or rebuilds
// the index and starts the disk goroutine. Close stops it.
func Open(opts Options) (*Recorder, error) {
	if opts.Stream == "" || opts.Dir == "" {
		return nil, fmt.Errorf("recorder: dir and stream are required")
	}
	if opts.SegmentLength <= 0 {
		opts.SegmentLength = DefaultSegmentLength
	}
	if opts.FragmentLength <= 0 {
		opts.FragmentLength = DefaultFragmentLength
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = DefaultStallAfter
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	r := &Recorder{
		opts:    opts,
		dir:     filepath.Join(opts.Dir, opts.Stream),
		log:     opts.Log.Named("recorder").With(zap.String("camera", opts.Camera), zap.String("stream", opts.Stream)),
		nextGap: GapAgentNotRunning,
		v:       trackMux{id: videoID, timescale: videoTimescale, avcc: true},
		a:       trackMux{id: audioID},
		free:    make(chan *seekBuf, fragBuffers),
		jobs:    make(chan job, 2*fragBuffers+4),
		done:    make(chan struct{}),
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("recorder: %s: %w", opts.Stream, err)
	}
	idx, repaired, err := loadIndex(r.dir, opts.Stream)
	if err != nil {
		return nil, fmt.Errorf("recorder: %s: load index: %w", opts.Stream, err)
	}
	r.idx, r.st.Repaired = idx, repaired
	if repaired > 0 {
		r.log.Info("repaired segments", zap.Int("segments", repaired))
	}
	if err := idx.save(r.dir); err != nil {
		r.setProblem("write index", err)
	}
	for range fragBuffers {
		r.free <- &seekBuf{}
	}
	if opts.Budget != nil {
		opts.Budget.add(r)
	}
	go r.run()
	return r, nil
}

// Write records u. It never blocks on the disk; units before a segment's
// first key frame are skipped.
func (r *Recorder) Write(u *media.Unit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.st.Units++
	video := u.Track.Codec.IsVideo()
	if !video && (u.Track.Codec != media.CodecAAC || u.Track.SampleRate <= 0) {
		r.st.AudioSkipped++
		return
	}
	stalled := !r.lastWall.IsZero() && u.Wall.Sub(r.lastWall) > r.opts.StallAfter
	r.lastWall = u.Wall
	if !video {
		r.audio = u.Track
	}
	if r.inSeg && (u.Discontinuity || stalled) {
		r.endSegment()
		r.nextGap = GapStreamStalled
		if u.Discontinuity {
			r.nextGap = GapCameraOffline
		}
	}
	if video && u.Key {
		r.maybeCut(u)
	}
	if !r.inSeg {
		if video {
			r.st.Skipped++
		} else {
			r.st.AudioSkipped++
		}
		return
	}
	if video {
		r.writeVideo(u)
	} else {
		r.writeAudio(u)
	}
}

// maybeCut starts a segment at key frame u when none is open, or cuts the
// current one there when it is long enough or cannot carry u.
func (r *Recorder) maybeCut(u *media.Unit) {
	if !r.inSeg {
		r.startSegment(u, u.Wall)
		return
	}
	lost := r.needCut.Load()
	if !lost && u.Track == r.segVideo && r.audio == r.segAudio && u.DTS-r.segBase < r.opts.SegmentLength {
		return
	}
	// The frame before the key frame ends where the key frame starts.
	if r.v.held {
		r.v.complete(uint32(max(1, ticks(u.DTS-r.segBase, videoTimescale)-r.v.heldT)))
	}
	r.a.finish(aacFrameSamples)
	start := r.segStart.Add(u.DTS - r.segBase)
	if d := start.Sub(u.Wall); d > maxDrift || d < -maxDrift {
		start = u.Wall
	}
	r.flush()
	r.closeSegment()
	if lost {
		r.nextGap = GapDiskError
	}
	r.startSegment(u, start)
}

// startSegment begins a segment at key frame u. Its init is written with
// the first fragment, so audio that starts just after the key frame (it
// usually does) is in it.
func (r *Recorder) startSegment(u *media.Unit, start time.Time) {
	vc, err := videoCodec(u)
	if err != nil {
		r.log.Warn("cannot start segment", zap.Error(err))
		return
	}
	r.needCut.Store(false)
	r.inSeg, r.opened, r.openGap, r.nextGap = true, false, r.nextGap, GapNone
	r.segStart, r.segBase, r.segVideo, r.vcodec = start, u.DTS, u.Track, vc
	r.setSegAudio(r.audio)
	r.v.reset()
	r.a.reset()
	r.seq = 0
}

func (r *Recorder) setSegAudio(t *media.Track) {
	r.segAudio = t
	if t != nil {
		r.a.timescale = int64(t.SampleRate)
	}
}

// open sends the segment's init to the disk goroutine.
func (r *Recorder) open() bool {
	in, err := initFor(r.vcodec, r.segAudio)
	if err != nil && r.segAudio != nil {
		r.log.Warn("audio left out of segment", zap.Error(err))
		r.setSegAudio(nil)
		r.a.reset()
		in, err = initFor(r.vcodec, nil)
	}
	if err != nil {
		r.log.Warn("cannot start segment", zap.Error(err))
		return false
	}
	buf := r.takeBuf()
	if buf == nil {
		return false
	}
	buf.reset()
	if err := in.Marshal(buf); err != nil {
		r.free <- buf
		r.log.Warn("cannot start segment", zap.Error(err))
		return false
	}
	r.send(job{kind: jobOpen, buf: buf, start: r.segStart, gap: r.openGap})
	r.opened = true
	r.st.Segments++
	return true
}

func (r *Recorder) writeVideo(u *media.Unit) {
	size := r.v.push(u.NALUs...)
	r.st.Payload += uint64(size - 4*len(u.NALUs))
	ts := ticks(u.DTS-r.segBase, videoTimescale)
	if r.v.held && ts <= r.v.heldT {
		ts = r.v.heldT + 1 // DTS never goes back on a media.Stream; rounding must not either
	}
	r.v.add(ts, u.Key, int32(ticks(u.PTS-u.DTS, videoTimescale)), size)
	if ts-int64(r.v.base) >= ticks(r.opts.FragmentLength, videoTimescale) || r.v.pend+r.a.pend > maxFragBytes {
		r.flush()
	}
}

func (r *Recorder) writeAudio(u *media.Unit) {
	if !r.opened && r.segAudio == nil {
		r.setSegAudio(u.Track)
	}
	if u.Track != r.segAudio || u.DTS < r.segBase {
		r.st.AudioSkipped++
		return
	}
	ts := ticks(u.DTS-r.segBase, r.a.timescale)
	for _, f := range u.Frames {
		if r.a.held && ts <= r.a.heldT {
			ts = r.a.heldT + aacFrameSamples
		}
		r.a.push(f)
		r.a.add(ts, true, 0, len(f))
		r.st.Payload += uint64(len(f))
		ts += aacFrameSamples
	}
}

// flush hands the complete samples to the disk goroutine as one fragment.
func (r *Recorder) flush() {
	if len(r.v.samples) == 0 && len(r.a.samples) == 0 {
		return
	}
	var buf *seekBuf
	if r.opened || r.open() {
		buf = r.takeBuf()
	}
	if buf != nil {
		r.seq++
		buf.reset()
		buf.b, buf.iov = appendFragment(buf.b, buf.iov, r.seq, &r.v, &r.a)
	}
	end := r.v.end()
	r.v.flushed()
	r.a.flushed()
	if buf == nil {
		// The disk is behind: the segment would have a hole the decoder
		// cannot cross, so it ends here and the next key frame starts one.
		r.st.Dropped++
		r.dropped.Add(1)
		r.closeSegment()
		r.nextGap = GapDiskError
		return
	}
	r.send(job{kind: jobData, buf: buf, dur: tickDur(end)})
}

// takeBuf returns a free fragment buffer, nil when the disk holds them all.
func (r *Recorder) takeBuf() *seekBuf {
	if r.waitDisk {
		return <-r.free
	}
	select {
	case b := <-r.free:
		return b
	default:
		return nil
	}
}

func tickDur(t uint64) time.Duration { return time.Duration(t) * time.Second / videoTimescale }

// endSegment closes the open segment; its last frame gets the previous
// frame's duration.
func (r *Recorder) endSegment() {
	r.v.finish(videoTimescale / 25)
	r.a.finish(aacFrameSamples)
	r.flush()
	r.closeSegment()
}

func (r *Recorder) closeSegment() {
	if !r.inSeg {
		return
	}
	if r.opened {
		r.send(job{kind: jobClose, dur: tickDur(r.v.end())})
	}
	r.inSeg, r.opened = false, false
	r.v.reset()
	r.a.reset()
}

// send queues a job. The queue is sized so that it never fills: every
// open and data job holds one of fragBuffers buffers, and each close
// follows its segment's open, so at most fragBuffers+1 closes wait, and
// Format and Pause (jobGap) queue one job at a time each.
func (r *Recorder) send(j job) { r.jobs <- j }

// Pause ends the open segment; the time until the next one is a gap with
// the given reason. Recording resumes at the next key frame Write gets.
func (r *Recorder) Pause(reason GapReason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.inSeg {
		r.endSegment()
	} else if r.nextGap != reason && r.nextGap != GapNone {
		// The gap going on changes its reason now (the agent started,
		// then found the camera away): it becomes two gaps. Never wait
		// for the disk here; if its queue is full the older reason stays.
		if r.gapQueued.CompareAndSwap(false, true) {
			select {
			case r.jobs <- job{kind: jobGap, gap: r.nextGap, start: time.Now()}:
			default:
				r.gapQueued.Store(false)
			}
		}
	}
	r.nextGap = reason
}

// Close ends the open segment, waits until it is on disk and stops the
// disk goroutine.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	if r.inSeg {
		r.endSegment()
	}
	r.closed = true
	close(r.jobs)
	r.mu.Unlock()
	<-r.done
	if r.opts.Budget != nil {
		r.opts.Budget.remove(r)
	}
	return nil
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	st := r.st
	r.mu.Unlock()
	st.Written, st.Fragments, st.Dropped = r.written.Load(), r.frags.Load(), r.dropped.Load()
	st.EvictedUploaded, st.EvictedNotUploaded = r.evictedUp.Load(), r.evictedNo.Load()
	return st
}

// Dir is the directory holding the stream's segments.
func (r *Recorder) Dir() string { return r.dir }

// Segments lists the segments on disk, oldest first; the one being
// written is included with what has reached the disk so far.
func (r *Recorder) Segments() []Segment {
	r.imu.Lock()
	defer r.imu.Unlock()
	return append([]Segment(nil), r.idx.segs...)
}

// Timeline returns the recorded spans within [from, to), contiguous
// segments merged.
func (r *Recorder) Timeline(from, to time.Time) []Range {
	r.imu.Lock()
	defer r.imu.Unlock()
	return r.idx.timeline(from, to)
}

// Gaps returns the known gaps within [from, to) with their reasons.
func (r *Recorder) Gaps(from, to time.Time) []Gap {
	r.imu.Lock()
	defer r.imu.Unlock()
	return r.idx.gapsIn(from, to)
}

// MarkUploaded records that the segment starting at start (to the
// millisecond, as in its name) reached the cloud, so eviction prefers it.
func (r *Recorder) MarkUploaded(start time.Time) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	r.imu.Lock()
	defer r.imu.Unlock()
	i := r.idx.find(start)
	if i < 0 {
		return fmt.Errorf("recorder: %s: no segment %s", r.opts.Stream, segName(start))
	}
	r.idx.segs[i].Uploaded = true
	return r.idx.save(r.dir)
}
