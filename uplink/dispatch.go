package uplink

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// queueSize bounds the requests waiting for the Handler; beyond it the
// cloud gets done RETRY.
const queueSize = 32

// queued is a request waiting for the Handler: where its reply goes and
// its typed value, nil for a command uplink has no type for.
type queued struct {
	to  Envelope
	req Request
}

// dispatch feeds the Handler one request at a time so slow work (an RTMP
// connect) never blocks the receive loop (docs/protocol.md#replies). A command uplink does not
// know is answered NOT_SUPPORTED here, in its turn (docs/protocol.md#errors).
func (c *conn) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-c.queue:
			if q.req == nil {
				c.reply(q.to, Done(StatusNotSupported))
				continue
			}
			c.reply(q.to, c.s.opts.Handler.Handle(ctx, q.req))
		}
	}
}

// replyTo is the envelope of any reply to m (docs/protocol.md#replies).
func replyTo(m *Message) Envelope {
	env := Envelope{RefID: m.MsgID, OrigCmd: m.Cmd}
	if m.HasCamID {
		env.CamID = m.CamID
	}
	return env
}

// reply answers the request whose reply envelope is env.
func (c *conn) reply(env Envelope, r Reply) {
	if r.cmd == "" {
		r = Done(StatusError, errors.New("handler returned no reply"))
	}
	env.Cmd = r.cmd
	if r.cmd == CmdDone {
		env.Status = r.status
		if r.status != StatusOK {
			c.log.Info("request refused", zap.String("cmd", env.OrigCmd), zap.String("status", r.status), zap.Error(r.err))
		}
	}
	if _, err := c.send(env, r.body); err != nil {
		c.log.Warn("reply failed", zap.String("cmd", env.OrigCmd), zap.Error(err))
	}
	if r.then != nil {
		r.then()
	}
}

// request routes a camera-scoped cloud request (docs/protocol.md#errors): it is decoded once
// into its typed value here, and a request the spec's field rules refuse
// is answered without reaching the Handler.
func (c *conn) request(m *Message) {
	to := replyTo(m)
	if c.s.State() != StateReady {
		c.reply(to, Done(StatusRetry))
		return
	}
	if m.HasCamID && m.CamID != c.camID {
		c.reply(to, Done(StatusError, fmt.Errorf("foreign cam_id %d", m.CamID)))
		return
	}
	req, err := decodeRequest(m)
	if err != nil {
		c.reply(to, DoneErr(err))
		return
	}
	select {
	case c.queue <- queued{to: to, req: req}:
	default:
		n := c.dropped.Add(1)
		c.log.Warn("request queue full", zap.String("cmd", m.Cmd), zap.Int64("dropped", n))
		c.reply(to, Done(StatusRetry))
	}
}
