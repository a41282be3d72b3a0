package camera

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// setStreamConfig changes encoder settings (docs/protocol.md#set-stream-config). Every entry is checked
// against the camera's options before anything is sent, so a bad entry
// changes nothing. Where the camera does not say what it allows (empty
// options, a fault on the call) the change is tried and the camera's
// read-back is what counts: it is logged and get_stream_config reports it.
// The publish of a changed stream keeps running: the camera's new SPS
// reaches media as a new track and the publisher sends fresh sequence
// headers, which the reference agent's close-and-restart achieves the
// slow way.
func (w *Camera) setStreamConfig(ctx context.Context, cl *onvif.Client, req *uplink.SetStreamConfig) uplink.Reply {
	type videoChange struct {
		p     *pipe
		patch onvif.VideoEncoderPatch
	}
	type audioChange struct {
		p     *pipe
		patch onvif.AudioEncoderPatch
	}
	var videos []videoChange
	var audios []audioChange
	for _, v := range req.Video {
		p := w.pipeByES(v.Stream, (*pipe).videoES)
		if p == nil {
			return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("unknown video es %q", v.Stream))
		}
		patch, err := w.videoPatch(ctx, cl, p, v)
		if err != nil {
			return w.settingsDone("set_stream_config "+v.Stream, err)
		}
		videos = append(videos, videoChange{p, patch})
	}
	for _, a := range req.Audio {
		p := w.pipeByES(a.Stream, (*pipe).audioES)
		if p == nil || !p.hasAudio() {
			return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("unknown audio es %q", a.Stream))
		}
		patch, err := audioPatch(p, a)
		if err != nil {
			return w.settingsDone("set_stream_config "+a.Stream, err)
		}
		audios = append(audios, audioChange{p, patch})
	}
	for _, v := range videos {
		got, err := cl.SetVideoEncoder(ctx, v.p.profile.Video.Token, v.patch)
		if err != nil {
			return w.settingsDone("set_stream_config "+v.p.videoES(), err)
		}
		// Later get_stream_config answers report what the camera applied.
		// Profiles are read and written only by the session's one handler
		// goroutine, so this needs no lock.
		v.p.profile.Video = &got
		w.log.Info("video encoder changed", zap.String("stream", v.p.id), zap.String("encoding", got.Encoding),
			zap.Int("width", got.Width), zap.Int("height", got.Height), zap.Float64("fps", got.FrameRate),
			zap.Int("kbps", got.BitrateKbps), zap.Int("gop", got.GOP))
		if d := notApplied(v.patch, got); len(d) > 0 {
			w.log.Warn("camera applied other encoder values than asked", zap.String("stream", v.p.id), zap.Strings("differs", d))
		}
	}
	for _, a := range audios {
		got, err := cl.SetAudioEncoder(ctx, a.p.profile.Audio.Token, a.patch)
		if err != nil {
			return w.settingsDone("set_stream_config "+a.p.audioES(), err)
		}
		a.p.profile.Audio = &got
		w.log.Info("audio encoder changed", zap.String("stream", a.p.id), zap.String("encoding", got.Encoding),
			zap.Int("kbps", got.BitrateKbps), zap.Float64("khz", got.SampleRateKHz))
	}
	return uplink.Done(uplink.StatusOK)
}

// pipeByES finds the pipe whose video or audio ES is named es.
func (w *Camera) pipeByES(es string, name func(*pipe) string) *pipe {
	for _, p := range w.pipes() {
		if name(p) == es {
			return p
		}
	}
	return nil
}

// onvifVideoEncoding maps a cloud video format to the ONVIF encoding.
func onvifVideoEncoding(format string) string {
	switch cloudFormat(format) {
	case "H.264":
		return "H264"
	case "H.265":
		return "H265"
	case "MJPEG":
		return "JPEG"
	}
	return strings.ToUpper(format)
}

