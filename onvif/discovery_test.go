package onvif

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/onvif/onvifsim"
)

// TestDiscoverLoopback probes the simulator's responder on 127.0.0.1 (never
// the real multicast group): the probes (NetworkVideoTransmitter and
// Device) are sent twice and the camera answers all four, yet it is listed
// once.
func TestDiscoverLoopback(t *testing.T) {
	sim := startSim(t, onvifsim.Options{DiscoveryName: "Front Door (Cam #1)",
		DeviceInfo: onvifsim.DeviceInfo{Model: "DS-2CD2143G0-I"}})
	for _, iface := range []string{"", "lo"} {
		before := sim.Probes()
		devs, err := Discover(testCtx(t), DiscoverOptions{Addr: sim.DiscoveryAddr(), Timeout: 600 * time.Millisecond, Interface: iface})
		if err != nil {
			t.Fatalf("interface %q: %v", iface, err)
		}
		if got := sim.Probes() - before; got != 4 {
			t.Fatalf("camera answered %d probes, want 4", got)
		}
		if len(devs) != 1 {
			t.Fatalf("%d devices: %+v", len(devs), devs)
		}
		d := devs[0]
		if d.Name != "Front Door (Cam #1)" || d.Hardware != "DS-2CD2143G0-I" ||
			!reflect.DeepEqual(d.XAddrs, []string{sim.URL()}) || !strings.HasPrefix(d.EndpointRef, "urn:uuid:") {
			t.Fatalf("device %+v", d)
		}
		if !reflect.DeepEqual(d.Types, []string{"NetworkVideoTransmitter", "Device"}) {
			t.Fatalf("types %v", d.Types)
		}
		// The discovered address works as a client URL.
		c := newClient(t, d.XAddrs[0], testUser, testPass, nil)
		if err := c.Connect(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDiscoverNothingAndCancel(t *testing.T) {
	// A silent target: nothing found, no error.
	sim := startSim(t, onvifsim.Options{})
	addr := sim.DiscoveryAddr()
	sim.Close()
	devs, err := Discover(testCtx(t), DiscoverOptions{Addr: addr, Timeout: 200 * time.Millisecond})
	if err != nil || len(devs) != 0 {
		t.Fatalf("silent network: %v %v", devs, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Discover(ctx, DiscoverOptions{Addr: addr, Timeout: time.Minute}); err != context.Canceled {
		t.Fatalf("cancelled discover = %v", err)
	}
	if _, err := Discover(testCtx(t), DiscoverOptions{Addr: addr, Interface: "no-such-if0"}); err == nil {
		t.Fatal("unknown interface accepted")
	}
}

const testProbeID = "urn:uuid:0b4f6c5e-1b2a-4c3d-8e9f-000000000001"

var probeMatchCases = []struct {
	name string
	xml  string
	want []Device
	err  bool
}{
	{
		name: "hikvision",
		xml: `<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:soapenc="http://www.w3.org/2003/05/soap-encoding" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">
<env:Header><wsa:MessageID>urn:uuid:7a2b5c1e-0000-0000-0000-bcbac9a5e2a1</wsa:MessageID><wsa:RelatesTo>` + testProbeID + `</wsa:RelatesTo><wsa:To env:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To><wsa:Action env:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action><d:AppSequence InstanceId="1700000000" MessageNumber="5"/></env:Header>
<env:Body><d:ProbeMatches><d:ProbeMatch><wsa:EndpointReference><wsa:Address>urn:uuid:54575a5b-4d42-4342-9c71-bcbac9a5e2a1</wsa:Address></wsa:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/MAC/bc:ba:c9:a5:e2:a1 onvif://www.onvif.org/hardware/DS-2CD2143G2-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I onvif://www.onvif.org/location/city/hangzhou</d:Scopes>
<d:XAddrs>http://192.168.1.64/onvif/device_service http://[fe80::beba:c9ff:fea5:e2a1]/onvif/device_service</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>`,
		want: []Device{{EndpointRef: "urn:uuid:54575a5b-4d42-4342-9c71-bcbac9a5e2a1",
			XAddrs: []string{"http://192.168.1.64/onvif/device_service", "http://[fe80::beba:c9ff:fea5:e2a1]/onvif/device_service"},
			Types:  []string{"NetworkVideoTransmitter", "Device"},
			Scopes: []string{"onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming", "onvif://www.onvif.org/MAC/bc:ba:c9:a5:e2:a1",
				"onvif://www.onvif.org/hardware/DS-2CD2143G2-I", "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I", "onvif://www.onvif.org/location/city/hangzhou"},
			Name: "HIKVISION DS-2CD2143G2-I", Hardware: "DS-2CD2143G2-I"}},
	},
	{
		name: "axis default namespaces, no RelatesTo, whitespace",
		xml: `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Header/>
<SOAP-ENV:Body><ProbeMatches xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery"><ProbeMatch>
<EndpointReference xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><Address> urn:uuid:Axis-00408c000001 </Address></EndpointReference>
<Types xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
  dn:NetworkVideoTransmitter
</Types>
<Scopes> onvif://www.onvif.org/name/AXIS%20P1435-LE
 onvif://www.onvif.org/hardware/P1435-LE </Scopes>
<XAddrs>http://10.0.0.7:80/onvif/device_service</XAddrs></ProbeMatch></ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
		want: []Device{{EndpointRef: "urn:uuid:Axis-00408c000001", XAddrs: []string{"http://10.0.0.7:80/onvif/device_service"},
			Types:  []string{"NetworkVideoTransmitter"},
			Scopes: []string{"onvif://www.onvif.org/name/AXIS%20P1435-LE", "onvif://www.onvif.org/hardware/P1435-LE"},
			Name:   "AXIS P1435-LE", Hardware: "P1435-LE"}},
	},
	{
		name: "two matches, bad escape kept raw",
		xml: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><ProbeMatches>
<ProbeMatch><EndpointReference><Address>urn:uuid:a</Address></EndpointReference><Scopes>onvif://www.onvif.org/name/100%_cam</Scopes><XAddrs>http://10.0.0.8/onvif/device_service</XAddrs></ProbeMatch>
<ProbeMatch><EndpointReference><Address>urn:uuid:b</Address></EndpointReference><XAddrs>http://10.0.0.9/onvif/device_service</XAddrs></ProbeMatch>
</ProbeMatches></s:Body></s:Envelope>`,
		want: []Device{
			{EndpointRef: "urn:uuid:a", XAddrs: []string{"http://10.0.0.8/onvif/device_service"}, Scopes: []string{"onvif://www.onvif.org/name/100%_cam"}, Name: "100%_cam"},
			{EndpointRef: "urn:uuid:b", XAddrs: []string{"http://10.0.0.9/onvif/device_service"}},
		},
	},
	{
		name: "answer to another probe",
		xml:  `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><RelatesTo>urn:uuid:other</RelatesTo></s:Header><s:Body><ProbeMatches><ProbeMatch><EndpointReference><Address>urn:uuid:x</Address></EndpointReference></ProbeMatch></ProbeMatches></s:Body></s:Envelope>`,
		err:  true,
	},
	{name: "a probe, not a match", err: true, xml: string(probeMessage("urn:uuid:1"))},
	{name: "garbage", err: true, xml: "\x00\x01hello"},
}

func TestParseProbeMatches(t *testing.T) {
	for _, tc := range probeMatchCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProbeMatches([]byte(tc.xml), testProbeID)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseProbeMatches(f *testing.F) {
	for _, tc := range probeMatchCases {
		f.Add([]byte(tc.xml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		devs, err := parseProbeMatches(data, testProbeID)
		if err == nil && len(devs) == 0 {
			t.Fatal("no error and no devices")
		}
		for _, d := range devs {
			if d.EndpointRef == "" && len(d.XAddrs) == 0 {
				t.Fatalf("device without identity: %+v", d)
			}
		}
	})
}
