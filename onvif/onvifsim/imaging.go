package onvifsim

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// imagingLevel is one numeric image setting with its range.
type imagingLevel struct {
	elem     string
	min, max float64
	value    float64
}

// imagingState is the single video source's image settings. The camera
// keeps whole numbers only, rounding what it is sent.
type imagingState struct {
	levels    []imagingLevel // Brightness, ColorSaturation, Contrast, Sharpness
	irCut     string
	wdr       string
	backlight string
}

// IR-cut and on/off modes the camera offers.
var (
	irCutModes = []string{"ON", "OFF", "AUTO"}
	onOffModes = []string{"ON", "OFF"}
)

func defaultImaging() imagingState {
	return imagingState{
		levels: []imagingLevel{
			{elem: "Brightness", max: 100, value: 50},
			{elem: "ColorSaturation", max: 100, value: 50},
			{elem: "Contrast", max: 100, value: 50},
			// Sharpness has a small range, as on many cameras, so callers
			// must scale rather than assume percent.
			{elem: "Sharpness", max: 15, value: 8},
		},
		irCut:     "AUTO",
		wdr:       "OFF",
		backlight: "OFF",
	}
}

func (s *Server) imagingHandlers() map[string]func([]byte) (string, *fault) {
	return map[string]func([]byte) (string, *fault){
		"GetImagingSettings": s.getImagingSettings,
		"GetOptions":         s.getImagingOptions,
		"SetImagingSettings": s.setImagingSettings,
	}
}

func imagingResp(elem, body string) string { return wrap("timg", nsImaging, elem, body) }

type imagingReq struct {
	VideoSourceToken *string `xml:"VideoSourceToken"`
	Settings         *struct {
		Brightness      *string `xml:"Brightness"`
		ColorSaturation *string `xml:"ColorSaturation"`
		Contrast        *string `xml:"Contrast"`
		Sharpness       *string `xml:"Sharpness"`
		IrCutFilter     *string `xml:"IrCutFilter"`
		WDR             *struct {
			Mode string `xml:"Mode"`
		} `xml:"WideDynamicRange"`
		Backlight *struct {
			Mode string `xml:"Mode"`
		} `xml:"BacklightCompensation"`
	} `xml:"ImagingSettings"`
	ForcePersistence *string `xml:"ForcePersistence"`
}

func imagingRequest(data []byte) (imagingReq, *fault) {
	req, f := decodeBody[imagingReq](data)
	if f != nil {
		return req, f
	}
	if req.VideoSourceToken == nil || strings.TrimSpace(*req.VideoSourceToken) != videoSourceToken {
		return req, invalidArg("NoSource", "The requested VideoSource does not exist")
	}
	return req, nil
}

func (s *Server) getImagingSettings(data []byte) (string, *fault) {
	if _, f := imagingRequest(data); f != nil {
		return "", f
	}
	s.st.mu.Lock()
	im := s.st.imaging
	s.st.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, `<timg:ImagingSettings><tt:BacklightCompensation><tt:Mode>%s</tt:Mode></tt:BacklightCompensation>`, im.backlight)
	for _, l := range im.levels {
		fmt.Fprintf(&b, `<tt:%s>%s</tt:%s>`, l.elem, fmtF(l.value), l.elem)
		if l.elem == "Contrast" {
			// Exposure sits here in the XSD sequence; cameras report it and
			// a client must send it back untouched.
			b.WriteString(`<tt:Exposure><tt:Mode>AUTO</tt:Mode><tt:MinExposureTime>10</tt:MinExposureTime>` +
				`<tt:MaxExposureTime>40000</tt:MaxExposureTime><tt:MinGain>0</tt:MinGain><tt:MaxGain>100</tt:MaxGain></tt:Exposure>` +
				`<tt:IrCutFilter>` + im.irCut + `</tt:IrCutFilter>`)
		}
	}
	fmt.Fprintf(&b, `<tt:WideDynamicRange><tt:Mode>%s</tt:Mode><tt:Level>50</tt:Level></tt:WideDynamicRange>`+
		`<tt:WhiteBalance><tt:Mode>AUTO</tt:Mode></tt:WhiteBalance></timg:ImagingSettings>`, im.wdr)
	return imagingResp("GetImagingSettingsResponse", b.String()), nil
}

