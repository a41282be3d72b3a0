package onvif

import (
	"context"
	"fmt"
	"strings"
)

const nsImaging = "http://www.onvif.org/ver20/imaging/wsdl"

// IRCutFilter is the infrared-cut filter mode: the cloud's day/night setting.
type IRCutFilter string

// IR-cut filter modes as ONVIF spells them. On (filter in) is day mode, Off
// (filter out, IR light passes) is night mode.
const (
	IRCutFilterOn   IRCutFilter = "ON"
	IRCutFilterOff  IRCutFilter = "OFF"
	IRCutFilterAuto IRCutFilter = "AUTO"
)

// Imaging is a video source's image settings (Imaging service ver20). A nil
// level or empty mode means the camera does not report that setting.
type Imaging struct {
	Brightness *Level
	Contrast   *Level
	Saturation *Level
	Sharpness  *Level
	// IRCutFilter is ON (day), OFF (night) or AUTO.
	IRCutFilter IRCutFilter
	// WDRMode is the wide dynamic range mode, "ON" or "OFF".
	WDRMode string
	// BacklightMode is the backlight compensation mode, "ON" or "OFF".
	BacklightMode string
}

// ImagingOptions are the ranges and modes a video source accepts. An
// unknown range or empty list means the camera does not offer the setting.
type ImagingOptions struct {
	Brightness       FloatRange
	Contrast         FloatRange
	Saturation       FloatRange
	Sharpness        FloatRange
	IRCutFilterModes []IRCutFilter
	WDRModes         []string
	BacklightModes   []string
}

// ImagingPatch lists the image settings to change; nil or empty fields are
// left as they are. Levels are in the camera's units (see Level.AtPercent).
type ImagingPatch struct {
	Brightness    *float64
	Contrast      *float64
	Saturation    *float64
	Sharpness     *float64
	IRCutFilter   IRCutFilter
	WDRMode       string
	BacklightMode string
}

func imagingAddr(s Services) string { return s.Imaging }

// ImagingSettings reads a video source's image settings and, where the
// camera reports them, their ranges.
func (c *Client) ImagingSettings(ctx context.Context, videoSourceToken string) (Imaging, error) {
	settings, err := c.imagingSettingsNode(ctx, videoSourceToken)
	if err != nil {
		return Imaging{}, err
	}
	opts, err := c.ImagingOptions(ctx, videoSourceToken)
	if err := optionsErr(ctx, err); err != nil {
		return Imaging{}, err
	}
	return imagingFromNode(settings, opts), nil
}

