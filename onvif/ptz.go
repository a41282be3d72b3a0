package onvif

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const nsPTZ = "http://www.onvif.org/ver20/ptz/wsdl"

// DefaultMoveTimeout bounds a continuous move when the caller gives no
// duration, so a lost Stop cannot leave the camera turning forever.
const DefaultMoveTimeout = 10 * time.Second

// PTZInfo is what a profile's PTZ node can do.
type PTZInfo struct {
	// ConfigToken and NodeToken identify the profile's PTZ configuration
	// and the node it drives.
	ConfigToken string
	NodeToken   string
	// ContinuousPanTilt and ContinuousZoom say whether ContinuousMove can
	// pan/tilt and zoom.
	ContinuousPanTilt bool
	ContinuousZoom    bool
	// MaxPresets is how many presets the node stores; 0 means none.
	MaxPresets int
	// HomeSupported says whether GotoHome works; FixedHome means SetHome
	// cannot change the home position.
	HomeSupported bool
	FixedHome     bool
}

// PTZVelocity is a continuous-move speed in the generic space, each axis in
// -1..1: positive Pan turns right, positive Tilt up, positive Zoom in.
type PTZVelocity struct {
	Pan  float64
	Tilt float64
	Zoom float64
}

// PTZPosition is where the head points, in the generic position space, and
// whether it is moving.
type PTZPosition struct {
	Pan  float64
	Tilt float64
	Zoom float64
	// Moving is true while pan/tilt or zoom is not IDLE.
	Moving bool
}

// Preset is a stored PTZ position.
type Preset struct {
	Token string
	Name  string
	// Position is nil when the camera does not report it.
	Position *PTZPosition
}

func ptzAddr(s Services) string { return s.PTZ }

