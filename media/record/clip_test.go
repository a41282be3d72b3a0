package record

import (
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
)

type collector struct {
	chunks []Chunk
}

func (c *collector) add(ch Chunk) { c.chunks = append(c.chunks, ch) }

func at(d time.Duration) time.Time { return testT0.Add(d) }

// checkChunks verifies every chunk is a valid MP4 starting on a key frame,
// that chunks follow each other without a gap or an overlap, and that
// together they hold exactly the video frames of want.
func checkChunks(t *testing.T, chunks []Chunk, want []*media.Unit) {
	t.Helper()
	var frames []*media.Unit
	for _, u := range want {
		if u.Track.Codec.IsVideo() {
			frames = append(frames, u)
		}
	}
	if len(chunks) == 0 {
		t.Fatal("no chunks")
	}
	n := 0
	for i, ch := range chunks {
		if ch.Err != nil {
			t.Fatalf("chunk %d: %v", i, ch.Err)
		}
		if ch.Last != (i == len(chunks)-1) {
			t.Errorf("chunk %d of %d: Last %t", i, len(chunks), ch.Last)
		}
		p := probeMP4(t, ch.Data)
		v := p.track(t, "vide")
		if v.samples != ch.Frames || v.syncs != nil && v.syncs[0] != 1 {
			t.Errorf("chunk %d: %d samples (sync %v), Frames %d; want the first sample sync", i, v.samples, v.syncs, ch.Frames)
		}
		within(t, "chunk duration", p.movieDuration, ch.Duration)
		if n >= len(frames) {
			t.Fatalf("chunk %d holds frames beyond the %d expected", i, len(frames))
		}
		first := frames[n]
		if !first.Key || ch.Start != first.Wall {
			t.Errorf("chunk %d starts at %v (key %t), want the frame of %v", i, ch.Start.Sub(testT0), first.Key, first.Wall.Sub(testT0))
		}
		if i > 0 {
			prev := chunks[i-1]
			if end := prev.Start.Add(prev.Duration); !end.Equal(ch.Start) {
				t.Errorf("chunk %d starts at %v, the previous one ends at %v", i, ch.Start.Sub(testT0), end.Sub(testT0))
			}
		}
		n += ch.Frames
	}
	if n != len(frames) {
		t.Errorf("chunks hold %d frames, want %d", n, len(frames))
	}
	// Every audio frame from the first video frame on is in one chunk:
	// cameras send the audio frame that straddles a key frame after it,
	// and it belongs before the cut.
	wantAudio, gotAudio := 0, 0
	for _, u := range want {
		if !u.Track.Codec.IsVideo() && len(frames) > 0 && u.DTS >= frames[0].PTS {
			wantAudio++
		}
	}
	for _, ch := range chunks {
		for _, tr := range probeMP4(t, ch.Data).tracks {
			if tr.handler == "soun" {
				gotAudio += tr.samples
			}
		}
	}
	if wantAudio > 0 && gotAudio != wantAudio {
		t.Errorf("chunks hold %d audio frames, want %d: frames lost at the cuts", gotAudio, wantAudio)
	}
}

// between returns the units from the last key frame at or before from up to
// the first unit at or after until (excluded); without a key frame before
// from, from the first key frame.
func between(units []*media.Unit, from, until time.Time) []*media.Unit {
	start := -1
	for i, u := range units {
		if u.Key && (start < 0 || !u.Wall.After(from)) {
			start = i
		}
	}
	var out []*media.Unit
	for _, u := range units[start:] {
		if !u.Wall.Before(until) {
			break
		}
		out = append(out, u)
	}
	return out
}

