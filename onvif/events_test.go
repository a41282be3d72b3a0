package onvif

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/onvif/onvifsim"
)

// connectSim starts a simulator with opts and returns a connected client.
func connectSim(t *testing.T, opts onvifsim.Options) (*onvifsim.Server, *Client) {
	t.Helper()
	sim := startSim(t, opts)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// pullUntil pulls until an event satisfies want or ctx ends.
func pullUntil(ctx context.Context, t *testing.T, p *PullPoint, want func(Event) bool) Event {
	t.Helper()
	for ctx.Err() == nil {
		evs, err := p.Pull(ctx, 2*time.Second, 10)
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		for _, e := range evs {
			if want(e) {
				return e
			}
		}
	}
	t.Fatal("no matching event before the deadline")
	return Event{}
}

func near(a, b time.Time, d time.Duration) bool { return a.Sub(b) < d && b.Sub(a) < d }

// TestEventsMotionAlarmSkewedClock: a camera that requires WS-Security,
// reports motion as VideoSource/MotionAlarm and runs two hours ahead. The
// event's Time must be true UTC.
func TestEventsMotionAlarmSkewedClock(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{ClockSkew: 2 * time.Hour, MotionStyle: onvifsim.MotionStyleMotionAlarm})
	ctx := testCtx(t)
	p, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Address(), "http://"+sim.Addr()+onvifsim.SubscriptionPath) {
		t.Fatalf("subscription address %q", p.Address())
	}
	if d := time.Until(p.Expires()); d <= 0 || d > time.Minute {
		t.Fatalf("expires in %v, want within the 60 s asked for", d)
	}
	// The camera first reports the current state.
	init := pullUntil(ctx, t, p, func(e Event) bool { return true })
	if init.PropertyOperation != PropertyInitialized || init.Data["State"] != "false" {
		t.Fatalf("initial event %+v", init)
	}

	sim.TriggerMotion(true)
	before := time.Now()
	e := pullUntil(ctx, t, p, func(e Event) bool { return e.PropertyOperation == PropertyChanged })
	if e.Topic != "VideoSource/MotionAlarm" || e.Source["Source"] != "VideoSource_1" {
		t.Fatalf("event %+v", e)
	}
	if k, active, ok := Classify(e); k != KindMotion || !active || !ok {
		t.Fatalf("classified as %q %v %v", k, active, ok)
	}
	if !near(e.CameraTime, before.Add(2*time.Hour), 5*time.Second) {
		t.Fatalf("camera time %v, want about %v (camera clock)", e.CameraTime, before.Add(2*time.Hour))
	}
	if !near(e.Time, before, 5*time.Second) {
		t.Fatalf("time %v, want about %v (true UTC)", e.Time, before)
	}
	if e.Time.Location() != time.UTC {
		t.Fatalf("time not in UTC: %v", e.Time.Location())
	}
	if err := p.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sim.Subscriptions(); n != 0 {
		t.Fatalf("%d subscriptions left after unsubscribe", n)
	}
	if _, err := p.Pull(ctx, time.Second, 1); err == nil {
		t.Fatal("pull on a removed subscription succeeded")
	}
}

func TestEventsUnsupported(t *testing.T) {
	_, c := connectSim(t, onvifsim.Options{NoEvents: true})
	if c.Services().Events != "" {
		t.Fatalf("events service %q advertised", c.Services().Events)
	}
	_, err := c.Subscribe(testCtx(t))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("subscribe = %v, want ErrUnsupported", err)
	}
	if err := c.RunEvents(testCtx(t), func(Event) {}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("run events = %v, want ErrUnsupported", err)
	}
}

// runEvents runs RunEvents in the background, delivering events on a channel.
func runEvents(ctx context.Context, c *Client) (<-chan Event, <-chan error) {
	evs := make(chan Event, 100)
	done := make(chan error, 1)
	go func() { done <- c.RunEvents(ctx, func(e Event) { evs <- e }) }()
	return evs, done
}

// waitFor polls cond (cheap state of the simulator) until true or timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

