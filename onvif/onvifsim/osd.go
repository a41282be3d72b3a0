package onvifsim

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// osdColor is a YCbCr colour with transparency.
type osdColor struct {
	x, y, z     float64
	transparent int
}

// osdState is one text overlay.
type osdState struct {
	token      string
	textType   string // Plain, Date, Time, DateAndTime
	text       string
	dateFormat string
	timeFormat string
	fontSize   int
	position   string
	posX, posY float64
	fontColor  osdColor
	bgColor    *osdColor
}

// OSD options of the simulated camera.
var (
	osdPositions   = []string{"UpperLeft", "UpperRight", "LowerLeft", "LowerRight", "Custom"}
	osdTextTypes   = []string{"Plain", "Date", "Time", "DateAndTime"}
	osdDateFormats = []string{"yyyy-MM-dd", "MM/dd/yyyy", "dd/MM/yyyy"}
	osdTimeFormats = []string{"HH:mm:ss", "hh:mm:ss tt"}
	osdColors      = []osdColor{{x: 235, y: 128, z: 128}, {x: 16, y: 128, z: 128}, {x: 81, y: 90, z: 240}}
)

const (
	osdMaxTotal     = 4
	osdMinFont      = 16
	osdMaxFont      = 64
	osdMaxText      = 64
	colorspaceYCbCr = "http://www.onvif.org/ver10/colorspace/YCbCr"
)

// OSDState is a simulated overlay as the camera holds it.
type OSDState struct {
	Token, TextType, Text, DateFormat, TimeFormat, Position string
	FontSize                                                int
}

// OSDs returns the overlays the camera holds.
func (s *Server) OSDs() []OSDState {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	var out []OSDState
	for _, o := range s.st.osds {
		out = append(out, OSDState{Token: o.token, TextType: o.textType, Text: o.text, DateFormat: o.dateFormat,
			TimeFormat: o.timeFormat, Position: o.position, FontSize: o.fontSize})
	}
	return out
}

func colorXML(elem string, c osdColor) string {
	return fmt.Sprintf(`<tt:%s Transparent="%d"><tt:Color X="%s" Y="%s" Z="%s" Colorspace="%s"/></tt:%s>`,
		elem, c.transparent, fmtF(c.x), fmtF(c.y), fmtF(c.z), colorspaceYCbCr, elem)
}

