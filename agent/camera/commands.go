package camera

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// Handle implements uplink.Handler: it routes one cloud request, by its
// type, to ONVIF or media. Commands of later issues answer NOT_SUPPORTED,
// never silence.
func (w *Camera) Handle(ctx context.Context, req uplink.Request) uplink.Reply {
	switch r := req.(type) {
	case *uplink.GetCamStatus:
		return uplink.Answer(w.camStatus())
	case *uplink.SetCamParameter:
		return w.setCamParameter(ctx, r)
	case *uplink.GetSupportedStreams:
		return uplink.Answer(w.supportedStreams())
	case *uplink.GetStreamCaps:
		return w.streamCaps(ctx, r)
	case *uplink.GetStreamConfig:
		return w.streamConfig(ctx, r)
	case *uplink.StreamStart:
		return w.streamStart(ctx, r)
	case *uplink.StreamStop:
		return w.streamStop(ctx, r)
	case *uplink.SetStreamConfig,
		*uplink.GetCamVideoConf, *uplink.SetCamVideoConf,
		*uplink.GetCamAudioConf, *uplink.SetCamAudioConf,
		*uplink.GetOSDConf, *uplink.SetOSDConf,
		*uplink.GetPTZConf, *uplink.CamPTZ, *uplink.CamPTZPreset:
		return w.handleSettings(ctx, req)
	case *uplink.GetCamEvents, *uplink.SetCamEvents, *uplink.CamTriggerEvent,
		*uplink.GetMotionDetection, *uplink.SetMotionDetection,
		*uplink.GetAudioDetection, *uplink.SetAudioDetection:
		return w.handleEvents(ctx, req)
	case *uplink.GetStreamByEvent:
		return w.getStreamByEvent()
	case *uplink.SetStreamByEvent:
		return w.setStreamByEvent(ctx, r)
	case *uplink.CamGetLog:
		return w.getLog(ctx)
	case *uplink.CamUpdatePreview:
		return w.updatePreview(ctx)
	case *uplink.GetCamMemorycardTimeline, *uplink.CamMemorycardRecording,
		*uplink.CamMemorycardSynchronize, *uplink.CamMemorycardSynchronizeCancel, *uplink.CamFormatMemorycard:
		return w.handleMemorycard(ctx, req)
	}
	return uplink.Done(uplink.StatusNotSupported)
}

func (w *Camera) camStatus() uplink.CamStatus {
	var ip string
	if id := w.ident(); id != nil {
		ip = id.ip
	}
	return uplink.CamStatus{IP: ip, Activity: w.Status().Activity, Streaming: w.pubs.Streaming(), StatusLED: false}
}

func (w *Camera) setCamParameter(ctx context.Context, p *uplink.SetCamParameter) uplink.Reply {
	// status_led: our cameras expose no LED through ONVIF; ignored as docs/protocol.md#set-cam-parameter allows.
	if p.Activity != nil {
		reply := make(chan activityChange, 1)
		ch, err := ask(ctx, w, setActivity{on: *p.Activity, reply: reply}, reply)
		if err != nil {
			return uplink.Done(uplink.StatusError, err)
		}
		if ch.was != *p.Activity {
			w.log.Info("activity changed", zap.Bool("activity", *p.Activity))
		}
		switch {
		case !*p.Activity:
			// Passive mode stops streaming but remembers what was asked (docs/protocol.md#passive-mode).
			w.pubs.StopAll()
		case !ch.was:
			w.resumeStreams(ctx, ch)
		}
	}
	return uplink.Done(uplink.StatusOK)
}

// resumeStreams restarts, on leaving passive mode, the publishes the cloud
// requested before or during it (docs/protocol.md#passive-mode). A failure is logged: the cloud
// notices the missing publish and sends stream_start again.
func (w *Camera) resumeStreams(ctx context.Context, ch activityChange) {
	// In parallel, so the done goes out within one publish start (docs/protocol.md#timeouts).
	var wg sync.WaitGroup
	for _, x := range ch.resume {
		wg.Go(func() {
			if err := w.pubs.Start(ctx, ch.link, x.stream, x.reason, x.psid); err != nil {
				w.fail("stream "+x.stream+": publishing to the cloud again after passive mode failed (the cloud asks again)", err)
			}
		})
	}
	wg.Wait()
}

