package onvifsim

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// PTZ facts of the simulated head.
const (
	ptzNodeToken   = "PTZNode_1"
	ptzConfigToken = "PTZConfig_1"
	maxPresets     = 8
	// defaultPTZTimeout applies to a ContinuousMove without Timeout, as the
	// configuration's DefaultPTZTimeout says.
	defaultPTZTimeout = 10 * time.Second
	// ptzSpeed is how far velocity 1 moves per second in the generic space.
	ptzSpeed = 1.0
)

// ptzState is the head's position, integrated lazily from the velocity of
// the running continuous move.
type ptzState struct {
	pos        [3]float64 // pan, tilt, zoom at time at
	vel        [3]float64
	at         time.Time
	until      time.Time // end of the running move; zero when idle
	home       [3]float64
	presets    []preset
	nextPreset int
	moves      []Move
}

type preset struct {
	token string
	name  string
	pos   [3]float64
}

// Move is one ContinuousMove the camera received.
type Move struct {
	Pan, Tilt, Zoom float64
	// HasTimeout says whether the request carried a Timeout; Timeout is
	// the one applied (the default when absent).
	HasTimeout bool
	Timeout    time.Duration
}

// ptzNow is the clock the head moves by: the host's monotonic clock, so a
// jump of the device clock (SetClockSkew) does not move the head.
func ptzNow() time.Time { return time.Now() }

// advance integrates the running move up to now. st.mu must be held.
func (p *ptzState) advance(now time.Time) {
	if p.until.IsZero() {
		p.at = now
		return
	}
	end := now
	if p.until.Before(end) {
		end = p.until
	}
	if dt := end.Sub(p.at).Seconds(); dt > 0 {
		for i := range p.pos {
			p.pos[i] += p.vel[i] * ptzSpeed * dt
		}
		p.clamp()
	}
	p.at = end
	if !now.Before(p.until) {
		p.until, p.vel = time.Time{}, [3]float64{}
		p.at = now
	}
}

func (p *ptzState) clamp() {
	p.pos[0] = math.Max(-1, math.Min(1, p.pos[0]))
	p.pos[1] = math.Max(-1, math.Min(1, p.pos[1]))
	p.pos[2] = math.Max(0, math.Min(1, p.pos[2]))
}

func (p *ptzState) stop(now time.Time) {
	p.advance(now)
	p.until, p.vel = time.Time{}, [3]float64{}
}

// PTZPosition returns the head's current pan, tilt and zoom in the generic
// position space.
func (s *Server) PTZPosition() (pan, tilt, zoom float64) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.ptz.advance(ptzNow())
	p := s.st.ptz.pos
	return p[0], p[1], p[2]
}

// Moves returns the ContinuousMove requests received, in order.
func (s *Server) Moves() []Move {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return append([]Move(nil), s.st.ptz.moves...)
}

func (s *Server) ptzHandlers() map[string]func([]byte) (string, *fault) {
	return map[string]func([]byte) (string, *fault){
		"GetNodes":          s.ptzGetNodes,
		"GetNode":           s.ptzGetNode,
		"GetConfigurations": s.ptzGetConfigurations,
		"ContinuousMove":    s.ptzContinuousMove,
		"Stop":              s.ptzStop,
		"GetStatus":         s.ptzGetStatus,
		"GetPresets":        s.ptzGetPresets,
		"SetPreset":         s.ptzSetPreset,
		"RemovePreset":      s.ptzRemovePreset,
		"GotoPreset":        s.ptzGotoPreset,
		"GotoHomePosition":  s.ptzGotoHome,
		"SetHomePosition":   s.ptzSetHome,
	}
}

const (
	spacePanTiltVelocity = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace"
	spaceZoomVelocity    = "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace"
	spacePanTiltPosition = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
	spaceZoomPosition    = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"
)

