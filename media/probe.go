package media

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// ProbeTimeout bounds one Probe: a camera that is switched off answers
// nothing, and the caller probes again.
const ProbeTimeout = time.Second

// Probe opens and closes a TCP connection to the RTSP port of rawURL (554,
// or 322 for rtsps, when the URL names none). It sends no RTSP request and no credentials,
// so it costs a camera nothing and can be repeated often while the camera
// is away. The error wraps ErrUnreachable when the port does not answer.
func Probe(ctx context.Context, rawURL string) error {
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return fmt.Errorf("rtsp probe: parse url: %w", err)
	}
	host := u.Host
	if u.Port() == "" {
		port := "554"
		if u.Scheme == "rtsps" {
			port = "322"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("rtsp probe %s: %w: %w", host, ErrUnreachable, err)
	}
	return c.Close()
}
