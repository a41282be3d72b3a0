package onvif

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/onvif/onvifsim"
)

// TestConnectFallsBackOnAnyGetServicesRefusal checks older firmware that
// refuses GetServices, with a SOAP fault or with a bare HTTP error page,
// is still connected through GetCapabilities.
func TestConnectFallsBackOnAnyGetServicesRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		bare bool
	}{
		{"soap fault", false},
		{"bare http 500", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, onvifsim.Options{Unsupported: []string{"GetServices"}, BareHTTPErrors: tc.bare})
			ctx := testCtx(t)
			c := newClient(t, sim.URL(), testUser, testPass, nil)
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("connect: %v", err)
			}
			if got, want := c.Services().Media, "http://"+sim.Addr()+onvifsim.MediaPath; got != want {
				t.Errorf("media address = %q, want %q", got, want)
			}
			if _, err := c.Profiles(ctx); err != nil {
				t.Fatalf("profiles: %v", err)
			}
			if reqs := strings.Join(sim.Requests(), ","); !strings.Contains(reqs, "GetServices,GetCapabilities") {
				t.Errorf("requests = %s", reqs)
			}
		})
	}
}

// TestSettingsReadWithoutOptions checks imaging and video source settings
// are still read (and imaging set) when the camera answers the options
// request with an error page rather than the options.
func TestSettingsReadWithoutOptions(t *testing.T) {
	sim := startSim(t, onvifsim.Options{Unsupported: []string{"GetOptions", "GetVideoSourceConfigurationOptions"}, BareHTTPErrors: true})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pr := profiles[0]
	im, err := c.ImagingSettings(ctx, pr.VideoSourceToken)
	if err != nil {
		t.Fatalf("imaging settings: %v", err)
	}
	if im.Brightness == nil {
		t.Fatal("imaging settings: no brightness")
	}
	b := im.Brightness.Value + 10
	got, err := c.SetImaging(ctx, pr.VideoSourceToken, ImagingPatch{Brightness: &b})
	if err != nil {
		t.Fatalf("set imaging: %v", err)
	}
	if got.Brightness == nil || got.Brightness.Value != b {
		t.Errorf("brightness after set = %+v, want %v", got.Brightness, b)
	}
	vsc, err := c.VideoSourceConfig(ctx, pr.VideoSourceConfigToken)
	if err != nil {
		t.Fatalf("video source configuration: %v", err)
	}
	if vsc.Token != pr.VideoSourceConfigToken || len(vsc.RotateModes) != 0 {
		t.Errorf("video source configuration = %+v", vsc)
	}
}

// TestRunEventsWithoutRenew: the camera refuses Renew (optional for pull
// points, whose keep-alive is PullMessages) and grants two seconds per
// subscription; events keep arriving on the one subscription, well past
// its first term.
func TestRunEventsWithoutRenew(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{Unsupported: []string{"Renew"}, MaxSubscriptionTerm: 2 * time.Second})
	ctx, cancel := context.WithCancel(testCtx(t))
	evs, done := runEvents(ctx, c)
	waitFor(t, "a refused renewal", func() bool { return count(sim.Requests(), "Renew") >= 1 })
	pullsAfterRenew := func() int {
		reqs := sim.Requests()
		for i, r := range reqs {
			if r == "Renew" {
				return count(reqs[i:], "PullMessages")
			}
		}
		return 0
	}
	// The first pull after the refusal waits out its long-poll with no
	// events, outliving the two-second term.
	waitFor(t, "two pulls after the refusal", func() bool { return pullsAfterRenew() >= 2 })
	sim.TriggerMotion(true)
	nextMotion(t, evs, done, true)
	reqs := sim.Requests()
	if n := count(reqs, "CreatePullPointSubscription"); n != 1 {
		t.Fatalf("%d subscriptions created, want 1 (pulls kept it alive): %v", n, reqs)
	}
	if n := count(reqs, "Renew"); n != 1 {
		t.Errorf("%d renewals tried, want 1 (not retried once refused)", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run events after cancel = %v, want nil", err)
	}
}

// TestDiscoverDeviceTypeOnly: a device announcing only tds:Device ignores
// probes for dn:NetworkVideoTransmitter, yet is found.
func TestDiscoverDeviceTypeOnly(t *testing.T) {
	sim := startSim(t, onvifsim.Options{DeviceTypeOnly: true})
	devs, err := Discover(testCtx(t), DiscoverOptions{Addr: sim.DiscoveryAddr(), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || len(devs[0].XAddrs) != 1 || devs[0].XAddrs[0] != sim.URL() || strings.Join(devs[0].Types, ",") != "Device" {
		t.Fatalf("devices %+v", devs)
	}
	if got := sim.Probes(); got != 2 {
		t.Errorf("camera answered %d probes, want 2 (the Device probe, sent twice)", got)
	}
}

// TestMedia2OnlyCamera: a camera with Media2 but no Media service still
// gives profiles, stream and snapshot URIs; Media (ver10) settings report
// ErrUnsupported.
func TestMedia2OnlyCamera(t *testing.T) {
	sim := startSim(t, onvifsim.Options{Media2Only: true})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if svc := c.Services(); svc.Media != "" || svc.Media2 != "http://"+sim.Addr()+onvifsim.Media2Path {
		t.Fatalf("services %+v", svc)
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		t.Fatalf("profiles: %v", err)
	}
	if len(profiles) != 2 || profiles[0].Token != "Profile_1" || profiles[0].VideoSourceToken != "VideoSource_1" {
		t.Fatalf("profiles %+v", profiles)
	}
	if v := profiles[0].Video; v == nil || v.Encoding != "H264" || v.Width != 1920 || v.Height != 1080 || v.FrameRate != 25 ||
		v.BitrateKbps != 4096 || v.GOP != 50 || v.Profile != "Main" {
		t.Fatalf("main video %+v", profiles[0].Video)
	}
	uri, err := c.StreamURI(ctx, "Profile_2")
	if err != nil || uri != "rtsp://127.0.0.1:554/Profile_2" {
		t.Fatalf("stream uri %q, %v", uri, err)
	}
	if snap, err := c.SnapshotURI(ctx, "Profile_1"); err != nil || !strings.HasSuffix(snap, onvifsim.SnapshotPath) {
		t.Fatalf("snapshot uri %q, %v", snap, err)
	}
	if _, err := c.VideoEncoder(ctx, profiles[0].Video.Token); !errors.Is(err, ErrUnsupported) {
		t.Errorf("media ver10 encoder read: err = %v, want ErrUnsupported", err)
	}
}