func ptzConfigurationXML(elem string) string {
	return `<` + elem + ` token="` + ptzConfigToken + `"><tt:Name>PTZ</tt:Name><tt:UseCount>2</tt:UseCount>` +
		`<tt:NodeToken>` + ptzNodeToken + `</tt:NodeToken>` +
		`<tt:DefaultAbsolutePantTiltPositionSpace>` + spacePanTiltPosition + `</tt:DefaultAbsolutePantTiltPositionSpace>` +
		`<tt:DefaultAbsoluteZoomPositionSpace>` + spaceZoomPosition + `</tt:DefaultAbsoluteZoomPositionSpace>` +
		`<tt:DefaultContinuousPanTiltVelocitySpace>` + spacePanTiltVelocity + `</tt:DefaultContinuousPanTiltVelocitySpace>` +
		`<tt:DefaultContinuousZoomVelocitySpace>` + spaceZoomVelocity + `</tt:DefaultContinuousZoomVelocitySpace>` +
		`<tt:DefaultPTZTimeout>PT10S</tt:DefaultPTZTimeout></` + elem + `>`
}

func ptzNodeXML(elem string) string {
	rng := func(tag string, min, max float64) string {
		return fmt.Sprintf(`<tt:%s><tt:Min>%s</tt:Min><tt:Max>%s</tt:Max></tt:%s>`, tag, fmtF(min), fmtF(max), tag)
	}
	return `<` + elem + ` token="` + ptzNodeToken + `" FixedHomePosition="false"><tt:Name>PTZ head</tt:Name>` +
		`<tt:SupportedPTZSpaces>` +
		`<tt:AbsolutePanTiltPositionSpace><tt:URI>` + spacePanTiltPosition + `</tt:URI>` + rng("XRange", -1, 1) + rng("YRange", -1, 1) + `</tt:AbsolutePanTiltPositionSpace>` +
		`<tt:AbsoluteZoomPositionSpace><tt:URI>` + spaceZoomPosition + `</tt:URI>` + rng("XRange", 0, 1) + `</tt:AbsoluteZoomPositionSpace>` +
		`<tt:ContinuousPanTiltVelocitySpace><tt:URI>` + spacePanTiltVelocity + `</tt:URI>` + rng("XRange", -1, 1) + rng("YRange", -1, 1) + `</tt:ContinuousPanTiltVelocitySpace>` +
		`<tt:ContinuousZoomVelocitySpace><tt:URI>` + spaceZoomVelocity + `</tt:URI>` + rng("XRange", -1, 1) + `</tt:ContinuousZoomVelocitySpace>` +
		`</tt:SupportedPTZSpaces>` +
		fmt.Sprintf(`<tt:MaximumNumberOfPresets>%d</tt:MaximumNumberOfPresets>`, maxPresets) +
		`<tt:HomeSupported>true</tt:HomeSupported></` + elem + `>`
}

func ptzResp(elem, body string) string { return wrap("tptz", nsPTZ, elem, body) }

func (s *Server) ptzGetNodes([]byte) (string, *fault) {
	return ptzResp("GetNodesResponse", ptzNodeXML("tptz:PTZNode")), nil
}

func (s *Server) ptzGetNode(data []byte) (string, *fault) {
	req, f := decodeBody[struct {
		NodeToken string `xml:"NodeToken"`
	}](data)
	if f != nil {
		return "", f
	}
	if strings.TrimSpace(req.NodeToken) != ptzNodeToken {
		return "", invalidArg("NoEntity", "No such PTZNode on the device")
	}
	return ptzResp("GetNodeResponse", ptzNodeXML("tptz:PTZNode")), nil
}

func (s *Server) ptzGetConfigurations([]byte) (string, *fault) {
	return ptzResp("GetConfigurationsResponse", ptzConfigurationXML("tptz:PTZConfiguration")), nil
}

// ptzProfileReq is the common shape of PTZ requests.
type ptzProfileReq struct {
	ProfileToken *string `xml:"ProfileToken"`
	Velocity     *struct {
		PanTilt *struct {
			X string `xml:"x,attr"`
			Y string `xml:"y,attr"`
		} `xml:"PanTilt"`
		Zoom *struct {
			X string `xml:"x,attr"`
		} `xml:"Zoom"`
	} `xml:"Velocity"`
	Timeout     *string `xml:"Timeout"`
	PresetName  *string `xml:"PresetName"`
	PresetToken *string `xml:"PresetToken"`
}

