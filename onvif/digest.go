package onvif

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// digestChallenge is one parsed "WWW-Authenticate: Digest" challenge
// (RFC 7616). Only what a client needs is kept.
type digestChallenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string // "MD5" (default), "MD5-sess", "SHA-256" or "SHA-256-sess"
	QOP       []string
	Stale     bool
}

var errNoDigest = errors.New("no digest challenge")

// parseDigestChallenge finds the Digest challenge among the given
// WWW-Authenticate header values; a camera may also offer Basic.
func parseDigestChallenge(headers []string) (digestChallenge, error) {
	for _, h := range headers {
		for _, ch := range splitChallenges(h) {
			scheme, params, _ := strings.Cut(strings.TrimSpace(ch), " ")
			if !strings.EqualFold(scheme, "Digest") {
				continue
			}
			return digestFromParams(params)
		}
	}
	return digestChallenge{}, errNoDigest
}

func digestFromParams(params string) (digestChallenge, error) {
	kv, err := parseAuthParams(params)
	if err != nil {
		return digestChallenge{}, err
	}
	c := digestChallenge{
		Realm:     kv["realm"],
		Nonce:     kv["nonce"],
		Opaque:    kv["opaque"],
		Algorithm: kv["algorithm"],
		Stale:     strings.EqualFold(kv["stale"], "true"),
	}
	if c.Algorithm == "" {
		c.Algorithm = "MD5"
	}
	if _, ok := digestHash(c.Algorithm); !ok {
		return digestChallenge{}, fmt.Errorf("digest algorithm %q not supported", c.Algorithm)
	}
	if c.Nonce == "" {
		return digestChallenge{}, errors.New("digest challenge without nonce")
	}
	for _, q := range strings.Split(kv["qop"], ",") {
		if q = strings.TrimSpace(q); q != "" {
			c.QOP = append(c.QOP, strings.ToLower(q))
		}
	}
	if len(c.QOP) > 0 && !c.hasQOP("auth") {
		return digestChallenge{}, fmt.Errorf("digest qop %q not supported", kv["qop"])
	}
	return c, nil
}

func (c digestChallenge) hasQOP(q string) bool {
	for _, v := range c.QOP {
		if v == q {
			return true
		}
	}
	return false
}

// splitChallenges splits a header value holding several challenges
// ("Basic realm=x, Digest realm=y, nonce=z") at each new scheme token.
func splitChallenges(h string) []string {
	var out []string
	start := 0
	inQuote := false
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '"' && (i == 0 || h[i-1] != '\\'):
			inQuote = !inQuote
		case c == ',' && !inQuote:
			// A new challenge starts when the next item is "token SP" rather than "token=".
			rest := strings.TrimLeft(h[i+1:], " \t")
			end := strings.IndexAny(rest, " \t=,")
			if end > 0 && rest[end] != '=' && rest[end] != ',' && !strings.HasPrefix(strings.TrimLeft(rest[end:], " \t"), "=") {
				out = append(out, h[start:i])
				start = i + 1
			}
		}
	}
	return append(out, h[start:])
}

// parseAuthParams parses comma-separated auth-params, honouring quoted strings.
func parseAuthParams(s string) (map[string]string, error) {
	kv := make(map[string]string)
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return kv, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("malformed auth param %q", s)
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quoted value for %q", key)
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		kv[key] = val
	}
}

func digestHash(alg string) (func() hash.Hash, bool) {
	switch strings.ToUpper(alg) {
	case "MD5", "MD5-SESS":
		return md5.New, true
	case "SHA-256", "SHA-256-SESS":
		return sha256.New, true
	}
	return nil, false
}

func hexHash(newHash func() hash.Hash, s string) string {
	h := newHash()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// authorization returns the Authorization header value answering c for one
// request; nc is the 1-based count of requests made with this nonce and
// cnonce a fresh client nonce.
func (c digestChallenge) authorization(method, uri, username, password string, nc uint32, cnonce string) string {
	newHash, _ := digestHash(c.Algorithm) // validated when parsed
	ha1 := hexHash(newHash, username+":"+c.Realm+":"+password)
	if strings.HasSuffix(strings.ToUpper(c.Algorithm), "-SESS") {
		ha1 = hexHash(newHash, ha1+":"+c.Nonce+":"+cnonce)
	}
	ha2 := hexHash(newHash, method+":"+uri)
	ncs := fmt.Sprintf("%08x", nc)
	var response string
	if c.hasQOP("auth") {
		response = hexHash(newHash, ha1+":"+c.Nonce+":"+ncs+":"+cnonce+":auth:"+ha2)
	} else {
		response = hexHash(newHash, ha1+":"+c.Nonce+":"+ha2)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%s, realm=%s, nonce=%s, uri=%s, algorithm=%s, response="%s"`,
		quote(username), quote(c.Realm), quote(c.Nonce), quote(uri), c.Algorithm, response)
	if c.Opaque != "" {
		fmt.Fprintf(&b, ", opaque=%s", quote(c.Opaque))
	}
	if c.hasQOP("auth") {
		fmt.Fprintf(&b, `, qop=auth, nc=%s, cnonce="%s"`, ncs, cnonce)
	}
	return b.String()
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
