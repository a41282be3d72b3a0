package agent

import (
	"context"

	"github.com/camagent/camagent/uplink"
)

// handleSettings serves the camera-settings commands (§4.3.4, §4.4, §4.5,
// §4.13) through ONVIF.
func (w *cameraWorker) handleSettings(ctx context.Context, c *uplink.Command) uplink.Reply {
	return uplink.Done(uplink.StatusNotSupported)
}
