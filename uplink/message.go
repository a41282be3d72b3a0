package uplink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Result codes of done (docs/protocol.md#done).
const (
	StatusOK           = "OK"
	StatusError        = "ERROR"
	StatusCMError      = "CM_ERROR" // SDK 1.2.44 spelling of ERROR; accepted on input only (docs/protocol.md#q1)
	StatusSystemError  = "SYSTEM_ERROR"
	StatusNotSupported = "NOT_SUPPORTED"
	StatusInvalidParam = "INVALID_PARAM"
	StatusMissedParam  = "MISSED_PARAM"
	StatusTooMany      = "TOO_MANY"
	StatusRetry        = "RETRY"
)

// Command names of the session layer and the minimal command set (docs/protocol.md#commands).
const (
	CmdRegister            = "register"
	CmdConfigure           = "configure"
	CmdHello               = "hello"
	CmdCamRegister         = "cam_register"
	CmdCamHello            = "cam_hello"
	CmdBye                 = "bye"
	CmdDone                = "done"
	CmdReportProblem       = "report_problem"
	CmdGetCamStatus        = "get_cam_status"
	CmdCamStatus           = "cam_status"
	CmdSetCamParameter     = "set_cam_parameter"
	CmdGetSupportedStreams = "get_supported_streams"
	CmdSupportedStreams    = "supported_streams"
	CmdGetStreamCaps       = "get_stream_caps"
	CmdStreamCaps          = "stream_caps"
	CmdGetStreamConfig     = "get_stream_config"
	CmdStreamConfig        = "stream_config"
	CmdSetStreamConfig     = "set_stream_config"
	CmdStreamStart         = "stream_start"
	CmdStreamStop          = "stream_stop"
)

// Command names of camera settings, PTZ, detection, events, event-driven
// recording and OSD (docs/protocol.md#camera-settings–#stream-by-event, #osd).
const (
	CmdGetCamVideoConf     = "get_cam_video_conf"
	CmdCamVideoConf        = "cam_video_conf"
	CmdSetCamVideoConf     = "set_cam_video_conf"
	CmdGetCamAudioConf     = "get_cam_audio_conf"
	CmdCamAudioConf        = "cam_audio_conf"
	CmdSetCamAudioConf     = "set_cam_audio_conf"
	CmdGetPTZConf          = "get_ptz_conf"
	CmdCamPTZConf          = "cam_ptz_conf"
	CmdCamPTZ              = "cam_ptz"
	CmdCamPTZPreset        = "cam_ptz_preset"
	CmdCamPTZPresetCreated = "cam_ptz_preset_created"
	CmdGetMotionDetection  = "get_motion_detection"
	CmdMotionDetectionConf = "motion_detection_conf"
	CmdSetMotionDetection  = "set_motion_detection"
	CmdGetAudioDetection   = "get_audio_detection"
	CmdAudioDetectionConf  = "audio_detection_conf"
	CmdSetAudioDetection   = "set_audio_detection"
	CmdGetCamEvents        = "get_cam_events"
	CmdCamEventsConf       = "cam_events_conf"
	CmdSetCamEvents        = "set_cam_events"
	CmdCamEvent            = "cam_event"
	CmdCamTriggerEvent     = "cam_trigger_event"
	CmdGetStreamByEvent    = "get_stream_by_event"
	CmdStreamByEventConf   = "stream_by_event_conf"
	CmdSetStreamByEvent    = "set_stream_by_event"
	CmdGetOSDConf          = "get_osd_conf"
	CmdOSDConf             = "osd_conf"
	CmdSetOSDConf          = "set_osd_conf"
)

// ParamError is a validation failure of a message body; Status is
// StatusMissedParam or StatusInvalidParam, the done status to answer with.
type ParamError struct {
	Status string
	Field  string
	Err    error
}

func (e *ParamError) Error() string {
	if e.Status == StatusMissedParam {
		return "missing field " + e.Field
	}
	return fmt.Sprintf("invalid field %s: %v", e.Field, e.Err)
}

func (e *ParamError) Unwrap() error { return e.Err }

func missed(field string) error { return &ParamError{Status: StatusMissedParam, Field: field} }

func invalid(field string, format string, a ...any) error {
	return &ParamError{Status: StatusInvalidParam, Field: field, Err: fmt.Errorf(format, a...)}
}

// ErrBadMessage is wrapped when a frame is not a JSON object with a cmd;
// such frames are logged and ignored (docs/protocol.md#errors).
var ErrBadMessage = errors.New("bad message")

// Message is one decoded control-channel message: the envelope fields of
// docs/protocol.md#envelope plus the whole object for typed decoding with Decode.
type Message struct {
	Cmd   string
	MsgID int64
	// RefID and OrigCmd are set on replies; RefID 0 means absent.
	RefID   int64
	OrigCmd string
	// CamID is valid when HasCamID.
	CamID    int64
	HasCamID bool
	Status   string

	raw    []byte
	fields map[string]json.RawMessage
}

// DecodeMessage parses one text frame. Integers may be written 5 or 5.0;
// unknown fields are kept for Decode and otherwise ignored.
func DecodeMessage(data []byte) (*Message, error) {
	data = normalizeNumbers(data)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: not a json object", ErrBadMessage)
	}
	m := &Message{raw: data, fields: fields}
	if err := m.str("cmd", &m.Cmd); err != nil || m.Cmd == "" {
		return nil, fmt.Errorf("%w: no cmd", ErrBadMessage)
	}
	if _, ok := m.present("msgid"); !ok && !noReply[m.Cmd] {
		return nil, fmt.Errorf("%w: %s without msgid", ErrBadMessage, m.Cmd)
	}
	if err := m.int("msgid", &m.MsgID); err != nil {
		return nil, fmt.Errorf("%w: %s: msgid: %v", ErrBadMessage, m.Cmd, err)
	}
	if err := m.int("refid", &m.RefID); err != nil {
		return nil, fmt.Errorf("%w: %s: refid: %v", ErrBadMessage, m.Cmd, err)
	}
	if _, m.HasCamID = m.present("cam_id"); m.HasCamID {
		if err := m.int("cam_id", &m.CamID); err != nil {
			return nil, fmt.Errorf("%w: %s: cam_id: %v", ErrBadMessage, m.Cmd, err)
		}
	}
	if err := m.str("orig_cmd", &m.OrigCmd); err != nil {
		return nil, fmt.Errorf("%w: %s: orig_cmd: %v", ErrBadMessage, m.Cmd, err)
	}
	if err := m.str("status", &m.Status); err != nil {
		return nil, fmt.Errorf("%w: %s: status: %v", ErrBadMessage, m.Cmd, err)
	}
	return m, nil
}

