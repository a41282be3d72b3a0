package uplink

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// specToken is the composed example of docs/protocol.md#token.
const specToken = "eyJ0b2tlbiI6ICJzaGFyZS5leUp6YVNJNklEUTBORFEwZlEuNWYxZTJkM2N0YmMxZmFiMDAuWHk3X2V4YW1wbGUtU2lHbkF0VXJFX3ExIiwgImNhbWlkIjogMzEwMDQyLCAiY21uZ3JpZCI6IDMxMDA3NywgImFjY2VzcyI6ICJhbGwiLCAiYXBpIjogIndlYi52bXMuZXhhbXBsZS5uZXQiLCAiY2FtIjogImNhbS52bXMuZXhhbXBsZS5uZXQifQ=="

const specSecret = "share.eyJzaSI6IDQ0NDQ0fQ.5f1e2d3ctbc1fab00.Xy7_example-SiGnAtUrE_q1"

const tokenShapeErr = "not a VXG camera access token: expected base64-encoded JSON with token, camid, cam, api, …; was it copied whole?"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// tokenCases seeds FuzzDecodeToken too.
var tokenCases = []struct {
	name    string
	in      string
	wantErr string // the whole message, for tokens that must be refused
	check   func(t *testing.T, tok Token)
}{
	{name: "spec example", in: specToken, check: func(t *testing.T, tok Token) {
		want := Token{Secret: specSecret, CamID: 310042, CmngrID: 310077, Access: "all", CamHost: "cam.vms.example.net",
			CamPort: 8888, CamSecurePort: 8883, APIHost: "web.vms.example.net", APIPort: 80, APISecurePort: 443}
		if tok != want {
			t.Errorf("got %#v", fmt.Sprint(tok))
		}
	}},
	{name: "url-safe unpadded with line breaks", in: func() string {
		s := strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(`{"token":"a?b>","camid":7,"cam":"h"}`)), "=")
		return " " + s[:10] + "\n" + s[10:] + "\t"
	}(), check: func(t *testing.T, tok Token) {
		if tok.Secret != "a?b>" || tok.CamID != 7 {
			t.Errorf("got %q %d", tok.Secret, tok.CamID)
		}
	}},
	{name: "cam host falls back to api", in: b64(`{"token":"x","camid":1,"api":"api.example"}`), check: func(t *testing.T, tok Token) {
		if tok.CamHost != "api.example" {
			t.Errorf("cam host %q", tok.CamHost)
		}
	}},
	{name: "defaults", in: b64(`{"token":"x","camid":1}`), check: func(t *testing.T, tok Token) {
		if tok.CamHost != DefaultCamHost || tok.APIHost != DefaultAPIHost || tok.CamPort != 8888 || tok.CamSecurePort != 8883 {
			t.Errorf("got %+v", tok)
		}
	}},
	{name: "svcp only when neither cam nor api", in: b64(`{"token":"x","camid":1,"svcp":"http://svc.example:9000/api","cam_p":1234}`), check: func(t *testing.T, tok Token) {
		if tok.CamHost != "svc.example" || tok.CamPort != 8888 {
			t.Errorf("got %s:%d", tok.CamHost, tok.CamPort)
		}
	}},
	{name: "svcp ignored with cam", in: b64(`{"token":"x","camid":1,"svcp":"http://svc.example","cam":"c"}`), check: func(t *testing.T, tok Token) {
		if tok.CamHost != "c" {
			t.Errorf("got %s", tok.CamHost)
		}
	}},
	{name: "ports, float ints, proxy, unknown keys", in: b64(`{"token":"x","camid":5.0,"cam":"c","cam_p":18888,"cam_sp":18883,"proxy":{"socks5":"socks5://u:p@127.0.0.1:1080","socks4":"h:1"},"future":{"a":1}}`),
		check: func(t *testing.T, tok Token) {
			if tok.CamID != 5 || tok.CamPort != 18888 || tok.CamSecurePort != 18883 || tok.SOCKS5 != "socks5://u:p@127.0.0.1:1080" || tok.SOCKS4 != "h:1" {
				t.Errorf("got %+v", tok)
			}
		}},
	{name: "missing token", in: b64(`{"camid":1}`), wantErr: `not a VXG camera access token: its JSON has no "token"`},
	{name: "empty token", in: b64(`{"token":"","camid":1}`), wantErr: `not a VXG camera access token: its JSON has no "token"`},
	{name: "missing camid", in: b64(`{"token":"x"}`), wantErr: `not a VXG camera access token: its JSON has no "camid"`},
	{name: "fractional camid", in: b64(`{"token":"x","camid":1.5}`), wantErr: "not a VXG camera access token: camid: not an integer: 1.5"},
	{name: "string camid", in: b64(`{"token":"x","camid":"1"}`), wantErr: `not a VXG camera access token: camid: not a number: "1"`},
	{name: "bad port", in: b64(`{"token":"x","camid":1,"cam_sp":70000}`), wantErr: "not a VXG camera access token: cam_sp is not a port number (1-65535)"},
	{name: "not base64", in: "%%%", wantErr: tokenShapeErr},
	{name: "not json", in: b64("hello"), wantErr: tokenShapeErr},
	// Seen by a user: base64 that decodes to bytes, not to JSON.
	{name: "binary", in: base64.StdEncoding.EncodeToString([]byte{0x85, 0xe9, 0x5e, 0x1d}), wantErr: tokenShapeErr},
	{name: "cut short", in: specToken[:60], wantErr: tokenShapeErr},
	{name: "json array", in: b64("[1]"), wantErr: tokenShapeErr},
	{name: "empty", in: "", wantErr: tokenShapeErr},
	{name: "the token key instead of the token", in: specSecret,
		wantErr: `not a VXG camera access token: this looks like the "token" inside one; use the whole base64 access token`},
}

