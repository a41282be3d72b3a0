package camera

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// OSD settings (docs/protocol.md#osd) map to the camera's ONVIF text overlays:
//
//   - system_id / system_id_text: the first Plain overlay (created or
//     deleted as system_id turns on or off);
//   - time / date: one Date, Time or DateAndTime overlay, its type chosen
//     from the two flags; time_format 12h/24h picks the camera's first time
//     format with "h" or "H" hours; date_format is the camera's date format
//     in capitals (yyyy-MM-dd → YYYY-MM-DD);
//   - font_size: Small, Normal, Big = the smallest, middle and largest
//     size of the camera's range;
//   - font_color / bkg_color: the camera's colour options, named after the
//     nearest common colour; bkg_transp: no or a transparent background;
//   - alignment: the position of the date/time overlay (of the text overlay
//     when there is none); font and colours apply to both.

// Font size names of the caps, smallest first.
var osdFontSizes = []string{"Small", "Normal", "Big"}

// namedColors name the camera's colours for people.
var namedColors = []struct {
	name    string
	r, g, b float64
}{
	{"White", 255, 255, 255}, {"Black", 0, 0, 0}, {"Red", 255, 0, 0}, {"Green", 0, 255, 0}, {"Blue", 0, 0, 255},
	{"Yellow", 255, 255, 0}, {"Cyan", 0, 255, 255}, {"Magenta", 255, 0, 255}, {"Gray", 128, 128, 128}, {"Orange", 255, 156, 0},
}

// rgb converts an ONVIF colour to 8-bit RGB; YCbCr (the default) uses the
// BT.601 studio range that cameras' overlay colours are given in.
func rgb(c onvif.Color) (r, g, b float64) {
	clamp := func(v float64) float64 { return math.Max(0, math.Min(255, math.Round(v))) }
	if strings.Contains(strings.ToUpper(c.Colorspace), "RGB") {
		return clamp(c.X), clamp(c.Y), clamp(c.Z)
	}
	y, cb, cr := 1.164*(c.X-16), c.Y-128, c.Z-128
	return clamp(y + 1.596*cr), clamp(y - 0.813*cr - 0.391*cb), clamp(y + 2.018*cb)
}

// colorCaps names each colour option; names are unique within the list.
func colorCaps(colors []onvif.Color) []uplink.OSDColor {
	out := make([]uplink.OSDColor, 0, len(colors))
	for _, c := range colors {
		r, g, b := rgb(c)
		best, bestD := "", math.Inf(1)
		for _, n := range namedColors {
			if d := (r-n.r)*(r-n.r) + (g-n.g)*(g-n.g) + (b-n.b)*(b-n.b); d < bestD {
				best, bestD = n.name, d
			}
		}
		hex := fmt.Sprintf("%02X%02X%02X", int(r), int(g), int(b))
		if slices.ContainsFunc(out, func(o uplink.OSDColor) bool { return o.Name == best }) {
			best += " " + hex
		}
		out = append(out, uplink.OSDColor{Name: best, Hex: hex})
	}
	return out
}

// colorName finds the caps name of colour c: the option it is nearest to.
func colorName(c onvif.Color, options []onvif.Color, names []uplink.OSDColor) string {
	r, g, b := rgb(c)
	best, bestD := "", math.Inf(1)
	for i, o := range options {
		or, og, ob := rgb(o)
		if d := (r-or)*(r-or) + (g-og)*(g-og) + (b-ob)*(b-ob); d < bestD {
			best, bestD = names[i].Name, d
		}
	}
	return best
}

// osdState is the camera's overlays and options, read for one command.
type osdState struct {
	vsc   string
	opts  onvif.OSDOptions
	plain *onvif.OSD
	dt    []onvif.OSD // Date, Time and DateAndTime overlays
	caps  uplink.OSDCaps
}

func (w *Camera) readOSD(ctx context.Context, cl *onvif.Client) (osdState, error) {
	var st osdState
	pr, err := w.mainProfile()
	if err != nil {
		return st, err
	}
	if pr.VideoSourceConfigToken == "" {
		return st, fmt.Errorf("profile has no video source configuration: %w", onvif.ErrUnsupported)
	}
	st.vsc = pr.VideoSourceConfigToken
	osds, err := cl.OSDs(ctx, st.vsc)
	if err != nil {
		return st, fmt.Errorf("read overlays: %w", err)
	}
	if st.opts, err = cl.OSDOptions(ctx, st.vsc); err != nil {
		return st, fmt.Errorf("read overlay options: %w", err)
	}
	for i := range osds {
		switch osds[i].TextType {
		case onvif.OSDPlain:
			if st.plain == nil {
				st.plain = &osds[i]
			}
		case onvif.OSDDate, onvif.OSDTime, onvif.OSDDateAndTime:
			st.dt = append(st.dt, osds[i])
		}
	}
	st.caps = osdCaps(st.opts)
	return st, nil
}

