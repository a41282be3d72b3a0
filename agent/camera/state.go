package camera

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/uplink"
)

// state is what the camera knows and decides. Only the goroutine running
// Run reads or writes it; everyone else sees the Status it publishes.
type state struct {
	onvif    ONVIFState
	onvifErr error // why ONVIF failed, typed, for readiness

	// streams follow the identity's pipes, in order; nil before resolve.
	streams []*streamState

	ready bool // the cloud session is READY
	link  uplink.Link
	conn  int64 // READY connections so far: the current one's number
	// settled is set by a connection end retrying will not fix (bye
	// AUTH_FAILURE, …) until the next READY: nothing is kept warm and the
	// camera's event subscription is given back meanwhile.
	settled bool
	// events subscription: subscribed while one runs, stopSub ends it
	// (nil once asked to), noEvents when the camera has no events service.
	subscribed bool
	stopSub    context.CancelFunc
	noEvents   bool
	activity   bool
	// requested is what the cloud asked to publish on this connection,
	// stream id → reason → publish_session_id, kept in passive mode too so
	// leaving it resumes the streams (docs/protocol.md#passive-mode).
	requested map[string]map[uplink.StreamReason]int64

	problems  []Problem
	lastEvent *EventStatus

	// events are the event settings the cloud made (persisted);
	// declared is the connection (conn) on which cam_events_conf was
	// last answered: events go out only there (docs/protocol.md#events:
	// event sources start after the reply; the cloud asks again after
	// every connect).
	events   eventSettings
	declared int64

	// recording is the memory card's on/off (persisted), for recState.
	recording recSetting
}

func newState(cam config.Camera) state {
	st := state{onvif: ONVIFNotConfigured, activity: true}
	if cam.ONVIF.URL != "" {
		st.onvif = ONVIFConnecting
	}
	return st
}

// message is what the camera's goroutines send its owner (Run).
type message interface{ isMessage() }

type (
	// childDone: a goroutine started by run.spawn ended.
	childDone struct{}
	// resolved: the camera was learnt; id is never changed again.
	resolved struct{ id *identity }
	// resolveFailed: learning the camera failed; Run returns err.
	resolveFailed struct{ err error }
	// resolveAway: learning the camera failed with err because it is
	// off; it is learnt again as soon as its ONVIF port answers.
	resolveAway struct{ err error }
	// onvifLearned: ONVIF answers again for a camera resolved without it;
	// id holds what it told.
	onvifLearned struct{ id *identity }
	// onvifRetry: ONVIF still fails for a camera resolved without it.
	onvifRetry struct{ err error }
	// problem: something went wrong, in plain words, for the status page.
	problem struct {
		p     Problem
		reply chan struct{}
	}
	// pullFailed: one RTSP session of stream i ended with err.
	pullFailed struct {
		i   int
		err error
		at  time.Time
	}
	// pullEnded: the pull goroutine of stream i returned.
	pullEnded struct{ i int }
	// subscriptionEnded: the event subscription returned; unsupported
	// when the camera has no events service.
	subscriptionEnded struct{ unsupported bool }
	// acquire: a reader of stream id starts; the owner makes sure it is pulled.
	acquire struct {
		id    string
		reply chan bool // false: no such stream
	}
	// release: a reader of stream i left.
	release struct{ i int }
	// linkUp: the cloud session is READY with link.
	linkUp struct {
		link  uplink.Link
		reply chan struct{}
	}
	// linkDown: the READY connection is gone.
	linkDown struct{ reply chan struct{} }
	// connEnded: a connection attempt or connection ended as end says.
	connEnded struct{ end uplink.End }
	// sessionEnded: the session's Run returned err.
	sessionEnded struct{ err error }
	// setActivity: set_cam_parameter changed the activity; the reply says
	// what it was and what to resume.
	setActivity struct {
		on    bool
		reply chan activityChange
	}
	// setRequested records (on) or forgets a stream_start reason.
	setRequested struct {
		stream string
		reason uplink.StreamReason
		psid   int64
		on     bool
		reply  chan struct{}
	}
	// eventHandled: the event pipeline sent or dropped an event.
	eventHandled struct{ ev EventStatus }
	// declare: cam_events_conf is answered on the current connection.
	declare struct{ reply chan struct{} }
	// setRecording: cam_memorycard_recording switched recording.
	setRecording struct {
		setting recSetting
		reply   chan struct{}
	}
	// setEventSettings: set_cam_events changed the event settings.
	setEventSettings struct {
		settings eventSettings
		reply    chan struct{}
	}
)

