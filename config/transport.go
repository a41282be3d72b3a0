package config

import (
	"fmt"
	"strings"
)

// RTSPTransport selects how RTP travels from the camera (key
// cameras[].rtsp_transport). The zero value is RTSPTransportTCP, the default,
// because interleaved TCP survives NAT, firewalls and Wi-Fi loss far better.
type RTSPTransport int8

// RTSP transports.
const (
	RTSPTransportTCP RTSPTransport = iota
	RTSPTransportUDP
)

// ParseRTSPTransport parses tcp or udp (case-insensitive).
func ParseRTSPTransport(s string) (RTSPTransport, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return RTSPTransportTCP, nil
	case "udp":
		return RTSPTransportUDP, nil
	}
	return RTSPTransportTCP, fmt.Errorf("%q is not one of tcp, udp", s)
}

// String returns the config spelling.
func (t RTSPTransport) String() string {
	switch t {
	case RTSPTransportTCP:
		return "tcp"
	case RTSPTransportUDP:
		return "udp"
	}
	return fmt.Sprintf("RTSPTransport(%d)", int8(t))
}

// MarshalText encodes the config spelling.
func (t RTSPTransport) MarshalText() ([]byte, error) {
	if t != RTSPTransportTCP && t != RTSPTransportUDP {
		return nil, fmt.Errorf("invalid rtsp transport %d", int8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText parses the config spelling.
func (t *RTSPTransport) UnmarshalText(b []byte) error {
	v, err := ParseRTSPTransport(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
