// Package media pulls RTSP from cameras and fans access units out to readers
// (RTMP publisher, ring buffers, snapshotters) without transcoding.
package media

import "time"

// Codec names an elementary-stream codec.
type Codec int

// Codecs the agent carries. Anything else is refused at DESCRIBE time.
const (
	CodecUnknown Codec = iota
	CodecH264
	CodecH265
	CodecAAC
	CodecG711U
	CodecG711A
	CodecOpus
)

var codecNames = [...]string{"unknown", "H.264", "H.265", "AAC", "G711U", "G711A", "OPUS"}

func (c Codec) String() string {
	if int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "unknown"
}

// IsVideo reports whether the codec carries video.
func (c Codec) IsVideo() bool { return c == CodecH264 || c == CodecH265 }

// Track describes one elementary stream. A Track value is immutable once a
// Unit refers to it: when the camera changes parameters (new SPS after a
// reconnect) the stream publishes a new *Track, so readers detect a change by
// pointer comparison and re-send codec headers.
type Track struct {
	Codec     Codec
	ClockRate int // RTP clock rate, Hz

	// Video parameter sets, without start codes. VPS only for H.265.
	VPS, SPS, PPS []byte
	Width, Height int // from the SPS, 0 when unknown

	// Audio. Config is the AAC AudioSpecificConfig.
	Config     []byte
	SampleRate int
	Channels   int
}

// Unit is one access unit: a video frame or a group of audio frames. Units
// are shared read-only between every reader of a stream; never modify one.
type Unit struct {
	Track *Track
	// PTS and DTS are on one monotonic timeline per Stream that survives
	// camera reconnects: the stream rebases each new RTSP session so time
	// never goes backwards for attached readers.
	PTS, DTS time.Duration
	// Key marks a video random-access point (IDR / IRAP). Always false for audio.
	Key bool
	// NALUs holds the video NAL units without start codes (Annex-B stripped),
	// parameter sets included in key frames when the camera sends them.
	NALUs [][]byte
	// Frames holds audio frames: raw AAC access units (no ADTS), G.711 or Opus packets.
	Frames [][]byte
	// Wall is the time the unit arrived from the camera.
	Wall time.Time
	// Discontinuity marks the first unit readers get from a new RTSP
	// session (camera reboot, reconnect): a video key frame when the stream
	// has video. Whatever came before it is not a reference for what follows,
	// so consumers re-send codec headers or start a new file here.
	Discontinuity bool
}