func (childDone) isMessage()         {}
func (resolved) isMessage()          {}
func (resolveFailed) isMessage()     {}
func (resolveAway) isMessage()       {}
func (onvifLearned) isMessage()      {}
func (onvifRetry) isMessage()        {}
func (problem) isMessage()           {}
func (pullFailed) isMessage()        {}
func (subscriptionEnded) isMessage() {}
func (pullEnded) isMessage()         {}
func (acquire) isMessage()           {}
func (release) isMessage()           {}
func (linkUp) isMessage()            {}
func (linkDown) isMessage()          {}
func (connEnded) isMessage()         {}
func (sessionEnded) isMessage()      {}
func (setActivity) isMessage()       {}
func (setRequested) isMessage()      {}
func (eventHandled) isMessage()      {}
func (declare) isMessage()           {}
func (setEventSettings) isMessage()  {}
func (setRecording) isMessage()      {}

// activityChange is the answer to setActivity.
type activityChange struct {
	was    bool
	link   uplink.Link
	resume []requestedStream // what to publish again on leaving passive mode
}

// requestedStream is one stream_start the cloud made on this connection.
type requestedStream struct {
	stream string
	reason uplink.StreamReason
	psid   int64
}

// onvifFallbackProblem says that a camera is served without ONVIF, and
// which half works.
func onvifFallbackProblem(err error) Problem {
	p := problemOf("ONVIF fails; live video goes on from the configured RTSP URL, camera settings and ONVIF events wait until ONVIF answers", err)
	p.At = time.Now()
	return p
}

// handle applies one message; it runs on the owner goroutine only. The
// answer to a request goes out after the new Status is published (so
// the asker sees its change there): handle returns it as ack.
func (w *Camera) handle(ctx context.Context, r *run, m message) (ack func()) {
	st := &w.st
	defer w.reconcile(ctx, r)
	switch m := m.(type) {
	case childDone:
		r.children--
	case resolved:
		w.id.Store(m.id)
		switch {
		case m.id.onvif != nil:
			st.onvif, st.onvifErr = ONVIFConnected, nil
		case m.id.onvifErr != nil:
			st.onvif, st.onvifErr = ONVIFFailed, m.id.onvifErr
			st.record(onvifFallbackProblem(m.id.onvifErr))
		}
		st.streams = make([]*streamState, len(m.id.pipes))
		for i, p := range m.id.pipes {
			st.streams[i] = &streamState{pipe: p, warm: w.warm(i)}
		}
		if !r.stopping {
			w.start(ctx, r)
			if m.id.onvifErr != nil {
				r.spawn(ctx, w, w.relearnONVIF)
			}
		}
	case onvifLearned:
		id := w.ident().withONVIF(m.id)
		for i, p := range id.pipes {
			st.streams[i].pipe = p
		}
		w.id.Store(id)
		st.onvif, st.onvifErr = ONVIFConnected, nil
	case onvifRetry:
		st.onvifErr = m.err
		st.record(onvifFallbackProblem(m.err))
	case resolveAway:
		st.onvif, st.onvifErr = ONVIFFailed, m.err
		st.record(Problem{What: Plain(m.err), Detail: m.err.Error(), At: time.Now()})
	case resolveFailed:
		if st.onvif != ONVIFNotConfigured {
			st.onvif, st.onvifErr = ONVIFFailed, m.err
		}
		r.err = m.err
		if !r.stopping {
			w.stop(r)
		}
	case problem:
		st.record(m.p)
		return func() { close(m.reply) }
	case pullFailed:
		st.streams[m.i].err, st.streams[m.i].errAt = m.err, m.at
	case pullEnded:
		st.streams[m.i].pulling, st.streams[m.i].stopPull = false, nil
	case subscriptionEnded:
		st.subscribed, st.stopSub = false, nil
		st.noEvents = st.noEvents || m.unsupported
	case acquire:
		i := slices.IndexFunc(st.streams, func(s *streamState) bool { return s.pipe.id == m.id })
		if i >= 0 {
			st.streams[i].readers++
		}
		ok := i >= 0
		return func() { m.reply <- ok }
	case release:
		s := st.streams[m.i]
		s.readers--
		if s.readers == 0 {
			s.idleSince = time.Now()
		}
	case linkUp:
		st.ready, st.settled, st.link, st.activity = true, false, m.link, m.link.Activity
		st.conn++
		w.log.Info("camera registered in cloud", zap.Int64("cam_id", m.link.CamID))
		return func() { close(m.reply) }
	case linkDown:
		st.ready, st.requested = false, nil
		return func() { close(m.reply) }
	case connEnded:
		st.settled = m.end.Settled()
		if words, bad := CloudEnd(m.end); bad {
			st.record(Problem{What: words, Detail: m.end.String(), At: time.Now()})
		}
	case sessionEnded:
		// No upload starts once the session is gone; the running ones
		// end with the run.
		r.spawn(ctx, w, func(context.Context) { w.maint.wg.Wait() })
		if m.err != nil {
			// After bye DELETED the connection's end said it.
			r.err = m.err
			if !errors.Is(m.err, ErrDeleted) {
				p := problemOf("cloud session ended", m.err)
				p.At = time.Now()
				st.record(p)
			}
		}
		if !r.stopping {
			w.stop(r)
		}
	case setActivity:
		was := st.activity
		st.activity = m.on
		ch := activityChange{was: was, link: st.link}
		if m.on && !was {
			for id, rs := range st.requested {
				for reason, psid := range rs {
					ch.resume = append(ch.resume, requestedStream{id, reason, psid})
				}
			}
		}
		return func() { m.reply <- ch }
	case setRequested:
		if !m.on {
			delete(st.requested[m.stream], m.reason)
		} else {
			if st.requested == nil {
				st.requested = map[string]map[uplink.StreamReason]int64{}
			}
			if st.requested[m.stream] == nil {
				st.requested[m.stream] = map[uplink.StreamReason]int64{}
			}
			st.requested[m.stream][m.reason] = m.psid
		}
		return func() { close(m.reply) }
	case eventHandled:
		// Queued events are delivered later, an older one after a newer
		// one was raised: the page shows the newest.
		if ev := m.ev; st.lastEvent == nil || !ev.At.Before(st.lastEvent.At) {
			st.lastEvent = &ev
		}
	case declare:
		st.declared = st.conn
		return func() { close(m.reply) }
	case setEventSettings:
		st.events = m.settings
		return func() { close(m.reply) }
	case setRecording:
		st.recording = m.setting
		return func() { close(m.reply) }
	}
	return nil
}

