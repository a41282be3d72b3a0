package onvifsim

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths of the services added for camera settings.
const (
	PTZPath     = "/onvif/ptz_service"
	ImagingPath = "/onvif/imaging_service"
)

const (
	nsPTZ     = "http://www.onvif.org/ver20/ptz/wsdl"
	nsImaging = "http://www.onvif.org/ver20/imaging/wsdl"
)

// Tokens of the simulator's single video source and its configuration.
const (
	videoSourceToken       = "VideoSource_1"
	videoSourceConfigToken = "VideoSourceConfig_1"
)

// settingsState is the mutable camera configuration: imaging, rotation,
// PTZ, encoders, audio and OSD. Guarded by mu; also guards opts.Profiles,
// which SetVideoEncoderConfiguration changes.
type settingsState struct {
	mu       sync.Mutex
	imaging  imagingState
	rotate   rotateState
	ptz      ptzState
	audio    map[string]*audioEncoderState // by audio encoder token
	outLevel int
	osds     []*osdState
	nextOSD  int
	last     map[string]string // raw request by action
}

// initSettings sets the default camera configuration; called by New.
func (s *Server) initSettings() {
	st := &s.st
	st.imaging = defaultImaging()
	st.rotate = rotateState{mode: "OFF"}
	st.ptz = ptzState{nextPreset: 1}
	st.audio = make(map[string]*audioEncoderState)
	st.outLevel = 50
	st.last = make(map[string]string)
	for i := range s.opts.Profiles {
		p := &s.opts.Profiles[i]
		if p.Quality == 0 {
			p.Quality = 4
		}
		if p.AudioEncoding != "" {
			a := &audioEncoderState{encoding: p.AudioEncoding, bitrate: 64, sampleRate: 8}
			if p.AudioEncoding == "AAC" {
				a.sampleRate = 16
			}
			st.audio[audioEncoderToken(*p)] = a
		}
	}
	st.osds = []*osdState{
		{token: "OSD_1", textType: "DateAndTime", dateFormat: "yyyy-MM-dd", timeFormat: "HH:mm:ss", fontSize: 32,
			position: "UpperLeft", fontColor: osdColor{x: 235, y: 128, z: 128}},
		{token: "OSD_2", textType: "Plain", text: "Camera 1", fontSize: 32, position: "LowerRight",
			fontColor: osdColor{x: 235, y: 128, z: 128}},
	}
	st.nextOSD = 3
}

// profiles returns a copy of the current profiles.
func (s *Server) profiles() []Profile {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return append([]Profile(nil), s.opts.Profiles...)
}

// recordLast keeps the raw request of each action for LastRequest.
func (s *Server) recordLast(action string, data []byte) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.last[action] = string(data)
}

// LastRequest returns the raw SOAP envelope of the latest request for
// action (e.g. "ContinuousMove"), or "" if none came.
func (s *Server) LastRequest(action string) string {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.last[action]
}

// settingsHandler returns the handler for a settings action, or nil.
func (s *Server) settingsHandler(path string, name xml.Name, data []byte) func(action) (string, *fault) {
	var h func([]byte) (string, *fault)
	switch {
	case path == MediaPath && name.Space == nsMedia:
		h = s.settingsMediaHandlers()[name.Local]
	case path == PTZPath && name.Space == nsPTZ && !s.opts.NoPTZ:
		h = s.ptzHandlers()[name.Local]
	case path == ImagingPath && name.Space == nsImaging && !s.opts.NoImaging:
		h = s.imagingHandlers()[name.Local]
	}
	if h == nil {
		return nil
	}
	return func(action) (string, *fault) { return h(data) }
}

