package onvif

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Namespaces and actions of the events service (WS-BaseNotification with
// ONVIF's pull point).
const (
	nsEvents = "http://www.onvif.org/ver10/events/wsdl"
	nsWSNT   = "http://docs.oasis-open.org/wsn/b-2"
	nsWSA    = "http://www.w3.org/2005/08/addressing"

	actionCreatePullPoint = nsEvents + "/EventPortType/CreatePullPointSubscriptionRequest"
	actionPullMessages    = nsEvents + "/PullPointSubscription/PullMessagesRequest"
	actionRenew           = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest"
	actionUnsubscribe     = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
)

// subscriptionTerm is the lifetime asked for when subscribing and renewing;
// cameras may grant less, which the pull loop honours.
const subscriptionTerm = 60 * time.Second

// maxPullWait bounds one PullMessages long-poll. It stays well inside the
// call timeout so a quiet camera is not mistaken for an unreachable one.
const maxPullWait = 5 * time.Second

// pullLimit is how many messages one PullMessages may return.
const pullLimit = 100

// PropertyOperation says how a property event came about.
type PropertyOperation string

// Property operations; plain (non-property) events carry none.
const (
	PropertyNone        PropertyOperation = ""
	PropertyInitialized PropertyOperation = "Initialized"
	PropertyChanged     PropertyOperation = "Changed"
	PropertyDeleted     PropertyOperation = "Deleted"
)

// Event is one notification from the camera's events service.
type Event struct {
	// Topic is the topic path without namespace prefixes, e.g.
	// "RuleEngine/CellMotionDetector/Motion".
	Topic string
	// CameraTime is the UtcTime the camera stamped, in its own clock; zero
	// when the stamp was unreadable (use the time of receipt then).
	CameraTime time.Time
	// Time is CameraTime corrected by the measured clock offset: when the
	// event really happened, in UTC. Cameras are often minutes or hours
	// off. Zero when CameraTime is.
	Time              time.Time
	PropertyOperation PropertyOperation
	// Source and Data map SimpleItem names to values.
	Source map[string]string
	Data   map[string]string
}

// PullPoint is one pull-point subscription on the camera. Use it from one
// goroutine at a time.
type PullPoint struct {
	c    *Client
	addr string
	// refParams are the subscription's WS-Addressing reference
	// parameters, encoded for the SOAP header. Cameras serving all
	// subscriptions at one address (Axis) tell them apart by these.
	refParams []byte
	// expires is when the camera drops the subscription, in local time,
	// learned from its own CurrentTime/TerminationTime pair so clock skew
	// does not matter; term is the lifetime it last granted.
	expires time.Time
	term    time.Duration
	// pullKeepsAlive is set once the camera refused Renew: pull points
	// are kept alive by PullMessages (ONVIF Core 9.1.1) and Renew is
	// optional for them, so the loop then just keeps pulling.
	pullKeepsAlive bool
}

// Address returns the subscription manager address events are pulled from.
func (p *PullPoint) Address() string { return p.addr }

// Expires returns when the camera will drop the subscription unless it is
// renewed, in local time.
func (p *PullPoint) Expires() time.Time { return p.expires }

func eventsAddr(s Services) string { return s.Events }

// xsdDuration formats d as an xs:duration in whole seconds (at least one),
// the form every camera parses.
func xsdDuration(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return "PT" + strconv.FormatInt(s, 10) + "S"
}

type createPullPointRequest struct {
	XMLName                xml.Name `xml:"http://www.onvif.org/ver10/events/wsdl CreatePullPointSubscription"`
	InitialTerminationTime string   `xml:"InitialTerminationTime"`
}

// subscriptionTimes is the CurrentTime/TerminationTime pair several
// responses carry.
type subscriptionTimes struct {
	CurrentTime     string `xml:"CurrentTime"`
	TerminationTime string `xml:"TerminationTime"`
}

// remaining is the subscription's remaining lifetime by the camera's own
// clock; ok is false when the camera did not say.
func (t subscriptionTimes) remaining() (time.Duration, bool) {
	cur, err1 := parseEventTime(t.CurrentTime)
	end, err2 := parseEventTime(t.TerminationTime)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return end.Sub(cur), true
}

type createPullPointResponse struct {
	Address   string `xml:"SubscriptionReference>Address"`
	RefParams struct {
		Items []xmlFragment `xml:",any"`
	} `xml:"SubscriptionReference>ReferenceParameters"`
	subscriptionTimes
}

// referenceHeader encodes reference parameters as SOAP header blocks marked
// wsa:IsReferenceParameter, as WS-Addressing 1.0 asks.
func (r *createPullPointResponse) referenceHeader() ([]byte, error) {
	var b bytes.Buffer
	for _, it := range r.RefParams.Items {
		if len(it.toks) == 0 {
			continue
		}
		start := it.toks[0].(xml.StartElement)
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Space: nsWSA, Local: "IsReferenceParameter"}, Value: "true"})
		it.toks[0] = start
		if err := it.encode(&b); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// Subscribe creates a pull-point subscription. A camera without an events
