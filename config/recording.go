package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults of the recording sections.
const (
	// DefaultRecordingSegment is one minute of video per file: short
	// enough that a kill or a full disk loses little, long enough that
	// the index stays small (1440 files a day per camera).
	DefaultRecordingSegment = 60 * time.Second
	// DefaultRecordingMinFree is left free on the recordings' file system
	// for the OS, the logs and the upload spool when they share it.
	DefaultRecordingMinFree = 1 << 30
)

// Recording configures continuous local recording for all cameras (the
// gateway as the camera's memory card). Which cameras record is each
// camera's recording.enabled.
type Recording struct {
	// Dir holds the recordings, one directory per camera; "" is
	// state_dir/recordings. Best on a mount of its own, so that full
	// recordings never starve the state and the spool.
	Dir string `yaml:"dir"`
	// MaxSize bounds the recordings of all cameras together; the oldest
	// go first. 0: no limit but MinFree (the file system's size).
	MaxSize Bytes `yaml:"max_size"`
	// MinFree is kept free on Dir's file system by deleting the oldest.
	MinFree Bytes `yaml:"min_free"`
}

// CameraRecording configures one camera's continuous recording.
type CameraRecording struct {
	// Enabled gives the camera a memory card on the gateway: it records
	// Stream and the cloud sees the card (and may switch recording off
	// and on again). Default false: no card.
	Enabled bool `yaml:"enabled"`
	// Stream is the stream recorded; default main.
	Stream RecordingStream `yaml:"stream"`
	// Segment is how much video one file holds (10s to 10m); default 60s
	// (also when 0).
	Segment time.Duration `yaml:"segment"`
}

// RecordingStream names the stream a camera records.
type RecordingStream int8

// Recorded streams.
const (
	// RecordingStreamMain is the camera's first (best) stream.
	RecordingStreamMain RecordingStream = iota
	// RecordingStreamSub is its second stream, or the first when it has one.
	RecordingStreamSub
)

// ParseRecordingStream parses main or sub (case-insensitive).
func ParseRecordingStream(s string) (RecordingStream, error) {
	switch strings.ToLower(s) {
	case "main":
		return RecordingStreamMain, nil
	case "sub":
		return RecordingStreamSub, nil
	}
	return RecordingStreamMain, fmt.Errorf("%q is not one of main, sub", s)
}

// String returns the config spelling.
func (r RecordingStream) String() string {
	switch r {
	case RecordingStreamMain:
		return "main"
	case RecordingStreamSub:
		return "sub"
	}
	return fmt.Sprintf("RecordingStream(%d)", int8(r))
}

// MarshalText encodes the config spelling.
func (r RecordingStream) MarshalText() ([]byte, error) {
	if r != RecordingStreamMain && r != RecordingStreamSub {
		return nil, fmt.Errorf("invalid recording.stream %d", int8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses the config spelling.
func (r *RecordingStream) UnmarshalText(b []byte) error {
	v, err := ParseRecordingStream(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// RecordingDir is where recordings go: recording.dir, or
// state_dir/recordings when it is empty.
func (c *Config) RecordingDir() string {
	if c.Recording.Dir != "" {
		return c.Recording.Dir
	}
	return strings.TrimSuffix(c.StateDir, "/") + "/recordings"
}

func (c *Config) validateRecording(bad func(path, format string, args ...any)) {
	if m := c.Recording.MaxSize; m != 0 && m < 64<<20 {
		bad("recording.max_size", "%s must be 0 (no limit but min_free) or at least 64MiB", m)
	}
	if m := c.Recording.MinFree; m < 0 {
		bad("recording.min_free", "%s must not be negative", m)
	}
}

func validateCameraRecording(p string, r CameraRecording, bad func(path, format string, args ...any)) {
	if r.Stream != RecordingStreamMain && r.Stream != RecordingStreamSub {
		bad(p+".stream", "%d is not one of main, sub", int8(r.Stream))
	}
	// 0, in a config built in code, is the default.
	if r.Segment != 0 && (r.Segment < 10*time.Second || r.Segment > 10*time.Minute) {
		bad(p+".segment", "%s must be between 10s and 10m", r.Segment)
	}
}
