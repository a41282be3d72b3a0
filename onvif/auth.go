package onvif

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// AuthMode is how the camera accepted the client's credentials.
type AuthMode int

// Authentication modes reported by Auth.
const (
	// AuthUnknown: no authenticated call has succeeded yet.
	AuthUnknown AuthMode = iota
	// AuthNone: no credentials are configured, or the camera took a
	// call that carried none.
	AuthNone
	// AuthWSUsernameToken: ONVIF's WS-UsernameToken in the SOAP header.
	AuthWSUsernameToken
	// AuthDigest: HTTP digest only; the camera refuses calls that carry a
	// WS-Security header (SOAP MustUnderstand fault).
	AuthDigest
	// AuthWSUsernameTokenAndDigest: both, the camera asked for HTTP
	// digest on top of the WS-UsernameToken.
	AuthWSUsernameTokenAndDigest
)

// String says the mode in plain words.
func (m AuthMode) String() string {
	switch m {
	case AuthNone:
		return "no authentication"
	case AuthWSUsernameToken:
		return "ONVIF user token (WS-UsernameToken)"
	case AuthDigest:
		return "HTTP digest only (the camera refuses ONVIF user tokens)"
	case AuthWSUsernameTokenAndDigest:
		return "ONVIF user token and HTTP digest"
	}
	return "not known yet"
}

func authModeOf(wsse, digest bool) AuthMode {
	switch {
	case wsse && digest:
		return AuthWSUsernameTokenAndDigest
	case wsse:
		return AuthWSUsernameToken
	case digest:
		return AuthDigest
	}
	return AuthNone
}

// Auth returns how the camera accepted the credentials in the last
// authenticated call that succeeded: what `camagent probe` shows an
// installer. AuthUnknown before one succeeded.
func (c *Client) Auth() AuthMode {
	if c.username == "" {
		return AuthNone
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepted
}

// Authentication schemes reported by AuthUsed.
const (
	AuthUsernameToken = "WS-UsernameToken"
	AuthHTTPDigest    = "HTTP digest"
)

// AuthUsed names the schemes of Auth: empty without credentials or before
// an authenticated call succeeded.
func (c *Client) AuthUsed() []string {
	switch c.Auth() {
	case AuthWSUsernameToken:
		return []string{AuthUsernameToken}
	case AuthDigest:
		return []string{AuthHTTPDigest}
	case AuthWSUsernameTokenAndDigest:
		return []string{AuthUsernameToken, AuthHTTPDigest}
	}
	return nil
}

// exchange posts one request, authenticated when authed (and credentials
// are set). The camera decides the scheme: a WS-UsernameToken is sent
// unless the camera refused one before; HTTP digest is answered whenever
// challenged. When the chosen scheme fails, the other is tried once and
// remembered if it works: a camera that does not understand WS-Security
// (MustUnderstand fault) takes digest only, and a camera whose firmware
// changed may want the token again.
func (c *Client) exchange(ctx context.Context, op, endpoint, action string, body []byte, authed bool) ([]byte, error) {
	if !authed || c.username == "" {
		data, _, err := c.post(ctx, endpoint, action, body, false)
		return data, err
	}
	c.mu.Lock()
	wsse := !c.digestOnly
	c.mu.Unlock()
	data, err := c.authedPost(ctx, op, endpoint, action, body, wsse)
	if err == nil || !(errors.Is(err, errSecurityRefused) || errors.Is(err, ErrUnauthorized)) {
		return data, err
	}
	data, err2 := c.authedPost(ctx, op, endpoint, action, body, !wsse)
	if err2 != nil {
		if errors.Is(err, errSecurityRefused) {
			return nil, err2 // the refusal of the header says nothing about the credentials
		}
		return nil, err
	}
	c.mu.Lock()
	changed := c.digestOnly != wsse
	c.digestOnly = wsse
	c.mu.Unlock()
	if changed {
		c.log.Info("camera takes another authentication, remembering it",
			zap.String("op", op), zap.Bool("ws_security", !wsse), zap.NamedError("refused", err))
	}
	return data, nil
}

// authedPost is post with credentials, retried once when the camera's
// clock moved since Connect (a stale offset looks exactly like a wrong
// password to a WS-UsernameToken). On success it records the mode that
// worked.
func (c *Client) authedPost(ctx context.Context, op, endpoint, action string, body []byte, wsse bool) ([]byte, error) {
	data, digest, err := c.post(ctx, endpoint, action, body, wsse)
	if wsse && errors.Is(err, ErrUnauthorized) && answered(err) && action != actionSystemDateAndTime {
		before := c.ClockOffset()
		if c.syncClock(ctx) == nil {
			if d := c.ClockOffset() - before; d > time.Second || d < -time.Second {
				c.log.Info("camera clock moved, retrying", zap.String("op", op), zap.Duration("change", d))
				data, digest, err = c.post(ctx, endpoint, action, body, wsse)
			}
		}
	}
	if err == nil {
		c.mu.Lock()
		c.accepted = authModeOf(wsse, digest)
		c.mu.Unlock()
	}
	return data, err
}

// answered says whether err is the camera's own answer (a SOAP fault or
// an HTTP error page) rather than a transport failure.
func answered(err error) bool {
	var f *Fault
	var h *HTTPError
	return errors.As(err, &f) || errors.As(err, &h)
}