func timeFamily(format string) string {
	if strings.Contains(format, "h") {
		return uplink.OSDTime12h
	}
	return uplink.OSDTime24h
}

func osdCaps(o onvif.OSDOptions) uplink.OSDCaps {
	has := func(t onvif.OSDTextType) bool { return slices.Contains(o.TextTypes, t) }
	c := uplink.OSDCaps{
		SystemID:   has(onvif.OSDPlain),
		Time:       has(onvif.OSDTime) || has(onvif.OSDDateAndTime),
		Date:       has(onvif.OSDDate) || has(onvif.OSDDateAndTime),
		TimeFormat: []string{}, DateFormat: []string{}, FontSize: []string{}, Alignment: []string{},
		FontColor: colorCaps(o.FontColors), BkgColor: colorCaps(o.BackgroundColors),
	}
	c.SystemIDText = c.SystemID
	c.BkgTransp = len(o.BackgroundColors) > 0
	if c.Time {
		for _, f := range o.TimeFormats {
			if fam := timeFamily(f); !slices.Contains(c.TimeFormat, fam) {
				c.TimeFormat = append(c.TimeFormat, fam)
			}
		}
	}
	if c.Date {
		for _, f := range o.DateFormats {
			if up := strings.ToUpper(f); !slices.Contains(c.DateFormat, up) {
				c.DateFormat = append(c.DateFormat, up)
			}
		}
	}
	if o.FontSize.Max > o.FontSize.Min {
		c.FontSize = slices.Clone(osdFontSizes)
	}
	for _, p := range o.Positions {
		if !strings.EqualFold(p, "Custom") {
			c.Alignment = append(c.Alignment, p)
		}
	}
	return c
}

// fontSizes are the camera sizes behind osdFontSizes.
func fontSizes(r onvif.Range) []int {
	return []int{r.Min, (r.Min + r.Max + 1) / 2, r.Max}
}

// primary is the overlay whose position and style osd_conf reports.
func (st osdState) primary() *onvif.OSD {
	if len(st.dt) > 0 {
		return &st.dt[0]
	}
	return st.plain
}

func (st osdState) conf() uplink.OSDConf {
	out := uplink.OSDConf{Caps: st.caps}
	ptr := func(b bool) *bool { return &b }
	if st.caps.SystemID {
		out.SystemID = ptr(st.plain != nil)
		if st.plain != nil {
			out.SystemIDText = &st.plain.Text
		}
	}
	var hasDate, hasTime bool
	for _, o := range st.dt {
		hasDate = hasDate || o.TextType == onvif.OSDDate || o.TextType == onvif.OSDDateAndTime
		hasTime = hasTime || o.TextType == onvif.OSDTime || o.TextType == onvif.OSDDateAndTime
		if (o.TextType == onvif.OSDTime || o.TextType == onvif.OSDDateAndTime) && o.TimeFormat != "" && len(st.caps.TimeFormat) > 0 {
			f := timeFamily(o.TimeFormat)
			out.TimeFormat = &f
		}
		if (o.TextType == onvif.OSDDate || o.TextType == onvif.OSDDateAndTime) && o.DateFormat != "" && len(st.caps.DateFormat) > 0 {
			f := strings.ToUpper(o.DateFormat)
			out.DateFormat = &f
		}
	}
	if st.caps.Time {
		out.Time = ptr(hasTime)
	}
	if st.caps.Date {
		out.Date = ptr(hasDate)
	}
	p := st.primary()
	if p == nil {
		return out
	}
	if len(st.caps.FontSize) > 0 && p.FontSize > 0 {
		out.FontSize = &osdFontSizes[nearestFontSize(fontSizes(st.opts.FontSize), p.FontSize)]
	}
	if p.FontColor != nil && len(st.caps.FontColor) > 0 {
		n := colorName(p.FontColor.Color, st.opts.FontColors, st.caps.FontColor)
		out.FontColor = &n
	}
	if st.caps.BkgTransp {
		out.BkgTransp = ptr(p.BackgroundColor == nil || p.BackgroundColor.Transparent > 0)
		if p.BackgroundColor != nil {
			n := colorName(p.BackgroundColor.Color, st.opts.BackgroundColors, st.caps.BkgColor)
			out.BkgColor = &n
		}
	}
	if slices.Contains(st.caps.Alignment, p.Position.Type) {
		out.Alignment = &p.Position.Type
	}
	return out
}

