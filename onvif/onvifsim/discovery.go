package onvifsim

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// WS-Discovery (2005/04, as ONVIF uses it) names.
const (
	nsDiscovery   = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	nsAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsNetwork     = "http://www.onvif.org/ver10/network/wsdl"
	actionProbe   = nsDiscovery + "/Probe"
	actionMatches = nsDiscovery + "/ProbeMatches"
)

// discoveryState is the WS-Discovery responder: a UDP socket on 127.0.0.1
// standing in for the multicast group, so tests never touch the network.
type discoveryState struct {
	conn     *net.UDPConn
	done     chan struct{}
	endpoint string
	probes   int
}

type probeEnvelope struct {
	XMLName   xml.Name
	MessageID string `xml:"Header>MessageID"`
	Action    string `xml:"Header>Action"`
	Probe     *struct {
		XMLName xml.Name
		Types   string `xml:"Types"`
		Scopes  string `xml:"Scopes"`
	} `xml:"Body>Probe"`
}

func (s *Server) startDiscovery() error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("onvifsim: discovery listen: %w", err)
	}
	e := s.lockEvents()
	e.disco.conn = conn
	e.disco.done = make(chan struct{})
	e.disco.endpoint = "urn:uuid:" + uuid()
	done := e.disco.done
	e.mu.Unlock()
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return // closed
			}
			if reply := s.answerProbe(buf[:n]); reply != nil {
				_, _ = conn.WriteToUDP(reply, from)
			}
		}
	}()
	return nil
}

func (s *Server) closeDiscovery() {
	e := s.lockEvents()
	conn, done := e.disco.conn, e.disco.done
	e.disco.conn = nil
	e.mu.Unlock()
	if conn != nil {
		conn.Close()
		<-done
	}
}

// DiscoveryAddr is the 127.0.0.1 UDP address where the simulator answers
// WS-Discovery probes; point the client's probe target at it.
func (s *Server) DiscoveryAddr() string {
	e := s.lockEvents()
	defer e.mu.Unlock()
	if e.disco.conn == nil {
		return ""
	}
	return e.disco.conn.LocalAddr().String()
}

// Probes returns how many valid probes the simulator answered.
func (s *Server) Probes() int {
	e := s.lockEvents()
	defer e.mu.Unlock()
	return e.disco.probes
}

// answerProbe returns the ProbeMatches reply for a probe that asks for a
// NetworkVideoTransmitter (or for any type), and nil for anything else, as
// cameras stay silent on probes not meant for them.
func (s *Server) answerProbe(data []byte) []byte {
	var env probeEnvelope
	if xml.Unmarshal(data, &env) != nil || env.XMLName.Local != "Envelope" || env.XMLName.Space != nsSOAP ||
		env.Probe == nil || env.Probe.XMLName.Space != nsDiscovery ||
		strings.TrimSpace(env.Action) != actionProbe || strings.TrimSpace(env.MessageID) == "" {
		return nil
	}
	if !s.probeTypesMatch(env.Probe.Types) { // disctypes.go
		return nil
	}
	e := s.lockEvents()
	e.disco.probes++
	endpoint := e.disco.endpoint
	e.mu.Unlock()

	name := s.opts.DiscoveryName
	if name == "" {
		name = s.opts.DeviceInfo.Manufacturer + " " + s.opts.DeviceInfo.Model
	}
	scopes := []string{
		"onvif://www.onvif.org/type/video_encoder",
		"onvif://www.onvif.org/Profile/Streaming",
		"onvif://www.onvif.org/name/" + url.PathEscape(name),
		"onvif://www.onvif.org/hardware/" + url.PathEscape(s.opts.DeviceInfo.Model),
		"onvif://www.onvif.org/location/country/nowhere",
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<SOAP-ENV:Envelope xmlns:SOAP-ENV="` + nsSOAP + `" xmlns:wsa="` + nsAddressing + `" xmlns:d="` + nsDiscovery +
		`" xmlns:dn="` + nsNetwork + `" xmlns:tds="` + nsDevice + `"><SOAP-ENV:Header>` +
		`<wsa:MessageID>urn:uuid:` + uuid() + `</wsa:MessageID>` +
		`<wsa:RelatesTo>` + esc(strings.TrimSpace(env.MessageID)) + `</wsa:RelatesTo>` +
		`<wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>` +
		`<wsa:Action SOAP-ENV:mustUnderstand="true">` + actionMatches + `</wsa:Action>` +
		`</SOAP-ENV:Header><SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>` +
		`<wsa:EndpointReference><wsa:Address>` + endpoint + `</wsa:Address></wsa:EndpointReference>` +
		`<d:Types>` + s.discoveryTypes() + `</d:Types>` + // disctypes.go
		`<d:Scopes>` + esc(strings.Join(scopes, " ")) + `</d:Scopes>` +
		`<d:XAddrs>` + esc(s.advertisedBase()+DevicePath) + `</d:XAddrs>` +
		`<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>`)
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
