package camera

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/camagent/camagent/uplink"
)

// formatMemorycard answers cam_format_memorycard (docs/protocol.md#memory-card):
// the camera's recordings, of every stream, are deleted, other cameras'
// are left alone, and recording goes on into a fresh index. The cloud
// sees memorycard formatting, then normal, then the done.
func (w *Camera) formatMemorycard(ctx context.Context) uplink.Reply {
	if w.rec == nil {
		return uplink.Done(uplink.StatusError, errors.New("no memory card"))
	}
	rec := w.rec.cur.Load()
	if rec == nil {
		return uplink.Done(uplink.StatusError, errors.New("no memory card: the recordings directory cannot be opened"))
	}
	w.rec.formatting.Store(true)
	w.sendMemorycard(ctx, false)
	err := rec.Format()
	if err == nil {
		err = w.removeOtherStreams(rec.Dir())
	}
	w.rec.formatting.Store(false)
	w.sendMemorycard(ctx, false)
	if err != nil {
		w.log.Warn("memory card not formatted", zap.Error(err))
		return uplink.Done(uplink.StatusError, fmt.Errorf("format: %w", err))
	}
	w.log.Info("memory card formatted by the cloud")
	return uplink.Done(uplink.StatusOK)
}

// removeOtherStreams deletes what earlier runs recorded of the camera's
// other streams (the recorded stream can be switched): only keep, the
// open recorder's directory, stays.
func (w *Camera) removeOtherStreams(keep string) error {
	dir := filepath.Join(w.opts.Shared.recDir, w.name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !e.IsDir() || p == keep {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
