package camera

import (
	"testing"
	"time"
)

// TestClockOff: the words say how far and which way, rounded so that the
// same clock gives the same words at every check.
func TestClockOff(t *testing.T) {
	for skew, want := range map[time.Duration]string{
		90*time.Minute + 400*time.Millisecond: "camera clock is 1 h 30 min ahead of this machine's",
		89*time.Minute + 59*time.Second:       "camera clock is 1 h 30 min ahead of this machine's",
		2 * time.Hour:                         "camera clock is 2 h ahead of this machine's",
		59*time.Minute + 40*time.Second:       "camera clock is 1 h ahead of this machine's",
		-20*time.Minute - 10*time.Second:      "camera clock is 20 min behind this machine's",
		45 * time.Second:                      "camera clock is 45 s ahead of this machine's",
	} {
		if got := clockOff(skew); got != want {
			t.Errorf("clockOff(%v) = %q, want %q", skew, got, want)
		}
	}
}