// ImagingOptions reads the ranges and modes a video source accepts.
func (c *Client) ImagingOptions(ctx context.Context, videoSourceToken string) (ImagingOptions, error) {
	const op = "get imaging options"
	addr, err := c.endpoint(imagingAddr)
	if err != nil {
		return ImagingOptions{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r imagingOptionsResponse
	req := newRequest(nsImaging, "GetOptions").elem("VideoSourceToken", videoSourceToken)
	if err := c.call(ctx, op, addr, nsImaging+"/GetOptions", req, true, "GetOptionsResponse", &r); err != nil {
		return ImagingOptions{}, err
	}
	return imagingOptionsFromNode(r.Options), nil
}

// SetImaging changes the settings in p (validated against the camera's
// options first), then reads back and returns what the camera applied.
func (c *Client) SetImaging(ctx context.Context, videoSourceToken string, p ImagingPatch) (Imaging, error) {
	const op = "set imaging settings"
	settings, err := c.imagingSettingsNode(ctx, videoSourceToken)
	if err != nil {
		return Imaging{}, err
	}
	opts, err := c.ImagingOptions(ctx, videoSourceToken)
	if err := optionsErr(ctx, err); err != nil {
		return Imaging{}, err
	}
	if err := applyImagingPatch(op, settings, opts, p); err != nil {
		return Imaging{}, err
	}
	addr, err := c.endpoint(imagingAddr)
	if err != nil {
		return Imaging{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := newRequest(nsImaging, "SetImagingSettings").elem("VideoSourceToken", videoSourceToken).
		withNode(settings, "ImagingSettings").elem("ForcePersistence", "true")
	if err := c.call(ctx, op, addr, nsImaging+"/SetImagingSettings", req, true, "SetImagingSettingsResponse", &emptyResponse{}); err != nil {
		return Imaging{}, refused(err)
	}
	back, err := c.imagingSettingsNode(ctx, videoSourceToken)
	if err != nil {
		return Imaging{}, fmt.Errorf("onvif: %s: read back: %w", op, err)
	}
	return imagingFromNode(back, opts), nil
}

func (c *Client) imagingSettingsNode(ctx context.Context, videoSourceToken string) (*node, error) {
	const op = "get imaging settings"
	addr, err := c.endpoint(imagingAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r imagingSettingsResponse
	req := newRequest(nsImaging, "GetImagingSettings").elem("VideoSourceToken", videoSourceToken)
	if err := c.call(ctx, op, addr, nsImaging+"/GetImagingSettings", req, true, "GetImagingSettingsResponse", &r); err != nil {
		return nil, err
	}
	if r.Settings == nil {
		return nil, fmt.Errorf("onvif: %s: no ImagingSettings in response", op)
	}
	r.Settings.typ = "ImagingSettings20"
	return r.Settings, nil
}

type imagingSettingsResponse struct {
	Settings *node `xml:"ImagingSettings"`
}

type imagingOptionsResponse struct {
	Options *node `xml:"ImagingOptions"`
}

// imagingLevels pairs each level setting with its element names.
var imagingLevels = []struct {
	field string
	elem  string
	pick  func(*Imaging) **Level
	rng   func(ImagingOptions) FloatRange
	patch func(ImagingPatch) *float64
}{
	{"brightness", "Brightness", func(i *Imaging) **Level { return &i.Brightness },
		func(o ImagingOptions) FloatRange { return o.Brightness }, func(p ImagingPatch) *float64 { return p.Brightness }},
	{"contrast", "Contrast", func(i *Imaging) **Level { return &i.Contrast },
		func(o ImagingOptions) FloatRange { return o.Contrast }, func(p ImagingPatch) *float64 { return p.Contrast }},
	{"saturation", "ColorSaturation", func(i *Imaging) **Level { return &i.Saturation },
		func(o ImagingOptions) FloatRange { return o.Saturation }, func(p ImagingPatch) *float64 { return p.Saturation }},
	{"sharpness", "Sharpness", func(i *Imaging) **Level { return &i.Sharpness },
		func(o ImagingOptions) FloatRange { return o.Sharpness }, func(p ImagingPatch) *float64 { return p.Sharpness }},
}

func imagingFromNode(n *node, o ImagingOptions) Imaging {
	var im Imaging
	for _, l := range imagingLevels {
		if k := n.find(l.elem); k != nil && strings.TrimSpace(k.text) != "" {
			*l.pick(&im) = &Level{Value: atof(k.text), Range: l.rng(o)}
		}
	}
	im.IRCutFilter = IRCutFilter(strings.ToUpper(n.value("IrCutFilter")))
	im.WDRMode = strings.ToUpper(n.value("WideDynamicRange", "Mode"))
	im.BacklightMode = strings.ToUpper(n.value("BacklightCompensation", "Mode"))
	return im
}

func imagingOptionsFromNode(n *node) ImagingOptions {
	var o ImagingOptions
	if n == nil {
		return o
	}
	o.Brightness = floatRange(n.find("Brightness"))
	o.Contrast = floatRange(n.find("Contrast"))
	o.Saturation = floatRange(n.find("ColorSaturation"))
	o.Sharpness = floatRange(n.find("Sharpness"))
	for _, m := range texts(n, "IrCutFilterModes") {
		o.IRCutFilterModes = append(o.IRCutFilterModes, IRCutFilter(strings.ToUpper(m)))
	}
	o.WDRModes = upper(texts(n.find("WideDynamicRange"), "Mode"))
	o.BacklightModes = upper(texts(n.find("BacklightCompensation"), "Mode"))
	return o
}

func upper(in []string) []string {
	for i := range in {
		in[i] = strings.ToUpper(in[i])
	}
	return in
}

// applyImagingPatch validates p against the current settings and options
// and writes it into settings.
func applyImagingPatch(op string, settings *node, o ImagingOptions, p ImagingPatch) error {
	for _, l := range imagingLevels {
		v := l.patch(p)
		if v == nil {
			continue
		}
		if settings.find(l.elem) == nil && !l.rng(o).Known() {
			return unsupportedField(op, l.field)
		}
		if err := checkIn(l.field, *v, l.rng(o)); err != nil {
			return err
		}
		settings.set(fmtFloat(*v), l.elem)
	}
	if p.IRCutFilter != "" {
		if settings.find("IrCutFilter") == nil && len(o.IRCutFilterModes) == 0 {
			return unsupportedField(op, "ir cut filter")
		}
		modes := make([]string, len(o.IRCutFilterModes))
		for i, m := range o.IRCutFilterModes {
			modes[i] = string(m)
		}
		if err := checkOneOf("ir cut filter", string(p.IRCutFilter), modes); err != nil {
			return err
		}
		settings.set(strings.ToUpper(string(p.IRCutFilter)), "IrCutFilter")
	}
	modes := []struct {
		field, elem, v string
		allowed        []string
	}{
		{"wdr", "WideDynamicRange", p.WDRMode, o.WDRModes},
		{"backlight compensation", "BacklightCompensation", p.BacklightMode, o.BacklightModes},
	}
	for _, m := range modes {
		if m.v == "" {
			continue
		}
		if settings.find(m.elem) == nil && len(m.allowed) == 0 {
			return unsupportedField(op, m.field)
		}
		allowed := m.allowed
		if len(allowed) == 0 {
			allowed = []string{"ON", "OFF"}
		}
		if err := checkOneOf(m.field, m.v, allowed); err != nil {
			return err
		}
		settings.set(strings.ToUpper(m.v), m.elem, "Mode")
	}
	return nil
}
