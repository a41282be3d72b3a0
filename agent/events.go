package agent

import (
	"context"

	"github.com/camagent/camagent/uplink"
)

// handleEvents serves the event and detector commands (§4.6, §4.7).
func (w *cameraWorker) handleEvents(ctx context.Context, c *uplink.Command) uplink.Reply {
	return uplink.Done(uplink.StatusNotSupported)
}

// runEvents turns the camera's ONVIF events into cam_event messages until ctx ends.
func (w *cameraWorker) runEvents(ctx context.Context) {}
