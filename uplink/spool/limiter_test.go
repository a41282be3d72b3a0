package spool

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"testing"
	"time"
)

// fakeClock is virtual time: a sleep moves it forward at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.advance(d)
	return nil
}

func fakeLimiter(rate, burst int64) (*Limiter, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1700000000, 0)}
	l := NewLimiter(rate, burst)
	l.now, l.sleep = clk.Now, clk.Sleep
	return l, clk
}

func TestLimiterBucket(t *testing.T) {
	ms := time.Millisecond
	type wait struct {
		idle time.Duration // virtual time passing before the Wait
		n    int64
		want time.Duration // virtual time the Wait took
	}
	for _, c := range []struct {
		name        string
		rate, burst int64
		waits       []wait
	}{
		{"a full bucket passes a burst at once", 1000, 500,
			[]wait{{0, 500, 0}, {0, 500, 500 * ms}, {0, 250, 250 * ms}}},
		{"steady flow at the rate", 1000, 100,
			[]wait{{0, 100, 0}, {0, 100, 100 * ms}, {0, 100, 100 * ms}, {0, 100, 100 * ms}}},
		{"idle time refills, up to the burst only", 1000, 500,
			[]wait{{0, 500, 0}, {200 * ms, 200, 0}, {10 * time.Second, 1000, 500 * ms}}},
		{"a request larger than the burst waits for its excess", 1000, 100,
			[]wait{{0, 1100, time.Second}, {0, 100, 100 * ms}}},
		{"burst defaults to one second", 1000, 0,
			[]wait{{0, 1000, 0}, {0, 1, ms}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, clk := fakeLimiter(c.rate, c.burst)
			for i, w := range c.waits {
				clk.advance(w.idle)
				start := clk.Now()
				if err := l.Wait(context.Background(), w.n); err != nil {
					t.Fatal(err)
				}
				if got := clk.Now().Sub(start); got != w.want {
					t.Errorf("wait %d (%d bytes after %v idle) took %v, want %v", i, w.n, w.idle, got, w.want)
				}
			}
		})
	}
}

// A cancelled wait gives its bytes back, so it does not slow the others.
func TestLimiterCancelGivesBack(t *testing.T) {
	l, clk := fakeLimiter(1000, 1000)
	l.Wait(context.Background(), 1000) // bucket empty
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, 5000); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	start := clk.Now()
	l.Wait(context.Background(), 100)
	if got := clk.Now().Sub(start); got != 100*time.Millisecond {
		t.Errorf("wait after a cancelled one took %v, want 100ms", got)
	}
}

// Reading a payload through the limiter takes the virtual time its size
// asks for and no token is spent past its end.
func TestLimitedReader(t *testing.T) {
	l, clk := fakeLimiter(10000, 1000)
	start := clk.Now()
	pr := &payloadReader{r: &limitedReader{ctx: context.Background(), r: &zeros{n: 5500}, l: l},
		left: 5500, sum: crcOf(make([]byte, 5500)), crc: crc32.New(castagnoli)}
	n, err := io.Copy(io.Discard, pr)
	if n != 5500 || err != nil {
		t.Fatalf("copied %d, %v", n, err)
	}
	if got, want := clk.Now().Sub(start), 450*time.Millisecond; got != want {
		t.Errorf("took %v, want %v", got, want)
	}
}

type zeros struct{ n int }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	clear(p[:k])
	z.n -= k
	return k, nil
}

// Deliveries through Run under a cap, measured on the wall clock: the rate
// of the bytes past the first burst stays within 10 % of the cap.
func TestLimitedDeliveryRate(t *testing.T) {
	const (
		rate  = 1 << 20 // 1 MiB/s
		burst = 32 << 10
		items = 6
		size  = 256 << 10 // 1.5 MiB in all: about 1.5 s
	)
	s := open(t, Options{Limiter: NewLimiter(rate, burst), Workers: map[Class]int{ClassClip: 2}})
	for i := range items {
		if _, err := s.Put(Item{Class: ClassClip, Created: time.Now(), Meta: []byte(fmt.Sprint(i))}, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var first, last time.Time
	var total int64
	done := make(chan struct{}, items)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, func(ctx context.Context, it Item, p io.Reader) error {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		mu.Unlock()
		n, err := io.Copy(io.Discard, p)
		mu.Lock()
		total += n
		last = time.Now()
		mu.Unlock()
		done <- struct{}{}
		return err
	})
	for range items {
		<-done
	}
	mu.Lock()
	defer mu.Unlock()
	if total != items*size {
		t.Fatalf("delivered %d bytes, want %d", total, items*size)
	}
	got := float64(total-burst) / last.Sub(first).Seconds()
	if got < 0.9*rate || got > 1.1*rate {
		t.Errorf("delivered %.0f bytes/s, cap %d", got, rate)
	}
	t.Logf("%.0f bytes/s under a cap of %d", got, rate)
}
