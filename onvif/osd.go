package onvif

import (
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// OSDTextType says what a text overlay shows.
type OSDTextType string

// Text overlay types as ONVIF spells them.
const (
	OSDPlain       OSDTextType = "Plain"
	OSDDate        OSDTextType = "Date"
	OSDTime        OSDTextType = "Time"
	OSDDateAndTime OSDTextType = "DateAndTime"
)

// Color is an ONVIF colour: X, Y, Z in Colorspace (YCbCr when empty).
type Color struct {
	X          float64
	Y          float64
	Z          float64
	Colorspace string
}

// OSDColor is an overlay colour with its transparency (0 = opaque).
type OSDColor struct {
	Color       Color
	Transparent int
}

// OSDPosition places an overlay: Type is UpperLeft, UpperRight, LowerLeft,
// LowerRight or Custom (then X, Y in -1..1 apply).
type OSDPosition struct {
	Type string
	X    float64
	Y    float64
}

// OSD is one on-screen display element (Media ver10).
type OSD struct {
	Token                  string
	VideoSourceConfigToken string
	// TextType is empty for image overlays, which the other fields ignore.
	TextType OSDTextType
	// Text is the static text of a Plain overlay.
	Text       string
	DateFormat string
	TimeFormat string
	FontSize   int
	// FontColor and BackgroundColor are nil when not reported or, in
	// SetOSD, to keep them.
	FontColor       *OSDColor
	BackgroundColor *OSDColor
	Position        OSDPosition
}

// OSDOptions are what overlays of a video source configuration may be.
type OSDOptions struct {
	// MaxTotal is the maximum number of overlays; 0 when not reported.
	MaxTotal         int
	TextTypes        []OSDTextType
	Positions        []string
	FontSize         Range
	DateFormats      []string
	TimeFormats      []string
	FontColors       []Color
	BackgroundColors []Color
}

// OSDs lists the overlays of a video source configuration (all of them
// when the token is empty). It returns ErrUnsupported when the camera has
// no OSD.
func (c *Client) OSDs(ctx context.Context, videoSourceConfigToken string) ([]OSD, error) {
	const op = "get osds"
	req := newRequest(nsMedia, "GetOSDs")
	if videoSourceConfigToken != "" {
		req.elem("ConfigurationToken", videoSourceConfigToken)
	}
	var r struct {
		OSDs []*node `xml:"OSDs"`
	}
	if err := c.mediaCall(ctx, op, req, &r); err != nil {
		return nil, err
	}
	out := make([]OSD, 0, len(r.OSDs))
	for _, n := range r.OSDs {
		out = append(out, osdFromNode(n))
	}
	return out, nil
}

// OSDOptions reads what overlays of a video source configuration may be.
func (c *Client) OSDOptions(ctx context.Context, videoSourceConfigToken string) (OSDOptions, error) {
	req := newRequest(nsMedia, "GetOSDOptions").elem("ConfigurationToken", videoSourceConfigToken)
	var r struct {
		Options *node `xml:"OSDOptions"`
	}
	if err := c.mediaCall(ctx, "get osd options", req, &r); err != nil {
		return OSDOptions{}, err
	}
	return osdOptionsFromNode(r.Options), nil
}

// SetOSD creates a text overlay when o.Token is empty, otherwise changes
// the given fields of that overlay (empty or nil fields are kept). Values
// are checked against the camera's options first. It returns the overlay
// as the camera reports it afterwards.
func (c *Client) SetOSD(ctx context.Context, o OSD) (OSD, error) {
	const op = "set osd"
	var cur *node
	if o.Token != "" {
		n, err := c.osdNode(ctx, o.Token)
		if err != nil {
			return OSD{}, err
		}
		cur = n
		if o.VideoSourceConfigToken == "" {
			o.VideoSourceConfigToken = cur.value("VideoSourceConfigurationToken")
		}
	} else {
		if o.VideoSourceConfigToken == "" || o.TextType == "" {
			return OSD{}, fmt.Errorf("onvif: %s: a new overlay needs a video source configuration and a text type", op)
		}
		cur = &node{name: xml.Name{Space: nsSchema, Local: "OSDConfiguration"}}
		cur.setAttr("token", "") // required by the schema; the camera assigns it
		cur.set(o.VideoSourceConfigToken, "VideoSourceConfigurationToken")
		cur.set("Text", "Type")
	}
	cur.typ = "OSDConfiguration"
	opts, err := c.OSDOptions(ctx, o.VideoSourceConfigToken)
	if err != nil {
		return OSD{}, err
	}
	if o.Token == "" && o.Position.Type == "" {
		// The schema requires a position: upper left, or the first the
		// camera offers (some offer only Custom; -1,1 is its upper left).
		o.Position = OSDPosition{Type: "UpperLeft"}
		if len(opts.Positions) > 0 && checkOneOf("", "UpperLeft", opts.Positions) != nil {
			o.Position = OSDPosition{Type: opts.Positions[0], X: -1, Y: 1}
		}
	}
	if err := applyOSD(cur, opts, o); err != nil {
		return OSD{}, err
	}
	token := o.Token
	if token == "" {
		var r struct {
			Token string `xml:"OSDToken"`
		}
		if err := c.mediaCall(ctx, "create osd", newRequest(nsMedia, "CreateOSD").withNode(cur, "OSD"), &r); err != nil {
			return OSD{}, refused(err)
		}
		if token = strings.TrimSpace(r.Token); token == "" {
			return OSD{}, fmt.Errorf("onvif: create osd: camera returned no token")
		}
	} else if err := c.mediaCall(ctx, op, newRequest(nsMedia, "SetOSD").withNode(cur, "OSD"), &emptyResponse{}); err != nil {
		return OSD{}, refused(err)
	}
	back, err := c.osdNode(ctx, token)
	if err != nil {
		return OSD{}, fmt.Errorf("onvif: %s: read back: %w", op, err)
	}
	return osdFromNode(back), nil
}

// DeleteOSD removes an overlay.
func (c *Client) DeleteOSD(ctx context.Context, token string) error {
	return c.mediaCall(ctx, "delete osd", newRequest(nsMedia, "DeleteOSD").elem("OSDToken", token), &emptyResponse{})
}

// mediaCall sends a Media (ver10) request named by req and decodes the
// matching response element.
func (c *Client) mediaCall(ctx context.Context, op string, req *rawRequest, out any) error {
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return fmt.Errorf("onvif: %s: %w", op, err)
	}
	action := req.XMLName.Local
	return c.call(ctx, op, addr, nsMedia+"/"+action, req, true, action+"Response", out)
}

