package agent

import (
	"testing"
	"time"
)

func TestBackoffGrowsCapsJittersAndResets(t *testing.T) {
	b := newBackoff(time.Second, 8*time.Second)
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, w := range want {
		d := b.delay(0)
		base := w * time.Second
		if d < base*8/10 || d > base*12/10 {
			t.Fatalf("attempt %d: delay %v outside %v ±20%%", i, d, base)
		}
	}
	if d := b.delay(2 * time.Minute); d > 1200*time.Millisecond {
		t.Fatalf("delay after a good run is %v, want reset to ~1s", d)
	}
}
