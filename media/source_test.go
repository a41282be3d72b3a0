package media_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
	"go.uber.org/zap/zaptest"
)

func startSim(t *testing.T, opts rtspsim.Options) *rtspsim.Server {
	t.Helper()
	sim := rtspsim.New(opts)
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// run is one Source.Run in the background.
type run struct {
	done chan struct{}
	err  error
}

// runSource starts one Source session in the background. Cleanup cancels
// and joins it.
func runSource(t *testing.T, opts media.SourceOptions, st *media.Stream) (*run, context.CancelFunc) {
	t.Helper()
	if opts.Log == nil {
		opts.Log = zaptest.NewLogger(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = media.NewSource(opts, st).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("source did not stop after cancel")
		}
	})
	return r, cancel
}

func waitErr(t *testing.T, r *run) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// dtsChecker asserts per-kind strictly increasing DTS.
type dtsChecker struct {
	t    *testing.T
	last map[bool]time.Duration
}

func (c *dtsChecker) check(u *media.Unit) {
	c.t.Helper()
	if c.last == nil {
		c.last = map[bool]time.Duration{}
	}
	v := u.Track.Codec.IsVideo()
	if last, ok := c.last[v]; ok && u.DTS <= last {
		c.t.Fatalf("video=%v dts went from %v to %v", v, last, u.DTS)
	}
	c.last[v] = u.DTS
}

func read(t *testing.T, r *media.Reader) *media.Unit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := r.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return u
}

func TestSourcePullsFixture(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport media.Transport
		userinfo  bool // credentials in the URL rather than the options
	}{
		{"tcp", media.TransportTCP, true},
		{"udp", media.TransportUDP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, rtspsim.Options{Username: "admin", Password: "s3cret"})
			opts := media.SourceOptions{URL: sim.URL(), Transport: tc.transport}
			if tc.userinfo {
				u, _ := url.Parse(sim.URL())
				u.User = url.UserPassword("admin", "s3cret")
				opts.URL = u.String()
			} else {
				opts.Username, opts.Password = "admin", "s3cret"
			}
			st := media.NewStream(zaptest.NewLogger(t))
			r := st.AddReader("test", 1024)
			done, cancel := runSource(t, opts, st)

			first := read(t, r)
			sentAtFirst := sim.FramesSent()
			if !first.Track.Codec.IsVideo() || !first.Key {
				t.Fatalf("first unit: codec %v key %v, want a video key frame", first.Track.Codec, first.Key)
			}
			if !bytes.Equal(first.Track.SPS, sim.SPS()) {
				t.Fatalf("track SPS %x, want fixture SPS %x", first.Track.SPS, sim.SPS())
			}
			if first.Track.Width != 640 || first.Track.Height != 360 {
				t.Fatalf("resolution %dx%d", first.Track.Width, first.Track.Height)
			}
			tracks := st.Tracks()
			if len(tracks) != 2 || tracks[1].Codec != media.CodecAAC || tracks[1].SampleRate != 48000 {
				t.Fatalf("tracks %+v", tracks)
			}

			dc := &dtsChecker{t: t}
			dc.check(first)
			prevVideo := first.DTS
			video, audio := 1, 0
			readUntil := func(n int) {
				t.Helper()
				for video < n {
					u := read(t, r)
					dc.check(u)
					if u.Track.Codec.IsVideo() {
						// The fixture is 25 fps: any lost frame shows up as a gap.
						if gap := u.DTS - prevVideo; gap != 40*time.Millisecond {
							t.Fatalf("video dts step %v after %d frames, want 40ms", gap, video)
						}
						prevVideo = u.DTS
						video++
					} else {
						audio++
						if len(u.Frames) == 0 {
							t.Fatal("audio unit without frames")
						}
					}
				}
			}
			readUntil(50)
			// Every frame the camera sent after our first key frame arrives,
			// in order and without gaps.
			readUntil(1 + int(sim.FramesSent()-sentAtFirst))
			if audio < 50 {
				t.Fatalf("only %d audio units with 50 video frames", audio)
			}
			if r.Dropped() != 0 {
				t.Fatalf("reader dropped %d", r.Dropped())
			}
			stats := st.Stats()
			if stats.VideoCodec != media.CodecH264 || stats.Width != 640 || stats.FPS < 15 || stats.FPS > 35 || stats.Kbps <= 0 {
				t.Fatalf("stats %+v", stats)
			}

			// A late reader starts at a key frame from the GOP cache.
			late := st.AddReader("late", 1024)
			if u := read(t, late); !u.Track.Codec.IsVideo() || !u.Key {
				t.Fatal("late reader did not start at a key frame")
			}

			cancel()
			if err := waitErr(t, done); err != nil {
				t.Fatalf("Run after cancel: %v", err)
			}
		})
	}
}

