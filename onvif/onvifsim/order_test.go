package onvifsim

import (
	"strings"
	"testing"
)

func TestCheckOrder(t *testing.T) {
	env := func(body string) []byte {
		return []byte(`<s:Envelope xmlns:s="` + nsSOAP + `"><s:Header><X><Time/><Date/></X></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
	}
	cases := []struct {
		name, body, want string
	}{
		{"date time in schema order", `<SetSystemDateAndTime><DateTimeType>Manual</DateTimeType><DaylightSavings>false</DaylightSavings>` +
			`<UTCDateTime><Time><Hour>1</Hour><Minute>2</Minute><Second>3</Second></Time><Date><Year>2026</Year><Month>1</Month><Day>2</Day></Date></UTCDateTime></SetSystemDateAndTime>`, ""},
		{"date before time", `<SetSystemDateAndTime><DateTimeType>Manual</DateTimeType><DaylightSavings>false</DaylightSavings>` +
			`<UTCDateTime><Date><Year>2026</Year></Date><Time><Hour>1</Hour></Time></UTCDateTime></SetSystemDateAndTime>`, "Time after Date in UTCDateTime"},
		{"profile token before stream setup", `<GetStreamUri><ProfileToken>P</ProfileToken><StreamSetup/></GetStreamUri>`, "StreamSetup after ProfileToken"},
		{"encoder fields per action", `<SetVideoEncoderConfiguration><Configuration token="a"><Name>n</Name><Resolution/><Encoding>H264</Encoding></Configuration></SetVideoEncoderConfiguration>`, "Encoding after Resolution"},
		{"same names elsewhere unchecked", `<SetVideoSourceConfiguration><Configuration token="a"><Encoding/><Name/></Configuration><ForcePersistence>true</ForcePersistence></SetVideoSourceConfiguration>`, ""},
		{"unknown children ignored", `<PullMessages><Timeout>PT1S</Timeout><Vendor/><MessageLimit>1</MessageLimit></PullMessages>`, ""},
		{"repeated elements allowed", `<SetNTP><FromDHCP>false</FromDHCP><NTPManual><Type>DNS</Type><DNSname>a</DNSname></NTPManual><NTPManual><Type>IPv4</Type><IPv4Address>1.2.3.4</IPv4Address></NTPManual></SetNTP>`, ""},
		{"velocity zoom before pan tilt", `<ContinuousMove><ProfileToken>P</ProfileToken><Velocity><Zoom x="1"/><PanTilt x="0" y="0"/></Velocity></ContinuousMove>`, "PanTilt after Zoom"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := checkOrder(env(tc.body))
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("checkOrder = %q, want %q", got, tc.want)
			}
		})
	}
}