func (s *Server) getImagingOptions(data []byte) (string, *fault) {
	if _, f := imagingRequest(data); f != nil {
		return "", f
	}
	s.st.mu.Lock()
	im := s.st.imaging
	s.st.mu.Unlock()
	var b strings.Builder
	b.WriteString(`<timg:ImagingOptions><tt:BacklightCompensation><tt:Mode>OFF</tt:Mode><tt:Mode>ON</tt:Mode></tt:BacklightCompensation>`)
	for _, l := range im.levels {
		if l.elem == "Sharpness" {
			for _, m := range irCutModes {
				b.WriteString(`<tt:IrCutFilterModes>` + m + `</tt:IrCutFilterModes>`)
			}
		}
		fmt.Fprintf(&b, `<tt:%s><tt:Min>%s</tt:Min><tt:Max>%s</tt:Max></tt:%s>`, l.elem, fmtF(l.min), fmtF(l.max), l.elem)
	}
	b.WriteString(`<tt:WideDynamicRange><tt:Mode>OFF</tt:Mode><tt:Mode>ON</tt:Mode>` +
		`<tt:Level><tt:Min>0</tt:Min><tt:Max>100</tt:Max></tt:Level></tt:WideDynamicRange></timg:ImagingOptions>`)
	return imagingResp("GetOptionsResponse", b.String()), nil
}

func (s *Server) setImagingSettings(data []byte) (string, *fault) {
	req, f := imagingRequest(data)
	if f != nil {
		return "", f
	}
	if req.Settings == nil {
		return "", invalidArg("SettingsInvalid", "ImagingSettings missing")
	}
	set := req.Settings
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	im := s.st.imaging
	im.levels = slices.Clone(im.levels)
	for i := range im.levels {
		l := &im.levels[i]
		txt := map[string]*string{"Brightness": set.Brightness, "ColorSaturation": set.ColorSaturation,
			"Contrast": set.Contrast, "Sharpness": set.Sharpness}[l.elem]
		if txt == nil {
			continue
		}
		v, ok := parseNumber(*txt)
		if !ok || v < l.min || v > l.max {
			return "", invalidArg("SettingsInvalid", fmt.Sprintf("%s %q outside %s..%s", l.elem, *txt, fmtF(l.min), fmtF(l.max)))
		}
		l.value = math.Round(v)
	}
	mode := func(elem string, txt *string, allowed []string, dst *string) *fault {
		if txt == nil {
			return nil
		}
		v := strings.TrimSpace(*txt)
		if !slices.Contains(allowed, v) {
			return invalidArg("SettingsInvalid", fmt.Sprintf("%s mode %q not supported", elem, v))
		}
		*dst = v
		return nil
	}
	if f := mode("IrCutFilter", set.IrCutFilter, irCutModes, &im.irCut); f != nil {
		return "", f
	}
	if set.WDR != nil {
		if f := mode("WideDynamicRange", &set.WDR.Mode, onOffModes, &im.wdr); f != nil {
			return "", f
		}
	}
	if set.Backlight != nil {
		if f := mode("BacklightCompensation", &set.Backlight.Mode, onOffModes, &im.backlight); f != nil {
			return "", f
		}
	}
	s.st.imaging = im
	return imagingResp("SetImagingSettingsResponse", ""), nil
}

// ImagingState is the simulated camera's image settings as it applied them.
type ImagingState struct {
	Brightness, Saturation, Contrast, Sharpness float64
	IRCutFilter, WDRMode, BacklightMode         string
}

// Imaging returns the image settings the camera holds now.
func (s *Server) Imaging() ImagingState {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	im := s.st.imaging
	st := ImagingState{IRCutFilter: im.irCut, WDRMode: im.wdr, BacklightMode: im.backlight}
	for _, l := range im.levels {
		*map[string]*float64{"Brightness": &st.Brightness, "ColorSaturation": &st.Saturation,
			"Contrast": &st.Contrast, "Sharpness": &st.Sharpness}[l.elem] = l.value
	}
	return st
}
