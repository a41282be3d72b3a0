package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/camagent/camagent/onvif"
)

// Capability verdicts: what the cloud can ask of the camera, each as it
// stands.
const (
	CapWorks      = "works"
	CapNotOffered = "not offered"
	CapBroken     = "broken"
)

// ProbeCapability is the verdict on one thing the cloud will ask of the
// camera: whether it works, is not offered by the camera, or is broken,
// and why in a few words.
type ProbeCapability struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Why   string `json:"why,omitempty"`
}

// capabilities exercises what the cloud will ask for beyond live video —
// encoder settings, image settings, audio — and sums up every capability,
// from the earlier steps too, as works / not offered / broken.
func (p *prober) capabilities(ctx context.Context, profiles []onvif.Profile, svc onvif.Services) {
	add := func(name, state, why string) {
		p.r.Capabilities = append(p.r.Capabilities, ProbeCapability{Name: name, State: state, Why: why})
	}
	if p.r.Usable {
		add("live video", CapWorks, strings.TrimPrefix(p.r.Verdict, "usable: "))
	} else {
		add("live video", CapBroken, strings.TrimPrefix(p.r.Verdict, "not usable: "))
	}
	switch s := p.r.Snapshot; {
	case s == nil:
	case s.Error == "":
		add("snapshot", CapWorks, fmt.Sprintf("%s %dx%d", s.Format, s.Width, s.Height))
	case s.notOffered:
		add("snapshot", CapNotOffered, s.Error)
	default:
		add("snapshot", CapBroken, s.Error)
	}
	main := profiles[0]
	state, why := p.videoSettings(ctx, main)
	add("video settings", state, why)
	state, why = p.imageSettings(ctx, main, svc)
	add("image settings", state, why)
	state, why = p.audio(ctx, main)
	add("audio", state, why)
	for _, f := range []struct {
		name string
		f    *ProbeFeature
	}{{"ptz", p.r.PTZ}, {"events", p.r.Events}, {"motion regions", p.r.Motion}} {
		switch {
		case f.f == nil:
		case f.f.Supported && f.f.Error == "":
			add(f.name, CapWorks, f.f.Detail)
		case f.f.Supported:
			add(f.name, CapBroken, f.f.Error)
		case f.f.Error != "":
			add(f.name, CapBroken, f.f.Error)
		default:
			add(f.name, CapNotOffered, f.f.Detail)
		}
	}
}

// videoSettings reads the main profile's encoder configuration and what it
// may be set to, as get_stream_caps and set_stream_config do.
func (p *prober) videoSettings(ctx context.Context, pr onvif.Profile) (string, string) {
	if pr.Video == nil {
		return CapNotOffered, "the main profile has no video encoder configuration"
	}
	cur, err := p.c.VideoEncoder(ctx, pr.Video.Token)
	if err != nil {
		return p.brokenOrAbsent(err, "reading the encoder configuration")
	}
	now := describeEncoder(cur)
	opts, err := p.c.VideoEncoderOptions(ctx, pr.Video.Token, pr.Token)
	switch {
	case err != nil:
		return CapBroken, "encoder options: " + p.scrub(err)
	case opts.Unavailable != nil:
		return CapWorks, now + "; the options request failed (" + p.scrub(opts.Unavailable) + "): changes are tried and read back"
	}
	co, ok := opts.Codec(cur.Encoding)
	if !ok || len(co.Resolutions) == 0 {
		return CapWorks, now + "; the camera's options are empty: changes are tried and read back"
	}
	largest := co.Resolutions[0]
	for _, r := range co.Resolutions {
		if r.Width*r.Height > largest.Width*largest.Height {
			largest = r
		}
	}
	return CapWorks, fmt.Sprintf("%s; %s up to %dx%d in %d sizes", now, strings.Join(opts.Encodings(), "/"), largest.Width, largest.Height, len(co.Resolutions))
}

// describeEncoder puts an encoder configuration in a few words, leaving
// out what the camera did not say rather than printing zeros.
func describeEncoder(c onvif.VideoEncoderConfig) string {
	parts := []string{"now " + codecLabel(c.Encoding)}
	if c.Width > 0 {
		parts = append(parts, fmt.Sprintf("%dx%d", c.Width, c.Height))
	}
	if c.FrameRate > 0 {
		parts = append(parts, fmt.Sprintf("%g fps", c.FrameRate))
	}
	if c.BitrateKbps > 0 {
		parts = append(parts, fmt.Sprintf("%d kbps", c.BitrateKbps))
	}
	return strings.Join(parts, " ")
}

// imageSettings reads the imaging options of the main profile's video
// source, as get_cam_video_conf does.
func (p *prober) imageSettings(ctx context.Context, pr onvif.Profile, svc onvif.Services) (string, string) {
	if svc.Imaging == "" {
		return CapNotOffered, "no imaging service"
	}
	o, err := p.c.ImagingOptions(ctx, pr.VideoSourceToken)
	if err != nil {
		return p.brokenOrAbsent(err, "imaging options")
	}
	var can []string
	for _, c := range []struct {
		name string
		r    onvif.FloatRange
	}{{"brightness", o.Brightness}, {"contrast", o.Contrast}, {"saturation", o.Saturation}, {"sharpness", o.Sharpness}} {
		if c.r.Known() {
			can = append(can, c.name)
		}
	}
	if len(o.IRCutFilterModes) > 0 {
		can = append(can, "day/night")
	}
	if len(o.WDRModes) > 0 {
		can = append(can, "WDR")
	}
	if len(can) == 0 {
		return CapNotOffered, "the imaging options name no setting"
	}
	return CapWorks, strings.Join(can, ", ")
}

// audio says whether the main profile carries audio the cloud receives.
func (p *prober) audio(ctx context.Context, pr onvif.Profile) (string, string) {
	if pr.Audio == nil {
		srcs, err := p.c.AudioSources(ctx)
		if err == nil && len(srcs) > 0 {
			return CapNotOffered, fmt.Sprintf("the camera has %d audio input(s) but the main profile carries no audio encoder", len(srcs))
		}
		return CapNotOffered, "no audio in the main profile"
	}
	cur, err := p.c.AudioEncoder(ctx, pr.Audio.Token)
	if err != nil {
		return p.brokenOrAbsent(err, "reading the audio encoder")
	}
	why := cur.Encoding
	if cur.SampleRateKHz > 0 {
		why += fmt.Sprintf(" %g kHz", cur.SampleRateKHz)
	}
	return CapWorks, why
}

// brokenOrAbsent classifies a failed step: a camera that does not offer it
// (not offered) or one that offers it and fails (broken, with why).
func (p *prober) brokenOrAbsent(err error, step string) (string, string) {
	switch {
	case errors.Is(err, onvif.ErrServiceBroken):
		return CapBroken, "the camera announces the service, but its address does not answer (" + cause(err) + ")"
	case errors.Is(err, onvif.ErrUnsupported):
		return CapNotOffered, "the camera does not support " + step
	}
	return CapBroken, step + ": " + p.scrub(err)
}
