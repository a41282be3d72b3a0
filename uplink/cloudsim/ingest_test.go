package cloudsim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/camagent/camagent/uplink/cloudsim"
)

// h264Sample returns SPS, PPS, the first IDR slice and the first non-IDR
// slice of the media fixture, enough to publish a tiny valid stream.
func h264Sample(t *testing.T) (sps, pps, idr, p []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "media", "rtspsim", "fixture", "fixture.h264"))
	if err != nil {
		// Not generated yet: make a one-second stream the same way.
		out := filepath.Join(t.TempDir(), "f.h264")
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
			"-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx264", "-profile:v", "baseline",
			"-g", "25", "-bf", "0", "-f", "h264", out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("fixture: ffmpeg: %v: %s", err, msg)
		}
		if b, err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range bytes.Split(b, []byte{0, 0, 1}) {
		n = bytes.TrimRight(n, "\x00")
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 7:
			sps = first(sps, n)
		case 8:
			pps = first(pps, n)
		case 5:
			idr = first(idr, n)
		case 1:
			p = first(p, n)
		}
	}
	if sps == nil || pps == nil || idr == nil || p == nil {
		t.Fatal("fixture lacks SPS/PPS/IDR/P")
	}
	return sps, pps, idr, p
}

func first(have, n []byte) []byte {
	if have != nil {
		return have
	}
	return n
}

func startIngest(t *testing.T, opts cloudsim.IngestOptions) *cloudsim.Ingest {
	t.Helper()
	ing := cloudsim.NewIngest(opts)
	if err := ing.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ing.Close)
	return ing
}

// dial connects a gortmplib client: path is the RTMP app, name the publish name.
func dial(ctx context.Context, ing *cloudsim.Ingest, scheme, app, name string, publish bool, tlsConf *tls.Config) (*gortmplib.Client, error) {
	c := &gortmplib.Client{
		URL:       &url.URL{Scheme: scheme, Host: ing.Addr(), Path: "/" + app, Fragment: name},
		Publish:   publish,
		TLSConfig: tlsConf,
	}
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

type frame struct {
	dts time.Duration
	key bool
}

// publish sends a sequence header and frames with the given timestamps.
func publish(t *testing.T, c *gortmplib.Client, sps, pps, idr, p []byte, frames []frame) {
	t.Helper()
	track := &gortmplib.Track{Codec: &codecs.H264{SPS: sps, PPS: pps}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{track}}
	if err := w.Initialize(); err != nil {
		t.Error(err)
		return
	}
	for _, f := range frames {
		au := [][]byte{p}
		if f.key {
			au = [][]byte{sps, pps, idr}
		}
		if err := w.WriteH264(track, f.dts, f.dts, au); err != nil {
			t.Error(err)
			return
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestIngestRecordsPublish(t *testing.T) {
	sps, pps, idr, p := h264Sample(t)
	ing := startIngest(t, cloudsim.IngestOptions{})
	ctx := ctxT(t)
	c, err := dial(ctx, ing, "rtmp", "live", "cam1_Main?sid=abc&psid=7", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	publish(t, c, sps, pps, idr, p, []frame{{0, true}, {40 * time.Millisecond, false}, {20 * time.Millisecond, false}})
	if err := ing.WaitFrames(ctx, 3); err != nil {
		t.Fatal(err)
	}
	r := ing.Publishes()[0]
	if r.App != "live" || r.TCURL != "rtmp://"+ing.Addr()+"/live" || r.Stream != "cam1_Main" ||
		r.Query.Get("sid") != "abc" || r.Query.Get("psid") != "7" || r.Type != "live" || !r.Accepted || !r.Active {
		t.Errorf("record = %+v", r)
	}
	if !bytes.Equal(r.SPS, sps) || !bytes.Equal(r.PPS, pps) || r.VideoCodec != "H.264" || r.VideoHeaders != 1 {
		t.Errorf("sequence header not recorded: codec %q headers %d", r.VideoCodec, r.VideoHeaders)
	}
	if !r.FirstVideoKey || r.Monotonic {
		t.Errorf("first key %v (want true), monotonic %v (want false: 40 ms then 20 ms)", r.FirstVideoKey, r.Monotonic)
	}
	if len(r.Frames) != 3 || r.Frames[1].DTS != 40*time.Millisecond || r.Frames[1].Key || r.Frames[0].Size == 0 {
		t.Errorf("frames = %+v", r.Frames)
	}
	if len(r.Violations) != 0 {
		t.Errorf("violations %v", r.Violations)
	}
	c.Close()
	if err := ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return !rs[0].Active }); err != nil {
		t.Fatal(err)
	}
}

// TestIngestRefuses checks the ingest refuses what a real media server
// refuses, and records why.
func TestIngestRefuses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		app       string
		stream    string
		publish   bool
		wantInRec string
	}{
		{name: "no stream name", app: "live", stream: "", publish: true, wantInRec: "without a stream name"},
		{name: "play", app: "live", stream: "cam1_Main?sid=abc", publish: false, wantInRec: "play"},
		{name: "unknown app", app: "vod", stream: "cam1_Main?sid=abc", publish: true, wantInRec: "unknown app"},
		{name: "unauthorized", app: "live", stream: "cam1_Main?sid=wrong", publish: true, wantInRec: "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing := startIngest(t, cloudsim.IngestOptions{Authorize: func(app, stream string, q url.Values) error {
				if q.Get("sid") != "abc" {
					return fmt.Errorf("sid %q", q.Get("sid"))
				}
				return nil
			}})
			c, err := dial(ctxT(t), ing, "rtmp", tc.app, tc.stream, tc.publish, nil)
			if err == nil {
				c.Close()
				t.Fatal("connection accepted")
			}
			rs := ing.Publishes()
			if len(rs) != 1 || rs[0].Accepted || !strings.Contains(rs[0].Rejected, tc.wantInRec) {
				t.Errorf("records = %+v", rs)
			}
		})
	}
}

