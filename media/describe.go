package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// describeTimeout bounds Describe when ctx has no deadline.
const describeTimeout = 10 * time.Second

// TrackInfo is one track a camera announces in its RTSP DESCRIBE answer.
type TrackInfo struct {
	// Kind is the SDP media type: "video", "audio" or "application".
	Kind string
	// Format is the codec as gortsplib names it from the SDP, e.g. "H264"
	// or "MPEG-4 Audio"; it is set even for codecs the agent cannot carry.
	Format string
	// Codec is how the agent would carry the track; CodecUnknown when it
	// cannot.
	Codec Codec
	// Width and Height come from the SPS in the SDP; 0 when it has none.
	Width, Height int
	// SampleRate and Channels describe audio tracks.
	SampleRate, Channels int
}

// Describe asks the camera at rawURL what it streams (one RTSP DESCRIBE, no
// SETUP or PLAY) and lists the tracks it offers. Username overrides the URL's
// credentials. Errors wrap ErrUnauthorized or ErrUnreachable where they
// apply; a ctx deadline counts as unreachable.
func Describe(ctx context.Context, rawURL, username, password string) ([]TrackInfo, error) {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rtsp describe: parse url: %w", err)
	}
	if username != "" {
		u.User = url.UserPassword(username, password)
	}
	timeout := describeTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, ReadTimeout: timeout, WriteTimeout: timeout}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("rtsp describe: start client: %w", err)
	}
	// Close unblocks the request when ctx ends.
	stop := context.AfterFunc(ctx, c.Close)
	defer func() {
		stop()
		c.Close()
	}()
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, describeError(ctx, err)
	}
	var out []TrackInfo
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			ti := TrackInfo{Kind: string(m.Type), Format: f.Codec()}
			if t := trackFor(f); t != nil {
				ti.Codec = t.Codec
				ti.Width, ti.Height = t.Width, t.Height
				ti.SampleRate, ti.Channels = t.SampleRate, t.Channels
			}
			out = append(out, ti)
		}
	}
	return out, nil
}

// describeError classifies a DESCRIBE failure into the typed errors.
func describeError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("rtsp describe: %w: no answer in time", ErrUnreachable)
		}
		return ctxErr
	}
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) && bad.Code == base.StatusUnauthorized {
		return fmt.Errorf("rtsp describe: %w: %w", ErrUnauthorized, err)
	}
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("rtsp describe: %w: %w", ErrUnreachable, err)
	}
	return fmt.Errorf("rtsp describe: %w", err)
}
