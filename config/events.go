package config

import (
	"slices"
	"strconv"
)

// Defaults of the events and uploads sections.
const (
	// DefaultPrebufferMemory holds 10 s of pre-event video for 16 cameras
	// at 4 Mbit/s, GOP rounding included, and is a tenth of a 1 GB gateway.
	DefaultPrebufferMemory = 96 << 20
	// DefaultSpoolMax bounds the queued uploads of all cameras on disk.
	DefaultSpoolMax = 1 << 30
	// DefaultMinFree is left free on state_dir's file system for the OS
	// and the logs, whatever the spool budget says.
	DefaultMinFree = 256 << 20
)

// DefaultSnapshotMax is the largest event snapshot sent as the camera took
// it; larger pictures are scaled down (the cloud shows thumbnails).
var DefaultSnapshotMax = Dimensions{Width: 1280, Height: 720}

// Events configures event media for all cameras.
type Events struct {
	// PrebufferMemory is the RAM all cameras' pre-event buffers share;
	// 0 keeps none, and event video is then published live (stream mode).
	PrebufferMemory Bytes `yaml:"prebuffer_memory"`
	// SnapshotMax is the largest event snapshot sent unscaled.
	SnapshotMax Dimensions `yaml:"snapshot_max"`
}

// Uploads configures the upload queue of all cameras.
type Uploads struct {
	// SpoolMax is the disk space queued uploads may take under state_dir.
	SpoolMax Bytes `yaml:"spool_max"`
	// MinFree is kept free on the file system of state_dir.
	MinFree Bytes `yaml:"min_free"`
	// MaxRate caps the bytes per second of all uploads together, so live
	// video keeps its share of the uplink; 0 = no cap.
	MaxRate Bytes `yaml:"max_rate"`
	// Burst is how far uploads may run ahead of MaxRate; default one
	// second's worth.
	Burst Bytes `yaml:"burst"`
}

// builtinEvents are the event names with a meaning of their own
// (docs/protocol.md#cam-event) or the agent's ONVIF kinds: a custom event
// cannot take them.
var builtinEvents = []string{"motion", "sound", "net", "record", "memorycard", "wifi", "snapshot", "tampering", "alarm"}

func validateCustomEvents(p string, names []string, bad func(path, format string, args ...any)) {
	for i, name := range names {
		q := p + "[" + strconv.Itoa(i) + "]"
		switch {
		case !validEventName(name):
			bad(q, "%q must be 1-32 characters of a-z 0-9 _ - (e.g. doorbell)", name)
		case slices.Contains(builtinEvents, name):
			bad(q, "%q is a built-in event name; pick another (e.g. %s-input)", name, name)
		case slices.Contains(names[:i], name):
			bad(q, "duplicate event %q", name)
		}
	}
}

func validEventName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (c *Config) validateMedia(bad func(path, format string, args ...any)) {
	if m := c.Events.PrebufferMemory; m != 0 && m < 1<<20 {
		bad("events.prebuffer_memory", "%s must be 0 (no pre-event video) or at least 1MiB", m)
	}
	if c.Uploads.SpoolMax < 16<<20 {
		bad("uploads.spool_max", "%s must be at least 16MiB (one event clip)", c.Uploads.SpoolMax)
	}
	if r := c.Uploads.MaxRate; r != 0 && r < 16<<10 {
		bad("uploads.max_rate", "%s bytes/s must be 0 (no cap) or at least 16KiB", r)
	}
	if c.Uploads.Burst != 0 && c.Uploads.MaxRate == 0 {
		bad("uploads.burst", "is only used with uploads.max_rate")
	}
}
