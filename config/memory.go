package config

import "strings"

// DefaultMemoryLimit is the Go runtime's soft memory limit: on a 512 MB
// gateway it leaves the OS, a recorder's page cache and other services
// half the RAM, and the garbage collector works harder only when the heap
// nears it. The agent normally stays far below (tens of MiB for 16
// cameras); the limit turns a burst (many clips, a slow uplink) into more
// GC work instead of an OOM kill.
const DefaultMemoryLimit = 256 << 20

// Bounds of memory_limit other than off. Below the minimum the collector
// would run continuously for 16 cameras; the maximum only keeps the value
// sane (the limit is in addition to GOGC, never a reservation).
const (
	minMemoryLimit = 32 << 20
	maxMemoryLimit = 1 << 40
)

// MemoryLimit is the memory_limit key: a size, or off (also 0) for no
// limit but GOGC.
type MemoryLimit Bytes

// UnmarshalText implements encoding.TextUnmarshaler for the decoder.
func (m *MemoryLimit) UnmarshalText(text []byte) error {
	if strings.EqualFold(strings.TrimSpace(string(text)), "off") {
		*m = 0
		return nil
	}
	b, err := ParseBytes(string(text))
	if err != nil {
		return err
	}
	*m = MemoryLimit(b)
	return nil
}

// String is the config spelling: off or a size.
func (m MemoryLimit) String() string {
	if m == 0 {
		return "off"
	}
	return Bytes(m).String()
}

func (c *Config) validateMemoryLimit(bad func(path, format string, args ...any)) {
	if m := c.MemoryLimit; m != 0 && (m < minMemoryLimit || m > maxMemoryLimit) {
		bad("memory_limit", "%s must be off (or 0) or between %s and %s", m, Bytes(minMemoryLimit), Bytes(maxMemoryLimit))
	}
}
