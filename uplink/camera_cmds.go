package uplink

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// Mode is the off/on/auto setting of docs/protocol.md#enums (flips, IR light, echo cancel).
type Mode string

// Modes of docs/protocol.md#enums.
const (
	ModeOff  Mode = "off"
	ModeOn   Mode = "on"
	ModeAuto Mode = "auto"
)

// Valid reports whether m is one of the modes of docs/protocol.md#enums.
func (m Mode) Valid() bool { return m == ModeOff || m == ModeOn || m == ModeAuto }

// TDNMode is the day/night setting of docs/protocol.md#enums.
type TDNMode string

// Day/night modes of docs/protocol.md#enums.
const (
	TDNDay   TDNMode = "day"
	TDNNight TDNMode = "night"
	TDNAuto  TDNMode = "auto"
)

// Valid reports whether t is one of the day/night modes of docs/protocol.md#enums.
func (t TDNMode) Valid() bool { return t == TDNDay || t == TDNNight || t == TDNAuto }

func checkMode(field string, m *Mode) error {
	if m != nil && !m.Valid() {
		return invalid(field, "unknown mode %q", *m)
	}
	return nil
}

func checkPercent(field string, v *int) error {
	if v != nil && (*v < 0 || *v > 100) {
		return invalid(field, "%d outside 0..100", *v)
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// VideoSettings are the image (sensor) values of docs/protocol.md#cam-video-conf: the body of
// set_cam_video_conf, where nil means leave unchanged, and the values of
// cam_video_conf, where nil means the camera does not support the field.
// Percentages are 0–100, PwrFrequency 50 or 60 Hz. Whether a field is
// controllable at all and whether NRType/WBType are among the caps is the
// handler's check (INVALID_PARAM), as only it knows the caps.
type VideoSettings struct {
	VertFlip     *Mode    `json:"vert_flip,omitempty"`
	HorzFlip     *Mode    `json:"horz_flip,omitempty"`
	TDN          *TDNMode `json:"tdn,omitempty"`
	IRLight      *Mode    `json:"ir_light,omitempty"`
	Brightness   *int     `json:"brightness,omitempty"`
	Contrast     *int     `json:"contrast,omitempty"`
	Saturation   *int     `json:"saturation,omitempty"`
	Sharpness    *int     `json:"sharpness,omitempty"`
	NRType       *string  `json:"nr_type,omitempty"`
	NRLevel      *int     `json:"nr_level,omitempty"`
	WBType       *string  `json:"wb_type,omitempty"`
	PwrFrequency *int     `json:"pwr_frequency,omitempty"`
}

func (*VideoSettings) required() []string { return nil }
func (v *VideoSettings) validate() error {
	if v.TDN != nil && !v.TDN.Valid() {
		return invalid("tdn", "unknown day/night mode %q", *v.TDN)
	}
	if v.PwrFrequency != nil && *v.PwrFrequency != 50 && *v.PwrFrequency != 60 {
		return invalid("pwr_frequency", "%d Hz, want 50 or 60", *v.PwrFrequency)
	}
	return firstErr(checkMode("vert_flip", v.VertFlip), checkMode("horz_flip", v.HorzFlip), checkMode("ir_light", v.IRLight),
		checkPercent("brightness", v.Brightness), checkPercent("contrast", v.Contrast),
		checkPercent("saturation", v.Saturation), checkPercent("sharpness", v.Sharpness), checkPercent("nr_level", v.NRLevel))
}

// VideoConfCaps is cam_video_conf.caps: mode lists (empty = not
// settable), "controllable" flags and name lists. Always sent in full.
type VideoConfCaps struct {
	VertFlip     []Mode    `json:"vert_flip"`
	HorzFlip     []Mode    `json:"horz_flip"`
	TDN          []TDNMode `json:"tdn"`
	IRLight      []Mode    `json:"ir_light"`
	Brightness   bool      `json:"brightness"`
	Contrast     bool      `json:"contrast"`
	Saturation   bool      `json:"saturation"`
	Sharpness    bool      `json:"sharpness"`
	NRType       []string  `json:"nr_type"`
	NRLevel      bool      `json:"nr_level"`
	WBType       []string  `json:"wb_type"`
	PwrFrequency bool      `json:"pwr_frequency"`
}

// MarshalJSON sends empty lists as [].
func (c VideoConfCaps) MarshalJSON() ([]byte, error) {
	type plain VideoConfCaps
	p := plain(c)
	p.VertFlip, p.HorzFlip, p.IRLight = nonNil(p.VertFlip), nonNil(p.HorzFlip), nonNil(p.IRLight)
	p.TDN, p.NRType, p.WBType = nonNil(p.TDN), nonNil(p.NRType), nonNil(p.WBType)
	return json.Marshal(p)
}

// CamVideoConf is the body of cam_video_conf (docs/protocol.md#cam-video-conf): the supported
// values and the caps.
type CamVideoConf struct {
	VideoSettings
	Caps VideoConfCaps `json:"caps"`
}

func (*CamVideoConf) required() []string { return []string{"caps"} }
func (c *CamVideoConf) validate() error  { return c.VideoSettings.validate() }

// AudioSettings are the values of docs/protocol.md#cam-audio-conf: the body of set_cam_audio_conf
// (nil = unchanged) and the values of cam_audio_conf (nil = unsupported).
// A legacy "" echo_cancel is read as off.
type AudioSettings struct {
	MicGain    *int  `json:"mic_gain,omitempty"`
	MicMute    *bool `json:"mic_mute,omitempty"`
	SpkrVol    *int  `json:"spkr_vol,omitempty"`
	SpkrMute   *bool `json:"spkr_mute,omitempty"`
	EchoCancel *Mode `json:"echo_cancel,omitempty"`
}

func (*AudioSettings) required() []string { return nil }
func (a *AudioSettings) validate() error {
	if a.EchoCancel != nil && *a.EchoCancel == "" {
		off := ModeOff
		a.EchoCancel = &off
	}
	return firstErr(checkPercent("mic_gain", a.MicGain), checkPercent("spkr_vol", a.SpkrVol), checkMode("echo_cancel", a.EchoCancel))
}

// AudioConfCaps is cam_audio_conf.caps. Backward is the obsolete two-way
// flag; BackwardFormats (empty = no two-way audio) supersedes it.
type AudioConfCaps struct {
	Mic              bool     `json:"mic"`
	Spkr             bool     `json:"spkr"`
	EchoCancel       []Mode   `json:"echo_cancel"`
	Backward         bool     `json:"backward"`
	BackwardFormats  []string `json:"backward_formats,omitempty"`
	AudioFileFormats []string `json:"audio_file_formats,omitempty"`
}

// MarshalJSON sends an empty echo_cancel list as [].
func (c AudioConfCaps) MarshalJSON() ([]byte, error) {
	type plain AudioConfCaps
	p := plain(c)
	p.EchoCancel = nonNil(p.EchoCancel)
	return json.Marshal(p)
}

// CamAudioConf is the body of cam_audio_conf (docs/protocol.md#cam-audio-conf).
type CamAudioConf struct {
	AudioSettings
	Caps AudioConfCaps `json:"caps"`
}

func (*CamAudioConf) required() []string { return []string{"caps"} }
func (c *CamAudioConf) validate() error  { return c.AudioSettings.validate() }

// PTZAction is a cam_ptz action (docs/protocol.md#enums).
type PTZAction string

// PTZ actions of docs/protocol.md#enums; top tilts up, bottom down.
const (
	PTZLeft    PTZAction = "left"
	PTZRight   PTZAction = "right"
	PTZTop     PTZAction = "top"
	PTZBottom  PTZAction = "bottom"
	PTZZoomIn  PTZAction = "zoom_in"
	PTZZoomOut PTZAction = "zoom_out"
	PTZStop    PTZAction = "stop"
)

// PTZActions lists every action of docs/protocol.md#enums, in the spec's order.
var PTZActions = []PTZAction{PTZLeft, PTZRight, PTZTop, PTZBottom, PTZZoomIn, PTZZoomOut, PTZStop}

// Valid reports whether a is one of the actions of docs/protocol.md#enums.
func (a PTZAction) Valid() bool { return slices.Contains(PTZActions, a) }

// PTZPreset is a stored PTZ position.
type PTZPreset struct {
	Token string `json:"token"`
	Name  string `json:"name"`
}

// CamPTZConf is the body of cam_ptz_conf (docs/protocol.md#get-ptz-conf); MaxPresets 0 means no
// preset support. A camera without PTZ answers NOT_SUPPORTED instead.
type CamPTZConf struct {
	Actions    []PTZAction `json:"actions"`
	MaxPresets int         `json:"maximum_number_of_presets"`
	Presets    []PTZPreset `json:"presets"`
}

func (*CamPTZConf) required() []string { return []string{"actions"} }
func (c *CamPTZConf) validate() error {
	for _, a := range c.Actions {
		if !a.Valid() {
			return invalid("actions", "unknown action %q", a)
		}
	}
	return nil
}

// MarshalJSON sends empty lists as [].
func (c CamPTZConf) MarshalJSON() ([]byte, error) {
	type plain CamPTZConf
	p := plain(c)
	p.Actions, p.Presets = nonNil(p.Actions), nonNil(p.Presets)
	return json.Marshal(p)
}

// CamPTZ is the request cam_ptz (docs/protocol.md#cam-ptz). TM is the movement duration in
// ms; nil means move until stop. Whether the camera offers the action is
// the handler's check (INVALID_PARAM).
type CamPTZ struct {
	Head
	Action PTZAction `json:"action"`
	TM     *int      `json:"tm,omitempty"`
}

func (*CamPTZ) required() []string { return []string{"action"} }
func (c *CamPTZ) validate() error {
	if !c.Action.Valid() {
		return invalid("action", "unknown action %q", c.Action)
	}
	if c.TM != nil && *c.TM <= 0 {
		return invalid("tm", "%d ms is not positive", *c.TM)
	}
	return nil
}

// PresetAction is a cam_ptz_preset action (docs/protocol.md#enums).
type PresetAction string

// Preset actions of docs/protocol.md#enums.
const (
	PresetCreate PresetAction = "create"
	PresetDelete PresetAction = "delete"
	PresetGoto   PresetAction = "goto"
	PresetUpdate PresetAction = "update"
)

// CamPTZPreset is the request cam_ptz_preset (docs/protocol.md#cam-ptz-preset): Token is required
// for delete/goto/update, Name for create (optional for update).
type CamPTZPreset struct {
	Head
	Action PresetAction `json:"action"`
	Token  string       `json:"token,omitempty"`
	Name   string       `json:"name,omitempty"`
}

func (*CamPTZPreset) required() []string { return []string{"action"} }
func (c *CamPTZPreset) validate() error {
	switch c.Action {
	case PresetCreate:
		if c.Name == "" {
			return missed("name")
		}
	case PresetDelete, PresetGoto, PresetUpdate:
		if c.Token == "" {
			return missed("token")
		}
	default:
		return invalid("action", "unknown preset action %q", c.Action)
	}
	return nil
}

// CamPTZPresetCreated is the body of cam_ptz_preset_created (docs/protocol.md#cam-ptz-preset).
type CamPTZPresetCreated struct {
	Token string `json:"token"`
}

func (*CamPTZPresetCreated) required() []string { return []string{"token"} }
func (c *CamPTZPresetCreated) validate() error {
	if c.Token == "" {
		return invalid("token", "empty")
	}
	return nil
}

// SensitivityScope says whether motion sensitivity is per region or one
// value for the frame (docs/protocol.md#enums).
type SensitivityScope string

// Sensitivity scopes of docs/protocol.md#enums.
const (
	SensitivityRegion SensitivityScope = "region"
	SensitivityFrame  SensitivityScope = "frame"
)

// RegionShape says which region maps a camera can apply (docs/protocol.md#enums).
type RegionShape string

// Region shapes of docs/protocol.md#enums.
const (
	ShapeRect RegionShape = "rect"
	ShapeAny  RegionShape = "any"
)

// MotionCaps is motion_detection_conf.caps (docs/protocol.md#motion-detection).
type MotionCaps struct {
	MaxRegions  int              `json:"max_regions"`
	Sensitivity SensitivityScope `json:"sensitivity"`
	RegionShape RegionShape      `json:"region_shape"`
}

// MotionRegion is one motion region (docs/protocol.md#motion-detection). Map is a grid (EncodeGrid)
// of the reply's columns×rows; Sensitivity is 0–100, 0 least sensitive.
type MotionRegion struct {
	Region      string `json:"region"`
	Map         string `json:"map"`
	Sensitivity int    `json:"sensitivity"`
	Enabled     bool   `json:"enabled"`
}

// regionKeys are the fields every regions[] entry carries.
var regionKeys = []string{"region", "map", "sensitivity", "enabled"}

func checkRegions(rs []MotionRegion) error {
	for _, r := range rs {
		if r.Region == "" {
			return invalid("regions[].region", "empty")
		}
		if _, err := base64.StdEncoding.DecodeString(r.Map); err != nil {
			return invalid("regions[].map", "%s: %v", r.Region, err)
		}
		if r.Sensitivity < 0 || r.Sensitivity > 100 {
			return invalid("regions[].sensitivity", "%d outside 0..100", r.Sensitivity)
		}
	}
	return nil
}

// missingListKeys returns the first "list[].key" absent (or null) in an
// entry of the JSON list at top-level key list of raw, or "".
func missingListKeys(raw []byte, list string, keys []string) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return ""
	}
	var entries []map[string]json.RawMessage
	if json.Unmarshal(top[list], &entries) != nil {
		return ""
	}
	for _, e := range entries {
		for _, k := range keys {
			if v, ok := e[k]; !ok || string(v) == "null" {
				return list + "[]." + k
			}
		}
	}
	return ""
}

