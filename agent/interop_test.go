//go:build interop

package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// The interop tier runs the real agent between peers nobody on this
// project wrote: GStreamer's RTSP server as the camera (rtspsim.GStreamer)
// and nginx-rtmp as the cloud's media server (cloudsim.Nginx), with
// ffmpeg/ffprobe judging what nginx recorded (cloudsim.Probe). They come
// from Debian packages; `make test-interop` checks them first, and these
// tests fail (never skip) naming the package when one is missing.

// TestInteropAgentEndToEnd: a camera given by its RTSP URL (GStreamer,
// digest auth) registers with the simulated cloud over ws://, and on
// stream_start its video reaches nginx-rtmp unchanged: a player can watch
// it and the recording has the camera's codec, size, rate and SPS, on an
// even timeline.
func TestInteropAgentEndToEnd(t *testing.T) {
	log := zaptest.NewLogger(t)
	gst, err := rtspsim.StartGStreamer(rtspsim.GStreamerOptions{Dir: t.TempDir(), Username: "admin", Password: "interop-Pw1"})
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	t.Cleanup(func() {
		if err := gst.Close(); err != nil || t.Failed() {
			t.Logf("gstreamer rtsp server: close: %v; log:\n%s", err, gst.Log())
		}
	})
	ngx, err := cloudsim.StartNginx(t.TempDir())
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	t.Cleanup(ngx.Close)

	cloud, err := cloudsim.New(cloudsim.Options{MediaServer: ngx.Addr(), Logger: log.Named("cloudsim")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cloud.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	camURL := gst.URLWithCredentials()
	// What the camera announces, read by a client that is not ours.
	camSPS, err := cloudsim.FirstSPS("-rtsp_transport", "tcp", "-i", camURL)
	if err != nil {
		t.Fatalf("camera: %v", err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`state_dir: %q
http: {listen: %q}
cloud: {insecure: true}
cameras:
  - name: gst
    token: %q
    rtsp: %q
`, t.TempDir(), ln.Addr().String(), cloud.Token(), camURL)), "interop")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: log, Version: "interop", Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, a)

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := cloud.WaitReady(ctx, cloud.CamID()); err != nil {
		t.Fatalf("camera never became ready in the cloud: %v (status %+v)", err, a.Status())
	}
	rep, err := cloud.Request(ctx, cloud.CamID(), "stream_start", map[string]any{"stream_id": "Main", "reason": "live"})
	if err != nil {
		t.Fatalf("stream_start: %v", err)
	}
	if rep["cmd"] != "done" || rep["status"] != "OK" {
		t.Fatalf("stream_start reply %v\nnginx error log:\n%s", rep, ngx.ErrorLog())
	}

	// A real player watches the live stream through nginx for four seconds
	// of video; that is also how long the recording runs.
	stream := fmt.Sprintf("u1m1c%d_Main", cloud.CamID())
	const frames = 4 * rtspsim.GStreamerFPS
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("interop: ffmpeg not found (Debian package ffmpeg)")
	}
	play := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-i", "rtmp://"+ngx.Addr()+"/live/"+stream,
		"-map", "0:v:0", "-c", "copy", "-frames:v", strconv.Itoa(frames), "-f", "null", "-")
	var playErr bytes.Buffer
	play.Stderr = &playErr
	if err := play.Run(); err != nil {
		t.Fatalf("ffmpeg could not play %d frames of the live stream from nginx: %v\n%s\nnginx error log:\n%s", frames, err, playErr.String(), ngx.ErrorLog())
	}

	rep, err = cloud.Request(ctx, cloud.CamID(), "stream_stop", map[string]any{"stream_id": "Main", "reason": "live"})
	if err != nil || rep["status"] != "OK" {
		t.Fatalf("stream_stop: %v %v", rep, err)
	}
	if err := ngx.Stop(); err != nil {
		t.Fatal(err)
	}

	// The publish name carries the session id as nginx-rtmp arguments,
	// which keep it out of the stream (and file) name.
	m := regexp.MustCompile(`publish: name='([^']*)' args='([^']*)'`).FindStringSubmatch(ngx.ErrorLog())
	if m == nil || m[1] != stream || !strings.Contains("&"+m[2], "&sid=") {
		t.Errorf("nginx saw publish %q, want name %q with args sid=…", m, stream)
	}
	r, err := cloudsim.Probe(ngx.Recording(stream))
	if err != nil {
		t.Fatalf("nginx recording: %v", err)
	}
	for _, p := range r.Problems(cloudsim.Want{
		Width: rtspsim.GStreamerWidth, Height: rtspsim.GStreamerHeight, FPS: rtspsim.GStreamerFPS,
		SampleRate: rtspsim.GStreamerSampleRate, Channels: rtspsim.GStreamerChannels,
		SPS: camSPS,
	}) {
		t.Errorf("nginx recording: %s", p)
	}
	if v := cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
	t.Logf("nginx recorded %v", r)
}
