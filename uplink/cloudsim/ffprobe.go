package cloudsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// Recording is what ffprobe (Debian package ffmpeg) reads from a recorded
// FLV file with one video and one audio stream: how a cloud recorder or a
// player would see what the agent published.
type Recording struct {
	// Path is the file probed.
	Path string
	// VideoCodec and AudioCodec are ffprobe's codec names, e.g. h264, aac.
	VideoCodec, AudioCodec string
	Width, Height          int
	// FrameRate is the rate ffprobe guesses from the timestamps (its
	// r_frame_rate), as a recorder writing an MP4 header would; 0 when it
	// cannot tell.
	FrameRate            float64
	SampleRate, Channels int
	// Packets holds both streams' packets in file order; Video and Audio
	// the same packets per stream.
	Packets, Video, Audio []Packet
	// NoDTS counts packets without a decode timestamp, left out above.
	NoDTS int
}

// Packet is one recorded packet.
type Packet struct {
	// DTS is the decode timestamp from the start of the file.
	DTS time.Duration
	// Key is set on key frames.
	Key   bool
	Video bool
}

// ffprobe's JSON, only the fields Probe reads.
type probeStream struct {
	Index      int    `json:"index"`
	CodecType  string `json:"codec_type"`
	CodecName  string `json:"codec_name"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	RFrameRate string `json:"r_frame_rate"`
	SampleRate string `json:"sample_rate"`
	Channels   int    `json:"channels"`
	TimeBase   string `json:"time_base"`
}

type probePacket struct {
	StreamIndex int    `json:"stream_index"`
	DTS         *int64 `json:"dts"`
	Flags       string `json:"flags"`
}

// Probe reads the streams and packets of a recording with ffprobe.
func Probe(path string) (*Recording, error) {
	if _, err := os.Stat(path); err != nil {
		entries, _ := os.ReadDir(filepath.Dir(path))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return nil, fmt.Errorf("probe: %w (its directory holds %v)", err, names)
	}
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		return nil, errors.New("probe: ffprobe not found (Debian package ffmpeg)")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-v", "error", "-of", "json", "-show_streams", "-show_packets", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("probe %s: ffprobe: %w\n%s", path, err, stderr.Bytes())
	}
	var doc struct {
		Streams []probeStream `json:"streams"`
		Packets []probePacket `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("probe %s: ffprobe json: %w", path, err)
	}

	r := &Recording{Path: path}
	timeBase := map[int]float64{}
	video, audio := -1, -1
	var nv, na int
	for _, s := range doc.Streams {
		tb, ok := ratio(s.TimeBase)
		if !ok {
			return nil, fmt.Errorf("probe %s: stream %d: time base %q", path, s.Index, s.TimeBase)
		}
		timeBase[s.Index] = tb
		switch s.CodecType {
		case "video":
			nv++
			video = s.Index
			r.VideoCodec, r.Width, r.Height = s.CodecName, s.Width, s.Height
			r.FrameRate, _ = ratio(s.RFrameRate)
		case "audio":
			na++
			audio = s.Index
			r.AudioCodec, r.Channels = s.CodecName, s.Channels
			r.SampleRate, _ = strconv.Atoi(s.SampleRate)
		}
	}
	if nv != 1 || na != 1 {
		return nil, fmt.Errorf("probe %s: %d video and %d audio streams, want one each: %+v", path, nv, na, doc.Streams)
	}
	for _, p := range doc.Packets {
		if p.DTS == nil {
			r.NoDTS++
			continue
		}
		pkt := Packet{
			DTS:   time.Duration(float64(*p.DTS) * timeBase[p.StreamIndex] * float64(time.Second)),
			Key:   strings.Contains(p.Flags, "K"),
			Video: p.StreamIndex == video,
		}
		r.Packets = append(r.Packets, pkt)
		switch p.StreamIndex {
		case video:
			r.Video = append(r.Video, pkt)
		case audio:
			r.Audio = append(r.Audio, pkt)
		}
	}
	return r, nil
}

// ratio parses ffprobe's "num/den"; ok is false for a malformed one or a
// zero denominator.
func ratio(s string) (v float64, ok bool) {
	num, den, found := strings.Cut(s, "/")
	a, err1 := strconv.ParseFloat(num, 64)
	b, err2 := strconv.ParseFloat(den, 64)
	if !found || err1 != nil || err2 != nil || b == 0 {
		return 0, false
	}
	return a / b, true
}

// Want is what the camera sent, for Recording.Problems.
type Want struct {
	Width, Height, FPS   int
	SampleRate, Channels int
	// SPS is the camera's H.264 sequence parameter set; nil: not compared.
	SPS []byte
}

// MaxJump is the largest timestamp step a player tolerates without a
// visible stall.
const MaxJump = 500 * time.Millisecond

// AudioSlack is how far audio may stray from its own sample clock: about one
// video frame, inside what viewers notice as lip-sync error (ITU-R BT.1359
// puts detectability at 45 ms audio lead).
const AudioSlack = 45 * time.Millisecond

// aacFrameSamples is the number of samples in one AAC-LC frame.
const aacFrameSamples = 1024

