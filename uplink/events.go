package uplink

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// EpochTime is a time sent as epoch-float (docs/protocol.md#conventions): seconds since 1970 UTC as a
// JSON number, with millisecond precision.
type EpochTime struct{ time.Time }

// MarshalJSON writes up to three fractional digits (1710408413.512) and
// at least one (1710408300.0): time is a float on the wire (docs/protocol.md#conventions).
func (t EpochTime) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	var b []byte
	if ms < 0 {
		b, ms = append(b, '-'), -ms
	}
	sec, frac := ms/1000, ms%1000
	b = strconv.AppendInt(b, sec, 10)
	if frac == 0 {
		return append(b, '.', '0'), nil
	}
	b = fmt.Appendf(b, ".%03d", frac)
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b, nil
}

// UnmarshalJSON accepts any JSON number (5, 5.0, 5.25e0), rounded to the
// millisecond; null leaves t unchanged.
func (t *EpochTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || len(b) == 0 || b[0] == '"' || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
		return &json.UnmarshalTypeError{Value: "non-number " + string(b[:min(len(b), 32)]), Type: reflect.TypeFor[EpochTime]()}
	}
	t.Time = time.UnixMilli(int64(math.Round(f * 1000))).UTC()
	return nil
}

// packedLayout is packed-time (docs/protocol.md#conventions) without its fraction.
const packedLayout = "20060102T150405"

// FormatPackedTime writes t as packed-time in UTC, always with exactly three
// fractional digits: 20240314T092653.512.
func FormatPackedTime(t time.Time) string {
	return t.UTC().Format(packedLayout + ".000")
}

// ParsePackedTime reads packed-time (UTC) with 0 to 9 fractional digits or
// no fraction at all (docs/protocol.md#conventions, #q4).
func ParsePackedTime(s string) (time.Time, error) {
	base, frac := s, ""
	for i := range len(s) {
		if s[i] == '.' {
			base, frac = s[:i], s[i+1:]
			if frac == "" || len(frac) > 9 {
				return time.Time{}, fmt.Errorf("packed time %q: want 1-9 fractional digits", s)
			}
			break
		}
	}
	if len(base) != len(packedLayout) {
		return time.Time{}, fmt.Errorf("packed time %q: want YYYYMMDDThhmmss[.fff]", s)
	}
	t, err := time.Parse(packedLayout, base)
	if err != nil {
		return time.Time{}, fmt.Errorf("packed time %q: %w", s, err)
	}
	ns := 0
	for i := range 9 {
		ns *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return time.Time{}, fmt.Errorf("packed time %q: bad fraction", s)
			}
			ns += int(c - '0')
		}
	}
	return t.Add(time.Duration(ns)), nil
}

// PackedTime is a time sent as a packed-time JSON string (docs/protocol.md#conventions).
type PackedTime struct{ time.Time }

// MarshalJSON writes the time with exactly three fractional digits.
func (t PackedTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(FormatPackedTime(t.Time))
}

// UnmarshalJSON accepts what ParsePackedTime does; null leaves t unchanged.
func (t *PackedTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[PackedTime]()}
	}
	v, err := ParsePackedTime(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: strconv.Quote(s[:min(len(s), 40)]), Type: reflect.TypeFor[PackedTime]()}
	}
	t.Time = v
	return nil
}

// Event names with a defined payload (docs/protocol.md#cam-event); any other string is a
// custom event.
const (
	EventMotion     = "motion"
	EventSound      = "sound"
	EventNet        = "net"
	EventRecord     = "record"
	EventMemorycard = "memorycard"
	EventWifi       = "wifi"
	EventSnapshot   = "snapshot"
)

// Event status values (docs/protocol.md#enums): cam_event.status.
const (
	EventStatusOK    = "OK"
	EventStatusError = "ERROR"
)

// EventCaps says what an event kind can do (docs/protocol.md#get-cam-events); always sent in full.
type EventCaps struct {
	Stream   bool `json:"stream"`
	Snapshot bool `json:"snapshot"`
	Periodic bool `json:"periodic"`
	Trigger  bool `json:"trigger"`
}

// EventConf is one events[] entry of cam_events_conf (docs/protocol.md#get-cam-events). Period (s)
// is sent only for periodic events (0 = absent).
type EventConf struct {
	Event    string    `json:"event"`
	Active   bool      `json:"active"`
	Stream   bool      `json:"stream"`
	Snapshot bool      `json:"snapshot"`
	Period   int       `json:"period,omitempty"`
	Caps     EventCaps `json:"caps"`
}

