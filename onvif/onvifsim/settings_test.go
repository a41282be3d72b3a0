package onvifsim

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	ttNS   = ` xmlns:tt="http://www.onvif.org/ver10/schema"`
	ptzNS  = ` xmlns="` + nsPTZ + `"`
	imgNS  = ` xmlns="` + nsImaging + `"`
	vecOK  = `<Velocity><tt:PanTilt` + ttNS + ` x="0.5" y="0"/></Velocity>`
	encCfg = `<tt:Name>mainStream_video</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>` +
		`<tt:Resolution><tt:Width>1280</tt:Width><tt:Height>720</tt:Height></tt:Resolution><tt:Quality>4</tt:Quality>` +
		`<tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>` +
		`<tt:BitrateLimit>2048</tt:BitrateLimit></tt:RateControl><tt:H264><tt:GovLength>50</tt:GovLength>` +
		`<tt:H264Profile>Main</tt:H264Profile></tt:H264>`
	multicast = `<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>` +
		`<tt:Port>0</tt:Port><tt:TTL>5</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:SessionTimeout>PT5S</tt:SessionTimeout>`
)

func setEncoder(cfg, force string) string {
	return `<trt:SetVideoEncoderConfiguration><trt:Configuration token="VideoEncoder_Profile_1"` + ttNS + `>` + cfg +
		`</trt:Configuration>` + force + `</trt:SetVideoEncoderConfiguration>`
}

func postSOAP(t *testing.T, s *Server, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+s.Addr()+path, "application/soap+xml", strings.NewReader(envelope(nsSOAP, "", body)))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(data)
}