func TestDecodeToken(t *testing.T) {
	for _, c := range tokenCases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := DecodeToken(c.in)
			if c.wantErr != "" {
				if !errors.Is(err, ErrBadToken) {
					t.Fatalf("err = %v, want ErrBadToken", err)
				}
				if err.Error() != c.wantErr {
					t.Errorf("err = %q\nwant  %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, tok)
		})
	}
}

func FuzzDecodeToken(f *testing.F) {
	for _, c := range tokenCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := DecodeToken(s)
		if err != nil {
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("unwrapped error %v", err)
			}
			// Decoder internals ("json: invalid character '\\u0085'")
			// tell a person nothing.
			if m := err.Error(); strings.Contains(m, "json:") || strings.Contains(m, "base64:") || strings.Contains(m, "invalid character") {
				t.Fatalf("error shows decoder internals: %v", err)
			}
			return
		}
		if tok.Secret == "" || tok.CamHost == "" {
			t.Fatalf("accepted token without secret or host: %+v", tok)
		}
		u := tok.ControlURL(true, "")
		if !strings.HasPrefix(u, "wss://") || !strings.HasSuffix(u, "/") {
			t.Fatalf("bad url %q", u)
		}
		if strings.Contains(tok.String(), tok.Secret) && len(tok.Secret) > 12 {
			t.Fatalf("String leaks the secret")
		}
	})
}

func TestControlURL(t *testing.T) {
	tok, err := DecodeToken(specToken)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		tok      Token
		secure   bool
		redirect string
		want     string
	}{
		{"secure", tok, true, "", "wss://cam.vms.example.net:8883/ctl/NEW/" + specSecret + "/"},
		{"insecure", tok, false, "", "ws://cam.vms.example.net:8888/ctl/NEW/" + specSecret + "/"},
		{"redirect without port", tok, true, "cam-eu2.vms.example.net", "wss://cam-eu2.vms.example.net:8883/ctl/NEW/" + specSecret + "/"},
		{"redirect with port", tok, true, "cam-eu2.vms.example.net:9443", "wss://cam-eu2.vms.example.net:9443/ctl/NEW/" + specSecret + "/"},
		{"host with port", Token{Secret: "s", CamHost: "h:1", CamPort: 8888, CamSecurePort: 8883}, true, "", "wss://h:1/ctl/NEW/s/"},
		{"bare ipv6", Token{Secret: "s", CamHost: "::1", CamPort: 8888}, false, "", "ws://[::1]:8888/ctl/NEW/s/"},
		{"ipv6 with port", Token{Secret: "s", CamHost: "[::1]:9"}, false, "", "ws://[::1]:9/ctl/NEW/s/"},
		{"percent-encoding", Token{Secret: "a/b c+é", CamHost: "h", CamPort: 1}, false, "", "ws://h:1/ctl/NEW/a%2Fb%20c%2B%C3%A9/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.tok.ControlURL(c.secure, c.redirect); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestTokenRedacted(t *testing.T) {
	tok, err := DecodeToken(specToken)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("x", zap.Object("token", tok), zap.Any("any", tok), zap.Stringer("s", tok))
	var logged strings.Builder
	for _, e := range logs.All() {
		fmt.Fprint(&logged, e.ContextMap())
	}
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", tok), "%+v": fmt.Sprintf("%+v", tok), "%#v": fmt.Sprintf("%#v", tok), "%s": fmt.Sprintf("%s", tok),
		"json": string(j), "zap": logged.String(),
	} {
		if strings.Contains(s, "SiGnAtUrE") || strings.Contains(s, "share.") {
			t.Errorf("%s leaks the secret: %s", name, s)
		}
		if !strings.Contains(s, "310042") {
			t.Errorf("%s lost the camera id: %s", name, s)
		}
	}
}
