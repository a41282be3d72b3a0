package uplink_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// requestCases sends each command the camera serves, with a valid body,
// and names the Go type the Handler must receive it as.
var requestCases = []struct {
	cmd   string
	body  map[string]any
	typ   string
	check func(uplink.Request) bool // what the decoded value must carry; nil = nothing
}{
	{uplink.CmdGetCamStatus, nil, "*uplink.GetCamStatus", nil},
	{uplink.CmdSetCamParameter, map[string]any{"activity": false}, "*uplink.SetCamParameter",
		func(r uplink.Request) bool { a := r.(*uplink.SetCamParameter).Activity; return a != nil && !*a }},
	{uplink.CmdGetSupportedStreams, nil, "*uplink.GetSupportedStreams", nil},
	{uplink.CmdGetStreamCaps, map[string]any{"video_es": []string{"MainVideo"}}, "*uplink.GetStreamCaps",
		func(r uplink.Request) bool {
			v := r.(*uplink.GetStreamCaps).VideoES
			return v != nil && slices.Equal(*v, []string{"MainVideo"})
		}},
	{uplink.CmdGetStreamConfig, nil, "*uplink.GetStreamConfig",
		func(r uplink.Request) bool { return r.(*uplink.GetStreamConfig).VideoES == nil }},
	{uplink.CmdSetStreamConfig, map[string]any{"video": []any{map[string]any{"stream": "MainVideo", "fps": 10}}}, "*uplink.SetStreamConfig",
		func(r uplink.Request) bool {
			v := r.(*uplink.SetStreamConfig).Video
			return len(v) == 1 && *v[0].FPS == 10
		}},
	{uplink.CmdStreamStart, map[string]any{"stream_id": "Main", "reason": "record", "publish_session_id": 7}, "*uplink.StreamStart",
		func(r uplink.Request) bool {
			return *r.(*uplink.StreamStart) == uplink.StreamStart{Head: r.Header(), StreamID: "Main", Reason: uplink.ReasonRecord, PublishSessionID: 7}
		}},
	{uplink.CmdStreamStop, map[string]any{"stream_id": "Main", "reason": "live"}, "*uplink.StreamStop",
		func(r uplink.Request) bool { return r.(*uplink.StreamStop).Reason == uplink.ReasonLive }},
	{uplink.CmdGetCamVideoConf, nil, "*uplink.GetCamVideoConf", nil},
	{uplink.CmdSetCamVideoConf, map[string]any{"brightness": 40}, "*uplink.SetCamVideoConf",
		func(r uplink.Request) bool { b := r.(*uplink.SetCamVideoConf).Brightness; return b != nil && *b == 40 }},
	{uplink.CmdGetCamAudioConf, nil, "*uplink.GetCamAudioConf", nil},
	{uplink.CmdSetCamAudioConf, map[string]any{"mic_mute": true}, "*uplink.SetCamAudioConf",
		func(r uplink.Request) bool { m := r.(*uplink.SetCamAudioConf).MicMute; return m != nil && *m }},
	{uplink.CmdGetPTZConf, nil, "*uplink.GetPTZConf", nil},
	{uplink.CmdCamPTZ, map[string]any{"action": "left", "tm": 500}, "*uplink.CamPTZ",
		func(r uplink.Request) bool {
			p := r.(*uplink.CamPTZ)
			return p.Action == uplink.PTZLeft && *p.TM == 500
		}},
	{uplink.CmdCamPTZPreset, map[string]any{"action": "goto", "token": "p1"}, "*uplink.CamPTZPreset",
		func(r uplink.Request) bool { return r.(*uplink.CamPTZPreset).Token == "p1" }},
	{uplink.CmdGetMotionDetection, nil, "*uplink.GetMotionDetection", nil},
	{uplink.CmdSetMotionDetection, map[string]any{"regions": []any{}}, "*uplink.SetMotionDetection", nil},
	{uplink.CmdGetAudioDetection, nil, "*uplink.GetAudioDetection", nil},
	{uplink.CmdSetAudioDetection, map[string]any{"level": 40}, "*uplink.SetAudioDetection", nil},
	{uplink.CmdGetCamEvents, nil, "*uplink.GetCamEvents", nil},
	{uplink.CmdSetCamEvents, map[string]any{"enabled": true}, "*uplink.SetCamEvents", nil},
	{uplink.CmdCamTriggerEvent, map[string]any{"event": "doorbell"}, "*uplink.CamTriggerEvent",
		func(r uplink.Request) bool { return r.(*uplink.CamTriggerEvent).Event == "doorbell" }},
	{uplink.CmdGetStreamByEvent, nil, "*uplink.GetStreamByEvent", nil},
	{uplink.CmdSetStreamByEvent, map[string]any{"stream_id": "Main", "post_event": 20000}, "*uplink.SetStreamByEvent", nil},
	{uplink.CmdGetOSDConf, nil, "*uplink.GetOSDConf", nil},
	{uplink.CmdSetOSDConf, map[string]any{"time": true}, "*uplink.SetOSDConf", nil},
	{uplink.CmdCamUpdatePreview, nil, "*uplink.CamUpdatePreview", nil},
	{uplink.CmdCamGetLog, nil, "*uplink.CamGetLog", nil},
	{uplink.CmdGetCamMemorycardTimeline, map[string]any{"request_id": "tl-5521", "start": "20240314T000000.000", "end": "20240314T120000.000"},
		"*uplink.GetCamMemorycardTimeline", func(r uplink.Request) bool {
			g := r.(*uplink.GetCamMemorycardTimeline)
			return g.RequestID == "tl-5521" && g.End.Sub(g.Start.Time) == 12*time.Hour
		}},
	{uplink.CmdCamMemorycardRecording, map[string]any{"stream_id": "Main", "enabled": true}, "*uplink.CamMemorycardRecording",
		func(r uplink.Request) bool {
			c := r.(*uplink.CamMemorycardRecording)
			return c.StreamID == "Main" && c.Enabled
		}},
	{uplink.CmdCamMemorycardSynchronize, map[string]any{"request_id": "s-1", "start": "20240314T090000.000", "end": "20240314T091000.000"},
		"*uplink.CamMemorycardSynchronize", func(r uplink.Request) bool {
			c := r.(*uplink.CamMemorycardSynchronize)
			return c.RequestID == "s-1" && c.End.Sub(c.Start.Time) == 10*time.Minute
		}},
	{uplink.CmdCamMemorycardSynchronizeCancel, map[string]any{"request_id": "s-1"}, "*uplink.CamMemorycardSynchronizeCancel",
		func(r uplink.Request) bool { return r.(*uplink.CamMemorycardSynchronizeCancel).RequestID == "s-1" }},
	{uplink.CmdCamFormatMemorycard, nil, "*uplink.CamFormatMemorycard", nil},
}