func TestClipCutsIntervalIntoChunks(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 5 * time.Second})
	defer b.Close()
	fed := c.feedUntil(b, at(8*time.Second+500*time.Millisecond)) // mid-GOP

	var got collector
	from, until := at(5*time.Second+300*time.Millisecond), at(20*time.Second+100*time.Millisecond)
	clip := b.StartClip(ClipOptions{From: from, Until: until, ChunkMax: 4 * time.Second, OnChunk: got.add})
	// The pre-event part up to the newest key frame is out at once: [5s, 8s).
	if len(got.chunks) != 1 || got.chunks[0].Duration != 3*time.Second {
		t.Fatalf("StartClip delivered %d chunks (%+v), want the 3 s before the newest key frame", len(got.chunks), got.chunks)
	}
	// The current GOP follows at the first key frame that arrives, once
	// the audio after it shows no late audio frame is still to come.
	fed = append(fed, c.feedUntil(b, at(9*time.Second+30*time.Millisecond))...)
	if len(got.chunks) != 2 || got.chunks[1].Duration != time.Second {
		t.Fatalf("after the first live key frame: %d chunks, want the current GOP as the second", len(got.chunks))
	}
	for {
		select {
		case <-clip.Done():
		default:
			fed = append(fed, c.feedUntil(b, at(time.Duration(c.frame)*frameDur))...)
			continue
		}
		break
	}
	checkChunks(t, got.chunks, between(fed, from, until))
	// Then 4 s chunks cut at key frames, and the rest to Until.
	for i, want := range []time.Duration{3 * time.Second, time.Second, 4 * time.Second, 4 * time.Second, 3*time.Second + 120*time.Millisecond} {
		if got.chunks[i].Duration != want {
			t.Errorf("chunk %d lasts %v, want %v", i, got.chunks[i].Duration, want)
		}
	}
	last := got.chunks[len(got.chunks)-1]
	if a := probeMP4(t, last.Data).track(t, "soun"); a.samples == 0 || last.Info.Audio != media.CodecAAC {
		t.Errorf("last chunk has no AAC track: %+v", last.Info)
	}
	if st := b.Stats(); st.Clips != 0 {
		t.Errorf("buffer still counts %d clips after Done", st.Clips)
	}
}

func TestClipExtend(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second})
	defer b.Close()
	fed := c.feedUntil(b, at(3*time.Second))
	var got collector
	from := at(2 * time.Second)
	clip := b.StartClip(ClipOptions{From: from, Until: at(4 * time.Second), OnChunk: got.add})
	fed = append(fed, c.feedUntil(b, at(3500*time.Millisecond))...)
	clip.Extend(at(6 * time.Second))
	clip.Extend(at(5 * time.Second)) // an earlier end does not shorten it
	fed = append(fed, c.feedUntil(b, at(7*time.Second))...)
	select {
	case <-clip.Done():
	default:
		t.Fatal("clip not done after its extended end")
	}
	checkChunks(t, got.chunks, between(fed, from, at(6*time.Second)))
	clip.Extend(at(9 * time.Second))
	c.feedUntil(b, at(10*time.Second))
	if !got.chunks[len(got.chunks)-1].Last {
		t.Fatal("a finished clip came back to life after Extend")
	}
}

// TestClipAudioArrivingLate: audio frames that arrive after the key frame
// a chunk is cut at, but play before it, end the earlier chunk, so no
// audio is lost at a seam.
func TestClipAudioArrivingLate(t *testing.T) {
	c := &cam{f: loadFixture(t), audioLag: 50 * time.Millisecond}
	b := NewBuffer(BufferOptions{Keep: 3 * time.Second})
	defer b.Close()
	fed := c.feedUntil(b, at(4*time.Second))
	var got collector
	from, until := at(2*time.Second), at(9*time.Second)
	clip := b.StartClip(ClipOptions{From: from, Until: until, ChunkMax: 2 * time.Second, OnChunk: got.add})
	for {
		select {
		case <-clip.Done():
		default:
			fed = append(fed, c.feedUntil(b, at(time.Duration(c.frame)*frameDur))...)
			continue
		}
		break
	}
	if len(got.chunks) < 3 {
		t.Fatalf("%d chunks, want several seams", len(got.chunks))
	}
	checkChunks(t, got.chunks, between(fed, from, until))
}

