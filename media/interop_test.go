//go:build interop

package media

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/media/rtspsim"
)

// The interop tier pulls from GStreamer's RTSP server, an RTSP
// implementation nobody on this project wrote (rtspsim.GStreamer). It comes
// from Debian packages; `make test-interop` checks them first, and these
// tests fail (never skip) naming the package when one is missing.

const (
	interopGstUser   = "admin"
	interopGstPass   = "interop-Pw1"
	interopGstFPS    = rtspsim.GStreamerFPS
	interopGstWidth  = rtspsim.GStreamerWidth
	interopGstHeight = rtspsim.GStreamerHeight
)

// TestInteropGStreamerSource pulls GStreamer's RTSP server (digest auth,
// H.264 + AAC) over TCP and UDP and checks what a reader of the stream gets.
func TestInteropGStreamerSource(t *testing.T) {
	gst, err := rtspsim.StartGStreamer(rtspsim.GStreamerOptions{Dir: t.TempDir(), Username: interopGstUser, Password: interopGstPass})
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	t.Cleanup(func() {
		if err := gst.Close(); err != nil || t.Failed() {
			t.Logf("gstreamer rtsp server: close: %v; log:\n%s", err, gst.Log())
		}
	})
	url := gst.URL()

	t.Run("wrong password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		src := NewSource(SourceOptions{URL: url, Username: interopGstUser, Password: "wrong", Log: zaptest.NewLogger(t)}, NewStream(zaptest.NewLogger(t)))
		err := src.Run(ctx)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Run with a wrong password = %v, want ErrUnauthorized", err)
		}
	})
	for _, tr := range []Transport{TransportTCP, TransportUDP} {
		t.Run(tr.String(), func(t *testing.T) { interopPullGStreamer(t, url, tr) })
	}
}