func osdXML(elem string, o *osdState) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<%s token="%s"><tt:VideoSourceConfigurationToken>%s</tt:VideoSourceConfigurationToken>`+
		`<tt:Type>Text</tt:Type><tt:Position><tt:Type>%s</tt:Type>`, elem, esc(o.token), videoSourceConfigToken, o.position)
	if o.position == "Custom" {
		fmt.Fprintf(&b, `<tt:Pos x="%s" y="%s"/>`, fmtF(o.posX), fmtF(o.posY))
	}
	b.WriteString(`</tt:Position><tt:TextString><tt:Type>` + o.textType + `</tt:Type>`)
	if o.textType == "Date" || o.textType == "DateAndTime" {
		b.WriteString(`<tt:DateFormat>` + esc(o.dateFormat) + `</tt:DateFormat>`)
	}
	if o.textType == "Time" || o.textType == "DateAndTime" {
		b.WriteString(`<tt:TimeFormat>` + esc(o.timeFormat) + `</tt:TimeFormat>`)
	}
	fmt.Fprintf(&b, `<tt:FontSize>%d</tt:FontSize>`, o.fontSize)
	b.WriteString(colorXML("FontColor", o.fontColor))
	if o.bgColor != nil {
		b.WriteString(colorXML("BackgroundColor", *o.bgColor))
	}
	if o.textType == "Plain" {
		b.WriteString(`<tt:PlainText>` + esc(o.text) + `</tt:PlainText>`)
	}
	b.WriteString(`</tt:TextString></` + elem + `>`)
	return b.String()
}

type xmlOSDColor struct {
	Transparent string `xml:"Transparent,attr"`
	Color       *struct {
		X string `xml:"X,attr"`
		Y string `xml:"Y,attr"`
		Z string `xml:"Z,attr"`
	} `xml:"Color"`
}

type osdReq struct {
	ConfigurationToken *string `xml:"ConfigurationToken"`
	OSDToken           *string `xml:"OSDToken"`
	OSD                *struct {
		Token    string `xml:"token,attr"`
		VSC      string `xml:"VideoSourceConfigurationToken"`
		Type     string `xml:"Type"`
		Position *struct {
			Type string `xml:"Type"`
			Pos  *struct {
				X string `xml:"x,attr"`
				Y string `xml:"y,attr"`
			} `xml:"Pos"`
		} `xml:"Position"`
		TextString *struct {
			Type            string       `xml:"Type"`
			DateFormat      *string      `xml:"DateFormat"`
			TimeFormat      *string      `xml:"TimeFormat"`
			FontSize        *string      `xml:"FontSize"`
			FontColor       *xmlOSDColor `xml:"FontColor"`
			BackgroundColor *xmlOSDColor `xml:"BackgroundColor"`
			PlainText       *string      `xml:"PlainText"`
		} `xml:"TextString"`
	} `xml:"OSD"`
}

func (s *Server) getOSDs(data []byte) (string, *fault) {
	req, f := decodeBody[osdReq](data)
	if f != nil {
		return "", f
	}
	if req.ConfigurationToken != nil && strings.TrimSpace(*req.ConfigurationToken) != videoSourceConfigToken {
		return "", noConfig()
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	var b strings.Builder
	for _, o := range s.st.osds {
		b.WriteString(osdXML("trt:OSDs", o))
	}
	return `<trt:GetOSDsResponse>` + b.String() + `</trt:GetOSDsResponse>`, nil
}

func (s *Server) findOSD(token *string) int {
	if token == nil {
		return -1
	}
	return slices.IndexFunc(s.st.osds, func(o *osdState) bool { return o.token == strings.TrimSpace(*token) })
}

func (s *Server) getOSD(data []byte) (string, *fault) {
	req, f := decodeBody[osdReq](data)
	if f != nil {
		return "", f
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	i := s.findOSD(req.OSDToken)
	if i < 0 {
		return "", noConfig()
	}
	return `<trt:GetOSDResponse>` + osdXML("trt:OSD", s.st.osds[i]) + `</trt:GetOSDResponse>`, nil
}

func (s *Server) getOSDOptions(data []byte) (string, *fault) {
	req, f := decodeBody[osdReq](data)
	if f != nil {
		return "", f
	}
	if req.ConfigurationToken == nil || strings.TrimSpace(*req.ConfigurationToken) != videoSourceConfigToken {
		return "", noConfig()
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<trt:GetOSDOptionsResponse><trt:OSDOptions><tt:MaximumNumberOfOSDs Total="%d" PlainText="2" Date="1" Time="1" DateAndTime="1"/>`+
		`<tt:Type>Text</tt:Type>`, osdMaxTotal)
	for _, p := range osdPositions {
		b.WriteString(`<tt:PositionOption>` + p + `</tt:PositionOption>`)
	}
	b.WriteString(`<tt:TextOption>`)
	for _, t := range osdTextTypes {
		b.WriteString(`<tt:Type>` + t + `</tt:Type>`)
	}
	fmt.Fprintf(&b, `<tt:FontSizeRange><tt:Min>%d</tt:Min><tt:Max>%d</tt:Max></tt:FontSizeRange>`, osdMinFont, osdMaxFont)
	for _, d := range osdDateFormats {
		b.WriteString(`<tt:DateFormat>` + d + `</tt:DateFormat>`)
	}
	for _, t := range osdTimeFormats {
		b.WriteString(`<tt:TimeFormat>` + t + `</tt:TimeFormat>`)
	}
	colors := func(elem string) {
		b.WriteString(`<tt:` + elem + `><tt:Color>`)
		for _, c := range osdColors {
			fmt.Fprintf(&b, `<tt:ColorList X="%s" Y="%s" Z="%s" Colorspace="%s"/>`, fmtF(c.x), fmtF(c.y), fmtF(c.z), colorspaceYCbCr)
		}
		b.WriteString(`</tt:Color><tt:Transparent><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:Transparent></tt:` + elem + `>`)
	}
	colors("FontColor")
	colors("BackgroundColor")
	b.WriteString(`</tt:TextOption></trt:OSDOptions></trt:GetOSDOptionsResponse>`)
	return b.String(), nil
}

