package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/camagent/camagent/media"
)

// Timescales of the MP4 tracks; audio uses its sample rate.
const videoTimescale = 90000

// aacFrameSamples is the length of an AAC-LC access unit.
const aacFrameSamples = 1024

// ErrNoVideo is returned by WriteMP4 when the units hold no video key frame
// to start from.
var ErrNoVideo = errors.New("record: no video key frame")

// MP4Info tells what WriteMP4 wrote.
type MP4Info struct {
	Video       media.Codec
	VideoFrames int
	// Audio is CodecAAC when an audio track was written, else CodecUnknown.
	Audio       media.Codec
	AudioFrames int
	// DroppedAudio is the audio codec an MP4 clip does not carry (G.711,
	// Opus) when such units were left out, so the caller can log it once.
	DroppedAudio media.Codec
	// Duration is the video track's duration.
	Duration time.Duration
}

// WriteMP4 writes units as one progressive MP4 file with the moov box before
// the media data ("faststart"), so a player or the cloud reads it without
// seeking. The first video unit must be a key frame; video timestamps start
// at its DTS. Sample durations come from DTS steps; end is the DTS at which
// the last video frame ends (the frame that follows it, when a clip cuts at
// a key frame), and when end is not after the last frame its duration is
// taken to be the previous one's. Audio other than AAC is left out, as is
// audio older than the first video frame's PTS.
func WriteMP4(w io.Writer, units []*media.Unit, end time.Duration) (MP4Info, error) {
	var info MP4Info
	var video, audio []*media.Unit
	for _, u := range units {
		switch {
		case u.Track.Codec.IsVideo():
			if len(video) == 0 && !u.Key {
				return info, ErrNoVideo
			}
			video = append(video, u)
		case u.Track.Codec == media.CodecAAC:
			audio = append(audio, u)
		default:
			info.DroppedAudio = u.Track.Codec
		}
	}
	if len(video) == 0 {
		return info, ErrNoVideo
	}
	vcodec, err := videoCodec(video[0])
	if err != nil {
		return info, err
	}
	base := video[0].DTS
	info.Video, info.VideoFrames = video[0].Track.Codec, len(video)

	size := 0
	for _, u := range video {
		size += int(unitSize(u)) + 4*len(u.NALUs)
	}
	payload := make([]byte, 0, size)
	vt := &pmp4.Track{ID: 1, TimeScale: videoTimescale, Codec: vcodec}
	samples := make([]pmp4.Sample, len(video))
	// Composition offsets count from the first frame's, so it is presented
	// at 0 and the track lasts exactly its sample durations; B-frames then
	// get negative offsets (ctts version 1).
	offset0 := ticks(video[0].PTS-video[0].DTS, videoTimescale)
	var t0, prev int64
	for i, u := range video {
		var t1 int64
		switch {
		case i+1 < len(video):
			t1 = ticks(video[i+1].DTS-base, videoTimescale)
		case end > u.DTS:
			t1 = ticks(end-base, videoTimescale)
		case i > 0:
			t1 = t0 + (t0 - prev)
		default:
			t1 = t0 + videoTimescale/25 // a lone frame: assume 25 fps
		}
		start := len(payload)
		for _, n := range u.NALUs {
			payload = binary.BigEndian.AppendUint32(payload, uint32(len(n)))
			payload = append(payload, n...)
		}
		samples[i] = pmp4.Sample{
			Duration:        uint32(t1 - t0),
			PTSOffset:       int32(ticks(u.PTS-u.DTS, videoTimescale) - offset0),
			IsNonSyncSample: !u.Key,
			PayloadSize:     uint32(len(payload) - start),
		}
		prev, t0 = t0, t1
	}
	info.Duration = time.Duration(t0) * time.Second / videoTimescale
	vt.Samples = samplePointers(samples, payload)
	p := pmp4.Presentation{Tracks: []*pmp4.Track{vt}}

	if at, err := audioTrack(audio, video[0]); err != nil {
		return info, err
	} else if at != nil {
		p.Tracks = append(p.Tracks, at)
		info.Audio, info.AudioFrames = media.CodecAAC, len(at.Samples)
	}
	if err := p.Marshal(w); err != nil {
		return info, fmt.Errorf("record: write mp4: %w", err)
	}
	return info, nil
}

