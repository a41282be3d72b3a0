package onvifsim

import (
	"cmp"
	"fmt"
	"strings"
)

// Response bodies use the tds/trt/tt prefixes declared by writeEnvelope.

func (s *Server) deviceHandlers() map[string]func(action) (string, *fault) {
	return map[string]func(action) (string, *fault){
		"GetSystemDateAndTime": s.getSystemDateAndTime,
		"GetDeviceInformation": s.getDeviceInformation,
		"GetCapabilities":      s.getCapabilities,
		"GetServices":          s.getServices,
	}
}

func (s *Server) mediaHandlers() map[string]func(action) (string, *fault) {
	return map[string]func(action) (string, *fault){
		"GetProfiles":                         s.getProfiles,
		"GetStreamUri":                        s.getStreamURI,
		"GetSnapshotUri":                      s.getSnapshotURI,
		"GetVideoEncoderConfigurations":       s.getVideoEncoderConfigurations,
		"GetVideoEncoderConfiguration":        s.getVideoEncoderConfiguration,
		"GetVideoEncoderConfigurationOptions": s.videoEncoderOptions, // encoder.go
	}
}

func (s *Server) getSystemDateAndTime(action) (string, *fault) {
	t := s.Now().UTC()
	dt := fmt.Sprintf(`<tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time>`+
		`<tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date>`,
		t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day())
	dtType, tz := s.timeSettings() // events.go
	return `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>` +
		`<tt:DateTimeType>` + dtType + `</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>` +
		`<tt:TimeZone><tt:TZ>` + esc(tz) + `</tt:TZ></tt:TimeZone>` +
		`<tt:UTCDateTime>` + dt + `</tt:UTCDateTime><tt:LocalDateTime>` + dt + `</tt:LocalDateTime>` +
		`</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`, nil
}

func (s *Server) getDeviceInformation(action) (string, *fault) {
	d := s.opts.DeviceInfo
	return `<tds:GetDeviceInformationResponse>` +
		`<tds:Manufacturer>` + esc(d.Manufacturer) + `</tds:Manufacturer>` +
		`<tds:Model>` + esc(d.Model) + `</tds:Model>` +
		`<tds:FirmwareVersion>` + esc(d.FirmwareVersion) + `</tds:FirmwareVersion>` +
		`<tds:SerialNumber>` + esc(d.SerialNumber) + `</tds:SerialNumber>` +
		`<tds:HardwareId>` + esc(d.HardwareID) + `</tds:HardwareId>` +
		`</tds:GetDeviceInformationResponse>`, nil
}

func (s *Server) getCapabilities(action) (string, *fault) {
	base := s.advertisedBase()
	return s.deadAddrs(base, `<tds:GetCapabilitiesResponse><tds:Capabilities>`+ // quirks.go
		`<tt:Device><tt:XAddr>`+base+DevicePath+`</tt:XAddr></tt:Device>`+
		s.mediaCapabilities(base)+ // media2.go
		s.eventsCapabilities(base)+ // events.go
		s.settingsCapabilities(base)+ // settings.go
		`</tds:Capabilities></tds:GetCapabilitiesResponse>`), nil
}

func (s *Server) getServices(action) (string, *fault) {
	base := s.advertisedBase()
	svc := func(ns, path string) string {
		if ns == nsPTZ && s.opts.ServicesOmitPTZ { // quirks.go
			return ""
		}
		return `<tds:Service><tds:Namespace>` + ns + `</tds:Namespace><tds:XAddr>` + base + path +
			`</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>`
	}
	return s.deadAddrs(base, `<tds:GetServicesResponse>`+svc(nsDevice, DevicePath)+s.mediaServices(svc)+ // media2.go
		s.eventsServices(svc)+ // events.go
		s.settingsServices(svc)+ // settings.go
		`</tds:GetServicesResponse>`), nil
}

func (s *Server) profile(token *string) (Profile, *fault) {
	if token != nil {
		for _, p := range s.profiles() {
			if p.Token == strings.TrimSpace(*token) {
				return p, nil
			}
		}
	}
	return Profile{}, &fault{subcodes: []string{"ter:InvalidArgVal", "ter:NoProfile"}, reason: "Profile token does not exist"}
}

func encoderToken(p Profile) string { return "VideoEncoder_" + p.Token }

func (s *Server) getProfiles(action) (string, *fault) {
	var b strings.Builder
	b.WriteString(`<trt:GetProfilesResponse>`)
	for _, p := range s.profiles() {
		fmt.Fprintf(&b, `<trt:Profiles token="%s" fixed="true"><tt:Name>%s</tt:Name>`, esc(p.Token), esc(p.Name))
		fmt.Fprintf(&b, `<tt:VideoSourceConfiguration token="VideoSourceConfig_1"><tt:Name>VideoSourceConfig</tt:Name>`+
			`<tt:UseCount>%d</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>`+
			`<tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>`, len(s.opts.Profiles))
		if p.AudioEncoding != "" {
			b.WriteString(`<tt:AudioSourceConfiguration token="AudioSourceConfig_1"><tt:Name>AudioSourceConfig</tt:Name>` +
				`<tt:UseCount>1</tt:UseCount><tt:SourceToken>AudioSource_1</tt:SourceToken></tt:AudioSourceConfiguration>`)
		}
		b.WriteString(s.videoEncoderXML("tt:VideoEncoderConfiguration", p))
		b.WriteString(s.audioEncoderProfileXML(p))
		b.WriteString(s.analyticsProfileXML()) // analytics.go
		b.WriteString(s.settingsProfileXML(p))
		b.WriteString(`</trt:Profiles>`)
	}
	b.WriteString(`</trt:GetProfilesResponse>`)
	return b.String(), nil
}

