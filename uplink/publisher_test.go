package uplink_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// fixture is a real H.264 + AAC elementary stream split into units the way
// media.Stream hands them out: one unit per access unit / AAC frame,
// interleaved by DTS.
type fixture struct {
	video, audio *media.Track
	units        []*media.Unit
	videoUnits   int
	duration     time.Duration
}

var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
	fixtureErr  error
)

// fixtureDirs are where the media helper keeps the committed fixture.
var fixtureDirs = []string{
	filepath.Join("..", "media", "rtspsim", "fixture"),
	filepath.Join("..", "media", "testdata"),
}

// loadFixture reads the media fixture.{h264,aac}; if it is not there, it
// makes an equivalent copy with ffmpeg.
func loadFixture(t testing.TB) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		dir := ""
		for _, d := range fixtureDirs {
			if _, err := os.Stat(filepath.Join(d, "fixture.h264")); err == nil {
				dir = d
				break
			}
		}
		if dir == "" {
			dir, fixtureErr = os.MkdirTemp("", "uplink-fixture")
			if fixtureErr != nil {
				return
			}
			defer os.RemoveAll(dir)
			if fixtureErr = makeFixture(dir); fixtureErr != nil {
				return
			}
		}
		fixtureVal, fixtureErr = readFixture(filepath.Join(dir, "fixture.h264"), filepath.Join(dir, "fixture.aac"))
	})
	if fixtureErr != nil {
		t.Fatalf("fixture: %v", fixtureErr)
	}
	return fixtureVal
}

func makeFixture(dir string) error {
	cmds := [][]string{
		{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=10", "-c:v", "libx264",
			"-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "25", "-keyint_min", "25",
			"-sc_threshold", "0", "-bf", "0", "-x264-params", "repeat-headers=1", "-f", "h264",
			filepath.Join(dir, "fixture.h264")},
		{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10", "-c:a", "aac",
			"-ac", "1", "-f", "adts", filepath.Join(dir, "fixture.aac")},
	}
	for _, c := range cmds {
		out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, c...)...).CombinedOutput()
		if err != nil {
			return errors.New("ffmpeg: " + err.Error() + ": " + string(out))
		}
	}
	return nil
}

func readFixture(h264Path, aacPath string) (*fixture, error) {
	vb, err := os.ReadFile(h264Path)
	if err != nil {
		return nil, err
	}
	f := &fixture{video: &media.Track{Codec: media.CodecH264, ClockRate: 90000}}
	aus := splitAccessUnits(splitAnnexB(vb))
	const frame = 40 * time.Millisecond
	var videoUnits []*media.Unit
	for i, au := range aus {
		key := false
		for _, n := range au {
			switch n[0] & 0x1f {
			case 5:
				key = true
			case 7:
				if f.video.SPS == nil {
					f.video.SPS = n
				}
			case 8:
				if f.video.PPS == nil {
					f.video.PPS = n
				}
			}
		}
		ts := time.Duration(i) * frame
		videoUnits = append(videoUnits, &media.Unit{Track: f.video, PTS: ts, DTS: ts, Key: key, NALUs: au})
	}
	var sps h264.SPS
	if err := sps.Unmarshal(f.video.SPS); err != nil {
		return nil, err
	}
	f.video.Width, f.video.Height = sps.Width(), sps.Height()
	f.videoUnits = len(videoUnits)
	f.duration = time.Duration(len(videoUnits)) * frame

	ab, err := os.ReadFile(aacPath)
	if err != nil {
		return nil, err
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(ab); err != nil {
		return nil, err
	}
	asc := mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelConfig: pkts[0].ChannelConfig}
	cfg, err := asc.Marshal()
	if err != nil {
		return nil, err
	}
	f.audio = &media.Track{Codec: media.CodecAAC, ClockRate: pkts[0].SampleRate, Config: cfg,
		SampleRate: pkts[0].SampleRate, Channels: int(pkts[0].ChannelConfig)}
	var audioUnits []*media.Unit
	for i, p := range pkts {
		ts := time.Duration(i) * 1024 * time.Second / time.Duration(pkts[0].SampleRate)
		if ts >= f.duration {
			break
		}
		audioUnits = append(audioUnits, &media.Unit{Track: f.audio, PTS: ts, DTS: ts, Frames: [][]byte{p.AU}})
	}
	f.units = append(videoUnits, audioUnits...)
	sort.SliceStable(f.units, func(a, b int) bool { return f.units[a].DTS < f.units[b].DTS })
	return f, nil
}

