package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// runRig starts the simulated camera and cloud and an agent configured for
// them, and stops everything when the test ends.
func runRig(t *testing.T, o rig.Options) (*rig.Rig, *Agent, string) {
	t.Helper()
	var logs syncBuffer
	// The agent's log ring, as main tees it (cam_get_log reads it).
	ring := NewLogRing(0, 0)
	captured := o.Logger == nil
	if captured {
		o.Logger = zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
			return zapcore.NewTee(c, zapcore.NewCore(enc, zapcore.AddSync(&logs), zapcore.DebugLevel), ring.Core(enc, zapcore.DebugLevel))
		})))
	}
	r, err := rig.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.Config(t.TempDir(), ln.Addr().String(), o.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: o.Logger, Version: "test", RootCAs: r.Roots, Listener: ln, LogRing: ring, timing: testTiming})
	if err != nil {
		t.Fatal(err)
	}
	stop := goRun(t, a)
	t.Cleanup(func() {
		stop()
		if !captured {
			return
		}
		// Secrets never reach a log line, whatever happened in the test.
		out := logs.String()
		if !strings.Contains(out, "camera registered in cloud") {
			t.Error("log capture is missing the agent's lines")
		}
		for name, secret := range map[string]string{"token": r.Cloud.Token(), "channel secret": r.Cloud.Secret(), "camera password": rig.Password} {
			if strings.Contains(out, secret) {
				t.Errorf("the %s appears in the logs", name)
			}
		}
	})
	return r, a, "http://" + ln.Addr().String()
}

// goRun runs a until the returned stop is called or the test ends; stop
// cancels Run, waits up to 10 s for it to return and reports its error. It
// may be called more than once.
func goRun(t *testing.T, a *Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("agent run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("agent did not stop within 10 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// serveAgent runs an agent for a rig the test started itself, its config
// changed by adjust (nil: as the rig gives it), with the status page on a
// port of its own; it returns the agent and the page's base URL.
func serveAgent(t *testing.T, r *rig.Rig, adjust func(*config.Config)) (*Agent, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.Config(t.TempDir(), ln.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(cfg)
	}
	a, err := New(Options{Config: cfg, Logger: zaptest.NewLogger(t), Version: "test", RootCAs: r.Roots, Listener: ln, timing: testTiming})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, a)
	return a, "http://" + ln.Addr().String()
}

func waitReady(t *testing.T, r *rig.Rig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Cloud.WaitReady(ctx, r.Cloud.CamID()); err != nil {
		t.Fatalf("camera never became ready in the cloud: %v", err)
	}
}

func request(t *testing.T, r *rig.Rig, cmd string, body any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := r.Cloud.Request(ctx, r.Cloud.CamID(), cmd, body)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return rep
}

// TestLiveVideoEndToEnd is the foundation's promise: a camera given by its
// ONVIF address registers in the cloud and, on stream_start, its video
// arrives over RTMPS unchanged.
func TestLiveVideoEndToEnd(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)

	rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 4711})
	if rep["cmd"] != "done" || rep["status"] != "OK" {
		t.Fatalf("stream_start reply %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no video at the ingest: %v", err)
	}
	sent0, got0 := r.RTSP.FramesSent(), videoFrames(r.Ingest)
	// Three seconds of video at 25 fps.
	if err := r.Ingest.WaitFrames(ctx, got0+75); err != nil {
		t.Fatalf("video stopped arriving: %v", err)
	}
	sent, got := r.RTSP.FramesSent()-sent0, videoFrames(r.Ingest)-got0
	if float64(got) < 0.9*float64(sent) {
		t.Errorf("%d of %d frames arrived, want ≥ 90 %%", got, sent)
	}

	pubs := r.Ingest.Publishes()
	if len(pubs) != 1 {
		t.Fatalf("%d publishes, want exactly one", len(pubs))
	}
	p := pubs[0]
	if p.App != "live" || p.Stream != "u1m1c310042_Main" || p.Query.Get("psid") != "4711" || p.Query.Get("sid") == "" {
		t.Errorf("published as app %q name %q, want live / u1m1c310042_Main?sid=…&psid=4711", p.App, p.Name)
	}
	if !bytes.Equal(p.SPS, r.RTSP.SPS()) {
		t.Errorf("SPS changed on the way: camera %x, cloud %x", r.RTSP.SPS(), p.SPS)
	}
	if !p.FirstVideoKey {
		t.Error("first video frame at the cloud is not a keyframe")
	}
	if !p.Monotonic {
		t.Error("timestamps went backwards at the cloud")
	}
	if p.VideoCodec != "H.264" || p.AudioCodec != "AAC" {
		t.Errorf("codecs %s/%s, want H.264/AAC", p.VideoCodec, p.AudioCodec)
	}
	if len(p.Violations) > 0 {
		t.Errorf("ingest saw protocol violations: %v", p.Violations)
	}

	// A second reason shares the publish; stopping live keeps it for record.
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record"}); rep["status"] != "OK" {
		t.Fatalf("stream_start record: %v", rep)
	}
	if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Main", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_stop live: %v", rep)
	}
	if st := request(t, r, "get_cam_status", nil); st["streaming"] != true {
		t.Errorf("cam_status while recording: %v", st)
	}
	if n := len(r.Ingest.Publishes()); n != 1 {
		t.Errorf("%d publishes after adding and removing reasons, want the same one", n)
	}
	if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Main", "reason": "record"}); rep["status"] != "OK" {
		t.Fatalf("stream_stop record: %v", rep)
	}
	if err := r.Ingest.WaitFor(ctx, func(ps []PublishRecordAlias) bool { return len(ps) == 1 && !ps[0].Active }); err != nil {
		t.Errorf("publish still open after the last reason stopped: %v", err)
	}
	if st := request(t, r, "get_cam_status", nil); st["streaming"] != false {
		t.Errorf("cam_status after stop: %v", st)
	}
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// PublishRecordAlias keeps the WaitFor callback short.
type PublishRecordAlias = cloudsim.PublishRecord

