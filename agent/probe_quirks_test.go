package agent_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

// TestProbeQuirks: against each camera behaviour of docs/camera-behaviours.md,
// camagent probe prints the right lines: the authentication the camera
// took, the services that work, a verdict per capability.
func TestProbeQuirks(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts onvifsim.Options
		pass string
		want []string // lines or parts of lines of the text output
		not  []string
	}{
		{
			name: "NoWSSecurity",
			opts: onvifsim.Options{NoWSSecurity: true},
			want: []string{"auth:      HTTP digest only (the camera refuses ONVIF user tokens)", "  video settings  works: now H.264 1920x1080", "verdict:   usable"},
		},
		{
			name: "WSSecurityOnly",
			opts: onvifsim.Options{WSSecurityOnly: true},
			want: []string{"auth:      ONVIF user token (WS-UsernameToken)", "verdict:   usable"},
		},
		{
			name: "ServicesOmitPTZ",
			opts: onvifsim.Options{ServicesOmitPTZ: true},
			want: []string{"  ptz        http://", "  ptz             works: pan/tilt, zoom"},
		},
		{
			name: "DeadServiceAddr imaging",
			opts: onvifsim.Options{DeadServiceAddr: "imaging"},
			want: []string{"/onvif/dead_service (does not answer: the connection was closed without an answer; treated as absent)",
				"  image settings  broken: the camera announces the service, but its address does not answer (the connection was closed without an answer)", "verdict:   usable"},
		},
		{
			name: "AuthFailedPlainFault",
			opts: onvifsim.Options{AuthFailedPlainFault: "Authentication failed"},
			pass: "not-the-password",
			want: []string{`verdict:   not usable: wrong credentials (ONVIF said "Authentication failed")`},
		},
		{
			name: "AuthFailedHTML",
			opts: onvifsim.Options{AuthFailedHTML: 400},
			pass: "not-the-password",
			want: []string{"verdict:   not usable: wrong credentials (ONVIF said HTTP 400"},
		},
		{
			name: "SnapshotPNG",
			opts: onvifsim.Options{SnapshotPNG: true},
			want: []string{"snapshot:  PNG 320x180,", "; converted to JPEG for the cloud", "  snapshot        works: PNG 320x180"},
		},
		{
			name: "clock unreadable",
			opts: onvifsim.Options{Unsupported: []string{"GetSystemDateAndTime"}},
			want: []string{"clock:     unknown (GetSystemDateAndTime failed: "},
			not:  []string{"skew +0.0s"},
		},
		{
			name: "EmptyEncoderOptions",
			opts: onvifsim.Options{EmptyEncoderOptions: true},
			want: []string{"  video settings  works: now H.264 1920x1080 25 fps 4096 kbps; the camera's options are empty: changes are tried and read back"},
		},
		{
			name: "EncoderOptionsFault",
			opts: onvifsim.Options{EncoderOptionsFault: true},
			want: []string{"  video settings  works: now H.264 1920x1080 25 fps 4096 kbps; the options request failed (", "TypeError: method is not a function"},
		},
		{
			name: "fixed camera",
			opts: onvifsim.Options{NoPTZ: true, NoImaging: true, NoAudioOutput: true},
			want: []string{"  ptz             not offered: no PTZ service", "  image settings  not offered: no imaging service", "ptz:       no, no PTZ service"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pass := tc.pass
			if pass == "" {
				pass = probePass
			}
			sim := probeCamera(t, tc.opts, probePass)
			r := probe(t, sim.URL(), pass)
			var out bytes.Buffer
			if err := r.WriteText(&out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output has %q:\n%s", n, out.String())
				}
			}
		})
	}
}
