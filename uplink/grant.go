package uplink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// grantResult is what the receive loop hands a RequestUpload waiter.
type grantResult struct {
	grant UploadGrant
	err   error
}

// RequestUpload sends a message the cloud answers with direct_upload_url
// (docs/protocol.md#direct-upload) and returns the usable targets of that
// answer: cmd is CmdCamEvent with a *CamEvent carrying SnapshotInfo and/or
// FileMetaInfo, or CmdGetDirectUploadURL with a *GetDirectUploadURL (values
// of those types are checked before sending; other bodies go as given).
// The session answers the direct_upload_url with done itself.
//
// Errors: ErrNotReady, ErrUploadRefused (no usable entry), ErrUploadTimeout
// (none within Timeouts.DirectUpload), ErrUploadProblem (report_problem
// for the message), ErrConnClosed, ctx.Err(), a send error, or a
// *ParamError for a body that breaks the spec's rules.
func (s *Session) RequestUpload(ctx context.Context, cmd string, body any) (UploadGrant, error) {
	if err := checkUploadRequest(cmd, body); err != nil {
		return UploadGrant{}, err
	}
	if err := ctx.Err(); err != nil {
		return UploadGrant{}, err
	}
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c == nil {
		return UploadGrant{}, ErrNotReady
	}
	answer := make(chan grantResult, 1)
	id, err := c.sendAwaiting(Envelope{Cmd: cmd, CamID: c.camID}, body, answer)
	if err != nil {
		return UploadGrant{}, err
	}
	defer c.forgetGrant(id)
	t := time.NewTimer(s.t.DirectUpload)
	defer t.Stop()
	select {
	case r := <-answer:
		return r.grant, r.err
	case <-c.ended:
		return UploadGrant{}, fmt.Errorf("%w before direct_upload_url for %s msgid %d", ErrConnClosed, cmd, id)
	case <-t.C:
		return UploadGrant{}, fmt.Errorf("%w: %s msgid %d, waited %s", ErrUploadTimeout, cmd, id, s.t.DirectUpload)
	case <-ctx.Done():
		return UploadGrant{}, ctx.Err()
	}
}

// checkUploadRequest refuses, before anything is sent, a message the cloud
// would not answer with direct_upload_url.
func checkUploadRequest(cmd string, body any) error {
	var err error
	switch b := body.(type) {
	case *GetDirectUploadURL:
		if cmd != CmdGetDirectUploadURL || b == nil {
			return fmt.Errorf("request upload: %T body for %s", body, cmd)
		}
		err = b.validate()
	case *CamEvent:
		if cmd != CmdCamEvent || b == nil {
			return fmt.Errorf("request upload: %T body for %s", body, cmd)
		}
		if b.SnapshotInfo == nil && b.FileMetaInfo == nil {
			return errors.New("request upload: cam_event without snapshot_info or file_meta_info gets no direct_upload_url")
		}
		err = b.validate()
	default:
		if cmd != CmdCamEvent && cmd != CmdGetDirectUploadURL {
			return fmt.Errorf("request upload: the cloud does not answer %s with direct_upload_url", cmd)
		}
	}
	if err != nil {
		return fmt.Errorf("request upload %s: %w", cmd, err)
	}
	return nil
}

// takeGrant removes and returns the waiter for refid, nil if none.
func (c *conn) takeGrant(refid int64) chan grantResult {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	ch := c.grants[refid]
	delete(c.grants, refid)
	return ch
}

func (c *conn) forgetGrant(msgid int64) { c.takeGrant(msgid) }

// failGrant fails the waiter a report_problem refers to; false when the
// problem is about something else (docs/protocol.md#report-problem).
func (c *conn) failGrant(m *Message, reason string) bool {
	ch := c.takeGrant(m.RefID)
	if ch == nil {
		return false
	}
	ch <- grantResult{err: fmt.Errorf("%w: %s msgid %d: %s", ErrUploadProblem, m.OrigCmd, m.RefID, reason)}
	return true
}

// directUploadURL answers a direct_upload_url with done (OK when its main
// entry is usable, MISSED_PARAM otherwise, as the reference SDK does;
// docs/protocol.md#direct-upload) and then hands it to the waiting
// RequestUpload. One nobody waits for (it came after the timeout, or was
// never asked for) is answered ERROR.
func (c *conn) directUploadURL(m *Message) {
	env := replyTo(m)
	env.Cmd = CmdDone
	done := func(status string) {
		env.Status = status
		if _, err := c.send(env, nil); err != nil {
			c.log.Warn("reply failed", zap.String("cmd", m.Cmd), zap.Error(err))
		}
	}
	if m.HasCamID && m.CamID != c.camID {
		c.log.Info("direct_upload_url for a foreign cam_id", zap.Int64("cam_id", m.CamID), zap.Int64("refid", m.RefID))
		done(StatusError)
		return
	}
	ch := c.takeGrant(m.RefID)
	if ch == nil {
		c.log.Info("direct_upload_url answers nothing pending", zap.Int64("refid", m.RefID), zap.String("orig_cmd", m.OrigCmd))
		done(StatusError)
		return
	}
	a := decodeDirectUploadURL(m)
	if a.mainOK {
		done(StatusOK)
	} else {
		done(StatusMissedParam)
	}
	var r grantResult
	if len(a.refusal) > 0 {
		c.log.Info("upload entries refused", zap.Int64("refid", m.RefID), zap.String("orig_cmd", m.OrigCmd),
			zap.Strings("why", a.refusal), zap.Int("usable", len(a.grant.Targets)))
	}
	if len(a.grant.Targets) == 0 {
		r.err = fmt.Errorf("%w: %s msgid %d: %s", ErrUploadRefused, m.OrigCmd, m.RefID, strings.Join(a.refusal, "; "))
	} else {
		r.grant = a.grant
	}
	ch <- r
}
