package agent_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// TestDiscoverChecksAddresses discovers simulators through their loopback
// WS-Discovery responders (never multicast) and checks their addresses.
func TestDiscoverChecksAddresses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts onvifsim.Options
		want agent.AddrStatus
	}{
		{"camera with login", onvifsim.Options{Username: "admin", Password: "x", DiscoveryName: "Gate Cam"}, agent.AddrLogin},
		{"open camera", onvifsim.Options{DiscoveryName: "Lab Cam"}, agent.AddrOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := onvifsim.New(tc.opts)
			if err := sim.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sim.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cams, err := agent.Discover(ctx, agent.DiscoverOptions{Addr: sim.DiscoveryAddr(), Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if len(cams) != 1 {
				t.Fatalf("found %+v, want one camera", cams)
			}
			c := cams[0]
			if c.Name != tc.opts.DiscoveryName || c.Hardware == "" || !strings.HasPrefix(c.Endpoint, "urn:uuid:") {
				t.Errorf("camera %+v", c)
			}
			if len(c.Addrs) != 1 || c.Addrs[0].URL != sim.URL() || c.Addrs[0].Status != tc.want {
				t.Errorf("addresses %+v, want %s at %s", c.Addrs, tc.want, sim.URL())
			}
			var b bytes.Buffer
			if err := agent.WriteDiscoverTable(&b, cams); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), sim.URL()) || !strings.Contains(b.String(), tc.opts.DiscoveryName) {
				t.Errorf("table lacks the camera:\n%s", b.String())
			}
		})
	}
}

// TestDiscoverAddressGone: the camera announces an address where nothing
// answers (wrong network setting, NAT, a stale lease).
func TestDiscoverAddressGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	sim := onvifsim.New(onvifsim.Options{AdvertiseAddr: dead})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cams, err := agent.Discover(ctx, agent.DiscoverOptions{Addr: sim.DiscoveryAddr(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(cams) != 1 || len(cams[0].Addrs) != 1 {
		t.Fatalf("found %+v, want one camera with one address", cams)
	}
	a := cams[0].Addrs[0]
	if !strings.Contains(a.URL, dead) || a.Status != agent.AddrUnreachable || a.Detail != "connection refused" {
		t.Errorf("address %+v, want %s unreachable with a reason", a, dead)
	}
}