func nextMotion(t *testing.T, evs <-chan Event, done <-chan error, active bool) Event {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e := <-evs:
			if k, a, ok := Classify(e); ok && k == KindMotion && a == active && e.PropertyOperation == PropertyChanged {
				return e
			}
		case err := <-done:
			t.Fatalf("run events ended: %v", err)
		case <-timeout:
			t.Fatal("no motion event")
		}
	}
}

// TestRunEventsRenews: the camera grants only two seconds per subscription,
// so the loop must renew in time; after several terms events still arrive
// on the same subscription.
func TestRunEventsRenews(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{MaxSubscriptionTerm: 2 * time.Second, ClockSkew: -90 * time.Minute})
	ctx, cancel := context.WithCancel(testCtx(t))
	evs, done := runEvents(ctx, c)
	waitFor(t, "three renewals", func() bool { return count(sim.Requests(), "Renew") >= 3 })
	sim.TriggerMotion(true)
	nextMotion(t, evs, done, true)
	reqs := sim.Requests()
	if n := count(reqs, "CreatePullPointSubscription"); n != 1 {
		t.Fatalf("%d subscriptions created, want 1 (renewals kept it alive): %v", n, reqs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run events after cancel = %v, want nil", err)
	}
	if n := sim.Subscriptions(); n != 0 {
		t.Fatalf("%d subscriptions left after cancel; want unsubscribed", n)
	}
}

// TestRunEventsCameraReboot: the camera forgets its subscriptions; RunEvents
// fails, and the next attempt (the agent's retry) receives events again.
func TestRunEventsCameraReboot(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{})
	ctx := testCtx(t)
	_, done := runEvents(ctx, c)
	waitFor(t, "a subscription", func() bool { return sim.Subscriptions() == 1 })
	sim.DropSubscriptions()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("run events returned nil after the camera dropped the subscription")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run events did not notice the lost subscription")
	}
	evs, done := runEvents(ctx, c)
	waitFor(t, "a new subscription", func() bool { return sim.Subscriptions() == 1 })
	sim.TriggerMotion(true)
	e := nextMotion(t, evs, done, true)
	if e.Topic != "RuleEngine/CellMotionDetector/Motion" || e.Source["Rule"] == "" {
		t.Fatalf("event %+v", e)
	}
	sim.TriggerMotion(false)
	nextMotion(t, evs, done, false)
	sim.TriggerSound(true)
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e := <-evs:
			if k, a, ok := Classify(e); ok && k == KindSound {
				if !a || e.Topic != "AudioAnalytics/Audio/DetectedSound" {
					t.Fatalf("sound event %+v", e)
				}
				return
			}
		case <-timeout:
			t.Fatal("no sound event")
		}
	}
}

// TestNeverSendsStopDebounced: a camera that never reports motion ending;
// the debouncer closes the activity after the hold time on its clock.
func TestNeverSendsStopDebounced(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{NeverSendsStop: true})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	evs, done := runEvents(ctx, c)
	waitFor(t, "a subscription", func() bool { return sim.Subscriptions() == 1 })
	sim.TriggerMotion(true)
	sim.TriggerMotion(false) // swallowed by this camera
	sim.TriggerMotion(true)
	d := NewDebouncer(DebounceRule{}, map[Kind]DebounceRule{KindMotion: {Hold: 10 * time.Second, MinInterval: time.Second}})
	var got []Transition
	for i := 0; i < 2; i++ {
		e := nextMotion(t, evs, done, true)
		k, a, _ := Classify(e)
		got = append(got, d.Observe(k, a, e.Time)...)
	}
	if len(got) != 1 || !got[0].Active {
		t.Fatalf("transitions %+v, want one start", got)
	}
	dl, ok := d.NextDeadline()
	if !ok {
		t.Fatal("no hold deadline")
	}
	stop := d.Expire(dl)
	if len(stop) != 1 || stop[0].Active || !stop[0].Synthetic {
		t.Fatalf("expire = %+v, want one synthesised stop", stop)
	}
	select {
	case e := <-evs:
		if _, a, ok := Classify(e); ok && !a {
			t.Fatalf("camera sent a stop: %+v", e)
		}
	default:
	}
}

