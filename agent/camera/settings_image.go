package camera

import (
	"context"
	"errors"
	"fmt"
	"go.uber.org/zap"
	"slices"

	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// Image settings (docs/protocol.md#cam-video-conf) map to ONVIF as follows:
//
//   - brightness, contrast, saturation, sharpness: Imaging levels scaled
//     from the camera's range to 0–100 %;
//   - tdn: the IR-cut filter, day = ON (filter in), night = OFF, auto = AUTO;
//   - vert_flip, horz_flip: the video source rotation. ONVIF rotates, it
//     does not mirror, and a 180° rotation is exactly both flips at once.
//     So the two flips can only be on or off together: a request that would
//     leave them different is INVALID_PARAM. The caps list on/off only when
//     the camera offers a 180° rotation;
//   - ir_light, nr_*, wb_type, pwr_frequency: ONVIF Imaging has no
//     counterpart the agent can map honestly, so they are left out.

// imagingLevelMap pairs the cloud's percentage fields with ONVIF levels.
var imagingLevelMap = []struct {
	name  string
	cloud func(*uplink.VideoSettings) **int
	caps  func(*uplink.VideoConfCaps) *bool
	level func(*onvif.Imaging) *onvif.Level
	rng   func(onvif.ImagingOptions) onvif.FloatRange
	patch func(*onvif.ImagingPatch) **float64
}{
	{"brightness", func(v *uplink.VideoSettings) **int { return &v.Brightness }, func(c *uplink.VideoConfCaps) *bool { return &c.Brightness },
		func(i *onvif.Imaging) *onvif.Level { return i.Brightness }, func(o onvif.ImagingOptions) onvif.FloatRange { return o.Brightness },
		func(p *onvif.ImagingPatch) **float64 { return &p.Brightness }},
	{"contrast", func(v *uplink.VideoSettings) **int { return &v.Contrast }, func(c *uplink.VideoConfCaps) *bool { return &c.Contrast },
		func(i *onvif.Imaging) *onvif.Level { return i.Contrast }, func(o onvif.ImagingOptions) onvif.FloatRange { return o.Contrast },
		func(p *onvif.ImagingPatch) **float64 { return &p.Contrast }},
	{"saturation", func(v *uplink.VideoSettings) **int { return &v.Saturation }, func(c *uplink.VideoConfCaps) *bool { return &c.Saturation },
		func(i *onvif.Imaging) *onvif.Level { return i.Saturation }, func(o onvif.ImagingOptions) onvif.FloatRange { return o.Saturation },
		func(p *onvif.ImagingPatch) **float64 { return &p.Saturation }},
	{"sharpness", func(v *uplink.VideoSettings) **int { return &v.Sharpness }, func(c *uplink.VideoConfCaps) *bool { return &c.Sharpness },
		func(i *onvif.Imaging) *onvif.Level { return i.Sharpness }, func(o onvif.ImagingOptions) onvif.FloatRange { return o.Sharpness },
		func(p *onvif.ImagingPatch) **float64 { return &p.Sharpness }},
}

var tdnToIRCut = map[uplink.TDNMode]onvif.IRCutFilter{
	uplink.TDNDay: onvif.IRCutFilterOn, uplink.TDNNight: onvif.IRCutFilterOff, uplink.TDNAuto: onvif.IRCutFilterAuto,
}

// imageState is what the camera reports about its picture: imaging
// settings and options, and the video source rotation.
type imageState struct {
	hasImaging bool
	imaging    onvif.Imaging
	opts       onvif.ImagingOptions
	hasRotate  bool
	vsc        onvif.VideoSourceConfig
}

func (w *Camera) readImage(ctx context.Context, cl *onvif.Client, pr *onvif.Profile) (imageState, error) {
	var st imageState
	if pr.VideoSourceToken != "" {
		im, err := cl.ImagingSettings(ctx, pr.VideoSourceToken)
		switch {
		case errors.Is(err, onvif.ErrUnsupported):
		case err != nil:
			return st, fmt.Errorf("imaging settings: %w", err)
		default:
			st.hasImaging, st.imaging = true, im
			// Some cameras refuse GetOptions while serving the settings;
			// without options only what the settings carry is offered.
			if opts, err := cl.ImagingOptions(ctx, pr.VideoSourceToken); err == nil {
				st.opts = opts
			} else {
				w.log.Debug("imaging options unavailable", zap.Error(err))
			}
		}
	}
	if pr.VideoSourceConfigToken != "" {
		vsc, err := cl.VideoSourceConfig(ctx, pr.VideoSourceConfigToken)
		switch {
		case errors.Is(err, onvif.ErrUnsupported):
		case err != nil:
			return st, fmt.Errorf("video source configuration: %w", err)
		default:
			st.vsc = vsc
			st.hasRotate = canFlip(vsc)
		}
	}
	return st, nil
}

// canFlip reports whether the camera offers the 180° rotation that both
// flips map to.
func canFlip(v onvif.VideoSourceConfig) bool {
	if v.Rotate == nil && len(v.RotateModes) == 0 {
		return false
	}
	if len(v.RotateModes) > 0 && (!slices.Contains(v.RotateModes, onvif.RotateOn) || !slices.Contains(v.RotateModes, onvif.RotateOff)) {
		return false
	}
	return len(v.RotateDegrees) == 0 || slices.Contains(v.RotateDegrees, 180)
}

// flipped reports the flips a rotation amounts to; ok is false for a
// rotation no pair of flips describes (90°, 270°, automatic).
func flipped(r *onvif.Rotate) (on bool, ok bool) {
	if r == nil {
		return false, false
	}
	switch r.Mode {
	case onvif.RotateOff:
		return false, true
	case onvif.RotateOn:
		return true, r.Degree == 0 || r.Degree == 180
	}
	return false, false
}

func (st imageState) conf() uplink.CamVideoConf {
	var out uplink.CamVideoConf
	out.Caps = uplink.VideoConfCaps{VertFlip: []uplink.Mode{}, HorzFlip: []uplink.Mode{}, TDN: []uplink.TDNMode{}, IRLight: []uplink.Mode{},
		NRType: []string{}, WBType: []string{}}
	if st.hasImaging {
		for _, l := range imagingLevelMap {
			lv := l.level(&st.imaging)
			if lv == nil || !l.rng(st.opts).Known() {
				continue
			}
			*l.caps(&out.Caps) = true
			pct := lv.Percent()
			*l.cloud(&out.VideoSettings) = &pct
		}
		for _, tdn := range []uplink.TDNMode{uplink.TDNDay, uplink.TDNNight, uplink.TDNAuto} {
			if slices.Contains(st.opts.IRCutFilterModes, tdnToIRCut[tdn]) {
				out.Caps.TDN = append(out.Caps.TDN, tdn)
			}
		}
		for tdn, ir := range tdnToIRCut {
			if st.imaging.IRCutFilter == ir && len(out.Caps.TDN) > 0 {
				out.TDN = &tdn
			}
		}
	}
	if st.hasRotate {
		out.Caps.VertFlip = []uplink.Mode{uplink.ModeOff, uplink.ModeOn}
		out.Caps.HorzFlip = []uplink.Mode{uplink.ModeOff, uplink.ModeOn}
		if on, ok := flipped(st.vsc.Rotate); ok {
			m := uplink.ModeOff
			if on {
				m = uplink.ModeOn
			}
			out.VertFlip, out.HorzFlip = &m, &m
		}
	}
	return out
}

func (w *Camera) camVideoConf(ctx context.Context, cl *onvif.Client) uplink.Reply {
	pr, err := w.mainProfile()
	if err != nil {
		return w.settingsDone("get_cam_video_conf", err)
	}
	st, err := w.readImage(ctx, cl, pr)
	if err != nil {
		return w.settingsDone("get_cam_video_conf", err)
	}
	if !st.hasImaging && !st.hasRotate {
		return uplink.Done(uplink.StatusNotSupported, errors.New("camera has neither imaging nor rotation settings"))
	}
	return uplink.Answer(st.conf())
}

func (w *Camera) setCamVideoConf(ctx context.Context, cl *onvif.Client, req *uplink.SetCamVideoConf) uplink.Reply {
	pr, err := w.mainProfile()
	if err != nil {
		return w.settingsDone("set_cam_video_conf", err)
	}
	st, err := w.readImage(ctx, cl, pr)
	if err != nil {
		return w.settingsDone("set_cam_video_conf", err)
	}
	if !st.hasImaging && !st.hasRotate {
		return uplink.Done(uplink.StatusNotSupported, errors.New("camera has neither imaging nor rotation settings"))
	}
	cur := st.conf()
	// Check everything against the caps before changing anything.
	var patch onvif.ImagingPatch
	imaging := false
	for _, l := range imagingLevelMap {
		v := *l.cloud(&req.VideoSettings)
		if v == nil {
			continue
		}
		if !*l.caps(&cur.Caps) {
			return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("%s is not controllable on this camera", l.name))
		}
		val := onvif.Level{Range: l.rng(st.opts)}.AtPercent(*v)
		*l.patch(&patch) = &val
		imaging = true
	}
	if req.TDN != nil {
		if !slices.Contains(cur.Caps.TDN, *req.TDN) {
			return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("tdn %q not in caps %v", *req.TDN, cur.Caps.TDN))
		}
		patch.IRCutFilter = tdnToIRCut[*req.TDN]
		imaging = true
	}
	if req.IRLight != nil || req.NRType != nil || req.NRLevel != nil || req.WBType != nil || req.PwrFrequency != nil {
		return uplink.Done(uplink.StatusInvalidParam,
			errors.New("ir light, noise reduction, white balance and power frequency are not in the caps"))
	}
	var rotate *onvif.Rotate
	if req.VertFlip != nil || req.HorzFlip != nil {
		for _, m := range []*uplink.Mode{req.VertFlip, req.HorzFlip} {
			if m != nil && !slices.Contains(cur.Caps.VertFlip, *m) {
				return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("flip mode %q not in caps %v", *m, cur.Caps.VertFlip))
			}
		}
		vert, horz := cur.VertFlip, cur.HorzFlip
		if req.VertFlip != nil {
			vert = req.VertFlip
		}
		if req.HorzFlip != nil {
			horz = req.HorzFlip
		}
		if vert == nil || horz == nil || *vert != *horz {
			return uplink.Done(uplink.StatusInvalidParam,
				errors.New("the camera can only flip both ways at once (180° rotation); set vert_flip and horz_flip alike"))
		}
		r := onvif.Rotate{Mode: onvif.RotateOff}
		if *vert == uplink.ModeOn {
			r = onvif.Rotate{Mode: onvif.RotateOn, Degree: 180}
		}
		if len(st.vsc.RotateDegrees) == 0 && r.Mode == onvif.RotateOn {
			r.Degree = 0 // ON without a degree means 180°
		}
		rotate = &r
	}
	if imaging {
		if _, err := cl.SetImaging(ctx, pr.VideoSourceToken, patch); err != nil {
			return w.settingsDone("set_cam_video_conf: imaging", err)
		}
	}
	if rotate != nil {
		if _, err := cl.SetRotate(ctx, pr.VideoSourceConfigToken, *rotate); err != nil {
			return w.settingsDone("set_cam_video_conf: rotation", err)
		}
	}
	return uplink.Done(uplink.StatusOK)
}

