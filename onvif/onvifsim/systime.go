package onvifsim

import (
	"strconv"
	"strings"
	"time"
)

// The camera's clock: date and time, time zone and NTP, as set over the
// device service.

// timeSettings returns the DateTimeType and POSIX TZ the camera reports.
func (s *Server) timeSettings() (string, string) {
	e := s.lockEvents()
	defer e.mu.Unlock()
	return e.dtType, e.tz
}

type dateTimeElem struct {
	Year   string `xml:"Date>Year"`
	Month  string `xml:"Date>Month"`
	Day    string `xml:"Date>Day"`
	Hour   string `xml:"Time>Hour"`
	Minute string `xml:"Time>Minute"`
	Second string `xml:"Time>Second"`
}

func (s *Server) setSystemDateAndTime(dtType string, tz *string, utc *dateTimeElem) (string, *fault) {
	dtType = strings.TrimSpace(dtType)
	if dtType != "Manual" && dtType != "NTP" {
		return "", errArg("DateTimeType must be Manual or NTP")
	}
	var newTZ string
	if tz != nil {
		newTZ = strings.TrimSpace(*tz)
		if !posixTZRE.MatchString(newTZ) {
			return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:InvalidTimeZone"}, reason: "TZ is not a POSIX time zone"}
		}
	}
	var skew time.Duration
	if dtType == "Manual" {
		if utc == nil {
			return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:InvalidDateTime"}, reason: "UTCDateTime required for Manual"}
		}
		var v [6]int
		for i, f := range []string{utc.Year, utc.Month, utc.Day, utc.Hour, utc.Minute, utc.Second} {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:InvalidDateTime"}, reason: "bad date"}
			}
			v[i] = n
		}
		if v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 59 {
			return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:InvalidDateTime"}, reason: "date out of range"}
		}
		t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC)
		skew = time.Until(t)
	}
	e := s.lockEvents()
	e.dtType = dtType
	if tz != nil {
		e.tz = newTZ
	}
	e.mu.Unlock()
	if dtType == "Manual" {
		s.SetClockSkew(skew)
	}
	return `<tds:SetSystemDateAndTimeResponse/>`, nil
}

// NTPServers returns the NTP servers set through SetNTP.
func (s *Server) NTPServers() []string {
	e := s.lockEvents()
	defer e.mu.Unlock()
	return append([]string(nil), e.ntp...)
}

func (s *Server) setNTP(fromDHCP string, servers []string) (string, *fault) {
	if fromDHCP != "true" && fromDHCP != "false" {
		return "", errArg("FromDHCP must be a boolean")
	}
	for _, sv := range servers {
		if sv == "" {
			return "", errArg("empty NTP server")
		}
	}
	e := s.lockEvents()
	defer e.mu.Unlock()
	if fromDHCP == "true" {
		servers = nil
	}
	e.ntp = servers
	return `<tds:SetNTPResponse/>`, nil
}

func (s *Server) getNTP() (string, *fault) {
	e := s.lockEvents()
	defer e.mu.Unlock()
	var b strings.Builder
	b.WriteString(`<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>false</tt:FromDHCP>`)
	for _, sv := range e.ntp {
		if strings.Trim(sv, "0123456789.") == "" {
			b.WriteString(`<tt:NTPManual><tt:Type>IPv4</tt:Type><tt:IPv4Address>` + esc(sv) + `</tt:IPv4Address></tt:NTPManual>`)
		} else {
			b.WriteString(`<tt:NTPManual><tt:Type>DNS</tt:Type><tt:DNSname>` + esc(sv) + `</tt:DNSname></tt:NTPManual>`)
		}
	}
	b.WriteString(`</tds:NTPInformation></tds:GetNTPResponse>`)
	return b.String(), nil
}
