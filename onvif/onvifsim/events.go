package onvifsim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths of the events and analytics services. Each pull-point subscription
// gets its own address below SubscriptionPath, as Hikvision-style cameras do.
const (
	EventsPath       = "/onvif/events_service"
	SubscriptionPath = "/onvif/subscription/"
	AnalyticsPath    = "/onvif/analytics_service"
)

// Motion styles for Options.MotionStyle.
const (
	MotionStyleCellMotion  = "CellMotion"
	MotionStyleMotionAlarm = "MotionAlarm"
)

const (
	nsEvents    = "http://www.onvif.org/ver10/events/wsdl"
	nsWSNT      = "http://docs.oasis-open.org/wsn/b-2"
	nsAnalytics = "http://www.onvif.org/ver20/analytics/wsdl"
	nsSchema    = "http://www.onvif.org/ver10/schema"

	// eventsXMLNS declares what event responses use; writeEnvelope only
	// declares the device and media prefixes.
	eventsXMLNS = ` xmlns:tev="` + nsEvents + `" xmlns:wsnt="` + nsWSNT +
		`" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:tns1="http://www.onvif.org/ver10/topics"`
)

// Subscription limits, like a real camera's.
const (
	maxSubscriptions  = 10
	maxQueuedMessages = 100
	maxPullTimeout    = time.Minute
	defaultMaxTerm    = 10 * time.Minute
)

// eventsState is the simulator's events, analytics, discovery and time
// state; it has its own lock.
type eventsState struct {
	mu     sync.Mutex
	init   bool
	done   chan struct{} // closed by Close: ends long-polls
	subs   map[string]*subscription
	nextID int
	motion bool
	sound  bool

	dtType string // "Manual" or "NTP"
	tz     string
	ntp    []string

	analytics analyticsState
	disco     discoveryState
}

// subscription is one pull point. expires is in host time, so moving the
// device clock does not end it.
type subscription struct {
	id      string
	expires time.Time
	queue   []string // NotificationMessage elements
	wake    chan struct{}
}

// lockEvents locks the state, initialising it on first use.
func (s *Server) lockEvents() *eventsState {
	e := &s.ev
	e.mu.Lock()
	if !e.init {
		e.init = true
		e.done = make(chan struct{})
		e.subs = make(map[string]*subscription)
		e.dtType, e.tz = "Manual", "UTC0"
		e.analytics = newAnalyticsState(s.opts)
	}
	return e
}

func (s *Server) startEvents(mux *http.ServeMux) error {
	s.lockEvents().mu.Unlock()
	if !s.opts.NoEvents {
		mux.HandleFunc(EventsPath, s.handleSOAP)
		mux.HandleFunc(SubscriptionPath, s.handleSOAP)
	}
	if !s.opts.NoAnalytics {
		mux.HandleFunc(AnalyticsPath, s.handleSOAP)
	}
	return s.startDiscovery()
}

func (s *Server) closeEvents() {
	e := s.lockEvents()
	select {
	case <-e.done:
	default:
		close(e.done)
	}
	e.mu.Unlock()
	s.closeDiscovery()
}

func (s *Server) eventsCapabilities(base string) string {
	var b strings.Builder
	if !s.opts.NoEvents {
		b.WriteString(`<tt:Events><tt:XAddr>` + base + EventsPath + `</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>` +
			`<tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false` +
			`</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>`)
	}
	if !s.opts.NoAnalytics {
		b.WriteString(`<tt:Analytics><tt:XAddr>` + base + AnalyticsPath + `</tt:XAddr><tt:RuleSupport>true</tt:RuleSupport>` +
			`<tt:AnalyticsModuleSupport>true</tt:AnalyticsModuleSupport></tt:Analytics>`)
	}
	return b.String()
}

func (s *Server) eventsServices(svc func(ns, path string) string) string {
	var out string
	if !s.opts.NoEvents {
		out += svc(nsEvents, EventsPath)
	}
	if !s.opts.NoAnalytics {
		out += svc(nsAnalytics, AnalyticsPath)
	}
	return out
}

