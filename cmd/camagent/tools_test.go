package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/onvif/onvifsim"
)

const (
	toolUser = "installer"
	toolPass = "tool-S3cret"
)

// toolCamera is an ONVIF simulator whose stream URI points at an RTSP
// simulator with the same credentials.
func toolCamera(t *testing.T, opts onvifsim.Options) *onvifsim.Server {
	t.Helper()
	rs := rtspsim.New(rtspsim.Options{Username: toolUser, Password: toolPass})
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	opts.Username, opts.Password, opts.RTSPURL = toolUser, toolPass, rs.URL()
	sim := onvifsim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func runTool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	if strings.Contains(stdout.String()+stderr.String(), toolPass) {
		t.Errorf("password printed:\n%s\n%s", stdout.String(), stderr.String())
	}
	return stdout.String(), err
}

func TestDiscoverJSON(t *testing.T) {
	sim := toolCamera(t, onvifsim.Options{DiscoveryName: "Front Door"})
	out, err := runTool(t, "discover", "--json", "--timeout", "300ms", "--addr", sim.DiscoveryAddr())
	if err != nil {
		t.Fatal(err)
	}
	var cams []struct {
		Endpoint string `json:"endpoint"`
		Name     string `json:"name"`
		Hardware string `json:"hardware"`
		XAddrs   []struct {
			URL    string `json:"url"`
			Status string `json:"status"`
		} `json:"xaddrs"`
	}
	if err := json.Unmarshal([]byte(out), &cams); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(cams) != 1 || cams[0].Name != "Front Door" || cams[0].Hardware == "" || cams[0].Endpoint == "" {
		t.Fatalf("cameras %+v", cams)
	}
	if x := cams[0].XAddrs; len(x) != 1 || x[0].URL != sim.URL() || x[0].Status != "needs-login" {
		t.Errorf("xaddrs %+v, want %s needing login", x, sim.URL())
	}

	table, err := runTool(t, "discover", "--timeout", "300ms", "--addr", sim.DiscoveryAddr())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(table, "ADDRESS") || !strings.Contains(table, sim.URL()) || !strings.Contains(table, "Front Door") {
		t.Errorf("table:\n%s", table)
	}
}

func TestDiscoverNobody(t *testing.T) {
	// A UDP port where nobody answers: an empty JSON list, not null.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	out, err := runTool(t, "discover", "--json", "--timeout", "200ms", "--addr", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("output %q, want []", out)
	}
}

type probeJSON struct {
	Usable  bool     `json:"usable"`
	Verdict string   `json:"verdict"`
	Auth    []string `json:"auth"`
	Clock   struct {
		SkewSeconds float64 `json:"skew_seconds"`
	} `json:"clock"`
	Profiles []struct {
		Tracks []struct {
			Codec string `json:"codec"`
		} `json:"tracks"`
	} `json:"profiles"`
	Snapshot struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	} `json:"snapshot"`
}

func TestProbeUsableJSON(t *testing.T) {
	sim := toolCamera(t, onvifsim.Options{ClockSkew: 2 * time.Hour})
	t.Setenv(probePasswordEnv, toolPass) // not on the command line
	out, err := runTool(t, "probe", "--onvif", sim.URL(), "--username", toolUser, "--json")
	if err != nil {
		t.Fatalf("probe failed: %v\n%s", err, out)
	}
	var r probeJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if !r.Usable || !strings.HasPrefix(r.Verdict, "usable: H.264") {
		t.Errorf("usable %v, verdict %q", r.Usable, r.Verdict)
	}
	if math.Abs(r.Clock.SkewSeconds-7200) > 5 {
		t.Errorf("clock skew %v s, want about 7200", r.Clock.SkewSeconds)
	}
	if len(r.Profiles) == 0 {
		t.Fatal("no profiles")
	}
	var codecs []string
	for _, tr := range r.Profiles[0].Tracks {
		codecs = append(codecs, tr.Codec)
	}
	if !slices.Equal(codecs, []string{"H264", "MPEG-4 Audio"}) {
		t.Errorf("tracks %v, want H.264 and AAC", codecs)
	}
	if r.Snapshot.Width != 320 || r.Snapshot.Height != 180 {
		t.Errorf("snapshot %dx%d, want 320x180", r.Snapshot.Width, r.Snapshot.Height)
	}
}

