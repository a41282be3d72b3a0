package recorder

import (
	"bytes"
	"fmt"
	"iter"
	"path/filepath"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/record"
)

// Chunk is one standalone MP4 file cut from the recording.
type Chunk struct {
	// Start is when the chunk's first frame was taken: its segment's start
	// plus the media time since, so chunks of contiguous segments meet
	// exactly (one's Start + Duration is the next one's Start).
	Start    time.Time
	Duration time.Duration
	// Data is the MP4 file, starting with a key frame.
	Data   []byte
	Frames int
	// Segment is the start of the segment the chunk was cut from;
	// SegmentEnd: the chunk ends where that segment does, and the segment
	// is closed (the one being written grows on).
	Segment    time.Time
	SegmentEnd bool
}

// End is when the chunk's last frame ends.
func (c Chunk) End() time.Time { return c.Start.Add(c.Duration) }

// Extract cuts the recording of [from, to) into MP4 chunks of at most
// chunkMax (longer only where one GOP is), in order, reading one segment
// at a time. The first chunk starts at the key frame at or before from;
// the last ends with the last frame that starts before to. Chunks never
// span two segments. A segment that cannot be read (evicted meanwhile,
// damaged) yields an error and the walk goes on with the next.
func (r *Recorder) Extract(from, to time.Time, chunkMax time.Duration) iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		for _, s := range r.Segments() {
			if !s.Start.Before(to) || !s.End().After(from) && s.Duration > 0 {
				continue
			}
			sx, err := readSegment(filepath.Join(r.dir, s.Name()), s.Start)
			if sx != nil {
				sx.closed = !s.open
			}
			if err != nil {
				if !yield(Chunk{Segment: s.Start}, fmt.Errorf("recorder: segment %s: %w", s.Name(), err)) {
					return
				}
				continue
			}
			for c, err := range sx.chunks(from, to, chunkMax) {
				if !yield(c, err) {
					return
				}
			}
		}
	}
}

// segMedia is one segment's samples as units, on the segment's timeline
// (DTS 0 is the segment's first frame).
type segMedia struct {
	start time.Time
	video []*media.Unit
	audio []*media.Unit
	end   time.Duration // where the last video frame ends
	// closed: nothing is added to the segment any more.
	closed bool
}

// readSegment reads the complete fragments of a segment file, the one
// being written included.
func readSegment(path string, start time.Time) (*segMedia, error) {
	initB, frags, err := readFragments(path)
	if err != nil {
		return nil, err
	}
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(initB)); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(frags); err != nil {
		return nil, fmt.Errorf("fragments: %w", err)
	}
	var vt, at *media.Track
	scales := map[int]int64{}
	for _, t := range in.Tracks {
		scales[t.ID] = int64(t.TimeScale)
		switch c := t.Codec.(type) {
		case *fmp4.CodecH264:
			vt = &media.Track{Codec: media.CodecH264, ClockRate: videoTimescale, SPS: c.SPS, PPS: c.PPS}
		case *fmp4.CodecH265:
			vt = &media.Track{Codec: media.CodecH265, ClockRate: videoTimescale, VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}
		case *fmp4.CodecMPEG4Audio:
			cfg, err := c.Config.Marshal()
			if err != nil {
				return nil, fmt.Errorf("aac config: %w", err)
			}
			at = &media.Track{Codec: media.CodecAAC, ClockRate: int(t.TimeScale), SampleRate: c.Config.SampleRate,
				Channels: c.Config.ChannelCount, Config: cfg}
		}
	}
	if vt == nil || scales[videoID] == 0 {
		return nil, fmt.Errorf("no video track")
	}
	sm := &segMedia{start: start}
	for _, p := range parts {
		for _, pt := range p.Tracks {
			scale := scales[pt.ID]
			t := pt.BaseTime
			for _, s := range pt.Samples {
				dts := time.Duration(t) * time.Second / time.Duration(scale)
				switch {
				case pt.ID == videoID:
					nalus, err := s.GetH264() // AVCC framing is the same for H.265
					if err != nil {
						return nil, fmt.Errorf("video sample at %v: %w", dts, err)
					}
					pts := time.Duration(int64(t)+int64(s.PTSOffset)) * time.Second / time.Duration(scale)
					sm.video = append(sm.video, &media.Unit{Track: vt, DTS: dts, PTS: pts, Key: !s.IsNonSyncSample,
						NALUs: nalus, Wall: start.Add(dts)})
					sm.end = time.Duration(t+uint64(s.Duration)) * time.Second / time.Duration(scale)
				case pt.ID == audioID && at != nil:
					sm.audio = append(sm.audio, &media.Unit{Track: at, DTS: dts, PTS: dts, Frames: [][]byte{s.Payload}, Wall: start.Add(dts)})
				}
				t += uint64(s.Duration)
			}
		}
	}
	if len(sm.video) == 0 || !sm.video[0].Key {
		return nil, fmt.Errorf("no key frame first")
	}
	return sm, nil
}

// chunks cuts the segment's part of [from, to) into chunks.
func (sm *segMedia) chunks(from, to time.Time, chunkMax time.Duration) iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		v := sm.video
		// first: the key frame at or before from; stop: the first frame
		// at or after to.
		first, stop := 0, len(v)
		for i, u := range v {
			t := sm.start.Add(u.DTS)
			if u.Key && !t.After(from) {
				first = i
			}
			if !t.Before(to) {
				stop = i
				break
			}
		}
		ai := 0
		for i := first; i < stop; {
			j := sm.cutAfter(i, stop, chunkMax)
			end := sm.end
			if j < len(v) {
				end = v[j].DTS
			}
			units := make([]*media.Unit, 0, j-i+(j-i)*2)
			units = append(units, v[i:j]...)
			for ai < len(sm.audio) && sm.audio[ai].DTS < v[i].DTS {
				ai++
			}
			for ai < len(sm.audio) && sm.audio[ai].DTS < end {
				units = append(units, sm.audio[ai])
				ai++
			}
			var buf bytes.Buffer
			info, err := record.WriteMP4(&buf, units, end)
			c := Chunk{Start: sm.start.Add(v[i].DTS), Duration: info.Duration, Frames: info.VideoFrames,
				Segment: sm.start, SegmentEnd: j == len(v) && sm.closed}
			if err == nil {
				c.Data = buf.Bytes()
			}
			if !yield(c, err) {
				return
			}
			i = j
		}
	}
}

// cutAfter returns where the chunk starting at key frame i ends: at the
// last key frame that keeps it within chunkMax (the next one when a
// single GOP is longer), or at stop.
func (sm *segMedia) cutAfter(i, stop int, chunkMax time.Duration) int {
	v := sm.video
	limit := v[i].DTS + chunkMax
	cut := -1
	for k := i + 1; k < stop; k++ {
		if !v[k].Key {
			continue
		}
		if v[k].DTS > limit {
			if cut < 0 {
				return k
			}
			return cut
		}
		cut = k
	}
	// The rest of the range: one chunk when it fits, else cut at the last
	// key frame that fits.
	end := sm.end
	if stop < len(v) {
		end = v[stop].DTS
	}
	if end <= limit || cut < 0 {
		return stop
	}
	return cut
}
