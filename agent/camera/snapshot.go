package camera

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
)

// snapshotMaxBytes is the largest picture the agent keeps: a thumbnail or a
// cloud preview never needs more, and a camera answering with a huge body
// must not pin megabytes per camera.
const snapshotMaxBytes = 2 << 20

// snapshotRetry is how long a failed fetch is answered from memory, so a
// status page refreshing every few seconds does not hammer a camera that
// is down.
const snapshotRetry = 3 * time.Second

// errNoSnapshot means the camera cannot give a picture at all: no ONVIF in
// its config, not connected over ONVIF yet, or no snapshot URI.
var errNoSnapshot = errors.New("no snapshot")

// snapshotCache holds a camera's latest JPEG and the fetch in flight, if
// any. It lives in the worker (Camera.snap).
type snapshotCache struct {
	mu    sync.Mutex
	uri   string // main profile's snapshot URI once it worked (may carry credentials: never shown)
	jpeg  []byte
	at    time.Time // when jpeg arrived
	err   error     // the camera's last failure, answered until errAt+snapshotRetry
	errAt time.Time
	fetch *snapshotFetch // the fetch in flight, nil when none
}

// snapshotFetch is one fetch that concurrent callers share.
type snapshotFetch struct {
	done chan struct{} // closed when the fields below are set
	jpeg []byte
	at   time.Time
	err  error
	// abandoned: the caller that ran the fetch gave up (its ctx ended),
	// which says nothing about the camera.
	abandoned bool
}

// snapshot returns the camera's latest JPEG and when it was taken: the
// cached one if younger than maxAge, else a fresh one from the main
// profile's ONVIF snapshot URI. One fetch runs at a time per camera;
// concurrent callers wait for it and share its result. The returned bytes
// are shared: callers must not modify them. Errors wrap errNoSnapshot when
// the camera cannot give a picture at all.
func (w *Camera) Snapshot(ctx context.Context, maxAge time.Duration) ([]byte, time.Time, error) {
	c := &w.snap
	for {
		c.mu.Lock()
		if c.jpeg != nil && time.Since(c.at) < maxAge {
			jpeg, at := c.jpeg, c.at
			c.mu.Unlock()
			return jpeg, at, nil
		}
		if c.err != nil && time.Since(c.errAt) < min(maxAge, snapshotRetry) {
			err := c.err
			c.mu.Unlock()
			return nil, time.Time{}, err
		}
		f := c.fetch
		if f == nil {
			// This caller runs the fetch, on its own goroutine and context.
			f = &snapshotFetch{done: make(chan struct{})}
			c.fetch = f
			c.mu.Unlock()
			w.runSnapshotFetch(ctx, f)
			return f.jpeg, f.at, f.err
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		case <-f.done:
		}
		if !f.abandoned {
			return f.jpeg, f.at, f.err
		}
		// The caller running it gave up; this one still wants a picture.
	}
}

// runSnapshotFetch fetches, stores the result in the cache and wakes the
// callers waiting for f.
func (w *Camera) runSnapshotFetch(ctx context.Context, f *snapshotFetch) {
	c := &w.snap
	jpeg, err := w.fetchSnapshot(ctx)
	now := time.Now()
	c.mu.Lock()
	c.fetch = nil
	switch {
	case err == nil:
		f.jpeg, f.at = jpeg, now
		c.jpeg, c.at, c.err = jpeg, now, nil
	case ctx.Err() != nil:
		f.err, f.abandoned = fmt.Errorf("snapshot: %w", ctx.Err()), true
	default:
		f.err = err
		c.err, c.errAt = err, now
	}
	c.mu.Unlock()
	close(f.done)
}

// fetchSnapshot asks the camera for one picture of its main profile.
func (w *Camera) fetchSnapshot(ctx context.Context) ([]byte, error) {
	cl, pipes := w.onvifClient(), w.pipes()
	if cl == nil {
		if w.opts.Camera.ONVIF.URL == "" {
			return nil, fmt.Errorf("%w: the camera has no ONVIF address in the config", errNoSnapshot)
		}
		return nil, fmt.Errorf("%w: the camera is not connected over ONVIF yet", errNoSnapshot)
	}
	if len(pipes) == 0 || pipes[0].profile == nil {
		return nil, fmt.Errorf("%w: the camera has no media profile", errNoSnapshot)
	}
	c := &w.snap
	c.mu.Lock()
	uri := c.uri
	c.mu.Unlock()
	if uri == "" {
		var err error
		uri, err = cl.SnapshotURI(ctx, pipes[0].profile.Token)
		if errors.Is(err, onvif.ErrUnsupported) {
			return nil, fmt.Errorf("%w: the camera offers no snapshot URI: %w", errNoSnapshot, err)
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	data, err := cl.Snapshot(ctx, uri)
	if err != nil {
		// Ask for the URI again next time: it may have changed with a reboot.
		c.mu.Lock()
		c.uri = ""
		c.mu.Unlock()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if len(data) > snapshotMaxBytes {
		return nil, fmt.Errorf("snapshot: the camera's picture has %d bytes, more than the %d allowed", len(data), snapshotMaxBytes)
	}
	data, err = media.AsJPEG(data)
	if err != nil {
		// Some cameras answer errors with an HTML page and status 200.
		return nil, fmt.Errorf("snapshot: the camera answered with something that is not a picture: %w", err)
	}
	c.mu.Lock()
	c.uri = uri
	c.mu.Unlock()
	return data, nil
}