func TestProbeDigestText(t *testing.T) {
	sim := toolCamera(t, onvifsim.Options{RequireDigest: true})
	out, err := runTool(t, "probe", "--onvif", sim.URL(), "--username", toolUser, "--password", toolPass)
	if err != nil {
		t.Fatalf("probe failed: %v\n%s", err, out)
	}
	for _, want := range []string{"auth:      ONVIF user token and HTTP digest", "track:   video H264", "snapshot:  JPEG 320x180", "verdict:   usable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestProbeNotUsable(t *testing.T) {
	sim := toolCamera(t, onvifsim.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/onvif/device_service"
	ln.Close()
	for _, tc := range []struct {
		name, url, pass, want string
	}{
		{"wrong password", sim.URL(), "wrong-" + toolPass, "verdict:   not usable: wrong credentials (ONVIF said NotAuthorized)"},
		{"unreachable", dead, toolPass, "verdict:   not usable: camera unreachable"},
		{"no credentials, bare address", strings.TrimSuffix(strings.TrimPrefix(sim.URL(), "http://"), "/onvif/device_service"), "",
			"verdict:   not usable: camera wants credentials (ONVIF said NotAuthorized)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(probePasswordEnv, tc.pass)
			args := []string{"probe", "--onvif", tc.url}
			if tc.pass != "" {
				args = append(args, "--username", toolUser)
			}
			out, err := runTool(t, args...)
			if !errors.Is(err, errNotUsable) {
				t.Errorf("error %v, want errNotUsable (exit 1)", err)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestProbeUsage(t *testing.T) {
	if _, err := runTool(t, "probe", "--username", "x"); !isUsage(err) {
		t.Errorf("probe without --onvif: %v, want a usage error", err)
	}
}

// TestHashPassword: the hash printed for a password on stdin is one the
// config takes for http.password_hash and bcrypt matches to that password.
func TestHashPassword(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runHashPassword([]string{"--cost", "4"}, strings.NewReader("correct horse\n"), &out, &errOut); err != nil {
		t.Fatalf("hash-password: %v", err)
	}
	hash := strings.TrimSpace(out.String())
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")) != nil {
		t.Fatalf("hash %q does not match the password", hash)
	}
	if strings.Contains(out.String()+errOut.String(), "correct horse") {
		t.Error("hash-password prints the password")
	}
	cfg := writeConfig(t, "http: {username: ops, password_hash: \""+hash+"\"}\ncameras:\n  - {name: lobby, token: "+specToken+", rtsp: \"rtsp://127.0.0.1:8554/s\"}\n")
	var check bytes.Buffer
	if err := run(context.Background(), []string{"check", "--config", cfg}, &check, &check); err != nil {
		t.Fatalf("check refuses the hash: %v", err)
	}
	if !strings.Contains(check.String(), "asks for user ops and the configured password") {
		t.Errorf("check says:\n%s", check.String())
	}
	for _, in := range []string{"", "\n"} {
		if err := runHashPassword(nil, strings.NewReader(in), &out, &errOut); err == nil || !strings.Contains(err.Error(), "empty password") {
			t.Errorf("stdin %q: %v, want an empty password refused", in, err)
		}
	}
	if err := runHashPassword([]string{"--cost", "99"}, strings.NewReader("pw\n"), &out, &errOut); !isUsage(err) {
		t.Errorf("cost 99: %v, want a usage error", err)
	}
}

// TestCheckExplainsGeneratedPassword: without credentials, check says where
// the generated password is and which endpoints ask for it.
func TestCheckExplainsGeneratedPassword(t *testing.T) {
	cfg := writeConfig(t, "state_dir: /srv/cam\nhttp: {listen: \"0.0.0.0:8089\"}\ncameras:\n  - {name: lobby, token: "+specToken+", rtsp: \"rtsp://127.0.0.1:8554/s\"}\n")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"check", "--config", cfg}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"status page, status.json, snapshots: asks for user admin and the generated password",
		"event input (POST /api/v1/cameras/NAME/events): asks for user admin and the generated password",
		"/healthz, /readyz: open",
		"the generated password is in /srv/cam/http-password",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
}
