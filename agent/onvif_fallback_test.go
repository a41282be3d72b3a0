package agent

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
)

// gate stands between the agent and the simulated camera's ONVIF service:
// closed, it accepts and drops every connection, as a camera whose ONVIF
// server hangs up does; open, it passes them through.
type gate struct {
	ln     net.Listener
	target string
	open   atomic.Bool
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn // passed through, closed with the gate
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(func() {
		ln.Close()
		// The agent's HTTP client keeps idle connections open.
		g.mu.Lock()
		for _, c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
	return g
}

func (g *gate) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		if !g.open.Load() {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c)
		g.mu.Unlock()
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer c.Close()
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				return
			}
			defer up.Close()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			_, _ = io.Copy(c, up)
		}()
	}
}

// TestONVIFTroubleKeepsCameraOnCloud: a camera whose ONVIF service fails
// but whose RTSP URL is configured registers in the cloud and serves live
// video; settings commands answer RETRY and the status page says which
// half works; once ONVIF answers, the settings work without a restart of
// the camera's cloud session.
func TestONVIFTroubleKeepsCameraOnCloud(t *testing.T) {
	r, err := rig.Start(rig.Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	g := newGate(t, r.ONVIF.Addr())
	a, _ := serveAgent(t, r, func(cfg *config.Config) {
		cam := &cfg.Cameras[0]
		u, _ := url.Parse(cam.ONVIF.URL)
		u.Host = g.ln.Addr().String()
		cam.ONVIF.URL = u.String()
		cam.RTSP = config.NewSecretURL(r.RTSP.URL())
	})
	waitReady(t, r)
	w := a.workers[0]

	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 1}); rep["status"] != "OK" {
		t.Fatalf("stream_start without ONVIF: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no video at the ingest without ONVIF: %v", err)
	}
	if rep := request(t, r, "get_cam_video_conf", nil); rep["status"] != "RETRY" {
		t.Errorf("get_cam_video_conf while ONVIF fails answered %v, want done RETRY", rep)
	}
	st := w.Status()
	if st.ONVIF != camera.ONVIFFailed || st.ONVIFErr == nil {
		t.Errorf("ONVIF state %v (%v), want error with its cause", st.ONVIF, st.ONVIFErr)
	}
	found := false
	for _, p := range st.Problems {
		found = found || strings.Contains(p.What, "live video goes on from the configured RTSP URL")
	}
	if !found {
		t.Errorf("status problems %+v do not say that video works without ONVIF", st.Problems)
	}

	g.open.Store(true)
	waitFor(t, "ONVIF connected after it came back", func() bool { return w.Status().ONVIF == camera.ONVIFConnected })
	if rep := request(t, r, "get_cam_video_conf", nil); rep["cmd"] != "cam_video_conf" {
		t.Errorf("get_cam_video_conf after ONVIF came back answered %v", rep)
	}
	if n := len(r.Cloud.CamRegistrations()); n != 1 {
		t.Errorf("%d cam_register messages: ONVIF coming back restarted the cloud session", n)
	}
	if err := r.Ingest.WaitFrames(ctx, videoFrames(r.Ingest)+10); err != nil {
		t.Errorf("video stopped when ONVIF came back: %v", err)
	}
}
