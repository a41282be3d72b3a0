package camera

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/onvif"
	"github.com/camagent/camagent/uplink"
)

// eventDecl is one event kind the agent declares in cam_events_conf.
type eventDecl struct {
	name string
	kind onvif.Kind // the camera's kind behind it
	caps uplink.EventCaps
}

// eventCatalog lists every event kind the agent can declare, with the
// most it can do; a camera's caps may be less (no snapshot URI, no
// pre-event memory: eventCaps). A camera declares motion, the periodic
// snapshot, each other kind whose topic it lists in GetEventProperties
// (sound, tampering, alarm inputs) and the custom kinds of its config, so
// the cloud offers only what the camera can produce. Motion can be
// triggered with cam_trigger_event so an installer can test the cloud's
// motion handling without walking in front of the camera.
var eventCatalog = []eventDecl{
	{name: uplink.EventMotion, kind: onvif.KindMotion, caps: uplink.EventCaps{Stream: true, Snapshot: true, Trigger: true}},
	{name: uplink.EventSnapshot, caps: uplink.EventCaps{Snapshot: true, Periodic: true}},
	{name: uplink.EventSound, kind: onvif.KindSound, caps: uplink.EventCaps{Stream: true, Snapshot: true}},
	// Custom names (docs/protocol.md#cam-event): VXG has none for these.
	{name: "tampering", kind: onvif.KindTamper, caps: uplink.EventCaps{Stream: true, Snapshot: true}},
	{name: "alarm", kind: onvif.KindDigitalInput, caps: uplink.EventCaps{Stream: true, Snapshot: true}},
}

// customCaps are the caps of a kind from cameras[].events.custom: raised
// by other programs through the local event input or by the cloud.
var customCaps = uplink.EventCaps{Stream: true, Snapshot: true, Trigger: true}

// catalogDecl finds an event of the catalog, or a custom one of the
// config, by name.
func catalogDecl(name string, custom []string) (eventDecl, bool) {
	for _, d := range eventCatalog {
		if d.name == name {
			return d, true
		}
	}
	if slices.Contains(custom, name) {
		return eventDecl{name: name, caps: customCaps}, true
	}
	if name == uplink.EventMemorycard {
		return memorycardDecl, true
	}
	return eventDecl{}, false
}

// decls are the events this camera declares: motion, the periodic
// snapshot and the custom kinds until its topics are known.
func (w *Camera) decls() []eventDecl {
	out := w.withCustom(eventCatalog[:2])
	if d := w.ev.decls.Load(); d != nil {
		out = *d
	}
	if w.rec != nil {
		out = append(out[:len(out):len(out)], memorycardDecl)
	}
	return out
}

// memorycardDecl is declared by a camera with a memory card
// (docs/protocol.md#memory-card): a state report, nothing to trigger.
var memorycardDecl = eventDecl{name: uplink.EventMemorycard}

// withCustom appends the camera's custom kinds to decls.
func (w *Camera) withCustom(decls []eventDecl) []eventDecl {
	out := slices.Clone(decls)
	for _, name := range w.opts.Camera.Events.Custom {
		out = append(out, eventDecl{name: name, caps: customCaps})
	}
	return out
}

// eventCaps are what d can do on this camera now: a snapshot needs a
// snapshot URI that works. Video is always possible: from the pre-event
// buffer, or live in stream mode without one.
func (w *Camera) eventCaps(d eventDecl) uplink.EventCaps {
	c := d.caps
	c.Snapshot = c.Snapshot && w.CanSnapshot()
	return c
}

func (w *Camera) declaration(name string) (eventDecl, bool) {
	for _, d := range w.decls() {
		if d.name == name {
			return d, true
		}
	}
	return eventDecl{}, false
}

func (w *Camera) eventName(k onvif.Kind) (string, bool) {
	for _, d := range w.decls() {
		if d.kind == k {
			return d.name, true
		}
	}
	return "", false
}

// learnEventKinds reads the camera's event topics and declares motion plus
// every other catalog kind the camera can send. A camera that does not
// list its topics keeps motion only.
func (w *Camera) learnEventKinds(ctx context.Context, cl *onvif.Client) {
	topics, err := cl.EventTopics(ctx)
	if err != nil {
		w.log.Info("camera does not list its event topics, declaring motion only", zap.Error(err))
		return
	}
	have := map[onvif.Kind]bool{onvif.KindMotion: true, "": true}
	for _, t := range topics {
		if t.Kind != "" {
			have[t.Kind] = true
		}
	}
	var decls []eventDecl
	var names []string
	for _, d := range eventCatalog {
		if have[d.kind] {
			decls = append(decls, d)
			names = append(names, d.name)
		}
	}
	decls = w.withCustom(decls)
	w.ev.decls.Store(&decls)
	w.log.Info("event kinds", zap.Strings("declared", names), zap.Int("camera_topics", len(topics)))
}

