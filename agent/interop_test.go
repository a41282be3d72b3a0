//go:build interop

package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// The interop tier runs the real agent between peers nobody on this
// project wrote: GStreamer's RTSP server as the camera and nginx-rtmp as the
// cloud's media server, with ffmpeg/ffprobe judging what nginx recorded.
// They come from Debian packages; `make test-interop` checks them first, and
// these tests fail (never skip) naming the package when one is missing. The
// helpers below repeat those of media/ and uplink/interop_test.go: test code
// cannot be shared across packages without a package of its own.

const (
	interopGstScript   = "testdata/gst-rtsp-server.py"
	interopPython      = "/usr/bin/python3" // Debian's, which has python3-gi; not a pyenv one
	interopGstUser     = "admin"
	interopGstPass     = "interop-Pw1"
	interopGstFPS      = 25 // what the script configures
	interopNginxModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	interopNginxConf   = "testdata/nginx-rtmp.conf.tmpl"
)

// TestInteropAgentEndToEnd: a camera given by its RTSP URL (GStreamer,
// digest auth) registers with the simulated cloud over ws://, and on
// stream_start its video reaches nginx-rtmp unchanged: a player can watch
// it and the recording has the camera's codec, size, rate and SPS, on an
// even timeline.
func TestInteropAgentEndToEnd(t *testing.T) {
	log := zaptest.NewLogger(t)
	camURL := startInteropGStreamer(t)
	ngx := startInteropNginx(t)

	cloud, err := cloudsim.New(cloudsim.Options{MediaServer: ngx.addr, Logger: log.Named("cloudsim")})
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
	withCreds := strings.Replace(camURL, "rtsp://", "rtsp://"+interopGstUser+":"+interopGstPass+"@", 1)
	// What the camera announces, read by a client that is not ours.
	camSPS := interopFirstSPS(t, "-rtsp_transport", "tcp", "-i", withCreds)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`state_dir: %q
http: {listen: %q}
cloud: {insecure: true}
cameras:
  - name: gst
    token: %q
    rtsp: %q
`, t.TempDir(), ln.Addr().String(), cloud.Token(), withCreds)), "interop")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: log, Version: "interop", Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(runCtx) }()
	t.Cleanup(func() {
		stopAgent()
		select {
		case err := <-agentDone:
			if err != nil {
				t.Errorf("agent run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop within 10 s of cancel")
		}
	})

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
		t.Fatalf("stream_start reply %v\nnginx error log:\n%s", rep, ngx.errorLog())
	}

	// A real player watches the live stream through nginx for four seconds
	// of video; that is also how long the recording runs.
	stream := fmt.Sprintf("u1m1c%d_Main", cloud.CamID())
	const frames = 4 * interopGstFPS
	play := exec.CommandContext(ctx, interopFFTool(t, "ffmpeg"), "-v", "error", "-i", "rtmp://"+ngx.addr+"/live/"+stream,
		"-map", "0:v:0", "-c", "copy", "-frames:v", strconv.Itoa(frames), "-f", "null", "-")
	var playErr interopBuffer
	play.Stderr = &playErr
	if err := play.Run(); err != nil {
		t.Fatalf("ffmpeg could not play %d frames of the live stream from nginx: %v\n%s\nnginx error log:\n%s", frames, err, playErr.String(), ngx.errorLog())
	}

	rep, err = cloud.Request(ctx, cloud.CamID(), "stream_stop", map[string]any{"stream_id": "Main", "reason": "live"})
	if err != nil || rep["status"] != "OK" {
		t.Fatalf("stream_stop: %v %v", rep, err)
	}
	ngx.stop(t)

	// The publish name carries the session id as nginx-rtmp arguments,
	// which keep it out of the stream (and file) name.
	m := regexp.MustCompile(`publish: name='([^']*)' args='([^']*)'`).FindStringSubmatch(ngx.errorLog())
	if m == nil || m[1] != stream || !strings.Contains("&"+m[2], "&sid=") {
		t.Errorf("nginx saw publish %q, want name %q with args sid=…", m, stream)
	}
	r := interopProbe(t, filepath.Join(ngx.recordDir, stream+".flv"))
	r.check(t, interopWant{
		width: 640, height: 360, fps: interopGstFPS,
		sampleRate: 48000, channels: 1,
		sps: camSPS,
	})
	if v := cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
	t.Logf("nginx recorded %d video and %d audio packets", len(r.videoPkts), len(r.audioPkts))
}