// audioTrack turns the AAC units of the first audio track that start at or
// after the first video frame is presented into an MP4 track; nil when there
// are none.
func audioTrack(units []*media.Unit, first *media.Unit) (*pmp4.Track, error) {
	var track *media.Track
	var frames [][]byte
	var times []int64
	rate := int64(0)
	for _, u := range units {
		if u.DTS < first.PTS || (track != nil && u.Track != track) {
			continue
		}
		if track == nil {
			track, rate = u.Track, int64(u.Track.SampleRate)
			if rate <= 0 {
				return nil, fmt.Errorf("record: aac track without a sample rate")
			}
		}
		t := ticks(u.DTS-first.PTS, rate)
		for _, f := range u.Frames {
			if n := len(times); n > 0 && t <= times[n-1] {
				t = times[n-1] + aacFrameSamples // rounding must not reorder frames
			}
			frames, times = append(frames, f), append(times, t)
			t += aacFrameSamples
		}
	}
	if len(frames) == 0 {
		return nil, nil
	}
	var conf mpeg4audio.AudioSpecificConfig
	if err := conf.Unmarshal(track.Config); err != nil {
		return nil, fmt.Errorf("record: aac config: %w", err)
	}
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	payload := make([]byte, 0, size)
	samples := make([]pmp4.Sample, len(frames))
	for i, f := range frames {
		d := int64(aacFrameSamples)
		if i+1 < len(frames) {
			d = times[i+1] - times[i]
		}
		payload = append(payload, f...)
		samples[i] = pmp4.Sample{Duration: uint32(d), PayloadSize: uint32(len(f))}
	}
	return &pmp4.Track{
		ID:         2,
		TimeScale:  uint32(rate),
		TimeOffset: int32(times[0]), // audio starting after video waits
		Codec:      &codecs.MPEG4Audio{Config: conf},
		Samples:    samplePointers(samples, payload),
	}, nil
}

// samplePointers hands pmp4 its samples, each reading its slice of payload
// (the samples' payloads back to back, in order).
func samplePointers(samples []pmp4.Sample, payload []byte) []*pmp4.Sample {
	out := make([]*pmp4.Sample, len(samples))
	off := 0
	for i := range samples {
		s := &samples[i]
		data := payload[off : off+int(s.PayloadSize)]
		off += int(s.PayloadSize)
		s.GetPayload = func() ([]byte, error) { return data, nil }
		out[i] = s
	}
	return out
}

// videoCodec takes the parameter sets from the track, or from the key
// frame when the camera sends them only in band (media's one rule).
func videoCodec(key *media.Unit) (codecs.Codec, error) {
	t, ps := key.Track, key.ParamSets()
	if len(ps.SPS) == 0 || len(ps.PPS) == 0 || (t.Codec == media.CodecH265 && len(ps.VPS) == 0) {
		return nil, fmt.Errorf("record: %v key frame without parameter sets", t.Codec)
	}
	if t.Codec == media.CodecH264 {
		return &codecs.H264{SPS: ps.SPS, PPS: ps.PPS}, nil
	}
	return &codecs.H265{VPS: ps.VPS, SPS: ps.SPS, PPS: ps.PPS}, nil
}

// ticks converts a duration to units of 1/scale s, rounding to the nearest
// so that steps which were whole ticks on the camera's RTP clock (33.3 ms at
// 30 fps is 3000 ticks) stay whole.
func ticks(d time.Duration, scale int64) int64 {
	n := int64(d) * scale
	if n < 0 {
		return -((-n + int64(time.Second)/2) / int64(time.Second))
	}
	return (n + int64(time.Second)/2) / int64(time.Second)
}