// service gives ErrUnsupported.
func (c *Client) Subscribe(ctx context.Context) (*PullPoint, error) {
	const op = "create pull point subscription"
	addr, err := c.endpoint(eventsAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r createPullPointResponse
	sent := time.Now()
	err = c.call(withAddressing(ctx, actionCreatePullPoint, addr, nil), op, addr, actionCreatePullPoint,
		createPullPointRequest{InitialTerminationTime: xsdDuration(subscriptionTerm)}, true,
		"CreatePullPointSubscriptionResponse", &r)
	if err != nil {
		return nil, err
	}
	sub := strings.TrimSpace(r.Address)
	if sub == "" {
		return nil, fmt.Errorf("onvif: %s: no subscription address", op)
	}
	c.mu.Lock()
	sub = c.fixAddr(sub)
	c.mu.Unlock()
	if sub == "" {
		return nil, fmt.Errorf("onvif: %s: bad subscription address %q", op, r.Address)
	}
	refs, err := r.referenceHeader()
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: reference parameters: %w", op, err)
	}
	p := &PullPoint{c: c, addr: sub, refParams: refs}
	p.setExpiry(sent, r.subscriptionTimes)
	c.log.Debug("subscribed to events", zap.String("address", sub), zap.Duration("term", p.term))
	return p, nil
}

// setExpiry records the lifetime the camera granted, measured from sent (a
// conservative local time for the camera's CurrentTime).
func (p *PullPoint) setExpiry(sent time.Time, t subscriptionTimes) {
	rem, ok := t.remaining()
	if !ok || rem <= 0 {
		// Unknown: assume the camera granted what we asked for.
		rem = subscriptionTerm
	}
	p.term = rem
	p.expires = sent.Add(rem)
}

type pullMessagesRequest struct {
	XMLName      xml.Name `xml:"http://www.onvif.org/ver10/events/wsdl PullMessages"`
	Timeout      string   `xml:"Timeout"`
	MessageLimit int      `xml:"MessageLimit"`
}