// MotionDetectionConf is the body of motion_detection_conf (docs/protocol.md#motion-detection);
// Columns 0 means detection unsupported.
type MotionDetectionConf struct {
	Columns int            `json:"columns"`
	Rows    int            `json:"rows"`
	Caps    MotionCaps     `json:"caps"`
	Regions []MotionRegion `json:"regions"`

	missing string
}

func (*MotionDetectionConf) required() []string {
	return []string{"columns", "rows", "caps", "regions"}
}
func (c *MotionDetectionConf) validate() error {
	if c.missing != "" {
		return missed(c.missing)
	}
	if c.Columns < 0 || c.Rows < 0 {
		return invalid("columns", "grid %dx%d", c.Columns, c.Rows)
	}
	if c.Columns > 0 {
		switch c.Caps.Sensitivity {
		case SensitivityRegion, SensitivityFrame:
		default:
			return invalid("caps.sensitivity", "unknown scope %q", c.Caps.Sensitivity)
		}
		switch c.Caps.RegionShape {
		case ShapeRect, ShapeAny:
		default:
			return invalid("caps.region_shape", "unknown shape %q", c.Caps.RegionShape)
		}
	}
	for _, r := range c.Regions {
		if _, err := DecodeGrid(r.Map, c.Columns, c.Rows); err != nil {
			return invalid("regions[].map", "%s: %v", r.Region, err)
		}
	}
	return checkRegions(c.Regions)
}