// noReply are the cloud messages the agent never answers (docs/protocol.md#replies); they
// need no msgid to be acted on, so a bye that lacks one still counts.
var noReply = map[string]bool{CmdBye: true, CmdDone: true, CmdReportProblem: true}

// present returns a field that exists and is not null.
func (m *Message) present(k string) (json.RawMessage, bool) {
	v, ok := m.fields[k]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

func (m *Message) str(k string, dst *string) error {
	if v, ok := m.present(k); ok {
		return json.Unmarshal(v, dst)
	}
	return nil
}

func (m *Message) int(k string, dst *int64) error {
	if v, ok := m.present(k); ok {
		return json.Unmarshal(v, dst)
	}
	return nil
}

// Has reports whether the message carries field k with a non-null value.
func (m *Message) Has(k string) bool {
	_, ok := m.present(k)
	return ok
}

// body is implemented by the typed bodies that know their required fields
// and value rules.
type body interface {
	required() []string
	validate() error
}

// Decode fills v (a pointer to a typed body or any JSON target) from the
// message. Missing required fields give a *ParamError with
// StatusMissedParam, wrong types or values one with StatusInvalidParam.
func (m *Message) Decode(v any) error {
	if b, ok := v.(body); ok {
		for _, f := range b.required() {
			if !m.Has(f) {
				return missed(f)
			}
		}
	}
	// A null leaves a value field untouched, so null reads as absent (docs/protocol.md#conventions).
	if err := json.Unmarshal(m.raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalid(te.Field, "want %s, got %s", te.Type, te.Value)
		}
		return invalid("", "%v", err)
	}
	if b, ok := v.(body); ok {
		return b.validate()
	}
	return nil
}

// normalizeNumbers rewrites integral numbers written with a fraction or
// exponent (5.0, 5e0) as plain integers so int64 fields accept them (docs/protocol.md#conventions).
// Most frames have none; they are returned untouched.
func normalizeNumbers(data []byte) []byte {
	if !bytes.ContainsAny(data, ".eE") {
		return data
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return data
	}
	if !fixNumbers(&v) {
		return data
	}
	out, err := json.Marshal(v)
	if err != nil {
		return data
	}
	return out
}

func fixNumbers(v *any) bool {
	changed := false
	switch x := (*v).(type) {
	case json.Number:
		s := x.String()
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return false
		}
		f, err := x.Float64()
		if err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			*v = json.Number(strconv.FormatInt(int64(f), 10))
			return true
		}
	case map[string]any:
		for k, e := range x {
			if fixNumbers(&e) {
				x[k] = e
				changed = true
			}
		}
	case []any:
		for i := range x {
			if fixNumbers(&x[i]) {
				changed = true
			}
		}
	}
	return changed
}

// Envelope holds the docs/protocol.md#envelope fields of an outgoing message; zero values are omitted.
type Envelope struct {
	Cmd     string `json:"cmd"`
	MsgID   int64  `json:"msgid"`
	RefID   int64  `json:"refid,omitempty"`
	OrigCmd string `json:"orig_cmd,omitempty"`
	CamID   int64  `json:"cam_id,omitempty"`
	Status  string `json:"status,omitempty"`
}

// EncodeMessage joins env and body (a struct or map marshalling to a JSON
// object, or nil) into one frame. Top-level nulls in body are dropped so an
// absent optional field is never sent as null (docs/protocol.md#conventions).
func EncodeMessage(env Envelope, body any) ([]byte, error) {
	head, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", env.Cmd, err)
	}
	if body == nil {
		return head, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", env.Cmd, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("encode %s: body is not an object", env.Cmd)
	}
	out := bytes.NewBuffer(head[:len(head)-1])
	for k, v := range fields {
		switch k {
		case "cmd", "msgid", "refid", "orig_cmd", "cam_id":
			continue // the envelope owns these
		case "status":
			if env.Status != "" {
				continue
			}
		}
		if string(v) == "null" {
			continue
		}
		kb, _ := json.Marshal(k)
		out.WriteByte(',')
		out.Write(kb)
		out.WriteByte(':')
		out.Write(v)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}