// ptzRequest decodes a PTZ request and checks its profile.
func (s *Server) ptzRequest(data []byte) (ptzProfileReq, *fault) {
	req, f := decodeBody[ptzProfileReq](data)
	if f != nil {
		return req, f
	}
	if _, f := s.profile(req.ProfileToken); f != nil {
		return req, f
	}
	return req, nil
}

func (s *Server) ptzContinuousMove(data []byte) (string, *fault) {
	req, f := s.ptzRequest(data)
	if f != nil {
		return "", f
	}
	if req.Velocity == nil {
		return "", invalidArg("InvalidVelocity", "Velocity is required")
	}
	var v [3]float64
	parse := func(i int, txt string) bool {
		n, ok := parseNumber(txt)
		if !ok || n < -1 || n > 1 {
			return false
		}
		v[i] = n
		return true
	}
	if pt := req.Velocity.PanTilt; pt != nil && (!parse(0, pt.X) || !parse(1, pt.Y)) {
		return "", invalidArg("InvalidVelocity", "PanTilt velocity outside the velocity space")
	}
	if z := req.Velocity.Zoom; z != nil && !parse(2, z.X) {
		return "", invalidArg("InvalidVelocity", "Zoom velocity outside the velocity space")
	}
	m := Move{Pan: v[0], Tilt: v[1], Zoom: v[2], Timeout: defaultPTZTimeout}
	if req.Timeout != nil {
		d, ok := parseDuration(*req.Timeout)
		if !ok || d <= 0 {
			return "", invalidArg("TimeoutNotSupported", fmt.Sprintf("Timeout %q is not a valid positive xs:duration", *req.Timeout))
		}
		m.HasTimeout, m.Timeout = true, d
	}
	now := ptzNow()
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	p := &s.st.ptz
	p.advance(now)
	p.vel = v
	p.at, p.until = now, now.Add(m.Timeout)
	p.moves = append(p.moves, m)
	return ptzResp("ContinuousMoveResponse", ""), nil
}

func (s *Server) ptzStop(data []byte) (string, *fault) {
	if _, f := s.ptzRequest(data); f != nil {
		return "", f
	}
	now := ptzNow()
	s.st.mu.Lock()
	s.st.ptz.stop(now)
	s.st.mu.Unlock()
	return ptzResp("StopResponse", ""), nil
}

func vectorXML(elem string, p [3]float64) string {
	return fmt.Sprintf(`<%s><tt:PanTilt x="%s" y="%s" space="%s"/><tt:Zoom x="%s" space="%s"/></%s>`,
		elem, fmtF(p[0]), fmtF(p[1]), spacePanTiltPosition, fmtF(p[2]), spaceZoomPosition, elem)
}

func (s *Server) ptzGetStatus(data []byte) (string, *fault) {
	if _, f := s.ptzRequest(data); f != nil {
		return "", f
	}
	now := ptzNow()
	s.st.mu.Lock()
	p := &s.st.ptz
	p.advance(now)
	pos := p.pos
	ptMove, zMove := "IDLE", "IDLE"
	if !p.until.IsZero() {
		if p.vel[0] != 0 || p.vel[1] != 0 {
			ptMove = "MOVING"
		}
		if p.vel[2] != 0 {
			zMove = "MOVING"
		}
	}
	s.st.mu.Unlock()
	return ptzResp("GetStatusResponse", `<tptz:PTZStatus>`+vectorXML("tt:Position", pos)+
		`<tt:MoveStatus><tt:PanTilt>`+ptMove+`</tt:PanTilt><tt:Zoom>`+zMove+`</tt:Zoom></tt:MoveStatus>`+
		`<tt:UtcTime>`+s.Now().UTC().Format(time.RFC3339)+`</tt:UtcTime></tptz:PTZStatus>`), nil
}