// CamEventsConf is the body of cam_events_conf (docs/protocol.md#get-cam-events): every event kind
// the agent will ever send, including memorycard and wifi.
type CamEventsConf struct {
	Enabled bool        `json:"enabled"`
	Events  []EventConf `json:"events"`
}

func (*CamEventsConf) required() []string { return []string{"enabled", "events"} }
func (c *CamEventsConf) validate() error {
	for _, e := range c.Events {
		if e.Event == "" {
			return missed("events[].event")
		}
		if e.Period < 0 {
			return invalid("events[].period", "%d is negative", e.Period)
		}
	}
	return nil
}

// MarshalJSON sends an empty list as [].
func (c CamEventsConf) MarshalJSON() ([]byte, error) {
	type plain CamEventsConf
	p := plain(c)
	p.Events = nonNil(p.Events)
	return json.Marshal(p)
}

// EventSetting is one events[] entry of set_cam_events (docs/protocol.md#set-cam-events); nil
// fields stay unchanged, caps are ignored.
type EventSetting struct {
	Event    string `json:"event"`
	Active   *bool  `json:"active,omitempty"`
	Stream   *bool  `json:"stream,omitempty"`
	Snapshot *bool  `json:"snapshot,omitempty"`
	Period   *int   `json:"period,omitempty"`
}

// SetCamEvents is the request set_cam_events (docs/protocol.md#set-cam-events). The handler ANDs
// stream/snapshot with each event's caps and ignores unknown names.
type SetCamEvents struct {
	Head
	Enabled *bool          `json:"enabled,omitempty"`
	Events  []EventSetting `json:"events,omitempty"`
}

func (*SetCamEvents) required() []string { return nil }
func (s *SetCamEvents) validate() error {
	for _, e := range s.Events {
		if e.Event == "" {
			return missed("events[].event")
		}
		if e.Period != nil && *e.Period <= 0 {
			return invalid("events[].period", "%d is not positive", *e.Period)
		}
	}
	return nil
}

// SnapshotInfo announces a snapshot upload (docs/protocol.md#cam-event). ImageTime must equal
// the event time and be unique per camera; all four fields are sent.
type SnapshotInfo struct {
	ImageTime PackedTime `json:"image_time"`
	Width     int        `json:"width"`
	Height    int        `json:"height"`
	Size      int64      `json:"size"`
}

// FileMetaInfo announces a metadata file upload of Size bytes (docs/protocol.md#cam-event).
type FileMetaInfo struct {
	Size int64 `json:"size"`
}

// MotionInfo is the payload of a motion event; both fields are optional,
// Map is a docs/protocol.md#motion-detection grid of the cells with motion.
type MotionInfo struct {
	Map     string   `json:"map,omitempty"`
	Regions []string `json:"regions,omitempty"`
}

// SoundInfo is the (legacy, optional) payload of a sound event.
type SoundInfo struct {
	On bool `json:"on"`
}

// NetInfo is the payload of a net event; IP "" means offline.
type NetInfo struct {
	IP string `json:"ip"`
}

// RecordInfo is the payload of a record event (stream-by-event, docs/protocol.md#stream-by-event).
type RecordInfo struct {
	On       bool   `json:"on"`
	StreamID string `json:"stream_id"`
}

// Memory-card states (docs/protocol.md#enums).
const (
	MemorycardNone           = "none"
	MemorycardNormal         = "normal"
	MemorycardNeedFormat     = "need-format"
	MemorycardFormatting     = "formatting"
	MemorycardInitialization = "initialization"
)

// MemorycardInfo is the payload of a memorycard event; sizes in MB,
// MaxSyncDuration in seconds (0 = sync unsupported).
type MemorycardInfo struct {
	Status          string `json:"status"`
	Size            int64  `json:"size"`
	Free            int64  `json:"free"`
	MaxSyncDuration int64  `json:"max_sync_duration"`
	RecordingStatus bool   `json:"recording_status"`
}

// WifiInfo is the payload of a wifi event; Signal in dBm, Encryption one
// of EncryptionCaps.
type WifiInfo struct {
	SSID           string   `json:"ssid"`
	MAC            string   `json:"mac"`
	Signal         int      `json:"signal"`
	Encryption     string   `json:"encryption"`
	EncryptionCaps []string `json:"encryption_caps"`
	State          string   `json:"state"`
}

