package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
)

// Bye reasons (docs/protocol.md#bye).
const (
	ByeReconnect    = "RECONNECT"
	ByeError        = "ERROR"
	ByeSystemError  = "SYSTEM_ERROR"
	ByeConnConflict = "CONN_CONFLICT"
	ByeShutdown     = "SHUTDOWN"
	ByeInvalidUser  = "INVALID_USER"
	ByeAuthFailure  = "AUTH_FAILURE"
	ByeDeleted      = "DELETED"
)

// StreamReason is why the cloud wants a stream published (docs/protocol.md#enums, #stream-start).
type StreamReason string

// Stream reasons of docs/protocol.md#enums.
const (
	ReasonLive                   StreamReason = "live"
	ReasonRecord                 StreamReason = "record"
	ReasonRecordByEvent          StreamReason = "record_by_event"
	ReasonServerByEvent          StreamReason = "server_by_event"
	ReasonStorageDirectRecording StreamReason = "storage_direct_recording"
	// ReasonEventVideo is the agent's own reason, never on the wire: the
	// publish that carries an event's video in stream mode
	// (docs/protocol.md#stream-by-event), framed by record events.
	ReasonEventVideo StreamReason = "event"
)

// Valid reports whether r is one of the reasons of docs/protocol.md#enums.
func (r StreamReason) Valid() bool {
	switch r {
	case ReasonLive, ReasonRecord, ReasonRecordByEvent, ReasonServerByEvent, ReasonStorageDirectRecording:
		return true
	}
	return false
}

// CameraInfo describes the camera for cam_register (docs/protocol.md#cam-register).
type CameraInfo struct{ IP, Brand, Model, SN, Version, Type string }

// Handler is the session's view of the camera worker; it is declared here
// so uplink never imports its caller.
type Handler interface {
	// CameraInfo is asked before every cam_register; an error means the
	// camera is unavailable and cam_register is not sent (docs/protocol.md#cam-register). It must
	// return when ctx ends: the connection waits for it on close.
	CameraInfo(ctx context.Context) (CameraInfo, error)
	// Ready is called when cam_hello arrived (READY). It must not block.
	Ready(link Link)
	// Down is called when a connection that reached READY is gone; the
	// caller stops all RTMP publishing (docs/protocol.md#reconnect). It must not block long.
	Down()
	// Handle serves one camera-scoped cloud request, decoded and checked
	// against the spec's field rules. Calls are sequential, in arrival
	// order; ctx ends when the connection drops. Commands uplink has no
	// type for never get here: the session answers them NOT_SUPPORTED.
	Handle(ctx context.Context, req Request) Reply
}

// ProblemReporter may be implemented by a Handler to learn which agent
// message the cloud could not process (report_problem, docs/protocol.md#report-problem). A
// problem with a RequestUpload in flight fails that call instead and is
// not reported here. It must not block.
type ProblemReporter interface {
	Problem(refID int64, origCmd, reason string)
}

// EndReporter may be implemented by a Handler to learn how each connection
// (or attempt) ended, e.g. to stop keeping the camera's stream warm while
// the cloud refuses it. It must not block long.
type EndReporter interface {
	Ended(end End)
}

// TimeZoneSetter may be implemented by a Handler to apply the time zone
// (IANA name) a configure carries to the camera (docs/protocol.md#configure). It must not
// block.
type TimeZoneSetter interface {
	SetTimeZone(tz string)
}

// Reply is the answer to a Request: a done with a status, or a named
// answer with a typed body. The session fills msgid, refid, orig_cmd and cam_id.
type Reply struct {
	cmd    string
	status string
	body   any
	err    error
	then   func()
}

// Then returns r with f to run once r has been written to the cloud (or
// writing it failed): work the spec orders after the reply, such as the
// POST that follows cam_get_log's done (docs/protocol.md#cam-get-log). f runs on the session's
// dispatch goroutine, so it must start long work in its own goroutine.
func (r Reply) Then(f func()) Reply {
	r.then = f
	return r
}

// Done answers with done and status (StatusOK, StatusNotSupported, …).
// errs, if any, are logged by the session, never sent.
func Done(status string, errs ...error) Reply {
	return Reply{cmd: CmdDone, status: status, err: errors.Join(errs...)}
}

// DoneErr answers a failed request: a *ParamError keeps its status, any
// other error becomes StatusError.
func DoneErr(err error) Reply {
	var pe *ParamError
	if errors.As(err, &pe) {
		return Done(pe.Status, err)
	}
	return Done(StatusError, err)
}

// Response is the body of a named answer (cam_status, …). It names its
// command, so an answer cannot go out under the wrong one.
type Response interface {
	Cmd() string
}

