package onvifsim

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
)

// encoderReq is SetVideoEncoderConfiguration, decoded by local names.
type encoderReq struct {
	Configuration *struct {
		Token       string          `xml:"token,attr"`
		Name        *string         `xml:"Name"`
		UseCount    *string         `xml:"UseCount"`
		Encoding    string          `xml:"Encoding"`
		Width       string          `xml:"Resolution>Width"`
		Height      string          `xml:"Resolution>Height"`
		Quality     string          `xml:"Quality"`
		RateControl *rateControlReq `xml:"RateControl"`
		H264        *struct {
			GovLength   string `xml:"GovLength"`
			H264Profile string `xml:"H264Profile"`
		} `xml:"H264"`
		Multicast      *struct{} `xml:"Multicast"`
		SessionTimeout *string   `xml:"SessionTimeout"`
	} `xml:"Configuration"`
	ForcePersistence *string `xml:"ForcePersistence"`
}

type rateControlReq struct {
	ConstantBitRate  string `xml:"ConstantBitRate,attr"`
	FrameRateLimit   string `xml:"FrameRateLimit"`
	EncodingInterval string `xml:"EncodingInterval"`
	BitrateLimit     string `xml:"BitrateLimit"`
}

// rateControlAttr is the ConstantBitRate attribute for cameras that report
// their rate-control mode.
func rateControlAttr(p Profile) string {
	switch p.RateControl {
	case "CBR":
		return ` ConstantBitRate="true"`
	case "VBR":
		return ` ConstantBitRate="false"`
	}
	return ""
}

func configModify(reason string) *fault { return invalidArg("ConfigModify", reason) }

// setVideoEncoderConfiguration validates like a strict camera: every
// element the schema requires must be present and every value within the
// options; only then is the configuration applied. Bitrates above
// Options.MaxBitrateKbps are capped silently. A camera with an encoder
// quirk clamps values to its limits instead, and without RateControl it
// keeps the limits a request leaves out.
func (s *Server) setVideoEncoderConfiguration(data []byte) (string, *fault) {
	req, f := decodeBody[encoderReq](data)
	if f != nil {
		return "", f
	}
	c := req.Configuration
	if c == nil {
		return "", configModify("Configuration missing")
	}
	if req.ForcePersistence == nil {
		return "", configModify("ForcePersistence missing")
	}
	if c.Name == nil || c.UseCount == nil || c.Multicast == nil || c.SessionTimeout == nil ||
		(c.RateControl == nil && !s.opts.NoRateControl) {
		return "", configModify("Configuration lacks a required element (Name, UseCount, RateControl, Multicast, SessionTimeout)")
	}
	tok := strings.TrimSpace(c.Token)
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	idx := slices.IndexFunc(s.opts.Profiles, func(p Profile) bool { return encoderToken(p) == tok })
	if idx < 0 {
		return "", invalidArg("NoConfig", "Configuration token does not exist")
	}
	p := s.opts.Profiles[idx]
	clamp := s.opts.EmptyEncoderOptions || s.opts.EncoderOptionsFault || s.opts.NoRateControl
	num := func(name, txt string, min, max float64) (float64, *fault) {
		v, ok := parseNumber(txt)
		if ok && clamp {
			v = math.Min(math.Max(v, min), max)
		}
		if !ok || v < min || v > max {
			return 0, configModify(fmt.Sprintf("%s %q outside %s..%s", name, txt, fmtF(min), fmtF(max)))
		}
		return v, nil
	}
	enc := strings.TrimSpace(c.Encoding)
	if enc != "H264" && enc != "JPEG" {
		return "", configModify(fmt.Sprintf("Encoding %q not supported", enc))
	}
	w, f1 := num("Width", c.Width, 1, 10000)
	h, f2 := num("Height", c.Height, 1, 10000)
	q, f3 := num("Quality", c.Quality, 1, 6)
	rc := c.RateControl
	if rc == nil {
		rc = &rateControlReq{}
	}
	limit := func(name, txt string, min, max float64, keep int) (float64, *fault) {
		if s.opts.NoRateControl && strings.TrimSpace(txt) == "" {
			return float64(keep), nil
		}
		return num(name, txt, min, max)
	}
	fr, f4 := limit("FrameRateLimit", rc.FrameRateLimit, 1, 30, p.FrameRate)
	_, f5 := limit("EncodingInterval", rc.EncodingInterval, 1, 1, 1)
	br, f6 := limit("BitrateLimit", rc.BitrateLimit, 32, 16384, p.BitrateKbps)
	for _, f := range []*fault{f1, f2, f3, f4, f5, f6} {
		if f != nil {
			return "", f
		}
	}
	if !s.resolutionAllowed(int(w), int(h)) {
		return "", configModify(fmt.Sprintf("Resolution %dx%d not supported", int(w), int(h)))
	}
	if enc == "H264" {
		if c.H264 == nil {
			return "", configModify("H264 settings missing")
		}
		gov, f := num("GovLength", c.H264.GovLength, 1, 400)
		if f != nil {
			return "", f
		}
		prof := strings.TrimSpace(c.H264.H264Profile)
		if !slices.Contains([]string{"Baseline", "Main", "High"}, prof) {
			return "", configModify(fmt.Sprintf("H264Profile %q not supported", prof))
		}
		p.GOP, p.H264Profile = int(gov), prof
	}
	if p.RateControl != "" {
		switch strings.TrimSpace(rc.ConstantBitRate) {
		case "true", "1":
			p.RateControl = "CBR"
		case "false", "0":
			p.RateControl = "VBR"
		}
	}
	p.Encoding, p.Width, p.Height, p.Quality = enc, int(w), int(h), q
	p.FrameRate = int(math.Round(fr))
	p.BitrateKbps = int(br)
	if m := s.opts.MaxBitrateKbps; m > 0 && p.BitrateKbps > m {
		p.BitrateKbps = m
	}
	s.opts.Profiles[idx] = p
	return `<trt:SetVideoEncoderConfigurationResponse/>`, nil
}

