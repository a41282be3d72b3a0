package onvifsim

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// The simulated analytics configuration: one cell motion engine and its
// detector rule, named as Hikvision names them.
const (
	analyticsConfigToken = "VideoAnalyticsConfig_1"
	cellModuleName       = "MyCellMotionModule"
	cellRuleName         = "MyMotionDetectorRule"
)

// analyticsState is the cell motion engine's configuration.
type analyticsState struct {
	cols, rows  int
	sensitivity int
	active      []bool
	// ruleItems are the rule's other parameters, which a client must send
	// back unchanged.
	ruleItems [][2]string
}

func newAnalyticsState(o Options) analyticsState {
	a := analyticsState{cols: o.CellColumns, rows: o.CellRows, sensitivity: 50,
		ruleItems: [][2]string{{"MinCount", "5"}, {"AlarmOnDelay", "1000"}, {"AlarmOffDelay", "1000"}}}
	if a.cols <= 0 || a.rows <= 0 {
		a.cols, a.rows = 22, 18
	}
	a.active = make([]bool, a.cols*a.rows)
	for i := range a.active {
		a.active[i] = true
	}
	return a
}

// configElem is a tt:Config (an analytics module or rule) as a client sends it.
type configElem struct {
	Name         string    `xml:"Name,attr"`
	Type         string    `xml:"Type,attr"`
	SimpleItems  []simItem `xml:"Parameters>SimpleItem"`
	ElementItems []struct {
		Name   string `xml:"Name,attr"`
		Layout *struct {
			Columns string `xml:"Columns,attr"`
			Rows    string `xml:"Rows,attr"`
		} `xml:"CellLayout"`
	} `xml:"Parameters>ElementItem"`
}

