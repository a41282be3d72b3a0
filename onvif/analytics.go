package onvif

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// nsAnalytics is the ver20 analytics service, which holds the cell motion
// engine (an analytics module) and its detector (a rule).
const nsAnalytics = "http://www.onvif.org/ver20/analytics/wsdl"

// CellMotion is a camera's cell motion detection setup: a grid laid over
// the picture, which cells watch for motion and how sensitive the engine is.
type CellMotion struct {
	Columns int
	Rows    int
	// Active has Columns*Rows entries, row-major from the top-left cell.
	Active []bool
	// Sensitivity is the engine's value as the camera reports it,
	// normally 0..100.
	Sensitivity int
	// RuleName and ModuleName name the CellMotionDetector rule and the
	// CellMotionEngine module; ConfigToken is their video analytics
	// configuration.
	RuleName    string
	ModuleName  string
	ConfigToken string
}

func analyticsAddr(s Services) string { return s.Analytics }

// analyticsConfig is a tt:Config (module or rule) kept whole, so writing it
// back sends every parameter the camera gave us.
type analyticsConfig struct {
	Name     string             `xml:"Name,attr"`
	Type     string             `xml:"Type,attr"`
	Simple   []simpleItem       `xml:"Parameters>SimpleItem"`
	Elements []analyticsElement `xml:"Parameters>ElementItem"`
}

type analyticsElement struct {
	Name    string      `xml:"Name,attr"`
	Content xmlFragment `xml:",any"`
}

// xmlFragment holds an element with namespaces resolved, to be re-encoded
// with explicit xmlns declarations whatever prefixes the camera used.
type xmlFragment struct {
	toks []xml.Token
}

// Limits against hostile responses.
const (
	maxFragmentDepth  = 32
	maxFragmentTokens = 10000
)

// UnmarshalXML records start and everything inside it.
func (f *xmlFragment) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	start = start.Copy()
	start.Attr = plainAttrs(start.Attr)
	f.toks = append(f.toks[:0], start)
	depth := 1
	for depth > 0 {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		if len(f.toks) > maxFragmentTokens {
			return errors.New("element item too large")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > maxFragmentDepth {
				return errors.New("element item too deep")
			}
			t = t.Copy()
			t.Attr = plainAttrs(t.Attr)
			f.toks = append(f.toks, t)
		case xml.EndElement:
			depth--
			f.toks = append(f.toks, t)
		case xml.CharData:
			f.toks = append(f.toks, t.Copy())
		}
	}
	return nil
}

// plainAttrs drops namespace declarations and namespaced attributes, whose
// QName values would not survive re-encoding.
func plainAttrs(in []xml.Attr) []xml.Attr {
	out := in[:0]
	for _, a := range in {
		if a.Name.Space == "" && a.Name.Local != "xmlns" {
			out = append(out, a)
		}
	}
	return out
}

func (f *xmlFragment) encode(b *bytes.Buffer) error {
	e := xml.NewEncoder(b)
	for _, t := range f.toks {
		if err := e.EncodeToken(t); err != nil {
			return err
		}
	}
	return e.Flush()
}

// attr returns attribute local of the first element named elem, or "".
func (f *xmlFragment) attr(elem, local string) string {
	for _, t := range f.toks {
		if s, ok := t.(xml.StartElement); ok && s.Name.Local == elem {
			for _, a := range s.Attr {
				if a.Name.Local == local {
					return strings.TrimSpace(a.Value)
				}
			}
		}
	}
	return ""
}

func (a *analyticsConfig) item(name string) (string, bool) {
	for _, it := range a.Simple {
		if strings.TrimSpace(it.Name) == name {
			return strings.TrimSpace(it.Value), true
		}
	}
	return "", false
}

func (a *analyticsConfig) setItem(name, v string) {
	for i := range a.Simple {
		if strings.TrimSpace(a.Simple[i].Name) == name {
			a.Simple[i].Value = v
			return
		}
	}
	a.Simple = append(a.Simple, simpleItem{Name: name, Value: v})
}

