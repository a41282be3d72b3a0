package uplink

import (
	"context"
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

// delay applies the table of docs/protocol.md#reconnect/#bye to how the connection ended.
func (s *Session) delay(res connResult) time.Duration {
	if res.ready && s.clock.Now().Sub(res.readyAt) >= time.Minute {
		s.backoff.Reset()
		s.slow.Reset()
	}
	b := res.bye
	if b == nil || b.Reason != ByeReconnect {
		s.redirect = "" // docs/protocol.md#redirect step 5
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

// recordEnd keeps how a connection ended and tells the handler; ctx is
// the session's: once it is done, the end is the session's own stop.
func (s *Session) recordEnd(ctx context.Context, res connResult) {
	end := End{Bye: res.bye, Err: res.err, Stopped: ctx.Err() != nil}
	s.lastEnd.Store(&end)
	if r, ok := s.opts.Handler.(EndReporter); ok {
		r.Ended(end)
	}
}

// End is how one connection ended.
type End struct {
	// Bye is what the cloud said, nil when the connection ended otherwise.
	Bye *Bye
	// Err is why the connection failed; nil after a bye or a clean close.
	Err error
	// Stopped: the session was stopped (its Run's context ended), which
	// ended the connection; Bye and Err say no more than that.
	Stopped bool
}

// Settled reports a bye after which the cloud will not take the camera
// back by itself: someone has to fix the token, the account or the other
// device. Whatever else ended a connection is transient.
func (e End) Settled() bool {
	if e.Bye == nil {
		return false
	}
	switch e.Bye.Reason {
	case ByeAuthFailure, ByeInvalidUser, ByeDeleted, ByeConnConflict:
		return true
	}
	return false
}

// String says in plain words how the connection ended.
func (e End) String() string {
	switch {
	case e.Bye != nil:
		what := "cloud said bye " + e.Bye.String()
		switch e.Bye.Reason {
		case ByeAuthFailure:
			what += ": the access token was rejected"
		case ByeConnConflict:
			what += ": another device is connected with this camera's token"
		case ByeInvalidUser:
			what += ": the camera's cloud account was not found"
		case ByeDeleted:
			what += ": the camera was deleted from its cloud account"
		}
		return what
	case e.Err != nil:
		return e.Err.Error()
	}
	return "connection closed"
}
