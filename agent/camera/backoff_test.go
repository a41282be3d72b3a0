package camera

import (
	"fmt"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
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

// A camera that refused the login is not asked again for minutes, over
// ONVIF or RTSP: cameras lock accounts after a few failed logins.
func TestRefusedLoginWaitsLong(t *testing.T) {
	b := newBackoff(time.Second, 8*time.Second)
	for _, err := range []error{
		fmt.Errorf("get device information: %w", onvif.ErrUnauthorized),
		fmt.Errorf("rtsp describe: %w: 401", media.ErrUnauthorized),
	} {
		if d := b.retryDelay(0, err); d < CredentialRetry*8/10 {
			t.Errorf("%v: retry in %v, want about %v", err, d, CredentialRetry)
		}
	}
	if d := b.retryDelay(0, fmt.Errorf("dial: %w", media.ErrUnreachable)); d > 2*time.Second {
		t.Errorf("unreachable camera: retry in %v, want the backoff's ~1s", d)
	}
}