// CamEvent is the body of cam_event (docs/protocol.md#cam-event), sent with Session.Send,
// or with Session.RequestUpload when it carries a snapshot or file_meta
// (the cloud answers with direct_upload_url, docs/protocol.md#direct-upload). Nil payloads are omitted; a motion event always
// carries MotionInfo, possibly empty.
type CamEvent struct {
	Event string    `json:"event"`
	Time  EpochTime `json:"time"`
	// MediaTM is the event's timestamp within the published stream.
	MediaTM          *int64          `json:"mediatm,omitempty"`
	Status           string          `json:"status,omitempty"`
	ErrorDescription string          `json:"error_description,omitempty"`
	Meta             map[string]any  `json:"meta,omitempty"`
	SnapshotInfo     *SnapshotInfo   `json:"snapshot_info,omitempty"`
	FileMetaInfo     *FileMetaInfo   `json:"file_meta_info,omitempty"`
	MotionInfo       *MotionInfo     `json:"motion_info,omitempty"`
	SoundInfo        *SoundInfo      `json:"sound_info,omitempty"`
	NetInfo          *NetInfo        `json:"net_info,omitempty"`
	RecordInfo       *RecordInfo     `json:"record_info,omitempty"`
	MemorycardInfo   *MemorycardInfo `json:"memorycard_info,omitempty"`
	WifiInfo         *WifiInfo       `json:"wifi_info,omitempty"`
}

func (*CamEvent) required() []string { return []string{"cam_id", "event", "time"} }
func (e *CamEvent) validate() error {
	if e.Event == "" {
		return invalid("event", "empty")
	}
	switch e.Status {
	case "", EventStatusOK:
	case EventStatusError:
		if e.ErrorDescription == "" {
			return missed("error_description")
		}
	default:
		return invalid("status", "unknown event status %q", e.Status)
	}
	if e.Event == EventMotion && e.MotionInfo == nil {
		return missed("motion_info")
	}
	if e.Event == EventRecord && e.RecordInfo == nil {
		return missed("record_info")
	}
	if e.Event == EventMemorycard && e.MemorycardInfo == nil {
		return missed("memorycard_info")
	}
	if si := e.SnapshotInfo; si != nil {
		if si.ImageTime.IsZero() {
			return missed("snapshot_info.image_time")
		}
		if si.Width <= 0 || si.Height <= 0 || si.Size <= 0 {
			return invalid("snapshot_info", "width %d, height %d, size %d must be positive", si.Width, si.Height, si.Size)
		}
	}
	if fm := e.FileMetaInfo; fm != nil && fm.Size <= 0 {
		return invalid("file_meta_info.size", "%d is not positive", fm.Size)
	}
	return nil
}

// CamTriggerEvent is the request cam_trigger_event (docs/protocol.md#cam-trigger-event); Time nil
// means now.
type CamTriggerEvent struct {
	Head
	Event string         `json:"event"`
	Time  *EpochTime     `json:"time,omitempty"`
	Meta  map[string]any `json:"meta,omitempty"`
}

func (*CamTriggerEvent) required() []string { return []string{"event"} }
func (t *CamTriggerEvent) validate() error {
	if t.Event == "" {
		return invalid("event", "empty")
	}
	return nil
}

// StreamByEventCaps bounds pre_event and post_event, in ms (docs/protocol.md#stream-by-event).
type StreamByEventCaps struct {
	PreEventMax  int64 `json:"pre_event_max"`
	PostEventMax int64 `json:"post_event_max"`
}

// StreamByEventConf is the body of stream_by_event_conf (docs/protocol.md#stream-by-event); times in ms.
type StreamByEventConf struct {
	StreamID  string            `json:"stream_id"`
	PreEvent  int64             `json:"pre_event"`
	PostEvent int64             `json:"post_event"`
	Caps      StreamByEventCaps `json:"caps"`
}

func (*StreamByEventConf) required() []string {
	return []string{"stream_id", "pre_event", "post_event", "caps"}
}
func (*StreamByEventConf) validate() error { return nil }

// SetStreamByEvent is the request set_stream_by_event (docs/protocol.md#stream-by-event); times in
// ms, PreEvent absent = 0. Caps and unknown streams are the handler's to
// check (INVALID_PARAM).
type SetStreamByEvent struct {
	Head
	StreamID  string `json:"stream_id"`
	PreEvent  int64  `json:"pre_event,omitempty"`
	PostEvent int64  `json:"post_event"`
}

func (*SetStreamByEvent) required() []string { return []string{"stream_id", "post_event"} }
func (s *SetStreamByEvent) validate() error {
	if s.StreamID == "" {
		return invalid("stream_id", "empty")
	}
	if s.PreEvent < 0 {
		return invalid("pre_event", "%d is negative", s.PreEvent)
	}
	if s.PostEvent < 0 {
		return invalid("post_event", "%d is negative", s.PostEvent)
	}
	return nil
}
