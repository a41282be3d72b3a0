package onvif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/use-go/onvif/device"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const (
	testUser = "admin"
	testPass = "s3cret!<&>"
)

func startSim(t *testing.T, opts onvifsim.Options) *onvifsim.Server {
	t.Helper()
	if opts.Username == "" {
		opts.Username, opts.Password = testUser, testPass
	}
	s := onvifsim.New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, rawURL, user, pass string, log *zap.Logger) *Client {
	t.Helper()
	c, err := New(Options{URL: rawURL, Username: user, Password: pass, Logger: log, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSkewedCameraClock is the main path of the agent: the camera's clock is
// two hours ahead, so only tokens computed in the camera's clock are accepted.
func TestSkewedCameraClock(t *testing.T) {
	sim := startSim(t, onvifsim.Options{
		ClockSkew:  2 * time.Hour,
		RTSPURL:    "rtsp://127.0.0.1:8554/main",
		DeviceInfo: onvifsim.DeviceInfo{Manufacturer: "ExampleCam", Model: "EC-200", SerialNumber: "EC200-0001234"},
	})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if off := c.ClockOffset(); off < 2*time.Hour-3*time.Second || off > 2*time.Hour+3*time.Second {
		t.Fatalf("clock offset = %v, want about 2h", off)
	}
	if c.Host() != "127.0.0.1" {
		t.Errorf("host = %q", c.Host())
	}

	info, err := c.DeviceInfo(ctx)
	if err != nil {
		t.Fatalf("device info: %v", err)
	}
	want := DeviceInfo{Manufacturer: "ExampleCam", Model: "EC-200", FirmwareVersion: "1.0.0", SerialNumber: "EC200-0001234", HardwareID: "SIMHW1"}
	if info != want {
		t.Errorf("device info = %+v, want %+v", info, want)
	}

	profiles, err := c.Profiles(ctx)
	if err != nil {
		t.Fatalf("profiles: %v", err)
	}
	if len(profiles) != 2 {
		t.Fatalf("got %d profiles, want 2", len(profiles))
	}
	main := profiles[0]
	if main.Token != "Profile_1" || main.Name != "mainStream" || main.VideoSourceToken != "VideoSource_1" {
		t.Errorf("main profile = %+v", main)
	}
	wantVideo := VideoEncoderConfig{Token: "VideoEncoder_Profile_1", Name: "mainStream_video", Encoding: "H264",
		Width: 1920, Height: 1080, FrameRate: 25, BitrateKbps: 4096, GOP: 50, Profile: "Main", Quality: 4, EncodingInterval: 1}
	if main.Video == nil || *main.Video != wantVideo {
		t.Errorf("main video = %+v, want %+v", main.Video, wantVideo)
	}
	if main.Audio == nil || main.Audio.Encoding != "G711" || main.Audio.BitrateKbps != 64 || main.Audio.SampleRateKHz != 8 {
		t.Errorf("main audio = %+v", main.Audio)
	}
	if sub := profiles[1]; sub.Video == nil || sub.Video.Width != 640 || sub.Video.Height != 360 || sub.Audio != nil {
		t.Errorf("sub profile = %+v video %+v", sub, sub.Video)
	}

	uri, err := c.StreamURI(ctx, main.Token)
	if err != nil || uri != "rtsp://127.0.0.1:8554/main" {
		t.Errorf("stream uri = %q, %v", uri, err)
	}

	snap, err := c.SnapshotURI(ctx, main.Token)
	if err != nil {
		t.Fatalf("snapshot uri: %v", err)
	}
	resp, err := http.Get(snap)
	if err != nil {
		t.Fatalf("get snapshot: %v", err)
	}
	img, err := jpeg.Decode(resp.Body)
	resp.Body.Close()
	if err != nil || img.Bounds().Dx() == 0 {
		t.Errorf("snapshot is not a jpeg: %v", err)
	}

	encs, err := c.VideoEncoderConfigs(ctx)
	if err != nil || len(encs) != 2 || encs[0] != wantVideo {
		t.Errorf("encoder configs = %+v, %v", encs, err)
	}

	opts, err := c.VideoEncoderOptions(ctx, main.Video.Token, main.Token)
	if err != nil {
		t.Fatalf("encoder options: %v", err)
	}
	h264, ok := opts.Codec("H264")
	if !ok {
		t.Fatalf("no H264 options in %+v", opts)
	}
	if h264.GOP != (Range{1, 400}) || h264.BitrateKbps != (Range{32, 16384}) || h264.FrameRate != (Range{1, 30}) ||
		strings.Join(h264.Profiles, ",") != "Baseline,Main,High" || len(h264.Resolutions) != 5 || opts.Quality != (Range{1, 6}) {
		t.Errorf("h264 options = %+v, quality %+v", h264, opts.Quality)
	}
	if got := strings.Join(opts.Encodings(), ","); got != "H264,JPEG" {
		t.Errorf("encodings = %s", got)
	}

	if reqs := sim.Requests(); reqs[0] != "GetSystemDateAndTime" || reqs[1] != "GetServices" {
		t.Errorf("requests = %v", reqs)
	}

	// With the local clock the camera refuses the token: the offset is what
	// makes the calls above work. The client notices, measures the clock
	// again and retries.
	c.offset.Store(0)
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Fatalf("device info after resync: %v", err)
	}
	reqs := sim.Requests()
	if got := strings.Join(reqs[len(reqs)-3:], ","); got != "GetDeviceInformation,GetSystemDateAndTime,GetDeviceInformation" {
		t.Errorf("local-clock token was not refused and retried: last requests %s", got)
	}
}

// postRaw sends a hand-built request with the given token, as a client with
// a different notion of time would.
func postRaw(t *testing.T, endpoint string, tok usernameToken) (int, []byte) {
	t.Helper()
	body := buildEnvelope([]byte(`<tds:GetDeviceInformation/>`), &tok)
	resp, err := http.Post(endpoint, "application/soap+xml; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func TestSimRejectsStaleAndReplayedTokens(t *testing.T) {
	sim := startSim(t, onvifsim.Options{ClockSkew: 2 * time.Hour})

	local, err := newUsernameToken(testUser, testPass, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, data := postRaw(t, sim.URL(), local)
	if f := parseFault(data); status != http.StatusBadRequest || f == nil || f.Subcode != "NotAuthorized" {
		t.Errorf("local-clock token: status %d fault %v", status, f)
	}

	cam, err := newUsernameToken(testUser, testPass, sim.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, data := postRaw(t, sim.URL(), cam); status != http.StatusOK {
		t.Fatalf("camera-clock token: status %d: %s", status, data)
	}
	status, data = postRaw(t, sim.URL(), cam)
	if f := parseFault(data); status != http.StatusBadRequest || f == nil || f.Subcode != "NotAuthorized" {
		t.Errorf("replayed nonce: status %d fault %v", status, f)
	}
}

func TestWrongPassword(t *testing.T) {
	sim := startSim(t, onvifsim.Options{ClockSkew: -90 * time.Minute})
	c := newClient(t, sim.URL(), testUser, "wrong", nil)
	err := c.Connect(testCtx(t))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	var f *Fault
	if !errors.As(err, &f) || f.Code != "Sender" || f.Subcode != "NotAuthorized" {
		t.Errorf("fault = %+v", f)
	}
	if !strings.Contains(err.Error(), "get services") {
		t.Errorf("error does not name the operation: %v", err)
	}
}

func TestHTTPDigestCamera(t *testing.T) {
	sim := startSim(t, onvifsim.Options{RequireDigest: true, ClockSkew: 2 * time.Hour})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Fatalf("device info: %v", err)
	}
	if p, err := c.Profiles(ctx); err != nil || len(p) != 2 {
		t.Fatalf("profiles: %v", err)
	}

	bad := newClient(t, sim.URL(), testUser, "wrong", nil)
	if err := bad.Connect(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong password: err = %v, want ErrUnauthorized", err)
	}

	// Credentials in the URL are used too.
	u, _ := url.Parse(sim.URL())
	u.User = url.UserPassword(testUser, testPass)
	inURL := newClient(t, u.String(), "", "", nil)
	if err := inURL.Connect(ctx); err != nil {
		t.Fatalf("connect with url credentials: %v", err)
	}
}

func TestAdvertisedAddressFallback(t *testing.T) {
	sim := startSim(t, onvifsim.Options{AdvertiseAddr: "192.0.2.10:8080"})
	core, logs := observer.New(zapcore.DebugLevel)
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, zap.New(core))
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	want := "http://" + sim.Addr() + onvifsim.MediaPath
	if got := c.Services().Media; got != want {
		t.Errorf("media address = %q, want %q", got, want)
	}
	if _, err := c.Profiles(ctx); err != nil {
		t.Fatalf("profiles via fallback address: %v", err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("second connect: %v", err)
	}
	if n := logs.FilterMessage("camera advertises another address, using configured host").Len(); n != 1 {
		t.Errorf("rewrite logged %d times, want once", n)
	}
}

func TestAdvertisedAddressKeptWhenSameHost(t *testing.T) {
	sim := startSim(t, onvifsim.Options{})
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Services().Media, "http://"+sim.Addr()+onvifsim.MediaPath; got != want {
		t.Errorf("media address = %q, want %q", got, want)
	}
}

func TestGetServicesUnsupportedFallsBackToCapabilities(t *testing.T) {
	sim := startSim(t, onvifsim.Options{Unsupported: []string{"GetServices"}})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := c.Profiles(ctx); err != nil {
		t.Fatalf("profiles: %v", err)
	}
	reqs := strings.Join(sim.Requests(), ",")
	if !strings.Contains(reqs, "GetServices,GetCapabilities") {
		t.Errorf("requests = %s", reqs)
	}
}

func TestUnsupportedAction(t *testing.T) {
	sim := startSim(t, onvifsim.Options{Unsupported: []string{"GetSnapshotUri"}})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SnapshotURI(ctx, "Profile_1"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("snapshot uri: err = %v, want ErrUnsupported", err)
	}
	// An action the simulator does not know at all.
	var out struct{}
	err := c.call(ctx, "get hostname", c.Services().Device, nsDevice+"/GetHostname", device.GetHostname{}, true, "GetHostnameResponse", &out)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "get hostname") {
		t.Errorf("unknown action: err = %v, want ErrUnsupported naming the operation", err)
	}
	// A bad argument is a fault, but not "unsupported".
	_, err = c.StreamURI(ctx, "no-such-profile")
	var f *Fault
	if !errors.As(err, &f) || f.Subcode != "NoProfile" || errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown profile: err = %v", err)
	}
}

func TestNotConnected(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1/onvif/device_service", testUser, testPass, nil)
	if _, err := c.Profiles(testCtx(t)); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("err = %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, "http://"+addr+"/onvif/device_service", testUser, testPass, nil)
	if err := c.Connect(testCtx(t)); !errors.Is(err, ErrUnreachable) {
		t.Errorf("refused: err = %v, want ErrUnreachable", err)
	}
}

// TestTimeout uses a camera that accepts the connection and never answers.
func TestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	accepted := make(chan net.Conn, 64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(done)
				return
			}
			accepted <- conn // held open, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(accepted)
		for conn := range accepted {
			conn.Close()
		}
	})
	c, err := New(Options{URL: "http://" + ln.Addr().String(), Username: testUser, Password: testPass, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(testCtx(t)); !errors.Is(err, ErrUnreachable) {
		t.Errorf("silent camera: err = %v, want ErrUnreachable", err)
	}

	// Cancellation by the caller is not the camera's fault.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Connect(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "rtsp://cam/", "http://", "://x"} {
		if _, err := New(Options{URL: u}); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestCameraClockJumpResyncs(t *testing.T) {
	sim := startSim(t, onvifsim.Options{ClockSkew: 2 * time.Hour})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	sim.SetClockSkew(-3 * time.Hour) // e.g. NTP finally reached the camera
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Fatalf("device info after clock jump: %v", err)
	}
	if off := c.ClockOffset(); off > -3*time.Hour+3*time.Second || off < -3*time.Hour-3*time.Second {
		t.Errorf("offset = %v, want about -3h", off)
	}
	reqs := sim.Requests()
	if got := strings.Join(reqs[len(reqs)-3:], ","); got != "GetDeviceInformation,GetSystemDateAndTime,GetDeviceInformation" {
		t.Errorf("last requests = %s", got)
	}
}

// TestConcurrentCalls shares one client between goroutines, as the agent's
// command handlers do.
func TestConcurrentCalls(t *testing.T) {
	sim := startSim(t, onvifsim.Options{RequireDigest: true, ClockSkew: time.Hour})
	ctx := testCtx(t)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for i := 0; i < cap(errs); i++ {
		go func() {
			_, err := c.Profiles(ctx)
			if err == nil {
				_, err = c.DeviceInfo(ctx)
			}
			errs <- err
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// Probe knocks at the camera's ONVIF port without a request: it fails
// while the camera is off (its port refuses) and answers once it is back
// on the same address, and the camera sees no SOAP request from it.
func TestProbeFollowsTheCameraOffAndBack(t *testing.T) {
	// A random loopback address: while the camera is off, no other test's
	// listener on 127.0.0.1 can take its port.
	addr := fmt.Sprintf("127.%d.%d.%d:0", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
	sim := startSim(t, onvifsim.Options{Addr: addr})
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Probe(testCtx(t)); err != nil {
		t.Fatalf("camera on: probe = %v", err)
	}
	sim.Stop()
	err := c.Probe(testCtx(t))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), sim.Addr()) {
		t.Errorf("camera off: probe = %v, want ErrUnreachable naming %s", err, sim.Addr())
	}
	if err := sim.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Probe(testCtx(t)); err != nil {
		t.Errorf("camera back: probe = %v", err)
	}
	if n := len(sim.Requests()); n != 0 {
		t.Errorf("the camera saw %d SOAP requests (%v), want none from probes", n, sim.Requests())
	}
	if err := c.Connect(testCtx(t)); err != nil {
		t.Errorf("camera back: connect = %v", err)
	}
}
