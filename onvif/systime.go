package onvif

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// SystemTime is the camera's clock setup.
type SystemTime struct {
	// UTC is the camera's current time by its own clock.
	UTC time.Time
	// TZ is the camera's time zone as a POSIX TZ string, e.g.
	// "CET-1CEST,M3.5.0,M10.5.0/3"; it only affects local-time displays
	// (OSD), never event times, which cameras stamp in UTC.
	TZ string
	// NTP is true when the camera sets its clock by NTP, false for manual.
	NTP             bool
	DaylightSavings bool
}

type systemTimeResponse struct {
	DateTimeType    string `xml:"SystemDateAndTime>DateTimeType"`
	DaylightSavings string `xml:"SystemDateAndTime>DaylightSavings"`
	TZ              string `xml:"SystemDateAndTime>TimeZone>TZ"`
	systemDateTimeResponse
}

// SystemTime reads the camera's clock and time settings.
func (c *Client) SystemTime(ctx context.Context) (SystemTime, error) {
	const op = "get system date and time"
	addr, err := c.endpoint(func(s Services) string { return s.Device })
	if err != nil {
		return SystemTime{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r systemTimeResponse
	if err := c.call(ctx, op, addr, actionSystemDateAndTime, emptyDeviceRequest("GetSystemDateAndTime"), true,
		"GetSystemDateAndTimeResponse", &r); err != nil {
		return SystemTime{}, err
	}
	t, err := r.time()
	if err != nil {
		return SystemTime{}, err
	}
	return SystemTime{
		UTC:             t,
		TZ:              strings.TrimSpace(r.TZ),
		NTP:             strings.TrimSpace(r.DateTimeType) == "NTP",
		DaylightSavings: strings.TrimSpace(r.DaylightSavings) == "true",
	}, nil
}

// deviceRequest is a device-service request with no arguments.
type deviceRequest struct {
	XMLName xml.Name
}

func emptyDeviceRequest(action string) deviceRequest {
	return deviceRequest{XMLName: xml.Name{Space: nsDevice, Local: action}}
}

type schemaDate struct {
	Year  int `xml:"http://www.onvif.org/ver10/schema Year"`
	Month int `xml:"http://www.onvif.org/ver10/schema Month"`
	Day   int `xml:"http://www.onvif.org/ver10/schema Day"`
}

type schemaTime struct {
	Hour   int `xml:"http://www.onvif.org/ver10/schema Hour"`
	Minute int `xml:"http://www.onvif.org/ver10/schema Minute"`
	Second int `xml:"http://www.onvif.org/ver10/schema Second"`
}

// schemaDateTime is tt:DateTime, whose XSD sequence puts Time before Date;
// strict cameras reject the other order.
type schemaDateTime struct {
	Time schemaTime `xml:"http://www.onvif.org/ver10/schema Time"`
	Date schemaDate `xml:"http://www.onvif.org/ver10/schema Date"`
}

type schemaTimeZone struct {
	TZ string `xml:"http://www.onvif.org/ver10/schema TZ"`
}

type setSystemDateAndTimeRequest struct {
	XMLName         xml.Name        `xml:"http://www.onvif.org/ver10/device/wsdl SetSystemDateAndTime"`
	DateTimeType    string          `xml:"DateTimeType"`
	DaylightSavings bool            `xml:"DaylightSavings"`
	TimeZone        *schemaTimeZone `xml:"TimeZone,omitempty"`
	UTCDateTime     *schemaDateTime `xml:"UTCDateTime,omitempty"`
}

func toSchemaDateTime(t time.Time) *schemaDateTime {
	t = t.UTC()
	return &schemaDateTime{
		Time: schemaTime{Hour: t.Hour(), Minute: t.Minute(), Second: t.Second()},
		Date: schemaDate{Year: t.Year(), Month: int(t.Month()), Day: t.Day()},
	}
}

func (c *Client) setSystemDateAndTime(ctx context.Context, op string, req setSystemDateAndTimeRequest) error {
	addr, err := c.endpoint(func(s Services) string { return s.Device })
	if err != nil {
		return fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct{}
	return c.call(ctx, op, addr, nsDevice+"/SetSystemDateAndTime", req, true, "SetSystemDateAndTimeResponse", &r)
}

// SetTimeZone sets the camera's time zone, given as a POSIX TZ string
// ("CET-1CEST,M3.5.0,M10.5.0/3") or an IANA name ("Europe/Berlin"), which
// is converted with PosixTZ. The clock and its NTP/manual mode are kept. It
// returns the settings read back.
func (c *Client) SetTimeZone(ctx context.Context, tz string) (SystemTime, error) {
	const op = "set time zone"
	posix, err := PosixTZ(tz)
	if err != nil {
		return SystemTime{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	cur, err := c.SystemTime(ctx)
	if err != nil {
		return SystemTime{}, err
	}
	req := setSystemDateAndTimeRequest{DateTimeType: "Manual", DaylightSavings: cur.DaylightSavings,
		TimeZone: &schemaTimeZone{TZ: posix}}
	if cur.NTP {
		req.DateTimeType = "NTP"
	} else {
		// Manual mode requires a time: send the camera's own, so only the
		// zone changes.
		req.UTCDateTime = toSchemaDateTime(time.Now().Add(c.ClockOffset()))
	}
	if err := c.setSystemDateAndTime(ctx, op, req); err != nil {
		return SystemTime{}, err
	}
	return c.SystemTime(ctx)
}

// SyncTime sets the camera's clock manually to this machine's UTC time,
// keeping its time zone, then measures the clock offset again. It switches a
// camera from NTP to manual time; use SetNTP to go back.
func (c *Client) SyncTime(ctx context.Context) (SystemTime, error) {
	const op = "sync time"
	cur, err := c.SystemTime(ctx)
	if err != nil {
		return SystemTime{}, err
	}
	req := setSystemDateAndTimeRequest{DateTimeType: "Manual", DaylightSavings: cur.DaylightSavings}
	if cur.TZ != "" {
		req.TimeZone = &schemaTimeZone{TZ: cur.TZ}
	}
	// The camera keeps whole seconds; round so it lands within half a
	// second of true time.
	req.UTCDateTime = toSchemaDateTime(time.Now().Add(500 * time.Millisecond))
	if err := c.setSystemDateAndTime(ctx, op, req); err != nil {
		return SystemTime{}, err
	}
	if err := c.syncClock(ctx); err != nil {
		return SystemTime{}, fmt.Errorf("onvif: %s: measure clock: %w", op, err)
	}
	return c.SystemTime(ctx)
}

type ntpHost struct {
	Type        string `xml:"http://www.onvif.org/ver10/schema Type"`
	IPv4Address string `xml:"http://www.onvif.org/ver10/schema IPv4Address,omitempty"`
	IPv6Address string `xml:"http://www.onvif.org/ver10/schema IPv6Address,omitempty"`
	DNSname     string `xml:"http://www.onvif.org/ver10/schema DNSname,omitempty"`
}

type setNTPRequest struct {
	XMLName   xml.Name  `xml:"http://www.onvif.org/ver10/device/wsdl SetNTP"`
	FromDHCP  bool      `xml:"FromDHCP"`
	NTPManual []ntpHost `xml:"NTPManual"`
}

type ntpResponse struct {
	FromDHCP string    `xml:"NTPInformation>FromDHCP"`
	Manual   []ntpHost `xml:"NTPInformation>NTPManual"`
	DHCP     []ntpHost `xml:"NTPInformation>NTPFromDHCP"`
}

func (h ntpHost) String() string {
	return strings.TrimSpace(h.IPv4Address + h.IPv6Address + h.DNSname)
}

// SetNTP makes the camera take its time from the given NTP servers (host
// names or IP addresses; empty means the servers DHCP announces) and
// switches it to NTP time, keeping its time zone. It returns the servers
// the camera reports afterwards.
func (c *Client) SetNTP(ctx context.Context, servers []string) ([]string, error) {
	const op = "set ntp"
	addr, err := c.endpoint(func(s Services) string { return s.Device })
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := setNTPRequest{FromDHCP: len(servers) == 0}
	for _, s := range servers {
		s = strings.TrimSpace(s)
		ip := net.ParseIP(s)
		switch {
		case s == "":
			return nil, fmt.Errorf("onvif: %s: empty server name", op)
		case ip != nil && ip.To4() != nil:
			req.NTPManual = append(req.NTPManual, ntpHost{Type: "IPv4", IPv4Address: s})
		case ip != nil:
			req.NTPManual = append(req.NTPManual, ntpHost{Type: "IPv6", IPv6Address: s})
		default:
			req.NTPManual = append(req.NTPManual, ntpHost{Type: "DNS", DNSname: s})
		}
	}
	var r struct{}
	if err := c.call(ctx, op, addr, nsDevice+"/SetNTP", req, true, "SetNTPResponse", &r); err != nil {
		return nil, err
	}
	cur, err := c.SystemTime(ctx)
	if err != nil {
		return nil, err
	}
	if !cur.NTP {
		tsr := setSystemDateAndTimeRequest{DateTimeType: "NTP", DaylightSavings: cur.DaylightSavings}
		if cur.TZ != "" {
			tsr.TimeZone = &schemaTimeZone{TZ: cur.TZ}
		}
		if err := c.setSystemDateAndTime(ctx, op, tsr); err != nil {
			return nil, err
		}
	}
	var nr ntpResponse
	if err := c.call(ctx, "get ntp", addr, nsDevice+"/GetNTP", emptyDeviceRequest("GetNTP"), true, "GetNTPResponse", &nr); err != nil {
		return nil, err
	}
	hosts := nr.Manual
	if strings.TrimSpace(nr.FromDHCP) == "true" {
		hosts = nr.DHCP
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if s := h.String(); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// posixTZPattern recognises strings that already are POSIX TZ values, such
// as "UTC0", "EST5EDT,M3.2.0,M11.1.0" or "<+0330>-3:30".
var posixTZPattern = regexp.MustCompile(`^(?:[A-Za-z]{3,}|<[+\-0-9A-Za-z]+>)[+-]?\d{1,2}(?::\d{2}){0,2}` +
	`(?:(?:[A-Za-z]{3,}|<[+\-0-9A-Za-z]+>)(?:[+-]?\d{1,2}(?::\d{2}){0,2})?` +
	`(?:,(?:M\d{1,2}\.\d\.\d|J?\d{1,3})(?:/[+-]?\d{1,3}(?::\d{2}){0,2})?){2})?$`)

// zoneinfoDirs are where Unix systems keep the IANA time zone database.
var zoneinfoDirs = []string{"/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/", "/etc/zoneinfo/"}

// PosixTZ converts an IANA time zone name such as "Europe/Berlin" to the
// POSIX TZ string cameras expect ("CET-1CEST,M3.5.0,M10.5.0/3"). It reads
// the rule the tz database stores at the end of each zone file (TZif
// version 2 and later), from the system's zoneinfo or Go's own copy. A
// string that already is a POSIX TZ is returned unchanged.
func PosixTZ(name string) (string, error) {
	name = strings.TrimSpace(name)
	if posixTZPattern.MatchString(name) {
		return name, nil
	}
	switch name {
	case "", "UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Zulu":
		return "UTC0", nil
	}
	// LoadLocation validates the name (no "..", no absolute paths).
	if _, err := time.LoadLocation(name); err != nil || strings.HasPrefix(name, "/") || name == "Local" {
		return "", fmt.Errorf("time zone %q: unknown", name)
	}
	data, err := readZoneFile(name)
	if err != nil {
		return "", fmt.Errorf("time zone %q: %w", name, err)
	}
	tz, err := tzifFooter(data)
	if err != nil {
		return "", fmt.Errorf("time zone %q: %w", name, err)
	}
	return tz, nil
}

func readZoneFile(name string) ([]byte, error) {
	dirs := zoneinfoDirs
	if z := os.Getenv("ZONEINFO"); z != "" {
		if strings.HasSuffix(z, ".zip") {
			if data, err := readZip(z, name); err == nil {
				return data, nil
			}
		} else {
			dirs = append([]string{z + "/"}, dirs...)
		}
	}
	for _, d := range dirs {
		if data, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(name))); err == nil {
			return data, nil
		}
	}
	return readZip(filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip"), name)
}

func readZip(path, name string) ([]byte, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, errors.New("no zone database found")
	}
	defer zr.Close()
	f, err := zr.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// tzifFooter returns the POSIX TZ rule after the last newline pair of a
// TZif file of version 2 or later.
func tzifFooter(data []byte) (string, error) {
	if len(data) < 44 || string(data[:4]) != "TZif" || data[4] < '2' {
		return "", errors.New("zone file has no POSIX rule (TZif version 1)")
	}
	if data[len(data)-1] != '\n' {
		return "", errors.New("zone file footer missing")
	}
	body := data[:len(data)-1]
	i := bytes.LastIndexByte(body, '\n')
	if i < 0 {
		return "", errors.New("zone file footer missing")
	}
	tz := string(body[i+1:])
	if !posixTZPattern.MatchString(tz) {
		return "", fmt.Errorf("zone rule %q not usable", tz)
	}
	return tz, nil
}