func (c *Client) osdNode(ctx context.Context, token string) (*node, error) {
	var r struct {
		OSD *node `xml:"OSD"`
	}
	if err := c.mediaCall(ctx, "get osd", newRequest(nsMedia, "GetOSD").elem("OSDToken", token), &r); err != nil {
		return nil, err
	}
	if r.OSD == nil {
		return nil, fmt.Errorf("onvif: get osd: no OSD in response")
	}
	return r.OSD, nil
}

func osdFromNode(n *node) OSD {
	o := OSD{
		Token:                  n.attr("token"),
		VideoSourceConfigToken: n.value("VideoSourceConfigurationToken"),
		Position: OSDPosition{
			Type: n.value("Position", "Type"),
			X:    atof(n.find("Position", "Pos").attr("x")),
			Y:    atof(n.find("Position", "Pos").attr("y")),
		},
	}
	ts := n.find("TextString")
	if ts == nil || !strings.EqualFold(n.value("Type"), "Text") {
		return o
	}
	o.TextType = OSDTextType(ts.value("Type"))
	o.Text = ts.value("PlainText")
	o.DateFormat = ts.value("DateFormat")
	o.TimeFormat = ts.value("TimeFormat")
	o.FontSize = atoi(ts.value("FontSize"))
	o.FontColor = osdColorFromNode(ts.find("FontColor"))
	o.BackgroundColor = osdColorFromNode(ts.find("BackgroundColor"))
	return o
}

func osdColorFromNode(n *node) *OSDColor {
	if n == nil {
		return nil
	}
	return &OSDColor{Color: colorFromNode(n.find("Color")), Transparent: atoi(n.attr("Transparent"))}
}

func colorFromNode(n *node) Color {
	return Color{X: atof(n.attr("X")), Y: atof(n.attr("Y")), Z: atof(n.attr("Z")), Colorspace: n.attr("Colorspace")}
}

