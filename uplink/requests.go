package uplink

// Request is a camera-scoped cloud request decoded into the Go type of its
// command (docs/protocol.md#commands): *GetCamStatus, *StreamStart, … The session decodes each
// request once and hands the value to Handler.Handle, which dispatches with
// a type switch. The set is closed: only this package's types embed Head,
// whose unexported method seals the interface. Commands without a type
// here never reach a Handler; the session answers them NOT_SUPPORTED.
type Request interface {
	// Cmd is the command's name on the wire (CmdGetCamStatus, …).
	Cmd() string
	// Header is the request's envelope: msgid, cam_id, refid.
	Header() Head
	head() *Head
}

// Head is the envelope of a Request (docs/protocol.md#envelope), embedded in every request type.
// It never travels in a body: the session fills it from the message.
type Head struct {
	MsgID int64 `json:"-"`
	// CamID is the request's cam_id, 0 when absent.
	CamID int64 `json:"-"`
	// RefID is set when the cloud message answers an agent message.
	RefID int64 `json:"-"`
}

// Header returns h, so every request type answers Request.Header.
func (h Head) Header() Head { return h }

func (h *Head) head() *Head { return h }

// Requests without a body.
type (
	// GetCamStatus is get_cam_status (docs/protocol.md#get-cam-status).
	GetCamStatus struct{ Head }
	// GetSupportedStreams is get_supported_streams (docs/protocol.md#get-supported-streams).
	GetSupportedStreams struct{ Head }
	// GetCamVideoConf is get_cam_video_conf (docs/protocol.md#cam-video-conf).
	GetCamVideoConf struct{ Head }
	// GetCamAudioConf is get_cam_audio_conf (docs/protocol.md#cam-audio-conf).
	GetCamAudioConf struct{ Head }
	// GetPTZConf is get_ptz_conf (docs/protocol.md#get-ptz-conf).
	GetPTZConf struct{ Head }
	// GetMotionDetection is get_motion_detection (docs/protocol.md#motion-detection).
	GetMotionDetection struct{ Head }
	// GetAudioDetection is get_audio_detection (docs/protocol.md#audio-detection).
	GetAudioDetection struct{ Head }
	// GetCamEvents is get_cam_events (docs/protocol.md#get-cam-events).
	GetCamEvents struct{ Head }
	// GetStreamByEvent is get_stream_by_event (docs/protocol.md#stream-by-event).
	GetStreamByEvent struct{ Head }
	// GetOSDConf is get_osd_conf (docs/protocol.md#osd).
	GetOSDConf struct{ Head }
	// CamUpdatePreview is cam_update_preview (docs/protocol.md#cam-update-preview).
	CamUpdatePreview struct{ Head }
	// CamGetLog is cam_get_log (docs/protocol.md#cam-get-log).
	CamGetLog struct{ Head }
)

// GetStreamCaps is get_stream_caps (docs/protocol.md#get-stream-caps).
type GetStreamCaps struct {
	Head
	ESSelect
}

// GetStreamConfig is get_stream_config (docs/protocol.md#get-stream-config).
type GetStreamConfig struct {
	Head
	ESSelect
}

// SetCamVideoConf is set_cam_video_conf (docs/protocol.md#cam-video-conf): nil = unchanged.
type SetCamVideoConf struct {
	Head
	VideoSettings
}

// SetCamAudioConf is set_cam_audio_conf (docs/protocol.md#cam-audio-conf): nil = unchanged.
type SetCamAudioConf struct {
	Head
	AudioSettings
}

// SetOSDConf is set_osd_conf (docs/protocol.md#osd): nil = unchanged.
type SetOSDConf struct {
	Head
	OSDSettings
}

