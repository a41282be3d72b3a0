package uplink

import (
	"fmt"
	"time"
)

// connResult is how one connection ended.
type connResult struct {
	err     error
	bye     *Bye
	ready   bool
	readyAt time.Time
}

// String lets a *Bye be logged with zap.Stringer.
func (b *Bye) String() string {
	if b == nil {
		return "none"
	}
	if b.Retry > 0 {
		return fmt.Sprintf("%s retry=%ds", b.Reason, b.Retry)
	}
	return b.Reason
}

// delay applies the table of §2.7/§2.9 to how the connection ended.
func (s *Session) delay(res connResult) time.Duration {
	if res.ready && s.clock.Now().Sub(res.readyAt) >= time.Minute {
		s.backoff.Reset()
		s.slow.Reset()
	}
	b := res.bye
	if b == nil || b.Reason != ByeReconnect {
		s.redirect = "" // §2.8 step 5
	}
	var retry time.Duration
	if b != nil {
		retry = time.Duration(b.Retry) * time.Second
	}
	switch {
	case b == nil:
		return s.backoff.Next()
	case b.Reason == ByeReconnect:
		if retry > 0 {
			return retry
		}
		return 5 * time.Second
	case b.Reason == ByeConnConflict:
		s.log.Error("another connection uses this camera's token; two devices may share it")
		d := retry
		if d == 0 {
			d = s.backoff.Next()
		}
		return max(d, 30*time.Second)
	case b.Reason == ByeAuthFailure:
		s.log.Error("cloud rejected the camera's credentials; check the access token")
		return max(retry, 5*time.Minute)
	case b.Reason == ByeInvalidUser:
		s.log.Error("cloud account of this camera not found")
		if retry > 0 {
			return retry
		}
		return s.slow.Next()
	case retry > 0:
		return retry
	default:
		return s.backoff.Next()
	}
}

func (s *Session) recordEnd(res connResult) {
	var what string
	switch {
	case res.bye != nil:
		what = "cloud said bye " + res.bye.String()
		switch res.bye.Reason {
		case ByeAuthFailure:
			what += ": the access token was rejected"
		case ByeConnConflict:
			what += ": another device is connected with this camera's token"
		case ByeInvalidUser:
			what += ": the camera's cloud account was not found"
		case ByeDeleted:
			what += ": the camera was deleted from its cloud account"
		}
	case res.err != nil:
		what = res.err.Error()
	default:
		what = "connection closed"
	}
	s.lastEnd.Store(&what)
}