// splitAnnexB returns the NAL units of an Annex-B byte stream.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = append(out, bytes.TrimRight(b[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// splitAccessUnits groups NAL units into access units: a new one starts at
// an AUD/SPS/PPS/SEI after a picture, or at a slice with first_mb_in_slice 0.
func splitAccessUnits(nalus [][]byte) [][][]byte {
	var aus [][][]byte
	var cur [][]byte
	hasVCL := false
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		typ := n[0] & 0x1f
		vcl := typ == 1 || typ == 5
		if hasVCL && ((typ >= 6 && typ <= 9) || (vcl && len(n) > 1 && n[1]&0x80 != 0)) {
			aus = append(aus, cur)
			cur, hasVCL = nil, false
		}
		if typ == 9 {
			continue
		}
		cur = append(cur, n)
		hasVCL = hasVCL || vcl
	}
	if hasVCL {
		aus = append(aus, cur)
	}
	return aus
}

// fakeReader plays units like a media.Reader. With loop set it repeats the
// fixture forever on a continuing timeline, paced at speed× real time, like
// a live camera; otherwise it returns io.EOF at the end.
type fakeReader struct {
	units []*media.Unit
	loop  bool
	speed float64

	i      int
	offset time.Duration
	start  time.Time
	period time.Duration
	closed chan struct{}
	once   sync.Once
}

func newReader(f *fixture, loop bool, speed float64) *fakeReader {
	return &fakeReader{units: f.units, loop: loop, speed: speed, period: f.duration, closed: make(chan struct{})}
}

func (r *fakeReader) Read(ctx context.Context) (*media.Unit, error) {
	if r.i == len(r.units) {
		if !r.loop {
			return nil, io.EOF
		}
		r.i = 0
		r.offset += r.period
	}
	u := r.units[r.i]
	r.i++
	if r.offset != 0 {
		c := *u
		c.DTS += r.offset
		c.PTS += r.offset
		u = &c
	}
	if r.speed > 0 {
		if r.start.IsZero() {
			r.start = time.Now()
		}
		due := r.start.Add(time.Duration(float64(u.DTS) / r.speed))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-r.closed:
				return nil, errors.New("reader closed")
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return u, nil
}

func (r *fakeReader) Close() { r.once.Do(func() { close(r.closed) }) }

func startIngest(t *testing.T, opts cloudsim.IngestOptions) *cloudsim.Ingest {
	t.Helper()
	ing := cloudsim.NewIngest(opts)
	if err := ing.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ing.Close)
	return ing
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runInBackground runs run (a Publisher's or Streams' Run) until the
// test ends or the returned stop is called; stop returns Run's result.
func runInBackground(t *testing.T, run func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-res
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestPublisherDeliversFixtureUnchanged runs with a source that says how
// many units wait, like media.Reader, so the publisher writes many frames
// per write (a fixture without pacing is all queued at once), and with one
// that does not, so it writes after every unit.
func TestPublisherDeliversFixtureUnchanged(t *testing.T) {
	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) { testPublisherDeliversFixture(t, batched) })
	}
}

// queuedReader is a fakeReader that reports its remaining units as queued.
type queuedReader struct{ *fakeReader }

func (r queuedReader) Queued() int { return len(r.units) - r.i }