// UnmarshalJSON also notes a regions[] entry lacking a field, for validate.
func (c *MotionDetectionConf) UnmarshalJSON(b []byte) error {
	type plain MotionDetectionConf
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	c.missing = missingListKeys(b, "regions", regionKeys)
	return nil
}

// MarshalJSON sends an empty regions list as [].
func (c MotionDetectionConf) MarshalJSON() ([]byte, error) {
	type plain MotionDetectionConf
	p := plain(c)
	p.Regions = nonNil(p.Regions)
	return json.Marshal(p)
}

// SetMotionDetection is the request set_motion_detection (docs/protocol.md#motion-detection); each
// region carries all four fields. More regions than caps.max_regions
// (TOO_MANY), a map that does not decode for the camera's grid and a
// per-region sensitivity under a frame scope are the handler's checks.
type SetMotionDetection struct {
	Head
	Regions []MotionRegion `json:"regions"`

	missing string
}

func (*SetMotionDetection) required() []string { return []string{"regions"} }
func (s *SetMotionDetection) validate() error {
	if s.missing != "" {
		return missed(s.missing)
	}
	return checkRegions(s.Regions)
}

// UnmarshalJSON also notes a regions[] entry lacking a field, for validate.
func (s *SetMotionDetection) UnmarshalJSON(b []byte) error {
	type plain SetMotionDetection
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	s.missing = missingListKeys(b, "regions", regionKeys)
	return nil
}