func videoFrames(in *cloudsim.Ingest) int {
	n, _, _ := rig.IngestTotals(in)
	return n
}

// TestCloudCommandsReachTheCamera drives the docs/protocol.md#get-cam-status–#streams discovery burst
// through the agent and checks the answers against what the simulated
// camera reports over ONVIF and RTSP.
func TestCloudCommandsReachTheCamera(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)

	// cam_register carries what ONVIF GetDeviceInformation reported.
	regs := r.Cloud.CamRegistrations()
	if len(regs) != 1 {
		t.Fatalf("%d cam_register messages, want 1", len(regs))
	}
	for k, want := range map[string]string{"brand": "SimCam", "model": "SC-640", "sn": "SIM-0001", "version": "1.0.0", "ip": "127.0.0.1"} {
		if regs[0][k] != want {
			t.Errorf("cam_register.%s = %v, want %q", k, regs[0][k], want)
		}
	}

	st := request(t, r, "get_cam_status", nil)
	if st["cmd"] != "cam_status" || st["ip"] != "127.0.0.1" || st["activity"] != true || st["streaming"] != false {
		t.Errorf("cam_status %v", st)
	}
	ss := request(t, r, "get_supported_streams", nil)
	if got := mustJSON(t, ss["streams"]); got != `[{"audio":"MainAudio","id":"Main","video":"MainVideo"}]` {
		t.Errorf("supported_streams.streams = %s", got)
	}
	caps := request(t, r, "get_stream_caps", map[string]any{"video_es": []string{"MainVideo"}})
	cv := mustJSON(t, caps["caps_video"])
	if !strings.Contains(cv, `"formats":["H.264"]`) || !strings.Contains(cv, `[640,360]`) {
		t.Errorf("stream_caps.caps_video = %s", cv)
	}
	cfg := request(t, r, "get_stream_config", nil)
	v := mustJSON(t, cfg["video"])
	if !strings.Contains(v, `"horz":640`) || !strings.Contains(v, `"vert":360`) || !strings.Contains(v, `"format":"H.264"`) || !strings.Contains(v, `"brt":1024`) {
		t.Errorf("stream_config.video = %s", v)
	}
	a := mustJSON(t, cfg["audio"])
	if !strings.Contains(a, `"stream":"MainAudio"`) || !strings.Contains(a, `"format":"AAC"`) {
		t.Errorf("stream_config.audio = %s", a)
	}

	for _, c := range []struct {
		cmd    string
		body   any
		status string
	}{
		{"cam_future_feature", map[string]any{"x": 1}, "NOT_SUPPORTED"},
		{"set_stream_config", map[string]any{"video": []any{}}, "OK"},
		{"stream_start", map[string]any{"stream_id": "Nope", "reason": "live"}, "INVALID_PARAM"},
		{"stream_start", map[string]any{"reason": "live"}, "MISSED_PARAM"},
		{"stream_start", map[string]any{"stream_id": "Main", "reason": "bogus"}, "INVALID_PARAM"},
		{"stream_stop", map[string]any{"stream_id": "Nope", "reason": "live"}, "ERROR"},
		{"stream_stop", map[string]any{"stream_id": "Main", "reason": "live"}, "OK"},
		{"set_cam_parameter", map[string]any{"activity": false}, "OK"},
	} {
		rep := request(t, r, c.cmd, c.body)
		if rep["cmd"] != "done" || rep["status"] != c.status || rep["orig_cmd"] != c.cmd {
			t.Errorf("%s %v: got %v, want done %s", c.cmd, c.body, rep, c.status)
		}
	}
	if st := request(t, r, "get_cam_status", nil); st["activity"] != false {
		t.Errorf("activity after set_cam_parameter: %v", st)
	}

	// The status page tells an operator the same story.
	resp, err := http.Get(statusURL + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if len(s.Cameras) != 1 || s.Cameras[0].ONVIF != "connected" || s.Cameras[0].Cloud != "ready" || s.Cameras[0].Streams[0].Codec != "H.264" {
		t.Errorf("status: %+v", s)
	}
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPassiveModeResumesStreams: passive mode (set_cam_parameter
// activity:false) stops publishing but keeps what the cloud asked for, and
// leaving it publishes again without a new stream_start (docs/protocol.md#passive-mode); a
// stream_start that arrives while passive is answered OK and honoured on
// leaving it.
func TestPassiveModeResumesStreams(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	active := func(rs []cloudsim.PublishRecord) int {
		n := 0
		for _, p := range rs {
			if p.Active && p.Accepted {
				n++
			}
		}
		return n
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_start %v", rep)
	}
	if rep := request(t, r, "set_cam_parameter", map[string]any{"activity": false}); rep["status"] != "OK" {
		t.Fatalf("set_cam_parameter %v", rep)
	}
	if err := r.Ingest.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 1 && active(rs) == 0 }); err != nil {
		t.Fatalf("publish did not stop in passive mode: %v", err)
	}
	if st := request(t, r, "get_cam_status", nil); st["activity"] != false || st["streaming"] != false {
		t.Errorf("cam_status in passive mode %v", st)
	}
	if rep := request(t, r, "set_cam_parameter", map[string]any{"activity": true}); rep["status"] != "OK" {
		t.Fatalf("set_cam_parameter %v", rep)
	}
	if err := r.Ingest.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 2 && active(rs) == 1 }); err != nil {
		t.Fatalf("leaving passive mode did not resume the live publish: %v (%d publishes)", err, len(r.Ingest.Publishes()))
	}

	// stream_stop while passive forgets the reason; stream_start while
	// passive is remembered.
	request(t, r, "set_cam_parameter", map[string]any{"activity": false})
	if err := r.Ingest.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return active(rs) == 0 }); err != nil {
		t.Fatal(err)
	}
	if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Main", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_stop %v", rep)
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record"}); rep["status"] != "OK" {
		t.Fatalf("stream_start in passive mode %v", rep)
	}
	if n := len(r.Ingest.Publishes()); n != 2 {
		t.Errorf("%d publishes in passive mode, want none new", n)
	}
	request(t, r, "set_cam_parameter", map[string]any{"activity": true})
	if err := r.Ingest.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 3 && active(rs) == 1 }); err != nil {
		t.Fatalf("stream_start sent in passive mode not honoured on leaving it: %v", err)
	}
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// TestDisconnectStopsPublishing: when the control connection drops, every
// RTMP publish stops and stays stopped after the reconnect until the
// cloud asks again (docs/protocol.md#reconnect).
func TestDisconnectStopsPublishing(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record"}); rep["status"] != "OK" {
		t.Fatalf("stream_start %v", rep)
	}
	r.Cloud.DropConnections()
	if err := r.Ingest.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 1 && !rs[0].Active }); err != nil {
		t.Fatalf("publish still open after the control connection dropped: %v", err)
	}
	waitFor(t, "the reconnect", func() bool { return r.Cloud.Connections() == 2 })
	waitReady(t, r)
	if st := request(t, r, "get_cam_status", nil); st["streaming"] != false {
		t.Errorf("cam_status after reconnect %v", st)
	}
	if n := len(r.Ingest.Publishes()); n != 1 {
		t.Errorf("%d publishes after reconnect, want no new one before stream_start", n)
	}
}

