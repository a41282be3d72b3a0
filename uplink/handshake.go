package uplink

import (
	"context"
	"fmt"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// ConnState is the camera-channel state of docs/protocol.md#states.
type ConnState int32

// States of docs/protocol.md#states.
const (
	StateDisconnected ConnState = iota
	StateWSOpen
	StateRegistering
	StateCamRegistering
	StateReady
)

func (s ConnState) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateWSOpen:
		return "ws_open"
	case StateRegistering:
		return "registering"
	case StateCamRegistering:
		return "cam_registering"
	case StateReady:
		return "ready"
	}
	return fmt.Sprintf("ConnState(%d)", int32(s))
}

// probeCamera asks the Handler for camera facts until it has them; the
// camera must be reachable before cam_register is sent (docs/protocol.md#cam-register).
func (c *conn) probeCamera(ctx context.Context) {
	for {
		info, err := c.s.opts.Handler.CameraInfo(ctx)
		if err == nil {
			c.camInfo <- info
			return
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("camera unavailable, cam_register deferred", zap.Error(err))
		if c.s.clock.Sleep(ctx, c.s.t.CameraRetry) != nil {
			return
		}
	}
}

// serve runs the docs/protocol.md#states state machine until the connection ends.
func (c *conn) serve(ctx context.Context) connResult {
	s := c.s
	var res connResult
	tz := s.persist.TZ
	if tz == "" {
		tz = s.opts.TZ
	}
	if tz == "" {
		tz = "UTC"
	}
	proto := []string{"rtmp"}
	if c.secure {
		proto = []string{"rtmps"}
	}
	reg := Register{Ver: s.opts.Version, TZ: tz, Vendor: s.opts.Vendor, RegToken: s.opts.Token.Secret,
		Pwd: s.persist.Pwd, PrevSID: s.persist.SID, MediaProtocols: proto}
	if _, err := c.send(Envelope{Cmd: CmdRegister}, reg); err != nil {
		res.err = err
		return res
	}
	s.setState(StateRegistering)
	phase := time.NewTimer(s.t.Hello)
	defer phase.Stop()
	phaseName := CmdHello
	var hello Hello

	for {
		select {
		case <-ctx.Done():
			c.goodbye()
			return res
		case <-phase.C:
			res.err = fmt.Errorf("no %s within timeout", phaseName)
			return res
		case info := <-c.camInfo:
			cr := CamRegister{IP: info.IP, UUID: s.persist.UUID, Brand: info.Brand, Model: info.Model,
				SN: info.SN, Version: info.Version, Type: info.Type, RawMessaging: s.opts.RawMessaging}
			if _, err := c.send(Envelope{Cmd: CmdCamRegister}, cr); err != nil {
				res.err = err
				return res
			}
			phase.Reset(s.t.CamHello)
			phaseName = CmdCamHello
		case f := <-c.inbound:
			if f.err != nil {
				res.err = f.err
				return res
			}
			data := f.data
			m, err := DecodeMessage(data)
			if err != nil {
				c.log.Warn("ignoring bad message", zap.Error(err), zap.Int("len", len(data)))
				continue
			}
			switch m.Cmd {
			case CmdDone:
				if m.Status != StatusOK {
					c.log.Info("cloud done", zap.String("orig_cmd", m.OrigCmd), zap.Int64("refid", m.RefID), zap.String("status", m.Status))
				}
			case CmdReportProblem:
				var rp ReportProblem
				_ = m.Decode(&rp)
				c.log.Warn("cloud reported a problem", zap.String("orig_cmd", m.OrigCmd), zap.Int64("refid", m.RefID), zap.String("reason", rp.Reason))
				if c.failGrant(m, rp.Reason) {
					continue
				}
				if pr, ok := s.opts.Handler.(ProblemReporter); ok {
					pr.Problem(m.RefID, m.OrigCmd, rp.Reason)
				}
			case CmdDirectUploadURL:
				// Here, not behind the Handler: a slow request must not
				// hold up an upload grant (docs/protocol.md#direct-upload).
				c.directUploadURL(m)
			case CmdBye:
				var b Bye
				if err := m.Decode(&b); err != nil {
					c.log.Warn("bad bye, treating as ERROR", zap.Error(err))
					b = Bye{Reason: ByeError, Retry: max(b.Retry, 0)}
				}
				res.bye = &b
				c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(s.t.Write))
				return res
			case CmdConfigure:
				var cf Configure
				if err := m.Decode(&cf); err != nil {
					c.reply(replyTo(m), DoneErr(err))
					continue
				}
				c.configure(cf)
				c.reply(replyTo(m), Done(StatusOK))
			case CmdHello:
				if s.State() != StateRegistering {
					c.reply(replyTo(m), Done(StatusOK))
					continue
				}
				if m.Status != "" && m.Status != StatusOK {
					res.err = fmt.Errorf("registration refused: hello status %s", m.Status)
					return res
				}
				if err := m.Decode(&hello); err != nil {
					c.reply(replyTo(m), DoneErr(err))
					res.err = fmt.Errorf("bad hello: %w", err)
					return res
				}
				s.persist.SID = hello.SID
				if hello.ConnID != "" {
					s.persist.ConnID = hello.ConnID
				}
				s.saveState()
				c.reply(replyTo(m), Done(StatusOK))
				s.setState(StateCamRegistering)
				phase.Stop()
				c.wg.Go(func() { c.probeCamera(ctx) })
			case CmdCamHello:
				if s.State() != StateCamRegistering || phaseName != CmdCamHello {
					c.reply(replyTo(m), Done(StatusOK))
					continue
				}
				var ch CamHello
				if err := m.Decode(&ch); err != nil {
					c.reply(replyTo(m), DoneErr(err))
					res.err = fmt.Errorf("bad cam_hello: %w", err)
					return res
				}
				phase.Stop()
				if ch.CamID != s.opts.Token.CamID {
					c.log.Warn("cloud cam_id differs from token camid", zap.Int64("cam_id", ch.CamID), zap.Int64("camid", s.opts.Token.CamID))
				}
				link := c.link(hello, ch)
				c.camID = ch.CamID
				c.reply(replyTo(m), Done(StatusOK))
				res.ready, res.readyAt = true, s.clock.Now()
				s.registrations.Add(1)
				s.setState(StateReady)
				s.mu.Lock()
				s.cur = c
				s.mu.Unlock()
				c.log.Info("camera ready", zap.Int64("cam_id", ch.CamID))
				s.opts.Handler.Ready(link)
			default:
				c.request(m)
			}
		}
	}
}

