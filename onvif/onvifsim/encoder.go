package onvifsim

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// encoderReq is SetVideoEncoderConfiguration, decoded by local names.
type encoderReq struct {
	Configuration *struct {
		Token       string  `xml:"token,attr"`
		Name        *string `xml:"Name"`
		UseCount    *string `xml:"UseCount"`
		Encoding    string  `xml:"Encoding"`
		Width       string  `xml:"Resolution>Width"`
		Height      string  `xml:"Resolution>Height"`
		Quality     string  `xml:"Quality"`
		RateControl *struct {
			ConstantBitRate  string `xml:"ConstantBitRate,attr"`
			FrameRateLimit   string `xml:"FrameRateLimit"`
			EncodingInterval string `xml:"EncodingInterval"`
			BitrateLimit     string `xml:"BitrateLimit"`
		} `xml:"RateControl"`
		H264 *struct {
			GovLength   string `xml:"GovLength"`
			H264Profile string `xml:"H264Profile"`
		} `xml:"H264"`
		Multicast      *struct{} `xml:"Multicast"`
		SessionTimeout *string   `xml:"SessionTimeout"`
	} `xml:"Configuration"`
	ForcePersistence *string `xml:"ForcePersistence"`
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
// Options.MaxBitrateKbps are capped silently.
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
	if c.Name == nil || c.UseCount == nil || c.Multicast == nil || c.SessionTimeout == nil || c.RateControl == nil {
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
	num := func(name, txt string, min, max float64) (float64, *fault) {
		v, ok := parseNumber(txt)
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
	fr, f4 := num("FrameRateLimit", c.RateControl.FrameRateLimit, 1, 30)
	_, f5 := num("EncodingInterval", c.RateControl.EncodingInterval, 1, 1)
	br, f6 := num("BitrateLimit", c.RateControl.BitrateLimit, 32, 16384)
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
		switch strings.TrimSpace(c.RateControl.ConstantBitRate) {
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