// Audio settings (docs/protocol.md#cam-audio-conf): the microphone is the profile's audio encoder
// (ONVIF Media ver10 has neither input gain nor mute, so mic_gain and
// mic_mute are left out); the speaker volume is the first audio output's
// level scaled to 0–100 % (no mute in ONVIF either). Echo cancellation and
// two-way audio are not offered.

// audioState is what the camera reports about its audio.
type audioState struct {
	mic    bool
	output *onvif.AudioOutputConfig
}

func (w *Camera) readAudio(ctx context.Context, cl *onvif.Client, pr *onvif.Profile) (audioState, error) {
	st := audioState{mic: pr.Audio != nil}
	outs, err := cl.AudioOutputConfigs(ctx)
	switch {
	case errors.Is(err, onvif.ErrUnsupported):
	case err != nil:
		return st, fmt.Errorf("audio outputs: %w", err)
	case len(outs) > 0:
		st.output = &outs[0]
	}
	return st, nil
}

func (st audioState) conf() uplink.CamAudioConf {
	out := uplink.CamAudioConf{Caps: uplink.AudioConfCaps{Mic: st.mic, Spkr: st.output != nil, EchoCancel: []uplink.Mode{}}}
	if st.output != nil {
		v := st.output.Level.Percent()
		out.SpkrVol = &v
	}
	return out
}

