package uplink

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"go.uber.org/zap/zapcore"
)

// Default endpoints of docs/protocol.md#token, used when the token names no host or port.
const (
	DefaultCamHost       = "cam.skyvr.videoexpertsgroup.com"
	DefaultAPIHost       = "web.skyvr.videoexpertsgroup.com"
	DefaultCamPort       = 8888
	DefaultCamSecurePort = 8883
	DefaultAPIPort       = 80
	DefaultAPISecurePort = 443
)

// ErrBadToken is wrapped by every DecodeToken failure: such a token is fatal,
// the agent must not connect with it (docs/protocol.md#token). The messages say what a token
// should be, not what the decoders tripped over: a person reads them.
var ErrBadToken = errors.New("not a VXG camera access token")

// errTokenShape is the reason given for text that does not decode to a JSON
// object at all: most often a token cut short while copying, or the wrong
// string pasted.
const errTokenShape = "expected base64-encoded JSON with token, camid, cam, api, …; was it copied whole?"

// Token is a decoded camera access token (docs/protocol.md#token). Secret is the channel
// token itself; String, GoString, MarshalJSON and MarshalLogObject redact it
// so a Token can be logged or printed safely.
type Token struct {
	// Secret is the token's "token" key: URL path element and register.reg_token.
	Secret string
	// CamID is the cloud camera id ("camid").
	CamID int64
	// CmngrID is the camera-manager record id ("cmngrid"); informational.
	CmngrID int64
	// Access is the access level ("access"); informational.
	Access string
	// CamHost is the camera-server host ("cam", else "api", else svcp's host, else the default).
	CamHost string
	// CamPort is the ws:// port ("cam_p", default 8888).
	CamPort int
	// CamSecurePort is the wss:// port ("cam_sp", default 8883).
	CamSecurePort int
	// APIHost is the REST host ("api", default web.skyvr.videoexpertsgroup.com).
	APIHost string
	// APIPort and APISecurePort are the REST ports ("api_p", "api_sp").
	APIPort, APISecurePort int
	// SOCKS5 is proxy.socks5 ("socks5://user:pwd@host:port"); empty means direct.
	SOCKS5 string
	// SOCKS4 is proxy.socks4, applied only to RTMP publishing.
	SOCKS4 string
}

type tokenJSON struct {
	Token   *string         `json:"token"`
	CamID   json.RawMessage `json:"camid"`
	CmngrID json.RawMessage `json:"cmngrid"`
	Access  string          `json:"access"`
	Cam     string          `json:"cam"`
	CamP    json.RawMessage `json:"cam_p"`
	CamSP   json.RawMessage `json:"cam_sp"`
	API     string          `json:"api"`
	APIP    json.RawMessage `json:"api_p"`
	APISP   json.RawMessage `json:"api_sp"`
	SVCP    string          `json:"svcp"`
	Proxy   *tokenProxyJSON `json:"proxy"`
}

type tokenProxyJSON struct {
	SOCKS5 string `json:"socks5"`
	SOCKS4 string `json:"socks4"`
}

// DecodeToken decodes a base64 access token (docs/protocol.md#token): whitespace is stripped,
// the standard and URL-safe alphabets are accepted with or without padding,
// unknown JSON keys are ignored, and defaults are filled in.
func DecodeToken(s string) (Token, error) {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	// Fold the URL-safe alphabet onto the standard one and drop padding,
	// so one raw decoder accepts all four variants.
	s = strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(s, "="))
	raw, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		if strings.HasPrefix(s, "share.") {
			// The "token" key's value, copied out of a decoded token.
			return Token{}, fmt.Errorf("%w: this looks like the \"token\" inside one; use the whole base64 access token", ErrBadToken)
		}
		return Token{}, fmt.Errorf("%w: %s", ErrBadToken, errTokenShape)
	}
	var j tokenJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&j); err != nil {
		return Token{}, fmt.Errorf("%w: %s", ErrBadToken, errTokenShape)
	}
	if j.Token == nil || *j.Token == "" {
		return Token{}, fmt.Errorf("%w: its JSON has no \"token\"", ErrBadToken)
	}
	t := Token{Secret: *j.Token, Access: j.Access, CamPort: DefaultCamPort, CamSecurePort: DefaultCamSecurePort,
		APIPort: DefaultAPIPort, APISecurePort: DefaultAPISecurePort}
	if len(j.CamID) == 0 {
		return Token{}, fmt.Errorf("%w: its JSON has no \"camid\"", ErrBadToken)
	}
	if t.CamID, err = intNumber(j.CamID); err != nil {
		return Token{}, fmt.Errorf("%w: camid: %v", ErrBadToken, err)
	}
	if len(j.CmngrID) != 0 {
		if t.CmngrID, err = intNumber(j.CmngrID); err != nil {
			return Token{}, fmt.Errorf("%w: cmngrid: %v", ErrBadToken, err)
		}
	}
	for _, p := range []struct {
		name string
		n    json.RawMessage
		dst  *int
	}{{"cam_p", j.CamP, &t.CamPort}, {"cam_sp", j.CamSP, &t.CamSecurePort}, {"api_p", j.APIP, &t.APIPort}, {"api_sp", j.APISP, &t.APISecurePort}} {
		if len(p.n) == 0 {
			continue
		}
		v, err := intNumber(p.n)
		if err != nil || v <= 0 || v > 65535 {
			return Token{}, fmt.Errorf("%w: %s is not a port number (1-65535)", ErrBadToken, p.name)
		}
		*p.dst = int(v)
	}
	t.APIHost = j.API
	if t.APIHost == "" {
		t.APIHost = DefaultAPIHost
	}
	switch {
	case j.Cam != "":
		t.CamHost = j.Cam
	case j.API != "":
		t.CamHost = j.API
	case j.SVCP != "":
		// Legacy service-provider URL: only its host is used, on port 8888.
		h := j.SVCP
		if u, err := url.Parse(h); err == nil && u.Host != "" {
			h = u.Host
		}
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		t.CamHost = h
		t.CamPort = DefaultCamPort
	default:
		t.CamHost = DefaultCamHost
	}
	if j.Proxy != nil {
		t.SOCKS5, t.SOCKS4 = j.Proxy.SOCKS5, j.Proxy.SOCKS4
	}
	return t, nil
}