func (s *Server) ptzGetPresets(data []byte) (string, *fault) {
	if _, f := s.ptzRequest(data); f != nil {
		return "", f
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	var b strings.Builder
	for _, p := range s.st.ptz.presets {
		fmt.Fprintf(&b, `<tptz:Preset token="%s"><tt:Name>%s</tt:Name>%s</tptz:Preset>`,
			esc(p.token), esc(p.name), vectorXML("tt:PTZPosition", p.pos))
	}
	return ptzResp("GetPresetsResponse", b.String()), nil
}

func (p *ptzState) findPreset(token *string) int {
	if token == nil {
		return -1
	}
	for i, pr := range p.presets {
		if pr.token == strings.TrimSpace(*token) {
			return i
		}
	}
	return -1
}

func (s *Server) ptzSetPreset(data []byte) (string, *fault) {
	req, f := s.ptzRequest(data)
	if f != nil {
		return "", f
	}
	now := ptzNow()
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	p := &s.st.ptz
	p.advance(now)
	name := ""
	if req.PresetName != nil {
		name = strings.TrimSpace(*req.PresetName)
	}
	if req.PresetName != nil && (name == "" || len(name) > 64) {
		return "", invalidArg("InvalidPresetName", "Preset name is empty or too long")
	}
	idx := -1
	if req.PresetToken != nil {
		if idx = p.findPreset(req.PresetToken); idx < 0 {
			return "", invalidArg("NoToken", "No such preset token")
		}
	}
	for i, pr := range p.presets {
		if name != "" && pr.name == name && i != idx {
			return "", invalidArg("PresetExist", "A preset with this name exists")
		}
	}
	if idx < 0 {
		if len(p.presets) >= maxPresets {
			return "", &fault{subcodes: []string{"ter:Action", "ter:TooManyPresets"}, reason: "Maximum number of presets reached"}
		}
		tok := fmt.Sprintf("Preset_%d", p.nextPreset)
		p.nextPreset++
		if name == "" {
			name = tok
		}
		p.presets = append(p.presets, preset{token: tok, name: name})
		idx = len(p.presets) - 1
	}
	if name != "" {
		p.presets[idx].name = name
	}
	p.presets[idx].pos = p.pos
	return ptzResp("SetPresetResponse", `<tptz:PresetToken>`+esc(p.presets[idx].token)+`</tptz:PresetToken>`), nil
}

func (s *Server) ptzRemovePreset(data []byte) (string, *fault) {
	req, f := s.ptzRequest(data)
	if f != nil {
		return "", f
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	p := &s.st.ptz
	i := p.findPreset(req.PresetToken)
	if i < 0 {
		return "", invalidArg("NoToken", "No such preset token")
	}
	p.presets = append(p.presets[:i], p.presets[i+1:]...)
	return ptzResp("RemovePresetResponse", ""), nil
}

func (s *Server) ptzGotoPreset(data []byte) (string, *fault) {
	req, f := s.ptzRequest(data)
	if f != nil {
		return "", f
	}
	now := ptzNow()
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	p := &s.st.ptz
	i := p.findPreset(req.PresetToken)
	if i < 0 {
		return "", invalidArg("NoToken", "No such preset token")
	}
	p.stop(now)
	p.pos = p.presets[i].pos
	return ptzResp("GotoPresetResponse", ""), nil
}

func (s *Server) ptzGotoHome(data []byte) (string, *fault) {
	if _, f := s.ptzRequest(data); f != nil {
		return "", f
	}
	now := ptzNow()
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.ptz.stop(now)
	s.st.ptz.pos = s.st.ptz.home
	return ptzResp("GotoHomePositionResponse", ""), nil
}

func (s *Server) ptzSetHome(data []byte) (string, *fault) {
	if _, f := s.ptzRequest(data); f != nil {
		return "", f
	}
	now := ptzNow()
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.ptz.advance(now)
	s.st.ptz.home = s.st.ptz.pos
	return ptzResp("SetHomePositionResponse", ""), nil
}