// AudioDetectionCaps is audio_detection_conf.caps: Level is the allowed
// [min,max,step] threshold range in −dB.
type AudioDetectionCaps struct {
	Level [3]int `json:"level"`
}

// AudioDetectionConf is the body of audio_detection_conf (docs/protocol.md#audio-detection): Level
// is the threshold in −dB, Length the ms a sound must last.
type AudioDetectionConf struct {
	Level  int                `json:"level"`
	Length int                `json:"length"`
	Caps   AudioDetectionCaps `json:"caps"`
}

func (*AudioDetectionConf) required() []string { return []string{"level", "length", "caps"} }
func (c *AudioDetectionConf) validate() error {
	if c.Length < 0 {
		return invalid("length", "%d is negative", c.Length)
	}
	return nil
}

// SetAudioDetection is the request set_audio_detection (docs/protocol.md#audio-detection); nil =
// unchanged. The caps range is the handler's check.
type SetAudioDetection struct {
	Head
	Level  *int `json:"level,omitempty"`
	Length *int `json:"length,omitempty"`
}

func (*SetAudioDetection) required() []string { return nil }
func (s *SetAudioDetection) validate() error {
	if s.Level != nil && *s.Level < 0 {
		return invalid("level", "%d is negative", *s.Level)
	}
	if s.Length != nil && *s.Length < 0 {
		return invalid("length", "%d is negative", *s.Length)
	}
	return nil
}

