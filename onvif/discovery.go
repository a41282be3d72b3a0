package onvif

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/ipv4"
)

// WS-Discovery as ONVIF devices speak it (the 2005/04 draft over SOAP 1.2).
const (
	// DefaultDiscoveryAddr is the WS-Discovery multicast group and port.
	DefaultDiscoveryAddr = "239.255.255.250:3702"
	// DefaultDiscoveryTimeout is how long Discover listens when
	// DiscoverOptions.Timeout is zero.
	DefaultDiscoveryTimeout = 3 * time.Second

	nsDiscovery  = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	nsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"

	scopeName     = "onvif://www.onvif.org/name/"
	scopeHardware = "onvif://www.onvif.org/hardware/"
)

// maxProbeReply bounds one ProbeMatches datagram.
const maxProbeReply = 64 << 10

// DiscoverOptions configures Discover.
type DiscoverOptions struct {
	// Interface is the network interface to probe on, e.g. "eth0"; empty
	// lets the routing table choose.
	Interface string
	// Timeout is how long to collect answers; DefaultDiscoveryTimeout when
	// zero.
	Timeout time.Duration
	// Addr overrides the probe target DefaultDiscoveryAddr, e.g. to probe
	// one host by unicast or a simulator in tests.
	Addr string
}

// Device is an ONVIF camera that answered a WS-Discovery probe.
type Device struct {
	// EndpointRef identifies the device (usually urn:uuid:...); it is
	// stable across address changes.
	EndpointRef string
	// XAddrs are its device service URLs.
	XAddrs []string
	// Types are the advertised types without prefixes, e.g.
	// NetworkVideoTransmitter.
	Types  []string
	Scopes []string
	// Name and Hardware come from the onvif://www.onvif.org/name/ and
	// .../hardware/ scopes, unescaped; empty when not announced.
	Name     string
	Hardware string
}

// Discover probes for ONVIF cameras (dn:NetworkVideoTransmitter) and collects
// their answers until the timeout. The probe is sent twice, since UDP may be
// lost; a device answering more than once is listed once. When ctx ends
// early it returns what it found with ctx's error.
func Discover(ctx context.Context, opts DiscoverOptions) ([]Device, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultDiscoveryAddr
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultDiscoveryTimeout
	}
	raddr, err := net.ResolveUDPAddr("udp4", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("onvif: discover: target %q: %w", opts.Addr, err)
	}
	laddr := &net.UDPAddr{}
	var ifi *net.Interface
	if opts.Interface != "" {
		if ifi, err = net.InterfaceByName(opts.Interface); err != nil {
			return nil, fmt.Errorf("onvif: discover: %w", err)
		}
		ip, err := interfaceIPv4(ifi)
		if err != nil {
			return nil, fmt.Errorf("onvif: discover: %w", err)
		}
		laddr.IP = ip
	}
	conn, err := net.ListenUDP("udp4", laddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: discover: listen: %w", err)
	}
	defer conn.Close()
	if ifi != nil && raddr.IP.IsMulticast() {
		if err := ipv4.NewPacketConn(conn).SetMulticastInterface(ifi); err != nil {
			return nil, fmt.Errorf("onvif: discover: multicast interface %s: %w", ifi.Name, err)
		}
	}
	// Wake a blocked read when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()

	// Two probes: older devices announce dn:NetworkVideoTransmitter, later
	// ones may announce only tds:Device, and WS-Discovery answers only
	// probes whose every type the device has.
	msgID, devMsgID := "urn:uuid:"+newUUID(), "urn:uuid:"+newUUID()
	probes := [][]byte{probeMessage(msgID), typedProbe(devMsgID, "tds:Device")}
	for _, probe := range probes {
		if _, err := conn.WriteToUDP(probe, raddr); err != nil {
			return nil, fmt.Errorf("onvif: discover: send probe: %w", err)
		}
	}
	start := time.Now()
	end := start.Add(opts.Timeout)
	resendAt := start.Add(opts.Timeout / 3)
	resent := false
	found := make(map[string]*Device)
	var order []string
	buf := make([]byte, maxProbeReply)
	for {
		deadline := end
		if !resent {
			deadline = resendAt
		}
		if ctx.Err() == nil {
			_ = conn.SetReadDeadline(deadline)
		}
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return collect(found, order), fmt.Errorf("onvif: discover: read: %w", err)
			}
			if ctx.Err() != nil {
				return collect(found, order), ctx.Err()
			}
			if !resent {
				resent = true
				// A failed resend only loses the second chance.
				for _, probe := range probes {
					_, _ = conn.WriteToUDP(probe, raddr)
				}
				continue
			}
			return collect(found, order), nil
		}
		devs, err := parseProbeMatches(buf[:n], msgID)
		if err != nil {
			devs, err = parseProbeMatches(buf[:n], devMsgID)
		}
		if err != nil {
			continue // not for us, or garbage
		}
		for _, d := range devs {
			key := d.EndpointRef
			if key == "" && len(d.XAddrs) > 0 {
				key = d.XAddrs[0]
			}
			if prev := found[key]; prev != nil {
				prev.XAddrs = appendNew(prev.XAddrs, d.XAddrs...)
				continue
			}
			dev := d
			found[key] = &dev
			order = append(order, key)
		}
	}
}

