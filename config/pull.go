package config

import (
	"fmt"
	"strings"
	"time"
)

// DefaultPullIdleTimeout is how long a stream stays pulled after its last
// reader left, so a viewer who reopens the live view finds it warm.
const DefaultPullIdleTimeout = 30 * time.Second

// Pull says which of a camera's RTSP streams are pulled while nothing
// reads them (key cameras[].pull). Cameras allow few RTSP sessions (often
// 2–4, shared with NVRs and viewers), and each pull costs the gateway CPU.
type Pull struct {
	// Warm is which streams stay pulled without a reader; default main.
	Warm PullWarm `yaml:"warm"`
	// IdleTimeout is how long a stream not kept warm stays pulled after
	// its last reader left; default 30s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// PullWarm names the streams kept pulled without a reader.
type PullWarm int8

// Warm policies.
const (
	// PullWarmMain keeps the main stream pulled, so a live view starts at
	// its next key frame at once; the sub stream is pulled on demand.
	PullWarmMain PullWarm = iota
	// PullWarmAll keeps every stream pulled.
	PullWarmAll
	// PullWarmNone pulls only on demand, also the main stream (the camera
	// is then pulled briefly each time the cloud session registers it).
	PullWarmNone
)

// ParsePullWarm parses main, all or none (case-insensitive).
func ParsePullWarm(s string) (PullWarm, error) {
	switch strings.ToLower(s) {
	case "main":
		return PullWarmMain, nil
	case "all":
		return PullWarmAll, nil
	case "none":
		return PullWarmNone, nil
	}
	return PullWarmMain, fmt.Errorf("%q is not one of main, all, none", s)
}

// String returns the config spelling.
func (w PullWarm) String() string {
	switch w {
	case PullWarmMain:
		return "main"
	case PullWarmAll:
		return "all"
	case PullWarmNone:
		return "none"
	}
	return fmt.Sprintf("PullWarm(%d)", int8(w))
}

// MarshalText encodes the config spelling.
func (w PullWarm) MarshalText() ([]byte, error) {
	if w < PullWarmMain || w > PullWarmNone {
		return nil, fmt.Errorf("invalid pull.warm %d", int8(w))
	}
	return []byte(w.String()), nil
}

// UnmarshalText parses the config spelling.
func (w *PullWarm) UnmarshalText(b []byte) error {
	v, err := ParsePullWarm(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}