func testPublisherDeliversFixture(t *testing.T, batched bool) {
	f := loadFixture(t)
	var authorized []url.Values
	var amu sync.Mutex
	ing := startIngest(t, cloudsim.IngestOptions{Authorize: func(app, stream string, q url.Values) error {
		amu.Lock()
		defer amu.Unlock()
		authorized = append(authorized, q)
		return nil
	}})
	link := uplink.Link{MediaServer: ing.Addr(), Path: "live/u7731m310077c310042_", SID: "Jv3kPq8ZtX"}
	pubURL, err := link.PublishURL("Main", 4711)
	if err != nil {
		t.Fatal(err)
	}
	var src uplink.UnitReader = newReader(f, false, 0)
	if batched {
		src = queuedReader{src.(*fakeReader)}
	}
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: pubURL, Source: src, Logger: zaptest.NewLogger(t)})
	ctx := testCtx(t)
	res := make(chan error, 1)
	go func() { res <- p.Run(ctx) }()

	// The source ends with io.EOF after the last unit, which ends Run; a
	// fast publish may have ended before this looks, so Started is asked
	// once Run returned.
	var runErr error
	select {
	case runErr = <-res:
	case <-ctx.Done():
		t.Fatal("publish never ended")
	}
	select {
	case <-p.Started():
	default:
		t.Fatalf("publish failed before start: %v", runErr)
	}
	if !errors.Is(runErr, io.EOF) {
		t.Fatalf("Run = %v, want the source's io.EOF", runErr)
	}
	want := f.videoUnits * 9 / 10
	if err := ing.WaitFrames(ctx, want); err != nil {
		t.Fatalf("ingest got fewer than %d of %d frames: %v", want, f.videoUnits, err)
	}
	if err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return !rs[0].Active }); err != nil {
		t.Fatal(err)
	}
	recs := ing.Publishes()
	if len(recs) != 1 {
		t.Fatalf("got %d publishes, want 1", len(recs))
	}
	r := recs[0]
	t.Logf("source %d video units; ingest got %d video, %d audio frames, %d bytes", f.videoUnits, r.VideoFrames, r.AudioFrames, r.Bytes)
	if !r.Accepted || r.App != "live" || r.TCURL != "rtmp://"+ing.Addr()+"/live" || r.Type != "live" {
		t.Errorf("connect/publish = app %q tcUrl %q type %q accepted %v", r.App, r.TCURL, r.Type, r.Accepted)
	}
	if r.Name != "u7731m310077c310042_Main?sid=Jv3kPq8ZtX&psid=4711" {
		t.Errorf("publish name = %q", r.Name)
	}
	if r.Query.Get("sid") != "Jv3kPq8ZtX" || r.Query.Get("psid") != "4711" || len(authorized) != 1 {
		t.Errorf("query = %v, authorized %v", r.Query, authorized)
	}
	if !bytes.Equal(r.SPS, f.video.SPS) || !bytes.Equal(r.PPS, f.video.PPS) {
		t.Errorf("sequence header SPS/PPS differ from the source")
	}
	if r.VideoCodec != "H.264" || r.AudioCodec != "AAC" || !bytes.Equal(r.AACConfig, f.audio.Config) {
		t.Errorf("codecs %s/%s, aac config %x want %x", r.VideoCodec, r.AudioCodec, r.AACConfig, f.audio.Config)
	}
	if !r.FirstVideoKey || !r.Monotonic || len(r.Violations) != 0 || !r.Metadata {
		t.Errorf("first key %v, monotonic %v, metadata %v, violations %v", r.FirstVideoKey, r.Monotonic, r.Metadata, r.Violations)
	}
	if r.VideoFrames != f.videoUnits {
		// Nothing may be lost on a healthy loopback connection.
		t.Errorf("video frames = %d, want %d", r.VideoFrames, f.videoUnits)
	}
	// Timestamps: ms from the first key frame at the fixture's 25 fps.
	var vts []time.Duration
	for _, fr := range r.Frames {
		if fr.Video {
			vts = append(vts, fr.DTS)
		}
	}
	if vts[0] != 0 || vts[1] != 40*time.Millisecond || vts[len(vts)-1] != time.Duration(len(vts)-1)*40*time.Millisecond {
		t.Errorf("video timestamps start %v %v, end %v", vts[0], vts[1], vts[len(vts)-1])
	}
	// The counters split the frames by kind, as the ingest saw them.
	st := p.Stats()
	if st.VideoFrames != uint64(r.VideoFrames) || st.AudioFrames != uint64(r.AudioFrames) || r.AudioFrames == 0 || st.Bytes == 0 {
		t.Errorf("stats = %+v; the ingest got %d video and %d audio frames", st, r.VideoFrames, r.AudioFrames)
	}
}

func TestPublisherStartsAtKeyFrame(t *testing.T) {
	f := loadFixture(t)
	// Start mid-GOP: the first units the publisher sees are P frames and audio.
	first := 0
	for i, u := range f.units {
		if u.Track == f.video && !u.Key && u.DTS > 200*time.Millisecond {
			first = i
			break
		}
	}
	src := &fakeReader{units: f.units[first:], closed: make(chan struct{})}
	ing := startIngest(t, cloudsim.IngestOptions{})
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=s", Source: src})
	ctx := testCtx(t)
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v", err)
	}
	if err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 1 && !rs[0].Active }); err != nil {
		t.Fatal(err)
	}
	r := ing.Publishes()[0]
	if !r.FirstVideoKey || !r.Monotonic || len(r.Violations) != 0 {
		t.Errorf("first key %v, monotonic %v, violations %v", r.FirstVideoKey, r.Monotonic, r.Violations)
	}
	if r.Frames[0].DTS != 0 {
		t.Errorf("first timestamp %v, want 0", r.Frames[0].DTS)
	}
	if p.Stats().Drops == 0 {
		t.Errorf("units before the key frame were not counted as drops")
	}
}

