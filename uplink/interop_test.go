//go:build interop

package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
)

// The interop tier publishes to nginx-rtmp, an RTMP server nobody on this
// project wrote, and reads the recording back with ffprobe. Both come from
// Debian packages; `make test-interop` checks them first, and these tests
// fail (never skip) naming the package when one is missing.

const (
	interopNginxModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	interopNginxConf   = "../agent/testdata/nginx-rtmp.conf.tmpl"
)

// TestInteropNginxIngest publishes the rtspsim fixture, pulled through
// media.Source into a media.Stream, to nginx-rtmp and checks with ffprobe
// that the recording is the camera's stream, unchanged and evenly timed.
func TestInteropNginxIngest(t *testing.T) {
	log := zaptest.NewLogger(t)
	ngx := startInteropNginx(t)

	cam := rtspsim.New(rtspsim.Options{})
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	stream := media.NewStream(log.Named("media"))
	srcCtx, stopSrc := context.WithCancel(ctx)
	srcDone := make(chan error, 1)
	go func() {
		srcDone <- media.NewSource(media.SourceOptions{URL: cam.URL(), Log: log.Named("rtsp")}, stream).Run(srcCtx)
	}()
	defer func() {
		stopSrc()
		if err := <-srcDone; err != nil {
			t.Errorf("rtsp source: %v", err)
		}
		stream.Close()
	}()

	// Four seconds of video: several GOPs at the fixture's 25 fps.
	const want = 4 * rtspsim.FPS
	reader := &interopCountingReader{r: stream.AddReader("rtmp", 512), want: want, done: make(chan struct{})}
	defer reader.Close()
	pub := NewPublisher(PublisherOptions{
		URL:    "rtmp://" + ngx.addr + "/live/cam1_Main?sid=interop-sid&psid=7",
		Source: reader,
		Logger: log.Named("publish"),
	})
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()

	select {
	case <-reader.done:
	case err := <-pubDone:
		stopPub()
		t.Fatalf("publish to nginx-rtmp ended early: %v\nnginx error log:\n%s", err, ngx.errorLog())
	case <-ctx.Done():
		stopPub()
		<-pubDone
		t.Fatalf("nginx-rtmp publish: only %d of %d video frames within the deadline (started: %t)\nnginx error log:\n%s",
			reader.video(), want, interopClosed(pub.Started()), ngx.errorLog())
	}
	stopPub()
	if err := <-pubDone; err != nil {
		t.Fatalf("publisher run after cancel = %v, want nil", err)
	}
	stats := pub.Stats()
	ngx.stop(t)

	tracks := stream.Tracks()
	var vt, at *media.Track
	for _, tr := range tracks {
		if tr.Codec.IsVideo() {
			vt = tr
		} else {
			at = tr
		}
	}
	if vt == nil || at == nil {
		t.Fatalf("stream tracks %v: want video and audio", tracks)
	}
	rec := filepath.Join(ngx.recordDir, "cam1_Main.flv")
	r := interopProbe(t, rec)
	r.check(t, interopWant{
		width: 640, height: 360, fps: rtspsim.FPS,
		sampleRate: at.SampleRate, channels: at.Channels,
		sps: cam.SPS(),
	})
	// The publisher counts video units and audio frames alike.
	if got := len(r.videoPkts) + len(r.audioPkts); uint64(got) < stats.Frames*95/100 {
		t.Errorf("nginx recorded %d packets of the %d frames published", got, stats.Frames)
	}
	t.Logf("nginx recorded %d video and %d audio packets (published %d frames, %d drops)", len(r.videoPkts), len(r.audioPkts), stats.Frames, stats.Drops)
}

func interopClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// interopCountingReader passes units through to the publisher and closes done
// once it has handed over want video units.
type interopCountingReader struct {
	r    *media.Reader
	want int
	done chan struct{}

	mu sync.Mutex
	n  int
}

func (c *interopCountingReader) Read(ctx context.Context) (*media.Unit, error) {
	u, err := c.r.Read(ctx)
	if err == nil && u.Track.Codec.IsVideo() {
		c.mu.Lock()
		c.n++
		if c.n == c.want {
			close(c.done)
		}
		c.mu.Unlock()
	}
	return u, err
}

func (c *interopCountingReader) Close() { c.r.Close() }

func (c *interopCountingReader) video() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
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
