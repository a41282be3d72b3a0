package onvif

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// VideoEncoderPatch lists the encoder settings to change; nil or empty
// fields are left as they are.
type VideoEncoderPatch struct {
	// Encoding is "H264", "JPEG" or "MPEG4" (Media ver10 has no H265).
	Encoding    string
	Resolution  *Resolution
	FrameRate   *float64
	BitrateKbps *int
	// RateControl switches between CBR and VBR; only cameras that report
	// their rate-control mode can be switched.
	RateControl RateControl
	// GOP is the I-frame interval (GovLength) in frames.
	GOP *int
	// Profile is the codec profile, e.g. "Main".
	Profile string
	Quality *float64
}

// VideoEncoder reads one video encoder configuration.
func (c *Client) VideoEncoder(ctx context.Context, configToken string) (VideoEncoderConfig, error) {
	n, err := c.videoEncoderNode(ctx, configToken)
	if err != nil {
		return VideoEncoderConfig{}, err
	}
	return videoEncoderFromNode(n)
}

// SetVideoEncoder validates p against the camera's encoder options, changes
// only the requested fields (persistently), and returns the configuration
// the camera reports afterwards, which may differ where it rounds or clamps.
// A value outside the options gives a *RangeError before anything is sent.
// Where the options are unknown (empty, or the camera faulted on them) the
// change is tried as asked and the read-back is the only judge; a value
// equal to the current one is never refused.
func (c *Client) SetVideoEncoder(ctx context.Context, configToken string, p VideoEncoderPatch) (VideoEncoderConfig, error) {
	const op = "set video encoder configuration"
	cur, err := c.videoEncoderNode(ctx, configToken)
	if err != nil {
		return VideoEncoderConfig{}, err
	}
	opts, err := c.VideoEncoderOptions(ctx, configToken, "")
	if err != nil {
		return VideoEncoderConfig{}, err
	}
	if err := applyEncoderPatch(op, cur, opts, p); err != nil {
		return VideoEncoderConfig{}, err
	}
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return VideoEncoderConfig{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := newRequest(nsMedia, "SetVideoEncoderConfiguration").withNode(cur, "Configuration").elem("ForcePersistence", "true")
	if err := c.call(ctx, op, addr, nsMedia+"/SetVideoEncoderConfiguration", req, true,
		"SetVideoEncoderConfigurationResponse", &emptyResponse{}); err != nil {
		return VideoEncoderConfig{}, refused(err)
	}
	back, err := c.VideoEncoder(ctx, configToken)
	if err != nil {
		return VideoEncoderConfig{}, fmt.Errorf("onvif: %s: read back: %w", op, err)
	}
	return back, nil
}

func (c *Client) videoEncoderNode(ctx context.Context, configToken string) (*node, error) {
	const op = "get video encoder configuration"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r configResponse
	req := newRequest(nsMedia, "GetVideoEncoderConfiguration").elem("ConfigurationToken", configToken)
	if err := c.call(ctx, op, addr, nsMedia+"/GetVideoEncoderConfiguration", req, true,
		"GetVideoEncoderConfigurationResponse", &r); err != nil {
		return nil, err
	}
	if r.Configuration == nil {
		return nil, fmt.Errorf("onvif: %s: no Configuration in response", op)
	}
	r.Configuration.typ = "VideoEncoderConfiguration"
	return r.Configuration, nil
}

// configResponse is the shape of every Media Get...Configuration response.
type configResponse struct {
	Configuration *node `xml:"Configuration"`
}

// decodeInto decodes the tree into a struct tagged with local names.
func (n *node) decodeInto(out any) error {
	var b bytes.Buffer
	n.encode(&b, n.name.Local)
	return xml.Unmarshal(b.Bytes(), out)
}

func videoEncoderFromNode(n *node) (VideoEncoderConfig, error) {
	var x xmlVideoEncoder
	if err := n.decodeInto(&x); err != nil {
		return VideoEncoderConfig{}, fmt.Errorf("onvif: decode video encoder configuration: %w", err)
	}
	return *x.config(), nil
}

// applyEncoderPatch validates p against o and writes it into cur. Only
// what the camera reported limits a value: unknown ranges and lists let
// it through, and so does a value the configuration already holds (a
// camera may run outside the options it lists).
func applyEncoderPatch(op string, cur *node, o VideoEncoderOptions, p VideoEncoderPatch) error {
	curEnc := normalizeEncoding(cur.value("Encoding"))
	enc := curEnc
	if p.Encoding != "" {
		enc = normalizeEncoding(p.Encoding)
	}
	codec, ok := o.Codec(enc)
	if !ok && enc != curEnc && o.Known() {
		return &RangeError{Field: "encoding", Value: enc, Allowed: "[" + strings.Join(o.Encodings(), " ") + "]"}
	}
	if r := p.Resolution; r != nil && len(codec.Resolutions) > 0 && !slices.Contains(codec.Resolutions, *r) &&
		(r.Width != atoi(cur.value("Resolution", "Width")) || r.Height != atoi(cur.value("Resolution", "Height"))) {
		return &RangeError{Field: "resolution", Value: fmt.Sprintf("%dx%d", r.Width, r.Height),
			Allowed: fmt.Sprint(codec.Resolutions)}
	}
	if p.FrameRate != nil {
		if err := checkSetting("frame rate", *p.FrameRate, codec.FrameRate, cur.value("RateControl", "FrameRateLimit")); err != nil {
			return err
		}
	}
	if p.BitrateKbps != nil {
		if err := checkSetting("bitrate", float64(*p.BitrateKbps), codec.BitrateKbps, cur.value("RateControl", "BitrateLimit")); err != nil {
			return err
		}
	}
	codecElem := map[string]string{"H264": "H264", "MPEG4": "MPEG4"}[enc]
	if p.GOP != nil {
		if enc == "JPEG" {
			return unsupportedField(op, "gop for JPEG")
		}
		if err := checkSetting("gop", float64(*p.GOP), codec.GOP, cur.value(codecElem, "GovLength")); err != nil {
			return err
		}
	}
	if p.Profile != "" {
		if enc == "JPEG" {
			return unsupportedField(op, "profile for JPEG")
		}
		if err := checkOneOf("profile", p.Profile, codec.Profiles); err != nil && !strings.EqualFold(p.Profile, currentProfile(cur, enc)) {
			return err
		}
	}
	if p.Quality != nil {
		if err := checkSetting("quality", *p.Quality, o.Quality, cur.value("Quality")); err != nil {
			return err
		}
	}
	var cbr string
	switch p.RateControl {
	case RateControlUnknown:
	case RateControlCBR, RateControlVBR:
		if cur.find("RateControl").attr("ConstantBitRate") == "" {
			return unsupportedField(op, "rate control mode")
		}
		cbr = strconv.FormatBool(p.RateControl == RateControlCBR)
	default:
		return &RangeError{Field: "rate control", Value: string(p.RateControl), Allowed: "[CBR VBR]"}
	}

	cur.set(enc, "Encoding")
	if p.Resolution != nil {
		cur.set(strconv.Itoa(p.Resolution.Width), "Resolution", "Width")
		cur.set(strconv.Itoa(p.Resolution.Height), "Resolution", "Height")
	}
	if p.Quality != nil {
		cur.set(fmtFloat(*p.Quality), "Quality")
	}
	if p.FrameRate != nil {
		cur.set(strconv.Itoa(int(math.Round(*p.FrameRate))), "RateControl", "FrameRateLimit")
	}
	if p.BitrateKbps != nil {
		cur.set(strconv.Itoa(*p.BitrateKbps), "RateControl", "BitrateLimit")
	}
	if cbr != "" {
		cur.find("RateControl").setAttr("ConstantBitRate", cbr)
	}
	if codecElem != "" {
		profileElem := map[string]string{"H264": "H264Profile", "MPEG4": "Mpeg4Profile"}[enc]
		el := cur.find(codecElem)
		if el == nil {
			// Switching codec: the codec element needs both children.
			el = cur.child(codecElem)
			gop := max(codec.GOP.Min, 1)
			if fr := atoi(cur.value("RateControl", "FrameRateLimit")); fr > 0 && codec.GOP.Min <= 2*fr && (codec.GOP.Max == 0 || 2*fr <= codec.GOP.Max) {
				gop = 2 * fr
			}
			el.set(strconv.Itoa(gop), "GovLength")
			prof := "Main"
			if len(codec.Profiles) > 0 {
				prof = codec.Profiles[0]
			}
			el.set(prof, profileElem)
		}
		if p.GOP != nil {
			el.set(strconv.Itoa(*p.GOP), "GovLength")
		}
		if p.Profile != "" {
			el.set(canonical(p.Profile, codec.Profiles), profileElem)
		}
	}
	return nil
}

// checkInt checks v against an integer range; an unknown range lets any
// number through.
func checkInt(field string, v float64, r Range) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &RangeError{Field: field, Value: fmtFloat(v), Allowed: "a number"}
	}
	if !r.Known() || (v >= float64(r.Min) && v <= float64(r.Max)) {
		return nil
	}
	return &RangeError{Field: field, Value: fmtFloat(v), Allowed: fmt.Sprintf("%d..%d", r.Min, r.Max)}
}

// checkSetting is checkInt that also lets through the value the
// configuration holds now (cur, as the camera wrote it).
func checkSetting(field string, v float64, r Range, cur string) error {
	err := checkInt(field, v, r)
	if c, perr := strconv.ParseFloat(strings.TrimSpace(cur), 64); err != nil && perr == nil && c == v {
		return nil
	}
	return err
}

// currentProfile is the codec profile cur holds for enc, or "".
func currentProfile(cur *node, enc string) string {
	switch enc {
	case "H264":
		return cur.value("H264", "H264Profile")
	case "MPEG4":
		return cur.value("MPEG4", "Mpeg4Profile")
	}
	return ""
}

// canonical returns the spelling from allowed that matches v
// case-insensitively, or v.
func canonical(v string, allowed []string) string {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a
		}
	}
	return v
}
