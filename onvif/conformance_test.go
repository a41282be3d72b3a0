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