// setRequested records (on) or forgets a stream_start reason of this connection.
func (w *Camera) setRequested(ctx context.Context, stream string, reason uplink.StreamReason, psid int64, on bool) {
	reply := make(chan struct{})
	_, _ = ask(ctx, w, setRequested{stream: stream, reason: reason, psid: psid, on: on, reply: reply}, reply)
}

// hasAudio reports whether a pipe has an audio track the publisher can carry
// over RTMP: AAC only (docs/protocol.md#q24).
func (p *pipe) hasAudio() bool {
	for _, t := range p.stream.Tracks() {
		if t.Codec == media.CodecAAC {
			return true
		}
	}
	return false
}

func (w *Camera) supportedStreams() uplink.SupportedStreams {
	pipes := w.pipes()
	out := uplink.SupportedStreams{Streams: []uplink.StreamInfo{}, VideoES: []string{}, AudioES: []string{}}
	for _, p := range pipes {
		si := uplink.StreamInfo{ID: p.id, Video: p.videoES()}
		out.VideoES = append(out.VideoES, p.videoES())
		if p.hasAudio() {
			si.Audio = p.audioES()
			out.AudioES = append(out.AudioES, p.audioES())
		}
		out.Streams = append(out.Streams, si)
	}
	return out
}

// selected reports whether ES name is in the request's list; a nil list means all.
func selected(list *[]string, name string) bool {
	return list == nil || slices.Contains(*list, name)
}

// cloudFormat maps ONVIF and media codec names to the cloud's (docs/protocol.md#enums).
func cloudFormat(name string) string {
	switch strings.ToUpper(strings.ReplaceAll(name, ".", "")) {
	case "H264":
		return "H.264"
	case "H265", "HEVC":
		return "H.265"
	case "JPEG", "MJPEG":
		return "MJPEG"
	case "G711", "G711U":
		return "G711U"
	case "G711A":
		return "G711A"
	}
	return strings.ToUpper(name)
}

// commonFPS are the frame rates offered to the cloud from a camera's range.
var commonFPS = []float64{60, 50, 30, 25, 20, 15, 12, 10, 8, 5, 2, 1}

// fpsChoices are the frame rates offered for a camera's range: the common
// ones inside it, or its ends when none is (e.g. 3–4), never an empty list.
func fpsChoices(r onvif.Range) []uplink.Float {
	var out []uplink.Float
	for _, f := range commonFPS {
		if f >= float64(r.Min) && f <= float64(r.Max) {
			out = append(out, uplink.Float(f))
		}
	}
	if len(out) == 0 {
		out = append(out, uplink.Float(r.Max))
		if r.Min > 0 && r.Min != r.Max {
			out = append(out, uplink.Float(r.Min))
		}
	}
	return out
}

func (w *Camera) streamCaps(ctx context.Context, req *uplink.GetStreamCaps) uplink.Reply {
	pipes, cl := w.pipes(), w.onvifClient()
	caps := uplink.StreamCaps{CapsVideo: []uplink.VideoCaps{}, CapsAudio: []uplink.AudioCaps{}}
	for _, p := range pipes {
		if selected(req.VideoES, p.videoES()) {
			vc, err := w.videoCaps(ctx, cl, p)
			if err != nil {
				return uplink.Done(uplink.StatusError, err)
			}
			caps.CapsVideo = append(caps.CapsVideo, vc)
		}
		if p.hasAudio() && selected(req.AudioES, p.audioES()) {
			ac := audioConfig(p)
			caps.CapsAudio = append(caps.CapsAudio, uplink.AudioCaps{
				Streams: []string{p.audioES()}, Formats: []string{ac.Format},
				BRT: [3]int{ac.BRT, ac.BRT, 1}, SRT: []uplink.Float{ac.SRT},
			})
		}
	}
	return uplink.Answer(caps)
}