// resolutionAllowed reports whether the options list the size. st.mu held.
func (s *Server) resolutionAllowed(w, h int) bool {
	for _, r := range standardResolutions {
		if r[0] == w && r[1] == h {
			return true
		}
	}
	for _, p := range s.opts.Profiles {
		if p.Width == w && p.Height == h {
			return true
		}
	}
	return false
}

// videoEncoderXML is one video encoder configuration as elem.
func (s *Server) videoEncoderXML(elem string, p Profile) string {
	var codec, rc string
	if p.Encoding == "H264" {
		codec = fmt.Sprintf(`<tt:H264><tt:GovLength>%d</tt:GovLength><tt:H264Profile>%s</tt:H264Profile></tt:H264>`,
			p.GOP, esc(p.H264Profile))
	}
	if !s.opts.NoRateControl {
		rc = fmt.Sprintf(`<tt:RateControl%s><tt:FrameRateLimit>%d</tt:FrameRateLimit>`+
			`<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>%d</tt:BitrateLimit></tt:RateControl>`,
			rateControlAttr(p), p.FrameRate, p.BitrateKbps)
	}
	return fmt.Sprintf(`<%s token="%s"><tt:Name>%s</tt:Name><tt:UseCount>1</tt:UseCount>`+
		`<tt:Encoding>%s</tt:Encoding><tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution>`+
		`<tt:Quality>%s</tt:Quality>%s%s`+
		`<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>`+
		`<tt:Port>0</tt:Port><tt:TTL>5</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>`+
		`<tt:SessionTimeout>PT5S</tt:SessionTimeout></%s>`,
		elem, esc(encoderToken(p)), esc(p.Name+"_video"), esc(p.Encoding), p.Width, p.Height,
		fmtF(p.Quality), rc, codec, elem)
}

// videoEncoderOptions is GetVideoEncoderConfigurationOptions; with
// EmptyEncoderOptions the tokens are checked, but the options are a
// shell: a quality range with empty ends and no codec.
func (s *Server) videoEncoderOptions(a action) (string, *fault) {
	body, f := s.getVideoEncoderConfigurationOptions(a)
	if f != nil || !s.opts.EmptyEncoderOptions {
		return body, f
	}
	return `<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options>` +
		`<tt:QualityRange><tt:Min></tt:Min><tt:Max></tt:Max></tt:QualityRange>` +
		`</trt:Options></trt:GetVideoEncoderConfigurationOptionsResponse>`, nil
}

// encoderOptionsFault answers GetVideoEncoderConfigurationOptions the way
// a JavaScript ONVIF server does when the action has no implementation,
// and reports whether it did.
func (s *Server) encoderOptionsFault(w http.ResponseWriter, action string) bool {
	if !s.opts.EncoderOptionsFault || action != "GetVideoEncoderConfigurationOptions" {
		return false
	}
	writeFault(w, http.StatusInternalServerError, "Receiver", nil, "TypeError: method is not a function")
	return true
}