func interopPullGStreamer(t *testing.T, url string, tr Transport) {
	log := zaptest.NewLogger(t)
	stream := NewStream(log)
	first := stream.AddReader("first", 512)
	defer first.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srcCtx, stopSrc := context.WithCancel(ctx)
	srcDone := make(chan error, 1)
	src := NewSource(SourceOptions{URL: url, Username: interopGstUser, Password: interopGstPass, Transport: tr, Log: log}, stream)
	go func() { srcDone <- src.Run(srcCtx) }()
	defer func() {
		stopSrc()
		if err := <-srcDone; err != nil {
			t.Errorf("source run after cancel = %v, want nil", err)
		}
		stream.Close()
	}()

	// Three seconds of stream time: enough for several key frames.
	const want = 3 * interopGstFPS
	var (
		video, audio       []*Unit
		late               *Reader
		lastVideo, lastAud time.Duration = -1, -1
	)
	for len(video) < want {
		u, err := first.Read(ctx)
		if err != nil {
			select {
			case serr := <-srcDone:
				srcDone <- serr
				t.Fatalf("after %d video and %d audio units: source ended: %v", len(video), len(audio), serr)
			default:
			}
			t.Fatalf("after %d video and %d audio units: read: %v", len(video), len(audio), err)
		}
		if u.Track.Codec.IsVideo() {
			if len(video) == 0 && !u.Key {
				t.Errorf("first video unit of a reader attached before the session is not a key frame")
			}
			if u.DTS <= lastVideo {
				t.Errorf("video DTS %v after %v: not increasing", u.DTS, lastVideo)
			}
			if u.PTS < u.DTS {
				t.Errorf("video PTS %v before DTS %v", u.PTS, u.DTS)
			}
			lastVideo = u.DTS
			video = append(video, u)
			// Attach a second reader in the middle of a GOP: the GOP
			// cache must still start it on a key frame.
			if late == nil && !u.Key && len(video) > interopGstFPS+5 {
				late = stream.AddReader("late", 512)
				defer late.Close()
			}
		} else {
			if u.DTS <= lastAud {
				t.Errorf("audio DTS %v after %v: not increasing", u.DTS, lastAud)
			}
			lastAud = u.DTS
			audio = append(audio, u)
		}
	}

	v := video[0].Track
	if v.Codec != CodecH264 {
		t.Fatalf("video codec %v, want H264", v.Codec)
	}
	if len(v.SPS) == 0 || len(v.PPS) == 0 {
		t.Fatalf("H.264 track without SPS/PPS: sps %x pps %x", v.SPS, v.PPS)
	}
	if v.Width != interopGstWidth || v.Height != interopGstHeight {
		t.Errorf("video %dx%d, want %dx%d (from the SPS)", v.Width, v.Height, interopGstWidth, interopGstHeight)
	}
	var sps h264.SPS
	if err := sps.Unmarshal(v.SPS); err != nil {
		t.Errorf("track SPS does not parse: %v", err)
	} else if fps := sps.FPS(); fps != 0 && (fps < interopGstFPS-1 || fps > interopGstFPS+1) {
		t.Errorf("SPS timing says %.2f fps, want %d", fps, interopGstFPS)
	}
	keys := 0
	for _, u := range video {
		if u.Key {
			keys++
			if !interopHasNALU(u.NALUs, h264.NALUTypeIDR) {
				t.Errorf("key unit at %v has no IDR slice", u.DTS)
			}
		}
	}
	// key-int-max=25: one IDR per second of stream time at least.
	if min := len(video)/interopGstFPS - 1; keys < min {
		t.Errorf("%d key frames in %d frames, want at least %d", keys, len(video), min)
	}
	// Rate from the stream's own clock (not the wall clock).
	span := video[len(video)-1].DTS - video[0].DTS
	if rate := float64(len(video)-1) / span.Seconds(); rate < interopGstFPS*0.95 || rate > interopGstFPS*1.05 {
		t.Errorf("%d frames over %v of DTS = %.2f fps, want %d", len(video), span, rate, interopGstFPS)
	}
	// The camera stamps frames exactly 1/fps apart; so must we.
	frame := time.Second / interopGstFPS
	for i := 1; i < len(video); i++ {
		if d := video[i].DTS - video[i-1].DTS; d < frame-time.Millisecond || d > frame+time.Millisecond {
			t.Errorf("video DTS step %v between frames %d and %d, want %v", d, i-1, i, frame)
		}
	}

	if len(audio) == 0 {
		t.Fatal("no audio units while video played")
	}
	a := audio[0].Track
	if a.Codec != CodecAAC || a.SampleRate != rtspsim.GStreamerSampleRate || a.Channels != rtspsim.GStreamerChannels || len(a.Config) == 0 {
		t.Errorf("audio track %v %d Hz %d ch config %x, want AAC 48000 Hz mono with a config", a.Codec, a.SampleRate, a.Channels, a.Config)
	}
	// Each AAC frame is 1024 samples; steps are whole frames.
	afr := time.Duration(1024 * float64(time.Second) / float64(a.SampleRate))
	for i := 1; i < len(audio); i++ {
		d := audio[i].DTS - audio[i-1].DTS
		n := max(len(audio[i-1].Frames), 1)
		if want := time.Duration(n) * afr; (d - want).Abs() > time.Millisecond {
			t.Errorf("audio DTS step %v after a unit of %d frames, want %v", d, n, want)
		}
	}
	if aspan := lastAud - audio[0].DTS; aspan < span/2 {
		t.Errorf("audio covers %v of stream time while video covers %v", aspan, span)
	}

	if late == nil {
		t.Fatal("never saw a non-key frame to attach the late reader at")
	}
	u, err := late.Read(ctx)
	if err != nil {
		t.Fatalf("late reader: %v", err)
	}
	if !u.Track.Codec.IsVideo() || !u.Key {
		t.Errorf("first unit of a reader attached mid-GOP: video %t key %t, want a video key frame", u.Track.Codec.IsVideo(), u.Key)
	}
	t.Logf("%s: %d video units (%d key) over %v of DTS, %d audio units; %s", tr, len(video), keys, span, len(audio), interopStatsLine(stream.Stats()))
}

func interopHasNALU(au [][]byte, typ h264.NALUType) bool {
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == typ {
			return true
		}
	}
	return false
}

func interopStatsLine(s StreamStats) string {
	return fmt.Sprintf("sessions %d video %d audio %d discarded %d readers %d gop %d", s.Sessions, s.VideoFrames, s.AudioUnits, s.Discarded, s.Readers, s.GOPUnits)
}
