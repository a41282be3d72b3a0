package onvifsim

import (
	"fmt"
	"slices"
	"strings"
)

// rotateState is the video source's rotation (Media ver10 Extension/Rotate).
type rotateState struct {
	mode   string // OFF or ON
	degree int    // with ON
}

// Rotation the camera offers; AUTO is not, so a request for it is refused.
var (
	rotateModes   = []string{"OFF", "ON"}
	rotateDegrees = []int{90, 180, 270}
)

// Rotation returns the video source's rotation mode and degree.
func (s *Server) Rotation() (mode string, degree int) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.rotate.mode, s.st.rotate.degree
}

type videoSourceReq struct {
	ConfigurationToken *string `xml:"ConfigurationToken"`
	Configuration      *struct {
		Token       string  `xml:"token,attr"`
		Name        *string `xml:"Name"`
		UseCount    *string `xml:"UseCount"`
		SourceToken string  `xml:"SourceToken"`
		Bounds      *struct {
			Width string `xml:"width,attr"`
		} `xml:"Bounds"`
		Rotate *struct {
			Mode   string  `xml:"Mode"`
			Degree *string `xml:"Degree"`
		} `xml:"Extension>Rotate"`
	} `xml:"Configuration"`
	ForcePersistence *string `xml:"ForcePersistence"`
}

func noConfig() *fault { return invalidArg("NoConfig", "Configuration token does not exist") }

func (s *Server) getVideoSourceConfiguration(data []byte) (string, *fault) {
	req, f := decodeBody[videoSourceReq](data)
	if f != nil {
		return "", f
	}
	if req.ConfigurationToken == nil || strings.TrimSpace(*req.ConfigurationToken) != videoSourceConfigToken {
		return "", noConfig()
	}
	n := len(s.profiles())
	s.st.mu.Lock()
	rot := s.st.rotate
	s.st.mu.Unlock()
	ext := ""
	if !s.opts.NoRotate {
		ext = `<tt:Extension><tt:Rotate><tt:Mode>` + rot.mode + `</tt:Mode>`
		if rot.mode == "ON" {
			ext += fmt.Sprintf(`<tt:Degree>%d</tt:Degree>`, rot.degree)
		}
		ext += `</tt:Rotate></tt:Extension>`
	}
	return fmt.Sprintf(`<trt:GetVideoSourceConfigurationResponse><trt:Configuration token="%s"><tt:Name>VideoSourceConfig</tt:Name>`+
		`<tt:UseCount>%d</tt:UseCount><tt:SourceToken>%s</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/>%s`+
		`</trt:Configuration></trt:GetVideoSourceConfigurationResponse>`, videoSourceConfigToken, n, videoSourceToken, ext), nil
}

func (s *Server) getVideoSourceConfigurationOptions(data []byte) (string, *fault) {
	req, f := decodeBody[videoSourceReq](data)
	if f != nil {
		return "", f
	}
	if req.ConfigurationToken != nil && strings.TrimSpace(*req.ConfigurationToken) != videoSourceConfigToken {
		return "", noConfig()
	}
	rng := func(elem string, min, max int) string {
		return fmt.Sprintf(`<tt:%s><tt:Min>%d</tt:Min><tt:Max>%d</tt:Max></tt:%s>`, elem, min, max, elem)
	}
	var b strings.Builder
	b.WriteString(`<trt:GetVideoSourceConfigurationOptionsResponse><trt:Options><tt:BoundsRange>` +
		rng("XRange", 0, 0) + rng("YRange", 0, 0) + rng("WidthRange", 1920, 1920) + rng("HeightRange", 1080, 1080) +
		`</tt:BoundsRange><tt:VideoSourceTokensAvailable>` + videoSourceToken + `</tt:VideoSourceTokensAvailable>`)
	if !s.opts.NoRotate {
		b.WriteString(`<tt:Extension><tt:Rotate>`)
		for _, m := range rotateModes {
			b.WriteString(`<tt:Mode>` + m + `</tt:Mode>`)
		}
		b.WriteString(`<tt:DegreeList>`)
		for _, d := range rotateDegrees {
			fmt.Fprintf(&b, `<tt:Items>%d</tt:Items>`, d)
		}
		b.WriteString(`</tt:DegreeList></tt:Rotate></tt:Extension>`)
	}
	b.WriteString(`</trt:Options></trt:GetVideoSourceConfigurationOptionsResponse>`)
	return b.String(), nil
}

func (s *Server) setVideoSourceConfiguration(data []byte) (string, *fault) {
	req, f := decodeBody[videoSourceReq](data)
	if f != nil {
		return "", f
	}
	c := req.Configuration
	if c == nil || req.ForcePersistence == nil {
		return "", configModify("Configuration or ForcePersistence missing")
	}
	if strings.TrimSpace(c.Token) != videoSourceConfigToken {
		return "", noConfig()
	}
	if c.Name == nil || c.UseCount == nil || c.Bounds == nil || strings.TrimSpace(c.SourceToken) != videoSourceToken {
		return "", configModify("Configuration lacks Name, UseCount or Bounds, or names another source")
	}
	if c.Rotate == nil {
		// Absent: the camera keeps its rotation.
		return `<trt:SetVideoSourceConfigurationResponse/>`, nil
	}
	var rot rotateState
	{
		if s.opts.NoRotate {
			return "", configModify("Rotation not supported")
		}
		rot.mode = strings.TrimSpace(c.Rotate.Mode)
		if !slices.Contains(rotateModes, rot.mode) {
			return "", configModify(fmt.Sprintf("Rotate mode %q not supported", rot.mode))
		}
		if rot.mode == "ON" {
			rot.degree = 180
			if c.Rotate.Degree != nil {
				d, ok := parseNumber(*c.Rotate.Degree)
				if !ok || !slices.Contains(rotateDegrees, int(d)) {
					return "", configModify(fmt.Sprintf("Rotate degree %q not supported", *c.Rotate.Degree))
				}
				rot.degree = int(d)
			}
		}
	}
	s.st.mu.Lock()
	s.st.rotate = rot
	s.st.mu.Unlock()
	return `<trt:SetVideoSourceConfigurationResponse/>`, nil
}
