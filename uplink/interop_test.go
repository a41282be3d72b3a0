//go:build interop

package uplink

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// The interop tier publishes to nginx-rtmp, an RTMP server nobody on this
// project wrote (cloudsim.Nginx), and reads the recording back with ffprobe
// (cloudsim.Probe). Both come from Debian packages; `make test-interop`
// checks them first, and these tests fail (never skip) naming the package
// when one is missing.

// TestInteropNginxIngest publishes the rtspsim fixture, pulled through
// media.Source into a media.Stream, to nginx-rtmp and checks with ffprobe
// that the recording is the camera's stream, unchanged and evenly timed.
func TestInteropNginxIngest(t *testing.T) {
	log := zaptest.NewLogger(t)
	ngx, err := cloudsim.StartNginx(t.TempDir())
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	t.Cleanup(ngx.Close)

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
		URL:    "rtmp://" + ngx.Addr() + "/live/cam1_Main?sid=interop-sid&psid=7",
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
		t.Fatalf("publish to nginx-rtmp ended early: %v\nnginx error log:\n%s", err, ngx.ErrorLog())
	case <-ctx.Done():
		stopPub()
		<-pubDone
		t.Fatalf("nginx-rtmp publish: only %d of %d video frames within the deadline (started: %t)\nnginx error log:\n%s",
			reader.video(), want, interopClosed(pub.Started()), ngx.ErrorLog())
	}
	stopPub()
	if err := <-pubDone; err != nil {
		t.Fatalf("publisher run after cancel = %v, want nil", err)
	}
	stats := pub.Stats()
	if err := ngx.Stop(); err != nil {
		t.Fatal(err)
	}

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
	r, err := cloudsim.Probe(ngx.Recording("cam1_Main"))
	if err != nil {
		t.Fatalf("nginx recording: %v", err)
	}
	for _, p := range r.Problems(cloudsim.Want{
		Width: 640, Height: 360, FPS: rtspsim.FPS,
		SampleRate: at.SampleRate, Channels: at.Channels,
		SPS: cam.SPS(),
	}) {
		t.Errorf("nginx recording: %s", p)
	}
	if got := len(r.Video); uint64(got) < stats.VideoFrames*95/100 {
		t.Errorf("nginx recorded %d video packets of the %d video frames published", got, stats.VideoFrames)
	}
	if got := len(r.Audio); uint64(got) < stats.AudioFrames*95/100 {
		t.Errorf("nginx recorded %d audio packets of the %d audio frames published", got, stats.AudioFrames)
	}
	t.Logf("nginx recorded %v (published %d video and %d audio frames, %d drops)", r, stats.VideoFrames, stats.AudioFrames, stats.Drops)
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
