package uplink

import (
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// queueSize bounds the requests waiting for the Handler; beyond it the
// cloud gets done RETRY.
const queueSize = 32

// dispatch feeds the Handler one request at a time so slow work (an RTMP
// connect) never blocks the receive loop (§3.3).
func (c *conn) dispatch() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case cmd := <-c.queue:
			c.reply(cmd.msg, c.s.opts.Handler.Handle(c.ctx, cmd))
		}
	}
}

// reply answers request m (§3.3).
func (c *conn) reply(m *Message, r Reply) {
	if r.cmd == "" {
		r = Done(StatusError, errors.New("handler returned no reply"))
	}
	env := Envelope{Cmd: r.cmd, RefID: m.MsgID, OrigCmd: m.Cmd}
	if m.HasCamID {
		env.CamID = m.CamID
	}
	if r.cmd == CmdDone {
		env.Status = r.status
		if r.status != StatusOK {
			c.log.Info("request refused", zap.String("cmd", m.Cmd), zap.String("status", r.status), zap.Error(r.err))
		}
	}
	if _, err := c.send(env, r.body); err != nil {
		c.log.Warn("reply failed", zap.String("cmd", m.Cmd), zap.Error(err))
	}
	if r.then != nil {
		r.then()
	}
}

// request routes a camera-scoped cloud request (§3.5).
func (c *conn) request(m *Message) {
	if c.s.State() != StateReady {
		c.reply(m, Done(StatusRetry))
		return
	}
	if m.HasCamID && m.CamID != c.camID {
		c.reply(m, Done(StatusError, fmt.Errorf("foreign cam_id %d", m.CamID)))
		return
	}
	if err := ValidateRequest(m); err != nil {
		c.reply(m, DoneErr(err))
		return
	}
	cmd := &Command{Name: m.Cmd, MsgID: m.MsgID, CamID: m.CamID, RefID: m.RefID, msg: m}
	select {
	case c.queue <- cmd:
	default:
		n := c.dropped.Add(1)
		c.log.Warn("request queue full", zap.String("cmd", m.Cmd), zap.Int64("dropped", n))
		c.reply(m, Done(StatusRetry))
	}
}
