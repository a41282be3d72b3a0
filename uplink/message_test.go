package uplink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// messageCases seeds FuzzDecodeMessage too.
var messageCases = []struct {
	name    string
	in      string
	wantErr bool
	cmd     string
	msgid   int64
	refid   int64
	camID   int64
	hasCam  bool
	status  string
}{
	{name: "done", in: `{"cmd":"done","msgid":12,"refid":7,"orig_cmd":"set_cam_events","cam_id":310042,"status":"OK"}`,
		cmd: "done", msgid: 12, refid: 7, camID: 310042, hasCam: true, status: "OK"},
	{name: "float ints", in: `{"cmd":"stream_start","msgid":5.0,"cam_id":3.1e5,"stream_id":"Main","reason":"live","publish_session_id":4711.0}`,
		cmd: "stream_start", msgid: 5, camID: 310000, hasCam: true},
	{name: "unknown fields ignored", in: `{"cmd":"cam_future_feature","msgid":1013,"cam_id":310042,"level":3,"x":{"y":[1,2.5]}}`,
		cmd: "cam_future_feature", msgid: 1013, camID: 310042, hasCam: true},
	{name: "null cam_id is absent", in: `{"cmd":"configure","msgid":1,"cam_id":null}`, cmd: "configure", msgid: 1},
	{name: "CM_ERROR kept", in: `{"cmd":"done","msgid":1,"refid":2,"status":"CM_ERROR"}`, cmd: "done", msgid: 1, refid: 2, status: "CM_ERROR"},
	{name: "not json", in: `{"cmd":`, wantErr: true},
	{name: "array", in: `[{"cmd":"done"}]`, wantErr: true},
	{name: "null", in: `null`, wantErr: true},
	{name: "no cmd", in: `{"msgid":1}`, wantErr: true},
	{name: "cmd not string", in: `{"cmd":5,"msgid":1}`, wantErr: true},
	{name: "no msgid", in: `{"cmd":"get_cam_status"}`, wantErr: true},
	{name: "bye without msgid still acted on", in: `{"cmd":"bye","reason":"DELETED"}`, cmd: "bye"},
	{name: "fractional msgid", in: `{"cmd":"x","msgid":1.5}`, wantErr: true},
	{name: "string msgid", in: `{"cmd":"x","msgid":"1"}`, wantErr: true},
	{name: "string cam_id", in: `{"cmd":"x","msgid":1,"cam_id":"310042"}`, wantErr: true},
}

func TestDecodeMessage(t *testing.T) {
	for _, c := range messageCases {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeMessage([]byte(c.in))
			if c.wantErr {
				if !errors.Is(err, ErrBadMessage) {
					t.Fatalf("err = %v, want ErrBadMessage", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Cmd != c.cmd || m.MsgID != c.msgid || m.RefID != c.refid || m.CamID != c.camID || m.HasCamID != c.hasCam || m.Status != c.status {
				t.Errorf("got %+v", m)
			}
		})
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, c := range messageCases {
		f.Add([]byte(c.in))
	}
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.Message))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		if m.Cmd == "" {
			t.Fatal("accepted message without cmd")
		}
		// Every typed body must either decode or fail with a *ParamError.
		for _, mk := range newRequest {
			var pe *ParamError
			if err := m.Decode(mk()); err != nil && !errors.As(err, &pe) {
				t.Fatalf("decode error is not a ParamError: %v", err)
			}
		}
		if req, err := decodeRequest(m); err == nil && req != nil && (req.Cmd() != m.Cmd || req.Header().MsgID != m.MsgID) {
			t.Fatalf("%s decoded as %T %+v", m.Cmd, req, req.Header())
		}
		// A reply to it must encode to a valid JSON object.
		out, err := EncodeMessage(Envelope{Cmd: CmdDone, MsgID: 1, RefID: m.MsgID, OrigCmd: m.Cmd, Status: StatusOK}, nil)
		if err != nil || !json.Valid(out) {
			t.Fatalf("bad reply %s: %v", out, err)
		}
	})
}