func (s *Server) getStreamURI(a action) (string, *fault) {
	p, f := s.profile(a.ProfileToken)
	if f != nil {
		return "", f
	}
	if (a.Stream != "RTP-Unicast" && a.Stream != "RTP-Multicast") ||
		(a.Protocol != "UDP" && a.Protocol != "TCP" && a.Protocol != "RTSP" && a.Protocol != "HTTP") {
		return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:InvalidStreamSetup"}, reason: "Invalid StreamSetup"}
	}
	if p.BrokenStreamURI {
		return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:NoProfile"}, reason: "Profile has no stream configured"}
	}
	uri := cmp.Or(p.RTSPURL, s.opts.RTSPURL)
	if uri == "" {
		uri = "rtsp://127.0.0.1:554/" + p.Token
	}
	return mediaURI("GetStreamUriResponse", uri), nil
}

func (s *Server) getSnapshotURI(a action) (string, *fault) {
	if _, f := s.profile(a.ProfileToken); f != nil {
		return "", f
	}
	uri := s.opts.SnapshotURL
	if uri == "" {
		uri = "http://" + s.ln.Addr().String() + SnapshotPath
	}
	return mediaURI("GetSnapshotUriResponse", uri), nil
}

func mediaURI(elem, uri string) string {
	return `<trt:` + elem + `><trt:MediaUri><tt:Uri>` + esc(uri) + `</tt:Uri>` +
		`<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>` +
		`<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:` + elem + `>`
}

func (s *Server) getVideoEncoderConfigurations(action) (string, *fault) {
	var b strings.Builder
	b.WriteString(`<trt:GetVideoEncoderConfigurationsResponse>`)
	for _, p := range s.profiles() {
		b.WriteString(s.videoEncoderXML("trt:Configurations", p))
	}
	b.WriteString(`</trt:GetVideoEncoderConfigurationsResponse>`)
	return b.String(), nil
}

func (s *Server) encoder(token *string) (Profile, *fault) {
	if token != nil {
		for _, p := range s.profiles() {
			if encoderToken(p) == strings.TrimSpace(*token) {
				return p, nil
			}
		}
	}
	return Profile{}, &fault{subcodes: []string{"ter:InvalidArgVal", "ter:NoConfig"}, reason: "Configuration token does not exist"}
}

func (s *Server) getVideoEncoderConfiguration(a action) (string, *fault) {
	p, f := s.encoder(a.ConfigurationToken)
	if f != nil {
		return "", f
	}
	return `<trt:GetVideoEncoderConfigurationResponse>` + s.videoEncoderXML("trt:Configuration", p) +
		`</trt:GetVideoEncoderConfigurationResponse>`, nil
}

// standardResolutions are offered on top of the profiles' own sizes.
var standardResolutions = [][2]int{{1920, 1080}, {1280, 720}, {704, 576}, {640, 360}, {352, 288}}

func (s *Server) getVideoEncoderConfigurationOptions(a action) (string, *fault) {
	if a.ProfileToken != nil {
		if _, f := s.profile(a.ProfileToken); f != nil {
			return "", f
		}
	}
	if a.ConfigurationToken != nil {
		if _, f := s.encoder(a.ConfigurationToken); f != nil {
			return "", f
		}
	}
	res := append([][2]int(nil), standardResolutions...)
	for _, p := range s.profiles() {
		found := false
		for _, r := range res {
			found = found || (r[0] == p.Width && r[1] == p.Height)
		}
		if !found {
			res = append(res, [2]int{p.Width, p.Height})
		}
	}
	var rs strings.Builder
	for _, r := range res {
		fmt.Fprintf(&rs, `<tt:ResolutionsAvailable><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:ResolutionsAvailable>`, r[0], r[1])
	}
	rng := func(elem string, min, max int) string {
		return fmt.Sprintf(`<tt:%s><tt:Min>%d</tt:Min><tt:Max>%d</tt:Max></tt:%s>`, elem, min, max, elem)
	}
	h264 := rs.String() + rng("GovLengthRange", 1, 400) + rng("FrameRateRange", 1, 30) + rng("EncodingIntervalRange", 1, 1) +
		`<tt:H264ProfilesSupported>Baseline</tt:H264ProfilesSupported><tt:H264ProfilesSupported>Main</tt:H264ProfilesSupported>` +
		`<tt:H264ProfilesSupported>High</tt:H264ProfilesSupported>`
	jpeg := rs.String() + rng("FrameRateRange", 1, 30) + rng("EncodingIntervalRange", 1, 1)
	return `<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options>` + rng("QualityRange", 1, 6) +
		`<tt:JPEG>` + jpeg + `</tt:JPEG><tt:H264>` + h264 + `</tt:H264>` +
		`<tt:Extension><tt:JPEG>` + jpeg + rng("BitrateRange", 32, 16384) + `</tt:JPEG>` +
		`<tt:H264>` + h264 + rng("BitrateRange", 32, 16384) + `</tt:H264></tt:Extension>` +
		`</trt:Options></trt:GetVideoEncoderConfigurationOptionsResponse>`, nil
}
