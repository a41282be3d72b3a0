package backoff

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var (
	errRefused = errors.New("refused")
	errDown    = errors.New("down")
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

func refusedWaits(err error) time.Duration {
	if errors.Is(err, errRefused) {
		return 10 * time.Minute
	}
	return 0
}

// step is one call: Reset first if reset, then After(ran, err), expecting want.
type step struct {
	ran   time.Duration
	err   error
	reset bool
	want  time.Duration
}

func TestAfter(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		name  string
		b     Backoff
		steps []step
	}{
		{"doubles up to the cap", Backoff{Min: s, Max: 8 * s, Rand: fixed(0.5)},
			[]step{{want: s}, {want: 2 * s}, {want: 4 * s}, {want: 8 * s}, {want: 8 * s}, {want: 8 * s}}},
		{"cap between doublings", Backoff{Min: 5 * s, Max: 60 * s, Rand: fixed(0.5)},
			[]step{{want: 5 * s}, {want: 10 * s}, {want: 20 * s}, {want: 40 * s}, {want: 60 * s}, {want: 60 * s}}},
		{"lowest jitter is -20 %", Backoff{Min: s, Max: 4 * s, Rand: fixed(0)},
			[]step{{want: 800 * time.Millisecond}, {want: 1600 * time.Millisecond}, {want: 3200 * time.Millisecond}, {want: 3200 * time.Millisecond}}},
		{"high jitter is +10 % at 0.75", Backoff{Min: s, Max: 4 * s, Rand: fixed(0.75)},
			[]step{{want: 1100 * time.Millisecond}, {want: 2200 * time.Millisecond}, {want: 4400 * time.Millisecond}, {want: 4400 * time.Millisecond}}},
		{"a healthy run starts over", Backoff{Min: s, Max: 8 * s, Healthy: time.Minute, Rand: fixed(0.5)},
			[]step{{want: s}, {ran: 59 * s, want: 2 * s}, {want: 4 * s}, {ran: time.Minute, want: s}, {want: 2 * s}}},
		{"no Healthy: only Reset starts over", Backoff{Min: s, Max: 8 * s, Rand: fixed(0.5)},
			[]step{{ran: time.Hour, want: s}, {ran: time.Hour, want: 2 * s}, {reset: true, want: s}, {want: 2 * s}}},
		{"override is jittered and leaves the sequence", Backoff{Min: s, Max: 8 * s, Override: refusedWaits, Rand: fixed(0)},
			[]step{{err: errDown, want: 800 * time.Millisecond}, {err: errRefused, want: 8 * time.Minute},
				{err: fmt.Errorf("login: %w", errRefused), want: 8 * time.Minute}, {err: errDown, want: 1600 * time.Millisecond}}},
		{"a healthy run resets under an override", Backoff{Min: s, Max: 8 * s, Healthy: time.Minute, Override: refusedWaits, Rand: fixed(0.5)},
			[]step{{err: errDown, want: s}, {err: errDown, want: 2 * s}, {ran: time.Hour, err: errRefused, want: 10 * time.Minute}, {err: errDown, want: s}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.b
			for i, st := range c.steps {
				if st.reset {
					b.Reset()
				}
				if got := b.After(st.ran, st.err); got != st.want {
					t.Errorf("step %d (ran %v, err %v): wait %v, want %v", i, st.ran, st.err, got, st.want)
				}
			}
		})
	}
}

// Next is After without a run: it never resets by itself.
func TestNextIgnoresHealthy(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 4 * time.Second, Healthy: time.Nanosecond, Rand: fixed(0.5)}
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next())
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("Next: %v, want %v", got, want)
	}
}

// Without Rand the jitter still spreads delays within ±20 %.
func TestDefaultRandSpreads(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Second}
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := b.Next()
		if d < 800*time.Millisecond || d >= 1200*time.Millisecond {
			t.Fatalf("delay %v outside 1s ±20 %%", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays in 1000: not jittered", len(seen))
	}
}

// fakeClock moves only when told: by a Sleep, or by a run's advance.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
	// onSleep, if set, runs inside every Sleep (a test cancels ctx there).
	onSleep func()
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	if c.onSleep != nil {
		c.onSleep()
	}
	return ctx.Err()
}

type report struct {
	err  error
	wait time.Duration
}

func TestRetryWaitsBetweenFailuresUntilSuccess(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := &Backoff{Min: time.Second, Max: 4 * time.Second, Healthy: time.Minute, Override: refusedWaits, Rand: fixed(0.5), Clock: clk}
	// Each attempt runs this long on the clock, then fails with this error;
	// the last one succeeds.
	runs := []struct {
		ran time.Duration
		err error
	}{{0, errDown}, {0, errDown}, {0, errRefused}, {0, errDown}, {0, errDown}, {2 * time.Minute, errDown}, {0, errDown}, {0, nil}}
	var reports []report
	n := 0
	err := Retry(context.Background(), b, func(ctx context.Context) error {
		r := runs[n]
		n++
		clk.now = clk.now.Add(r.ran)
		return r.err
	}, func(err error, wait time.Duration) { reports = append(reports, report{err, wait}) })
	if err != nil {
		t.Fatalf("Retry = %v after success", err)
	}
	if n != len(runs) {
		t.Fatalf("%d attempts, want %d", n, len(runs))
	}
	s := time.Second
	want := []report{{errDown, s}, {errDown, 2 * s}, {errRefused, 10 * time.Minute}, {errDown, 4 * s}, {errDown, 4 * s},
		{errDown, s}, {errDown, 2 * s}}
	if !reflect.DeepEqual(reports, want) {
		t.Errorf("reports %v, want %v", reports, want)
	}
	var waits []time.Duration
	for _, r := range want {
		waits = append(waits, r.wait)
	}
	if !reflect.DeepEqual(clk.sleeps, waits) {
		t.Errorf("slept %v, want %v", clk.sleeps, waits)
	}
}

func TestRetryStopsWithCtx(t *testing.T) {
	t.Run("during the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clk := &fakeClock{onSleep: cancel}
		n, reports := 0, 0
		err := Retry(ctx, &Backoff{Min: time.Second, Max: time.Second, Rand: fixed(0.5), Clock: clk},
			func(context.Context) error { n++; return errDown },
			func(error, time.Duration) { reports++ })
		if !errors.Is(err, context.Canceled) || n != 1 || reports != 1 || len(clk.sleeps) != 1 {
			t.Errorf("Retry = %v after %d attempts, %d reports, sleeps %v; want Canceled, 1, 1, one", err, n, reports, clk.sleeps)
		}
	})
	t.Run("during an attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		clk := &fakeClock{}
		reports := 0
		err := Retry(ctx, &Backoff{Min: time.Second, Max: time.Second, Clock: clk},
			func(context.Context) error { cancel(); return errDown },
			func(error, time.Duration) { reports++ })
		if !errors.Is(err, context.Canceled) || reports != 0 || len(clk.sleeps) != 0 {
			t.Errorf("Retry = %v, %d reports, sleeps %v; want Canceled and the failure unreported", err, reports, clk.sleeps)
		}
	})
	t.Run("before the first attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n := 0
		err := Retry(ctx, &Backoff{Min: time.Second, Max: time.Second, Clock: &fakeClock{}},
			func(context.Context) error { n++; return nil }, nil)
		if !errors.Is(err, context.Canceled) || n != 0 {
			t.Errorf("Retry = %v after %d attempts; want Canceled, none", err, n)
		}
	})
}

func TestRealClockSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (RealClock{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a done ctx = %v, want Canceled", err)
	}
	if err := (RealClock{}).Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
}
