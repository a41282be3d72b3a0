package onvifsim

import (
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// envelope builds a request the way a careless or outdated client might.
func envelope(soapNS, header, body string) string {
	return `<s:Envelope xmlns:s="` + soapNS + `" xmlns:tds="` + nsDevice + `" xmlns:trt="` + nsMedia + `"><s:Header>` +
		header + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

func token(user, pass, pwType string, nonce []byte, created time.Time) string {
	c := created.UTC().Format("2006-01-02T15:04:05.000Z")
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(c))
	h.Write([]byte(pass))
	pw := base64.StdEncoding.EncodeToString(h.Sum(nil))
	if strings.HasSuffix(pwType, "#PasswordText") {
		pw = pass
	}
	return `<Security xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken>` +
		`<Username>` + user + `</Username><Password Type="` + pwType + `">` + pw + `</Password>` +
		`<Nonce>` + base64.StdEncoding.EncodeToString(nonce) + `</Nonce>` +
		`<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">` + c + `</Created>` +
		`</UsernameToken></Security>`
}

const (
	digestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	textType   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

// TestSimRejects checks the simulator refuses what a real camera refuses.
func TestSimRejects(t *testing.T) {
	s := New(Options{Username: "admin", Password: "pw", ClockSkew: time.Hour})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := s.Now()
	good := func(n string) string { return token("admin", "pw", digestType, []byte(n), now) }
	info := `<tds:GetDeviceInformation/>`
	cases := []struct {
		name       string
		path       string
		body       string
		wantStatus int
		wantInBody string
	}{
		{"valid", DevicePath, envelope(nsSOAP, good("n1"), info), 200, "GetDeviceInformationResponse"},
		{"clock without auth", DevicePath, envelope(nsSOAP, "", `<tds:GetSystemDateAndTime/>`), 200, "UTCDateTime"},
		{"no token", DevicePath, envelope(nsSOAP, "", info), 400, "NotAuthorized"},
		{"password text", DevicePath, envelope(nsSOAP, token("admin", "pw", textType, []byte("n2"), now), info), 400, "NotAuthorized"},
		{"wrong user", DevicePath, envelope(nsSOAP, token("root", "pw", digestType, []byte("n3"), now), info), 400, "NotAuthorized"},
		{"host clock", DevicePath, envelope(nsSOAP, token("admin", "pw", digestType, []byte("n4"), time.Now()), info), 400, "NotAuthorized"},
		{"replayed nonce", DevicePath, envelope(nsSOAP, good("n1"), info), 400, "NotAuthorized"},
		{"soap 1.1", DevicePath, envelope("http://schemas.xmlsoap.org/soap/envelope/", good("n5"), info), 500, "VersionMismatch"},
		{"media action on device path", DevicePath, envelope(nsSOAP, good("n6"), `<trt:GetProfiles/>`), 500, "ActionNotSupported"},
		{"unknown action", DevicePath, envelope(nsSOAP, good("n7"), `<tds:Reboot/>`), 500, "ActionNotSupported"},
		{"unknown profile", MediaPath, envelope(nsSOAP, good("n8"), `<trt:GetSnapshotUri><trt:ProfileToken>x</trt:ProfileToken></trt:GetSnapshotUri>`), 400, "NoProfile"},
		{"bad stream setup", MediaPath, envelope(nsSOAP, good("n9"), `<trt:GetStreamUri><trt:StreamSetup><tt:Stream xmlns:tt="http://www.onvif.org/ver10/schema">RTP</tt:Stream></trt:StreamSetup><trt:ProfileToken>Profile_1</trt:ProfileToken></trt:GetStreamUri>`), 400, "InvalidStreamSetup"},
		{"not xml", DevicePath, "hello", 400, "WellFormed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post("http://"+s.Addr()+tc.path, "application/soap+xml", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(data), tc.wantInBody) {
				t.Errorf("status %d, body %s; want %d with %q", resp.StatusCode, data, tc.wantStatus, tc.wantInBody)
			}
		})
	}
}

func TestSimDigestChallenge(t *testing.T) {
	s := New(Options{Username: "admin", Password: "pw", RequireDigest: true})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, path := range []string{DevicePath, SnapshotPath} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.HasPrefix(ch, "Digest ") || !strings.Contains(ch, `qop="auth"`) {
			t.Errorf("%s: status %d challenge %q", path, resp.StatusCode, ch)
		}
	}
}
