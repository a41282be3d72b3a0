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

// eventCatalog lists every event kind the agent can declare. A camera
// declares motion, plus each other kind whose topic it lists in
// GetEventProperties (sound, tampering, alarm inputs), so the cloud offers
// only what the camera can produce. Snapshots and event video come with
// event recording, so their caps are false until then. Motion can be
// triggered with cam_trigger_event so an installer can test the cloud's
// motion handling without walking in front of the camera.
var eventCatalog = []eventDecl{
	{name: uplink.EventMotion, kind: onvif.KindMotion, caps: uplink.EventCaps{Trigger: true}},
	{name: uplink.EventSound, kind: onvif.KindSound},
	// Custom names (docs/protocol.md#cam-event): VXG has none for these.
	{name: "tampering", kind: onvif.KindTamper},
	{name: "alarm", kind: onvif.KindDigitalInput},
}

// catalogDecl finds an event of the catalog by name.
func catalogDecl(name string) (eventDecl, bool) {
	for _, d := range eventCatalog {
		if d.name == name {
			return d, true
		}
	}
	return eventDecl{}, false
}

// decls are the events this camera declares; motion until its topics are known.
func (w *Camera) decls() []eventDecl {
	if d := w.ev.decls.Load(); d != nil {
		return *d
	}
	return eventCatalog[:1]
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
	have := map[onvif.Kind]bool{onvif.KindMotion: true}
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
}

// defaultEventSettings report motion until the cloud says otherwise: a
// camera added to the cloud should show motion without further setup.
// Other kinds stay off (absent) until the cloud switches them on: sound
// and tampering from every camera by default would be noise.
func defaultEventSettings() eventSettings {
	return eventSettings{Enabled: true, Events: map[string]eventSetting{uplink.EventMotion: {Active: true}}}
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

	dropped atomic.Int64 // events not sent (full queue, not ready, disabled)
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
	settings := defaultEventSettings()
	if w.opts.StatePath == "" {
		return e, settings
	}
	e.path = eventsPath(w.opts.StatePath)
	s, err := loadEventSettings(e.path)
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

func loadEventSettings(path string) (eventSettings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return eventSettings{}, err
	}
	return decodeEventSettings(b)
}

// decodeEventSettings reads a settings file over the defaults: events the
// agent no longer declares are dropped and caps apply again, so a file
// from an older version cannot switch on what this one cannot do.
func decodeEventSettings(b []byte) (eventSettings, error) {
	s := defaultEventSettings()
	var saved eventSettings
	if err := json.Unmarshal(b, &saved); err != nil {
		return eventSettings{}, fmt.Errorf("decode event settings: %w", err)
	}
	s.Enabled = saved.Enabled
	for name, es := range saved.Events {
		if d, ok := catalogDecl(name); ok {
			s.Events[name] = limitToCaps(es, d.caps)
		}
	}
	return s, nil
}

// saveEventSettings writes s atomically with mode 0600, like the session
// state beside it.
func saveEventSettings(path string, s eventSettings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode event settings: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save event settings: %w", err)
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
		return fmt.Errorf("save event settings: %w", err)
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
	reply := make(chan struct{})
	if _, err := ask(ctx, w, declare{reply: reply}, reply); err != nil {
		return uplink.Done(uplink.StatusError, err)
	}
	s := w.Status().events
	out := uplink.CamEventsConf{Enabled: s.Enabled}
	for _, d := range w.decls() {
		es := s.Events[d.name]
		out.Events = append(out.Events, uplink.EventConf{
			Event: d.name, Active: es.Active, Stream: es.Stream, Snapshot: es.Snapshot, Period: es.Period, Caps: d.caps,
		})
	}
	return uplink.Answer(out)
}

func (w *Camera) setCamEvents(ctx context.Context, req *uplink.SetCamEvents) uplink.Reply {
	// Only Handle, which is sequential, changes the settings: reading them
	// here and storing them below cannot lose another change.
	cur := w.Status().events
	s := eventSettings{Enabled: cur.Enabled, Events: maps.Clone(cur.Events)}
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
		s.Events[d.name] = limitToCaps(cur, d.caps)
	}
	reply := make(chan struct{})
	if _, err := ask(ctx, w, setEventSettings{settings: s, reply: reply}, reply); err != nil {
		return uplink.Done(uplink.StatusError, err)
	}
	w.log.Info("event settings changed", zap.Bool("enabled", s.Enabled), zap.Any("events", s.Events))
	if path := w.ev.path; path != "" {
		if err := saveEventSettings(path, s); err != nil {
			w.fail("event settings not saved: the agent forgets them on restart (check that state_dir is writable)", err)
		}
	}
	return uplink.Done(uplink.StatusOK)
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
	d, ok := w.declaration(req.Event)
	if !ok || !d.caps.Trigger {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("event %q cannot be triggered", req.Event))
	}
	if !w.Status().events.Events[d.name].Active {
		return uplink.Done(uplink.StatusInvalidParam, fmt.Errorf("event %q is not active", req.Event))
	}
	at := time.Now()
	if req.Time != nil {
		at = req.Time.Time
	}
	ev := newCamEvent(d.name, at)
	ev.Meta = req.Meta
	// The pipeline sends it, so the done goes out first as docs/protocol.md#cam-trigger-event reads.
	select {
	case w.ev.in <- eventInput{trigger: &ev}:
	default:
		w.ev.dropped.Add(1)
		return uplink.Done(uplink.StatusRetry, errors.New("event queue full"))
	}
	return uplink.Done(uplink.StatusOK)
}

// newCamEvent builds a cam_event with the payload its kind requires.
func newCamEvent(name string, at time.Time) uplink.CamEvent {
	ev := uplink.CamEvent{Event: name, Time: uplink.EpochTime{Time: at}, Status: uplink.EventStatusOK}
	if name == uplink.EventMotion {
		ev.MotionInfo = &uplink.MotionInfo{}
	}
	return ev
}
