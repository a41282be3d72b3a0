package onvifsim

import "strings"

// discoveryTypes is the Types list of the ProbeMatch, with the dn and tds
// prefixes the reply declares.
func (s *Server) discoveryTypes() string {
	if s.opts.DeviceTypeOnly {
		return "tds:Device"
	}
	return "dn:NetworkVideoTransmitter tds:Device"
}

// probeTypesMatch applies the WS-Discovery type rule: a probe matches when
// every type it lists is one the device announces (compared by local name);
// a probe without types matches any device.
func (s *Server) probeTypesMatch(probeTypes string) bool {
	have := map[string]bool{}
	for _, t := range strings.Fields(s.discoveryTypes()) {
		have[localPart(t)] = true
	}
	for _, t := range strings.Fields(probeTypes) {
		if !have[localPart(t)] {
			return false
		}
	}
	return true
}

func localPart(qname string) string {
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}
