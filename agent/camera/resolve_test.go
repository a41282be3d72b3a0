package camera

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// onvifCamera is a camera configured by its ONVIF URL alone; nothing of it runs.
func onvifCamera(t *testing.T, url string, timeout time.Duration) *Camera {
	cam := config.Camera{Name: "demo", ONVIF: config.ONVIF{
		URL: url, Username: "admin", Password: config.NewSecret("pw"),
		Timeout: timeout, MaxClockSkew: config.DefaultMaxClockSkew,
	}}
	return New(Options{Camera: cam, Logger: zaptest.NewLogger(t)})
}

// cameraOff is a simulated camera switched off and a Camera configured
// for it by its ONVIF URL.
func cameraOff(t *testing.T) (*onvifsim.Server, *Camera) {
	sim := onvifsim.New(onvifsim.Options{Addr: loopback(), Username: "admin", Password: "pw", RTSPURL: "rtsp://127.0.0.1:1/main"})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	sim.Stop()
	return sim, onvifCamera(t, sim.URL(), 5*time.Second)
}

// nextMessage is what the camera's goroutines sent its owner next.
func nextMessage(t *testing.T, w *Camera) message {
	t.Helper()
	select {
	case m := <-w.inbox:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("nothing sent to the owner")
		return nil
	}
}

// A camera that is off when it is first learnt (the gateway was up before
// it after a power cut) is knocked at, without a SOAP request, and learnt
// as soon as its ONVIF port answers, instead of failing the run and
// waiting out the camera's backoff of up to a minute.
func TestResolveWaitsForACameraThatIsOff(t *testing.T) {
	sim, w := cameraOff(t)
	background(t, w.resolveOnce)

	got := nextMessage(t, w)
	if m, ok := got.(resolveAway); !ok || !errors.Is(m.err, onvif.ErrUnreachable) {
		t.Fatalf("camera off: owner told %#v, want resolveAway with ErrUnreachable", got)
	}
	if err := sim.Restart(); err != nil {
		t.Fatal(err)
	}
	got = nextMessage(t, w)
	if m, ok := got.(resolved); !ok || m.id.onvif == nil {
		t.Fatalf("camera back: owner told %#v, want resolved over ONVIF", got)
	}
}

// A camera whose ONVIF port accepts and then does not answer is there:
// learning it fails to the owner at once, so the backoff paces the next
// try instead of a knock that would get through every time.
func TestResolveFailsForAHungCamera(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	t.Cleanup(func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	w := onvifCamera(t, "http://"+ln.Addr().String()+"/onvif/device_service", 200*time.Millisecond)
	go w.resolveOnce(context.Background())
	got := nextMessage(t, w)
	if m, ok := got.(resolveFailed); !ok || !errors.Is(m.err, onvif.ErrUnreachable) {
		t.Fatalf("hung camera: owner told %#v, want resolveFailed with ErrUnreachable", got)
	}
}

// A camera served from its configured RTSP URL while its ONVIF is off is
// knocked at, and its ONVIF learnt on the knock that finds it back: one
// failure reported for the whole time it was off, where the backoff tried
// again after 1.6–2.4 s.
func TestRelearnONVIFWhenTheCameraIsBack(t *testing.T) {
	sim, w := cameraOff(t)
	done := make(chan struct{})
	background(t, func(ctx context.Context) {
		defer close(done)
		w.relearnONVIF(ctx)
	})

	got := nextMessage(t, w)
	if m, ok := got.(onvifRetry); !ok || !errors.Is(m.err, onvif.ErrUnreachable) {
		t.Fatalf("camera off: owner told %#v, want onvifRetry with ErrUnreachable", got)
	}
	off := time.NewTimer(3 * time.Second) // longer than the backoff's first wait
	select {
	case got = <-w.inbox:
		t.Fatalf("while the camera is off, owner told %#v, want nothing more", got)
	case <-off.C:
	}
	if err := sim.Restart(); err != nil {
		t.Fatal(err)
	}
	got = nextMessage(t, w)
	if m, ok := got.(onvifLearned); !ok || m.id.onvif == nil {
		t.Fatalf("camera back: owner told %#v, want onvifLearned", got)
	}
	<-done // learnt: relearning ends
}
