package uplink

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, r := range []struct {
		name string
		rnd  float64
		lo   float64
	}{{"low jitter", 0, 0.8}, {"mid", 0.5, 1.0}, {"high jitter", 0.999999, 1.2}} {
		t.Run(r.name, func(t *testing.T) {
			b := Backoff{Base: 5 * time.Second, Cap: time.Minute, Rand: func() float64 { return r.rnd }}
			for i, want := range []time.Duration{5, 10, 20, 40, 60, 60} {
				got := b.Next()
				exp := time.Duration(float64(want*time.Second) * r.lo)
				if d := got - exp; d < -time.Millisecond || d > time.Millisecond {
					t.Errorf("step %d: %v, want %v", i, got, exp)
				}
			}
			b.Reset()
			if got := b.Next(); got > 6*time.Second {
				t.Errorf("after reset %v", got)
			}
		})
	}
}