// Answer replies with r's command carrying r.
func Answer(r Response) Reply { return Reply{cmd: r.Cmd(), body: r} }

// Register is the body of register (docs/protocol.md#register).
type Register struct {
	Ver            string   `json:"ver"`
	TZ             string   `json:"tz"`
	Vendor         string   `json:"vendor"`
	RegToken       string   `json:"reg_token,omitempty"`
	Pwd            string   `json:"pwd,omitempty"`
	PrevSID        string   `json:"prev_sid,omitempty"`
	MediaProtocols []string `json:"media_protocols,omitempty"`
}

func (*Register) required() []string { return []string{"ver", "tz", "vendor"} }
func (*Register) validate() error    { return nil }

// Configure is the body of configure (docs/protocol.md#configure); every field is optional and
// empty means "leave unchanged".
type Configure struct {
	Pwd    string `json:"pwd,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	ConnID string `json:"connid,omitempty"`
	TZ     string `json:"tz,omitempty"`
	Server string `json:"server,omitempty"`
}

func (*Configure) required() []string { return nil }
func (*Configure) validate() error    { return nil }

// Hello is the body of hello (docs/protocol.md#hello). Status travels in the envelope.
type Hello struct {
	SID         string `json:"sid"`
	MediaServer string `json:"media_server,omitempty"`
	UploadURI   string `json:"upload_uri,omitempty"`
	UploadURL   string `json:"upload_url,omitempty"`
	ConnID      string `json:"connid,omitempty"`
	CA          string `json:"ca,omitempty"`
}

func (*Hello) required() []string { return []string{"sid"} }
func (h *Hello) validate() error {
	if h.SID == "" {
		return invalid("sid", "empty")
	}
	return nil
}

// CamRegister is the body of cam_register (docs/protocol.md#cam-register). UUID is always sent,
// "" until the cloud assigned one.
type CamRegister struct {
	IP           string `json:"ip"`
	UUID         string `json:"uuid"`
	Brand        string `json:"brand"`
	Model        string `json:"model"`
	SN           string `json:"sn"`
	Version      string `json:"version"`
	Type         string `json:"type,omitempty"`
	RawMessaging bool   `json:"raw_messaging"`
}

func (*CamRegister) required() []string {
	return []string{"ip", "uuid", "brand", "model", "sn", "version"}
}
func (*CamRegister) validate() error { return nil }

// CamHello is the body of cam_hello (docs/protocol.md#cam-hello). Activity nil means true (docs/protocol.md#q10).
type CamHello struct {
	CamID       int64  `json:"cam_id"`
	Path        string `json:"path,omitempty"`
	MediaURL    string `json:"media_url,omitempty"`
	MediaURI    string `json:"media_uri,omitempty"`
	BackwardURI string `json:"backward_uri,omitempty"`
	Mode        string `json:"mode,omitempty"`
	Activity    *bool  `json:"activity,omitempty"`
}

func (*CamHello) required() []string { return []string{"cam_id"} }
func (*CamHello) validate() error    { return nil }

// Bye is the body of bye (docs/protocol.md#bye); Retry is in seconds, 0 = absent.
type Bye struct {
	Reason string `json:"reason"`
	Retry  int64  `json:"retry,omitempty"`
}

func (*Bye) required() []string { return []string{"reason"} }
func (b *Bye) validate() error {
	switch b.Reason {
	case ByeReconnect, ByeError, ByeSystemError, ByeConnConflict, ByeShutdown, ByeInvalidUser, ByeAuthFailure, ByeDeleted:
	default:
		return invalid("reason", "unknown bye reason %q", b.Reason)
	}
	if b.Retry < 0 {
		return invalid("retry", "negative")
	}
	return nil
}

// ReportProblem is the body of report_problem (docs/protocol.md#report-problem); refid and
// orig_cmd travel in the envelope.
type ReportProblem struct {
	Reason string `json:"reason,omitempty"`
}

func (*ReportProblem) required() []string { return nil }
func (*ReportProblem) validate() error    { return nil }

// CamStatus is the body of cam_status (docs/protocol.md#get-cam-status); every field is always sent.
type CamStatus struct {
	IP        string `json:"ip"`
	Activity  bool   `json:"activity"`
	Streaming bool   `json:"streaming"`
	StatusLED bool   `json:"status_led"`
}

func (*CamStatus) required() []string { return []string{"ip", "activity", "streaming", "status_led"} }
func (*CamStatus) validate() error    { return nil }

// SetCamParameter is the request set_cam_parameter (docs/protocol.md#set-cam-parameter); nil = unchanged.
type SetCamParameter struct {
	Head
	StatusLED *bool `json:"status_led,omitempty"`
	Activity  *bool `json:"activity,omitempty"`
}

func (*SetCamParameter) required() []string { return nil }
func (*SetCamParameter) validate() error    { return nil }

// StreamInfo is one media stream in supported_streams (docs/protocol.md#get-supported-streams).
type StreamInfo struct {
	ID    string `json:"id"`
	Video string `json:"video,omitempty"`
	Audio string `json:"audio,omitempty"`
}

// SupportedStreams is the body of supported_streams (docs/protocol.md#get-supported-streams).
type SupportedStreams struct {
	Streams []StreamInfo `json:"streams"`
	VideoES []string     `json:"video_es"`
	AudioES []string     `json:"audio_es"`
}

func (*SupportedStreams) required() []string { return []string{"streams", "video_es", "audio_es"} }
func (s *SupportedStreams) validate() error {
	for _, st := range s.Streams {
		if st.ID == "" {
			return missed("streams[].id")
		}
	}
	return nil
}

// MarshalJSON sends empty lists as [] rather than null: the lists are required.
func (s SupportedStreams) MarshalJSON() ([]byte, error) {
	type plain SupportedStreams
	p := plain(s)
	p.Streams, p.VideoES, p.AudioES = nonNil(p.Streams), nonNil(p.VideoES), nonNil(p.AudioES)
	return json.Marshal(p)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ESSelect picks the elementary streams get_stream_caps and
// get_stream_config ask about (docs/protocol.md#get-stream-caps): a nil list means all ES of that
// kind, an empty one none.
type ESSelect struct {
	VideoES *[]string `json:"video_es,omitempty"`
	AudioES *[]string `json:"audio_es,omitempty"`
}

func (*ESSelect) required() []string { return nil }
func (*ESSelect) validate() error    { return nil }

// Float is a JSON number the spec types as float (fps, srt, docs/protocol.md#conventions). It is
// always written with a fraction (25.0, not 25), so a cloud that checks the
// number's type sees a float even for whole values.
type Float float64

// MarshalJSON writes f like encoding/json does, adding ".0" to whole values.
func (f Float) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, '.', '0')
	}
	return b, nil
}

// VideoCaps is one caps_video entry (docs/protocol.md#get-stream-caps). Ranges are [min,max,step].
type VideoCaps struct {
	Streams     []string    `json:"streams"`
	Formats     []string    `json:"formats"`
	Profiles    [][2]string `json:"profiles,omitempty"`
	Resolutions [][2]int    `json:"resolutions"`
	FPS         []Float     `json:"fps"`
	GOP         [3]int      `json:"gop"`
	BRT         [3]int      `json:"brt"`
	VBR         bool        `json:"vbr"`
	VBRBRT      *[3]int     `json:"vbr_brt,omitempty"`
	Quality     *[2]int     `json:"quality,omitempty"`
	Smoothing   *bool       `json:"smoothing,omitempty"`
}

// MarshalJSON sends the required lists as [] rather than null.
func (c VideoCaps) MarshalJSON() ([]byte, error) {
	type plain VideoCaps
	p := plain(c)
	p.Streams, p.Formats, p.Resolutions, p.FPS = nonNil(p.Streams), nonNil(p.Formats), nonNil(p.Resolutions), nonNil(p.FPS)
	return json.Marshal(p)
}

// AudioCaps is one caps_audio entry (docs/protocol.md#get-stream-caps); SRT is in kHz.
type AudioCaps struct {
	Streams []string `json:"streams"`
	Formats []string `json:"formats"`
	BRT     [3]int   `json:"brt"`
	SRT     []Float  `json:"srt"`
}

// MarshalJSON sends the required lists as [] rather than null.
func (c AudioCaps) MarshalJSON() ([]byte, error) {
	type plain AudioCaps
	p := plain(c)
	p.Streams, p.Formats, p.SRT = nonNil(p.Streams), nonNil(p.Formats), nonNil(p.SRT)
	return json.Marshal(p)
}

// StreamCaps is the body of stream_caps (docs/protocol.md#get-stream-caps).
type StreamCaps struct {
	CapsVideo []VideoCaps `json:"caps_video"`
	CapsAudio []AudioCaps `json:"caps_audio"`
}

func (*StreamCaps) required() []string { return []string{"caps_video", "caps_audio"} }
func (*StreamCaps) validate() error    { return nil }

// MarshalJSON sends empty lists as [].
func (s StreamCaps) MarshalJSON() ([]byte, error) {
	type plain StreamCaps
	p := plain(s)
	p.CapsVideo, p.CapsAudio = nonNil(p.CapsVideo), nonNil(p.CapsAudio)
	return json.Marshal(p)
}

// VideoConfig is one video entry of stream_config (docs/protocol.md#get-stream-config).
type VideoConfig struct {
	Stream    string `json:"stream"`
	Format    string `json:"format"`
	Profile   string `json:"profile,omitempty"`
	Horz      int    `json:"horz"`
	Vert      int    `json:"vert"`
	FPS       Float  `json:"fps"`
	GOP       int    `json:"gop"`
	VBR       bool   `json:"vbr"`
	BRT       int    `json:"brt,omitempty"`
	VBRBRT    int    `json:"vbr_brt,omitempty"`
	Quality   *int   `json:"quality,omitempty"`
	Smoothing *int   `json:"smoothing,omitempty"`
}

// AudioConfig is one audio entry of stream_config (docs/protocol.md#get-stream-config); SRT in kHz.
type AudioConfig struct {
	Stream string `json:"stream"`
	Format string `json:"format"`
	BRT    int    `json:"brt"`
	SRT    Float  `json:"srt"`
}

// StreamConfig is the body of stream_config (docs/protocol.md#get-stream-config).
type StreamConfig struct {
	Video []VideoConfig `json:"video"`
	Audio []AudioConfig `json:"audio"`
}

func (*StreamConfig) required() []string { return []string{"video", "audio"} }
func (*StreamConfig) validate() error    { return nil }

// MarshalJSON sends empty lists as [].
func (s StreamConfig) MarshalJSON() ([]byte, error) {
	type plain StreamConfig
	p := plain(s)
	p.Video, p.Audio = nonNil(p.Video), nonNil(p.Audio)
	return json.Marshal(p)
}

// VideoConfigPatch is one video entry of set_stream_config (docs/protocol.md#set-stream-config): only
// Stream is required, nil fields stay unchanged.
type VideoConfigPatch struct {
	Stream    string   `json:"stream"`
	Format    *string  `json:"format,omitempty"`
	Profile   *string  `json:"profile,omitempty"`
	Horz      *int     `json:"horz,omitempty"`
	Vert      *int     `json:"vert,omitempty"`
	FPS       *float64 `json:"fps,omitempty"`
	GOP       *int     `json:"gop,omitempty"`
	VBR       *bool    `json:"vbr,omitempty"`
	BRT       *int     `json:"brt,omitempty"`
	VBRBRT    *int     `json:"vbr_brt,omitempty"`
	Quality   *int     `json:"quality,omitempty"`
	Smoothing *int     `json:"smoothing,omitempty"`
}

// AudioConfigPatch is one audio entry of set_stream_config.
type AudioConfigPatch struct {
	Stream string   `json:"stream"`
	Format *string  `json:"format,omitempty"`
	BRT    *int     `json:"brt,omitempty"`
	SRT    *float64 `json:"srt,omitempty"`
}

// SetStreamConfig is the request set_stream_config (docs/protocol.md#set-stream-config).
type SetStreamConfig struct {
	Head
	Video []VideoConfigPatch `json:"video,omitempty"`
	Audio []AudioConfigPatch `json:"audio,omitempty"`
}

func (*SetStreamConfig) required() []string { return nil }
func (s *SetStreamConfig) validate() error {
	for _, v := range s.Video {
		if v.Stream == "" {
			return missed("video[].stream")
		}
		if v.Quality != nil && (*v.Quality < -4 || *v.Quality > 4) {
			return invalid("video[].quality", "%d outside -4..4", *v.Quality)
		}
	}
	for _, a := range s.Audio {
		if a.Stream == "" {
			return missed("audio[].stream")
		}
	}
	return nil
}

// StreamStart is the request stream_start (docs/protocol.md#stream-start). PublishSessionID 0 = absent.
type StreamStart struct {
	Head
	StreamID               string       `json:"stream_id"`
	Reason                 StreamReason `json:"reason"`
	PublishSessionID       int64        `json:"publish_session_id,omitempty"`
	StorageDirectRecording bool         `json:"storage_direct_recording,omitempty"`
}

func (*StreamStart) required() []string { return []string{"stream_id", "reason"} }
func (s *StreamStart) validate() error {
	if s.StreamID == "" {
		return invalid("stream_id", "empty")
	}
	if !s.Reason.Valid() {
		return invalid("reason", "unknown reason %q", s.Reason)
	}
	return nil
}

// StreamStop is the request stream_stop (docs/protocol.md#stream-stop).
type StreamStop struct {
	Head
	StreamID string       `json:"stream_id"`
	Reason   StreamReason `json:"reason"`
}

func (*StreamStop) required() []string { return []string{"stream_id", "reason"} }
func (s *StreamStop) validate() error {
	if s.StreamID == "" {
		return invalid("stream_id", "empty")
	}
	if !s.Reason.Valid() {
		return invalid("reason", "unknown reason %q", s.Reason)
	}
	return nil
}