// startInteropGStreamer runs the GStreamer RTSP server with digest
// credentials interopGstUser/interopGstPass and returns its stream URL (no credentials).
// The server is killed when the test ends.
func startInteropGStreamer(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(interopPython); err != nil {
		t.Fatalf("interop: %s missing: apt-get install python3 python3-gi gir1.2-gst-rtsp-server-1.0", interopPython)
	}
	check := exec.Command(interopPython, "-c", `import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer`)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("interop: GStreamer RTSP server bindings missing (Debian packages python3-gi and gir1.2-gst-rtsp-server-1.0): %v\n%s", err, out)
	}
	script, err := filepath.Abs(interopGstScript)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(interopPython, script, "0", interopGstUser, interopGstPass)
	var stderr interopBuffer
	cmd.Stderr = &stderr
	// The script exits when its stdin closes, so it dies with the test
	// binary even if cleanup never runs.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("interop: start GStreamer RTSP server: %v", err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		// Wait only after stdout is drained, as os/exec requires.
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gstreamer rtsp server stderr:\n%s", stderr.String())
		}
	})
	select {
	case line := <-lines:
		port, ok := strings.CutPrefix(line, "listening ")
		if _, err := strconv.Atoi(port); !ok || err != nil {
			t.Fatalf("interop: GStreamer RTSP server said %q, want \"listening <port>\"", line)
		}
		return "rtsp://127.0.0.1:" + port + "/stream"
	case <-exited:
		t.Fatalf("interop: GStreamer RTSP server exited at start (needs gstreamer1.0-plugins-base/-good/-ugly and gstreamer1.0-libav):\n%s", stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("interop: GStreamer RTSP server did not start within 20 s:\n%s", stderr.String())
	}
	return ""
}

// interopBuffer collects a child's output for failure messages.
type interopBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *interopBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *interopBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// interopNginx is an nginx child process with the RTMP module, recording
// every publish to recordDir.
type interopNginx struct {
	addr, dir, recordDir string
	cmd                  *exec.Cmd
	out                  *interopBuffer
	exited               chan struct{}
}

func interopNginxBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx" // not on a non-root PATH
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("interop: nginx not found: apt-get install nginx-light libnginx-mod-rtmp")
		}
	}
	if _, err := os.Stat(interopNginxModule); err != nil {
		t.Fatalf("interop: %s missing: apt-get install libnginx-mod-rtmp", interopNginxModule)
	}
	return bin
}

func startInteropNginx(t *testing.T) *interopNginx {
	t.Helper()
	bin := interopNginxBinary(t)
	dir := t.TempDir()
	n := &interopNginx{dir: dir, recordDir: filepath.Join(dir, "rec"), out: &interopBuffer{}, exited: make(chan struct{})}
	if err := os.Mkdir(n.recordDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// nginx must bind the port itself; a port just freed by the kernel is
	// the best loopback can offer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	ln.Close()

	tmpl, err := template.ParseFiles(interopNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	var conf bytes.Buffer
	if err := tmpl.Execute(&conf, map[string]any{
		"Module": interopNginxModule, "Dir": dir, "Addr": n.addr, "RecordDir": n.recordDir, "Root": os.Geteuid() == 0,
	}); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath,
		"-g", "daemon off; master_process off;")
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	// Dies with the test binary even if cleanup never runs.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("interop: start nginx: %v", err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})

	// Ready once it accepts connections.
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", n.addr, time.Second)
		if err == nil {
			c.Close()
			return n
		}
		select {
		case <-n.exited:
			t.Fatalf("interop: nginx exited at start:\n%s%s", n.out.String(), n.errorLog())
		case <-deadline.C:
			t.Fatalf("interop: nginx-rtmp not accepting on %s within 10 s:\n%s", n.addr, n.errorLog())
		case <-tick.C:
		}
	}
}

func (n *interopNginx) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}

// stop shuts nginx down gracefully, so every recording is complete.
func (n *interopNginx) stop(t *testing.T) {
	t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("nginx did not exit within 10 s of SIGQUIT:\n%s", n.errorLog())
	}
}

