package onvifsim

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	tevNS  = `xmlns:tev="http://www.onvif.org/ver10/events/wsdl"`
	wsntNS = `xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"`
	tanNS  = `xmlns:tan="http://www.onvif.org/ver20/analytics/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"`
)

func startTestSim(t *testing.T, o Options) *Server {
	t.Helper()
	s := New(o)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/soap+xml", strings.NewReader(envelope(nsSOAP, wsaHeader(url, body), body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

var addressRE = regexp.MustCompile(`<wsa:Address>([^<]+)</wsa:Address>`)

// TestSimEventsRejects checks the events, analytics and time services
// refuse what a real camera refuses.
func TestSimEventsRejects(t *testing.T) {
	s := startTestSim(t, Options{})
	base := "http://" + s.Addr()
	status, body := post(t, base+EventsPath, `<tev:CreatePullPointSubscription `+tevNS+`><tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`)
	m := addressRE.FindStringSubmatch(body)
	if status != 200 || m == nil {
		t.Fatalf("create: %d %s", status, body)
	}
	sub := m[1]
	cells := `<tt:SimpleItem Name="MinCount" Value="5"/><tt:SimpleItem Name="AlarmOnDelay" Value="1000"/><tt:SimpleItem Name="AlarmOffDelay" Value="1000"/>`
	for _, tc := range []struct {
		name, url, body string
		status          int
		want            string
	}{
		{"bad initial termination", base + EventsPath, `<tev:CreatePullPointSubscription ` + tevNS + `><tev:InitialTerminationTime>soon</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`, 400, "InvalidArgVal"},
		{"termination in the past", base + EventsPath, `<tev:CreatePullPointSubscription ` + tevNS + `><tev:InitialTerminationTime>2001-01-01T00:00:00Z</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`, 400, "InvalidArgVal"},
		{"pull timeout not a duration", sub, `<tev:PullMessages ` + tevNS + `><tev:Timeout>5 seconds</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`, 400, "InvalidArgVal"},
		{"pull limit zero", sub, `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>0</tev:MessageLimit></tev:PullMessages>`, 400, "InvalidArgVal"},
		{"pull unknown subscription", base + SubscriptionPath + "999", `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`, 400, "ResourceUnknown"},
		{"pull at the events service", base + EventsPath, `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`, 500, "ActionNotSupported"},
		{"renew in the wrong namespace", sub, `<tev:Renew ` + tevNS + `><tev:TerminationTime>PT60S</tev:TerminationTime></tev:Renew>`, 500, "ActionNotSupported"},
		{"pull gets the initial state", sub, `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>`, 200, `PropertyOperation="Initialized"`},
		{"renew", sub, `<wsnt:Renew ` + wsntNS + `><wsnt:TerminationTime>PT30S</wsnt:TerminationTime></wsnt:Renew>`, 200, "RenewResponse"},
		{"analytics unknown configuration", base + AnalyticsPath, `<tan:GetRules ` + tanNS + `><tan:ConfigurationToken>x</tan:ConfigurationToken></tan:GetRules>`, 400, "NoConfig"},
		{"module without layout", base + AnalyticsPath, `<tan:ModifyAnalyticsModules ` + tanNS + `><tan:ConfigurationToken>VideoAnalyticsConfig_1</tan:ConfigurationToken><tan:AnalyticsModule Name="MyCellMotionModule" Type="tt:CellMotionEngine"><tt:Parameters><tt:SimpleItem Name="Sensitivity" Value="10"/></tt:Parameters></tan:AnalyticsModule></tan:ModifyAnalyticsModules>`, 400, "Layout missing"},
		{"module with another layout", base + AnalyticsPath, `<tan:ModifyAnalyticsModules ` + tanNS + `><tan:ConfigurationToken>VideoAnalyticsConfig_1</tan:ConfigurationToken><tan:AnalyticsModule Name="MyCellMotionModule" Type="tt:CellMotionEngine"><tt:Parameters><tt:SimpleItem Name="Sensitivity" Value="10"/><tt:ElementItem Name="Layout"><tt:CellLayout Columns="8" Rows="6"/></tt:ElementItem></tt:Parameters></tan:AnalyticsModule></tan:ModifyAnalyticsModules>`, 400, "cannot be changed"},
		{"rule losing parameters", base + AnalyticsPath, `<tan:ModifyRules ` + tanNS + `><tan:ConfigurationToken>VideoAnalyticsConfig_1</tan:ConfigurationToken><tan:Rule Name="MyMotionDetectorRule" Type="tt:CellMotionDetector"><tt:Parameters><tt:SimpleItem Name="ActiveCells" Value="zP8="/></tt:Parameters></tan:Rule></tan:ModifyRules>`, 400, "MinCount"},
		{"rule with short cells", base + AnalyticsPath, `<tan:ModifyRules ` + tanNS + `><tan:ConfigurationToken>VideoAnalyticsConfig_1</tan:ConfigurationToken><tan:Rule Name="MyMotionDetectorRule" Type="tt:CellMotionDetector"><tt:Parameters>` + cells + `<tt:SimpleItem Name="ActiveCells" Value="/wA="/></tt:Parameters></tan:Rule></tan:ModifyRules>`, 400, "ActiveCells"},
		{"rule ok", base + AnalyticsPath, `<tan:ModifyRules ` + tanNS + `><tan:ConfigurationToken>VideoAnalyticsConfig_1</tan:ConfigurationToken><tan:Rule Name="MyMotionDetectorRule" Type="tt:CellMotionDetector"><tt:Parameters>` + cells + `<tt:SimpleItem Name="ActiveCells" Value="zP8="/></tt:Parameters></tan:Rule></tan:ModifyRules>`, 200, "ModifyRulesResponse"},
		{"IANA time zone", base + DevicePath, `<tds:SetSystemDateAndTime><tds:DateTimeType>NTP</tds:DateTimeType><tds:DaylightSavings>false</tds:DaylightSavings><tds:TimeZone><tt:TZ xmlns:tt="http://www.onvif.org/ver10/schema">Europe/Berlin</tt:TZ></tds:TimeZone></tds:SetSystemDateAndTime>`, 400, "InvalidTimeZone"},
		{"manual without time", base + DevicePath, `<tds:SetSystemDateAndTime><tds:DateTimeType>Manual</tds:DateTimeType><tds:DaylightSavings>false</tds:DaylightSavings></tds:SetSystemDateAndTime>`, 400, "InvalidDateTime"},
		{"unsubscribe", sub, `<wsnt:Unsubscribe ` + wsntNS + `/>`, 200, "UnsubscribeResponse"},
		{"pull after unsubscribe", sub, `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`, 400, "ResourceUnknown"},
	} {
		status, body := post(t, tc.url, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: status %d body %s; want %d with %q", tc.name, status, body, tc.status, tc.want)
		}
	}
}

// TestSimSubscriptionExpires: a subscription neither renewed nor pulled
// (pulls keep a pull point alive, ONVIF Core 9.1.1) is gone after its
// termination time.
func TestSimSubscriptionExpires(t *testing.T) {
	s := startTestSim(t, Options{MaxSubscriptionTerm: 200 * time.Millisecond})
	status, body := post(t, "http://"+s.Addr()+EventsPath, `<tev:CreatePullPointSubscription `+tevNS+`/>`)
	if status != 200 || s.Subscriptions() != 1 {
		t.Fatalf("create: %d %s", status, body)
	}
	sub := addressRE.FindStringSubmatch(body)[1]
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for s.Subscriptions() != 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("subscription did not expire")
		}
	}
	status, body = post(t, sub, `<tev:PullMessages `+tevNS+`><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>`)
	if !strings.Contains(body, "ResourceUnknown") || s.Subscriptions() != 0 {
		t.Fatalf("after termination: %d %s, %d subscriptions", status, body, s.Subscriptions())
	}
}