// TestCameraByHostName: an integrator who names the camera by host name
// still gets an IP address in cam_register and cam_status (docs/protocol.md#cam-register, #get-cam-status).
func TestCameraByHostName(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIFByName: true})
	waitReady(t, r)
	regs := r.Cloud.CamRegistrations()
	if len(regs) != 1 {
		t.Fatalf("%d cam_register messages, want 1", len(regs))
	}
	ip, _ := regs[0]["ip"].(string)
	if net.ParseIP(ip) == nil {
		t.Fatalf("cam_register.ip = %q, want an IP address", ip)
	}
	if st := request(t, r, "get_cam_status", nil); st["ip"] != ip {
		t.Errorf("cam_status.ip = %v, cam_register.ip = %s", st["ip"], ip)
	}
}

// TestBrokenProfileIsSkipped: a camera whose first profile has no usable
// stream still comes online with the profile that works.
func TestBrokenProfileIsSkipped(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
		broken := o.Profiles[0]
		broken.Token, broken.Name, broken.BrokenStreamURI = "broken", "Broken", true
		o.Profiles = append([]onvifsim.Profile{broken}, o.Profiles...)
	}})
	waitReady(t, r)
	ss := request(t, r, "get_supported_streams", nil)
	if got := mustJSON(t, ss["streams"]); got != `[{"audio":"MainAudio","id":"Main","video":"MainVideo"}]` {
		t.Errorf("supported_streams.streams = %s, want the working profile as Main", got)
	}
}

