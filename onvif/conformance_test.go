package onvif

import (
	"strings"
	"testing"

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
