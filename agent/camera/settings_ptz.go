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

// ptzVelocity maps a move action of §4.5.2 to a velocity in ONVIF's
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

// ptzInfo reads the main profile's PTZ node; a camera without PTZ gives
// onvif.ErrUnsupported.
func (w *Camera) ptzInfo(ctx context.Context, cl *onvif.Client) (*onvif.Profile, onvif.PTZInfo, error) {
	pr, err := w.mainProfile()
	if err != nil {
		return nil, onvif.PTZInfo{}, err
	}
	info, err := cl.PTZConfig(ctx, pr.Token)
	return pr, info, err
}

func (w *Camera) ptzConf(ctx context.Context, cl *onvif.Client) uplink.Reply {
	pr, info, err := w.ptzInfo(ctx, cl)
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

// camPTZ moves or stops the head (§4.5.2). A move always carries a
// timeout: tm when given, else onvif.DefaultMoveTimeout, so a lost stop
// never leaves the camera turning for good; the cloud's players repeat
// the command while a button is held.
func (w *Camera) camPTZ(ctx context.Context, cl *onvif.Client, req *uplink.CamPTZ) uplink.Reply {
	pr, info, err := w.ptzInfo(ctx, cl)
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
		return w.settingsDone("cam_ptz stop", cl.Stop(ctx, pr.Token))
	}
	timeout := onvif.DefaultMoveTimeout
	if req.TM != nil {
		timeout = time.Duration(*req.TM) * time.Millisecond
	}
	if err := cl.ContinuousMove(ctx, pr.Token, ptzVelocity[req.Action], timeout); err != nil {
		return w.settingsDone("cam_ptz "+string(req.Action), err)
	}
	w.log.Debug("ptz move", zap.String("action", string(req.Action)), zap.Duration("for", timeout))
	return uplink.Done(uplink.StatusOK)
}

// camPTZPreset manages presets (§4.5.3). ONVIF's home position has no
// counterpart in the protocol and is not exposed.
func (w *Camera) camPTZPreset(ctx context.Context, cl *onvif.Client, req *uplink.CamPTZPreset) uplink.Reply {
	what := "cam_ptz_preset " + string(req.Action)
	pr, info, err := w.ptzInfo(ctx, cl)
	if err != nil {
		return w.settingsDone(what, err)
	}
	if info.MaxPresets == 0 {
		return uplink.Done(uplink.StatusNotSupported, errors.New("ptz node stores no presets"))
	}
	switch req.Action {
	case uplink.PresetCreate:
		token, err := cl.SetPreset(ctx, pr.Token, req.Name, "")
		if err != nil {
			return w.settingsDone(what, err)
		}
		return uplink.Answer(uplink.CamPTZPresetCreated{Token: token})
	case uplink.PresetUpdate:
		// Re-stores the current position under the token, renamed when a name is given.
		_, err := cl.SetPreset(ctx, pr.Token, req.Name, req.Token)
		return w.settingsDone(what, err)
	case uplink.PresetGoto:
		return w.settingsDone(what, cl.GotoPreset(ctx, pr.Token, req.Token))
	case uplink.PresetDelete:
		return w.settingsDone(what, cl.RemovePreset(ctx, pr.Token, req.Token))
	}
	return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("unknown preset action %q", req.Action))
}
