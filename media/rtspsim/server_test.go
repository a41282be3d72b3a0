package rtspsim

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func dial(t *testing.T, rawURL string) (*gortsplib.Client, *base.URL) {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, u
}

func TestServerRequiresDigest(t *testing.T) {
	s := startServer(t, Options{Username: "admin", Password: "s3cret"})
	var challenge []string
	u, _ := base.ParseURL(s.URL())
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, OnResponse: func(r *base.Response) {
		if r.StatusCode == base.StatusUnauthorized {
			challenge = r.Header["WWW-Authenticate"]
		}
	}}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _, err := c.Describe(u)
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
		t.Fatalf("describe without credentials: %v", err)
	}
	if len(challenge) != 1 || !strings.HasPrefix(challenge[0], "Digest ") {
		t.Fatalf("challenge %q, want digest only", challenge)
	}

	wrong, wu := dial(t, strings.Replace(s.URL(), "rtsp://", "rtsp://admin:nope@", 1))
	if _, _, err := wrong.Describe(wu); !errors.As(err, &bad) || bad.Code != base.StatusUnauthorized {
		t.Fatalf("describe with wrong password: %v", err)
	}

	ok, ou := dial(t, strings.Replace(s.URL(), "rtsp://", "rtsp://admin:s3cret@", 1))
	desc, _, err := ok.Describe(ou)
	if err != nil {
		t.Fatalf("describe with the right password: %v", err)
	}
	var h264 *format.H264
	if desc.FindFormat(&h264) == nil || !bytes.Equal(h264.SPS, s.SPS()) || !bytes.Equal(h264.PPS, s.PPS()) {
		t.Fatal("SDP lacks the fixture's SPS/PPS")
	}
	var aac *format.MPEG4Audio
	if desc.FindFormat(&aac) == nil || aac.Config.SampleRate != 48000 {
		t.Fatal("SDP lacks the AAC track")
	}
}

func TestServerUnknownPath(t *testing.T) {
	s := startServer(t, Options{})
	c, u := dial(t, strings.TrimSuffix(s.URL(), "/stream")+"/other")
	var bad liberrors.ErrClientBadStatusCode
	if _, _, err := c.Describe(u); !errors.As(err, &bad) || bad.Code != base.StatusNotFound {
		t.Fatalf("describe unknown path: %v", err)
	}
}

// TestServerPlayAndDrop plays the stream, checks that each IDR carries
// SPS+PPS and RTP timestamps step by one frame, then drops the session.
func TestServerPlayAndDrop(t *testing.T) {
	s := startServer(t, Options{})
	c, u := dial(t, s.URL())
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var h264f *format.H264
	medi := desc.FindFormat(&h264f)
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	dec, err := h264f.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	type frame struct {
		ts            uint32
		idr, hasParam bool
	}
	frames := make(chan frame, 256)
	var got atomic.Int64
	c.OnPacketRTP(medi, h264f, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return
		}
		var f frame
		f.ts = pkt.Timestamp
		for _, n := range au {
			switch n[0] & 0x1f {
			case naluIDR:
				f.idr = true
			case naluSPS:
				f.hasParam = true
			}
		}
		if got.Add(1) <= 256 {
			frames <- f
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	var prev *frame
	idrs := 0
	for idrs < 2 {
		select {
		case f := <-frames:
			if f.idr {
				idrs++
				if !f.hasParam {
					t.Fatal("IDR without SPS/PPS in band")
				}
			}
			if prev != nil && f.ts-prev.ts != videoClockRate/FPS {
				t.Fatalf("rtp timestamp step %d, want %d", f.ts-prev.ts, videoClockRate/FPS)
			}
			prev = &f
		case <-time.After(5 * time.Second):
			t.Fatal("no frames")
		}
	}
	if s.FramesSent() < got.Load() {
		t.Fatalf("FramesSent %d < received %d", s.FramesSent(), got.Load())
	}

	s.DropSessions()
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	select {
	case err := <-waited:
		if err == nil {
			t.Fatal("client ended without error after drop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client still connected after DropSessions")
	}
}

func TestServerLoopsWithContinuousTimestamps(t *testing.T) {
	// A 3-frame clip loops many times within a few hundred milliseconds.
	clip := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, 0x84,
		0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x41, 0x9a}
	dir := t.TempDir()
	path := dir + "/clip.h264"
	if err := os.WriteFile(path, clip, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{VideoFile: path, AudioFile: "-"})
	if len(s.aus) != 3 {
		t.Fatalf("clip split into %d frames", len(s.aus))
	}
	c, u := dial(t, s.URL())
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Medias) != 1 {
		t.Fatalf("%d medias with audio disabled", len(desc.Medias))
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	ts := make(chan uint32, 64)
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		select {
		case ts <- pkt.Timestamp:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	var prev uint32
	for i := range 10 { // more than three loops
		var cur uint32
		select {
		case cur = <-ts:
		case <-time.After(5 * time.Second):
			t.Fatal("no packets")
		}
		if i > 0 && cur-prev != videoClockRate/FPS {
			t.Fatalf("timestamp step %d at packet %d", cur-prev, i)
		}
		prev = cur
	}
}

// TestServerCloseDuringHandshake closes the server while clients are in
// the middle of SETUP and PLAY, like a test that stops the camera while the
// agent is still connecting. Under -race it caught Close closing the
// gortsplib stream before the server (see Close).
func TestServerCloseDuringHandshake(t *testing.T) {
	const clients = 8
	for range 20 {
		s := New(Options{})
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range clients {
			c, u := dial(t, s.URL())
			desc, _, err := c.Describe(u)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Setup(desc.BaseURL, desc.Medias[0], 0, 0); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				defer c.Close()
				<-start
				// Fails once the server is gone; what is tested is that
				// Close neither races with nor hangs on the handshake.
				if _, err := c.Setup(desc.BaseURL, desc.Medias[1], 0, 0); err == nil {
					_, _ = c.Play(nil)
				}
			})
		}
		close(start)
		s.Close()
		wg.Wait()
	}
}

