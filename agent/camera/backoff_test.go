package camera

import (
	"fmt"
	"testing"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
)

// A camera that refused the login is not asked again for minutes, over
// ONVIF or RTSP: cameras lock accounts after a few failed logins.
func TestRefusedLoginWaitsLong(t *testing.T) {
	b := NewBackoff()
	for _, err := range []error{
		fmt.Errorf("get device information: %w", onvif.ErrUnauthorized),
		fmt.Errorf("rtsp describe: %w: 401", media.ErrUnauthorized),
	} {
		if d := b.After(0, err); d < CredentialRetry*8/10 {
			t.Errorf("%v: retry in %v, want about %v", err, d, CredentialRetry)
		}
	}
	if d := b.After(0, fmt.Errorf("dial: %w", media.ErrUnreachable)); d > 3*time.Second {
		t.Errorf("unreachable camera: retry in %v, want the backoff's ~2s", d)
	}
}