// Problems lists how the recording differs from what the camera sent, in
// words for a test to report: codecs, size, rate, audio format, a key frame
// first, an even timeline per stream, and (with w.SPS) the SPS unchanged.
// None means a player and a recorder see the camera's stream.
func (r *Recording) Problems(w Want) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	if r.VideoCodec != "h264" || r.AudioCodec != "aac" {
		add("codecs %s/%s, want h264/aac", r.VideoCodec, r.AudioCodec)
	}
	if r.Width != w.Width || r.Height != w.Height {
		add("resolution %dx%d, want %dx%d", r.Width, r.Height, w.Width, w.Height)
	}
	if r.FrameRate != float64(w.FPS) {
		add("ffprobe frame rate %g, want %d", r.FrameRate, w.FPS)
	}
	if r.SampleRate != w.SampleRate || r.Channels != w.Channels {
		add("audio %d Hz %d ch, want %d Hz %d ch", r.SampleRate, r.Channels, w.SampleRate, w.Channels)
	}
	if r.NoDTS > 0 {
		add("%d packets without DTS", r.NoDTS)
	}
	if len(r.Video) < 2*w.FPS || len(r.Audio) == 0 {
		// Too little to judge the timeline by.
		add("only %d video and %d audio packets recorded", len(r.Video), len(r.Audio))
		return bad
	}
	if !r.Video[0].Key {
		add("first recorded video packet is not a key frame")
	}

	// Each stream's timestamps never go back and never jump. Across
	// streams the file need not be interleaved by time: FLV readers
	// (FFmpeg, nginx-rtmp, the cloud) take audio a little behind video.
	var jumps []string
	for _, ps := range [][]Packet{r.Video, r.Audio} {
		for i := 1; i < len(ps); i++ {
			p, prev := ps[i], ps[i-1]
			if d := p.DTS - prev.DTS; d < 0 || d > MaxJump {
				jumps = append(jumps, fmt.Sprintf("%s packet %d at %v after %v", kind(p.Video), i, p.DTS, prev.DTS))
			}
		}
	}
	if len(jumps) > 0 {
		add("%d of %d packets step back or jump more than %v on their stream, e.g. %s", len(jumps), len(r.Video)+len(r.Audio), MaxJump, strings.Join(jumps[:min(len(jumps), 3)], "; "))
	}

	// Video: the camera sends a frame every 1/fps exactly, so every step
	// is one frame interval (±1 ms of RTMP rounding). Uneven steps are
	// judder to a viewer and a wrong frame rate to a recorder.
	frame := time.Second / time.Duration(w.FPS)
	steps := r.videoSteps()
	for d := range steps {
		if d < frame-time.Millisecond || d > frame+time.Millisecond {
			add("video timestamp steps %v (step: count), want every step %v ± 1ms", steps, frame)
			break
		}
	}

	// Audio: each AAC frame's time must stay on the sample clock, and no
	// two frames may share a time.
	drift, same := r.audioDrift(w.SampleRate)
	if drift.Abs() > AudioSlack {
		add("audio strays %v from its sample clock (want within %v)", drift, AudioSlack)
	}
	if same > 0 {
		add("%d of %d audio packets share the previous one's timestamp", same, len(r.Audio))
	}

	if w.SPS != nil {
		sps, err := FirstSPS("-i", r.Path)
		switch {
		case err != nil:
			add("recording: %v", err)
		case !bytes.Equal(sps, w.SPS):
			add("SPS changed on the way: camera %x, recording %x", w.SPS, sps)
		}
	}
	return bad
}

func kind(video bool) string {
	if video {
		return "video"
	}
	return "audio"
}

// videoSteps counts the steps between consecutive video timestamps,
// rounded to the millisecond.
func (r *Recording) videoSteps() map[time.Duration]int {
	steps := map[time.Duration]int{}
	for i := 1; i < len(r.Video); i++ {
		steps[(r.Video[i].DTS-r.Video[i-1].DTS).Round(time.Millisecond)]++
	}
	return steps
}

// audioDrift is the largest distance of an audio packet from where the
// sample clock puts it (one AAC frame after the previous), and how many
// packets repeat the previous timestamp.
func (r *Recording) audioDrift(sampleRate int) (worst time.Duration, same int) {
	if sampleRate <= 0 || len(r.Audio) == 0 {
		return 0, 0
	}
	frame := time.Duration(aacFrameSamples * float64(time.Second) / float64(sampleRate))
	a := r.Audio
	for i := 1; i < len(a); i++ {
		if a[i].DTS == a[i-1].DTS {
			same++
		}
		if off := a[i].DTS - a[0].DTS - time.Duration(i)*frame; off.Abs() > worst.Abs() {
			worst = off
		}
	}
	return worst, same
}

// String summarizes the recording's timing for test logs.
func (r *Recording) String() string {
	drift, _ := r.audioDrift(r.SampleRate)
	return fmt.Sprintf("%d video and %d audio packets; video steps %v; audio off its sample clock by up to %v",
		len(r.Video), len(r.Audio), r.videoSteps(), drift)
}

// FirstSPS has ffmpeg (Debian package ffmpeg) turn the first video frame of
// an input into Annex-B, which puts the SPS of the container's codec header
// (FLV sequence header, RTSP SDP) in front of it, and returns that SPS.
// input is ffmpeg's input options ending in "-i", source, e.g.
// FirstSPS("-rtsp_transport", "tcp", "-i", url).
func FirstSPS(input ...string) ([]byte, error) {
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, errors.New("first sps: ffmpeg not found (Debian package ffmpeg)")
	}
	args := append([]string{"-v", "error"}, input...)
	args = append(args, "-map", "0:v:0", "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-frames:v", "1", "-f", "h264", "pipe:1")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("first sps: ffmpeg extracting the first frame of %v: %w\n%s", input, err, stderr.Bytes())
	}
	var au h264.AnnexB
	if err := au.Unmarshal(out); err != nil {
		return nil, fmt.Errorf("first sps: first frame of %v is not Annex-B: %w", input, err)
	}
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			return n, nil
		}
	}
	return nil, fmt.Errorf("first sps: no SPS in front of the first frame of %v", input)
}