func TestIngestRefusesSecondPublisherOfAStream(t *testing.T) {
	ing := startIngest(t, cloudsim.IngestOptions{})
	ctx := ctxT(t)
	c1, err := dial(ctx, ing, "rtmp", "live", "cam1_Main?sid=a", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if c2, err := dial(ctx, ing, "rtmp", "live", "cam1_Main?sid=b", true, nil); err == nil {
		c2.Close()
		t.Fatal("second publisher of the same stream accepted")
	}
	// A drop frees the name at once.
	if n := ing.DropPublishers(); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	c3, err := dial(ctx, ing, "rtmp", "live", "cam1_Main?sid=c", true, nil)
	if err != nil {
		t.Fatalf("publish after drop: %v", err)
	}
	c3.Close()
}

func TestIngestTLS(t *testing.T) {
	sps, pps, idr, p := h264Sample(t)
	ing := startIngest(t, cloudsim.IngestOptions{TLS: true})
	if !strings.HasPrefix(ing.URL(), "rtmps://") || len(ing.CertPEM()) == 0 {
		t.Fatalf("URL %q, cert %d bytes", ing.URL(), len(ing.CertPEM()))
	}
	ctx := ctxT(t)
	if c, err := dial(ctx, ing, "rtmps", "live", "cam1_Main", true, nil); err == nil {
		c.Close()
		t.Fatal("rtmps accepted without trusting the ingest certificate")
	}
	c, err := dial(ctx, ing, "rtmps", "live", "cam1_Main", true, &tls.Config{RootCAs: ing.CertPool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	publish(t, c, sps, pps, idr, p, []frame{{0, true}})
	if err := ing.WaitFrames(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

// TestIngestManyPublishers is the bench's 16 cameras on one ingest.
func TestIngestManyPublishers(t *testing.T) {
	sps, pps, idr, p := h264Sample(t)
	ing := startIngest(t, cloudsim.IngestOptions{})
	ctx := ctxT(t)
	const cams, frames = 16, 50
	var wg sync.WaitGroup
	for i := range cams {
		wg.Go(func() {
			c, err := dial(ctx, ing, "rtmp", "live", fmt.Sprintf("cam%d_Main?sid=s", i), true, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fs := make([]frame, frames)
			for k := range fs {
				fs[k] = frame{dts: time.Duration(k) * 40 * time.Millisecond, key: k%25 == 0}
			}
			publish(t, c, sps, pps, idr, p, fs)
			// Hold the connection until the ingest has everything.
			_ = ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool {
				for _, r := range rs {
					if r.Stream == fmt.Sprintf("cam%d_Main", i) {
						return r.VideoFrames == frames
					}
				}
				return false
			})
		})
	}
	wg.Wait()
	rs := ing.Publishes()
	if len(rs) != cams {
		t.Fatalf("%d publishes, want %d", len(rs), cams)
	}
	for _, r := range rs {
		if !r.Accepted || r.VideoFrames != frames || !r.Monotonic || !r.FirstVideoKey || len(r.Violations) != 0 {
			t.Errorf("%s: accepted %v frames %d monotonic %v violations %v", r.Stream, r.Accepted, r.VideoFrames, r.Monotonic, r.Violations)
		}
	}
}