func TestPublisherResendsHeadersOnNewTrack(t *testing.T) {
	f := loadFixture(t)
	// A camera reconnect publishes a new *Track (same parameters here): the
	// publisher must send fresh sequence headers at the next key frame.
	v2 := *f.video
	var units []*media.Unit
	for _, u := range f.units {
		if u.DTS >= 2*time.Second && u.Track == f.video {
			c := *u
			c.Track = &v2
			u = &c
		}
		units = append(units, u)
	}
	// All units queued: the new sequence headers go out between frames
	// of one batch, after the frames buffered before them.
	src := queuedReader{&fakeReader{units: units, closed: make(chan struct{})}}
	ing := startIngest(t, cloudsim.IngestOptions{})
	rec := &wireRecorder{}
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=s", Source: src, Dial: rec.dial})
	ctx := testCtx(t)
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v", err)
	}
	if err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 1 && !rs[0].Active }); err != nil {
		t.Fatal(err)
	}
	r := ing.Publishes()[0]
	if r.VideoHeaders != 2 || r.AudioHeaders != 1 || !r.Monotonic || len(r.Violations) != 0 {
		t.Errorf("video headers %d audio headers %d monotonic %v violations %v", r.VideoHeaders, r.AudioHeaders, r.Monotonic, r.Violations)
	}
	// On the wire, the second sequence header comes after every frame of
	// the old track and before the first of the new one.
	var seen []string
	headers, old := 0, 0
	for _, ev := range rec.events(t) {
		switch {
		case ev.header:
			headers++
		case ev.video && ev.ts < 2*time.Second:
			if headers != 1 {
				seen = append(seen, fmt.Sprintf("old frame %v after header %d", ev.ts, headers))
			}
			old++
		case ev.video && headers != 2:
			seen = append(seen, fmt.Sprintf("new frame %v after header %d", ev.ts, headers))
		}
	}
	if old == 0 || len(seen) != 0 {
		t.Errorf("%d old-track frames; out of order: %v", old, seen)
	}
}

// A camera that sends its parameter sets only in band (none in the SDP)
// still gets a sequence header: built from those of the first key frame.
func TestPublisherTakesInBandParameterSets(t *testing.T) {
	f := loadFixture(t)
	bare := &media.Track{Codec: media.CodecH264, ClockRate: f.video.ClockRate}
	var units []*media.Unit
	for _, u := range f.units {
		if u.Track == f.video {
			c := *u
			c.Track = bare
			u = &c
		}
		units = append(units, u)
	}
	src := &fakeReader{units: units, closed: make(chan struct{})}
	ing := startIngest(t, cloudsim.IngestOptions{})
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=s", Source: src})
	ctx := testCtx(t)
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v", err)
	}
	if err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 1 && !rs[0].Active }); err != nil {
		t.Fatal(err)
	}
	r := ing.Publishes()[0]
	if r.VideoHeaders != 1 || !bytes.Equal(r.SPS, f.video.SPS) || !bytes.Equal(r.PPS, f.video.PPS) {
		t.Errorf("%d video headers, SPS %x PPS %x; want 1 with the in-band SPS %x PPS %x",
			r.VideoHeaders, r.SPS, r.PPS, f.video.SPS, f.video.PPS)
	}
	if r.VideoFrames != f.videoUnits || p.Stats().Drops != 0 {
		t.Errorf("video frames %d of %d, drops %d", r.VideoFrames, f.videoUnits, p.Stats().Drops)
	}
}

// wireRecorder keeps what a publisher writes to its connection, one entry
// per Write.
type wireRecorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *wireRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, w: w}, nil
}