// extRequest decodes the arguments of every action this file answers.
type extRequest struct {
	Header struct {
		SubscriptionID string `xml:"SubscriptionId"`
	} `xml:"Header"`
	Body struct {
		Action struct {
			InitialTerminationTime string        `xml:"InitialTerminationTime"`
			Timeout                string        `xml:"Timeout"`
			MessageLimit           string        `xml:"MessageLimit"`
			TerminationTime        string        `xml:"TerminationTime"`
			ConfigurationToken     string        `xml:"ConfigurationToken"`
			AnalyticsModules       []configElem  `xml:"AnalyticsModule"`
			Rules                  []configElem  `xml:"Rule"`
			DateTimeType           string        `xml:"DateTimeType"`
			DaylightSavings        string        `xml:"DaylightSavings"`
			TZ                     *string       `xml:"TimeZone>TZ"`
			UTC                    *dateTimeElem `xml:"UTCDateTime"`
			FromDHCP               string        `xml:"FromDHCP"`
			NTPManual              []struct {
				Type        string `xml:"Type"`
				IPv4Address string `xml:"IPv4Address"`
				IPv6Address string `xml:"IPv6Address"`
				DNSname     string `xml:"DNSname"`
			} `xml:"NTPManual"`
		} `xml:",any"`
	} `xml:"Body"`
}

// eventsHandler returns the handler for the events, analytics and time
// actions, or nil. It runs after authentication.
func (s *Server) eventsHandler(r *http.Request, name xml.Name, data []byte) func(action) (string, *fault) {
	var req extRequest
	if err := xml.Unmarshal(data, &req); err != nil {
		return nil
	}
	a := req.Body.Action
	path := r.URL.Path
	wrap := func(f func() (string, *fault)) func(action) (string, *fault) {
		return func(action) (string, *fault) { return f() }
	}
	switch {
	case path == DevicePath && name.Space == nsDevice:
		switch name.Local {
		case "SetSystemDateAndTime":
			return wrap(func() (string, *fault) { return s.setSystemDateAndTime(a.DateTimeType, a.TZ, a.UTC) })
		case "SetNTP":
			return wrap(func() (string, *fault) {
				var servers []string
				for _, m := range a.NTPManual {
					servers = append(servers, strings.TrimSpace(m.IPv4Address+m.IPv6Address+m.DNSname))
				}
				return s.setNTP(a.FromDHCP, servers)
			})
		case "GetNTP":
			return wrap(s.getNTP)
		}
	case s.opts.NoEvents:
	case path == EventsPath && name.Space == nsEvents && name.Local == "CreatePullPointSubscription":
		return wrap(func() (string, *fault) { return s.createPullPoint(a.InitialTerminationTime) })
	case path == EventsPath && name.Space == nsEvents && name.Local == "GetEventProperties":
		return wrap(s.getEventProperties)
	case strings.HasPrefix(path, SubscriptionPath) && !s.opts.SubscriptionIDInHeader,
		path == EventsPath && s.opts.SubscriptionIDInHeader:
		id := strings.TrimPrefix(path, SubscriptionPath)
		if s.opts.SubscriptionIDInHeader {
			id = strings.TrimSpace(req.Header.SubscriptionID)
		}
		if f := checkAddressing(data, name.Local); f != nil { // wsa.go
			return func(action) (string, *fault) { return "", f }
		}
		switch {
		case name.Space == nsEvents && name.Local == "PullMessages":
			return wrap(func() (string, *fault) { return s.pullMessages(r, id, a.Timeout, a.MessageLimit) })
		case name.Space == nsWSNT && name.Local == "Renew":
			return wrap(func() (string, *fault) { return s.renew(id, a.TerminationTime) })
		case name.Space == nsWSNT && name.Local == "Unsubscribe":
			return wrap(func() (string, *fault) { return s.unsubscribe(id) })
		}
	}
	if path == AnalyticsPath && name.Space == nsAnalytics && !s.opts.NoAnalytics {
		switch name.Local {
		case "GetAnalyticsModules":
			return wrap(func() (string, *fault) { return s.getAnalyticsModules(a.ConfigurationToken) })
		case "ModifyAnalyticsModules":
			return wrap(func() (string, *fault) { return s.modifyAnalyticsModules(a.ConfigurationToken, a.AnalyticsModules) })
		case "GetRules":
			return wrap(func() (string, *fault) { return s.getRules(a.ConfigurationToken) })
		case "ModifyRules":
			return wrap(func() (string, *fault) { return s.modifyRules(a.ConfigurationToken, a.Rules) })
		}
	}
	return nil
}