// maxProblems is how many different recent problems a camera keeps.
const maxProblems = 5

// record adds p (At set) as the latest problem; one already listed with
// the same words moves to the front and counts up, keeping its first time,
// so a failure that repeats on every retry is one problem however other
// problems interleave with it.
func (st *state) record(p Problem) {
	p.First, p.Count = p.At, 1
	if i := slices.IndexFunc(st.problems, func(q Problem) bool { return q.What == p.What }); i >= 0 {
		p.First, p.Count = st.problems[i].First, st.problems[i].Count+1
		st.problems = slices.Delete(slices.Clone(st.problems), i, i+1)
	}
	// A new slice: published Statuses share the old one.
	st.problems = append([]Problem{p}, st.problems...)
	if len(st.problems) > maxProblems {
		st.problems = st.problems[:maxProblems]
	}
}

// start begins what runs once the camera is known: the cloud session, the
// clock checks, the event pipeline and the pulls kept warm.
func (w *Camera) start(ctx context.Context, r *run) {
	// The publishes. Its only error, a second Run, cannot happen: the
	// last run joined it.
	r.spawn(ctx, w, func(ctx context.Context) { _ = w.pubs.Run(ctx) })
	r.spawn(ctx, w, func(ctx context.Context) { w.send(sessionEnded{err: w.session.Run(ctx)}) })
	r.spawn(ctx, w, w.runEvents)
	r.spawn(ctx, w, w.runClips)
	r.spawn(ctx, w, w.runEventPublish)
	if q := w.uploads.Load(); q != nil {
		r.spawn(ctx, w, func(ctx context.Context) { _ = q.Run(ctx, w.deliver) })
	}
	r.spawn(ctx, w, w.runClock)
	if w.rec != nil {
		r.spawn(ctx, w, w.runRecording)
		r.spawn(ctx, w, w.runSync)
		r.spawn(ctx, w, w.runDirect)
	}
	w.reconcile(ctx, r)
}