// TestClipChunksMeetDespiteArrivalJitter: key frames that arrive late do
// not open gaps or overlaps between chunks: each chunk's Start plus its
// Duration is the next one's Start, to the nanosecond.
func TestClipChunksMeetDespiteArrivalJitter(t *testing.T) {
	c := &cam{f: loadFixture(t), keyLate: 400 * time.Millisecond}
	b := NewBuffer(BufferOptions{Keep: 3 * time.Second})
	defer b.Close()
	c.feedUntil(b, at(4*time.Second))
	var got collector
	clip := b.StartClip(ClipOptions{From: at(2 * time.Second), Until: at(9 * time.Second), ChunkMax: 2 * time.Second, OnChunk: got.add})
	for {
		select {
		case <-clip.Done():
		default:
			c.feedUntil(b, at(time.Duration(c.frame)*frameDur))
			continue
		}
		break
	}
	if len(got.chunks) < 3 {
		t.Fatalf("%d chunks, want several seams", len(got.chunks))
	}
	for i := 1; i < len(got.chunks); i++ {
		prev, ch := got.chunks[i-1], got.chunks[i]
		if end := prev.Start.Add(prev.Duration); !end.Equal(ch.Start) {
			t.Errorf("chunk %d starts at %v, the previous one ends at %v", i, ch.Start.Sub(testT0), end.Sub(testT0))
		}
	}
}

// TestClipCutsAtDiscontinuity: when the camera's session is interrupted
// (it was away 10 s; the stream's media time runs on with a short gap and
// marks the next key frame), the chunk ends there, and the next chunk
// starts at that key frame's arrival: the cloud sees the gap where it was.
func TestClipCutsAtDiscontinuity(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 3 * time.Second})
	defer b.Close()
	c.feedUntil(b, at(4*time.Second))
	var got collector
	clip := b.StartClip(ClipOptions{From: at(3 * time.Second), Until: at(30 * time.Second), ChunkMax: 10 * time.Second, OnChunk: got.add})
	c.feedUntil(b, at(5500*time.Millisecond))
	const away = 10 * time.Second
	var reborn *media.Unit
	for range 200 {
		u := c.next()
		video := u.Track.Codec.IsVideo()
		if reborn == nil && !(video && u.Key) {
			continue // the camera was away: nothing until its next key frame
		}
		u.Wall = u.Wall.Add(away)
		if reborn == nil {
			u.Discontinuity, reborn = true, u
		}
		b.Write(u)
	}
	clip.Close()
	if len(got.chunks) < 3 {
		t.Fatalf("%d chunks", len(got.chunks))
	}
	var at []time.Time
	for _, ch := range got.chunks {
		at = append(at, ch.Start)
	}
	if !slices.Contains(at, reborn.Wall) {
		t.Errorf("no chunk starts at the key frame after the gap (%v); chunks start at %v", reborn.Wall.Sub(testT0), at)
	}
	for i := 1; i < len(got.chunks); i++ {
		prev, ch := got.chunks[i-1], got.chunks[i]
		gap := ch.Start.Sub(prev.Start.Add(prev.Duration))
		if ch.Start.Equal(reborn.Wall) {
			if gap < away-time.Second {
				t.Errorf("chunk %d after the gap starts %v after the previous one ends, want about %v", i, gap, away)
			}
		} else if gap != 0 {
			t.Errorf("chunk %d starts %v after chunk %d ends", i, gap, i-1)
		}
	}
}

// TestClipSetEnd: an activity's end, known only when it ends, can come
// before the end the clip ran ahead to; the clip then ends there.
func TestClipSetEnd(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second})
	defer b.Close()
	fed := c.feedUntil(b, at(3*time.Second))
	var got collector
	from := at(2 * time.Second)
	clip := b.StartClip(ClipOptions{From: from, Until: at(20 * time.Second), OnChunk: got.add})
	fed = append(fed, c.feedUntil(b, at(4*time.Second))...)
	clip.SetEnd(at(5 * time.Second))
	fed = append(fed, c.feedUntil(b, at(6*time.Second))...)
	select {
	case <-clip.Done():
	default:
		t.Fatal("clip not done after the end it was set to")
	}
	checkChunks(t, got.chunks, between(fed, from, at(5*time.Second)))
}

func TestClipUntilAlreadyBuffered(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 10 * time.Second})
	defer b.Close()
	fed := c.feedUntil(b, at(6*time.Second))
	var got collector
	clip := b.StartClip(ClipOptions{From: at(time.Second), Until: at(3500 * time.Millisecond), OnChunk: got.add})
	select {
	case <-clip.Done():
	default:
		t.Fatal("a clip wholly in the buffer is not done when StartClip returns")
	}
	checkChunks(t, got.chunks, between(fed, at(time.Second), at(3500*time.Millisecond)))
}

