package onvif

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camagent/camagent/onvif/onvifsim"
)

// TestNoWSSecurityCamera is a camera whose SOAP stack refuses the
// WS-Security header (MustUnderstand) and takes HTTP digest only.
func TestNoWSSecurityCamera(t *testing.T) {
	sim := startSim(t, onvifsim.Options{NoWSSecurity: true, ClockSkew: 2 * time.Hour})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if got := c.Auth(); got != AuthDigest {
		t.Errorf("auth = %v, want %v", got, AuthDigest)
	}
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Fatalf("device info: %v", err)
	}
	if p, err := c.Profiles(ctx); err != nil || len(p) != 2 {
		t.Fatalf("profiles: %v, %v", p, err)
	}
	// Refused once, then remembered: later calls go straight to digest.
	if n := sim.Count("GetServices"); n != 2 {
		t.Errorf("GetServices sent %d times, want 2 (refused, then digest only)", n)
	}
	if a, b := sim.Count("GetDeviceInformation"), sim.Count("GetProfiles"); a != 1 || b != 1 {
		t.Errorf("GetDeviceInformation %d, GetProfiles %d times, want once each", a, b)
	}

	bad := newClient(t, sim.URL(), testUser, "wrong", nil)
	if err := bad.Connect(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: err = %v, want ErrUnauthorized", err)
	}
}

// TestWSSecurityOnlyCamera is a camera that answers 401 without a digest
// challenge to anything without a WS-UsernameToken, the clock included.
func TestWSSecurityOnlyCamera(t *testing.T) {
	sim := startSim(t, onvifsim.Options{WSSecurityOnly: true})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if got := c.Auth(); got != AuthWSUsernameToken {
		t.Errorf("auth = %v, want %v", got, AuthWSUsernameToken)
	}
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Fatalf("device info: %v", err)
	}
	bad := newClient(t, sim.URL(), testUser, "wrong", nil)
	if err := bad.Connect(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: err = %v, want ErrUnauthorized", err)
	}
}

// switchingCamera forwards to one of several simulators, like one camera
// whose firmware changes between calls.
type switchingCamera struct {
	target atomic.Pointer[onvifsim.Server]
	srv    *httptest.Server
}

func newSwitchingCamera(t *testing.T, first *onvifsim.Server) *switchingCamera {
	sc := &switchingCamera{}
	sc.target.Store(first)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse("http://" + sc.target.Load().Addr())
		r.SetURL(u)
	}}
	sc.srv = httptest.NewServer(proxy)
	t.Cleanup(sc.srv.Close)
	return sc
}

// TestAuthModeRelearned checks a remembered choice is given up when the
// camera stops accepting it, and the other one remembered instead.
func TestAuthModeRelearned(t *testing.T) {
	digestOnly := startSim(t, onvifsim.Options{NoWSSecurity: true, ClockSkew: time.Hour})
	tokenOnly := startSim(t, onvifsim.Options{WSSecurityOnly: true})
	cam := newSwitchingCamera(t, digestOnly)
	ctx := testCtx(t)
	c := newClient(t, cam.srv.URL+onvifsim.DevicePath, testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if got := c.Auth(); got != AuthDigest {
		t.Fatalf("auth = %v, want %v", got, AuthDigest)
	}

	// New firmware: WS-UsernameToken only (and the clock set right).
	cam.target.Store(tokenOnly)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect after firmware change: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.DeviceInfo(ctx); err != nil {
			t.Fatalf("device info %d: %v", i, err)
		}
	}
	if got := c.Auth(); got != AuthWSUsernameToken {
		t.Errorf("auth = %v, want %v", got, AuthWSUsernameToken)
	}
	if n := tokenOnly.Count("GetDeviceInformation"); n != 2 {
		t.Errorf("GetDeviceInformation sent %d times, want 2 (the new choice was not remembered)", n)
	}

	// And back, without a reconnect: the token is refused, digest works.
	cam.target.Store(digestOnly)
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Fatalf("device info after going back: %v", err)
	}
	if got := c.Auth(); got != AuthDigest {
		t.Errorf("auth = %v, want %v", got, AuthDigest)
	}
}

// TestServicesOmitPTZ is firmware that lists PTZ in GetCapabilities only,
// announcing its services at localhost.
func TestServicesOmitPTZ(t *testing.T) {
	sim := startSim(t, onvifsim.Options{ServicesOmitPTZ: true, AdvertiseAddr: "localhost"})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if got, want := c.Services().PTZ, "http://"+sim.Addr()+onvifsim.PTZPath; got != want {
		t.Errorf("ptz address = %q, want %q", got, want)
	}
	if _, err := c.PTZConfig(ctx, "Profile_1"); err != nil {
		t.Errorf("ptz config: %v", err)
	}
	if got, want := c.Services().Media, "http://"+sim.Addr()+onvifsim.MediaPath; got != want {
		t.Errorf("media address = %q, want %q (from GetServices)", got, want)
	}
}