// TestSimDiscoveryAnswersOnlyProbes: datagrams that are not ONVIF probes get
// no answer; the first reply is the one for the valid probe sent last.
func TestSimDiscoveryAnswersOnlyProbes(t *testing.T) {
	s := startTestSim(t, Options{})
	conn, err := net.Dial("udp4", s.DiscoveryAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	probe := func(id, types string) string {
		return `<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddressing + `" xmlns:d="` + nsDiscovery + `"><s:Header>` +
			`<a:Action>` + actionProbe + `</a:Action><a:MessageID>` + id + `</a:MessageID></s:Header>` +
			`<s:Body><d:Probe><d:Types xmlns:p="urn:x">` + types + `</d:Types></d:Probe></s:Body></s:Envelope>`
	}
	for _, msg := range []string{
		"garbage",
		probe("urn:uuid:printer", "p:Printer"),
		strings.Replace(probe("urn:uuid:noaction", ""), actionProbe, "urn:other", 1),
		probe("urn:uuid:wanted", "dn:NetworkVideoTransmitter"),
	} {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	reply := string(buf[:n])
	if !strings.Contains(reply, "<wsa:RelatesTo>urn:uuid:wanted</wsa:RelatesTo>") || !strings.Contains(reply, s.URL()) || s.Probes() != 1 {
		t.Fatalf("reply %s (probes answered %d)", reply, s.Probes())
	}
}

// TestSimTriggerStyles checks the notification each vendor style sends.
func TestSimTriggerStyles(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want []string
	}{
		{Options{}, []string{"tns1:RuleEngine/CellMotionDetector/Motion", `Name="IsMotion" Value="true"`, `Name="IsMotion" Value="false"`}},
		{Options{MotionStyle: MotionStyleMotionAlarm}, []string{"tns1:VideoSource/MotionAlarm", `Name="State" Value="true"`, `Name="State" Value="false"`}},
		{Options{NeverSendsStop: true}, []string{`Name="IsMotion" Value="true"`, "!" + `Name="IsMotion" Value="false"/>`}},
	} {
		s := startTestSim(t, tc.opts)
		_, body := post(t, "http://"+s.Addr()+EventsPath, `<tev:CreatePullPointSubscription `+tevNS+`/>`)
		sub := addressRE.FindStringSubmatch(body)[1]
		pull := `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>`
		post(t, sub, pull) // initial state
		s.TriggerMotion(true)
		s.TriggerMotion(false)
		s.TriggerSound(true)
		_, body = post(t, sub, pull)
		for _, w := range tc.want {
			if neg := strings.HasPrefix(w, "!"); neg == strings.Contains(body, strings.TrimPrefix(w, "!")) {
				t.Errorf("%+v: %q in %s", tc.opts, w, body)
			}
		}
		if !strings.Contains(body, "tns1:AudioAnalytics/Audio/DetectedSound") {
			t.Errorf("no sound event in %s", body)
		}
	}
}

func TestSimSubscriptionIDInHeader(t *testing.T) {
	s := startTestSim(t, Options{SubscriptionIDInHeader: true})
	url := "http://" + s.Addr() + EventsPath
	_, body := post(t, url, `<tev:CreatePullPointSubscription `+tevNS+`/>`)
	if !strings.Contains(body, "<wsa:Address>"+url+"</wsa:Address>") || !strings.Contains(body, "SubscriptionId") {
		t.Fatalf("create: %s", body)
	}
	pull := `<tev:PullMessages ` + tevNS + `><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`
	if status, body := post(t, url, pull); status != 400 || !strings.Contains(body, "ResourceUnknown") {
		t.Fatalf("pull without the reference parameter: %d %s", status, body)
	}
	resp, err := http.Post(url, "application/soap+xml", strings.NewReader(envelope(nsSOAP,
		wsaHeader(url, pull)+`<SubscriptionId xmlns="http://www.axis.com/2009/event">1</SubscriptionId>`, pull)))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(data), "PullMessagesResponse") {
		t.Fatalf("pull with the reference parameter: %d %s", resp.StatusCode, data)
	}
}