func startSettingsSim(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestSimSettingsRejects checks the settings services refuse what a strict
// camera refuses, with the ONVIF fault subcodes.
func TestSimSettingsRejects(t *testing.T) {
	s := startSettingsSim(t, Options{})
	force := `<trt:ForcePersistence>true</trt:ForcePersistence>`
	cases := []struct {
		name       string
		path       string
		body       string
		wantStatus int
		wantInBody string
	}{
		{"encoder ok", MediaPath, setEncoder(encCfg+multicast, force), 200, "SetVideoEncoderConfigurationResponse"},
		{"encoder without multicast", MediaPath, setEncoder(encCfg, force), 400, "ter:ConfigModify"},
		{"encoder without force persistence", MediaPath, setEncoder(encCfg+multicast, ""), 400, "ter:ConfigModify"},
		{"encoder resolution not offered", MediaPath, setEncoder(strings.Replace(encCfg, "1280", "1000", 1)+multicast, force), 400, "ter:ConfigModify"},
		{"encoder bitrate too high", MediaPath, setEncoder(strings.Replace(encCfg, "2048", "99999", 1)+multicast, force), 400, "ter:ConfigModify"},
		{"encoder h265", MediaPath, setEncoder(strings.Replace(encCfg, ">H264<", ">H265<", 1)+multicast, force), 400, "ter:ConfigModify"},
		{"encoder unknown token", MediaPath, strings.Replace(setEncoder(encCfg+multicast, force), "VideoEncoder_Profile_1", "x", 1), 400, "ter:NoConfig"},
		{"move ok", PTZPath, `<ContinuousMove` + ptzNS + `><ProfileToken>Profile_1</ProfileToken>` + vecOK + `<Timeout>PT1S</Timeout></ContinuousMove>`, 200, "ContinuousMoveResponse"},
		{"move empty timeout", PTZPath, `<ContinuousMove` + ptzNS + `><ProfileToken>Profile_1</ProfileToken>` + vecOK + `<Timeout></Timeout></ContinuousMove>`, 400, "ter:InvalidArgVal"},
		{"move bad timeout", PTZPath, `<ContinuousMove` + ptzNS + `><ProfileToken>Profile_1</ProfileToken>` + vecOK + `<Timeout>1s</Timeout></ContinuousMove>`, 400, "ter:InvalidArgVal"},
		{"move velocity out of space", PTZPath, `<ContinuousMove` + ptzNS + `><ProfileToken>Profile_1</ProfileToken><Velocity><tt:PanTilt` + ttNS + ` x="2" y="0"/></Velocity></ContinuousMove>`, 400, "ter:InvalidVelocity"},
		{"move unknown profile", PTZPath, `<ContinuousMove` + ptzNS + `><ProfileToken>P9</ProfileToken>` + vecOK + `</ContinuousMove>`, 400, "ter:NoProfile"},
		{"goto unknown preset", PTZPath, `<GotoPreset` + ptzNS + `><ProfileToken>Profile_1</ProfileToken><PresetToken>nope</PresetToken></GotoPreset>`, 400, "ter:NoToken"},
		{"ptz action on media path", MediaPath, `<ContinuousMove` + ptzNS + `><ProfileToken>Profile_1</ProfileToken>` + vecOK + `</ContinuousMove>`, 500, "ActionNotSupported"},
		{"imaging out of range", ImagingPath, `<SetImagingSettings` + imgNS + `><VideoSourceToken>VideoSource_1</VideoSourceToken><ImagingSettings><tt:Sharpness` + ttNS + `>50</tt:Sharpness></ImagingSettings></SetImagingSettings>`, 400, "ter:SettingsInvalid"},
		{"imaging unknown ir mode", ImagingPath, `<SetImagingSettings` + imgNS + `><VideoSourceToken>VideoSource_1</VideoSourceToken><ImagingSettings><tt:IrCutFilter` + ttNS + `>NIGHT</tt:IrCutFilter></ImagingSettings></SetImagingSettings>`, 400, "ter:SettingsInvalid"},
		{"imaging unknown source", ImagingPath, `<GetImagingSettings` + imgNS + `><VideoSourceToken>VS9</VideoSourceToken></GetImagingSettings>`, 400, "ter:NoSource"},
		{"osd font too big", MediaPath, `<trt:SetOSD><trt:OSD token="OSD_1"` + ttNS + `><tt:VideoSourceConfigurationToken>VideoSourceConfig_1</tt:VideoSourceConfigurationToken><tt:Type>Text</tt:Type><tt:Position><tt:Type>UpperLeft</tt:Type></tt:Position><tt:TextString><tt:Type>Plain</tt:Type><tt:FontSize>99</tt:FontSize><tt:PlainText>x</tt:PlainText></tt:TextString></trt:OSD></trt:SetOSD>`, 400, "ter:ConfigModify"},
		{"osd image type", MediaPath, `<trt:CreateOSD><trt:OSD token=""` + ttNS + `><tt:VideoSourceConfigurationToken>VideoSourceConfig_1</tt:VideoSourceConfigurationToken><tt:Type>Image</tt:Type><tt:Position><tt:Type>UpperLeft</tt:Type></tt:Position></trt:OSD></trt:CreateOSD>`, 400, "ter:ConfigModify"},
		{"audio output level not integer", MediaPath, `<trt:SetAudioOutputConfiguration><trt:Configuration token="AudioOutputConfig_1"` + ttNS + `><tt:Name>a</tt:Name><tt:UseCount>1</tt:UseCount><tt:OutputToken>AudioOutput_1</tt:OutputToken><tt:OutputLevel>50.5</tt:OutputLevel></trt:Configuration>` + force + `</trt:SetAudioOutputConfiguration>`, 400, "ter:ConfigModify"},
		{"rotate auto not offered", MediaPath, `<trt:SetVideoSourceConfiguration><trt:Configuration token="VideoSourceConfig_1"` + ttNS + `><tt:Name>v</tt:Name><tt:UseCount>1</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/><tt:Extension><tt:Rotate><tt:Mode>AUTO</tt:Mode></tt:Rotate></tt:Extension></trt:Configuration>` + force + `</trt:SetVideoSourceConfiguration>`, 400, "ter:ConfigModify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postSOAP(t, s, tc.path, tc.body)
			if status != tc.wantStatus || !strings.Contains(body, tc.wantInBody) {
				t.Errorf("status %d, body %s; want %d with %q", status, body, tc.wantStatus, tc.wantInBody)
			}
		})
	}
	// Only the valid encoder request changed anything.
	if p := s.profiles()[0]; p.Width != 1280 || p.BitrateKbps != 2048 {
		t.Errorf("profile after the valid set = %+v", p)
	}
}