// nearestFontSize returns the index of the size closest to v.
func nearestFontSize(sizes []int, v int) int {
	best := 0
	for i, s := range sizes {
		if math.Abs(float64(s-v)) < math.Abs(float64(sizes[best]-v)) {
			best = i
		}
	}
	return best
}

func (w *Camera) osdConf(ctx context.Context, cl *onvif.Client) uplink.Reply {
	st, err := w.readOSD(ctx, cl)
	if err != nil {
		return w.settingsDone("get_osd_conf", err)
	}
	return uplink.Answer(st.conf())
}

// osdChange is a validated set_osd_conf, in ONVIF terms.
type osdChange struct {
	style      onvif.OSD // FontSize, FontColor, BackgroundColor for every overlay
	position   string    // for the primary overlay
	dateFormat string
	timeFormat string
}

// indexByName finds name in caps colours, case-insensitively.
func indexByName(list []uplink.OSDColor, name string) int {
	return slices.IndexFunc(list, func(c uplink.OSDColor) bool { return strings.EqualFold(c.Name, name) })
}

func (st osdState) validate(req uplink.OSDSettings) (osdChange, error) {
	var ch osdChange
	c := st.caps
	if (req.SystemID != nil || req.SystemIDText != nil) && !c.SystemID {
		return ch, invalidf("system_id: camera has no text overlay")
	}
	if req.Time != nil && *req.Time && !c.Time {
		return ch, invalidf("time: camera cannot show the time")
	}
	if req.Date != nil && *req.Date && !c.Date {
		return ch, invalidf("date: camera cannot show the date")
	}
	if req.TimeFormat != nil {
		if !slices.Contains(c.TimeFormat, *req.TimeFormat) {
			return ch, invalidf("time_format %q not in caps %v", *req.TimeFormat, c.TimeFormat)
		}
		i := slices.IndexFunc(st.opts.TimeFormats, func(f string) bool { return timeFamily(f) == *req.TimeFormat })
		ch.timeFormat = st.opts.TimeFormats[i]
	}
	if req.DateFormat != nil {
		i := slices.IndexFunc(st.opts.DateFormats, func(f string) bool { return strings.EqualFold(f, *req.DateFormat) })
		if i < 0 {
			return ch, invalidf("date_format %q not in caps %v", *req.DateFormat, c.DateFormat)
		}
		ch.dateFormat = st.opts.DateFormats[i]
	}
	if req.FontSize != nil {
		i := slices.IndexFunc(c.FontSize, func(s string) bool { return strings.EqualFold(s, *req.FontSize) })
		if i < 0 {
			return ch, invalidf("font_size %q not in caps %v", *req.FontSize, c.FontSize)
		}
		ch.style.FontSize = fontSizes(st.opts.FontSize)[i]
	}
	if req.FontColor != nil {
		i := indexByName(c.FontColor, *req.FontColor)
		if i < 0 {
			return ch, invalidf("font_color %q not in caps", *req.FontColor)
		}
		ch.style.FontColor = &onvif.OSDColor{Color: st.opts.FontColors[i]}
	}
	if req.BkgColor != nil || req.BkgTransp != nil {
		if !c.BkgTransp {
			return ch, invalidf("camera offers no overlay background")
		}
		bg := &onvif.OSDColor{Color: st.opts.BackgroundColors[0]}
		if p := st.primary(); p != nil && p.BackgroundColor != nil {
			*bg = *p.BackgroundColor
		}
		if req.BkgColor != nil {
			i := indexByName(c.BkgColor, *req.BkgColor)
			if i < 0 {
				return ch, invalidf("bkg_color %q not in caps", *req.BkgColor)
			}
			bg.Color = st.opts.BackgroundColors[i]
		}
		if req.BkgTransp != nil {
			bg.Transparent = 0
			if *req.BkgTransp {
				bg.Transparent = 1
			}
		}
		ch.style.BackgroundColor = bg
	}
	if req.Alignment != nil {
		if !slices.Contains(c.Alignment, *req.Alignment) {
			return ch, invalidf("alignment %q not in caps %v", *req.Alignment, c.Alignment)
		}
		ch.position = *req.Alignment
	}
	return ch, nil
}