func osdOptionsFromNode(n *node) OSDOptions {
	o := OSDOptions{MaxTotal: max(0, atoi(n.find("MaximumNumberOfOSDs").attr("Total")))}
	o.Positions = texts(n, "PositionOption")
	to := n.find("TextOption")
	for _, t := range texts(to, "Type") {
		o.TextTypes = append(o.TextTypes, OSDTextType(t))
	}
	if fr := to.find("FontSizeRange"); fr != nil {
		o.FontSize = Range{Min: atoi(fr.value("Min")), Max: atoi(fr.value("Max"))}
	}
	o.DateFormats = texts(to, "DateFormat")
	o.TimeFormats = texts(to, "TimeFormat")
	for _, k := range to.find("FontColor", "Color").findAll("ColorList") {
		o.FontColors = append(o.FontColors, colorFromNode(k))
	}
	for _, k := range to.find("BackgroundColor", "Color").findAll("ColorList") {
		o.BackgroundColors = append(o.BackgroundColors, colorFromNode(k))
	}
	return o
}

// applyOSD validates o against opts and writes its non-empty fields into cur.
func applyOSD(cur *node, opts OSDOptions, o OSD) error {
	if o.TextType != "" {
		tt := make([]string, len(opts.TextTypes))
		for i, t := range opts.TextTypes {
			tt[i] = string(t)
		}
		if err := checkOneOf("osd text type", string(o.TextType), tt); err != nil {
			return err
		}
	}
	if o.Position.Type != "" {
		if err := checkOneOf("osd position", o.Position.Type, opts.Positions); err != nil {
			return err
		}
	}
	if o.DateFormat != "" {
		if err := checkOneOf("osd date format", o.DateFormat, opts.DateFormats); err != nil {
			return err
		}
	}
	if o.TimeFormat != "" {
		if err := checkOneOf("osd time format", o.TimeFormat, opts.TimeFormats); err != nil {
			return err
		}
	}
	if o.FontSize != 0 {
		if err := checkInt("osd font size", float64(o.FontSize), opts.FontSize); err != nil {
			return err
		}
	}
	if o.Position.Type != "" {
		pos := cur.child("Position")
		pos.set(o.Position.Type, "Type")
		if strings.EqualFold(o.Position.Type, "Custom") {
			pt := pos.child("Pos")
			pt.text = ""
			pt.setAttr("x", fmtFloat(clamp1(o.Position.X)))
			pt.setAttr("y", fmtFloat(clamp1(o.Position.Y)))
		} else {
			pos.remove("Pos")
		}
	}
	if o.TextType == "" && o.Text == "" && o.DateFormat == "" && o.TimeFormat == "" && o.FontSize == 0 &&
		o.FontColor == nil && o.BackgroundColor == nil {
		return nil
	}
	ts := cur.child("TextString")
	if o.TextType != "" {
		ts.set(canonical(string(o.TextType), stringsOf(opts.TextTypes)), "Type")
	}
	if o.DateFormat != "" {
		ts.set(canonical(o.DateFormat, opts.DateFormats), "DateFormat")
	}
	if o.TimeFormat != "" {
		ts.set(canonical(o.TimeFormat, opts.TimeFormats), "TimeFormat")
	}
	if o.FontSize != 0 {
		ts.set(strconv.Itoa(o.FontSize), "FontSize")
	}
	setColor := func(elem string, c *OSDColor) {
		if c == nil {
			return
		}
		el := ts.child(elem)
		el.kids, el.text = nil, ""
		el.setAttr("Transparent", strconv.Itoa(c.Transparent))
		col := el.child("Color")
		col.attrs = nil
		col.setAttr("X", fmtFloat(c.Color.X))
		col.setAttr("Y", fmtFloat(c.Color.Y))
		col.setAttr("Z", fmtFloat(c.Color.Z))
		if c.Color.Colorspace != "" {
			col.setAttr("Colorspace", c.Color.Colorspace)
		}
	}
	setColor("FontColor", o.FontColor)
	setColor("BackgroundColor", o.BackgroundColor)
	if o.Text != "" {
		ts.set(o.Text, "PlainText")
	}
	return nil
}

func stringsOf(in []OSDTextType) []string {
	out := make([]string, len(in))
	for i, t := range in {
		out[i] = string(t)
	}
	return out
}

func clamp1(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return math.Max(-1, math.Min(1, f))
}
