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
// The audio reaches the publisher three video frames late, as a camera's
// audio often does: the publisher sends it as it comes, and the recording
// must still have each stream's timestamps in order and audio and video of
// the same instant at the same time.
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
	reader := &interopCountingReader{r: stream.AddReader("rtmp", 512), want: want, done: make(chan struct{}), audioLag: 3}
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
	// A/V offset: the first recorded audio frame is as far after the first
	// recorded video frame (the key frame the publish started at) as in
	// the source, within the millisecond RTMP rounds to.
	key, audio, ok := reader.firstAV()
	if !ok || len(r.Video) == 0 || len(r.Audio) == 0 {
		t.Fatalf("no key frame or no audio after it in the source (%t), or none recorded (%d video, %d audio)", ok, len(r.Video), len(r.Audio))
	}
	srcOff, recOff := audio-key, r.Audio[0].DTS-r.Video[0].DTS
	if d := recOff - srcOff; d.Abs() > time.Millisecond {
		t.Errorf("first audio %v after the first video frame in the recording, %v in the source: A/V off by %v", recOff, srcOff, d)
	}
	// The lag did reach the file: audio behind the video before it.
	behind := 0
	var lastVideo time.Duration
	for _, p := range r.Packets {
		if p.Video {
			lastVideo = p.DTS
		} else if p.DTS < lastVideo {
			behind++
		}
	}
	if behind == 0 {
		t.Errorf("no audio packet behind video in file order: the lagging audio did not reach nginx as sent")
	}
	if stats.Backwards != 0 {
		t.Errorf("%d frames went back on their track", stats.Backwards)
	}
	if got := len(r.Video); uint64(got) < stats.VideoFrames*95/100 {
		t.Errorf("nginx recorded %d video packets of the %d video frames published", got, stats.VideoFrames)
	}
	if got := len(r.Audio); uint64(got) < stats.AudioFrames*95/100 {
		t.Errorf("nginx recorded %d audio packets of the %d audio frames published", got, stats.AudioFrames)
	}
	t.Logf("nginx recorded %v (published %d video and %d audio frames, %d drops; %d audio packets behind video in file order)",
		r, stats.VideoFrames, stats.AudioFrames, stats.Drops, behind)
}

func interopClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// interopCountingReader passes units through to the publisher, each audio
// unit audioLag video units late, and closes done once it has handed over
// want video units.
type interopCountingReader struct {
	r        *media.Reader
	want     int
	done     chan struct{}
	audioLag int

	held []*media.Unit // audio not handed over yet
	out  []*media.Unit // units to hand over next
	lag  []int         // for each held unit, the video units still to pass it

	mu sync.Mutex
	n  int
	// The source's first key frame and the first audio frame at or after
	// it, which the publisher sends first: their distance is the A/V
	// offset the recording must keep.
	key, audio       time.Duration
	haveKey, haveAud bool
}

func (c *interopCountingReader) Read(ctx context.Context) (*media.Unit, error) {
	for len(c.out) == 0 {
		u, err := c.r.Read(ctx)
		if err != nil {
			return nil, err
		}
		if !u.Track.Codec.IsVideo() {
			c.held = append(c.held, u)
			c.lag = append(c.lag, c.audioLag)
			continue
		}
		c.out = append(c.out, u)
		for j := range c.lag {
			c.lag[j]--
		}
		i := 0
		for ; i < len(c.held) && c.lag[i] <= 0; i++ {
			c.out = append(c.out, c.held[i])
		}
		c.held, c.lag = c.held[i:], c.lag[i:]
	}
	u := c.out[0]
	c.out = c.out[1:]
	c.note(u)
	return u, nil
}

func (c *interopCountingReader) note(u *media.Unit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !u.Track.Codec.IsVideo() {
		if c.haveKey && !c.haveAud && u.DTS >= c.key {
			c.audio, c.haveAud = u.DTS, true
		}
		return
	}
	if u.Key && !c.haveKey {
		c.key, c.haveKey = u.DTS, true
	}
	c.n++
	if c.n == c.want {
		close(c.done)
	}
}

func (c *interopCountingReader) firstAV() (key, audio time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key, c.audio, c.haveKey && c.haveAud
}

func (c *interopCountingReader) Close() { c.r.Close() }

func (c *interopCountingReader) video() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