func errArg(reason string) *fault {
	return &fault{subcodes: []string{"ter:InvalidArgVal"}, reason: reason}
}

// durationRE is the xs:duration subset cameras accept (no years or months).
var durationRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseXSDuration parses an xs:duration such as PT60S or PT1M30S.
func parseXSDuration(s string) (time.Duration, bool) {
	m := durationRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil || n > 1e6 {
				return 0, false
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil || f > 1e9 {
			return 0, false
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, true
}

// termination turns a requested termination (duration or absolute device
// time) into a granted lifetime.
func (s *Server) termination(req string) (time.Duration, *fault) {
	req = strings.TrimSpace(req)
	d := time.Minute
	if req != "" {
		if v, ok := parseXSDuration(req); ok {
			d = v
		} else if t, err := time.Parse(time.RFC3339Nano, req); err == nil {
			d = t.Sub(s.Now())
		} else {
			return 0, errArg("bad termination time")
		}
	}
	if d <= 0 {
		return 0, errArg("termination time in the past")
	}
	max := s.opts.MaxSubscriptionTerm
	if max <= 0 {
		max = defaultMaxTerm
	}
	return min(d, max), nil
}

// timesXML is the CurrentTime/TerminationTime pair, in the device clock.
func (s *Server) timesXML(prefix string, expires time.Time) string {
	now := time.Now()
	dev := s.Now().UTC()
	const layout = "2006-01-02T15:04:05.000Z"
	return `<` + prefix + `:CurrentTime>` + dev.Format(layout) + `</` + prefix + `:CurrentTime>` +
		`<` + prefix + `:TerminationTime>` + dev.Add(expires.Sub(now)).Format(layout) +
		`</` + prefix + `:TerminationTime>`
}

func (s *Server) createPullPoint(initial string) (string, *fault) {
	term, f := s.termination(initial)
	if f != nil {
		return "", f
	}
	e := s.lockEvents()
	defer e.mu.Unlock()
	e.expireLocked()
	if len(e.subs) >= maxSubscriptions {
		return "", &fault{subcodes: []string{"ter:Action", "ter:MaximumSubscriptionsReached"}, reason: "too many subscriptions"}
	}
	e.nextID++
	sub := &subscription{id: strconv.Itoa(e.nextID), expires: time.Now().Add(term), wake: make(chan struct{}, 1)}
	e.subs[sub.id] = sub
	// Property events start with their current state, as ONVIF requires.
	sub.queue = append(sub.queue, s.motionMessage(e.motion, "Initialized"))
	ref := `<wsa:Address>` + s.advertisedBase() + SubscriptionPath + sub.id + `</wsa:Address>`
	if s.opts.SubscriptionIDInHeader {
		ref = `<wsa:Address>` + s.advertisedBase() + EventsPath + `</wsa:Address><wsa:ReferenceParameters>` +
			`<dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">` + sub.id + `</dom0:SubscriptionId>` +
			`</wsa:ReferenceParameters>`
	}
	return `<tev:CreatePullPointSubscriptionResponse` + eventsXMLNS + `><tev:SubscriptionReference>` + ref + `</tev:SubscriptionReference>` +
		s.timesXML("wsnt", sub.expires) + `</tev:CreatePullPointSubscriptionResponse>`, nil
}

// getEventProperties describes the topics the camera sends: its motion
// topic (by MotionStyle), sound detection and a monitoring topic.
func (s *Server) getEventProperties() (string, *fault) {
	desc := func(source, data string) string {
		return `<tt:MessageDescription IsProperty="true"><tt:Source><tt:SimpleItemDescription Name="` + source +
			`" Type="tt:ReferenceToken"/></tt:Source><tt:Data><tt:SimpleItemDescription Name="` + data +
			`" Type="xs:boolean"/></tt:Data></tt:MessageDescription>`
	}
	motion := `<tns1:RuleEngine wstop:topic="true"><CellMotionDetector wstop:topic="true"><Motion wstop:topic="true">` +
		desc("VideoSourceConfigurationToken", "IsMotion") + `</Motion></CellMotionDetector></tns1:RuleEngine>`
	if s.opts.MotionStyle == MotionStyleMotionAlarm {
		motion = `<tns1:VideoSource wstop:topic="true"><MotionAlarm wstop:topic="true">` + desc("Source", "State") +
			`</MotionAlarm></tns1:VideoSource>`
	}
	return `<tev:GetEventPropertiesResponse` + eventsXMLNS + ` xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" xmlns:xs="http://www.w3.org/2001/XMLSchema">` +
		`<tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>` +
		`<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>` + motion +
		`<tns1:AudioAnalytics wstop:topic="true"><Audio wstop:topic="true"><DetectedSound wstop:topic="true">` +
		desc("AudioSourceConfigurationToken", "IsSoundDetected") + `</DetectedSound></Audio></tns1:AudioAnalytics>` +
		`<tns1:Monitoring wstop:topic="true"><ProcessorUsage wstop:topic="true"><tt:MessageDescription IsProperty="true">` +
		`<tt:Source><tt:SimpleItemDescription Name="Token" Type="tt:ReferenceToken"/></tt:Source><tt:Data>` +
		`<tt:SimpleItemDescription Name="Value" Type="xs:float"/></tt:Data></tt:MessageDescription></ProcessorUsage></tns1:Monitoring>` +
		`</wstop:TopicSet><wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect>` +
		`<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>` +
		`</tev:GetEventPropertiesResponse>`, nil
}

// expireLocked forgets subscriptions past their termination time.
func (e *eventsState) expireLocked() {
	now := time.Now()
	for id, sub := range e.subs {
		if !now.Before(sub.expires) {
			delete(e.subs, id)
		}
	}
}

// subLocked returns a live subscription or the fault a camera gives for an
// unknown or expired one.
func (e *eventsState) subLocked(id string) (*subscription, *fault) {
	e.expireLocked()
	if sub := e.subs[id]; sub != nil {
		return sub, nil
	}
	return nil, &fault{subcodes: []string{"ter:InvalidArgVal", "ter:ResourceUnknown"}, reason: "no such subscription"}
}

func (s *Server) pullMessages(r *http.Request, id, timeout, limit string) (string, *fault) {
	wait, ok := parseXSDuration(timeout)
	if !ok {
		return "", errArg("bad Timeout")
	}
	n, err := strconv.Atoi(strings.TrimSpace(limit))
	if err != nil || n < 1 {
		return "", errArg("bad MessageLimit")
	}
	wait = min(wait, maxPullTimeout)
	s.keepAlive(id, wait) // wsa.go
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		e := s.lockEvents()
		sub, f := e.subLocked(id)
		if f != nil {
			e.mu.Unlock()
			return "", f
		}
		done := e.done
		if len(sub.queue) > 0 {
			k := min(n, len(sub.queue))
			msgs := strings.Join(sub.queue[:k], "")
			sub.queue = append(sub.queue[:0], sub.queue[k:]...)
			expires := sub.expires
			e.mu.Unlock()
			return s.pullResponse(expires, msgs), nil
		}
		e.mu.Unlock()
		select {
		case <-sub.wake:
		case <-deadline.C:
			e := s.lockEvents()
			sub, f := e.subLocked(id)
			var expires time.Time
			if sub != nil {
				expires = sub.expires
			}
			e.mu.Unlock()
			if f != nil {
				return "", f
			}
			return s.pullResponse(expires, ""), nil
		case <-r.Context().Done():
			return "", errArg("cancelled")
		case <-done:
			return "", &fault{subcodes: []string{"ter:Action"}, reason: "shutting down"}
		}
	}
}

func (s *Server) pullResponse(expires time.Time, msgs string) string {
	return `<tev:PullMessagesResponse` + eventsXMLNS + `>` + s.timesXML("tev", expires) + msgs + `</tev:PullMessagesResponse>`
}

func (s *Server) renew(id, termination string) (string, *fault) {
	term, f := s.termination(termination)
	if f != nil {
		return "", f
	}
	e := s.lockEvents()
	defer e.mu.Unlock()
	sub, f := e.subLocked(id)
	if f != nil {
		return "", f
	}
	sub.expires = time.Now().Add(term)
	return `<wsnt:RenewResponse` + eventsXMLNS + `>` + s.timesXML("wsnt", sub.expires) + `</wsnt:RenewResponse>`, nil
}

func (s *Server) unsubscribe(id string) (string, *fault) {
	e := s.lockEvents()
	defer e.mu.Unlock()
	if _, f := e.subLocked(id); f != nil {
		return "", f
	}
	delete(e.subs, id)
	return `<wsnt:UnsubscribeResponse` + eventsXMLNS + `/>`, nil
}

// Subscriptions returns how many pull points are alive.
func (s *Server) Subscriptions() int {
	e := s.lockEvents()
	defer e.mu.Unlock()
	e.expireLocked()
	return len(e.subs)
}

// DropSubscriptions forgets every subscription, like a camera reboot: later
// pulls on them fail and clients must subscribe again.
func (s *Server) DropSubscriptions() {
	e := s.lockEvents()
	defer e.mu.Unlock()
	for id, sub := range e.subs {
		delete(e.subs, id)
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}

// TriggerMotion reports motion starting (true) or ending (false) to every
// subscription, in the style Options.MotionStyle selects. With
// NeverSendsStop the end is not reported.
func (s *Server) TriggerMotion(active bool) {
	e := s.lockEvents()
	defer e.mu.Unlock()
	if !active && !e.motion {
		return
	}
	e.motion = active
	if !active && s.opts.NeverSendsStop {
		return
	}
	e.publishLocked(s.motionMessage(active, "Changed"))
}

// TriggerSound reports sound detection starting or ending.
func (s *Server) TriggerSound(active bool) {
	e := s.lockEvents()
	defer e.mu.Unlock()
	e.sound = active
	if !active && s.opts.NeverSendsStop {
		return
	}
	e.publishLocked(notification("tns1:AudioAnalytics/Audio/DetectedSound", s.Now(), "Changed",
		[][2]string{{"AudioSourceConfigurationToken", "AudioSourceConfig_1"}, {"AudioAnalyticsConfigurationToken", "AudioAnalyticsConfig_1"}},
		[][2]string{{"IsSoundDetected", strconv.FormatBool(active)}}))
}

func (e *eventsState) publishLocked(msg string) {
	e.expireLocked()
	for _, sub := range e.subs {
		if len(sub.queue) >= maxQueuedMessages {
			sub.queue = sub.queue[1:] // a real camera drops the oldest
		}
		sub.queue = append(sub.queue, msg)
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
}

func (s *Server) motionMessage(active bool, op string) string {
	if s.opts.MotionStyle == MotionStyleMotionAlarm {
		return notification("tns1:VideoSource/MotionAlarm", s.Now(), op,
			[][2]string{{"Source", "VideoSource_1"}}, [][2]string{{"State", strconv.FormatBool(active)}})
	}
	return notification("tns1:RuleEngine/CellMotionDetector/Motion", s.Now(), op,
		[][2]string{{"VideoSourceConfigurationToken", "VideoSourceConfig_1"},
			{"VideoAnalyticsConfigurationToken", analyticsConfigToken}, {"Rule", cellRuleName}},
		[][2]string{{"IsMotion", strconv.FormatBool(active)}})
}

// notification renders one wsnt:NotificationMessage stamped with the
// device's (possibly skewed) clock.
func notification(topic string, at time.Time, op string, source, data [][2]string) string {
	items := func(kv [][2]string) string {
		var b strings.Builder
		for _, p := range kv {
			fmt.Fprintf(&b, `<tt:SimpleItem Name="%s" Value="%s"/>`, esc(p[0]), esc(p[1]))
		}
		return b.String()
	}
	return `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">` +
		topic + `</wsnt:Topic><wsnt:Message><tt:Message UtcTime="` + at.UTC().Format("2006-01-02T15:04:05.000Z") +
		`" PropertyOperation="` + op + `"><tt:Source>` + items(source) + `</tt:Source><tt:Data>` + items(data) +
		`</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`
}

// posixTZRE accepts POSIX TZ strings such as UTC0, CET-1CEST,M3.5.0,M10.5.0/3
// or <+0330>-3:30; cameras refuse IANA names like Europe/Berlin.
var posixTZRE = regexp.MustCompile(`^(?:[A-Za-z]{3,}|<[+\-0-9A-Za-z]+>)[+-]?\d{1,2}(?::\d{2}){0,2}` +
	`(?:(?:[A-Za-z]{3,}|<[+\-0-9A-Za-z]+>)(?:[+-]?\d{1,2}(?::\d{2}){0,2})?` +
	`(?:,(?:M\d{1,2}\.\d\.\d|J?\d{1,3})(?:/[+-]?\d{1,3}(?::\d{2}){0,2})?){2})?$`)
