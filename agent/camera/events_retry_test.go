package camera

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// A camera switched off under a live event subscription is knocked at
// every probeInterval with a TCP connect and no SOAP request, and
// subscribed again on the knock that finds it back, not after a growing
// backoff: its motion reaches the cloud again at once.
func TestEventsSubscribeAgainWhenTheCameraIsBack(t *testing.T) {
	sim := onvifsim.New(onvifsim.Options{Addr: loopback(), Username: "admin", Password: "pw"})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cl, err := onvif.New(onvif.Options{URL: sim.URL(), Username: "admin", Password: "pw", Timeout: 5 * time.Second, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}

	events := make(chan onvif.Event, 16)
	r := eventsRetry(zaptest.NewLogger(t), cl, DefaultTiming, func(ev onvif.Event) {
		if kind, active, ok := onvif.Classify(ev); ok && kind == onvif.KindMotion && active {
			events <- ev
		}
	}, func() { t.Error("events reported unsupported") })
	clock := &fakeClock{now: time.Now()}
	r.clock = clock
	const backAt = 4 // the camera is back for the 4th probe
	stopped := make(chan struct{})
	var attempts, probes atomic.Int32
	var mu sync.Mutex
	var failures []time.Duration
	attempt, probe, failed := r.attempt, r.probe, r.failed
	r.attempt = func(ctx context.Context) error {
		attempts.Add(1)
		return attempt(ctx)
	}
	r.probe = func(ctx context.Context) error {
		if probes.Add(1) == backAt {
			<-stopped
			if err := sim.Restart(); err != nil {
				t.Error(err)
			}
		}
		return probe(ctx)
	}
	r.failed = func(err error, wait time.Duration) {
		mu.Lock()
		failures = append(failures, wait)
		mu.Unlock()
		failed(err, wait)
	}
	background(t, r.run)

	motion := func(what string) {
		t.Helper()
		waitUntil(t, "a subscription "+what, func() bool { return sim.Subscriptions() == 1 })
		sim.TriggerMotion(true)
		select {
		case <-events:
		case <-time.After(10 * time.Second):
			t.Fatalf("no motion %s", what)
		}
		sim.TriggerMotion(false)
	}
	motion("before the camera goes off")
	sim.Stop()
	close(stopped)
	motion("after the camera came back")

	if n := attempts.Load(); n != 2 {
		t.Errorf("%d subscription attempts, want 2: none while the camera was off", n)
	}
	if n := probes.Load(); n != backAt {
		t.Errorf("%d probes, want %d: the camera was subscribed on the probe that found it back", n, backAt)
	}
	for _, d := range clock.waits() {
		if d != probeInterval {
			t.Errorf("waits %v: want only probe intervals (%v) while the camera was off", clock.waits(), probeInterval)
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) != 1 || failures[0] != probeInterval {
		t.Errorf("failures reported with waits %v, want one, retrying after %v", failures, probeInterval)
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