func (w *Camera) camAudioConf(ctx context.Context, cl *onvif.Client) uplink.Reply {
	pr, err := w.mainProfile()
	if err != nil {
		return w.settingsDone("get_cam_audio_conf", err)
	}
	st, err := w.readAudio(ctx, cl, pr)
	if err != nil {
		return w.settingsDone("get_cam_audio_conf", err)
	}
	return uplink.Answer(st.conf())
}

func (w *Camera) setCamAudioConf(ctx context.Context, cl *onvif.Client, req *uplink.SetCamAudioConf) uplink.Reply {
	if req.MicGain != nil || req.MicMute != nil || req.SpkrMute != nil || req.EchoCancel != nil {
		return uplink.Done(uplink.StatusNotSupported, errors.New("mic gain, mute and echo cancellation are not controllable over onvif"))
	}
	if req.SpkrVol == nil {
		return uplink.Done(uplink.StatusOK)
	}
	pr, err := w.mainProfile()
	if err != nil {
		return w.settingsDone("set_cam_audio_conf", err)
	}
	st, err := w.readAudio(ctx, cl, pr)
	if err != nil {
		return w.settingsDone("set_cam_audio_conf", err)
	}
	if st.output == nil {
		return uplink.Done(uplink.StatusNotSupported, errors.New("camera has no speaker"))
	}
	level := st.output.Level.AtPercent(*req.SpkrVol)
	if _, err := cl.SetAudioOutputLevel(ctx, st.output.Token, level); err != nil {
		return w.settingsDone("set_cam_audio_conf", err)
	}
	return uplink.Done(uplink.StatusOK)
}