// interopRecording is what ffprobe reads from an FLV file.
type interopRecording struct {
	path         string
	video, audio interopProbeStream
	// Packets in file order, per stream, with DTS in time.
	videoPkts, audioPkts []interopProbePacket
	all                  []interopProbePacket
}

type interopProbeStream struct {
	Index        int    `json:"index"`
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	RFrameRate   string `json:"r_frame_rate"`
	AvgFrameRate string `json:"avg_frame_rate"`
	SampleRate   string `json:"sample_rate"`
	Channels     int    `json:"channels"`
	TimeBase     string `json:"time_base"`
}

type interopProbePacket struct {
	StreamIndex int    `json:"stream_index"`
	DTS         *int64 `json:"dts"`
	Flags       string `json:"flags"`
	dts         time.Duration
	video       bool
}

func interopFFTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("interop: %s not found: apt-get install ffmpeg", name)
	}
	return p
}

// interopRatio parses ffprobe's "num/den".
func interopRatio(s string) (float64, error) {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("ratio %q", s)
	}
	a, err1 := strconv.ParseFloat(num, 64)
	b, err2 := strconv.ParseFloat(den, 64)
	if err := errors.Join(err1, err2); err != nil || b == 0 {
		return 0, fmt.Errorf("ratio %q", s)
	}
	return a / b, nil
}