type simItem struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:"Value,attr"`
}

func (c configElem) item(name string) (string, bool) {
	for _, it := range c.SimpleItems {
		if it.Name == name {
			return it.Value, true
		}
	}
	return "", false
}

// MotionCells returns the cell layout and which cells detect motion.
func (s *Server) MotionCells() (cols, rows int, active []bool) {
	e := s.lockEvents()
	defer e.mu.Unlock()
	a := &e.analytics
	return a.cols, a.rows, append([]bool(nil), a.active...)
}

// MotionSensitivity returns the cell motion engine's sensitivity (0..100).
func (s *Server) MotionSensitivity() int {
	e := s.lockEvents()
	defer e.mu.Unlock()
	return e.analytics.sensitivity
}

func (s *Server) analyticsProfileXML() string {
	if s.opts.NoAnalytics {
		return ""
	}
	return `<tt:VideoAnalyticsConfiguration token="` + analyticsConfigToken + `"><tt:Name>VideoAnalyticsName</tt:Name>` +
		`<tt:UseCount>2</tt:UseCount><tt:AnalyticsEngineConfiguration></tt:AnalyticsEngineConfiguration>` +
		`<tt:RuleEngineConfiguration></tt:RuleEngineConfiguration></tt:VideoAnalyticsConfiguration>`
}

func checkConfigToken(tok string) *fault {
	if strings.TrimSpace(tok) != analyticsConfigToken {
		return &fault{subcodes: []string{"ter:InvalidArgVal", "ter:NoConfig"}, reason: "Configuration token does not exist"}
	}
	return nil
}

const analyticsXMLNS = ` xmlns:tan="` + nsAnalytics + `"`

func (s *Server) getAnalyticsModules(tok string) (string, *fault) {
	if f := checkConfigToken(tok); f != nil {
		return "", f
	}
	e := s.lockEvents()
	a := e.analytics
	e.mu.Unlock()
	return fmt.Sprintf(`<tan:GetAnalyticsModulesResponse`+analyticsXMLNS+`>`+
		`<tan:AnalyticsModule Name="%s" Type="tt:CellMotionEngine"><tt:Parameters>`+
		`<tt:SimpleItem Name="Sensitivity" Value="%d"/>`+
		`<tt:ElementItem Name="Layout"><tt:CellLayout Columns="%d" Rows="%d"><tt:Transformation>`+
		`<tt:Translate x="-1.000000" y="-1.000000"/><tt:Scale x="%f" y="%f"/></tt:Transformation></tt:CellLayout></tt:ElementItem>`+
		`</tt:Parameters></tan:AnalyticsModule>`+
		`<tan:AnalyticsModule Name="MyTamperDetecModule" Type="tt:TamperEngine"><tt:Parameters>`+
		`<tt:SimpleItem Name="Sensitivity" Value="0"/></tt:Parameters></tan:AnalyticsModule>`+
		`</tan:GetAnalyticsModulesResponse>`,
		cellModuleName, a.sensitivity, a.cols, a.rows, 2/float64(a.cols), 2/float64(a.rows)), nil
}

func (s *Server) modifyAnalyticsModules(tok string, mods []configElem) (string, *fault) {
	if f := checkConfigToken(tok); f != nil {
		return "", f
	}
	if len(mods) == 0 {
		return "", errArg("no AnalyticsModule")
	}
	e := s.lockEvents()
	defer e.mu.Unlock()
	a := &e.analytics
	sens := a.sensitivity
	for _, m := range mods {
		if m.Name != cellModuleName {
			return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:NoSuchModule"}, reason: "no module " + m.Name}
		}
		if localName(m.Type) != "CellMotionEngine" {
			return "", errArg("module type does not match")
		}
		v, ok := m.item("Sensitivity")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil {
			return "", errArg("Sensitivity missing or not an integer")
		}
		// Like real cameras, a module sent without its layout is refused
		// rather than silently reset.
		layoutOK := false
		for _, el := range m.ElementItems {
			if el.Name == "Layout" && el.Layout != nil {
				if el.Layout.Columns != strconv.Itoa(a.cols) || el.Layout.Rows != strconv.Itoa(a.rows) {
					return "", errArg("cell layout cannot be changed")
				}
				layoutOK = true
			}
		}
		if !layoutOK {
			return "", errArg("Layout missing")
		}
		sens = min(max(n, 0), 100) // cameras clamp silently
	}
	a.sensitivity = sens
	return `<tan:ModifyAnalyticsModulesResponse` + analyticsXMLNS + `/>`, nil
}

func (s *Server) getRules(tok string) (string, *fault) {
	if f := checkConfigToken(tok); f != nil {
		return "", f
	}
	e := s.lockEvents()
	a := e.analytics
	e.mu.Unlock()
	var b strings.Builder
	b.WriteString(`<tan:GetRulesResponse` + analyticsXMLNS + `><tan:Rule Name="` + cellRuleName + `" Type="tt:CellMotionDetector"><tt:Parameters>`)
	for _, it := range a.ruleItems {
		fmt.Fprintf(&b, `<tt:SimpleItem Name="%s" Value="%s"/>`, it[0], it[1])
	}
	fmt.Fprintf(&b, `<tt:SimpleItem Name="ActiveCells" Value="%s"/>`, simEncodeCells(a.active))
	b.WriteString(`</tt:Parameters></tan:Rule>` +
		`<tan:Rule Name="MyTamperDetectorRule" Type="tt:TamperDetector"><tt:Parameters>` +
		`<tt:ElementItem Name="Field"><tt:PolygonConfiguration><tt:Polygon><tt:Point x="0" y="0"/><tt:Point x="0" y="1"/>` +
		`<tt:Point x="1" y="1"/><tt:Point x="1" y="0"/></tt:Polygon></tt:PolygonConfiguration></tt:ElementItem>` +
		`</tt:Parameters></tan:Rule></tan:GetRulesResponse>`)
	return b.String(), nil
}

func (s *Server) modifyRules(tok string, rules []configElem) (string, *fault) {
	if f := checkConfigToken(tok); f != nil {
		return "", f
	}
	if len(rules) == 0 {
		return "", errArg("no Rule")
	}
	e := s.lockEvents()
	defer e.mu.Unlock()
	a := &e.analytics
	var cells []bool
	for _, r := range rules {
		if r.Name != cellRuleName {
			return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:NoSuchRule"}, reason: "no rule " + r.Name}
		}
		if localName(r.Type) != "CellMotionDetector" {
			return "", errArg("rule type does not match")
		}
		for _, it := range a.ruleItems {
			if v, ok := r.item(it[0]); !ok || v != it[1] {
				return "", errArg("parameter " + it[0] + " missing or changed")
			}
		}
		v, ok := r.item("ActiveCells")
		if !ok {
			return "", errArg("ActiveCells missing")
		}
		c, err := simDecodeCells(v, a.cols*a.rows)
		if err != nil {
			return "", errArg("ActiveCells: " + err.Error())
		}
		cells = c
	}
	a.active = cells
	return `<tan:ModifyRulesResponse` + analyticsXMLNS + `/>`, nil
}

func localName(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.LastIndexByte(q, ':'); i >= 0 {
		return q[i+1:]
	}
	return q
}

// simEncodeCells packs the cell bits (MSB first, row-major) with the
// simplest valid PackBits: one repeat packet per run of equal bytes, split
// at 128. It is deliberately a different encoder from the client's.
func simEncodeCells(active []bool) string {
	bits := make([]byte, (len(active)+7)/8)
	for i, on := range active {
		if on {
			bits[i/8] |= 0x80 >> (i % 8)
		}
	}
	var out []byte
	for i := 0; i < len(bits); {
		n := 1
		for i+n < len(bits) && n < 128 && bits[i+n] == bits[i] {
			n++
		}
		out = append(out, byte(257-n), bits[i]) // 1-n as a byte; n=1 gives 0x00 (literal of one)
		i += n
	}
	return base64.StdEncoding.EncodeToString(out)
}

// simDecodeCells checks and decodes an ActiveCells value for n cells.
func simDecodeCells(v string, n int) ([]bool, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("not base64")
	}
	want := (n + 7) / 8
	var bits []byte
	for i := 0; i < len(raw) && len(bits) < want; {
		h := int(int8(raw[i]))
		i++
		switch {
		case h >= 0:
			if i+h+1 > len(raw) {
				return nil, fmt.Errorf("truncated literal")
			}
			bits = append(bits, raw[i:i+h+1]...)
			i += h + 1
		case h > -128:
			if i >= len(raw) {
				return nil, fmt.Errorf("truncated run")
			}
			for k := 0; k < 1-h; k++ {
				bits = append(bits, raw[i])
			}
			i++
		}
	}
	if len(bits) < want {
		return nil, fmt.Errorf("%d bytes for %d cells", len(bits), n)
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = bits[i/8]&(0x80>>(i%8)) != 0
	}
	return out, nil
}
