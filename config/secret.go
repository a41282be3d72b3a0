package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// redacted is what every printing path shows instead of a secret.
const redacted = "[redacted]"

// Secret holds a credential (camera token, password). Every way of printing
// it — fmt verbs, JSON, YAML, zap fields — shows "[redacted]", or "" when it
// is empty, so a logged or dumped config never leaks it. Reveal returns the
// value for the one place that needs it.
//
// It is a struct rather than a string type so that string(s) and s == "x"
// do not compile; the zero value is the empty secret.
type Secret struct{ value string }

// NewSecret wraps v, for configs built in code (tests, demo).
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String returns "[redacted]", or "" when the secret is empty.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return "config.Secret(" + strconv.Quote(s.String()) + ")" }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x, %d…) print the
// redacted form; without it, verbs that bypass String would show the value.
func (s Secret) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String(), s.GoString()) }

// MarshalJSON encodes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML encodes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// SecretURL is a URL that may carry credentials, such as
// rtsp://user:pass@host/stream. It prints with the userinfo and query
// replaced by "[redacted]", so host and path stay visible in logs;
// Reveal returns the full URL.
type SecretURL struct{ value string }

// NewSecretURL wraps v, for configs built in code (tests, demo).
func NewSecretURL(v string) SecretURL { return SecretURL{value: v} }

// Reveal returns the full URL including credentials.
func (u SecretURL) Reveal() string { return u.value }

// IsZero reports whether the URL is empty.
func (u SecretURL) IsZero() bool { return u.value == "" }

// String returns the URL with userinfo and query redacted, "[redacted]" when
// it does not parse, or "" when empty.
func (u SecretURL) String() string {
	if u.value == "" {
		return ""
	}
	p, err := url.Parse(u.value)
	if err != nil || p.Opaque != "" || p.Scheme == "" {
		return redacted
	}
	hasUser := p.User != nil
	hasQuery := p.RawQuery != "" || p.ForceQuery
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	s := p.String()
	if hasUser {
		prefix := p.Scheme + "://"
		s = prefix + redacted + "@" + strings.TrimPrefix(s, prefix)
	}
	if hasQuery {
		s += "?" + redacted
	}
	return s
}

// GoString keeps %#v from printing the credentials.
func (u SecretURL) GoString() string {
	return "config.SecretURL(" + strconv.Quote(u.String()) + ")"
}

// Format makes every fmt verb print the redacted form.
func (u SecretURL) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, u.String(), u.GoString())
}

// MarshalJSON encodes the redacted form.
func (u SecretURL) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// MarshalYAML encodes the redacted form.
func (u SecretURL) MarshalYAML() (any, error) { return u.String(), nil }

func formatRedacted(f fmt.State, verb rune, s, gs string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		s = gs
	case verb == 'q':
		s = strconv.Quote(s)
	}
	_, _ = fmt.Fprint(f, s)
}