// parseOSD validates an OSD element strictly against the options and
// returns the overlay it describes (colours rounded to whole numbers).
func parseOSD(req osdReq) (*osdState, *fault) {
	o := req.OSD
	if o == nil {
		return nil, configModify("OSD missing")
	}
	if strings.TrimSpace(o.VSC) != videoSourceConfigToken {
		return nil, noConfig()
	}
	if strings.TrimSpace(o.Type) != "Text" {
		return nil, configModify(fmt.Sprintf("OSD type %q not supported", o.Type))
	}
	if o.Position == nil || !slices.Contains(osdPositions, strings.TrimSpace(o.Position.Type)) {
		return nil, configModify("Position missing or not supported")
	}
	st := &osdState{token: strings.TrimSpace(o.Token), position: strings.TrimSpace(o.Position.Type)}
	if st.position == "Custom" {
		if o.Position.Pos == nil {
			return nil, configModify("Custom position without Pos")
		}
		x, ok1 := parseNumber(o.Position.Pos.X)
		y, ok2 := parseNumber(o.Position.Pos.Y)
		if !ok1 || !ok2 || math.Abs(x) > 1 || math.Abs(y) > 1 {
			return nil, configModify("Pos outside -1..1")
		}
		st.posX, st.posY = x, y
	}
	ts := o.TextString
	if ts == nil || !slices.Contains(osdTextTypes, strings.TrimSpace(ts.Type)) {
		return nil, configModify("TextString missing or its Type not supported")
	}
	st.textType = strings.TrimSpace(ts.Type)
	st.dateFormat, st.timeFormat, st.fontSize = osdDateFormats[0], osdTimeFormats[0], 32
	if ts.DateFormat != nil {
		if st.dateFormat = strings.TrimSpace(*ts.DateFormat); !slices.Contains(osdDateFormats, st.dateFormat) {
			return nil, configModify(fmt.Sprintf("DateFormat %q not supported", st.dateFormat))
		}
	}
	if ts.TimeFormat != nil {
		if st.timeFormat = strings.TrimSpace(*ts.TimeFormat); !slices.Contains(osdTimeFormats, st.timeFormat) {
			return nil, configModify(fmt.Sprintf("TimeFormat %q not supported", st.timeFormat))
		}
	}
	if ts.FontSize != nil {
		v, ok := parseNumber(*ts.FontSize)
		if !ok || v < osdMinFont || v > osdMaxFont {
			return nil, configModify(fmt.Sprintf("FontSize %q outside %d..%d", *ts.FontSize, osdMinFont, osdMaxFont))
		}
		st.fontSize = int(v)
	}
	st.fontColor = osdColors[0]
	if ts.FontColor != nil {
		c, f := parseOSDColor(ts.FontColor)
		if f != nil {
			return nil, f
		}
		st.fontColor = c
	}
	if ts.BackgroundColor != nil {
		c, f := parseOSDColor(ts.BackgroundColor)
		if f != nil {
			return nil, f
		}
		st.bgColor = &c
	}
	if st.textType == "Plain" {
		if ts.PlainText == nil || len(*ts.PlainText) > osdMaxText {
			return nil, configModify(fmt.Sprintf("PlainText missing or longer than %d", osdMaxText))
		}
		st.text = *ts.PlainText
	}
	return st, nil
}

func parseOSDColor(x *xmlOSDColor) (osdColor, *fault) {
	if x.Color == nil {
		return osdColor{}, configModify("Color missing")
	}
	var c osdColor
	for _, v := range []struct {
		txt string
		dst *float64
	}{{x.Color.X, &c.x}, {x.Color.Y, &c.y}, {x.Color.Z, &c.z}} {
		n, ok := parseNumber(v.txt)
		if !ok || n < 0 || n > 255 {
			return osdColor{}, configModify(fmt.Sprintf("Color component %q outside 0..255", v.txt))
		}
		*v.dst = math.Round(n)
	}
	if strings.TrimSpace(x.Transparent) != "" {
		t, ok := parseNumber(x.Transparent)
		if !ok || t < 0 || t > 1 {
			return osdColor{}, configModify(fmt.Sprintf("Transparent %q outside 0..1", x.Transparent))
		}
		c.transparent = int(t)
	}
	return c, nil
}

func (s *Server) setOSD(data []byte) (string, *fault) {
	req, f := decodeBody[osdReq](data)
	if f != nil {
		return "", f
	}
	st, f := parseOSD(req)
	if f != nil {
		return "", f
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	i := s.findOSD(&st.token)
	if i < 0 {
		return "", noConfig()
	}
	s.st.osds[i] = st
	return `<trt:SetOSDResponse/>`, nil
}

func (s *Server) createOSD(data []byte) (string, *fault) {
	req, f := decodeBody[osdReq](data)
	if f != nil {
		return "", f
	}
	st, f := parseOSD(req)
	if f != nil {
		return "", f
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if len(s.st.osds) >= osdMaxTotal {
		return "", &fault{subcodes: []string{"ter:Action", "ter:MaxOSDs"}, reason: "Maximum number of OSDs reached"}
	}
	st.token = fmt.Sprintf("OSD_%d", s.st.nextOSD)
	s.st.nextOSD++
	s.st.osds = append(s.st.osds, st)
	return `<trt:CreateOSDResponse><trt:OSDToken>` + st.token + `</trt:OSDToken></trt:CreateOSDResponse>`, nil
}

func (s *Server) deleteOSD(data []byte) (string, *fault) {
	req, f := decodeBody[osdReq](data)
	if f != nil {
		return "", f
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	i := s.findOSD(req.OSDToken)
	if i < 0 {
		return "", noConfig()
	}
	s.st.osds = slices.Delete(s.st.osds, i, i+1)
	return `<trt:DeleteOSDResponse/>`, nil
}