// videoCaps reports what the camera's encoder allows, from ONVIF options
// when the stream has a profile, else what the stream itself shows. What
// the options leave unknown (empty elements, or the camera faulted on the
// call) is reported as the current value, the one choice known to work.
func (w *Camera) videoCaps(ctx context.Context, cl *onvif.Client, p *pipe) (uplink.VideoCaps, error) {
	cur := videoConfig(p)
	vc := uplink.VideoCaps{
		Streams:     []string{p.videoES()},
		Formats:     []string{cur.Format},
		Resolutions: [][2]int{{cur.Horz, cur.Vert}},
		FPS:         []uplink.Float{cur.FPS},
		GOP:         [3]int{cur.GOP, cur.GOP, 1},
		BRT:         [3]int{cur.BRT, cur.BRT, 1},
	}
	if cur.VBR {
		vc.BRT = [3]int{cur.VBRBRT, cur.VBRBRT, 1}
	}
	if cl == nil || p.profile == nil || p.profile.Video == nil {
		return vc, nil
	}
	opts, err := cl.VideoEncoderOptions(ctx, p.profile.Video.Token, p.profile.Token)
	if err != nil {
		return vc, fmt.Errorf("video encoder options: %w", err)
	}
	if opts.Unavailable != nil {
		w.log.Info("camera gives no video encoder options, reporting current settings as the only choice",
			zap.String("stream", p.id), zap.Error(opts.Unavailable))
	}
	if opts.Known() {
		vc.Formats = vc.Formats[:0]
	}
	for _, co := range opts.Codecs {
		if co.Encoding != "H264" && co.Encoding != "H265" {
			continue // the agent publishes H.264/H.265 only
		}
		vc.Formats = append(vc.Formats, cloudFormat(co.Encoding))
		if co.Encoding != p.profile.Video.Encoding {
			continue
		}
		if len(co.Resolutions) > 0 {
			vc.Resolutions = vc.Resolutions[:0]
			for _, r := range co.Resolutions {
				vc.Resolutions = append(vc.Resolutions, [2]int{r.Width, r.Height})
			}
		}
		if co.FrameRate.Known() {
			vc.FPS = fpsChoices(co.FrameRate)
		}
		if co.GOP.Known() {
			vc.GOP = [3]int{co.GOP.Min, co.GOP.Max, 1}
		}
		if co.BitrateKbps.Known() {
			vc.BRT = [3]int{co.BitrateKbps.Min, co.BitrateKbps.Max, 1}
		}
		for _, pr := range co.Profiles {
			vc.Profiles = append(vc.Profiles, [2]string{cloudFormat(co.Encoding), pr})
		}
	}
	if cur.VBR {
		// A camera running VBR can do VBR; its one limit is the VBR maximum.
		vc.VBR = true
		r := vc.BRT
		vc.VBRBRT = &r
	}
	if opts.Quality.Known() && opts.Quality.Max > opts.Quality.Min {
		vc.Quality = &[2]int{-4, 4}
	}
	if len(vc.Formats) == 0 {
		vc.Formats = []string{cur.Format}
	}
	return vc, nil
}

func (w *Camera) streamConfig(ctx context.Context, req *uplink.GetStreamConfig) uplink.Reply {
	pipes, cl := w.pipes(), w.onvifClient()
	out := uplink.StreamConfig{Video: []uplink.VideoConfig{}, Audio: []uplink.AudioConfig{}}
	for _, p := range pipes {
		if selected(req.VideoES, p.videoES()) {
			vc := videoConfig(p)
			if vc.VBR && cl != nil {
				// quality is required with VBR (docs/protocol.md#get-stream-config); its scale is the camera's.
				if opts, err := cl.VideoEncoderOptions(ctx, p.profile.Video.Token, p.profile.Token); err == nil {
					q := cloudQuality(p.profile.Video.Quality, opts.Quality)
					vc.Quality = &q
				}
			}
			out.Video = append(out.Video, vc)
		}
		if p.hasAudio() && selected(req.AudioES, p.audioES()) {
			out.Audio = append(out.Audio, audioConfig(p))
		}
	}
	return uplink.Answer(out)
}

// videoConfig reports the encoder settings: ONVIF's configuration where
// there is one, with what the stream shows filling the gaps.
func videoConfig(p *pipe) uplink.VideoConfig {
	st := p.stream.Stats()
	vc := uplink.VideoConfig{Stream: p.videoES(), Format: cloudFormat(st.VideoCodec.String()), Horz: st.Width, Vert: st.Height, FPS: uplink.Float(st.FPS), BRT: int(st.Kbps)}
	if p.profile != nil && p.profile.Video != nil {
		v := p.profile.Video
		vc.Format, vc.Profile = cloudFormat(v.Encoding), v.Profile
		vc.Horz, vc.Vert, vc.GOP = v.Width, v.Height, v.GOP
		// A camera without RateControl reports neither limit (0): the
		// stream's own rate stands in rather than a made-up zero.
		if v.FrameRate > 0 {
			vc.FPS = uplink.Float(v.FrameRate)
		}
		if v.BitrateKbps > 0 {
			vc.BRT = v.BitrateKbps
		}
		if v.RateControl == onvif.RateControlVBR {
			// ONVIF's one bitrate limit is the VBR maximum in VBR (docs/protocol.md#get-stream-config:
			// brt is for CBR); quality 0 (normal) until the caller knows
			// the camera's scale.
			vc.VBR, vc.BRT, vc.VBRBRT = true, 0, vc.BRT
			q := 0
			vc.Quality = &q
		}
	}
	return vc
}