func TestSourceWrongPasswordIsUnauthorized(t *testing.T) {
	sim := startSim(t, rtspsim.Options{Username: "admin", Password: "s3cret"})
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "admin", "nope"},
		{"no credentials", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, _ := runSource(t, media.SourceOptions{URL: sim.URL(), Username: tc.user, Password: tc.pass}, media.NewStream(nil))
			if err := waitErr(t, done); !errors.Is(err, media.ErrUnauthorized) {
				t.Fatalf("want ErrUnauthorized, got %v", err)
			}
		})
	}
}

func TestSourceUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done, _ := runSource(t, media.SourceOptions{URL: "rtsp://" + addr + "/stream"}, media.NewStream(nil))
	if err := waitErr(t, done); !errors.Is(err, media.ErrUnreachable) {
		t.Fatalf("want ErrUnreachable, got %v", err)
	}
}

// A camera at its session limit answers 453 or 503 (vendors differ); both
// are ErrNoSession, not a generic failure.
func TestSourceNoFreeSession(t *testing.T) {
	for _, status := range []int{453, 503} {
		sim := startSim(t, rtspsim.Options{SessionLimit: 1, LimitStatus: status})
		other, _ := runSource(t, media.SourceOptions{URL: sim.URL()}, media.NewStream(nil))
		deadline := time.Now().Add(10 * time.Second)
		for sim.Sessions() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		done, _ := runSource(t, media.SourceOptions{URL: sim.URL()}, media.NewStream(nil))
		if err := waitErr(t, done); !errors.Is(err, media.ErrNoSession) {
			t.Fatalf("status %d: want ErrNoSession, got %v", status, err)
		}
		select {
		case <-other.done:
			t.Fatalf("the session holder ended: %v", other.err)
		default:
		}
	}
}

// Probe tells a camera whose RTSP port answers from one whose port is
// closed, and takes none of its sessions.
func TestProbe(t *testing.T) {
	sim := startSim(t, rtspsim.Options{SessionLimit: 1})
	ctx := context.Background()
	if err := media.Probe(ctx, sim.URL()); err != nil {
		t.Fatalf("probe of a running camera: %v", err)
	}
	if n := sim.Sessions(); n != 0 {
		t.Fatalf("probe opened %d rtsp sessions", n)
	}
	sim.Stop()
	if err := media.Probe(ctx, sim.URL()); !errors.Is(err, media.ErrUnreachable) {
		t.Fatalf("probe of a stopped camera: %v, want ErrUnreachable", err)
	}
}

func TestSourceStall(t *testing.T) {
	sim := startSim(t, rtspsim.Options{FreezeAfter: 10})
	st := media.NewStream(nil)
	done, _ := runSource(t, media.SourceOptions{URL: sim.URL(), StallTimeout: 300 * time.Millisecond}, st)
	if err := waitErr(t, done); !errors.Is(err, media.ErrStalled) {
		t.Fatalf("want ErrStalled, got %v", err)
	}
}

func TestReconnectKeepsReaderMonotonic(t *testing.T) {
	sim := startSim(t, rtspsim.Options{})
	st := media.NewStream(zaptest.NewLogger(t))
	r := st.AddReader("publisher", 1024)
	dc := &dtsChecker{t: t}

	readVideo := func(n int) {
		t.Helper()
		for video := 0; video < n; {
			u := read(t, r)
			dc.check(u)
			if u.Track.Codec.IsVideo() {
				video++
			}
		}
	}

	done, _ := runSource(t, media.SourceOptions{URL: sim.URL()}, st)
	readVideo(10)
	tracks := st.Tracks()
	sim.DropSessions()
	if err := waitErr(t, done); err == nil {
		t.Fatal("Run returned nil after the camera dropped the session")
	}

	// The agent runs a new Source on the same Stream; the reader stays.
	done2, _ := runSource(t, media.SourceOptions{URL: sim.URL(), Transport: media.TransportUDP}, st)
	readVideo(30)
	if got := st.Tracks(); got[0] != tracks[0] || got[1] != tracks[1] {
		t.Fatal("same camera parameters must keep the same *Track across reconnects")
	}
	sim.DropSessions()
	if err := waitErr(t, done2); err == nil {
		t.Fatal("udp Run returned nil after the camera dropped the session")
	}

	runSource(t, media.SourceOptions{URL: sim.URL()}, st)
	readVideo(10)
	if s := st.Stats(); s.Sessions != 3 || r.Dropped() != 0 {
		t.Fatalf("sessions %d, reader dropped %d", s.Sessions, r.Dropped())
	}
}
