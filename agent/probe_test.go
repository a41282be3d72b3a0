package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/onvif/onvifsim"
)

const (
	probeUser = "installer"
	probePass = "pa55-Word!"
)

// probeCamera starts an ONVIF simulator whose GetStreamUri points at an RTSP
// simulator; rtspPass is the RTSP password (the ONVIF one is probePass).
func probeCamera(t *testing.T, opts onvifsim.Options, rtspPass string) *onvifsim.Server {
	t.Helper()
	rs := rtspsim.New(rtspsim.Options{Username: probeUser, Password: rtspPass})
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	opts.Username, opts.Password, opts.RTSPURL = probeUser, probePass, rs.URL()
	sim := onvifsim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func probe(t *testing.T, url, pass string) agent.ProbeReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := agent.Probe(ctx, agent.ProbeOptions{URL: url, Username: probeUser, Password: pass, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever happened, the password must not leak into either output.
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), pass) || strings.Contains(string(js), pass) {
		t.Errorf("password printed:\n%s\n%s", text.String(), js)
	}
	if !strings.Contains(text.String(), "verdict:   "+r.Verdict) {
		t.Errorf("text output lacks the verdict:\n%s", text.String())
	}
	return r
}

func TestProbeUsableCamera(t *testing.T) {
	sim := probeCamera(t, onvifsim.Options{ClockSkew: 2 * time.Hour}, probePass)
	r := probe(t, sim.URL(), probePass)

	if !r.Usable || !strings.HasPrefix(r.Verdict, "usable: H.264 640x360 stream reachable over RTSP") {
		t.Fatalf("usable %v, verdict %q; report %+v", r.Usable, r.Verdict, r)
	}
	if !slices.Equal(r.Auth, []string{onvif.AuthUsernameToken}) {
		t.Errorf("auth %v, want only WS-UsernameToken", r.Auth)
	}
	if r.Device == nil || r.Device.Manufacturer == "" || r.Device.Model == "" {
		t.Errorf("device info %+v", r.Device)
	}
	if r.Clock == nil || math.Abs(r.Clock.SkewSeconds-7200) > 5 {
		t.Errorf("clock %+v, want skew about +7200 s", r.Clock)
	}
	if r.Services["media"] == "" || r.Services["ptz"] == "" || r.Services["analytics"] == "" {
		t.Errorf("services %+v", r.Services)
	}
	if len(r.Profiles) != 2 {
		t.Fatalf("profiles %+v, want the sim's Main and Sub", r.Profiles)
	}
	main := r.Profiles[0]
	if main.Encoding != "H264" || main.Width != 1920 || main.Height != 1080 || main.FPS != 25 || main.BitrateKbps != 4096 {
		t.Errorf("main profile %+v, want H264 1920x1080 25 fps 4096 kbps", main)
	}
	var codecs []string
	for _, tr := range main.Tracks {
		codecs = append(codecs, tr.Codec)
		if !tr.Carried {
			t.Errorf("track %+v not carried", tr)
		}
	}
	if !slices.Equal(codecs, []string{"H264", "MPEG-4 Audio"}) {
		t.Errorf("main tracks %+v, want H264 and AAC", main.Tracks)
	}
	if main.StreamURI == "" || strings.Contains(main.StreamURI, "@") {
		t.Errorf("stream uri %q: want one, without credentials", main.StreamURI)
	}
	if s := r.Snapshot; s == nil || s.Error != "" || s.Width != 320 || s.Height != 180 || s.Bytes == 0 {
		t.Errorf("snapshot %+v, want a 320x180 JPEG", r.Snapshot)
	}
	for name, f := range map[string]*agent.ProbeFeature{"ptz": r.PTZ, "events": r.Events, "motion": r.Motion} {
		if f == nil || !f.Supported || f.Error != "" {
			t.Errorf("%s: %+v, want supported", name, f)
		}
	}
	if r.Events != nil && !slices.Contains(r.Events.Items, "motion") {
		t.Errorf("event kinds %v, want motion among them", r.Events.Items)
	}
	if !strings.Contains(r.Motion.Detail, "22x18") {
		t.Errorf("motion detail %q, want the 22x18 cell layout", r.Motion.Detail)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors %v", r.Errors)
	}
}

func TestProbeDigestCamera(t *testing.T) {
	sim := probeCamera(t, onvifsim.Options{RequireDigest: true}, probePass)
	r := probe(t, sim.URL(), probePass)
	if !r.Usable {
		t.Fatalf("not usable: %s", r.Verdict)
	}
	if !slices.Contains(r.Auth, onvif.AuthHTTPDigest) {
		t.Errorf("auth %v, want HTTP digest reported", r.Auth)
	}
	if r.Snapshot == nil || r.Snapshot.Width != 320 {
		t.Errorf("snapshot behind digest: %+v", r.Snapshot)
	}
}

func TestProbeFixedCameraWithoutExtras(t *testing.T) {
	sim := probeCamera(t, onvifsim.Options{NoPTZ: true, NoEvents: true, NoAnalytics: true}, probePass)
	r := probe(t, sim.URL(), probePass)
	if !r.Usable {
		t.Fatalf("not usable: %s", r.Verdict)
	}
	if r.Services["ptz"] != "" || r.Services["events"] != "" || r.Services["analytics"] != "" {
		t.Errorf("services %v: want no ptz, events or analytics", r.Services)
	}
	for name, f := range map[string]*agent.ProbeFeature{"ptz": r.PTZ, "events": r.Events, "motion": r.Motion} {
		if f == nil || f.Supported || f.Error != "" || f.Detail == "" {
			t.Errorf("%s: %+v, want unsupported with a reason", name, f)
		}
	}
}

func TestProbeNotUsable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/onvif/device_service"
	ln.Close()

	for _, tc := range []struct {
		name    string
		url     func(t *testing.T) string
		pass    string
		verdict []string
	}{
		{
			name:    "wrong password",
			url:     func(t *testing.T) string { return probeCamera(t, onvifsim.Options{}, probePass).URL() },
			pass:    "not-the-password",
			verdict: []string{"not usable: wrong credentials", "NotAuthorized"},
		},
		{
			name: "wrong password behind digest",
			url: func(t *testing.T) string {
				return probeCamera(t, onvifsim.Options{RequireDigest: true}, probePass).URL()
			},
			pass:    "not-the-password",
			verdict: []string{"not usable: wrong credentials", "HTTP 401"},
		},
		{
			name:    "unreachable",
			url:     func(*testing.T) string { return closed },
			pass:    probePass,
			verdict: []string{"not usable: camera unreachable at 127.0.0.1:", "(connection refused)"},
		},
		{
			name:    "rtsp refuses the onvif credentials",
			url:     func(t *testing.T) string { return probeCamera(t, onvifsim.Options{}, "other-rtsp-password").URL() },
			pass:    probePass,
			verdict: []string{"not usable: RTSP refused the credentials"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := probe(t, tc.url(t), tc.pass)
			if r.Usable {
				t.Fatalf("usable: %s", r.Verdict)
			}
			for _, want := range tc.verdict {
				if !strings.Contains(r.Verdict, want) {
					t.Errorf("verdict %q lacks %q", r.Verdict, want)
				}
			}
		})
	}
}