func interopProbe(t *testing.T, path string) *interopRecording {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		entries, _ := os.ReadDir(filepath.Dir(path))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("nginx recorded no %s (record dir holds %v)", filepath.Base(path), names)
	}
	out, err := exec.Command(interopFFTool(t, "ffprobe"), "-v", "error", "-of", "json", "-show_streams", "-show_packets", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %s: %v\n%s", path, err, ee.Stderr)
		}
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var doc struct {
		Streams []interopProbeStream `json:"streams"`
		Packets []interopProbePacket `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	r := &interopRecording{path: path}
	units := map[int]float64{}
	var nv, na int
	for _, s := range doc.Streams {
		tb, err := interopRatio(s.TimeBase)
		if err != nil {
			t.Fatalf("ffprobe stream %d: time base: %v", s.Index, err)
		}
		units[s.Index] = tb
		switch s.CodecType {
		case "video":
			r.video = s
			nv++
		case "audio":
			r.audio = s
			na++
		}
	}
	if nv != 1 || na != 1 {
		t.Fatalf("recording has %d video and %d audio streams, want one each: %+v", nv, na, doc.Streams)
	}
	for _, p := range doc.Packets {
		if p.DTS == nil {
			t.Errorf("packet of stream %d without DTS", p.StreamIndex)
			continue
		}
		p.dts = time.Duration(float64(*p.DTS) * units[p.StreamIndex] * float64(time.Second))
		p.video = p.StreamIndex == r.video.Index
		r.all = append(r.all, p)
		if p.video {
			r.videoPkts = append(r.videoPkts, p)
		} else if p.StreamIndex == r.audio.Index {
			r.audioPkts = append(r.audioPkts, p)
		}
	}
	return r
}

// interopWant is what the camera sent.
type interopWant struct {
	width, height, fps   int
	sampleRate, channels int
	sps                  []byte // nil: not compared
}

// interopMaxJump is the largest timestamp step a player tolerates without a
// visible stall.
const interopMaxJump = 500 * time.Millisecond

// interopAVSlack is how far audio may stray from its own sample clock: one
// video frame, well inside what viewers notice as lip-sync error (ITU-R
// BT.1359 puts detectability at 45 ms audio lead).
const interopAVSlack = 45 * time.Millisecond

func (r *interopRecording) check(t *testing.T, w interopWant) {
	t.Helper()
	if r.video.CodecName != "h264" || r.audio.CodecName != "aac" {
		t.Errorf("codecs %s/%s, want h264/aac", r.video.CodecName, r.audio.CodecName)
	}
	if r.video.Width != w.width || r.video.Height != w.height {
		t.Errorf("resolution %dx%d, want %dx%d", r.video.Width, r.video.Height, w.width, w.height)
	}
	// ffprobe guesses the rate from the timestamps, as a cloud recorder
	// writing an MP4 header would.
	if fr, err := interopRatio(r.video.RFrameRate); err != nil || fr != float64(w.fps) {
		t.Errorf("ffprobe frame rate %s, want %d/1", r.video.RFrameRate, w.fps)
	}
	if sr, _ := strconv.Atoi(r.audio.SampleRate); sr != w.sampleRate || r.audio.Channels != w.channels {
		t.Errorf("audio %s Hz %d ch, want %d Hz %d ch", r.audio.SampleRate, r.audio.Channels, w.sampleRate, w.channels)
	}
	if len(r.videoPkts) < 2*w.fps || len(r.audioPkts) == 0 {
		t.Fatalf("only %d video and %d audio packets recorded", len(r.videoPkts), len(r.audioPkts))
	}
	if !strings.Contains(r.videoPkts[0].Flags, "K") {
		t.Errorf("first recorded video packet is not a key frame (flags %q)", r.videoPkts[0].Flags)
	}

	// The file is one timeline: in file order, timestamps never go back
	// and never jump.
	var bad []string
	for i := 1; i < len(r.all); i++ {
		p, prev := r.all[i], r.all[i-1]
		if d := p.dts - prev.dts; d < 0 || d > interopMaxJump {
			bad = append(bad, fmt.Sprintf("packet %d (video %t) at %v after %v", i, p.video, p.dts, prev.dts))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d packets step back or jump more than %v in file order, e.g. %s", len(bad), len(r.all), interopMaxJump, strings.Join(bad[:min(len(bad), 3)], "; "))
	}

	// Video: the camera sends a frame every 1/fps exactly, so every step
	// is one frame interval (±1 ms of RTMP rounding). Uneven steps are
	// judder to a viewer and a wrong frame rate to a recorder.
	frame := time.Second / time.Duration(w.fps)
	steps := map[time.Duration]int{}
	for i := 1; i < len(r.videoPkts); i++ {
		d := r.videoPkts[i].dts - r.videoPkts[i-1].dts
		steps[d.Round(time.Millisecond)]++
	}
	for d := range steps {
		if d < frame-time.Millisecond || d > frame+time.Millisecond {
			t.Errorf("video timestamp steps %v (step: count), want every step %v ± 1ms", steps, frame)
			break
		}
	}

	// Audio: AAC frames hold 1024 samples; each frame's time must stay on
	// that sample clock, and no two frames may share a time.
	afr := time.Duration(1024 * float64(time.Second) / float64(w.sampleRate))
	a := r.audioPkts
	var worst time.Duration
	same := 0
	for i := 1; i < len(a); i++ {
		if a[i].dts == a[i-1].dts {
			same++
		}
		off := a[i].dts - a[0].dts - time.Duration(i)*afr
		if off.Abs() > worst.Abs() {
			worst = off
		}
	}
	if worst.Abs() > interopAVSlack {
		t.Errorf("audio strays %v from its sample clock (want within %v)", worst, interopAVSlack)
	}
	if same > 0 {
		t.Errorf("%d of %d audio packets share the previous one's timestamp", same, len(a))
	}
	t.Logf("video steps %v; audio off its sample clock by up to %v", steps, worst)

	if w.sps != nil {
		if sps := interopFirstSPS(t, "-i", r.path); !bytes.Equal(sps, w.sps) {
			t.Errorf("SPS changed on the way: camera %x, recording %x", w.sps, sps)
		}
	}
}

// interopFirstSPS has ffmpeg turn the first frame of input (ffmpeg input
// options ending in "-i", source) into Annex-B, which puts the SPS of the
// container's codec header (FLV sequence header, SDP) in front of it.
func interopFirstSPS(t *testing.T, input ...string) []byte {
	t.Helper()
	args := append([]string{"-v", "error"}, input...)
	args = append(args, "-map", "0:v:0", "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-frames:v", "1", "-f", "h264", "pipe:1")
	cmd := exec.Command(interopFFTool(t, "ffmpeg"), args...)
	var stderr interopBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg extracting the first frame of %v: %v\n%s", input, err, stderr.String())
	}
	var au h264.AnnexB
	if err := au.Unmarshal(out); err != nil {
		t.Fatalf("first recorded frame is not Annex-B: %v", err)
	}
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			return n
		}
	}
	t.Fatalf("no SPS in front of the first frame of %v", input)
	return nil
}
