package record

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
)

func writeMP4(t testing.TB, units []*media.Unit, end time.Duration) ([]byte, MP4Info) {
	t.Helper()
	var out bytes.Buffer
	info, err := WriteMP4(&out, units, end)
	if err != nil {
		t.Fatalf("WriteMP4: %v", err)
	}
	return out.Bytes(), info
}

// within checks d against want to within one video frame.
func within(t testing.TB, what string, d, want time.Duration) {
	t.Helper()
	if (d - want).Abs() > frameDur {
		t.Errorf("%s = %v, want %v within a frame", what, d, want)
	}
}

func TestWriteMP4H264WithAAC(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	var units []*media.Unit
	for len(units) == 0 || units[len(units)-1].DTS < 3*time.Second {
		units = append(units, c.next())
	}
	data, info := writeMP4(t, units, 0)
	if info.Video != media.CodecH264 || info.VideoFrames != c.frame || info.Audio != media.CodecAAC || info.AudioFrames != c.audio {
		t.Fatalf("info %+v, want %d H.264 frames and %d AAC frames", info, c.frame, c.audio)
	}
	want := time.Duration(c.frame) * frameDur // the last frame lasts as long as the others
	if info.Duration != want {
		t.Errorf("info duration %v, want %v", info.Duration, want)
	}
	p := probeMP4(t, data)
	if !slices.Equal(p.order, []string{"ftyp", "moov", "mdat"}) {
		t.Errorf("top-level boxes %v, want ftyp moov mdat (moov first: faststart)", p.order)
	}
	within(t, "movie duration", p.movieDuration, want)
	v := p.track(t, "vide")
	if v.sampleEntry != "avc1" || v.timescale != videoTimescale || v.samples != c.frame {
		t.Errorf("video track %v, want avc1 at 90000 with %d samples", v, c.frame)
	}
	if v.sttsSum != want || v.duration != want {
		t.Errorf("video sample durations sum to %v, mdhd %v; want %v", v.sttsSum, v.duration, want)
	}
	// The fixture has an IDR every 25 frames.
	var wantSyncs []uint32
	for i := 0; i < c.frame; i += 25 {
		wantSyncs = append(wantSyncs, uint32(i+1))
	}
	if want := wantSyncs; !slices.Equal(v.syncs, want) {
		t.Errorf("sync samples %v, want %v", v.syncs, want)
	}
	a := p.track(t, "soun")
	if a.sampleEntry != "mp4a" || a.timescale != 48000 || a.samples != c.audio {
		t.Errorf("audio track %v, want mp4a at 48000 with %d samples", a, c.audio)
	}
	within(t, "audio duration", a.sttsSum, time.Duration(c.audio)*aacFrameSamples*time.Second/48000)
}

func TestWriteMP4EndsWhereTheNextChunkStarts(t *testing.T) {
	c := &cam{f: loadFixture(t), noAudio: true}
	units := []*media.Unit{c.next(), c.next(), c.next()}
	// A frame that came late: the gap belongs to the last frame.
	_, info := writeMP4(t, units, 200*time.Millisecond)
	if info.Duration != 200*time.Millisecond {
		t.Fatalf("duration %v, want 200ms (up to the next chunk's first frame)", info.Duration)
	}
}

func TestWriteMP4H265(t *testing.T) {
	units := h265Units(t)
	data, info := writeMP4(t, units, 0)
	p := probeMP4(t, data)
	v := p.track(t, "vide")
	if info.Video != media.CodecH265 || v.sampleEntry != "hvc1" || v.samples != len(units) {
		t.Fatalf("info %+v track %v, want hvc1 with %d samples", info, v, len(units))
	}
	within(t, "movie duration", p.movieDuration, time.Duration(len(units))*frameDur)
	if len(v.syncs) == 0 || v.syncs[0] != 1 {
		t.Errorf("sync samples %v, want the first one among them", v.syncs)
	}
}

func TestWriteMP4BFrames(t *testing.T) {
	units := bframeUnits(t)
	data, info := writeMP4(t, units, 0)
	p := probeMP4(t, data)
	v := p.track(t, "vide")
	if v.samples != len(units) || info.VideoFrames != len(units) {
		t.Fatalf("track %v, want %d samples", v, len(units))
	}
	reordered := false
	o0 := units[0].PTS - units[0].DTS
	for i, u := range units {
		// Offsets count from the first frame's, so it is presented at 0.
		want := int64((u.PTS - u.DTS - o0) / (time.Second / videoTimescale))
		if v.cttsOffsets[i] != want {
			t.Fatalf("sample %d composition offset %d, want %d", i, v.cttsOffsets[i], want)
		}
		reordered = reordered || i > 0 && u.PTS < units[i-1].PTS
	}
	if !reordered {
		t.Fatal("test input has no B-frames")
	}
	within(t, "movie duration", p.movieDuration, time.Duration(len(units))*frameDur)
}

func TestWriteMP4LeavesOutG711(t *testing.T) {
	f := loadFixture(t)
	c := &cam{f: f, audioTrack: &media.Track{Codec: media.CodecG711U, ClockRate: 8000, SampleRate: 8000, Channels: 1}}
	var units []*media.Unit
	for range 100 {
		units = append(units, c.next())
	}
	data, info := writeMP4(t, units, 0)
	if info.DroppedAudio != media.CodecG711U || info.Audio != media.CodecUnknown {
		t.Fatalf("info %+v, want G.711 reported as dropped and no audio track", info)
	}
	if p := probeMP4(t, data); len(p.tracks) != 1 {
		t.Fatalf("%d tracks, want video only", len(p.tracks))
	}
}

func TestWriteMP4NeedsAKeyFrameFirst(t *testing.T) {
	c := &cam{f: loadFixture(t), noAudio: true, skip: 3}
	_, err := WriteMP4(&bytes.Buffer{}, []*media.Unit{c.next(), c.next()}, 0)
	if !errors.Is(err, ErrNoVideo) {
		t.Fatalf("WriteMP4 starting on a non-key frame = %v, want ErrNoVideo", err)
	}
}