func (s *Server) settingsMediaHandlers() map[string]func([]byte) (string, *fault) {
	m := map[string]func([]byte) (string, *fault){
		"SetVideoEncoderConfiguration":        s.setVideoEncoderConfiguration,
		"GetVideoSourceConfiguration":         s.getVideoSourceConfiguration,
		"GetVideoSourceConfigurationOptions":  s.getVideoSourceConfigurationOptions,
		"SetVideoSourceConfiguration":         s.setVideoSourceConfiguration,
		"GetAudioSources":                     s.getAudioSources,
		"GetAudioEncoderConfiguration":        s.getAudioEncoderConfiguration,
		"GetAudioEncoderConfigurations":       s.getAudioEncoderConfigurations,
		"GetAudioEncoderConfigurationOptions": s.getAudioEncoderConfigurationOptions,
		"SetAudioEncoderConfiguration":        s.setAudioEncoderConfiguration,
		"GetAudioOutputs":                     s.getAudioOutputs,
		"GetAudioOutputConfigurations":        s.getAudioOutputConfigurations,
		"GetAudioOutputConfiguration":         s.getAudioOutputConfiguration,
		"GetAudioOutputConfigurationOptions":  s.getAudioOutputConfigurationOptions,
		"SetAudioOutputConfiguration":         s.setAudioOutputConfiguration,
	}
	if !s.opts.NoOSD {
		m["GetOSDs"] = s.getOSDs
		m["GetOSD"] = s.getOSD
		m["GetOSDOptions"] = s.getOSDOptions
		m["SetOSD"] = s.setOSD
		m["CreateOSD"] = s.createOSD
		m["DeleteOSD"] = s.deleteOSD
	}
	return m
}

// settingsCapabilities adds the PTZ and Imaging entries to GetCapabilities.
func (s *Server) settingsCapabilities(base string) string {
	var b strings.Builder
	if !s.opts.NoImaging {
		b.WriteString(`<tt:Imaging><tt:XAddr>` + base + ImagingPath + `</tt:XAddr></tt:Imaging>`)
	}
	if !s.opts.NoPTZ {
		b.WriteString(`<tt:PTZ><tt:XAddr>` + base + PTZPath + `</tt:XAddr></tt:PTZ>`)
	}
	return b.String()
}

// settingsServices adds the PTZ and Imaging entries to GetServices.
func (s *Server) settingsServices(svc func(ns, path string) string) string {
	var b strings.Builder
	if !s.opts.NoImaging {
		b.WriteString(svc(nsImaging, ImagingPath))
	}
	if !s.opts.NoPTZ {
		b.WriteString(svc(nsPTZ, PTZPath))
	}
	return b.String()
}

// settingsProfileXML is the part of a profile this file owns: the PTZ
// configuration and, in the extension, the audio output configuration.
func (s *Server) settingsProfileXML(Profile) string {
	var b strings.Builder
	if !s.opts.NoPTZ {
		b.WriteString(ptzConfigurationXML("tt:PTZConfiguration"))
	}
	if !s.opts.NoAudioOutput {
		b.WriteString(`<tt:Extension>` + s.audioOutputConfigXML("tt:AudioOutputConfiguration") + `</tt:Extension>`)
	}
	return b.String()
}

// decodeBody decodes the first element of the SOAP body into T by local names.
func decodeBody[T any](data []byte) (T, *fault) {
	var env struct {
		Body struct {
			Action T `xml:",any"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(data, &env); err != nil {
		var zero T
		return zero, &fault{subcodes: []string{"ter:InvalidArgVal"}, reason: "Malformed request: " + err.Error()}
	}
	return env.Body.Action, nil
}

func invalidArg(sub, reason string) *fault {
	return &fault{subcodes: []string{"ter:InvalidArgVal", "ter:" + sub}, reason: reason}
}

// parseNumber parses an xs:int/xs:float text strictly (surrounding
// whitespace allowed, as XML schema collapses it).
func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}

// parseDuration parses the xs:duration forms PnDTnHnMnS (no years or
// months, which cameras never use for timeouts).
func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, false
	}
	var d time.Duration
	inTime := false
	num := ""
	units := 0
	for _, c := range s[1:] {
		switch {
		case c == 'T' && !inTime && num == "":
			inTime = true
		case (c >= '0' && c <= '9') || c == '.':
			num += string(c)
		default:
			f, err := strconv.ParseFloat(num, 64)
			if num == "" || err != nil {
				return 0, false
			}
			var unit time.Duration
			switch {
			case c == 'D' && !inTime:
				unit = 24 * time.Hour
			case c == 'H' && inTime:
				unit = time.Hour
			case c == 'M' && inTime:
				unit = time.Minute
			case c == 'S' && inTime:
				unit = time.Second
			default:
				return 0, false
			}
			d += time.Duration(f * float64(unit))
			num = ""
			units++
		}
	}
	return d, num == "" && units > 0
}

// fmtF formats a float compactly for responses.
func fmtF(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// wrap puts body in a response element with its own namespace declaration.
func wrap(prefix, ns, elem, body string) string {
	return fmt.Sprintf(`<%s:%s xmlns:%s="%s">%s</%s:%s>`, prefix, elem, prefix, ns, body, prefix, elem)
}