// TestImageSettingsWithoutOptions: a camera that refuses the imaging
// options request with a bare HTTP error still has its image settings read.
func TestImageSettingsWithoutOptions(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
		o.Unsupported = []string{"GetOptions"}
		o.BareHTTPErrors = true
	}})
	waitReady(t, r)
	rep := request(t, r, "get_cam_video_conf", nil)
	if rep["cmd"] != "cam_video_conf" {
		t.Fatalf("get_cam_video_conf answered %v, want cam_video_conf", rep)
	}
	// Without options no range is known, so only what needs none is offered.
	if rep["vert_flip"] != "off" {
		t.Errorf("cam_video_conf %v lacks the orientation", rep)
	}
}

// TestAdvertisedRTSPHostUnreachable: a camera behind NAT advertises an RTSP
// address the agent cannot reach; the agent falls back to the host it was
// configured with and the camera comes online.
func TestAdvertisedRTSPHostUnreachable(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
		// 127.0.0.2 is loopback too, but nothing listens there: like a
		// LAN address seen from outside the NAT.
		o.RTSPURL = strings.Replace(o.RTSPURL, "127.0.0.1", "127.0.0.2", 1)
	}})
	waitReady(t, r)
	if st := request(t, r, "get_cam_status", nil); st["cmd"] != "cam_status" {
		t.Fatalf("cam_status: %v", st)
	}
}

// TestPublishAfterFailedRun: a camera whose first run failed (its ONVIF
// refused a request at start) publishes after the retry: the publishes
// belong to each run of the camera, not to the first one.
func TestPublishAfterFailedRun(t *testing.T) {
	r, err := rig.Start(rig.Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	r.ONVIF.FaultNext("GetDeviceInformation")
	serveAgent(t, r, nil)
	waitReady(t, r)
	if n := r.ONVIF.Count("GetDeviceInformation"); n < 2 {
		t.Fatalf("GetDeviceInformation asked %d times: the first run did not fail", n)
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 1}); rep["status"] != "OK" {
		t.Fatalf("stream_start after the retried run: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no video at the ingest: %v", err)
	}
}