// eventSetting is what the cloud chose for one event (docs/protocol.md#set-cam-events), already
// limited by the event's caps.
type eventSetting struct {
	Active   bool `json:"active"`
	Stream   bool `json:"stream"`
	Snapshot bool `json:"snapshot"`
	Period   int  `json:"period,omitempty"`
}

// eventSettings are the persisted event settings (docs/protocol.md#state).
type eventSettings struct {
	Enabled bool                    `json:"enabled"`
	Events  map[string]eventSetting `json:"events"`
	// StreamByEvent is what set_stream_by_event chose.
	StreamByEvent streamByEvent `json:"stream_by_event"`
	// RecordByEvent are the streams with record_by_event on. They stay on
	// across reconnects and restarts, unlike the publishes (which the
	// cloud starts again after each connect), so that an event during an
	// outage still gets its clip.
	RecordByEvent []string `json:"record_by_event,omitempty"`
}

// streamByEvent is the event video setting (docs/protocol.md#stream-by-event);
// "" StreamID means the camera's first stream.
type streamByEvent struct {
	StreamID  string `json:"stream_id,omitempty"`
	PreEvent  int64  `json:"pre_event"`  // ms
	PostEvent int64  `json:"post_event"` // ms
}

// Limits of event video (docs/protocol.md#stream-by-event). 30 s before
// an event is 15 MB of RAM at 4 Mbit/s, a sixth of the default memory for
// all cameras; a minute after the end covers a person walking through.
const (
	preEventMax  = 30_000
	postEventMax = 60_000
)

// defaultStreamByEvent is the spec's example: ten seconds either side.
var defaultStreamByEvent = streamByEvent{PreEvent: 10_000, PostEvent: 10_000}

// defaultEventSettings report motion and the custom kinds until the cloud
// says otherwise: a camera added to the cloud should show motion without
// further setup. Other kinds stay off (absent) until the cloud switches
// them on: sound and tampering from every camera by default would be noise.
func defaultEventSettings(custom []string) eventSettings {
	s := eventSettings{Enabled: true, Events: map[string]eventSetting{uplink.EventMotion: {Active: true}}, StreamByEvent: defaultStreamByEvent}
	for _, name := range custom {
		s.Events[name] = eventSetting{Active: true}
	}
	return s
}

// eventsState is a camera's event plumbing; the settings themselves are
// the owner's (state.events) and published in Status.
type eventsState struct {
	path string // settings file, "" = not persisted

	// decls are the events this camera declares (nil: not learnt yet);
	// resolve sets them once.
	decls atomic.Pointer[[]eventDecl]

	in chan eventInput // subscription and triggers → pipeline
	tz chan string     // latest time zone for the camera (1 slot)

	// lastTime is the latest event time raised: each is unique per camera
	// (it names the snapshot). The pipeline's goroutine only.
	lastTime time.Time

	dropped atomic.Int64 // events not sent (full queue, disabled, inactive)
	ended   atomic.Int64 // activities ended (by the camera or by hold)
}

// eventInput is one item for the pipeline: a classified camera report or
// a triggered event to send as is.
type eventInput struct {
	kind   onvif.Kind
	active bool
	at     time.Time
	// initial marks the state a new subscription starts with, which says
	// nothing about whether the camera reports ends.
	initial bool
	trigger *uplink.CamEvent
}

// eventQueue bounds the reports waiting for the pipeline; a camera
// flooding events loses the excess, counted.
const eventQueue = 64

// newEventsState sets up the event plumbing and returns it with the
// persisted settings (the defaults when there are none).
func (w *Camera) newEventsState() (*eventsState, eventSettings) {
	e := &eventsState{in: make(chan eventInput, eventQueue), tz: make(chan string, 1)}
	custom := w.opts.Camera.Events.Custom
	settings := defaultEventSettings(custom)
	if w.opts.StatePath == "" {
		return e, settings
	}
	e.path = eventsPath(w.opts.StatePath)
	s, err := loadEventSettings(e.path, custom)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		w.log.Warn("event settings unreadable, using defaults", zap.String("path", e.path), zap.Error(err))
	default:
		settings = s
	}
	return e, settings
}

