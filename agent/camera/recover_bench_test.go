//go:build bench

package camera

// How fast a pulled stream recovers when the camera's RTSP server comes
// back, and how often a dead camera is knocked at, for the pull's
// reconnect policy and for the policy before it (backoff.Retry with the
// same backoff: every failure, a refused port included, waited out the
// growing delay). It reports numbers and never fails on them.
//
//	go test -tags bench -run TestBenchRecovery -v -count=1 -timeout 20m ./agent/camera/
//
// CAMAGENT_BENCH_RESTARTS (default 24) is the number of restarts per policy.

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
)

// benchPolicy runs attempt until ctx ends, probing with probe where the
// policy does.
type benchPolicy struct {
	name string
	run  func(ctx context.Context, attempt, probe func(context.Context) error)
}

var benchPolicies = []benchPolicy{
	{"before: backoff only", func(ctx context.Context, attempt, _ func(context.Context) error) {
		_ = backoff.Retry(ctx, pullBackoff(), attempt, nil)
	}},
	{"after: probe + backoff", func(ctx context.Context, attempt, probe func(context.Context) error) {
		r := &reconnect{backoff: pullBackoff(), clock: backoff.RealClock{}, interval: probeInterval, unreachable: media.ErrUnreachable,
			attempt: attempt, probe: probe, failed: func(error, time.Duration) {}, stillAway: func(error) {}}
		r.run(ctx)
	}},
}

// benchRestarts is CAMAGENT_BENCH_RESTARTS, 24 by default.
func benchRestarts(t *testing.T) int {
	v := os.Getenv("CAMAGENT_BENCH_RESTARTS")
	if v == "" {
		return 24
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("CAMAGENT_BENCH_RESTARTS=%q: want a count of restarts", v)
	}
	return n
}

// benchDowns are n outages of 0.5–5 s, the same in every run.
func benchDowns(n int) []time.Duration {
	downs := make([]time.Duration, n)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range downs {
		downs[i] = 500*time.Millisecond + time.Duration(rnd.Int64N(int64(4500*time.Millisecond)))
	}
	return downs
}

func TestBenchRecovery(t *testing.T) {
	restarts := benchRestarts(t)

	// Knocks at a dead camera: both policies at once, each at its own
	// closed port, for a minute.
	var knocks sync.WaitGroup
	counts := make([][2]int64, len(benchPolicies))
	for i, p := range benchPolicies {
		knocks.Add(1)
		go func() {
			defer knocks.Done()
			counts[i] = deadCamera(t, p, time.Minute)
		}()
	}
	knocks.Wait()

	// The same outages for both policies.
	downs := benchDowns(restarts)
	for i, p := range benchPolicies {
		var video, setup []time.Duration
		for _, down := range downs {
			s, v := recovery(t, p, down)
			setup, video = append(setup, s), append(video, v)
		}
		t.Logf("%s, %d restarts (down %v–%v): to SETUP %s; to first key frame %s; dead camera for 1 min: %d rtsp attempts + %d tcp probes",
			p.name, len(video), slices.Min(downs).Round(time.Millisecond), slices.Max(downs).Round(time.Millisecond),
			spread(setup), spread(video), counts[i][0], counts[i][1])
	}
}

// spread is the median, p99 and max of ds.
func spread(ds []time.Duration) string {
	ds = slices.Sorted(slices.Values(ds))
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return "median " + r(ds[len(ds)/2]) + ", p99 " + r(ds[(len(ds)*99+99)/100-1]) + ", max " + r(ds[len(ds)-1])
}

// recovery pulls a camera until it plays, stops its RTSP server for down,
// starts it again and returns how long until the agent's new session was
// set up, and until its first key frame reached the stream's reader (the
// camera's key-frame interval is the floor of that: 1 s here). Each run starts a fresh pull,
// as after a long healthy run.
func recovery(t *testing.T, p benchPolicy, down time.Duration) (setup, video time.Duration) {
	sim := rtspsim.New(rtspsim.Options{Addr: loopback()})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	stream := media.NewStream(nil)
	reader := stream.AddReader("cloud", 4096)
	src := media.SourceOptions{URL: sim.URL()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx, func(ctx context.Context) error { return media.NewSource(src, stream).Run(ctx) },
			func(ctx context.Context) error { return media.Probe(ctx, src.URL) })
	}()
	defer func() {
		cancel()
		<-done
	}()
	benchKeyFrame(t, reader, false)
	sim.Stop()
	time.Sleep(down)
	back := time.Now()
	if err := sim.Restart(); err != nil {
		t.Fatal(err)
	}
	sessions := stream.Stats().Sessions
	for stream.Stats().Sessions == sessions {
		time.Sleep(2 * time.Millisecond)
	}
	setup = time.Since(back)
	benchKeyFrame(t, reader, true)
	return setup, time.Since(back)
}

func benchKeyFrame(t *testing.T, r *media.Reader, newSession bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		u, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("no key frame: %v", err)
		}
		if u.Key && u.Track.Codec.IsVideo() && (!newSession || u.Discontinuity) {
			return
		}
	}
}

// deadCamera runs p against a closed port for d and counts RTSP attempts
// and probes (each one TCP connect).
func deadCamera(t *testing.T, p benchPolicy, d time.Duration) [2]int64 {
	sim := rtspsim.New(rtspsim.Options{Addr: loopback()})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	url := sim.URL()
	sim.Stop()
	var attempts, probes atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	p.run(ctx, func(ctx context.Context) error {
		attempts.Add(1)
		return media.NewSource(media.SourceOptions{URL: url}, media.NewStream(nil)).Run(ctx)
	}, func(ctx context.Context) error {
		probes.Add(1)
		return media.Probe(ctx, url)
	})
	return [2]int64{attempts.Load(), probes.Load()}
}
