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

// Largest grid the agent offers the cloud. The cloud's grid editor is
// drawn cell by cell; finer camera layouts (Hikvision and Axis use 22×18,
// some firmware 44×36 or more) are shown as a coarser grid. This bound is
// our choice, not a documented cloud limit.
const (
	maxGridColumns = 32
	maxGridRows    = 32
)

// motionTimeout bounds one motion command: several ONVIF calls that must
// fit in the cloud's 10 s reply window (docs/protocol.md#replies).
const motionTimeout = 8 * time.Second

// motionRegion is the one region a cell motion engine has.
const motionRegion = "region_0"

// motionCaps: ONVIF cell motion has one cell mask and one engine
// sensitivity, and any set of cells can be active.
var motionCaps = uplink.MotionCaps{MaxRegions: 1, Sensitivity: uplink.SensitivityFrame, RegionShape: uplink.ShapeAny}

// cloudGrid is the grid the cloud sees for a camera layout: the layout
// itself when it fits, else the layout divided by the smallest whole
// factor that makes it fit, so each cloud cell covers whole camera cells
// and a map survives the round trip unchanged.
func cloudGrid(cols, rows int) (int, int) {
	f := max((cols+maxGridColumns-1)/maxGridColumns, (rows+maxGridRows-1)/maxGridRows, 1)
	return max(cols/f, 1), max(rows/f, 1)
}

func (w *Camera) motionDetection(ctx context.Context) uplink.Reply {
	cl := w.onvifClient()
	if cl == nil {
		return w.withoutONVIF()
	}
	ctx, cancel := context.WithTimeout(ctx, motionTimeout)
	defer cancel()
	m, err := cl.MotionConfig(ctx, "")
	if errors.Is(err, onvif.ErrUnsupported) {
		return uplink.Done(uplink.StatusNotSupported, err)
	}
	if err != nil {
		return uplink.Done(uplink.StatusError, err)
	}
	return uplink.Answer(motionConf(m))
}

// motionConf shows a camera's cell motion setup as the cloud's grid.
// The region is enabled when any cell watches for motion.
func motionConf(m onvif.CellMotion) uplink.MotionDetectionConf {
	gc, gr := cloudGrid(m.Columns, m.Rows)
	cells := m.Active
	if gc != m.Columns || gr != m.Rows {
		cells = uplink.ScaleGrid(m.Active, m.Columns, m.Rows, gc, gr)
	}
	return uplink.MotionDetectionConf{
		Columns: gc, Rows: gr, Caps: motionCaps,
		Regions: []uplink.MotionRegion{{
			Region: motionRegion, Map: uplink.EncodeGrid(gc, gr, cells),
			Sensitivity: min(max(m.Sensitivity, 0), 100), Enabled: slices.Contains(cells, true),
		}},
	}
}

// setMotionDetection writes the cloud's region into the camera's cell
// mask. A disabled region (or none) clears every cell: ONVIF's cell
// detector has no switch of its own.
func (w *Camera) setMotionDetection(ctx context.Context, req *uplink.SetMotionDetection) uplink.Reply {
	if len(req.Regions) > motionCaps.MaxRegions {
		return uplink.Done(uplink.StatusTooMany, fmt.Errorf("%d motion regions, the camera has %d", len(req.Regions), motionCaps.MaxRegions))
	}
	cl := w.onvifClient()
	if cl == nil {
		return w.withoutONVIF()
	}
	ctx, cancel := context.WithTimeout(ctx, motionTimeout)
	defer cancel()
	cur, err := cl.MotionConfig(ctx, "")
	if errors.Is(err, onvif.ErrUnsupported) {
		return uplink.Done(uplink.StatusNotSupported, err)
	}
	if err != nil {
		return uplink.Done(uplink.StatusError, err)
	}
	gc, gr := cloudGrid(cur.Columns, cur.Rows)
	want := cur
	want.Active = make([]bool, cur.Columns*cur.Rows)
	if len(req.Regions) == 1 {
		r := req.Regions[0]
		cells, err := uplink.DecodeGrid(r.Map, gc, gr)
		if err != nil {
			return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("region %s: %w", r.Region, err))
		}
		if r.Enabled {
			if gc != cur.Columns || gr != cur.Rows {
				cells = uplink.ScaleGrid(cells, gc, gr, cur.Columns, cur.Rows)
			}
			want.Active = cells
		}
		want.Sensitivity = r.Sensitivity
	}
	got, err := cl.SetMotionConfig(ctx, cur.ConfigToken, want)
	var re *onvif.RangeError
	switch {
	case errors.As(err, &re):
		return uplink.Done(uplink.StatusInvalidParam, err)
	case errors.Is(err, onvif.ErrUnsupported):
		return uplink.Done(uplink.StatusNotSupported, err)
	case err != nil:
		return uplink.Done(uplink.StatusError, err)
	}
	if got.Sensitivity != want.Sensitivity || !slices.Equal(got.Active, want.Active) {
		// Cameras clamp; the next get_motion_detection shows what holds.
		w.log.Info("camera adjusted the motion settings", zap.Int("asked_sensitivity", want.Sensitivity), zap.Int("sensitivity", got.Sensitivity))
	}
	return uplink.Done(uplink.StatusOK)
}