type recordingConn struct {
	net.Conn
	w *wireRecorder
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.writes = append(c.w.writes, bytes.Clone(p))
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

// wireEvent is a video sequence header or a media frame seen on the wire.
type wireEvent struct {
	header, video bool
	ts            time.Duration
}

// events decodes the recorded writes: the publisher's frame writes start
// with a full header on chunk stream 5 (audio) or 7 (video) and hold whole
// messages; gortmplib writes a sequence header in one write on chunk
// stream 6. Nothing else matters here.
func (w *wireRecorder) events(t *testing.T) []wireEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []wireEvent
	for _, b := range w.writes {
		if len(b) == 0 {
			continue
		}
		if b[0] != 5 && b[0] != 7 {
			if b[0] == 6 || b[0]&0x3f == 6 {
				out = append(out, wireEvent{header: true})
			}
			continue
		}
		for len(b) > 0 {
			if len(b) < 12 || (b[0] != 5 && b[0] != 7) {
				t.Fatalf("frame write: bad message header % x", b[:min(len(b), 12)])
			}
			ts := time.Duration(int(b[1])<<16|int(b[2])<<8|int(b[3])) * time.Millisecond
			n := int(b[4])<<16 | int(b[5])<<8 | int(b[6])
			out = append(out, wireEvent{video: b[0] == 7, ts: ts})
			size := 12 + n + (n-1)/65536 // one-byte continuation headers
			if size > len(b) {
				t.Fatalf("frame write: message of %d bytes cut at %d", size, len(b))
			}
			b = b[size:]
		}
	}
	return out
}

func TestPublisherRTMPSVerifiesServer(t *testing.T) {
	f := loadFixture(t)
	ing := startIngest(t, cloudsim.IngestOptions{TLS: true})
	link := uplink.Link{MediaServer: ing.Addr(), Path: "live/cam1_", SID: "s1", Secure: true}
	pubURL, err := link.PublishURL("Main", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pubURL, "rtmps://") {
		t.Fatalf("url %q is not rtmps", pubURL)
	}
	ctx := testCtx(t)

	t.Run("untrusted", func(t *testing.T) {
		p := uplink.NewPublisher(uplink.PublisherOptions{URL: pubURL, Source: newReader(f, true, 0)})
		err := p.Run(ctx)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Run without the ingest CA = %v, want a certificate error", err)
		}
		select {
		case <-p.Started():
			t.Fatal("started without a trusted certificate")
		default:
		}
	})
	t.Run("trusted", func(t *testing.T) {
		p := uplink.NewPublisher(uplink.PublisherOptions{
			URL: pubURL, Source: newReader(f, true, 10),
			TLSConfig: &tls.Config{RootCAs: ing.CertPool(), MinVersion: tls.VersionTLS12},
		})
		stop := runInBackground(t, p.Run)
		if err := ing.WaitFrames(ctx, 25); err != nil {
			t.Fatal(err)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		var ok bool
		for _, r := range ing.Publishes() {
			ok = ok || (r.Accepted && r.TCURL == "rtmps://"+ing.Addr()+"/live" && r.Name == "cam1_Main?sid=s1")
		}
		if !ok {
			t.Errorf("no accepted rtmps publish: %+v", ing.Publishes())
		}
	})
}

func TestPublisherRejected(t *testing.T) {
	f := loadFixture(t)
	ing := startIngest(t, cloudsim.IngestOptions{Authorize: func(app, stream string, q url.Values) error {
		if q.Get("sid") != "good" {
			return errors.New("bad sid")
		}
		return nil
	}})
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=bad", Source: newReader(f, true, 0)})
	if err := p.Run(testCtx(t)); err == nil {
		t.Fatal("Run succeeded against a refusing ingest")
	}
	if r := ing.Publishes()[0]; r.Accepted || !strings.Contains(r.Rejected, "unauthorized") {
		t.Errorf("record = accepted %v rejected %q", r.Accepted, r.Rejected)
	}
}

func TestPublisherReturnsErrorWhenServerDrops(t *testing.T) {
	f := loadFixture(t)
	ing := startIngest(t, cloudsim.IngestOptions{})
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=s", Source: newReader(f, true, 1)})
	ctx := testCtx(t)
	res := make(chan error, 1)
	go func() { res <- p.Run(ctx) }()
	if err := ing.WaitFrames(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := ing.DropPublishers(); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("Run = nil after the server dropped the connection")
		}
	case <-ctx.Done():
		t.Fatal("Run did not notice the dropped connection")
	}
}