// eventsPath names the settings file beside the session state:
// cam.state.json → cam.events.json.
func eventsPath(statePath string) string {
	base := strings.TrimSuffix(statePath, ".json")
	base = strings.TrimSuffix(base, ".state")
	return base + ".events.json"
}

func loadEventSettings(path string, custom []string) (eventSettings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return eventSettings{}, err
	}
	return decodeEventSettings(b, custom)
}

// decodeEventSettings reads a settings file over the defaults: events the
// agent no longer declares are dropped, caps and limits apply again, so a
// file from an older version (or edited by hand) cannot switch on what
// this one cannot do.
func decodeEventSettings(b []byte, custom []string) (eventSettings, error) {
	s := defaultEventSettings(custom)
	// A file from before event video has no stream_by_event: the defaults stay.
	var saved struct {
		eventSettings
		StreamByEvent *streamByEvent `json:"stream_by_event"`
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		return eventSettings{}, fmt.Errorf("decode event settings: %w", err)
	}
	s.Enabled = saved.Enabled
	for name, es := range saved.Events {
		if d, ok := catalogDecl(name, custom); ok {
			s.Events[name] = limitToCaps(es, d.caps)
		}
	}
	// pre_event may be up to the memory card's cap: the cloud set it while
	// the card recorded the stream; without, the buffer keeps what it can.
	if sb := saved.StreamByEvent; sb != nil && sb.PreEvent >= 0 && sb.PreEvent <= preEventMaxRecorded && sb.PostEvent >= 0 && sb.PostEvent <= postEventMax {
		s.StreamByEvent = *sb
	}
	for _, id := range saved.RecordByEvent {
		if id != "" && !slices.Contains(s.RecordByEvent, id) {
			s.RecordByEvent = append(s.RecordByEvent, id)
		}
	}
	return s, nil
}

// saveEventSettings writes s atomically with mode 0600, like the session
// state beside it.
func saveEventSettings(path string, s eventSettings) error {
	return saveJSON(path, "event settings", s)
}

// saveJSON writes v (what, for errors) atomically with mode 0600.
func saveJSON(path, what string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save %s: %w", what, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save %s: %w", what, err)
	}
	return nil
}

func limitToCaps(s eventSetting, c uplink.EventCaps) eventSetting {
	s.Stream = s.Stream && c.Stream
	s.Snapshot = s.Snapshot && c.Snapshot
	if !c.Periodic {
		s.Period = 0
	}
	return s
}

// handleEvents serves the event and detector commands (docs/protocol.md#detection, #events).
func (w *Camera) handleEvents(ctx context.Context, req uplink.Request) uplink.Reply {
	switch r := req.(type) {
	case *uplink.GetCamEvents:
		return w.camEventsConf(ctx)
	case *uplink.SetCamEvents:
		return w.setCamEvents(ctx, r)
	case *uplink.CamTriggerEvent:
		return w.triggerEvent(r)
	case *uplink.GetMotionDetection:
		return w.motionDetection(ctx)
	case *uplink.SetMotionDetection:
		return w.setMotionDetection(ctx, r)
	}
	// get/set_audio_detection: onvif reads no audio detector settings;
	// cameras that have one keep it in vendor APIs.
	return uplink.Done(uplink.StatusNotSupported)
}

// camEventsConf declares the events and marks the current connection as the
// one events may go to.
func (w *Camera) camEventsConf(ctx context.Context) uplink.Reply {
	s := w.Status().events
	out := uplink.CamEventsConf{Enabled: s.Enabled}
	for _, d := range w.decls() {
		caps := w.eventCaps(d)
		es := limitToCaps(s.Events[d.name], caps)
		if caps.Periodic && es.Period == 0 {
			es.Period = int(defaultSnapshotPeriod / time.Second) // a periodic kind always has one
		}
		out.Events = append(out.Events, uplink.EventConf{
			Event: d.name, Active: es.Active, Stream: es.Stream, Snapshot: es.Snapshot, Period: es.Period, Caps: caps,
		})
	}
	// Events may go out once the declaration is on the wire, not before
	// (docs/protocol.md#get-cam-events): queued ones are sent then.
	return uplink.Answer(out).Then(func() {
		w.sendMemorycard(ctx, true)
		reply := make(chan struct{})
		if _, err := ask(ctx, w, declare{reply: reply}, reply); err == nil {
			w.wakeUploads()
		}
	})
}

