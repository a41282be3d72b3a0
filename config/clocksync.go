package config

import (
	"fmt"
	"strings"
)

// ClockSync says whether the agent corrects a camera whose clock is off by
// more than max_clock_skew (key cameras[].onvif.clock_sync). The zero value
// is ClockSyncOff, the default: changing a camera's clock is intrusive (it
// may feed recorders or other systems), so correcting it is opt-in.
type ClockSync int8

// Clock sync modes.
const (
	// ClockSyncOff leaves the camera's clock alone; the agent only warns.
	ClockSyncOff ClockSync = iota
	// ClockSyncGateway sets the camera's clock manually to the gateway's UTC.
	ClockSyncGateway
	// ClockSyncNTP points the camera at NTP servers and switches it to NTP.
	ClockSyncNTP
)

// ParseClockSync parses off, gateway or ntp (case-insensitive).
func ParseClockSync(s string) (ClockSync, error) {
	switch strings.ToLower(s) {
	case "off":
		return ClockSyncOff, nil
	case "gateway":
		return ClockSyncGateway, nil
	case "ntp":
		return ClockSyncNTP, nil
	}
	return ClockSyncOff, fmt.Errorf("%q is not one of off, gateway, ntp", s)
}

// String returns the config spelling.
func (c ClockSync) String() string {
	switch c {
	case ClockSyncOff:
		return "off"
	case ClockSyncGateway:
		return "gateway"
	case ClockSyncNTP:
		return "ntp"
	}
	return fmt.Sprintf("ClockSync(%d)", int8(c))
}

// MarshalText encodes the config spelling.
func (c ClockSync) MarshalText() ([]byte, error) {
	if c < ClockSyncOff || c > ClockSyncNTP {
		return nil, fmt.Errorf("invalid clock sync %d", int8(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText parses the config spelling.
func (c *ClockSync) UnmarshalText(b []byte) error {
	v, err := ParseClockSync(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