// Event messages in the shapes different firmware sends.
var eventCases = []struct {
	name string
	xml  string
	want []Event
	err  bool
}{
	{
		name: "hikvision cell motion",
		xml: `<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics"><env:Body>
<tev:PullMessagesResponse><tev:CurrentTime>2026-03-01T10:00:05Z</tev:CurrentTime><tev:TerminationTime>2026-03-01T10:01:05Z</tev:TerminationTime>
<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>
<wsnt:Message><tt:Message UtcTime="2026-03-01T10:00:04Z" PropertyOperation="Changed"><tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/><tt:SimpleItem Name="VideoAnalyticsConfigurationToken" Value="VideoAnalyticsToken"/><tt:SimpleItem Name="Rule" Value="MyMotionDetectorRule"/></tt:Source><tt:Data><tt:SimpleItem Name="IsMotion" Value="true"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>
</tev:PullMessagesResponse></env:Body></env:Envelope>`,
		want: []Event{{Topic: "RuleEngine/CellMotionDetector/Motion", CameraTime: time.Date(2026, 3, 1, 10, 0, 4, 0, time.UTC),
			PropertyOperation: PropertyChanged,
			Source:            map[string]string{"VideoSourceConfigurationToken": "VideoSourceToken", "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken", "Rule": "MyMotionDetectorRule"},
			Data:              map[string]string{"IsMotion": "true"}}},
	},
	{
		name: "axis default namespaces, vendor topic prefix, fractional time",
		xml: `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Header/><SOAP-ENV:Body>
<PullMessagesResponse xmlns="http://www.onvif.org/ver10/events/wsdl"><CurrentTime>2026-03-01T10:00:05Z</CurrentTime><TerminationTime>2026-03-01T10:01:05Z</TerminationTime>
<NotificationMessage xmlns="http://docs.oasis-open.org/wsn/b-2"><Topic Dialect="http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple" xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tnsaxis="http://www.axis.com/2009/event/topics">tns1:CameraApplicationPlatform/tnsaxis:VMD/Camera1Profile1</Topic>
<Message><Message xmlns="http://www.onvif.org/ver10/schema" UtcTime="2026-03-01T10:00:04.371215Z" PropertyOperation="Initialized"><Source/><Key/><Data><SimpleItem Name="active" Value="1"/></Data></Message></Message></NotificationMessage>
<NotificationMessage xmlns="http://docs.oasis-open.org/wsn/b-2"><Topic>tns1:Device/tnsaxis:Sensor/PIR</Topic>
<Message><Message xmlns="http://www.onvif.org/ver10/schema" UtcTime="2026-03-01T10:00:04.5Z" PropertyOperation="Changed"><Source><SimpleItem Name="sensor" Value="0"/></Source><Data><SimpleItem Name="state" Value="0"/></Data></Message></Message></NotificationMessage>
</PullMessagesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
		want: []Event{
			{Topic: "CameraApplicationPlatform/VMD/Camera1Profile1", CameraTime: time.Date(2026, 3, 1, 10, 0, 4, 371215000, time.UTC),
				PropertyOperation: PropertyInitialized, Source: map[string]string{}, Data: map[string]string{"active": "1"}},
			{Topic: "Device/Sensor/PIR", CameraTime: time.Date(2026, 3, 1, 10, 0, 4, 500000000, time.UTC),
				PropertyOperation: PropertyChanged, Source: map[string]string{"sensor": "0"}, Data: map[string]string{"state": "0"}},
		},
	},
	{
		name: "dahua motion alarm, odd prefixes, no zone, whitespace",
		xml: `<?xml version="1.0" encoding="utf-8" standalone="yes" ?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://docs.oasis-open.org/wsn/b-2" xmlns:b="http://www.onvif.org/ver10/schema" xmlns:e="http://www.onvif.org/ver10/events/wsdl"><s:Header/><s:Body>
  <e:PullMessagesResponse>
    <e:CurrentTime>2026-03-01T10:00:05Z</e:CurrentTime><e:TerminationTime>2026-03-01T10:01:05Z</e:TerminationTime>
    <a:NotificationMessage>
      <a:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"> tns1:VideoSource/MotionAlarm </a:Topic>
      <a:Message><b:Message UtcTime="2026-03-01T10:00:03" PropertyOperation="Changed">
        <b:Source><b:SimpleItem Name="Source" Value=" 000 "/></b:Source>
        <b:Data><b:SimpleItem Name="State" Value="true"/></b:Data>
      </b:Message></a:Message>
    </a:NotificationMessage>
    <a:NotificationMessage><a:Topic></a:Topic></a:NotificationMessage>
  </e:PullMessagesResponse></s:Body></s:Envelope>`,
		want: []Event{{Topic: "VideoSource/MotionAlarm", CameraTime: time.Date(2026, 3, 1, 10, 0, 3, 0, time.UTC),
			PropertyOperation: PropertyChanged, Source: map[string]string{"Source": "000"}, Data: map[string]string{"State": "true"}}},
	},
	{
		name: "bad timestamp keeps the event",
		xml: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><PullMessagesResponse>
<NotificationMessage><Topic>tns1:AudioAnalytics/Audio/DetectedSound</Topic><Message><Message UtcTime="yesterday"><Data><SimpleItem Name="IsSoundDetected" Value="true"/></Data></Message></Message></NotificationMessage>
</PullMessagesResponse></s:Body></s:Envelope>`,
		want: []Event{{Topic: "AudioAnalytics/Audio/DetectedSound", Source: map[string]string{}, Data: map[string]string{"IsSoundDetected": "true"}}},
	},
	{name: "empty pull", xml: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><PullMessagesResponse/></s:Body></s:Envelope>`, want: []Event{}},
	{name: "fault", err: true, xml: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text>no</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`},
	{name: "wrong element", err: true, xml: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><RenewResponse/></s:Body></s:Envelope>`},
	{name: "not xml", err: true, xml: `<<<`},
}

func TestParseEvents(t *testing.T) {
	for _, tc := range eventCases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parsePullMessages([]byte(tc.xml))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			for i := range tc.want {
				tc.want[i].Time = tc.want[i].CameraTime
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %s\nwant %s", dumpEvents(got), dumpEvents(tc.want))
			}
		})
	}
}

func dumpEvents(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%+v\n", e)
	}
	return b.String()
}

func FuzzParseEvents(f *testing.F) {
	for _, tc := range eventCases {
		f.Add([]byte(tc.xml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, _, err := parsePullMessages(data)
		if err != nil {
			return
		}
		for _, e := range evs {
			if e.Topic == "" || strings.Contains(e.Topic, ":") {
				t.Fatalf("topic %q not normalised", e.Topic)
			}
			Classify(e) // must not panic
		}
	})
}

// TestRunEventsReferenceParameters: an Axis-style camera serves all pull
// points at one address and tells them apart by a reference parameter the
// client must echo in the SOAP header.
func TestRunEventsReferenceParameters(t *testing.T) {
	sim, c1 := connectSim(t, onvifsim.Options{SubscriptionIDInHeader: true, MaxSubscriptionTerm: 2 * time.Second})
	c2 := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c2.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	evs1, done1 := runEvents(ctx, c1)
	evs2, done2 := runEvents(ctx, c2)
	waitFor(t, "two subscriptions renewed", func() bool {
		return sim.Subscriptions() == 2 && count(sim.Requests(), "Renew") >= 2
	})
	sim.TriggerMotion(true)
	nextMotion(t, evs1, done1, true)
	nextMotion(t, evs2, done2, true)
	cancel()
	for _, done := range []<-chan error{done1, done2} {
		if err := <-done; err != nil {
			t.Fatalf("run events = %v", err)
		}
	}
	if n := sim.Subscriptions(); n != 0 {
		t.Fatalf("%d subscriptions left; unsubscribe must name its subscription", n)
	}
}

// TestRunEventsCameraGone: the camera disappears mid long-poll; RunEvents
// reports it instead of hanging.
func TestRunEventsCameraGone(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{})
	_, done := runEvents(testCtx(t), c)
	waitFor(t, "a subscription", func() bool { return sim.Subscriptions() == 1 })
	sim.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("run events returned nil although the camera is gone")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run events hangs after the camera went away")
	}
}