// encode writes a as <elem Name Type><tt:Parameters>...</tt:Parameters></elem>
// in the request's default (analytics) namespace.
func (a *analyticsConfig) encode(b *bytes.Buffer, elem string) error {
	b.WriteString("<" + elem + ` Name="`)
	_ = xml.EscapeText(b, []byte(a.Name)) // bytes.Buffer writes cannot fail
	// The types we write are schema types; the envelope declares tt.
	b.WriteString(`" Type="tt:` + localName(a.Type) + `"><tt:Parameters>`)
	for _, it := range a.Simple {
		b.WriteString(`<tt:SimpleItem Name="`)
		_ = xml.EscapeText(b, []byte(it.Name))
		b.WriteString(`" Value="`)
		_ = xml.EscapeText(b, []byte(it.Value))
		b.WriteString(`"/>`)
	}
	for _, el := range a.Elements {
		b.WriteString(`<tt:ElementItem Name="`)
		_ = xml.EscapeText(b, []byte(el.Name))
		b.WriteString(`">`)
		if err := el.Content.encode(b); err != nil {
			return err
		}
		b.WriteString(`</tt:ElementItem>`)
	}
	b.WriteString(`</tt:Parameters></` + elem + `>`)
	return nil
}

type analyticsModulesResponse struct {
	Modules []analyticsConfig `xml:"AnalyticsModule"`
}

type analyticsRulesResponse struct {
	Rules []analyticsConfig `xml:"Rule"`
}

// analyticsRequest is an analytics request with hand-built content in the
// analytics namespace.
type analyticsRequest struct {
	XMLName xml.Name
	Inner   []byte `xml:",innerxml"`
}

func newAnalyticsRequest(action, token string) *analyticsRequest {
	var b bytes.Buffer
	b.WriteString("<ConfigurationToken>")
	_ = xml.EscapeText(&b, []byte(token))
	b.WriteString("</ConfigurationToken>")
	return &analyticsRequest{XMLName: xml.Name{Space: nsAnalytics, Local: action}, Inner: b.Bytes()}
}

// analyticsProfilesResponse reads only what maps profiles to analytics
// configurations.
type analyticsProfilesResponse struct {
	Profiles []struct {
		Token     string `xml:"token,attr"`
		Analytics *struct {
			Token string `xml:"token,attr"`
		} `xml:"VideoAnalyticsConfiguration"`
	} `xml:"Profiles"`
}

// analyticsToken turns a profile token (or "", the first profile with
// analytics) into its video analytics configuration token; anything else is
// taken as a configuration token already.
func (c *Client) analyticsToken(ctx context.Context, op, token string) (string, error) {
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return "", fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r analyticsProfilesResponse
	if err := c.call(ctx, op, addr, nsMedia+"/GetProfiles", analyticsRequest{XMLName: xml.Name{Space: nsMedia, Local: "GetProfiles"}},
		true, "GetProfilesResponse", &r); err != nil {
		return "", err
	}
	for _, p := range r.Profiles {
		if token != "" && strings.TrimSpace(p.Token) != token {
			continue
		}
		if p.Analytics == nil || strings.TrimSpace(p.Analytics.Token) == "" {
			if token != "" {
				return "", fmt.Errorf("onvif: %s: profile %q has no video analytics: %w", op, token, ErrUnsupported)
			}
			continue
		}
		return strings.TrimSpace(p.Analytics.Token), nil
	}
	if token == "" {
		return "", fmt.Errorf("onvif: %s: no profile has video analytics: %w", op, ErrUnsupported)
	}
	return token, nil
}

// cellMotionConfigs fetches the cell motion engine module and detector rule.
func (c *Client) cellMotionConfigs(ctx context.Context, op, token string) (addr, cfgToken string, mod, rule *analyticsConfig, err error) {
	addr, err = c.endpoint(analyticsAddr)
	if err != nil {
		return "", "", nil, nil, fmt.Errorf("onvif: %s: analytics: %w", op, err)
	}
	if cfgToken, err = c.analyticsToken(ctx, op, token); err != nil {
		return "", "", nil, nil, err
	}
	var mr analyticsModulesResponse
	if err = c.call(ctx, op, addr, nsAnalytics+"/GetAnalyticsModules", newAnalyticsRequest("GetAnalyticsModules", cfgToken),
		true, "GetAnalyticsModulesResponse", &mr); err != nil {
		return "", "", nil, nil, err
	}
	for i := range mr.Modules {
		if localName(mr.Modules[i].Type) == "CellMotionEngine" {
			mod = &mr.Modules[i]
			break
		}
	}
	var rr analyticsRulesResponse
	if err = c.call(ctx, op, addr, nsAnalytics+"/GetRules", newAnalyticsRequest("GetRules", cfgToken),
		true, "GetRulesResponse", &rr); err != nil {
		return "", "", nil, nil, err
	}
	for i := range rr.Rules {
		if localName(rr.Rules[i].Type) == "CellMotionDetector" {
			rule = &rr.Rules[i]
			break
		}
	}
	if mod == nil || rule == nil {
		return "", "", nil, nil, fmt.Errorf("onvif: %s: no cell motion engine and detector: %w", op, ErrUnsupported)
	}
	return addr, cfgToken, mod, rule, nil
}

