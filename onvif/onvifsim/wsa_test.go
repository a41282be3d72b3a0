package onvifsim

import (
	"net/http"
	"strings"
	"testing"
)

// wsaHeader is the WS-Addressing header a client sends with body to url:
// Action (for subscription manager calls), MessageID and To.
func wsaHeader(url, body string) string {
	name := strings.TrimPrefix(body, "<")
	if i := strings.IndexAny(name, " />"); i >= 0 {
		name = name[:i]
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	action, ok := subscriptionActions[name]
	if !ok {
		return ""
	}
	return `<wsa:Action xmlns:wsa="` + nsWSA10 + `">` + action + `</wsa:Action>` +
		`<wsa:MessageID xmlns:wsa="` + nsWSA10 + `">urn:uuid:6b1d0c3e-0d4f-4b8e-9a43-1f2e3d4c5b6a</wsa:MessageID>` +
		`<wsa:To xmlns:wsa="` + nsWSA10 + `">` + url + `</wsa:To>`
}

// TestSimRequiresAddressing checks subscription manager calls without a
// complete WS-Addressing header are refused, as event services with
// addressing enabled do.
func TestSimRequiresAddressing(t *testing.T) {
	s := startTestSim(t, Options{})
	_, body := post(t, "http://"+s.Addr()+EventsPath, `<tev:CreatePullPointSubscription `+tevNS+`/>`)
	m := addressRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("create: %s", body)
	}
	sub := m[1]
	pull := `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`
	full := wsaHeader(sub, pull)
	noID := strings.Replace(full, "MessageID", "RelatesTo", 2)
	wrongAction := strings.Replace(full, "PullMessagesRequest", "RenewRequest", 1)
	for _, tc := range []struct {
		name, header string
		status       int
		want         string
	}{
		{"no addressing", "", 400, "MessageAddressingHeaderRequired"},
		{"no message id", noID, 400, "MessageAddressingHeaderRequired"},
		{"action of another operation", wrongAction, 400, "ActionMismatch"},
		{"complete", full, 200, "PullMessagesResponse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(sub, "application/soap+xml", strings.NewReader(envelope(nsSOAP, tc.header, pull)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if resp.StatusCode != tc.status || !strings.Contains(b.String(), tc.want) {
				t.Fatalf("status %d body %s; want %d with %q", resp.StatusCode, b.String(), tc.status, tc.want)
			}
		})
	}
}
