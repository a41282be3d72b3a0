//go:build bench

package camera

// The ONVIF side of TestBenchRecovery: how fast a camera's event
// subscription is back when the camera's ONVIF port comes back, and how
// often a dead camera is knocked at, for eventsRetry and for the policy
// before it (backoff.Retry with the same backoff). It reports numbers and
// never fails on them.
//
//	go test -tags bench -run TestBenchONVIFRecovery -v -count=1 -timeout 20m ./agent/camera/
//
// CAMAGENT_BENCH_RESTARTS (default 24) is the number of restarts per policy.

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// onvifPolicy runs r's attempts until ctx ends, the way the policy does.
type onvifPolicy struct {
	name string
	run  func(ctx context.Context, r *reconnect)
}

var onvifPolicies = []onvifPolicy{
	{"before: backoff only", func(ctx context.Context, r *reconnect) {
		_ = backoff.Retry(ctx, r.backoff, r.attempt, nil)
	}},
	{"after: probe + backoff", func(ctx context.Context, r *reconnect) { r.run(ctx) }},
}

func TestBenchONVIFRecovery(t *testing.T) {
	var knocks sync.WaitGroup
	counts := make([][2]int64, len(onvifPolicies))
	for i, p := range onvifPolicies {
		knocks.Add(1)
		go func() {
			defer knocks.Done()
			counts[i] = deadONVIFCamera(t, p, time.Minute)
		}()
	}
	knocks.Wait()

	downs := benchDowns(benchRestarts(t))
	for i, p := range onvifPolicies {
		var back []time.Duration
		for _, down := range downs {
			back = append(back, onvifRecovery(t, p, down))
		}
		t.Logf("%s, %d restarts (down %v–%v): to a new subscription %s; dead camera for 1 min: %d subscription attempts + %d tcp probes",
			p.name, len(back), slices.Min(downs).Round(time.Millisecond), slices.Max(downs).Round(time.Millisecond),
			spread(back), counts[i][0], counts[i][1])
	}
}

// benchEvents is a connected ONVIF client of a simulated camera and the
// event-retry policy of the agent for it.
func benchEvents(t *testing.T) (*onvifsim.Server, *reconnect) {
	sim := onvifsim.New(onvifsim.Options{Addr: loopback(), Username: "admin", Password: "pw"})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	cl, err := onvif.New(onvif.Options{URL: sim.URL(), Username: "admin", Password: "pw", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sim, eventsRetry(zap.NewNop(), cl, DefaultTiming, func(onvif.Event) {}, func() { t.Error("events unsupported") })
}

// onvifRecovery subscribes to a camera's events, stops the camera for
// down, starts it again and returns how long until it had a subscription
// again. Each run starts afresh, as after a long healthy run.
func onvifRecovery(t *testing.T, p onvifPolicy, down time.Duration) time.Duration {
	sim, r := benchEvents(t)
	defer sim.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx, r)
	}()
	defer func() {
		cancel()
		<-done
	}()
	for sim.Subscriptions() == 0 {
		time.Sleep(2 * time.Millisecond)
	}
	sim.Stop()
	time.Sleep(down)
	back := time.Now()
	if err := sim.Restart(); err != nil {
		t.Fatal(err)
	}
	for sim.Subscriptions() == 0 {
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(back)
}

// deadONVIFCamera runs p against a camera switched off for d and counts
// subscription attempts and probes (each one TCP connect).
func deadONVIFCamera(t *testing.T, p onvifPolicy, d time.Duration) [2]int64 {
	sim, r := benchEvents(t)
	defer sim.Close()
	sim.Stop()
	var attempts, probes atomic.Int64
	attempt, probe := r.attempt, r.probe
	r.attempt = func(ctx context.Context) error {
		attempts.Add(1)
		return attempt(ctx)
	}
	r.probe = func(ctx context.Context) error {
		probes.Add(1)
		return probe(ctx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	p.run(ctx, r)
	return [2]int64{attempts.Load(), probes.Load()}
}