// cellMotionFrom reads a CellMotion out of the module and rule.
func cellMotionFrom(cfgToken string, mod, rule *analyticsConfig) (CellMotion, error) {
	m := CellMotion{RuleName: rule.Name, ModuleName: mod.Name, ConfigToken: cfgToken}
	for _, el := range mod.Elements {
		if el.Name == "Layout" {
			m.Columns, _ = strconv.Atoi(el.Content.attr("CellLayout", "Columns"))
			m.Rows, _ = strconv.Atoi(el.Content.attr("CellLayout", "Rows"))
		}
	}
	if m.Columns <= 0 || m.Rows <= 0 || m.Columns*m.Rows > 8*maxPackBitsOutput {
		return CellMotion{}, fmt.Errorf("cell layout %dx%d", m.Columns, m.Rows)
	}
	if v, ok := mod.item("Sensitivity"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return CellMotion{}, fmt.Errorf("sensitivity %q", v)
		}
		m.Sensitivity = int(math.Round(f))
	}
	cells, ok := rule.item("ActiveCells")
	if !ok {
		return CellMotion{}, errors.New("rule has no ActiveCells")
	}
	active, err := decodeActiveCells(cells, m.Columns*m.Rows)
	if err != nil {
		return CellMotion{}, err
	}
	m.Active = active
	return m, nil
}

// MotionConfig reads the cell motion setup of a video analytics
// configuration, given its token or a profile token ("" for the first
// profile with analytics). A camera without a cell motion engine gives
// ErrUnsupported.
func (c *Client) MotionConfig(ctx context.Context, token string) (CellMotion, error) {
	const op = "get cell motion"
	_, cfgToken, mod, rule, err := c.cellMotionConfigs(ctx, op, token)
	if err != nil {
		return CellMotion{}, err
	}
	m, err := cellMotionFrom(cfgToken, mod, rule)
	if err != nil {
		return CellMotion{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	return m, nil
}

// SetMotionConfig changes the sensitivity and active cells to m's and
// returns what the camera reports afterwards (it may clamp). m's grid must
// have the camera's layout (Columns and Rows zero or equal to it); the
// layout itself cannot be changed. Everything else in the module and rule
// is sent back as the camera gave it.
func (c *Client) SetMotionConfig(ctx context.Context, token string, m CellMotion) (CellMotion, error) {
	const op = "set cell motion"
	addr, cfgToken, mod, rule, err := c.cellMotionConfigs(ctx, op, token)
	if err != nil {
		return CellMotion{}, err
	}
	cur, err := cellMotionFrom(cfgToken, mod, rule)
	if err != nil {
		return CellMotion{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	if (m.Columns != 0 && m.Columns != cur.Columns) || (m.Rows != 0 && m.Rows != cur.Rows) ||
		len(m.Active) != cur.Columns*cur.Rows {
		return CellMotion{}, fmt.Errorf("onvif: %s: grid %dx%d with %d cells does not match the camera's %dx%d",
			op, m.Columns, m.Rows, len(m.Active), cur.Columns, cur.Rows)
	}
	if m.Sensitivity != cur.Sensitivity {
		mod.setItem("Sensitivity", strconv.Itoa(m.Sensitivity))
		req := newAnalyticsRequest("ModifyAnalyticsModules", cfgToken)
		var b bytes.Buffer
		if err := mod.encode(&b, "AnalyticsModule"); err != nil {
			return CellMotion{}, fmt.Errorf("onvif: %s: encode module: %w", op, err)
		}
		req.Inner = append(req.Inner, b.Bytes()...)
		var r struct{}
		if err := c.call(ctx, op, addr, nsAnalytics+"/ModifyAnalyticsModules", req, true, "ModifyAnalyticsModulesResponse", &r); err != nil {
			return CellMotion{}, err
		}
	}
	if !equalCells(m.Active, cur.Active) {
		rule.setItem("ActiveCells", encodeActiveCells(m.Active))
		req := newAnalyticsRequest("ModifyRules", cfgToken)
		var b bytes.Buffer
		if err := rule.encode(&b, "Rule"); err != nil {
			return CellMotion{}, fmt.Errorf("onvif: %s: encode rule: %w", op, err)
		}
		req.Inner = append(req.Inner, b.Bytes()...)
		var r struct{}
		if err := c.call(ctx, op, addr, nsAnalytics+"/ModifyRules", req, true, "ModifyRulesResponse", &r); err != nil {
			return CellMotion{}, err
		}
	}
	return c.MotionConfig(ctx, cfgToken)
}

func equalCells(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
