package onvif

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/use-go/onvif/device"
	"github.com/use-go/onvif/xsd/onvif"
)

// DeviceInfo is what GetDeviceInformation reports; it fills cam_register.
type DeviceInfo struct {
	Manufacturer    string
	Model           string
	FirmwareVersion string
	SerialNumber    string
	HardwareID      string
}

// DeviceInfo asks the camera for its manufacturer, model, firmware and serial.
func (c *Client) DeviceInfo(ctx context.Context) (DeviceInfo, error) {
	var r struct {
		Manufacturer    string `xml:"Manufacturer"`
		Model           string `xml:"Model"`
		FirmwareVersion string `xml:"FirmwareVersion"`
		SerialNumber    string `xml:"SerialNumber"`
		HardwareID      string `xml:"HardwareId"`
	}
	addr, err := c.endpoint(func(s Services) string { return s.Device })
	if err != nil {
		return DeviceInfo{}, fmt.Errorf("onvif: get device information: %w", err)
	}
	err = c.call(ctx, "get device information", addr, nsDevice+"/GetDeviceInformation",
		device.GetDeviceInformation{}, true, "GetDeviceInformationResponse", &r)
	if err != nil {
		return DeviceInfo{}, err
	}
	t := strings.TrimSpace
	return DeviceInfo{
		Manufacturer:    t(r.Manufacturer),
		Model:           t(r.Model),
		FirmwareVersion: t(r.FirmwareVersion),
		SerialNumber:    t(r.SerialNumber),
		HardwareID:      t(r.HardwareID),
	}, nil
}

// xmlDateTime is the ONVIF tt:DateTime shape.
type xmlDateTime struct {
	Year   string `xml:"Date>Year"`
	Month  string `xml:"Date>Month"`
	Day    string `xml:"Date>Day"`
	Hour   string `xml:"Time>Hour"`
	Minute string `xml:"Time>Minute"`
	Second string `xml:"Time>Second"`
}

type systemDateTimeResponse struct {
	UTC   *xmlDateTime `xml:"SystemDateAndTime>UTCDateTime"`
	Local *xmlDateTime `xml:"SystemDateAndTime>LocalDateTime"`
}

// systemDateAndTime returns the camera's current UTC time. ONVIF allows it
// without credentials, which matters because the clock is needed to
// authenticate.
func (c *Client) systemDateAndTime(ctx context.Context, auth bool) (time.Time, error) {
	var r systemDateTimeResponse
	err := c.call(ctx, "get system date and time", c.url.String(), actionSystemDateAndTime,
		device.GetSystemDateAndTime{}, auth, "GetSystemDateAndTimeResponse", &r)
	if err != nil {
		return time.Time{}, err
	}
	return r.time()
}

func (r systemDateTimeResponse) time() (time.Time, error) {
	dt := r.UTC
	if dt == nil {
		// Without UTC we can only assume the local time is UTC; better
		// than nothing for cameras set to UTC, which most are.
		dt = r.Local
	}
	if dt == nil {
		return time.Time{}, errors.New("onvif: get system date and time: no date in response")
	}
	var v [6]int
	for i, s := range []string{dt.Year, dt.Month, dt.Day, dt.Hour, dt.Minute, dt.Second} {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return time.Time{}, fmt.Errorf("onvif: get system date and time: bad field %q", s)
		}
		v[i] = n
	}
	if v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60 {
		return time.Time{}, fmt.Errorf("onvif: get system date and time: out of range %v", v)
	}
	return time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC), nil
}

type servicesResponse struct {
	Service []struct {
		Namespace string `xml:"Namespace"`
		XAddr     string `xml:"XAddr"`
	} `xml:"Service"`
}

func (r servicesResponse) services() Services {
	var s Services
	for _, svc := range r.Service {
		addr := strings.TrimSpace(svc.XAddr)
		switch strings.TrimSpace(svc.Namespace) {
		case nsDevice:
			s.Device = addr
		case nsMedia:
			s.Media = addr
		case "http://www.onvif.org/ver20/media/wsdl":
			s.Media2 = addr
		case "http://www.onvif.org/ver20/ptz/wsdl":
			s.PTZ = addr
		case "http://www.onvif.org/ver10/events/wsdl":
			s.Events = addr
		case "http://www.onvif.org/ver20/imaging/wsdl":
			s.Imaging = addr
		case nsAnalytics:
			s.Analytics = addr
		}
	}
	return s
}

func (c *Client) getServices(ctx context.Context) (Services, error) {
	var r servicesResponse
	err := c.call(ctx, "get services", c.url.String(), nsDevice+"/GetServices",
		device.GetServices{IncludeCapability: false}, true, "GetServicesResponse", &r)
	if err != nil {
		return Services{}, err
	}
	return r.services(), nil
}

type capabilitiesResponse struct {
	Device  string `xml:"Capabilities>Device>XAddr"`
	Media   string `xml:"Capabilities>Media>XAddr"`
	PTZ     string `xml:"Capabilities>PTZ>XAddr"`
	Events  string `xml:"Capabilities>Events>XAddr"`
	Imaging string `xml:"Capabilities>Imaging>XAddr"`
	// Analytics here is the ver20 analytics service (cell motion engine).
	Analytics string `xml:"Capabilities>Analytics>XAddr"`
}

func (r capabilitiesResponse) services() Services {
	t := strings.TrimSpace
	return Services{Device: t(r.Device), Media: t(r.Media), PTZ: t(r.PTZ), Events: t(r.Events), Imaging: t(r.Imaging),
		Analytics: t(r.Analytics)}
}

func (c *Client) getCapabilities(ctx context.Context) (Services, error) {
	var r capabilitiesResponse
	err := c.call(ctx, "get capabilities", c.url.String(), nsDevice+"/GetCapabilities",
		device.GetCapabilities{Category: onvif.CapabilityCategory("All")}, true, "GetCapabilitiesResponse", &r)
	if err != nil {
		return Services{}, err
	}
	return r.services(), nil
}
