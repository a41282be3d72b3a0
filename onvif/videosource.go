package onvif

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// RotateMode is a video source's image rotation mode.
type RotateMode string

// Rotation modes. ON without a degree means 180°, which cameras use for
// ceiling mounting: it flips the picture both ways.
const (
	RotateOff  RotateMode = "OFF"
	RotateOn   RotateMode = "ON"
	RotateAuto RotateMode = "AUTO"
)

// Rotate is the orientation of a video source's picture.
type Rotate struct {
	Mode RotateMode
	// Degree is the rotation when Mode is ON; 0 when not reported.
	Degree int
}

// VideoSourceConfig is a Media (ver10) video source configuration.
type VideoSourceConfig struct {
	Token       string
	Name        string
	SourceToken string
	// Rotate is nil when the camera reports no rotation setting.
	Rotate *Rotate
	// RotateModes and RotateDegrees are what the options allow; empty when
	// the camera does not say.
	RotateModes   []RotateMode
	RotateDegrees []int
}

// VideoSourceConfig reads a video source configuration and its rotation options.
func (c *Client) VideoSourceConfig(ctx context.Context, configToken string) (VideoSourceConfig, error) {
	n, err := c.videoSourceNode(ctx, configToken)
	if err != nil {
		return VideoSourceConfig{}, err
	}
	opts, err := c.videoSourceOptionsNode(ctx, configToken)
	if err := optionsErr(ctx, err); err != nil {
		return VideoSourceConfig{}, err
	}
	return videoSourceFromNodes(n, opts), nil
}

// SetRotate changes the rotation of a video source configuration and
// returns the configuration read back. It returns ErrUnsupported when the
// camera has no rotation setting, a *RangeError for a mode or degree its
// options do not list. A zero Degree leaves the degree as it is.
func (c *Client) SetRotate(ctx context.Context, configToken string, r Rotate) (VideoSourceConfig, error) {
	const op = "set video source rotation"
	cur, err := c.videoSourceNode(ctx, configToken)
	if err != nil {
		return VideoSourceConfig{}, err
	}
	opts, err := c.videoSourceOptionsNode(ctx, configToken)
	if err := optionsErr(ctx, err); err != nil {
		return VideoSourceConfig{}, err
	}
	before := videoSourceFromNodes(cur, opts)
	if before.Rotate == nil && len(before.RotateModes) == 0 {
		return VideoSourceConfig{}, unsupportedField(op, "rotation")
	}
	modes := make([]string, len(before.RotateModes))
	for i, m := range before.RotateModes {
		modes[i] = string(m)
	}
	if r.Mode != "" {
		if err := checkOneOf("rotate mode", string(r.Mode), modes); err != nil {
			return VideoSourceConfig{}, err
		}
	}
	if r.Degree != 0 && len(before.RotateDegrees) > 0 {
		degrees := make([]string, len(before.RotateDegrees))
		for i, d := range before.RotateDegrees {
			degrees[i] = strconv.Itoa(d)
		}
		if err := checkOneOf("rotate degree", strconv.Itoa(r.Degree), degrees); err != nil {
			return VideoSourceConfig{}, err
		}
	}
	if r.Mode != "" {
		cur.set(strings.ToUpper(string(r.Mode)), "Extension", "Rotate", "Mode")
	}
	if r.Degree != 0 {
		cur.set(strconv.Itoa(r.Degree), "Extension", "Rotate", "Degree")
	}
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return VideoSourceConfig{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := newRequest(nsMedia, "SetVideoSourceConfiguration").withNode(cur, "Configuration").elem("ForcePersistence", "true")
	if err := c.call(ctx, op, addr, nsMedia+"/SetVideoSourceConfiguration", req, true,
		"SetVideoSourceConfigurationResponse", &emptyResponse{}); err != nil {
		return VideoSourceConfig{}, refused(err)
	}
	back, err := c.videoSourceNode(ctx, configToken)
	if err != nil {
		return VideoSourceConfig{}, fmt.Errorf("onvif: %s: read back: %w", op, err)
	}
	return videoSourceFromNodes(back, opts), nil
}

func (c *Client) videoSourceNode(ctx context.Context, configToken string) (*node, error) {
	const op = "get video source configuration"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r configResponse
	req := newRequest(nsMedia, "GetVideoSourceConfiguration").elem("ConfigurationToken", configToken)
	if err := c.call(ctx, op, addr, nsMedia+"/GetVideoSourceConfiguration", req, true,
		"GetVideoSourceConfigurationResponse", &r); err != nil {
		return nil, err
	}
	if r.Configuration == nil {
		return nil, fmt.Errorf("onvif: %s: no Configuration in response", op)
	}
	r.Configuration.typ = "VideoSourceConfiguration"
	return r.Configuration, nil
}

func (c *Client) videoSourceOptionsNode(ctx context.Context, configToken string) (*node, error) {
	const op = "get video source configuration options"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct {
		Options *node `xml:"Options"`
	}
	req := newRequest(nsMedia, "GetVideoSourceConfigurationOptions").elem("ConfigurationToken", configToken)
	if err := c.call(ctx, op, addr, nsMedia+"/GetVideoSourceConfigurationOptions", req, true,
		"GetVideoSourceConfigurationOptionsResponse", &r); err != nil {
		return nil, err
	}
	return r.Options, nil
}

func videoSourceFromNodes(n, opts *node) VideoSourceConfig {
	v := VideoSourceConfig{Token: n.attr("token"), Name: n.value("Name"), SourceToken: n.value("SourceToken")}
	if rot := n.find("Extension", "Rotate"); rot != nil {
		v.Rotate = &Rotate{Mode: RotateMode(strings.ToUpper(rot.value("Mode"))), Degree: atoi(rot.value("Degree"))}
	}
	ro := opts.find("Extension", "Rotate")
	for _, m := range texts(ro, "Mode") {
		v.RotateModes = append(v.RotateModes, RotateMode(strings.ToUpper(m)))
	}
	for _, items := range texts(ro.find("DegreeList"), "Items") {
		for _, d := range strings.Fields(items) {
			v.RotateDegrees = append(v.RotateDegrees, atoi(d))
		}
	}
	return v
}