// videoPatch translates one set_stream_config video entry into an encoder
// patch, refusing what the agent or the camera cannot do.
func (w *Camera) videoPatch(ctx context.Context, cl *onvif.Client, p *pipe, v uplink.VideoConfigPatch) (onvif.VideoEncoderPatch, error) {
	var patch onvif.VideoEncoderPatch
	if p.profile == nil || p.profile.Video == nil {
		return patch, fmt.Errorf("stream has no onvif video encoder: %w", onvif.ErrUnsupported)
	}
	cur := p.profile.Video
	opts, err := cl.VideoEncoderOptions(ctx, cur.Token, p.profile.Token)
	if err != nil {
		return patch, fmt.Errorf("video encoder options: %w", err)
	}
	if v.Format != nil {
		enc := onvifVideoEncoding(*v.Format)
		switch {
		case enc == cur.Encoding:
		case enc != "H264" && enc != "H265":
			return patch, fmt.Errorf("format %s: the agent publishes H.264/H.265 only: %w", *v.Format, onvif.ErrUnsupported)
		case opts.Known() && !slices.Contains(opts.Encodings(), enc):
			return patch, fmt.Errorf("format %s: camera offers %v: %w", *v.Format, opts.Encodings(), onvif.ErrUnsupported)
		case enc == "H265":
			// Media ver10 configurations cannot carry H.265 settings.
			return patch, fmt.Errorf("switching to H.265 over onvif media ver10: %w", onvif.ErrUnsupported)
		default:
			patch.Encoding = enc
		}
	}
	if v.Horz != nil || v.Vert != nil {
		r := onvif.Resolution{Width: cur.Width, Height: cur.Height}
		if v.Horz != nil {
			r.Width = *v.Horz
		}
		if v.Vert != nil {
			r.Height = *v.Vert
		}
		patch.Resolution = &r
	}
	patch.FrameRate = v.FPS
	patch.GOP = v.GOP
	if v.Profile != nil {
		patch.Profile = *v.Profile
	}
	vbr := cur.RateControl == onvif.RateControlVBR
	if v.VBR != nil {
		vbr = *v.VBR
		patch.RateControl = onvif.RateControlCBR
		if vbr {
			patch.RateControl = onvif.RateControlVBR
		}
		if patch.RateControl == cur.RateControl {
			patch.RateControl = onvif.RateControlUnknown
		} else if cur.RateControl == onvif.RateControlUnknown && !vbr {
			// A camera that does not say is taken as CBR, as the
			// agent reports it (vbr false); asking for CBR changes nothing.
			patch.RateControl = onvif.RateControlUnknown
		}
	}
	// ONVIF has one bitrate limit: brt in CBR, vbr_brt (the VBR maximum) in VBR.
	if vbr && v.VBRBRT != nil {
		patch.BitrateKbps = v.VBRBRT
	} else if !vbr && v.BRT != nil {
		patch.BitrateKbps = v.BRT
	}
	// Without a quality range get_stream_config reports quality 0, which
	// a cloud may send back unchanged.
	if v.Quality != nil && !(*v.Quality == 0 && !qualityKnown(opts.Quality)) {
		if !qualityKnown(opts.Quality) {
			return patch, invalidf("quality: camera reports no quality range")
		}
		q := float64(opts.Quality.Min) + float64(*v.Quality+4)*float64(opts.Quality.Max-opts.Quality.Min)/8
		q = math.Round(q)
		patch.Quality = &q
	}
	if v.Smoothing != nil {
		return patch, invalidf("smoothing: not in the caps (onvif has no such setting)")
	}
	return patch, nil
}

// audioPatch translates one set_stream_config audio entry.
func audioPatch(p *pipe, a uplink.AudioConfigPatch) (onvif.AudioEncoderPatch, error) {
	var patch onvif.AudioEncoderPatch
	if p.profile == nil || p.profile.Audio == nil {
		return patch, fmt.Errorf("stream has no onvif audio encoder: %w", onvif.ErrUnsupported)
	}
	if a.Format != nil && *a.Format != "AAC" {
		// RTMP to the cloud carries AAC only (docs/protocol.md#q24).
		return patch, fmt.Errorf("audio format %s: the agent publishes AAC only: %w", *a.Format, onvif.ErrUnsupported)
	}
	patch.BitrateKbps = a.BRT
	patch.SampleRateKHz = a.SRT
	return patch, nil
}

func qualityKnown(r onvif.Range) bool { return r.Known() && r.Max > r.Min }

// notApplied lists the requested encoder values the camera's read-back
// does not show, as "field asked→applied"; an unknown read-back (0) counts.
func notApplied(p onvif.VideoEncoderPatch, got onvif.VideoEncoderConfig) []string {
	var d []string
	if r := p.Resolution; r != nil && (r.Width != got.Width || r.Height != got.Height) {
		d = append(d, fmt.Sprintf("resolution %dx%d→%dx%d", r.Width, r.Height, got.Width, got.Height))
	}
	if p.FrameRate != nil && math.Round(*p.FrameRate) != got.FrameRate {
		d = append(d, fmt.Sprintf("fps %g→%s", *p.FrameRate, orUnknown(got.FrameRate)))
	}
	if p.BitrateKbps != nil && *p.BitrateKbps != got.BitrateKbps {
		d = append(d, fmt.Sprintf("kbps %d→%s", *p.BitrateKbps, orUnknown(float64(got.BitrateKbps))))
	}
	if p.GOP != nil && *p.GOP != got.GOP {
		d = append(d, fmt.Sprintf("gop %d→%s", *p.GOP, orUnknown(float64(got.GOP))))
	}
	if p.Encoding != "" && p.Encoding != got.Encoding {
		d = append(d, fmt.Sprintf("encoding %s→%s", p.Encoding, got.Encoding))
	}
	return d
}

func orUnknown(v float64) string {
	if v <= 0 {
		return "unknown"
	}
	return fmt.Sprint(v)
}