func TestPublisherBadURL(t *testing.T) {
	for _, u := range []string{"http://h/live/x", "rtmp://h/live", "rtmp:///live/x", "rtmp://h//x"} {
		p := uplink.NewPublisher(uplink.PublisherOptions{URL: u, Source: &fakeReader{closed: make(chan struct{})}})
		if err := p.Run(context.Background()); err == nil {
			t.Errorf("Run(%q) = nil", u)
		}
	}
}

// BenchmarkPublisher writes a 1080p-like H.264 stream (the media helper's
// gen/bench.h264 when generated, else the small fixture) to the ingest.
// allocs/op include the in-process ingest parsing every frame.
func BenchmarkPublisher(b *testing.B) {
	f := loadFixture(b)
	if bf, err := readFixture(filepath.Join("..", "media", "testdata", "gen", "bench.h264"),
		filepath.Join("..", "media", "testdata", "gen", "bench.aac")); err == nil {
		f = bf
	}
	var video []*media.Unit
	for _, u := range f.units {
		if u.Track == f.video {
			video = append(video, u)
		}
	}
	units := make([]*media.Unit, 0, b.N)
	for i := range b.N {
		c := *video[i%len(video)]
		c.DTS = time.Duration(i) * 40 * time.Millisecond
		c.PTS = c.DTS
		units = append(units, &c)
	}
	ing := cloudsim.NewIngest(cloudsim.IngestOptions{MaxFrames: 1})
	if err := ing.Start(); err != nil {
		b.Fatal(err)
	}
	defer ing.Close()
	src := &fakeReader{units: units, closed: make(chan struct{})}
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/bench_Main?sid=s", Source: src})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := p.Run(context.Background()); !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
	st := p.Stats()
	b.ReportMetric(float64(st.Bytes)/float64(b.N), "B/frame")
}

// BenchmarkPublisherAudioVideo is BenchmarkPublisher with the fixture's
// AAC beside the video, arriving one video frame late as a camera's audio
// often does; ns/op and allocs/op are per video frame.
func BenchmarkPublisherAudioVideo(b *testing.B) {
	f := loadFixture(b)
	if bf, err := readFixture(filepath.Join("..", "media", "testdata", "gen", "bench.h264"),
		filepath.Join("..", "media", "testdata", "gen", "bench.aac")); err == nil {
		f = bf
	}
	var video, audio []*media.Unit
	for _, u := range f.units {
		if u.Track == f.video {
			video = append(video, u)
		} else {
			audio = append(audio, u)
		}
	}
	aacFrame := 1024 * time.Second / time.Duration(f.audio.SampleRate)
	units := make([]*media.Unit, 0, b.N*3)
	na := 0
	for i := range b.N {
		c := *video[i%len(video)]
		c.DTS = time.Duration(i) * 40 * time.Millisecond
		c.PTS = c.DTS
		units = append(units, &c)
		for ; time.Duration(na)*aacFrame < c.DTS-40*time.Millisecond; na++ {
			a := *audio[na%len(audio)]
			a.DTS = time.Duration(na) * aacFrame
			a.PTS = a.DTS
			units = append(units, &a)
		}
	}
	ing := cloudsim.NewIngest(cloudsim.IngestOptions{MaxFrames: 1})
	if err := ing.Start(); err != nil {
		b.Fatal(err)
	}
	defer ing.Close()
	src := &fakeReader{units: units, closed: make(chan struct{})}
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/bench_Main?sid=s", Source: src})
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.Run(context.Background()); !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
}

// hevcUnits encodes one second of H.265 with ffmpeg and splits it into
// access units (first_slice_segment_in_pic_flag starts a picture).
func hevcUnits(t *testing.T) (*media.Track, []*media.Unit) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "f.h265")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx265", "-preset", "ultrafast",
		"-x265-params", "log-level=error:keyint=25:bframes=0", "-f", "hevc", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg h265: %v: %s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	track := &media.Track{Codec: media.CodecH265, ClockRate: 90000}
	var aus [][][]byte
	var cur [][]byte
	hasVCL := false
	for _, n := range splitAnnexB(b) {
		if len(n) < 3 {
			continue
		}
		typ := (n[0] >> 1) & 0x3f
		vcl := typ < 32
		if hasVCL && ((typ >= 32 && typ <= 40) || (vcl && n[2]&0x80 != 0)) {
			aus = append(aus, cur)
			cur, hasVCL = nil, false
		}
		switch typ {
		case 32:
			track.VPS = first(track.VPS, n)
		case 33:
			track.SPS = first(track.SPS, n)
		case 34:
			track.PPS = first(track.PPS, n)
		}
		cur = append(cur, n)
		hasVCL = hasVCL || vcl
	}
	if hasVCL {
		aus = append(aus, cur)
	}
	var units []*media.Unit
	for i, au := range aus {
		key := false
		for _, n := range au {
			if typ := (n[0] >> 1) & 0x3f; typ >= 16 && typ <= 23 {
				key = true
			}
		}
		ts := time.Duration(i) * 40 * time.Millisecond
		units = append(units, &media.Unit{Track: track, DTS: ts, PTS: ts, Key: key, NALUs: au})
	}
	return track, units
}

