package onvif

import (
	"errors"
	"reflect"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

func TestEventTopics(t *testing.T) {
	for _, tc := range []struct {
		style  string
		motion string
		item   string
	}{
		{onvifsim.MotionStyleCellMotion, "RuleEngine/CellMotionDetector/Motion", "IsMotion"},
		{onvifsim.MotionStyleMotionAlarm, "VideoSource/MotionAlarm", "State"},
	} {
		_, c := connectSim(t, onvifsim.Options{MotionStyle: tc.style})
		got, err := c.EventTopics(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		want := []EventTopic{
			{Topic: "AudioAnalytics/Audio/DetectedSound", DataItems: []string{"IsSoundDetected"}, Kind: KindSound},
			{Topic: "Monitoring/ProcessorUsage", DataItems: []string{"Value"}},
			{Topic: tc.motion, DataItems: []string{tc.item}, Kind: KindMotion},
		}
		sortTopics(want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v\nwant %+v", tc.style, got, want)
		}
	}
	_, c := connectSim(t, onvifsim.Options{NoEvents: true})
	if _, err := c.EventTopics(testCtx(t)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("no events service: %v", err)
	}
}

func sortTopics(ts []EventTopic) {
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if ts[j].Topic < ts[i].Topic {
				ts[i], ts[j] = ts[j], ts[i]
			}
		}
	}
}

var topicSetCases = []struct {
	name string
	xml  string
	want []EventTopic
	err  bool
}{
	{
		name: "axis vendor prefixes and default namespaces",
		xml: `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>
<GetEventPropertiesResponse xmlns="http://www.onvif.org/ver10/events/wsdl" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tnsaxis="http://www.axis.com/2009/event/topics" xmlns:tt="http://www.onvif.org/ver10/schema">
<TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</TopicNamespaceLocation>
<FixedTopicSet xmlns="http://docs.oasis-open.org/wsn/b-2">true</FixedTopicSet>
<wstop:TopicSet>
 <tns1:Device><tnsaxis:Sensor><PIR wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Source><tt:SimpleItemDescription Name="sensor" Type="xsd:int"/></tt:Source><tt:Data><tt:SimpleItemDescription Name="state" Type="xsd:boolean"/></tt:Data></tt:MessageDescription></PIR></tnsaxis:Sensor>
  <Trigger><DigitalInput wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Data><tt:SimpleItemDescription Name="LogicalState" Type="xsd:boolean"/></tt:Data></tt:MessageDescription></DigitalInput></Trigger></tns1:Device>
 <tnsaxis:CameraApplicationPlatform><VMD><Camera1Profile1 wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Data><tt:SimpleItemDescription Name="active" Type="xsd:boolean"/></tt:Data></tt:MessageDescription></Camera1Profile1></VMD></tnsaxis:CameraApplicationPlatform>
</wstop:TopicSet>
<TopicExpressionDialect xmlns="http://docs.oasis-open.org/wsn/b-2">http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</TopicExpressionDialect>
</GetEventPropertiesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
		want: []EventTopic{
			{Topic: "CameraApplicationPlatform/VMD/Camera1Profile1", DataItems: []string{"active"}, Kind: KindMotion},
			{Topic: "Device/Sensor/PIR", DataItems: []string{"state"}, Kind: KindMotion},
			{Topic: "Device/Trigger/DigitalInput", DataItems: []string{"LogicalState"}, Kind: KindDigitalInput},
		},
	},
	{
		name: "hikvision tamper and motion alarm, item not in the table",
		xml: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>
<tev:GetEventPropertiesResponse><wstop:TopicSet>
<tns1:RuleEngine wstop:topic="true"><TamperDetector wstop:topic="true"><Tamper wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Data><tt:SimpleItemDescription Name="IsTamper" Type="xs:boolean"/></tt:Data></tt:MessageDescription></Tamper></TamperDetector></tns1:RuleEngine>
<tns1:VideoSource wstop:topic="true"><MotionAlarm wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Data><tt:SimpleItemDescription Name="Alarm" Type="xs:boolean"/></tt:Data></tt:MessageDescription></MotionAlarm></tns1:VideoSource>
</wstop:TopicSet></tev:GetEventPropertiesResponse></env:Body></env:Envelope>`,
		want: []EventTopic{
			{Topic: "RuleEngine/TamperDetector/Tamper", DataItems: []string{"IsTamper"}, Kind: KindTamper},
			{Topic: "VideoSource/MotionAlarm", DataItems: []string{"Alarm"}},
		},
	},
	{name: "empty topic set", xml: `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetEventPropertiesResponse><TopicSet/></GetEventPropertiesResponse></e:Body></e:Envelope>`},
	{name: "truncated", err: true, xml: `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetEventPropertiesResponse><TopicSet><a><b>`},
}

func parseTopicSet(data []byte) ([]EventTopic, error) {
	var r topicSetResponse
	if err := decodeResponse(data, "GetEventPropertiesResponse", &r); err != nil {
		return nil, err
	}
	return r.topics, nil
}

func TestParseTopicSet(t *testing.T) {
	for _, tc := range topicSetCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTopicSet([]byte(tc.xml))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseTopicSet(f *testing.F) {
	for _, tc := range topicSetCases {
		f.Add([]byte(tc.xml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := parseTopicSet(data)
		if err == nil && len(ts) > maxTopics {
			t.Fatalf("%d topics", len(ts))
		}
	})
}