// Each command the spec gives the camera reaches the Handler as its own Go
// type, decoded with its envelope; a command without a type is answered
// NOT_SUPPORTED and never reaches the Handler (docs/protocol.md#errors).
func TestRequestTypes(t *testing.T) {
	var names []string
	types := map[string]string{}
	for _, c := range requestCases {
		names = append(names, c.cmd)
		if other, dup := types[c.typ]; dup {
			t.Errorf("%s and %s share type %s", c.cmd, other, c.typ)
		}
		types[c.typ] = c.cmd
	}
	slices.Sort(names)
	if !slices.Equal(names, uplink.KnownRequests()) {
		t.Fatalf("cases cover %v, uplink knows %v", names, uplink.KnownRequests())
	}

	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	a.readyOn(t, sim)
	for _, c := range requestCases {
		t.Run(c.cmd, func(t *testing.T) {
			rep, err := sim.Request(ctxT(t), sim.CamID(), c.cmd, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := rep["status"].(string); s == uplink.StatusMissedParam || s == uplink.StatusInvalidParam {
				t.Fatalf("valid %s refused: %v", c.cmd, rep)
			}
			a.h.mu.Lock()
			req := a.h.reqs[len(a.h.reqs)-1]
			a.h.mu.Unlock()
			if got := fmt.Sprintf("%T", req); got != c.typ || req.Cmd() != c.cmd {
				t.Fatalf("handler got %s (%s), want %s", got, req.Cmd(), c.typ)
			}
			if h := req.Header(); h.CamID != sim.CamID() || h.MsgID == 0 || fmt.Sprint(rep["refid"]) != fmt.Sprint(h.MsgID) {
				t.Errorf("header %+v, reply %v", h, rep)
			}
			if c.check != nil && !c.check(req) {
				t.Errorf("decoded %+v", req)
			}
		})
	}

	n := len(a.h.seen())
	for _, cmd := range []string{"cam_future_feature", "raw_message"} {
		rep, err := sim.Request(ctxT(t), sim.CamID(), cmd, map[string]any{"x": 1})
		if err != nil {
			t.Fatal(err)
		}
		if rep["cmd"] != uplink.CmdDone || rep["status"] != uplink.StatusNotSupported {
			t.Errorf("%s answered %v, want done NOT_SUPPORTED", cmd, rep)
		}
	}
	if seen := a.h.seen(); len(seen) != n {
		t.Errorf("handler saw unknown commands: %v", seen[n:])
	}
}
