package media_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/camagent/camagent/media"
	"github.com/pion/rtp"
)

// testCam is a minimal RTSP camera on gortsplib's server that announces one
// format and, every tick, sends the packets gen returns for tick n; it covers
// codecs the rtspsim fixture does not.
type testCam struct {
	srv    *gortsplib.Server
	stream *gortsplib.ServerStream
}

func (c *testCam) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *testCam) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *testCam) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func startTestCam(t *testing.T, mt description.MediaType, f format.Format, gen func(n int) []*rtp.Packet) string {
	t.Helper()
	c := &testCam{}
	c.srv = &gortsplib.Server{Handler: c, RTSPAddress: "127.0.0.1:0"}
	if err := c.srv.Start(); err != nil {
		t.Fatal(err)
	}
	m := &description.Media{Type: mt, Formats: []format.Format{f}}
	c.stream = &gortsplib.ServerStream{Server: c.srv, Desc: &description.Session{Medias: []*description.Media{m}}}
	if err := c.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, pkt := range gen(n) {
				_ = c.stream.WritePacketRTP(m, pkt)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		// Server first: it waits for its sessions, whose SETUP races with
		// the stream's Close (see rtspsim.Server.Close).
		c.srv.Close()
		c.stream.Close()
	})
	return "rtsp://" + c.srv.NetListener().Addr().String() + "/cam"
}

func TestSourceAudioOnlyCodecs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       format.Format
		codec   media.Codec
		payload int
		step    uint32
		dt      time.Duration
	}{
		{"g711 mu-law", &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}, media.CodecG711U, 160, 160, 20 * time.Millisecond},
		{"g711 a-law", &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}, media.CodecG711A, 160, 160, 20 * time.Millisecond},
		{"opus", &format.Opus{PayloadTyp: 111, ChannelCount: 2}, media.CodecOpus, 60, 960, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := make([]byte, tc.payload)
			url := startTestCam(t, description.MediaTypeAudio, tc.f, func(n int) []*rtp.Packet {
				return []*rtp.Packet{{
					Header: rtp.Header{Version: 2, PayloadType: tc.f.PayloadType(), SequenceNumber: uint16(n),
						Timestamp: 1234 + uint32(n)*tc.step, SSRC: 7, Marker: true},
					Payload: payload,
				}}
			})
			st := media.NewStream(nil)
			r := st.AddReader("test", 64)
			runSource(t, media.SourceOptions{URL: url}, st)
			var prev *media.Unit
			for range 5 {
				u := read(t, r)
				if u.Track.Codec != tc.codec || len(u.Frames) != 1 || len(u.Frames[0]) != tc.payload {
					t.Fatalf("unit codec %v frames %d", u.Track.Codec, len(u.Frames))
				}
				if prev != nil && u.DTS-prev.DTS != tc.dt {
					t.Fatalf("dts step %v, want %v", u.DTS-prev.DTS, tc.dt)
				}
				prev = u
			}
		})
	}
}

func TestSourceUnsupportedCodec(t *testing.T) {
	url := startTestCam(t, description.MediaTypeVideo, &format.MJPEG{}, func(int) []*rtp.Packet { return nil })
	run, _ := runSource(t, media.SourceOptions{URL: url}, media.NewStream(nil))
	if err := waitErr(t, run); !errors.Is(err, media.ErrUnsupportedCodec) {
		t.Fatalf("want ErrUnsupportedCodec, got %v", err)
	}
}