// statusOf is the RTSP status code err carries; 0 when none.
func statusOf(err error) base.StatusCode {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return bad.Code
	}
	return 0
}

// TestServerSessionLimit: beyond SessionLimit sessions DESCRIBE and SETUP
// answer LimitStatus (453 unless set); a freed session can be taken again.
func TestServerSessionLimit(t *testing.T) {
	for _, c := range []struct {
		status int
		want   base.StatusCode
	}{{0, base.StatusNotEnoughBandwidth}, {503, base.StatusServiceUnavailable}} {
		s := startServer(t, Options{SessionLimit: 1, LimitStatus: c.status})
		first, u := dial(t, s.URL())
		desc, _, err := first.Describe(u)
		if err != nil {
			t.Fatal(err)
		}
		// A second client that described before the first set up is
		// refused at SETUP.
		second, _ := dial(t, s.URL())
		desc2, _, err := second.Describe(u)
		if err != nil {
			t.Fatal(err)
		}
		if err := first.SetupAll(desc.BaseURL, desc.Medias); err != nil {
			t.Fatal(err)
		}
		if _, err := second.Setup(desc2.BaseURL, desc2.Medias[0], 0, 0); statusOf(err) != c.want {
			t.Fatalf("SETUP beyond the limit: %v, want status %d", err, c.want)
		}
		third, _ := dial(t, s.URL())
		if _, _, err := third.Describe(u); statusOf(err) != c.want {
			t.Fatalf("DESCRIBE beyond the limit: %v, want status %d", err, c.want)
		}
		first.Close()
		deadline := time.Now().Add(5 * time.Second)
		for s.Sessions() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		again, _ := dial(t, s.URL())
		desc, _, err = again.Describe(u)
		if err != nil {
			t.Fatalf("DESCRIBE after the session was freed: %v", err)
		}
		if err := again.SetupAll(desc.BaseURL, desc.Medias); err != nil {
			t.Fatalf("SETUP after the session was freed: %v", err)
		}
	}
}

// TestServerBooting: for BootTime after Start DESCRIBE answers 503.
func TestServerBooting(t *testing.T) {
	s := startServer(t, Options{BootTime: time.Hour})
	c, u := dial(t, s.URL())
	if _, _, err := c.Describe(u); statusOf(err) != base.StatusServiceUnavailable {
		t.Fatalf("DESCRIBE while booting: %v, want 503", err)
	}
}

// TestServerStopRestart: after Stop the port refuses connections; after
// Restart the same URL plays again.
func TestServerStopRestart(t *testing.T) {
	s := startServer(t, Options{})
	url := s.URL()
	c, u := dial(t, url)
	if _, _, err := c.Describe(u); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if s.URL() != url {
		t.Fatalf("URL after Stop %s, want %s", s.URL(), url)
	}
	if conn, err := net.Dial("tcp", u.Host); err == nil {
		conn.Close()
		t.Fatal("port still accepts connections after Stop")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	again, _ := dial(t, url)
	desc, _, err := again.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE after Restart: %v", err)
	}
	if err := again.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Play(nil); err != nil {
		t.Fatal(err)
	}
}