// TestDeadServiceAddr is a camera announcing imaging at an address that
// closes the connection: imaging is reported broken, the rest works.
func TestDeadServiceAddr(t *testing.T) {
	sim := startSim(t, onvifsim.Options{DeadServiceAddr: "imaging"})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	for i := 0; i < 2; i++ {
		_, err := c.ImagingSettings(ctx, "VideoSource_1")
		if !errors.Is(err, ErrServiceBroken) || !errors.Is(err, ErrUnsupported) || errors.Is(err, ErrUnreachable) {
			t.Fatalf("imaging %d: err = %v, want ErrServiceBroken (and ErrUnsupported, not ErrUnreachable)", i, err)
		}
	}
	if n := sim.Count(onvifsim.DeadPath); n != 1 {
		t.Errorf("dead address called %d times, want once", n)
	}
	probs := c.ServiceProblems()
	if len(probs) != 1 || !errors.Is(probs["imaging"], ErrServiceBroken) {
		t.Errorf("service problems = %v, want imaging", probs)
	}
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Errorf("device info: %v", err)
	}
	if _, err := c.PTZConfig(ctx, "Profile_1"); err != nil {
		t.Errorf("ptz config: %v", err)
	}

	// A camera that is gone altogether is unreachable, not broken.
	sim.Close()
	if _, err := c.PTZConfig(ctx, "Profile_1"); !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrServiceBroken) {
		t.Errorf("ptz with the camera gone: err = %v, want ErrUnreachable", err)
	}
}

// TestAuthFailedNonStandard checks wrong credentials refused without
// NotAuthorized or a 401 are still ErrUnauthorized, in plain words.
func TestAuthFailedNonStandard(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     onvifsim.Options
		wantText string
	}{
		{"plain fault authentication failed", onvifsim.Options{AuthFailedPlainFault: "Authentication failed"},
			"the camera answered with an error: Authentication failed"},
		{"plain fault unauthorized", onvifsim.Options{AuthFailedPlainFault: "Unauthorized"},
			"the camera answered with an error: Unauthorized"},
		{"plain fault invalid password", onvifsim.Options{AuthFailedPlainFault: "Invalid username or password"},
			"the camera answered with an error: Invalid username or password"},
		{"html 400", onvifsim.Options{AuthFailedHTML: http.StatusBadRequest},
			"the camera answered with an error: Error Error Invalid username or password (http 400)"},
		{"html 500", onvifsim.Options{AuthFailedHTML: http.StatusInternalServerError},
			"the camera answered with an error: Error Error Invalid username or password (http 500)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, tc.opts)
			ctx := testCtx(t)
			err := newClient(t, sim.URL(), testUser, "wrong", nil).Connect(ctx)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("wrong password: err = %v, want ErrUnauthorized", err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("err = %q, want it to say %q", err, tc.wantText)
			}
			if err := newClient(t, sim.URL(), testUser, testPass, nil).Connect(ctx); err != nil {
				t.Errorf("right password: %v", err)
			}
		})
	}
}

// TestUnknownFaultInPlainWords checks a fault the package has no sentinel
// for reads as the camera's words.
func TestUnknownFaultInPlainWords(t *testing.T) {
	sim := startSim(t, onvifsim.Options{})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	sim.FaultNext("GetDeviceInformation")
	_, err := c.DeviceInfo(ctx)
	var f *Fault
	if !errors.As(err, &f) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v", err)
	}
	if want := "onvif: get device information: the camera answered with an error: injected fault (soap fault Sender/InvalidArgVal/NoEntity)"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

// TestServiceThatAnsweredIsNotCondemned: a service that worked and then
// drops a connection (a hiccup, a long pull cut short) stays available.
func TestServiceThatAnsweredIsNotCondemned(t *testing.T) {
	sim := startSim(t, onvifsim.Options{})
	var cut atomic.Bool
	target, _ := url.Parse("http://" + sim.Addr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	cam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut.Load() && r.URL.Path == onvifsim.PTZPath {
			panic(http.ErrAbortHandler) // the connection is closed unanswered
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(cam.Close)
	ctx := testCtx(t)
	c := newClient(t, cam.URL+onvifsim.DevicePath, testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PTZConfig(ctx, "Profile_1"); err != nil {
		t.Fatalf("ptz config: %v", err)
	}
	cut.Store(true)
	if _, err := c.PTZConfig(ctx, "Profile_1"); !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrServiceBroken) {
		t.Errorf("ptz config cut: err = %v, want ErrUnreachable", err)
	}
	if p := c.ServiceProblems(); len(p) != 0 {
		t.Errorf("service problems = %v, want none", p)
	}
	cut.Store(false)
	if _, err := c.PTZConfig(ctx, "Profile_1"); err != nil {
		t.Errorf("ptz config after the hiccup: %v", err)
	}
}