func TestSourceH265(t *testing.T) {
	aus := splitAtAUD(t, "testdata/h265.hevc", func(n []byte) bool {
		return h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_AUD_NUT
	})
	f := &format.H265{PayloadTyp: 96}
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	var encMu sync.Mutex
	// Start mid-GOP so the source must wait for a key frame.
	url := startTestCam(t, description.MediaTypeVideo, f, func(n int) []*rtp.Packet {
		encMu.Lock()
		defer encMu.Unlock()
		pkts, err := enc.Encode(aus[(n+5)%len(aus)])
		if err != nil {
			t.Error(err)
			return nil
		}
		for _, p := range pkts {
			p.Timestamp = 90000 + uint32(n)*3600
		}
		return pkts
	})
	st := media.NewStream(nil)
	r := st.AddReader("test", 256)
	runSource(t, media.SourceOptions{URL: url}, st)

	first := read(t, r)
	if first.Track.Codec != media.CodecH265 || !first.Key {
		t.Fatalf("first unit codec %v key %v, want an H.265 key frame", first.Track.Codec, first.Key)
	}
	if first.Track.Width != 320 || first.Track.Height != 180 || first.Track.VPS == nil || first.Track.SPS == nil || first.Track.PPS == nil {
		t.Fatalf("track %dx%d vps %d sps %d pps %d", first.Track.Width, first.Track.Height,
			len(first.Track.VPS), len(first.Track.SPS), len(first.Track.PPS))
	}
	prev := first
	for range 30 {
		u := read(t, r)
		if u.DTS-prev.DTS != 40*time.Millisecond {
			t.Fatalf("dts step %v, want 40ms", u.DTS-prev.DTS)
		}
		if u.Track != first.Track {
			t.Fatal("repeated identical parameter sets must not publish a new track")
		}
		prev = u
	}
	if s := st.Stats(); s.VideoCodec != media.CodecH265 || s.Width != 320 {
		t.Fatalf("stats %+v", s)
	}
}

// splitAtAUD cuts an Annex-B stream into access units at each access unit
// delimiter, which the generated test files carry before every picture.
func splitAtAUD(t *testing.T, path string, isAUD func(nalu []byte) bool) [][][]byte {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	// Emulation prevention guarantees 00 00 01 occurs only as a start code.
	for _, n := range bytes.Split(buf, []byte{0, 0, 1}) {
		n = bytes.TrimRight(n, "\x00")
		if len(n) == 0 {
			continue
		}
		if isAUD(n) {
			aus = append(aus, nil)
			continue
		}
		if len(aus) > 0 { // anything before the first AUD is encoder info
			aus[len(aus)-1] = append(aus[len(aus)-1], n)
		}
	}
	return aus
}

// TestSourceH264BFrames sends pictures in decode order with presentation
// timestamps, as a camera with B-frames does, and expects monotonic DTS.
func TestSourceH264BFrames(t *testing.T) {
	aus := splitAtAUD(t, "testdata/bframes.h264", func(n []byte) bool { return n[0]&0x1f == 9 })
	raw, err := os.ReadFile("testdata/bframes.pts")
	if err != nil {
		t.Fatal(err)
	}
	var pts []uint32
	for _, l := range strings.Fields(string(raw)) {
		v, err := strconv.Atoi(l)
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, uint32(v))
	}
	if len(pts) != len(aus) {
		t.Fatalf("%d pts for %d pictures", len(pts), len(aus))
	}
	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	url := startTestCam(t, description.MediaTypeVideo, f, func(n int) []*rtp.Packet {
		i, loop := n%len(aus), uint32(n/len(aus))
		pkts, err := enc.Encode(aus[i])
		if err != nil {
			t.Error(err)
			return nil
		}
		for _, p := range pkts {
			p.Timestamp = 90000 + (loop*uint32(len(aus))+pts[i])*3600
		}
		return pkts
	})
	st := media.NewStream(nil)
	r := st.AddReader("test", 256)
	runSource(t, media.SourceOptions{URL: url}, st)

	var got []time.Duration
	var prevDTS time.Duration
	reordered := false
	for i := range 50 {
		u := read(t, r)
		if i == 0 && !u.Key {
			t.Fatal("first unit is not a key frame")
		}
		if i > 0 && u.DTS <= prevDTS {
			t.Fatalf("dts %v after %v", u.DTS, prevDTS)
		}
		if u.DTS > u.PTS {
			t.Fatalf("dts %v > pts %v", u.DTS, u.PTS)
		}
		if i > 0 && u.PTS < got[len(got)-1] {
			reordered = true
		}
		prevDTS = u.DTS
		got = append(got, u.PTS)
	}
	if !reordered {
		t.Fatal("test stream has no reordering")
	}
	slices.Sort(got)
	for i := 1; i < len(got); i++ {
		// The first 50 pictures after a key frame; the last two may be
		// B-frames presented after ones still to come.
		if d := got[i] - got[i-1]; d != 40*time.Millisecond && i < len(got)-2 {
			t.Fatalf("presentation gap %v at %d", d, i)
		}
	}
}
