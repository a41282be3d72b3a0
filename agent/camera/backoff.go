package camera

import (
	"errors"
	"time"

	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
)

// CredentialRetry is how long a camera that refused the configured user
// name or password waits before the next login. Many cameras lock the
// account after a few failed logins (often for 30 minutes), and a retry
// every minute would keep it locked; the wait costs nothing once fixed,
// since a reload restarts a camera whose config changed at once.
const CredentialRetry = 10 * time.Minute

// credentialWait is the backoff override for a refused login, over ONVIF
// or RTSP: CredentialRetry instead of the growing delay.
func credentialWait(err error) time.Duration {
	if errors.Is(err, onvif.ErrUnauthorized) || errors.Is(err, media.ErrUnauthorized) {
		return CredentialRetry
	}
	return 0
}

// NewBackoff is how a camera's owner retries Run after it failed: 2 s
// growing to a minute, CredentialRetry after a refused login, starting
// over after a run of a minute.
func NewBackoff() *backoff.Backoff {
	return &backoff.Backoff{Min: 2 * time.Second, Max: time.Minute, Healthy: time.Minute, Override: credentialWait}
}