// Cmd names the command of each request type.
func (*GetCamStatus) Cmd() string        { return CmdGetCamStatus }
func (*SetCamParameter) Cmd() string     { return CmdSetCamParameter }
func (*GetSupportedStreams) Cmd() string { return CmdGetSupportedStreams }
func (*GetStreamCaps) Cmd() string       { return CmdGetStreamCaps }
func (*GetStreamConfig) Cmd() string     { return CmdGetStreamConfig }
func (*SetStreamConfig) Cmd() string     { return CmdSetStreamConfig }
func (*StreamStart) Cmd() string         { return CmdStreamStart }
func (*StreamStop) Cmd() string          { return CmdStreamStop }
func (*GetCamVideoConf) Cmd() string     { return CmdGetCamVideoConf }
func (*SetCamVideoConf) Cmd() string     { return CmdSetCamVideoConf }
func (*GetCamAudioConf) Cmd() string     { return CmdGetCamAudioConf }
func (*SetCamAudioConf) Cmd() string     { return CmdSetCamAudioConf }
func (*GetPTZConf) Cmd() string          { return CmdGetPTZConf }
func (*CamPTZ) Cmd() string              { return CmdCamPTZ }
func (*CamPTZPreset) Cmd() string        { return CmdCamPTZPreset }
func (*GetMotionDetection) Cmd() string  { return CmdGetMotionDetection }
func (*SetMotionDetection) Cmd() string  { return CmdSetMotionDetection }
func (*GetAudioDetection) Cmd() string   { return CmdGetAudioDetection }
func (*SetAudioDetection) Cmd() string   { return CmdSetAudioDetection }
func (*GetCamEvents) Cmd() string        { return CmdGetCamEvents }
func (*SetCamEvents) Cmd() string        { return CmdSetCamEvents }
func (*CamTriggerEvent) Cmd() string     { return CmdCamTriggerEvent }
func (*GetStreamByEvent) Cmd() string    { return CmdGetStreamByEvent }
func (*SetStreamByEvent) Cmd() string    { return CmdSetStreamByEvent }
func (*GetOSDConf) Cmd() string          { return CmdGetOSDConf }
func (*SetOSDConf) Cmd() string          { return CmdSetOSDConf }
func (*CamUpdatePreview) Cmd() string    { return CmdCamUpdatePreview }
func (*CamGetLog) Cmd() string           { return CmdCamGetLog }

// newRequest makes an empty request of each known command, by name.
var newRequest = requestsByName(
	mk[GetCamStatus], mk[SetCamParameter], mk[GetSupportedStreams],
	mk[GetStreamCaps], mk[GetStreamConfig], mk[SetStreamConfig],
	mk[StreamStart], mk[StreamStop],
	mk[GetCamVideoConf], mk[SetCamVideoConf], mk[GetCamAudioConf], mk[SetCamAudioConf],
	mk[GetPTZConf], mk[CamPTZ], mk[CamPTZPreset],
	mk[GetMotionDetection], mk[SetMotionDetection], mk[GetAudioDetection], mk[SetAudioDetection],
	mk[GetCamEvents], mk[SetCamEvents], mk[CamTriggerEvent],
	mk[GetStreamByEvent], mk[SetStreamByEvent],
	mk[GetOSDConf], mk[SetOSDConf],
	mk[CamUpdatePreview], mk[CamGetLog],
	mk[GetCamMemorycardTimeline], mk[CamMemorycardRecording],
	mk[CamMemorycardSynchronize], mk[CamMemorycardSynchronizeCancel],
	mk[CamFormatMemorycard],
)

func mk[T any, P interface {
	*T
	Request
}]() Request {
	return P(new(T))
}

func requestsByName(fs ...func() Request) map[string]func() Request {
	m := make(map[string]func() Request, len(fs))
	for _, f := range fs {
		m[f().Cmd()] = f
	}
	return m
}

// decodeRequest decodes m into the type of its command; it returns nil,
// nil for a command uplink has no type for. err is a *ParamError, to be
// answered with its status (docs/protocol.md#errors).
func decodeRequest(m *Message) (Request, error) {
	f, ok := newRequest[m.Cmd]
	if !ok {
		return nil, nil
	}
	req := f()
	if err := m.Decode(req); err != nil {
		return nil, err
	}
	*req.head() = Head{MsgID: m.MsgID, CamID: m.CamID, RefID: m.RefID}
	return req, nil
}

// Cmd names the command of each answer type (Response).
func (CamStatus) Cmd() string           { return CmdCamStatus }
func (SupportedStreams) Cmd() string    { return CmdSupportedStreams }
func (StreamCaps) Cmd() string          { return CmdStreamCaps }
func (StreamConfig) Cmd() string        { return CmdStreamConfig }
func (CamVideoConf) Cmd() string        { return CmdCamVideoConf }
func (CamAudioConf) Cmd() string        { return CmdCamAudioConf }
func (CamPTZConf) Cmd() string          { return CmdCamPTZConf }
func (CamPTZPresetCreated) Cmd() string { return CmdCamPTZPresetCreated }
func (MotionDetectionConf) Cmd() string { return CmdMotionDetectionConf }
func (AudioDetectionConf) Cmd() string  { return CmdAudioDetectionConf }
func (CamEventsConf) Cmd() string       { return CmdCamEventsConf }
func (StreamByEventConf) Cmd() string   { return CmdStreamByEventConf }
func (OSDConf) Cmd() string             { return CmdOSDConf }