// simpleItem is a tt:SimpleItem.
type simpleItem struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:"Value,attr"`
}

type notificationMessage struct {
	Topic   string `xml:"Topic"`
	Message struct {
		UtcTime           string       `xml:"UtcTime,attr"`
		PropertyOperation string       `xml:"PropertyOperation,attr"`
		Source            []simpleItem `xml:"Source>SimpleItem"`
		Data              []simpleItem `xml:"Data>SimpleItem"`
	} `xml:"Message>Message"`
}

type pullMessagesResponse struct {
	subscriptionTimes
	Messages []notificationMessage `xml:"NotificationMessage"`
}

// parsePullMessages decodes a PullMessagesResponse envelope into events in
// the camera's clock (Time equals CameraTime). Messages without a topic are
// dropped; a bad timestamp leaves CameraTime zero rather than losing the
// event.
func parsePullMessages(data []byte) ([]Event, subscriptionTimes, error) {
	var r pullMessagesResponse
	if err := decodeResponse(data, "PullMessagesResponse", &r); err != nil {
		return nil, subscriptionTimes{}, err
	}
	return r.events(), r.subscriptionTimes, nil
}

func (r *pullMessagesResponse) events() []Event {
	out := make([]Event, 0, len(r.Messages))
	for _, m := range r.Messages {
		topic := normaliseTopic(m.Topic)
		if topic == "" {
			continue
		}
		e := Event{
			Topic:             topic,
			PropertyOperation: PropertyOperation(strings.TrimSpace(m.Message.PropertyOperation)),
			Source:            itemMap(m.Message.Source),
			Data:              itemMap(m.Message.Data),
		}
		if t, err := parseEventTime(m.Message.UtcTime); err == nil {
			e.CameraTime, e.Time = t, t
		}
		out = append(out, e)
	}
	return out
}

func itemMap(items []simpleItem) map[string]string {
	m := make(map[string]string, len(items))
	for _, it := range items {
		if n := strings.TrimSpace(it.Name); n != "" {
			m[n] = strings.TrimSpace(it.Value)
		}
	}
	return m
}

// normaliseTopic strips namespace prefixes from every path segment:
// "tns1:VideoSource/tnsaxis:MotionAlarm" becomes "VideoSource/MotionAlarm".
func normaliseTopic(topic string) string {
	parts := strings.Split(strings.TrimSpace(topic), "/")
	out := parts[:0]
	for _, p := range parts {
		if i := strings.LastIndexByte(p, ':'); i >= 0 {
			p = p[i+1:]
		}
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// parseEventTime parses an xs:dateTime. Some firmware omits the zone, which
// by ONVIF convention means UTC.
func parseEventTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	return t, nil
}

// Pull long-polls for up to limit events, waiting at most timeout for the
// first. Event.Time is converted to true UTC with the client's clock
// offset.
func (p *PullPoint) Pull(ctx context.Context, timeout time.Duration, limit int) ([]Event, error) {
	const op = "pull messages"
	if limit <= 0 {
		limit = pullLimit
	}
	// The long-poll must fit in one call's timeout.
	if max := p.c.timeout - time.Second; timeout > max {
		timeout = max
	}
	var r pullMessagesResponse
	err := p.c.call(p.addressed(ctx, actionPullMessages), op, p.addr, actionPullMessages,
		pullMessagesRequest{Timeout: xsdDuration(timeout), MessageLimit: limit}, true, "PullMessagesResponse", &r)
	if err != nil {
		return nil, err
	}
	evs := r.events()
	off := p.c.ClockOffset()
	for i := range evs {
		if !evs[i].CameraTime.IsZero() {
			evs[i].Time = evs[i].CameraTime.Add(-off)
		}
	}
	return evs, nil
}

type renewRequest struct {
	XMLName         xml.Name `xml:"http://docs.oasis-open.org/wsn/b-2 Renew"`
	TerminationTime string   `xml:"TerminationTime"`
}

// Renew extends the subscription by the standard term.
func (p *PullPoint) Renew(ctx context.Context) error {
	var r subscriptionTimes
	sent := time.Now()
	err := p.c.call(p.addressed(ctx, actionRenew), "renew subscription", p.addr, actionRenew,
		renewRequest{TerminationTime: xsdDuration(subscriptionTerm)}, true, "RenewResponse", &r)
	if err != nil {
		return err
	}
	p.setExpiry(sent, r)
	return nil
}

type unsubscribeRequest struct {
	XMLName xml.Name `xml:"http://docs.oasis-open.org/wsn/b-2 Unsubscribe"`
}

// Unsubscribe ends the subscription so the camera frees it at once; cameras
// allow only a few at a time.
func (p *PullPoint) Unsubscribe(ctx context.Context) error {
	var r struct{}
	return p.c.call(p.addressed(ctx, actionUnsubscribe), "unsubscribe", p.addr, actionUnsubscribe, unsubscribeRequest{}, true, "UnsubscribeResponse", &r)
}

// soapHeaderKey carries extra SOAP header blocks from an operation to the
// transport (see withExtraHeader).
type soapHeaderKey struct{}

// addressed returns ctx carrying the WS-Addressing header of a call to the
// subscription manager: Action, MessageID, ReplyTo, To and the reference
// parameters. Cameras that route by these need them; the others ignore them.
func (p *PullPoint) addressed(ctx context.Context, action string) context.Context {
	return withAddressing(ctx, action, p.addr, p.refParams)
}

// withAddressing returns ctx carrying a WS-Addressing 1.0 header for a
// request-response call: Action, a fresh MessageID (required when a reply
// is expected), ReplyTo anonymous (the reply comes back on the HTTP
// response), To, and any reference parameters. Event services built with
// WS-Addressing enabled fault without them.
func withAddressing(ctx context.Context, action, to string, refParams []byte) context.Context {
	var b bytes.Buffer
	b.WriteString(`<wsa:Action xmlns:wsa="` + nsWSA + `">`)
	_ = xml.EscapeText(&b, []byte(action)) // bytes.Buffer writes cannot fail
	b.WriteString(`</wsa:Action><wsa:MessageID xmlns:wsa="` + nsWSA + `">urn:uuid:` + newUUID() + `</wsa:MessageID>`)
	b.WriteString(`<wsa:ReplyTo xmlns:wsa="` + nsWSA + `"><wsa:Address>` + nsWSA + `/anonymous</wsa:Address></wsa:ReplyTo>`)
	b.WriteString(`<wsa:To xmlns:wsa="` + nsWSA + `">`)
	_ = xml.EscapeText(&b, []byte(to))
	b.WriteString(`</wsa:To>`)
	b.Write(refParams)
	return context.WithValue(ctx, soapHeaderKey{}, b.Bytes())
}

// withExtraHeader adds the header blocks carried by ctx to an envelope
// built by buildEnvelope.
func withExtraHeader(ctx context.Context, env []byte) []byte {
	h, _ := ctx.Value(soapHeaderKey{}).([]byte)
	if len(h) == 0 {
		return env
	}
	out := make([]byte, 0, len(env)+len(h)+32)
	if i := bytes.Index(env, []byte("</s:Header>")); i >= 0 {
		out = append(out, env[:i]...)
		out = append(out, h...)
		return append(out, env[i:]...)
	}
	i := bytes.Index(env, []byte("<s:Body>"))
	if i < 0 {
		return env
	}
	out = append(out, env[:i]...)
	out = append(out, "<s:Header>"...)
	out = append(out, h...)
	out = append(out, "</s:Header>"...)
	return append(out, env[i:]...)
}

// renewAt is when the loop renews: half-way through the granted term, so a
// slow or failed renew still leaves time before the camera drops us.
func (p *PullPoint) renewAt() time.Time { return p.expires.Add(-p.term / 2) }

// RunEvents makes one attempt at receiving events: it subscribes, pulls in
// a loop, renews before the subscription ends and calls fn for each event
// in order. It returns nil when ctx is cancelled (after unsubscribing) and
// an error when the subscription fails, e.g. because the camera rebooted;
// the caller re-subscribes with backoff. A camera without an events service
// gives ErrUnsupported. fn runs on the calling goroutine and should not
// block.
func (c *Client) RunEvents(ctx context.Context, fn func(Event)) error {
	p, err := c.Subscribe(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	err = c.pullLoop(ctx, p, fn)
	if !errors.Is(err, ErrUnreachable) { // no point waiting for a camera that is gone
		// Free the camera's slot even though ctx is done; bounded by the
		// call timeout.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		if uerr := p.Unsubscribe(uctx); uerr != nil {
			c.log.Debug("unsubscribe failed", zap.Error(uerr))
		}
		cancel()
	}
	return err
}

// pullLoop pulls and renews until ctx ends (nil) or a call fails.
func (c *Client) pullLoop(ctx context.Context, p *PullPoint, fn func(Event)) error {
	for {
		if !p.pullKeepsAlive && time.Until(p.renewAt()) <= 0 {
			c.log.Debug("renewing event subscription", zap.Time("expires", p.expires))
			if err := p.Renew(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				var f *Fault
				if !errors.As(err, &f) || errors.Is(err, ErrUnauthorized) {
					return err
				}
				// Refused (typically ActionNotSupported): rely on the
				// pulls. A subscription that is really gone fails the
				// next pull, which ends this attempt.
				c.log.Info("camera does not renew pull points, keeping the subscription alive by pulling", zap.Error(err))
				p.pullKeepsAlive = true
			}
		}
		wait := maxPullWait
		if !p.pullKeepsAlive {
			wait = min(maxPullWait, time.Until(p.renewAt()))
		}
		started := time.Now()
		evs, err := p.Pull(ctx, wait, pullLimit)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(evs) == 0 && time.Since(started) < wait/2 {
			// The camera ignores the long-poll timeout and answers at
			// once; pause so the loop does not hammer it.
			t := time.NewTimer(min(wait/2, time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		for _, e := range evs {
			fn(e)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
