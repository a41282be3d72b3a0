package camera

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
)

// loopback is a random address of the loopback network with a free port
// for a simulated camera that a test switches off and on: while it is off,
// no other test's listener on 127.0.0.1 can take its port and answer for it.
func loopback() string {
	return fmt.Sprintf("127.%d.%d.%d:0", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
}

// fakeClock records the waits of a retry loop and returns at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// testPull is a stream pulled from a simulated camera over loopback by the
// pull's reconnect policy, on a fake clock.
type testPull struct {
	clock    *fakeClock
	reader   *media.Reader
	attempts atomic.Int32
	probes   atomic.Int32
	// failures are the errors and waits reconnect reported, away the
	// probes that found the camera still away.
	mu       sync.Mutex
	failures []error
	waits    []time.Duration
	away     []error
}

// startPull pulls url; onProbe runs before probe n (from 1) dials, onFail
// after failure n was recorded.
func startPull(t *testing.T, url string, onProbe func(n int), onFail func(n int)) *testPull {
	t.Helper()
	stream := media.NewStream(zaptest.NewLogger(t))
	p := &testPull{clock: &fakeClock{now: time.Now()}, reader: stream.AddReader("cloud", 4096)}
	b := pullBackoff()
	b.Rand = func() float64 { return 0.5 } // no jitter: the waits are the sequence
	src := media.SourceOptions{URL: url, Log: zaptest.NewLogger(t)}
	r := &reconnect{
		backoff: b, clock: p.clock, interval: probeInterval, unreachable: media.ErrUnreachable,
		attempt: func(ctx context.Context) error {
			p.attempts.Add(1)
			return media.NewSource(src, stream).Run(ctx)
		},
		probe: func(ctx context.Context) error {
			n := int(p.probes.Add(1))
			if onProbe != nil {
				onProbe(n)
			}
			return media.Probe(ctx, url)
		},
		failed: func(err error, wait time.Duration) {
			p.mu.Lock()
			p.failures = append(p.failures, err)
			p.waits = append(p.waits, wait)
			n := len(p.failures)
			p.mu.Unlock()
			if onFail != nil {
				onFail(n)
			}
		},
		stillAway: func(err error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.away = append(p.away, err)
		},
	}
	background(t, r.run)
	return p
}

// background runs f on its own goroutine until the test ends, then
// cancels its context and waits for it.
func background(t *testing.T, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// keyFrame reads until a video key frame and returns it.
func (p *testPull) keyFrame(t *testing.T) *media.Unit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		u, err := p.reader.Read(ctx)
		if err != nil {
			t.Fatalf("no video key frame: %v", err)
		}
		if u.Key && u.Track.Codec.IsVideo() {
			return u
		}
	}
}

// A camera whose RTSP server goes away is knocked at every probeInterval
// with a TCP connect and no RTSP request, and pulled again on the knock
// that finds it back, not after a growing backoff (issue 13: 7–8 s).
func TestPullTriesAgainWhenTheCameraIsBack(t *testing.T) {
	sim := rtspsim.New(rtspsim.Options{Addr: loopback()})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	const backAt = 4 // the camera is back for the 4th probe
	stopped := make(chan struct{})
	p := startPull(t, sim.URL(), func(n int) {
		if n == backAt {
			<-stopped
			if err := sim.Restart(); err != nil {
				t.Error(err)
			}
		}
	}, nil)

	p.keyFrame(t)
	sim.Stop()
	close(stopped)
	if u := p.keyFrame(t); !u.Discontinuity {
		t.Error("first key frame after the camera came back is not marked as a new session")
	}

	if n := p.attempts.Load(); n != 2 {
		t.Errorf("%d rtsp attempts, want 2: none while the camera was away", n)
	}
	if n := p.probes.Load(); n != backAt {
		t.Errorf("%d probes, want %d: the camera was tried on the probe that found it back", n, backAt)
	}
	for _, d := range p.clock.waits() {
		if d != probeInterval {
			t.Errorf("waits %v: want only probe intervals (%v) while the camera was away", p.clock.waits(), probeInterval)
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) != 1 || !strings.HasPrefix(Plain(p.failures[0]), "camera's RTSP server does not answer") {
		t.Errorf("failures %v, want one, in words that the RTSP server does not answer", p.failures)
	}
	// The problem stays current: every probe but the first (after the
	// failure) and the last (the camera back) reports it.
	if len(p.away) != backAt-2 {
		t.Errorf("%d probes reported the camera still away, want %d", len(p.away), backAt-2)
	}
	for _, err := range p.away {
		if !errors.Is(err, media.ErrUnreachable) {
			t.Errorf("still away: %v, want ErrUnreachable", err)
		}
	}
}

// A camera at its session limit answers 453: the pull says that in words,
// retries with the growing backoff, and plays once a session is free.
func TestPullWaitsForAFreeSession(t *testing.T) {
	sim := rtspsim.New(rtspsim.Options{SessionLimit: 1})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	// Something else (a recorder) holds the camera's one session.
	octx, stopOther := context.WithCancel(context.Background())
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		_ = media.NewSource(media.SourceOptions{URL: sim.URL()}, media.NewStream(nil)).Run(octx)
	}()
	t.Cleanup(func() {
		stopOther()
		<-otherDone
	})
	waitSessions(t, sim, 1)

	const freedAfter = 3
	p := startPull(t, sim.URL(), nil, func(n int) {
		if n == freedAfter {
			stopOther()
			<-otherDone
			waitSessions(t, sim, 0)
		}
	})
	p.keyFrame(t)

	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) != freedAfter {
		t.Fatalf("failures %v, want %d", p.failures, freedAfter)
	}
	for _, err := range p.failures {
		if !errors.Is(err, media.ErrNoSession) || !strings.HasPrefix(Plain(err), "camera has no free streaming sessions") {
			t.Errorf("failure %v in words %q, want no free streaming sessions", err, Plain(err))
		}
	}
	if len(p.away) != 0 {
		t.Errorf("a camera that answers was reported away: %v", p.away)
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(p.waits, want) {
		t.Errorf("waits %v, want the backoff %v", p.waits, want)
	}
	if n := p.attempts.Load(); n != freedAfter+1 {
		t.Errorf("%d attempts, want %d", n, freedAfter+1)
	}
}

func waitSessions(t *testing.T, sim *rtspsim.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sim.Sessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("camera holds %d sessions, want %d", sim.Sessions(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