// OSD time formats of docs/protocol.md#enums.
const (
	OSDTime12h = "12h"
	OSDTime24h = "24h"
)

// OSDSettings are the OSD values of docs/protocol.md#osd: the body of set_osd_conf (nil =
// unchanged) and the values of osd_conf (nil = unsupported). Names other
// than TimeFormat must be among the caps, which only the handler knows.
type OSDSettings struct {
	SystemID     *bool   `json:"system_id,omitempty"`
	SystemIDText *string `json:"system_id_text,omitempty"`
	Time         *bool   `json:"time,omitempty"`
	TimeFormat   *string `json:"time_format,omitempty"`
	Date         *bool   `json:"date,omitempty"`
	DateFormat   *string `json:"date_format,omitempty"`
	FontSize     *string `json:"font_size,omitempty"`
	FontColor    *string `json:"font_color,omitempty"`
	BkgColor     *string `json:"bkg_color,omitempty"`
	BkgTransp    *bool   `json:"bkg_transp,omitempty"`
	Alignment    *string `json:"alignment,omitempty"`
}

func (*OSDSettings) required() []string { return nil }
func (o *OSDSettings) validate() error {
	if o.TimeFormat != nil && *o.TimeFormat != OSDTime12h && *o.TimeFormat != OSDTime24h {
		return invalid("time_format", "unknown format %q", *o.TimeFormat)
	}
	return nil
}

// OSDColor is a selectable OSD colour, sent as [name, "RRGGBB"] or [name]
// when Hex is empty.
type OSDColor struct {
	Name string
	Hex  string
}

// MarshalJSON writes the [name, hex] pair.
func (c OSDColor) MarshalJSON() ([]byte, error) {
	if c.Hex == "" {
		return json.Marshal([]string{c.Name})
	}
	return json.Marshal([]string{c.Name, c.Hex})
}

// UnmarshalJSON reads [name] or [name, "RRGGBB"].
func (c *OSDColor) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil || len(l) < 1 || len(l) > 2 || l[0] == "" {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%.40s", b), Type: reflect.TypeFor[OSDColor]()}
	}
	c.Name, c.Hex = l[0], ""
	if len(l) == 2 {
		c.Hex = l[1]
	}
	return nil
}

// OSDCaps is osd_conf.caps: flags for what can be shown, lists of
// selectable values (empty = not selectable). Always sent in full.
type OSDCaps struct {
	SystemID     bool       `json:"system_id"`
	SystemIDText bool       `json:"system_id_text"`
	Time         bool       `json:"time"`
	TimeFormat   []string   `json:"time_format"`
	Date         bool       `json:"date"`
	DateFormat   []string   `json:"date_format"`
	FontSize     []string   `json:"font_size"`
	FontColor    []OSDColor `json:"font_color"`
	BkgColor     []OSDColor `json:"bkg_color"`
	BkgTransp    bool       `json:"bkg_transp"`
	Alignment    []string   `json:"alignment"`
}

// MarshalJSON sends empty lists as [].
func (c OSDCaps) MarshalJSON() ([]byte, error) {
	type plain OSDCaps
	p := plain(c)
	p.TimeFormat, p.DateFormat, p.FontSize, p.Alignment = nonNil(p.TimeFormat), nonNil(p.DateFormat), nonNil(p.FontSize), nonNil(p.Alignment)
	p.FontColor, p.BkgColor = nonNil(p.FontColor), nonNil(p.BkgColor)
	return json.Marshal(p)
}

// OSDConf is the body of osd_conf (docs/protocol.md#osd).
type OSDConf struct {
	OSDSettings
	Caps OSDCaps `json:"caps"`
}

func (*OSDConf) required() []string { return []string{"caps"} }
func (c *OSDConf) validate() error  { return c.OSDSettings.validate() }