func first(have, n []byte) []byte {
	if have != nil {
		return have
	}
	return n
}

func TestPublisherH265EnhancedRTMP(t *testing.T) {
	track, units := hevcUnits(t)
	ing := startIngest(t, cloudsim.IngestOptions{})
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=s",
		Source: &fakeReader{units: units, closed: make(chan struct{})}})
	ctx := testCtx(t)
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v", err)
	}
	if err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 1 && !rs[0].Active }); err != nil {
		t.Fatal(err)
	}
	r := ing.Publishes()[0]
	if r.VideoCodec != "H.265" || !bytes.Equal(r.VPS, track.VPS) || !bytes.Equal(r.SPS, track.SPS) || !bytes.Equal(r.PPS, track.PPS) {
		t.Errorf("codec %q, parameter sets equal: vps %v sps %v pps %v", r.VideoCodec,
			bytes.Equal(r.VPS, track.VPS), bytes.Equal(r.SPS, track.SPS), bytes.Equal(r.PPS, track.PPS))
	}
	if r.VideoFrames != len(units) || !r.FirstVideoKey || !r.Monotonic || len(r.Violations) != 0 {
		t.Errorf("frames %d/%d key %v monotonic %v violations %v", r.VideoFrames, len(units), r.FirstVideoKey, r.Monotonic, r.Violations)
	}
}

// After a camera session restart (media.Unit.Discontinuity) the publisher
// sends nothing of the video until a key frame, and sends the sequence
// header again before it, even though the track is the same.
func TestPublisherWaitsForKeyFrameAfterDiscontinuity(t *testing.T) {
	f := loadFixture(t)
	var units []*media.Unit
	var base, gapAt, resume time.Duration = -1, -1, -1
	for _, u := range f.units {
		video := u.Track == f.video
		switch {
		case video && base < 0:
			base = u.DTS
		case video && gapAt < 0 && !u.Key && u.DTS >= 2*time.Second:
			c := *u
			c.Discontinuity = true
			u, gapAt = &c, u.DTS
		case video && gapAt >= 0 && resume < 0 && u.Key:
			resume = u.DTS
		}
		units = append(units, u)
	}
	if gapAt < 0 || resume < 0 {
		t.Fatal("fixture has no P frame after 2 s followed by a key frame")
	}
	src := &fakeReader{units: units, closed: make(chan struct{})}
	ing := startIngest(t, cloudsim.IngestOptions{})
	p := uplink.NewPublisher(uplink.PublisherOptions{URL: ing.URL() + "/live/cam1_Main?sid=s", Source: src})
	ctx := testCtx(t)
	if err := p.Run(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v", err)
	}
	if err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return len(rs) == 1 && !rs[0].Active }); err != nil {
		t.Fatal(err)
	}
	r := ing.Publishes()[0]
	if r.VideoHeaders != 2 || !r.Monotonic || len(r.Violations) != 0 {
		t.Errorf("video headers %d (want 2) monotonic %v violations %v", r.VideoHeaders, r.Monotonic, r.Violations)
	}
	from, to := (gapAt - base).Truncate(time.Millisecond), (resume - base).Truncate(time.Millisecond)
	var resumed bool
	for _, fr := range r.Frames {
		switch {
		case !fr.Video || fr.DTS < from:
		case fr.DTS < to:
			t.Errorf("video frame at %v (key %v) published after the discontinuity at %v, before the key frame at %v", fr.DTS, fr.Key, from, to)
		case fr.DTS == to:
			resumed = resumed || fr.Key
		}
	}
	if !resumed {
		t.Errorf("key frame at %v after the discontinuity not published", to)
	}
}