func collect(found map[string]*Device, order []string) []Device {
	out := make([]Device, 0, len(order))
	for _, k := range order {
		out = append(out, *found[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].EndpointRef < out[j].EndpointRef })
	return out
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		dup := false
		for _, l := range list {
			dup = dup || l == m
		}
		if !dup {
			list = append(list, m)
		}
	}
	return list
}

func interfaceIPv4(ifi *net.Interface) (net.IP, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.To4(), nil
		}
	}
	return nil, fmt.Errorf("interface %s has no IPv4 address", ifi.Name)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// probeMessage is a WS-Discovery Probe for ONVIF video transmitters.
func probeMessage(msgID string) []byte {
	return typedProbe(msgID, "dn:NetworkVideoTransmitter")
}

// typedProbe is a WS-Discovery Probe for one type, a QName with the dn
// (network) or tds (device) prefix.
func typedProbe(msgID, typ string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddressing + `" xmlns:d="` + nsDiscovery +
		`" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="` + nsDevice + `"><s:Header>` +
		`<a:Action s:mustUnderstand="1">` + nsDiscovery + `/Probe</a:Action>` +
		`<a:MessageID>` + msgID + `</a:MessageID>` +
		`<a:ReplyTo><a:Address>` + nsAddressing + `/role/anonymous</a:Address></a:ReplyTo>` +
		`<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
		`</s:Header><s:Body><d:Probe><d:Types>` + typ + `</d:Types></d:Probe></s:Body></s:Envelope>`)
}

type probeMatchesEnvelope struct {
	XMLName   xml.Name
	RelatesTo string `xml:"Header>RelatesTo"`
	Matches   []struct {
		Address string `xml:"EndpointReference>Address"`
		Types   string `xml:"Types"`
		Scopes  string `xml:"Scopes"`
		XAddrs  string `xml:"XAddrs"`
	} `xml:"Body>ProbeMatches>ProbeMatch"`
}

var errNotProbeMatches = errors.New("not a probe match")

// parseProbeMatches decodes a ProbeMatches message. An answer to another
// probe (RelatesTo differs from msgID) is an error; one without RelatesTo is
// accepted, as some firmware omits it.
func parseProbeMatches(data []byte, msgID string) ([]Device, error) {
	var env probeMatchesEnvelope
	if err := newDecoder(data).Decode(&env); err != nil {
		return nil, fmt.Errorf("parse probe matches: %w", err)
	}
	if env.XMLName.Local != "Envelope" || len(env.Matches) == 0 {
		return nil, errNotProbeMatches
	}
	if rel := strings.TrimSpace(env.RelatesTo); rel != "" && msgID != "" && rel != msgID {
		return nil, errNotProbeMatches
	}
	out := make([]Device, 0, len(env.Matches))
	for _, m := range env.Matches {
		d := Device{
			EndpointRef: strings.TrimSpace(m.Address),
			XAddrs:      fields(m.XAddrs),
			Scopes:      fields(m.Scopes),
		}
		for _, t := range strings.Fields(m.Types) {
			d.Types = append(d.Types, localName(t))
		}
		for _, s := range d.Scopes {
			d.Name = scopeValue(d.Name, s, scopeName)
			d.Hardware = scopeValue(d.Hardware, s, scopeHardware)
		}
		if d.EndpointRef == "" && len(d.XAddrs) == 0 {
			continue
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errNotProbeMatches
	}
	return out, nil
}

// fields splits a whitespace-separated list; nil when empty.
func fields(s string) []string {
	if f := strings.Fields(s); len(f) > 0 {
		return f
	}
	return nil
}

// scopeValue returns cur, or the unescaped value of scope under prefix when
// cur is still empty.
func scopeValue(cur, scope, prefix string) string {
	if cur != "" || len(scope) <= len(prefix) || !strings.EqualFold(scope[:len(prefix)], prefix) {
		return cur
	}
	v := scope[len(prefix):]
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	return strings.TrimSpace(v)
}
