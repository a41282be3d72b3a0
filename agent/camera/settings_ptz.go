package camera

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// ptzSpeed is the continuous-move speed, as a fraction of the camera's
// fastest: slow enough to aim with the short taps a cloud player sends,
// fast enough to get anywhere.
const ptzSpeed = 0.5

// ptzVelocity maps a move action of docs/protocol.md#cam-ptz to a velocity in ONVIF's
// generic space (positive pan turns right, positive tilt up).
var ptzVelocity = map[uplink.PTZAction]onvif.PTZVelocity{
	uplink.PTZLeft:    {Pan: -ptzSpeed},
	uplink.PTZRight:   {Pan: ptzSpeed},
	uplink.PTZTop:     {Tilt: ptzSpeed},
	uplink.PTZBottom:  {Tilt: -ptzSpeed},
	uplink.PTZZoomIn:  {Zoom: ptzSpeed},
	uplink.PTZZoomOut: {Zoom: -ptzSpeed},
}

// ptzActions lists the actions a PTZ node supports.
func ptzActions(info onvif.PTZInfo) []uplink.PTZAction {
	var out []uplink.PTZAction
	if info.ContinuousPanTilt {
		out = append(out, uplink.PTZLeft, uplink.PTZRight, uplink.PTZTop, uplink.PTZBottom)
	}
	if info.ContinuousZoom {
		out = append(out, uplink.PTZZoomIn, uplink.PTZZoomOut)
	}
	if len(out) > 0 {
		out = append(out, uplink.PTZStop)
	}
	return out
}

// ptzNode is the main profile's PTZ node as last read from the camera.
// Reading it costs two SOAP calls (GetProfiles, GetNode), so it is kept:
// a cloud player sends cam_ptz for every tap on an arrow, and each then
// costs only the move. Only Handle, which is sequential, uses it.
type ptzNode struct {
	cl      *onvif.Client // read through this client, for this profile
	profile string
	info    onvif.PTZInfo
}

// ptzInfo returns the main profile's PTZ node, from the camera when fresh
// or nothing is kept, else the kept one; kept says which. A camera
// without PTZ gives onvif.ErrUnsupported.
func (w *Camera) ptzInfo(ctx context.Context, cl *onvif.Client, fresh bool) (pr *onvif.Profile, info onvif.PTZInfo, kept bool, err error) {
	pr, err = w.mainProfile()
	if err != nil {
		return nil, onvif.PTZInfo{}, false, err
	}
	if n := w.ptz; !fresh && n.cl == cl && n.profile == pr.Token {
		return pr, n.info, true, nil
	}
	w.ptz = ptzNode{}
	info, err = cl.PTZConfig(ctx, pr.Token)
	if err == nil {
		w.ptz = ptzNode{cl: cl, profile: pr.Token, info: info}
	}
	return pr, info, false, err
}

// ptzStale reports whether a PTZ call that used the kept node failed with
// the camera's fault, and then forgets the node: the camera may have
// changed under it (a reboot, a new configuration), so the caller reads it
// again and tries once more.
func (w *Camera) ptzStale(kept bool, err error) bool {
	var f *onvif.Fault
	if !kept || !errors.As(err, &f) {
		return false
	}
	w.log.Info("ptz call faulted, reading the ptz node again", zap.Error(err))
	w.ptz = ptzNode{}
	return true
}

// ptzConf reads the node afresh: the cloud asks when a player opens its
// PTZ controls, a good moment to notice a changed camera.
func (w *Camera) ptzConf(ctx context.Context, cl *onvif.Client) uplink.Reply {
	pr, info, _, err := w.ptzInfo(ctx, cl, true)
	if err != nil {
		return w.settingsDone("get_ptz_conf", err)
	}
	conf := uplink.CamPTZConf{Actions: ptzActions(info), MaxPresets: info.MaxPresets, Presets: []uplink.PTZPreset{}}
	if len(conf.Actions) == 0 {
		return uplink.Done(uplink.StatusNotSupported, errors.New("ptz node offers no continuous move"))
	}
	if info.MaxPresets > 0 {
		presets, err := cl.Presets(ctx, pr.Token)
		if err != nil {
			return w.settingsDone("get_ptz_conf: presets", err)
		}
		for _, p := range presets {
			conf.Presets = append(conf.Presets, uplink.PTZPreset{Token: p.Token, Name: p.Name})
		}
	}
	return uplink.Answer(conf)
}

// camPTZ moves or stops the head (docs/protocol.md#cam-ptz). A move always carries a
// timeout: tm when given, else onvif.DefaultMoveTimeout, so a lost stop
// never leaves the camera turning for good; the cloud's players repeat
// the command while a button is held.
func (w *Camera) camPTZ(ctx context.Context, cl *onvif.Client, req *uplink.CamPTZ) uplink.Reply {
	pr, info, kept, err := w.ptzInfo(ctx, cl, false)
	if err != nil {
		return w.settingsDone("cam_ptz", err)
	}
	actions := ptzActions(info)
	if len(actions) == 0 {
		return uplink.Done(uplink.StatusNotSupported, errors.New("ptz node offers no continuous move"))
	}
	if !slices.Contains(actions, req.Action) {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("action %q not in %v", req.Action, actions))
	}
	if req.Action == uplink.PTZStop {
		err := cl.Stop(ctx, pr.Token)
		if w.ptzStale(kept, err) {
			return w.camPTZ(ctx, cl, req)
		}
		return w.settingsDone("cam_ptz stop", err)
	}
	timeout := onvif.DefaultMoveTimeout
	if req.TM != nil {
		timeout = time.Duration(*req.TM) * time.Millisecond
	}
	if err := cl.ContinuousMove(ctx, pr.Token, ptzVelocity[req.Action], timeout); err != nil {
		if w.ptzStale(kept, err) {
			return w.camPTZ(ctx, cl, req)
		}
		return w.settingsDone("cam_ptz "+string(req.Action), err)
	}
	w.log.Debug("ptz move", zap.String("action", string(req.Action)), zap.Duration("for", timeout))
	return uplink.Done(uplink.StatusOK)
}

// camPTZPreset manages presets (docs/protocol.md#cam-ptz-preset). ONVIF's home position has no
// counterpart in the protocol and is not exposed.
func (w *Camera) camPTZPreset(ctx context.Context, cl *onvif.Client, req *uplink.CamPTZPreset) uplink.Reply {
	what := "cam_ptz_preset " + string(req.Action)
	pr, info, kept, err := w.ptzInfo(ctx, cl, false)
	if err != nil {
		return w.settingsDone(what, err)
	}
	if info.MaxPresets == 0 {
		return uplink.Done(uplink.StatusNotSupported, errors.New("ptz node stores no presets"))
	}
	var token string
	switch req.Action {
	case uplink.PresetCreate:
		token, err = cl.SetPreset(ctx, pr.Token, req.Name, "")
	case uplink.PresetUpdate:
		// Re-stores the current position under the token, renamed when a name is given.
		_, err = cl.SetPreset(ctx, pr.Token, req.Name, req.Token)
	case uplink.PresetGoto:
		err = cl.GotoPreset(ctx, pr.Token, req.Token)
	case uplink.PresetDelete:
		err = cl.RemovePreset(ctx, pr.Token, req.Token)
	default:
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("unknown preset action %q", req.Action))
	}
	if w.ptzStale(kept, err) {
		return w.camPTZPreset(ctx, cl, req)
	}
	if err == nil && req.Action == uplink.PresetCreate {
		return uplink.Answer(uplink.CamPTZPresetCreated{Token: token})
	}
	return w.settingsDone(what, err)
}