// TestSimMoveWithoutTimeout records a Timeout-less move (which real cameras
// accept, running until their default timeout) so client tests can assert
// the client never sends one.
func TestSimMoveWithoutTimeout(t *testing.T) {
	s := startSettingsSim(t, Options{})
	status, body := postSOAP(t, s, PTZPath, `<ContinuousMove`+ptzNS+`><ProfileToken>Profile_1</ProfileToken>`+vecOK+`</ContinuousMove>`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	moves := s.Moves()
	if len(moves) != 1 || moves[0].HasTimeout || moves[0].Timeout != defaultPTZTimeout || moves[0].Pan != 0.5 {
		t.Errorf("moves = %+v", moves)
	}
	if !strings.Contains(s.LastRequest("ContinuousMove"), "<ProfileToken>Profile_1</ProfileToken>") {
		t.Errorf("last request = %s", s.LastRequest("ContinuousMove"))
	}
}

func TestSimNoPTZ(t *testing.T) {
	s := startSettingsSim(t, Options{NoPTZ: true, NoImaging: true, NoOSD: true})
	_, services := postSOAP(t, s, DevicePath, `<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>`)
	_, caps := postSOAP(t, s, DevicePath, `<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>`)
	_, profiles := postSOAP(t, s, MediaPath, `<trt:GetProfiles/>`)
	for _, body := range []string{services, caps} {
		if strings.Contains(body, PTZPath) || strings.Contains(body, ImagingPath) {
			t.Errorf("fixed camera advertises ptz or imaging: %s", body)
		}
	}
	if strings.Contains(profiles, "PTZConfiguration") {
		t.Error("fixed camera's profile has a PTZConfiguration")
	}
	for _, tc := range []struct{ path, body string }{
		{PTZPath, `<GetStatus` + ptzNS + `><ProfileToken>Profile_1</ProfileToken></GetStatus>`},
		{ImagingPath, `<GetImagingSettings` + imgNS + `><VideoSourceToken>VideoSource_1</VideoSourceToken></GetImagingSettings>`},
		{MediaPath, `<trt:GetOSDs/>`},
	} {
		if status, body := postSOAP(t, s, tc.path, tc.body); status != 500 || !strings.Contains(body, "ter:ActionNotSupported") {
			t.Errorf("%s: status %d, body %s", tc.path, status, body)
		}
	}
	_, withPTZ := postSOAP(t, startSettingsSim(t, Options{}), DevicePath, `<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>`)
	if !strings.Contains(withPTZ, nsPTZ) || !strings.Contains(withPTZ, nsImaging) {
		t.Errorf("default camera does not advertise ptz and imaging: %s", withPTZ)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT1S", time.Second, true},
		{"PT0.5S", 500 * time.Millisecond, true},
		{"PT1M30S", 90 * time.Second, true},
		{"PT1H", time.Hour, true},
		{"P1DT1S", 24*time.Hour + time.Second, true},
		{" PT10S ", 10 * time.Second, true},
		{"", 0, false},
		{"PT", 0, false},
		{"P", 0, false},
		{"PTS", 0, false},
		{"PT1", 0, false},
		{"1S", 0, false},
		{"P1S", 0, false},
		{"PT1D", 0, false},
		{"PT1.2.3S", 0, false},
	} {
		got, ok := parseDuration(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