func (w *Camera) setCamEvents(ctx context.Context, req *uplink.SetCamEvents) uplink.Reply {
	s := w.Status().events
	s.Events = maps.Clone(s.Events)
	if s.Events == nil {
		s.Events = map[string]eventSetting{}
	}
	if req.Enabled != nil {
		s.Enabled = *req.Enabled
	}
	for _, es := range req.Events {
		d, ok := w.declaration(es.Event)
		if !ok {
			continue // unknown names are ignored (docs/protocol.md#set-cam-events)
		}
		cur := s.Events[d.name]
		if es.Active != nil {
			cur.Active = *es.Active
		}
		if es.Stream != nil {
			cur.Stream = *es.Stream
		}
		if es.Snapshot != nil {
			cur.Snapshot = *es.Snapshot
		}
		if es.Period != nil {
			cur.Period = *es.Period
		}
		s.Events[d.name] = limitToCaps(cur, w.eventCaps(d))
	}
	if err := w.storeEventSettings(ctx, s); err != nil {
		return uplink.Done(uplink.StatusError, err)
	}
	w.log.Info("event settings changed", zap.Bool("enabled", s.Enabled), zap.Any("events", s.Events))
	return uplink.Done(uplink.StatusOK)
}

// storeEventSettings makes s the camera's event settings and saves them.
// Only Handle, which is sequential, changes the settings, so a caller that
// read them, changed them and stores them cannot lose another change.
func (w *Camera) storeEventSettings(ctx context.Context, s eventSettings) error {
	reply := make(chan struct{})
	if _, err := ask(ctx, w, setEventSettings{settings: s, reply: reply}, reply); err != nil {
		return err
	}
	if path := w.ev.path; path != "" {
		if err := saveEventSettings(path, s); err != nil {
			w.fail("event settings not saved: the agent forgets them on restart (check that state_dir is writable)", err)
		}
	}
	return nil
}

// sendable says why an event may not go to the cloud now, or "" when it may.
func (w *Camera) sendable(name string) string {
	st := w.Status()
	switch {
	case !st.Activity:
		return "passive mode"
	case !st.events.Enabled:
		return "events disabled"
	case !st.events.Events[name].Active:
		return "event inactive"
	case !st.ready || st.declared != st.conn:
		return "not declared on this connection"
	}
	return ""
}

func (w *Camera) triggerEvent(req *uplink.CamTriggerEvent) uplink.Reply {
	at := time.Now()
	if req.Time != nil {
		at = req.Time.Time
	}
	// The pipeline raises it, so the done goes out first as docs/protocol.md#cam-trigger-event reads.
	switch err := w.RaiseEvent(req.Event, at, req.Meta); {
	case errors.Is(err, ErrEventQueueFull):
		return uplink.Done(uplink.StatusRetry, err)
	case err != nil:
		return uplink.Done(uplink.StatusInvalidParam, err)
	}
	return uplink.Done(uplink.StatusOK)
}

// Why RaiseEvent refused an event.
var (
	ErrUnknownEvent   = errors.New("no such event kind can be raised on this camera")
	ErrEventInactive  = errors.New("event is not active (the cloud switched it off)")
	ErrEventQueueFull = errors.New("event queue full")
)

// RaiseEvent raises event name at the given time with meta, as the cloud's
// cam_trigger_event and the local event input do: for a kind that can be
// triggered (motion and the config's custom kinds) while it is active. The
// event follows its settings for snapshot and video; it is queued, and this
// returns at once.
func (w *Camera) RaiseEvent(name string, at time.Time, meta map[string]any) error {
	d, ok := w.declaration(name)
	if !ok || !d.caps.Trigger {
		return fmt.Errorf("%w: %q", ErrUnknownEvent, name)
	}
	if s := w.Status().events; !s.Enabled || !s.Events[d.name].Active {
		return fmt.Errorf("%w: %q", ErrEventInactive, name)
	}
	ev := newCamEvent(d.name, at)
	ev.Meta = meta
	select {
	case w.ev.in <- eventInput{trigger: &ev}:
		return nil
	default:
		w.ev.dropped.Add(1)
		return ErrEventQueueFull
	}
}

// newCamEvent builds a cam_event with the payload its kind requires.
func newCamEvent(name string, at time.Time) uplink.CamEvent {
	ev := uplink.CamEvent{Event: name, Time: uplink.EpochTime{Time: at}, Status: uplink.EventStatusOK}
	if name == uplink.EventMotion {
		ev.MotionInfo = &uplink.MotionInfo{}
	}
	return ev
}