// cloudQuality maps a camera quality value within r onto the cloud's
// -4…4 scale, the inverse of what set_stream_config applies; 0 when the
// camera reports no range.
func cloudQuality(q float64, r onvif.Range) int {
	if r.Max <= r.Min {
		return 0
	}
	c := int(math.Round((q-float64(r.Min))*8/float64(r.Max-r.Min))) - 4
	return min(max(c, -4), 4)
}

func audioConfig(p *pipe) uplink.AudioConfig {
	ac := uplink.AudioConfig{Stream: p.audioES(), Format: "AAC"}
	for _, t := range p.stream.Tracks() {
		if t.Codec == media.CodecAAC {
			ac.SRT = uplink.Float(t.SampleRate) / 1000
		}
	}
	if p.profile != nil && p.profile.Audio != nil {
		ac.BRT = p.profile.Audio.BitrateKbps
		if p.profile.Audio.SampleRateKHz > 0 {
			ac.SRT = uplink.Float(p.profile.Audio.SampleRateKHz)
		}
	}
	return ac
}

func (w *Camera) streamStart(ctx context.Context, req *uplink.StreamStart) uplink.Reply {
	if w.pipe(req.StreamID) == nil {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("unknown stream_id %q", req.StreamID))
	}
	if isDirect(req.Reason, req.StorageDirectRecording) {
		// Recorded locally and pushed as files, no RTMP; in passive mode
		// too, where recording waits for activity (docs/protocol.md#storage-direct-recording).
		ok, why := w.startDirect(req.StreamID)
		if ok {
			return uplink.Done(uplink.StatusOK)
		}
		w.log.Info("direct recording not possible, publishing RTMP", zap.String("stream", req.StreamID), zap.String("why", why))
	}
	st := w.Status()
	link, active := st.link, st.Activity
	if !active {
		// Passive mode: remember, publish on leaving it (docs/protocol.md#passive-mode).
		w.setRequested(ctx, req.StreamID, req.Reason, req.PublishSessionID, true)
		return uplink.Done(uplink.StatusOK)
	}
	if req.Reason == uplink.ReasonRecordByEvent {
		// Event video is cut from the pre-event buffer; no RTMP (docs/protocol.md#stream-start).
		if err := w.setRecordByEvent(ctx, req.StreamID, true); err != nil {
			return uplink.Done(uplink.StatusError, err)
		}
	}
	if err := w.pubs.Start(ctx, link, req.StreamID, req.Reason, req.PublishSessionID); err != nil {
		w.fail("stream "+req.StreamID+": publishing to the cloud failed (the cloud asks again)", err)
		return uplink.Done(uplink.StatusError, err)
	}
	w.setRequested(ctx, req.StreamID, req.Reason, req.PublishSessionID, true)
	w.log.Info("stream started", zap.String("stream", req.StreamID), zap.String("reason", string(req.Reason)))
	return uplink.Done(uplink.StatusOK)
}

func (w *Camera) streamStop(ctx context.Context, req *uplink.StreamStop) uplink.Reply {
	if w.pipe(req.StreamID) == nil {
		return uplink.Done(uplink.StatusError, fmt.Errorf("unknown stream_id %q", req.StreamID))
	}
	w.setRequested(ctx, req.StreamID, req.Reason, 0, false)
	if isDirect(req.Reason, true) {
		// record ends direct recording too (docs/protocol.md#storage-direct-recording);
		// an RTMP fallback of it ends below.
		w.stopDirect(req.StreamID, "stream_stop "+string(req.Reason))
	}
	if req.Reason == uplink.ReasonRecordByEvent {
		if err := w.setRecordByEvent(ctx, req.StreamID, false); err != nil {
			return uplink.Done(uplink.StatusError, err)
		}
	}
	w.pubs.Stop(req.StreamID, req.Reason)
	w.log.Info("stream stopped", zap.String("stream", req.StreamID), zap.String("reason", string(req.Reason)))
	return uplink.Done(uplink.StatusOK)
}
