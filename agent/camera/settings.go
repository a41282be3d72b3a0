package camera

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// settingsTimeout bounds all ONVIF calls of one settings command, so the
// cloud gets its reply within the 10 s of docs/protocol.md#replies even from a slow camera.
const settingsTimeout = 8 * time.Second

// errNoONVIF answers settings commands for a camera configured by RTSP URL only.
var errNoONVIF = fmt.Errorf("camera has no onvif address: %w", onvif.ErrUnsupported)

// withoutONVIF answers a command that needs ONVIF when the camera has no
// client: NOT_SUPPORTED for a camera configured without ONVIF, RETRY
// while ONVIF fails for one served from its RTSP URL, as for any command
// the agent cannot serve yet (docs/protocol.md#onvif-fallback).
func (w *Camera) withoutONVIF() uplink.Reply {
	if id := w.ident(); id != nil && id.onvifErr != nil {
		return uplink.Done(uplink.StatusRetry, fmt.Errorf("the camera's onvif service fails, camagent keeps trying: %w", id.onvifErr))
	}
	return uplink.Done(uplink.StatusNotSupported, errNoONVIF)
}

// handleSettings serves the camera-settings commands (docs/protocol.md#set-stream-config, #camera-settings, #ptz,
// docs/protocol.md#osd) through ONVIF. Each setter is validated against what the camera
// reports it can do, and the values the cloud reads back are the ones the
// camera applied.
func (w *Camera) handleSettings(ctx context.Context, req uplink.Request) uplink.Reply {
	ctx, cancel := context.WithTimeout(ctx, settingsTimeout)
	defer cancel()
	cl := w.onvifClient()
	if cl == nil {
		return w.withoutONVIF()
	}
	switch r := req.(type) {
	case *uplink.SetStreamConfig:
		return w.setStreamConfig(ctx, cl, r)
	case *uplink.GetCamVideoConf:
		return w.camVideoConf(ctx, cl)
	case *uplink.SetCamVideoConf:
		return w.setCamVideoConf(ctx, cl, r)
	case *uplink.GetCamAudioConf:
		return w.camAudioConf(ctx, cl)
	case *uplink.SetCamAudioConf:
		return w.setCamAudioConf(ctx, cl, r)
	case *uplink.GetOSDConf:
		return w.osdConf(ctx, cl)
	case *uplink.SetOSDConf:
		return w.setOSDConf(ctx, cl, r)
	case *uplink.GetPTZConf:
		return w.ptzConf(ctx, cl)
	case *uplink.CamPTZ:
		return w.camPTZ(ctx, cl, r)
	case *uplink.CamPTZPreset:
		return w.camPTZPreset(ctx, cl, r)
	}
	return uplink.Done(uplink.StatusNotSupported)
}

// invalidParam is a request the camera cannot honour as asked (docs/protocol.md#errors:
// value outside the caps).
type invalidParam struct{ msg string }

func (e *invalidParam) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidParam{msg: fmt.Sprintf(format, args...)}
}

// settingsDone turns the outcome of a settings command into its done
// reply. Refusals that are the request's fault are answered without
// alarm; camera failures are recorded for the status page.
func (w *Camera) settingsDone(what string, err error) uplink.Reply {
	if err == nil {
		return uplink.Done(uplink.StatusOK)
	}
	status := settingsStatus(err)
	if status == uplink.StatusError {
		w.fail("cloud command "+what+" failed on the camera", err)
	}
	return uplink.Done(status, fmt.Errorf("%s: %w", what, err))
}

// settingsStatus maps an error to the done status of docs/protocol.md#done.
func settingsStatus(err error) string {
	var ip *invalidParam
	var f *onvif.Fault
	switch {
	case errors.As(err, &ip), errors.Is(err, onvif.ErrOutOfRange):
		return uplink.StatusInvalidParam
	case errors.Is(err, onvif.ErrUnsupported):
		return uplink.StatusNotSupported
	case errors.Is(err, onvif.ErrUnauthorized), errors.Is(err, onvif.ErrUnreachable):
		return uplink.StatusError
	case errors.As(err, &f):
		switch f.Subcode {
		case "TooManyPresets", "MaxOSDs":
			return uplink.StatusTooMany
		}
		if f.Code == "Sender" || f.Code == "Client" {
			// The camera refused an argument we passed on (unknown preset
			// token, a value it rejects although its options list it).
			return uplink.StatusInvalidParam
		}
	}
	return uplink.StatusError
}

// mainProfile is the ONVIF profile of the first stream: image, audio, OSD
// and PTZ settings address the camera through it.
func (w *Camera) mainProfile() (*onvif.Profile, error) {
	pipes := w.pipes()
	if len(pipes) == 0 || pipes[0].profile == nil {
		return nil, fmt.Errorf("no onvif media profile: %w", onvif.ErrUnsupported)
	}
	return pipes[0].profile, nil
}