func (w *Camera) setOSDConf(ctx context.Context, cl *onvif.Client, req *uplink.SetOSDConf) uplink.Reply {
	st, err := w.readOSD(ctx, cl)
	if err != nil {
		return w.settingsDone("set_osd_conf", err)
	}
	ch, err := st.validate(req.OSDSettings)
	if err != nil {
		return w.settingsDone("set_osd_conf", err)
	}
	cur := st.conf()
	wantTime := cur.Time != nil && *cur.Time
	wantDate := cur.Date != nil && *cur.Date
	if req.Time != nil {
		wantTime = *req.Time
	}
	if req.Date != nil {
		wantDate = *req.Date
	}
	var dtType onvif.OSDTextType
	switch {
	case wantTime && wantDate:
		dtType = onvif.OSDDateAndTime
	case wantTime:
		dtType = onvif.OSDTime
	case wantDate:
		dtType = onvif.OSDDate
	}
	if dtType != "" && !slices.Contains(st.opts.TextTypes, dtType) {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("camera has no %s overlay", dtType))
	}
	wantID := st.plain != nil
	if req.SystemID != nil {
		wantID = *req.SystemID
	}
	if req.SystemIDText != nil && !wantID {
		return uplink.Done(uplink.StatusInvalidParam, errors.New("system_id_text given while system_id is off"))
	}
	styled := func(o onvif.OSD, primary bool) onvif.OSD {
		o.FontSize, o.FontColor, o.BackgroundColor = ch.style.FontSize, ch.style.FontColor, ch.style.BackgroundColor
		if primary && ch.position != "" {
			o.Position.Type = ch.position
		}
		return o
	}
	// Date and time: one overlay of the wanted type, the first one kept.
	dtPrimary := dtType != ""
	if dtType == "" {
		for _, o := range st.dt {
			if err := cl.DeleteOSD(ctx, o.Token); err != nil {
				return w.settingsDone("set_osd_conf: remove date/time overlay", err)
			}
		}
	} else {
		o := styled(onvif.OSD{VideoSourceConfigToken: st.vsc, DateFormat: ch.dateFormat, TimeFormat: ch.timeFormat}, true)
		if len(st.dt) > 0 {
			o.Token = st.dt[0].Token
			if st.dt[0].TextType != dtType {
				o.TextType = dtType
			}
		} else {
			o.TextType = dtType
		}
		if o.Token == "" || o.TextType != "" || o.DateFormat != "" || o.TimeFormat != "" || hasStyle(o) {
			if _, err := cl.SetOSD(ctx, o); err != nil {
				return w.settingsDone("set_osd_conf: date/time overlay", err)
			}
		}
		for _, extra := range st.dt[min(1, len(st.dt)):] {
			if err := cl.DeleteOSD(ctx, extra.Token); err != nil {
				return w.settingsDone("set_osd_conf: remove date/time overlay", err)
			}
		}
	}
	// The system id text.
	switch {
	case !wantID && st.plain != nil:
		if err := cl.DeleteOSD(ctx, st.plain.Token); err != nil {
			return w.settingsDone("set_osd_conf: remove text overlay", err)
		}
	case wantID:
		o := styled(onvif.OSD{VideoSourceConfigToken: st.vsc}, !dtPrimary)
		if req.SystemIDText != nil {
			o.Text = *req.SystemIDText
		}
		if st.plain != nil {
			o.Token = st.plain.Token
		} else {
			o.TextType = onvif.OSDPlain
			if o.Text == "" {
				o.Text = w.name
			}
			if o.Position.Type == "" {
				o.Position.Type = freeCorner(st, ch, dtPrimary)
			}
		}
		if o.Token == "" || o.Text != "" || hasStyle(o) {
			if _, err := cl.SetOSD(ctx, o); err != nil {
				return w.settingsDone("set_osd_conf: text overlay", err)
			}
		}
	}
	return uplink.Done(uplink.StatusOK)
}

// hasStyle reports whether o changes an overlay's look or place.
func hasStyle(o onvif.OSD) bool {
	return o.FontSize != 0 || o.FontColor != nil || o.BackgroundColor != nil || o.Position.Type != ""
}

// freeCorner picks where a new text overlay goes: the first corner the
// date/time overlay does not occupy, so the two do not cover each other.
func freeCorner(st osdState, ch osdChange, dtShown bool) string {
	taken := ""
	if dtShown {
		taken = ch.position
		if taken == "" && len(st.dt) > 0 {
			taken = st.dt[0].Position.Type
		}
		if taken == "" {
			taken = "UpperLeft" // where onvif.SetOSD puts a new overlay
		}
	}
	for _, a := range st.caps.Alignment {
		if a != taken {
			return a
		}
	}
	return ""
}