// intNumber accepts the JSON numbers 5 and 5.0 but not 5.5 or "5".
func intNumber(raw json.RawMessage) (int64, error) {
	var n json.Number
	if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, fmt.Errorf("not a number: %.20s", raw)
	}
	if v, err := n.Int64(); err == nil {
		return v, nil
	}
	f, err := n.Float64()
	if err != nil || f != float64(int64(f)) {
		return 0, fmt.Errorf("not an integer: %s", n.String())
	}
	return int64(f), nil
}

// ControlURL is the camera-channel WebSocket URL (docs/protocol.md#control-url). redirect,
// when not empty, replaces the token host (docs/protocol.md#redirect); a port is appended only
// when the host carries none.
func (t Token) ControlURL(secure bool, redirect string) string {
	host, scheme, port := t.CamHost, "ws", t.CamPort
	if redirect != "" {
		host = redirect
	}
	if secure {
		scheme, port = "wss", t.CamSecurePort
	}
	if !hasPort(host) {
		host = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))
	}
	return scheme + "://" + host + "/ctl/NEW/" + escapePathToken(t.Secret) + "/"
}

// hasPort reports whether host is "host:port" or "[v6]:port"; a bare IPv6
// literal has colons but no port.
func hasPort(host string) bool {
	if strings.HasPrefix(host, "[") {
		return strings.Contains(host, "]:")
	}
	return strings.Count(host, ":") == 1
}

// escapePathToken percent-encodes every byte outside [A-Za-z0-9._-] (docs/protocol.md#control-url).
func escapePathToken(s string) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&15])
	}
	return b.String()
}

// Fingerprint is a short one-way hash of the token's identity (secret and
// camera id). Persisted state stores it to notice a token change (docs/protocol.md#state)
// without writing the secret to disk twice.
func (t Token) Fingerprint() string {
	h := sha256.Sum256([]byte(strconv.FormatInt(t.CamID, 10) + "\x00" + t.Secret))
	return hex.EncodeToString(h[:16])
}

// String describes the token without its secret.
func (t Token) String() string {
	return fmt.Sprintf("token{camid=%d cam=%s:%d/%d secret=[redacted]}", t.CamID, t.CamHost, t.CamPort, t.CamSecurePort)
}

// GoString keeps %#v from printing the secret.
func (t Token) GoString() string { return t.String() }

// MarshalJSON writes the token's public fields only.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		CamID   int64  `json:"camid"`
		CmngrID int64  `json:"cmngrid,omitempty"`
		Access  string `json:"access,omitempty"`
		Cam     string `json:"cam"`
		CamP    int    `json:"cam_p"`
		CamSP   int    `json:"cam_sp"`
		API     string `json:"api"`
		Secret  string `json:"token"`
		Proxy   bool   `json:"proxy,omitempty"`
	}{t.CamID, t.CmngrID, t.Access, t.CamHost, t.CamPort, t.CamSecurePort, t.APIHost, "[redacted]", t.SOCKS5 != "" || t.SOCKS4 != ""})
}

// MarshalLogObject lets zap.Object log a token without its secret.
func (t Token) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddInt64("camid", t.CamID)
	enc.AddString("cam", t.CamHost)
	enc.AddBool("proxy", t.SOCKS5 != "")
	return nil
}
