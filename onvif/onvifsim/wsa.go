package onvifsim

import (
	"bytes"
	"encoding/xml"
	"strings"
	"time"
)

// nsWSA10 is WS-Addressing 1.0, which the event service uses.
const nsWSA10 = "http://www.w3.org/2005/08/addressing"

// subscriptionActions are the WS-Addressing actions of the subscription
// manager operations, by body element.
var subscriptionActions = map[string]string{
	"PullMessages": "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest",
	"Renew":        "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
	"Unsubscribe":  "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
}

// checkAddressing enforces the WS-Addressing header that event services
// built with addressing enabled demand of subscription manager calls: an
// Action matching the body, a MessageID (a reply is expected) and a To. It
// returns nil when the header is complete or op is not such a call.
func checkAddressing(data []byte, op string) *fault {
	want, ok := subscriptionActions[op]
	if !ok {
		return nil
	}
	var env struct {
		Header struct {
			Items []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"Header"`
	}
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&env); err != nil {
		return nil // malformed XML is refused elsewhere
	}
	got := map[string]string{}
	for _, it := range env.Header.Items {
		if it.XMLName.Space == nsWSA10 {
			got[it.XMLName.Local] = strings.TrimSpace(it.Value)
		}
	}
	switch {
	case got["Action"] == "" || got["MessageID"] == "" || got["To"] == "":
		return &fault{subcodes: []string{"wsa:MessageAddressingHeaderRequired"}, reason: "A required header representing a Message Addressing Property is not present"}
	case got["Action"] != want:
		return &fault{subcodes: []string{"wsa:ActionMismatch"}, reason: "wsa:Action does not match the operation"}
	}
	return nil
}

// keepAlive extends a pull point in use, as ONVIF Core (9.1.1) has it: the
// keep-alive of a pull point is PullMessages, after whose response the
// subscription stays active for at least the request's timeout. Covering
// twice the timeout from the start of the request covers the wait plus that
// margin. Renew is optional for pull points, so cameras listing it in
// Options.Unsupported stay usable.
func (s *Server) keepAlive(id string, timeout time.Duration) {
	e := s.lockEvents()
	defer e.mu.Unlock()
	if sub, f := e.subLocked(id); f == nil {
		if t := time.Now().Add(2 * timeout); t.After(sub.expires) {
			sub.expires = t
		}
	}
}
