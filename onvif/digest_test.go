package onvif

import (
	"reflect"
	"strings"
	"testing"
)

var challengeCases = []struct {
	name    string
	headers []string
	want    digestChallenge
	wantErr bool
}{
	{
		name:    "hikvision",
		headers: []string{`Digest qop="auth", realm="IP Camera(C2358)", nonce="4e5468694e7a42694e7a4d364f4449334e6a63354e513d3d", stale="FALSE"`},
		want:    digestChallenge{Realm: "IP Camera(C2358)", Nonce: "4e5468694e7a42694e7a4d364f4449334e6a63354e513d3d", Algorithm: "MD5", QOP: []string{"auth"}},
	},
	{
		name:    "basic and digest in one header",
		headers: []string{`Basic realm="AXIS_ACCC8E000000", Digest realm="AXIS_ACCC8E000000", nonce="abc=", algorithm=MD5, qop="auth,auth-int", opaque="xyz"`},
		want:    digestChallenge{Realm: "AXIS_ACCC8E000000", Nonce: "abc=", Opaque: "xyz", Algorithm: "MD5", QOP: []string{"auth", "auth-int"}},
	},
	{
		name:    "separate headers, stale, sha-256",
		headers: []string{`Basic realm="x"`, `digest realm="Login to 3K0000PAZA00000", nonce="n1", algorithm=SHA-256, qop=auth, stale=TRUE`},
		want:    digestChallenge{Realm: "Login to 3K0000PAZA00000", Nonce: "n1", Algorithm: "SHA-256", QOP: []string{"auth"}, Stale: true},
	},
	{
		name:    "rfc 2069 without qop, escaped quote",
		headers: []string{`Digest realm="a \"quoted\" realm",nonce="n2"`},
		want:    digestChallenge{Realm: `a "quoted" realm`, Nonce: "n2", Algorithm: "MD5"},
	},
	{name: "basic only", headers: []string{`Basic realm="x"`}, wantErr: true},
	{name: "no header", wantErr: true},
	{name: "no nonce", headers: []string{`Digest realm="x", qop="auth"`}, wantErr: true},
	{name: "auth-int only", headers: []string{`Digest realm="x", nonce="n", qop="auth-int"`}, wantErr: true},
	{name: "unknown algorithm", headers: []string{`Digest realm="x", nonce="n", algorithm=SHA-512-256`}, wantErr: true},
	{name: "unterminated quote", headers: []string{`Digest realm="x, nonce="n`}, wantErr: true},
	{name: "param without value", headers: []string{`Digest realm`}, wantErr: true},
}

func TestParseDigestChallenge(t *testing.T) {
	for _, tc := range challengeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDigestChallenge(tc.headers)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseDigestChallenge(f *testing.F) {
	for _, tc := range challengeCases {
		f.Add(strings.Join(tc.headers, "\n"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		ch, err := parseDigestChallenge(strings.Split(s, "\n"))
		if err != nil {
			return
		}
		if ch.Nonce == "" {
			t.Fatal("accepted a challenge without nonce")
		}
		h := ch.authorization("POST", "/onvif/device_service", "u", "p", 1, "c")
		p, err := parseAuthParams(strings.TrimPrefix(h, "Digest "))
		if err != nil || p["nonce"] != ch.Nonce || p["realm"] != ch.Realm {
			t.Fatalf("authorization %q does not round-trip: %v", h, err)
		}
	})
}

// TestDigestResponseVectors checks the response hash against the worked
// examples of RFC 2617 section 3.5 and RFC 7616 section 3.9.1.
func TestDigestResponseVectors(t *testing.T) {
	cases := []struct {
		name     string
		ch       digestChallenge
		user     string
		password string
		method   string
		cnonce   string
		want     string
	}{
		{
			name:     "rfc 2617 md5",
			ch:       digestChallenge{Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", Opaque: "5ccc069c403ebaf9f0171e9517f40e41", Algorithm: "MD5", QOP: []string{"auth"}},
			user:     "Mufasa",
			password: "Circle Of Life",
			method:   "GET",
			cnonce:   "0a4f113b",
			want:     "6629fae49393a05397450978507c4ef1",
		},
		{
			name:     "rfc 7616 md5",
			ch:       digestChallenge{Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", Algorithm: "MD5", QOP: []string{"auth"}},
			user:     "Mufasa",
			password: "Circle of Life",
			method:   "GET",
			cnonce:   "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
			want:     "8ca523f5e9506fed4657c9700eebdbec",
		},
		{
			name:     "rfc 7616 sha-256",
			ch:       digestChallenge{Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", Algorithm: "SHA-256", QOP: []string{"auth"}},
			user:     "Mufasa",
			password: "Circle of Life",
			method:   "GET",
			cnonce:   "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
			want:     "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.ch.authorization(tc.method, "/dir/index.html", tc.user, tc.password, 1, tc.cnonce)
			p, err := parseAuthParams(strings.TrimPrefix(h, "Digest "))
			if err != nil {
				t.Fatal(err)
			}
			if p["response"] != tc.want || p["nc"] != "00000001" || p["qop"] != "auth" || p["cnonce"] != tc.cnonce {
				t.Errorf("header %s\nresponse %s, want %s", h, p["response"], tc.want)
			}
		})
	}
}

// TestPasswordDigest checks the WS-UsernameToken digest against a value
// computed independently (Python hashlib).
func TestPasswordDigest(t *testing.T) {
	if got, want := passwordDigest([]byte("abc"), "2026-01-01T00:00:00.000Z", "pw"), "OlVk9R0VjkTXIsZXbbaW3T+tltg="; got != want {
		t.Fatalf("digest %q, want %q", got, want)
	}
}