// ptzCall sends a PTZ service request. A profile without a PTZ
// configuration (ter:NoPTZProfile) is reported as ErrUnsupported.
func (c *Client) ptzCall(ctx context.Context, op string, req *rawRequest, out any) error {
	addr, err := c.endpoint(ptzAddr)
	if err != nil {
		return fmt.Errorf("onvif: %s: %w", op, err)
	}
	action := req.XMLName.Local
	err = c.call(ctx, op, addr, nsPTZ+"/"+action, req, true, action+"Response", out)
	var f *Fault
	if errors.As(err, &f) && f.Subcode == "NoPTZProfile" {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return err
}

func ptzRequest(action, profileToken string) *rawRequest {
	return newRequest(nsPTZ, action).elem("ProfileToken", profileToken)
}

// PTZConfig reports what the PTZ node of a profile supports. It returns
// ErrUnsupported when the camera has no PTZ service or the profile has no
// PTZ configuration.
func (c *Client) PTZConfig(ctx context.Context, profileToken string) (PTZInfo, error) {
	const op = "get ptz configuration"
	if _, err := c.endpoint(ptzAddr); err != nil {
		return PTZInfo{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	prof, err := c.profileNode(ctx, op, profileToken)
	if err != nil {
		return PTZInfo{}, err
	}
	cfg := prof.find("PTZConfiguration")
	if cfg == nil || cfg.value("NodeToken") == "" {
		return PTZInfo{}, fmt.Errorf("onvif: %s: profile %q has no ptz configuration: %w", op, profileToken, ErrUnsupported)
	}
	var r struct {
		Node *node `xml:"PTZNode"`
	}
	req := newRequest(nsPTZ, "GetNode").elem("NodeToken", cfg.value("NodeToken"))
	if err := c.ptzCall(ctx, op, req, &r); err != nil {
		return PTZInfo{}, err
	}
	info := ptzInfoFromNode(r.Node)
	info.ConfigToken = cfg.attr("token")
	info.NodeToken = cfg.value("NodeToken")
	return info, nil
}

func ptzInfoFromNode(n *node) PTZInfo {
	if n == nil {
		return PTZInfo{}
	}
	spaces := n.find("SupportedPTZSpaces")
	home := strings.ToLower(n.value("HomeSupported"))
	fixed := strings.ToLower(n.attr("FixedHomePosition"))
	return PTZInfo{
		NodeToken:         n.attr("token"),
		ContinuousPanTilt: spaces.find("ContinuousPanTiltVelocitySpace") != nil,
		ContinuousZoom:    spaces.find("ContinuousZoomVelocitySpace") != nil,
		MaxPresets:        max(0, atoi(n.value("MaximumNumberOfPresets"))),
		HomeSupported:     home == "true" || home == "1",
		FixedHome:         fixed == "true" || fixed == "1",
	}
}

// profileNode fetches one media profile as a tree (GetProfiles rather than
// GetProfile, which some firmware lacks).
func (c *Client) profileNode(ctx context.Context, op, profileToken string) (*node, error) {
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct {
		Profiles []*node `xml:"Profiles"`
	}
	if err := c.call(ctx, op, addr, nsMedia+"/GetProfiles", newRequest(nsMedia, "GetProfiles"), true, "GetProfilesResponse", &r); err != nil {
		return nil, err
	}
	for _, p := range r.Profiles {
		if p.attr("token") == profileToken {
			return p, nil
		}
	}
	return nil, fmt.Errorf("onvif: %s: no profile %q", op, profileToken)
}

// ContinuousMove starts moving at velocity v. It always sends a Timeout
// (DefaultMoveTimeout when timeout <= 0): the camera stops by itself even if
// Stop never arrives.
func (c *Client) ContinuousMove(ctx context.Context, profileToken string, v PTZVelocity, timeout time.Duration) error {
	const op = "ptz continuous move"
	for _, a := range []struct {
		name string
		v    float64
	}{{"pan", v.Pan}, {"tilt", v.Tilt}, {"zoom", v.Zoom}} {
		if math.IsNaN(a.v) || a.v < -1 || a.v > 1 {
			return &RangeError{Field: a.name + " velocity", Value: fmtFloat(a.v), Allowed: "-1..1"}
		}
	}
	if timeout <= 0 {
		timeout = DefaultMoveTimeout
	}
	var vel strings.Builder
	vel.WriteString("<Velocity>")
	if v.Pan != 0 || v.Tilt != 0 || v.Zoom == 0 {
		fmt.Fprintf(&vel, `<tt:PanTilt x="%s" y="%s"/>`, fmtFloat(v.Pan), fmtFloat(v.Tilt))
	}
	if v.Zoom != 0 {
		fmt.Fprintf(&vel, `<tt:Zoom x="%s"/>`, fmtFloat(v.Zoom))
	}
	vel.WriteString("</Velocity>")
	req := ptzRequest("ContinuousMove", profileToken).raw([]byte(vel.String())).elem("Timeout", xsDuration(timeout))
	return refused(c.ptzCall(ctx, op, req, &emptyResponse{}))
}

// xsDuration formats d as an xs:duration in seconds, e.g. PT1.5S; at least
// one millisecond.
func xsDuration(d time.Duration) string {
	ms := max(d.Milliseconds(), 1)
	return "PT" + strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64) + "S"
}

// Stop stops pan, tilt and zoom.
func (c *Client) Stop(ctx context.Context, profileToken string) error {
	req := ptzRequest("Stop", profileToken).elem("PanTilt", "true").elem("Zoom", "true")
	return c.ptzCall(ctx, "ptz stop", req, &emptyResponse{})
}

// Presets lists the presets stored for a profile's PTZ node.
func (c *Client) Presets(ctx context.Context, profileToken string) ([]Preset, error) {
	var r presetsResponse
	if err := c.ptzCall(ctx, "ptz get presets", ptzRequest("GetPresets", profileToken), &r); err != nil {
		return nil, err
	}
	return r.presets(), nil
}

type presetsResponse struct {
	Presets []*node `xml:"Preset"`
}

func (r presetsResponse) presets() []Preset {
	out := make([]Preset, 0, len(r.Presets))
	for _, n := range r.Presets {
		p := Preset{Token: n.attr("token"), Name: n.value("Name")}
		if pos := n.find("PTZPosition"); pos != nil {
			pp := positionFromNode(pos)
			p.Position = &pp
		}
		out = append(out, p)
	}
	return out
}

// positionFromNode reads a tt:PTZVector (PanTilt x/y, Zoom x).
func positionFromNode(n *node) PTZPosition {
	pt, z := n.find("PanTilt"), n.find("Zoom")
	return PTZPosition{Pan: atof(pt.attr("x")), Tilt: atof(pt.attr("y")), Zoom: atof(z.attr("x"))}
}

// SetPreset stores the current position as a preset: a new one when token
// is empty, otherwise it overwrites (and renames) that preset. It returns the
// preset's token.
func (c *Client) SetPreset(ctx context.Context, profileToken, name, token string) (string, error) {
	const op = "ptz set preset"
	req := ptzRequest("SetPreset", profileToken)
	if name != "" {
		req.elem("PresetName", name)
	}
	if token != "" {
		req.elem("PresetToken", token)
	}
	var r struct {
		Token string `xml:"PresetToken"`
	}
	if err := c.ptzCall(ctx, op, req, &r); err != nil {
		return "", refused(err)
	}
	if t := strings.TrimSpace(r.Token); t != "" {
		return t, nil
	}
	if token == "" {
		return "", fmt.Errorf("onvif: %s: camera returned no preset token", op)
	}
	return token, nil
}

// GotoPreset moves to a stored preset.
func (c *Client) GotoPreset(ctx context.Context, profileToken, token string) error {
	req := ptzRequest("GotoPreset", profileToken).elem("PresetToken", token)
	return refused(c.ptzCall(ctx, "ptz goto preset", req, &emptyResponse{}))
}

// RemovePreset deletes a stored preset.
func (c *Client) RemovePreset(ctx context.Context, profileToken, token string) error {
	req := ptzRequest("RemovePreset", profileToken).elem("PresetToken", token)
	return refused(c.ptzCall(ctx, "ptz remove preset", req, &emptyResponse{}))
}

// GotoHome moves to the home position.
func (c *Client) GotoHome(ctx context.Context, profileToken string) error {
	return c.ptzCall(ctx, "ptz goto home", ptzRequest("GotoHomePosition", profileToken), &emptyResponse{})
}

// SetHome makes the current position the home position.
func (c *Client) SetHome(ctx context.Context, profileToken string) error {
	return c.ptzCall(ctx, "ptz set home", ptzRequest("SetHomePosition", profileToken), &emptyResponse{})
}

// PTZStatus reports the current position and whether the head is moving.
func (c *Client) PTZStatus(ctx context.Context, profileToken string) (PTZPosition, error) {
	var r ptzStatusResponse
	if err := c.ptzCall(ctx, "ptz get status", ptzRequest("GetStatus", profileToken), &r); err != nil {
		return PTZPosition{}, err
	}
	return r.position(), nil
}

type ptzStatusResponse struct {
	Status *node `xml:"PTZStatus"`
}

func (r ptzStatusResponse) position() PTZPosition {
	p := positionFromNode(r.Status.find("Position"))
	for _, axis := range []string{"PanTilt", "Zoom"} {
		if s := strings.ToUpper(r.Status.value("MoveStatus", axis)); s != "" && s != "IDLE" {
			p.Moving = true
		}
	}
	return p
}