func TestClipClose(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second})
	defer b.Close()
	fed := c.feedUntil(b, at(3*time.Second))
	var got collector
	clip := b.StartClip(ClipOptions{From: at(time.Second), Until: at(time.Minute), OnChunk: got.add})
	fed = append(fed, c.feedUntil(b, at(4500*time.Millisecond))...)
	clip.Close() // the camera is gone
	select {
	case <-clip.Done():
	default:
		t.Fatal("Close returned before the clip was done")
	}
	checkChunks(t, got.chunks, between(fed, at(time.Second), at(time.Hour)))
	n := len(got.chunks)
	c.feedUntil(b, at(6*time.Second))
	if len(got.chunks) != n {
		t.Fatal("a closed clip delivered more chunks")
	}
}

func TestBufferCloseEndsClips(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second})
	fed := c.feedUntil(b, at(2500*time.Millisecond))
	var got collector
	clip := b.StartClip(ClipOptions{From: at(2 * time.Second), Until: at(time.Minute), OnChunk: got.add})
	b.Close()
	<-clip.Done()
	checkChunks(t, got.chunks, between(fed, at(2*time.Second), at(time.Hour)))
}

func TestClipOnEmptyBufferStartsAtNextKeyFrame(t *testing.T) {
	c := &cam{f: loadFixture(t), skip: 5}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second})
	defer b.Close()
	c.feedUntil(b, at(200*time.Millisecond)) // before the first key frame
	var got collector
	clip := b.StartClip(ClipOptions{From: at(0), Until: at(2 * time.Second), OnChunk: got.add})
	fed := c.feedUntil(b, at(3*time.Second))
	<-clip.Done()
	checkChunks(t, got.chunks, between(fed, at(0), at(2*time.Second)))
	if got.chunks[0].Start != at(800*time.Millisecond) {
		t.Errorf("first chunk starts at %v, want the first key frame at 800ms", got.chunks[0].Start.Sub(testT0))
	}
}

func TestClipCutsWhenParametersChange(t *testing.T) {
	f := loadFixture(t)
	c := &cam{f: f, noAudio: true}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second})
	defer b.Close()
	var got collector
	clip := b.StartClip(ClipOptions{From: at(0), Until: at(3 * time.Second), ChunkMax: time.Minute, OnChunk: got.add})
	fed := c.feedUntil(b, at(1500*time.Millisecond))
	// A reconnect with new parameters: the stream publishes a new *Track.
	moved := *f.video
	f.video = &moved
	fed = append(fed, c.feedUntil(b, at(3*time.Second))...)
	<-clip.Done()
	checkChunks(t, got.chunks, between(fed, at(0), at(3*time.Second)))
	for _, ch := range got.chunks {
		if ch.Start.Before(at(2*time.Second)) && ch.Start.Add(ch.Duration).After(at(2*time.Second)) {
			t.Errorf("chunk %v+%v spans the parameter change at 2s", ch.Start.Sub(testT0), ch.Duration)
		}
	}
}

// TestClipNoStubChunkAtTheEnd: a clip ending just after a cut key frame
// ends on a chunk that takes those last frames, not on a file of a few
// frames (the demo showed "0.0 s of video").
func TestClipNoStubChunkAtTheEnd(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second})
	defer b.Close()
	fed := c.feedUntil(b, at(2*time.Second+500*time.Millisecond))
	var got collector
	from, until := at(2*time.Second), at(7*time.Second+100*time.Millisecond)
	clip := b.StartClip(ClipOptions{From: from, Until: until, ChunkMax: 4 * time.Second, OnChunk: got.add})
	fed = append(fed, c.feedUntil(b, at(8*time.Second))...)
	select {
	case <-clip.Done():
	default:
		t.Fatal("clip not done after its end")
	}
	checkChunks(t, got.chunks, between(fed, from, until))
	// [2s,3s) up to the current GOP, then one chunk from 3 s to the end:
	// the key frame at 7 s is 4 s in, but the clip ends 100 ms later.
	var durs []time.Duration
	for _, ch := range got.chunks {
		durs = append(durs, ch.Duration)
	}
	if want := []time.Duration{time.Second, 4*time.Second + 120*time.Millisecond}; !slices.Equal(durs, want) {
		t.Errorf("chunks last %v, want %v", durs, want)
	}
}