type vector struct {
	ID        string          `json:"id"`
	Direction string          `json:"direction"`
	Section   string          `json:"section"`
	Note      string          `json:"note"`
	Message   json.RawMessage `json:"message"`
}

// loadVectors reads the spec vectors this package covers (copied from
// cloud-protocol-vectors.json).
func loadVectors(tb testing.TB) []vector {
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatal(err)
	}
	return vs
}

// TestVectors decodes every vector, validates the typed bodies uplink
// knows, and re-encodes the agent's messages from their typed form.
func TestVectors(t *testing.T) {
	typed := map[string]func() any{
		CmdRegister: func() any { return &Register{} }, CmdConfigure: func() any { return &Configure{} },
		CmdHello: func() any { return &Hello{} }, CmdCamRegister: func() any { return &CamRegister{} },
		CmdCamHello: func() any { return &CamHello{} }, CmdBye: func() any { return &Bye{} },
		CmdReportProblem: func() any { return &ReportProblem{} }, CmdCamStatus: func() any { return &CamStatus{} },
		CmdSupportedStreams: func() any { return &SupportedStreams{} }, CmdStreamCaps: func() any { return &StreamCaps{} },
		CmdStreamConfig: func() any { return &StreamConfig{} }, CmdDone: nil,
	}
	for cmd, mk := range newRequest {
		typed[cmd] = func() any { return mk() }
	}
	// Vectors whose point is a value the Handler rejects, not the envelope.
	handlerLevel := map[string]bool{"v041": true, "v053": true}
	for _, v := range loadVectors(t) {
		t.Run(v.ID, func(t *testing.T) {
			m, err := DecodeMessage(v.Message)
			if err != nil {
				t.Fatal(err)
			}
			mk, known := typed[m.Cmd]
			if !known || mk == nil {
				return
			}
			body := mk()
			if err := m.Decode(body); err != nil {
				if handlerLevel[v.ID] {
					return
				}
				t.Fatalf("%s: %v", v.Note, err)
			}
			if v.Direction != "agent_to_cloud" {
				return
			}
			env := Envelope{Cmd: m.Cmd, MsgID: m.MsgID, RefID: m.RefID, OrigCmd: m.OrigCmd, CamID: m.CamID, Status: m.Status}
			out, err := EncodeMessage(env, reflect.ValueOf(body).Elem().Interface())
			if err != nil {
				t.Fatal(err)
			}
			// Numbers compare by value and by kind: a float field (fps,
			// srt, time) written 25 instead of 25.0 is a deviation (docs/protocol.md#conventions).
			got, want := typedJSON(t, out), typedJSON(t, v.Message)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("re-encoded\n got  %s\n want %s", out, v.Message)
			}
		})
	}
}

// typedJSON decodes b with every number replaced by "int:<v>" or
// "float:<v>", so that a comparison also checks integer versus float.
func typedJSON(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case json.Number:
			f, _ := x.Float64()
			if strings.ContainsAny(x.String(), ".eE") {
				return fmt.Sprintf("float:%g", f)
			}
			return fmt.Sprintf("int:%g", f)
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return x
	}
	return walk(v)
}

