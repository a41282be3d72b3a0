package cloudsim

import (
	"context"
	"fmt"
)

// Configure sends configure with body (pwd, uuid, connid, tz, server;
// docs/protocol.md#configure) on every live connection and waits for each done OK, as the
// cloud does when a user changes the camera's time zone.
func (s *Server) Configure(ctx context.Context, body map[string]any) error {
	conns := s.live()
	if len(conns) == 0 {
		return ErrNoCamera
	}
	for _, c := range conns {
		p := &pending{cmd: "configure", reply: make(chan map[string]any, 1)}
		if _, err := c.send(map[string]any{"cmd": "configure"}, body, p); err != nil {
			return err
		}
		select {
		case r := <-p.reply:
			if r["status"] != "OK" {
				return fmt.Errorf("configure answered %v", r["status"])
			}
		case <-c.done:
			return ErrConnClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