// configure applies a configure message (docs/protocol.md#configure).
func (c *conn) configure(cf Configure) {
	p := &c.s.persist
	for _, f := range []struct {
		dst *string
		v   string
	}{{&p.Pwd, cf.Pwd}, {&p.UUID, cf.UUID}, {&p.ConnID, cf.ConnID}, {&p.TZ, cf.TZ}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	c.s.saveState()
	if tzs, ok := c.s.opts.Handler.(TimeZoneSetter); ok && cf.TZ != "" {
		tzs.SetTimeZone(cf.TZ)
	}
	if cf.Server != "" {
		c.s.redirect = cf.Server
		c.log.Info("cloud set redirect target", zap.String("target", cf.Server))
	}
}

// link collects what publishing and uploads need from hello and cam_hello.
func (c *conn) link(h Hello, ch CamHello) Link {
	l := Link{CamID: ch.CamID, SID: h.SID, MediaServer: h.MediaServer, Path: ch.Path, UploadURI: h.UploadURI,
		Secure: c.secure, Activity: ch.Activity == nil || *ch.Activity}
	if ch.MediaURI != "" {
		l.MediaServer = ch.MediaURI
	}
	if l.Path == "" {
		l.Path = ch.MediaURL
	}
	if l.UploadURI == "" && h.UploadURL != "" {
		l.UploadURI = "http://" + h.UploadURL
	}
	return l
}