func TestDecodeBodyErrors(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		body   any
		status string // "" = valid
	}{
		{"stream_start ok", `{"cmd":"stream_start","msgid":1,"stream_id":"Main","reason":"record","publish_session_id":7.0}`, &StreamStart{}, ""},
		{"stream_start missing reason", `{"cmd":"stream_start","msgid":1,"stream_id":"Main"}`, &StreamStart{}, StatusMissedParam},
		{"stream_start null reason", `{"cmd":"stream_start","msgid":1,"stream_id":"Main","reason":null}`, &StreamStart{}, StatusMissedParam},
		{"stream_start unknown reason", `{"cmd":"stream_start","msgid":1,"stream_id":"Main","reason":"party"}`, &StreamStart{}, StatusInvalidParam},
		{"stream_start psid string", `{"cmd":"stream_start","msgid":1,"stream_id":"Main","reason":"live","publish_session_id":"x"}`, &StreamStart{}, StatusInvalidParam},
		{"stream_stop missing stream", `{"cmd":"stream_stop","msgid":1,"reason":"live"}`, &StreamStop{}, StatusMissedParam},
		{"set_stream_config entry without stream", `{"cmd":"set_stream_config","msgid":1,"video":[{"fps":10}]}`, &SetStreamConfig{}, StatusMissedParam},
		{"set_stream_config quality out of range", `{"cmd":"set_stream_config","msgid":1,"video":[{"stream":"V","quality":9}]}`, &SetStreamConfig{}, StatusInvalidParam},
		{"set_cam_parameter bad type", `{"cmd":"set_cam_parameter","msgid":1,"activity":"yes"}`, &SetCamParameter{}, StatusInvalidParam},
		{"bye unknown reason", `{"cmd":"bye","msgid":1,"reason":"LATER"}`, &Bye{}, StatusInvalidParam},
		{"hello without sid", `{"cmd":"hello","msgid":1,"status":"OK"}`, &Hello{}, StatusMissedParam},
		{"cam_hello without cam_id", `{"cmd":"cam_hello","msgid":1,"path":"p"}`, &CamHello{}, StatusMissedParam},
		{"get_stream_caps empty list", `{"cmd":"get_stream_caps","msgid":1,"video_es":[]}`, &GetStreamCaps{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeMessage([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			err = m.Decode(c.body)
			if c.status == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Status != c.status {
				t.Fatalf("err = %v, want %s", err, c.status)
			}
			if r := DoneErr(err); r.status != c.status {
				t.Errorf("DoneErr status %s", r.status)
			}
		})
	}
	m, _ := DecodeMessage([]byte(`{"cmd":"get_stream_caps","msgid":1,"video_es":[]}`))
	var sel GetStreamCaps
	m.Decode(&sel)
	if sel.VideoES == nil || len(*sel.VideoES) != 0 || sel.AudioES != nil {
		t.Errorf("empty vs absent list lost: %+v", sel)
	}
	var ss StreamStart
	m, _ = DecodeMessage([]byte(`{"cmd":"stream_start","msgid":1,"stream_id":"Main","reason":"live","publish_session_id":4711.0}`))
	if err := m.Decode(&ss); err != nil || ss.PublishSessionID != 4711 {
		t.Errorf("psid %d err %v", ss.PublishSessionID, err)
	}
}

func TestEncodeMessage(t *testing.T) {
	out, err := EncodeMessage(Envelope{Cmd: CmdSupportedStreams, MsgID: 3, RefID: 2, OrigCmd: CmdGetSupportedStreams, CamID: 9},
		SupportedStreams{Streams: []StreamInfo{{ID: "Main", Video: "MainVideo"}}, VideoES: []string{"MainVideo"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "null") || !strings.Contains(string(out), `"audio_es":[]`) || strings.Contains(string(out), `"audio":`) {
		t.Errorf("got %s", out)
	}
	out, err = EncodeMessage(Envelope{Cmd: "cam_event", MsgID: 4, CamID: 9}, map[string]any{"event": "motion", "meta": nil, "cmd": "evil", "msgid": 99})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(out, &got)
	if got["cmd"] != "cam_event" || got["msgid"] != 4.0 || got["event"] != "motion" || len(got) != 4 {
		t.Errorf("got %s", out)
	}
	if _, err := EncodeMessage(Envelope{Cmd: "x"}, []int{1}); err == nil {
		t.Error("non-object body accepted")
	}
	out, _ = EncodeMessage(Envelope{Cmd: CmdBye, MsgID: 10}, Bye{Reason: ByeShutdown})
	if string(out) != `{"cmd":"bye","msgid":10,"reason":"SHUTDOWN"}` {
		t.Errorf("got %s", out)
	}
}

// TestCapsNeverNull: required lists of stream_caps entries go out as [],
// never null (docs/protocol.md#conventions), even when a handler left them unset.
func TestCapsNeverNull(t *testing.T) {
	b, err := EncodeMessage(Envelope{Cmd: CmdStreamCaps, MsgID: 1}, StreamCaps{CapsVideo: []VideoCaps{{}}, CapsAudio: []AudioCaps{{}}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("null")) {
		t.Errorf("null in %s", b)
	}
}
