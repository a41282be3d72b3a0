package agent

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// Each test drives settings commands from the simulated cloud over the
// WebSocket, through the real agent, over SOAP to the simulated camera,
// and checks both what the camera saw and what the cloud was told.

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

func wantDone(t *testing.T, rep map[string]any, cmd, status string) {
	t.Helper()
	if rep["cmd"] != "done" || rep["orig_cmd"] != cmd || rep["status"] != status {
		t.Errorf("%s: got %v, want done %s", cmd, rep, status)
	}
}

// wantFields checks reply fields by their JSON form.
func wantFields(t *testing.T, rep map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := mustJSON(t, rep[k]); got != v {
			t.Errorf("%s.%s = %s, want %s", rep["cmd"], k, got, v)
		}
	}
}

// soapHas checks that the camera's last request for action contains every part.
func soapHas(t *testing.T, r *rig.Rig, action string, parts ...string) {
	t.Helper()
	req := r.ONVIF.LastRequest(action)
	if req == "" {
		t.Errorf("camera received no %s", action)
		return
	}
	for _, p := range parts {
		if !strings.Contains(req, p) {
			t.Errorf("%s request lacks %q:\n%s", action, p, req)
		}
	}
}

func countAction(r *rig.Rig, action string) int {
	n := 0
	for _, a := range r.ONVIF.Requests() {
		if a == action {
			n++
		}
	}
	return n
}

func TestSettingsReachTheCamera(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
		// The encoder silently caps bitrates, as sensor-mode-limited cameras do.
		o.MaxBitrateKbps = 1500
	}})
	waitReady(t, r)

	t.Run("video conf", func(t *testing.T) {
		rep := request(t, r, "get_cam_video_conf", nil)
		if rep["cmd"] != "cam_video_conf" {
			t.Fatalf("get_cam_video_conf: %v", rep)
		}
		// Sharpness 8 on the camera's 0..15 scale is 53 %.
		wantFields(t, rep, map[string]string{
			"brightness": "50", "contrast": "50", "saturation": "50", "sharpness": "53", "tdn": `"auto"`,
			"vert_flip": `"off"`, "horz_flip": `"off"`, "ir_light": "null", "pwr_frequency": "null",
			"caps": `{"brightness":true,"contrast":true,"horz_flip":["off","on"],"ir_light":[],"nr_level":false,"nr_type":[],` +
				`"pwr_frequency":false,"saturation":true,"sharpness":true,"tdn":["day","night","auto"],"vert_flip":["off","on"],"wb_type":[]}`,
		})

		rep = request(t, r, "set_cam_video_conf", map[string]any{"brightness": 70, "sharpness": 50, "tdn": "night", "vert_flip": "on", "horz_flip": "on"})
		wantDone(t, rep, "set_cam_video_conf", "OK")
		soapHas(t, r, "SetImagingSettings", ">70<", ">8<", ">OFF<", "ForcePersistence")
		soapHas(t, r, "SetVideoSourceConfiguration", ">ON<", ">180<")
		im := r.ONVIF.Imaging()
		if im.Brightness != 70 || im.Sharpness != 8 || im.IRCutFilter != "OFF" {
			t.Errorf("camera imaging after set: %+v", im)
		}
		if mode, deg := r.ONVIF.Rotation(); mode != "ON" || deg != 180 {
			t.Errorf("camera rotation %s %d, want ON 180", mode, deg)
		}
		// 50 % of 0..15 is 7.5, sent as 8: the cloud reads back 53 %, what the camera holds.
		rep = request(t, r, "get_cam_video_conf", nil)
		wantFields(t, rep, map[string]string{"brightness": "70", "sharpness": "53", "tdn": `"night"`, "vert_flip": `"on"`, "horz_flip": `"on"`})

		sets := countAction(r, "SetImagingSettings") + countAction(r, "SetVideoSourceConfiguration")
		for _, c := range []struct {
			name string
			body map[string]any
		}{
			{"single flip", map[string]any{"vert_flip": "off"}},
			{"flips differ", map[string]any{"vert_flip": "on", "horz_flip": "off"}},
			{"auto flip not offered", map[string]any{"vert_flip": "auto", "horz_flip": "auto"}},
			{"ir light not offered", map[string]any{"ir_light": "on"}},
			{"power frequency not offered", map[string]any{"pwr_frequency": 50}},
			{"percentage outside 0..100", map[string]any{"contrast": 101}},
		} {
			wantDone(t, request(t, r, "set_cam_video_conf", c.body), "set_cam_video_conf", "INVALID_PARAM")
		}
		if n := countAction(r, "SetImagingSettings") + countAction(r, "SetVideoSourceConfiguration"); n != sets {
			t.Errorf("refused requests still reached the camera (%d set requests, want %d)", n, sets)
		}
	})

	t.Run("audio conf", func(t *testing.T) {
		rep := request(t, r, "get_cam_audio_conf", nil)
		wantFields(t, rep, map[string]string{
			"cmd": `"cam_audio_conf"`, "spkr_vol": "50", "mic_gain": "null", "echo_cancel": "null",
			"caps": `{"backward":false,"echo_cancel":[],"mic":true,"spkr":true}`,
		})
		wantDone(t, request(t, r, "set_cam_audio_conf", map[string]any{"spkr_vol": 80}), "set_cam_audio_conf", "OK")
		soapHas(t, r, "SetAudioOutputConfiguration", "<tt:OutputLevel>80<")
		if v := r.ONVIF.AudioOutputLevel(); v != 80 {
			t.Errorf("camera speaker level %d, want 80", v)
		}
		wantFields(t, request(t, r, "get_cam_audio_conf", nil), map[string]string{"spkr_vol": "80"})
		wantDone(t, request(t, r, "set_cam_audio_conf", map[string]any{"mic_mute": true}), "set_cam_audio_conf", "NOT_SUPPORTED")
	})

	t.Run("ptz", func(t *testing.T) {
		rep := request(t, r, "get_ptz_conf", nil)
		wantFields(t, rep, map[string]string{
			"cmd":     `"cam_ptz_conf"`,
			"actions": `["left","right","top","bottom","zoom_in","zoom_out","stop"]`, "maximum_number_of_presets": "8", "presets": "[]",
		})

		// Right for 200 ms at half speed: the head turns 0.1 of the generic space and stops.
		wantDone(t, request(t, r, "cam_ptz", map[string]any{"action": "right", "tm": 200}), "cam_ptz", "OK")
		soapHas(t, r, "ContinuousMove", `x="0.5"`, `y="0"`, "PT0.2S")
		eventually(t, "pan reaches 0.1", func() bool { p, _, _ := r.ONVIF.PTZPosition(); return p >= 0.1-1e-9 })
		if p, tilt, z := r.ONVIF.PTZPosition(); math.Abs(p-0.1) > 1e-6 || tilt != 0 || z != 0 {
			t.Errorf("head at %v/%v/%v after a 200 ms right move, want pan 0.1", p, tilt, z)
		}

		created := request(t, r, "cam_ptz_preset", map[string]any{"action": "create", "name": "Gate 2"})
		if created["cmd"] != "cam_ptz_preset_created" || created["token"] == "" {
			t.Fatalf("create reply %v", created)
		}
		soapHas(t, r, "SetPreset", "<PresetName", ">Gate 2<")
		token := created["token"].(string)

		// Without tm a move is bounded by the default timeout until stop.
		wantDone(t, request(t, r, "cam_ptz", map[string]any{"action": "zoom_in"}), "cam_ptz", "OK")
		soapHas(t, r, "ContinuousMove", `<tt:Zoom x="0.5"`, "PT10S")
		moves := r.ONVIF.Moves()
		if m := moves[len(moves)-1]; m.Zoom != 0.5 || m.Pan != 0 || !m.HasTimeout || m.Timeout != 10*time.Second {
			t.Errorf("camera saw move %+v, want zoom 0.5 for 10 s", m)
		}
		wantDone(t, request(t, r, "cam_ptz", map[string]any{"action": "stop"}), "cam_ptz", "OK")
		soapHas(t, r, "Stop", ">true<")
		_, _, zoomed := r.ONVIF.PTZPosition()
		if zoomed <= 0 {
			t.Errorf("zoom %v after zoom_in, want > 0", zoomed)
		}
		eventually(t, "zoom stays after stop", func() bool { _, _, z := r.ONVIF.PTZPosition(); return z == zoomed })

		wantDone(t, request(t, r, "cam_ptz_preset", map[string]any{"action": "goto", "token": token}), "cam_ptz_preset", "OK")
		soapHas(t, r, "GotoPreset", ">"+token+"<")
		if p, _, z := r.ONVIF.PTZPosition(); math.Abs(p-0.1) > 1e-6 || z != 0 {
			t.Errorf("head at pan %v zoom %v after goto, want the preset's 0.1 / 0", p, z)
		}
		wantDone(t, request(t, r, "cam_ptz_preset", map[string]any{"action": "update", "token": token, "name": "Driveway"}), "cam_ptz_preset", "OK")
		rep = request(t, r, "get_ptz_conf", nil)
		if got := mustJSON(t, rep["presets"]); !strings.Contains(got, `{"name":"Driveway","token":"`+token+`"}`) {
			t.Errorf("presets after update: %s", got)
		}
		wantDone(t, request(t, r, "cam_ptz_preset", map[string]any{"action": "delete", "token": token}), "cam_ptz_preset", "OK")
		soapHas(t, r, "RemovePreset", ">"+token+"<")
		if got := mustJSON(t, request(t, r, "get_ptz_conf", nil)["presets"]); strings.Contains(got, token) {
			t.Errorf("presets after delete: %s", got)
		}
		// The camera refuses an unknown token: the cloud sent a bad parameter.
		wantDone(t, request(t, r, "cam_ptz_preset", map[string]any{"action": "goto", "token": "nope"}), "cam_ptz_preset", "INVALID_PARAM")
		wantDone(t, request(t, r, "cam_ptz", map[string]any{"action": "spin"}), "cam_ptz", "INVALID_PARAM")
	})

	t.Run("osd", func(t *testing.T) {
		rep := request(t, r, "get_osd_conf", nil)
		wantFields(t, rep, map[string]string{
			"cmd": `"osd_conf"`, "system_id": "true", "system_id_text": `"Camera 1"`, "time": "true", "date": "true",
			"time_format": `"24h"`, "date_format": `"YYYY-MM-DD"`, "font_size": `"Normal"`, "font_color": `"White"`,
			"bkg_transp": "true", "alignment": `"UpperLeft"`,
			"caps": `{"alignment":["UpperLeft","UpperRight","LowerLeft","LowerRight"],` +
				`"bkg_color":[["White","FFFFFF"],["Black","000000"],["Red","FE0000"]],"bkg_transp":true,` +
				`"date":true,"date_format":["YYYY-MM-DD","MM/DD/YYYY","DD/MM/YYYY"],` +
				`"font_color":[["White","FFFFFF"],["Black","000000"],["Red","FE0000"]],"font_size":["Small","Normal","Big"],` +
				`"system_id":true,"system_id_text":true,"time":true,"time_format":["24h","12h"]}`,
		})

		wantDone(t, request(t, r, "set_osd_conf", map[string]any{"time_format": "12h", "alignment": "LowerRight", "date": false,
			"font_color": "Red", "system_id_text": "Gate 3"}), "set_osd_conf", "OK")
		soapHas(t, r, "SetOSD", "PlainText", ">Gate 3<", `Y="90"`)
		osds := r.ONVIF.OSDs()
		if len(osds) != 2 || osds[0].TextType != "Time" || osds[0].TimeFormat != "hh:mm:ss tt" || osds[0].Position != "LowerRight" ||
			osds[1].Text != "Gate 3" {
			t.Errorf("camera overlays after set: %+v", osds)
		}
		wantFields(t, request(t, r, "get_osd_conf", nil), map[string]string{
			"time": "true", "date": "false", "time_format": `"12h"`, "alignment": `"LowerRight"`, "font_color": `"Red"`, "system_id_text": `"Gate 3"`,
		})

		wantDone(t, request(t, r, "set_osd_conf", map[string]any{"system_id": false, "time": false, "font_size": "Big"}), "set_osd_conf", "OK")
		if osds := r.ONVIF.OSDs(); len(osds) != 0 {
			t.Errorf("overlays left after turning everything off: %+v", osds)
		}
		wantDone(t, request(t, r, "set_osd_conf", map[string]any{"date": true, "time": true, "date_format": "DD/MM/YYYY", "bkg_transp": false}),
			"set_osd_conf", "OK")
		soapHas(t, r, "CreateOSD", ">DateAndTime<", ">dd/MM/yyyy<", `Transparent="0"`)
		wantFields(t, request(t, r, "get_osd_conf", nil), map[string]string{
			"time": "true", "date": "true", "date_format": `"DD/MM/YYYY"`, "system_id": "false", "bkg_transp": "false", "bkg_color": `"White"`,
		})

		// A new system id overlay shows the camera's name, clear of the clock.
		wantDone(t, request(t, r, "set_osd_conf", map[string]any{"system_id": true}), "set_osd_conf", "OK")
		soapHas(t, r, "CreateOSD", ">Plain<", ">demo<", ">UpperRight<")
		wantFields(t, request(t, r, "get_osd_conf", nil), map[string]string{"system_id": "true", "system_id_text": `"demo"`, "alignment": `"UpperLeft"`})

		for _, body := range []map[string]any{
			{"system_id": false, "system_id_text": "hidden"},
			{"font_color": "Purple"}, {"alignment": "Center"}, {"date_format": "YY.MM.DD"}, {"font_size": "Huge"},
		} {
			wantDone(t, request(t, r, "set_osd_conf", body), "set_osd_conf", "INVALID_PARAM")
		}
	})

	t.Run("stream config", func(t *testing.T) {
		rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live"})
		wantDone(t, rep, "stream_start", "OK")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
			t.Fatalf("no video at the ingest: %v", err)
		}

		// 2048 kbps is within the advertised range; the camera caps it at 1500.
		rep = request(t, r, "set_stream_config", map[string]any{"video": []any{
			map[string]any{"stream": "MainVideo", "horz": 1280, "vert": 720, "fps": 15, "gop": 30, "brt": 2048, "profile": "High"},
		}})
		wantDone(t, rep, "set_stream_config", "OK")
		soapHas(t, r, "SetVideoEncoderConfiguration", "<tt:Width>1280<", "<tt:Height>720<", ">15<", ">2048<", ">30<", ">High<", "ForcePersistence")
		v := mustJSON(t, request(t, r, "get_stream_config", map[string]any{"video_es": []string{"MainVideo"}, "audio_es": []string{}})["video"])
		if want := `[{"brt":1500,"format":"H.264","fps":15.0,"gop":30,"horz":1280,"profile":"High","stream":"MainVideo","vbr":false,"vert":720}]`; v != want {
			t.Errorf("stream_config after set:\n got %s\nwant %s", v, want)
		}

		sets := countAction(r, "SetVideoEncoderConfiguration")
		for _, c := range []struct {
			entry  map[string]any
			status string
		}{
			{map[string]any{"stream": "MainVideo", "horz": 3840, "vert": 2160}, "INVALID_PARAM"},
			{map[string]any{"stream": "MainVideo", "fps": 60}, "INVALID_PARAM"},
			{map[string]any{"stream": "MainVideo", "brt": 20000}, "INVALID_PARAM"},
			{map[string]any{"stream": "MainVideo", "smoothing": 50}, "INVALID_PARAM"},
			{map[string]any{"stream": "NoSuchVideo", "fps": 10}, "INVALID_PARAM"},
			{map[string]any{"stream": "MainVideo", "format": "H.265"}, "NOT_SUPPORTED"},
			{map[string]any{"stream": "MainVideo", "format": "MJPEG"}, "NOT_SUPPORTED"},
			// The camera does not report CBR/VBR, so it cannot be switched.
			{map[string]any{"stream": "MainVideo", "vbr": true, "vbr_brt": 1000}, "NOT_SUPPORTED"},
		} {
			wantDone(t, request(t, r, "set_stream_config", map[string]any{"video": []any{c.entry}}), "set_stream_config", c.status)
		}
		if n := countAction(r, "SetVideoEncoderConfiguration"); n != sets {
			t.Errorf("refused changes reached the camera: %d set requests, want %d", n, sets)
		}

		rep = request(t, r, "set_stream_config", map[string]any{"audio": []any{map[string]any{"stream": "MainAudio", "brt": 32}}})
		wantDone(t, rep, "set_stream_config", "OK")
		soapHas(t, r, "SetAudioEncoderConfiguration", "<tt:Bitrate>32<")
		if a := mustJSON(t, request(t, r, "get_stream_config", map[string]any{"video_es": []string{}})["audio"]); !strings.Contains(a, `"brt":32`) {
			t.Errorf("stream_config audio after set: %s", a)
		}

		// Cameras restart their RTSP sessions to apply a new encoder setup;
		// the publish carries on through that (the simulated camera's picture
		// itself does not follow its ONVIF settings).
		r.RTSP.DropSessions()
		got := videoFrames(r.Ingest)
		if err := r.Ingest.WaitFrames(ctx, got+25); err != nil {
			t.Errorf("video stopped arriving after the encoder change: %v", err)
		}
		if n := len(r.Ingest.Publishes()); n != 1 {
			t.Errorf("%d publishes, want the one that was running", n)
		}
	})

	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// TestSettingsOnAFixedCamera: a camera without PTZ, OSD, imaging, rotation
// and speaker answers NOT_SUPPORTED where docs/protocol.md#commands says so, without guessing.
func TestSettingsOnAFixedCamera(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
		o.NoPTZ, o.NoOSD, o.NoImaging, o.NoRotate, o.NoAudioOutput = true, true, true, true, true
	}})
	waitReady(t, r)
	for _, c := range []struct {
		cmd  string
		body map[string]any
	}{
		{"get_ptz_conf", nil},
		{"cam_ptz", map[string]any{"action": "left", "tm": 100}},
		{"cam_ptz_preset", map[string]any{"action": "create", "name": "Gate"}},
		{"get_osd_conf", nil},
		{"set_osd_conf", map[string]any{"time": true}},
		{"get_cam_video_conf", nil},
		{"set_cam_video_conf", map[string]any{"brightness": 10}},
		{"set_cam_audio_conf", map[string]any{"spkr_vol": 10}},
	} {
		wantDone(t, request(t, r, c.cmd, c.body), c.cmd, "NOT_SUPPORTED")
	}
	if n := countAction(r, "ContinuousMove") + countAction(r, "SetOSD") + countAction(r, "CreateOSD"); n != 0 {
		t.Errorf("%d PTZ/OSD changes reached a camera without them", n)
	}
	wantFields(t, request(t, r, "get_cam_audio_conf", nil), map[string]string{
		"cmd": `"cam_audio_conf"`, "spkr_vol": "null", "caps": `{"backward":false,"echo_cancel":[],"mic":true,"spkr":false}`,
	})

	// A camera gone from the network: ERROR in time, and the operator sees why.
	r.ONVIF.Close()
	wantDone(t, request(t, r, "get_osd_conf", nil), "get_osd_conf", "ERROR")
	resp, err := http.Get(statusURL + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Cameras) != 1 || len(st.Cameras[0].Errors) == 0 || !strings.Contains(st.Cameras[0].Errors[0].What, "get_osd_conf failed") {
		t.Errorf("status page does not show the failed command: %+v", st.Cameras)
	}
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// TestImageSettingsWithoutImaging: a camera with rotation but no imaging
// service reports the flips only, and refuses picture levels as outside
// its caps.
func TestImageSettingsWithoutImaging(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.NoImaging = true }})
	waitReady(t, r)
	wantFields(t, request(t, r, "get_cam_video_conf", nil), map[string]string{
		"cmd": `"cam_video_conf"`, "vert_flip": `"off"`, "brightness": "null", "tdn": "null",
		"caps": `{"brightness":false,"contrast":false,"horz_flip":["off","on"],"ir_light":[],"nr_level":false,"nr_type":[],` +
			`"pwr_frequency":false,"saturation":false,"sharpness":false,"tdn":[],"vert_flip":["off","on"],"wb_type":[]}`,
	})
	wantDone(t, request(t, r, "set_cam_video_conf", map[string]any{"brightness": 10}), "set_cam_video_conf", "INVALID_PARAM")
	wantDone(t, request(t, r, "set_cam_video_conf", map[string]any{"tdn": "day"}), "set_cam_video_conf", "INVALID_PARAM")
	wantDone(t, request(t, r, "set_cam_video_conf", map[string]any{"vert_flip": "on", "horz_flip": "on"}), "set_cam_video_conf", "OK")
	if mode, deg := r.ONVIF.Rotation(); mode != "ON" || deg != 180 {
		t.Errorf("camera rotation %s %d, want ON 180", mode, deg)
	}
	if n := countAction(r, "SetImagingSettings"); n != 0 {
		t.Errorf("%d imaging requests reached a camera without imaging", n)
	}
}

// A cloud player sends cam_ptz for every tap on an arrow. The camera
// reads its PTZ node once and keeps it, so a tap costs one SOAP call, not
// three (GetProfiles, GetNode, the move). When the camera faults a move
// made with the kept node, the node is read again, once, and the tap still
// goes through.
func TestPTZTapCostsOneSOAPCall(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	ops := []string{"GetProfiles", "GetNode", "ContinuousMove", "Stop"}
	counts := func() (c [4]int) {
		for i, op := range ops {
			c[i] = r.ONVIF.Count(op)
		}
		return c
	}
	tap := func(body map[string]any) (calls [4]int) {
		t.Helper()
		before := counts()
		wantDone(t, request(t, r, "cam_ptz", body), "cam_ptz", "OK")
		after := counts()
		for i := range calls {
			calls[i] = after[i] - before[i]
		}
		return calls
	}
	check := func(what string, got, want [4]int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: camera got %v calls of %v, want %v", what, got, ops, want)
		}
	}

	check("first tap", tap(map[string]any{"action": "left", "tm": 100}), [4]int{1, 1, 1, 0})
	for _, a := range []string{"left", "right", "top", "bottom", "zoom_in", "zoom_out"} {
		check("tap "+a, tap(map[string]any{"action": a, "tm": 100}), [4]int{0, 0, 1, 0})
	}
	check("stop", tap(map[string]any{"action": "stop"}), [4]int{0, 0, 0, 1})

	r.ONVIF.FaultNext("ContinuousMove")
	check("tap after a fault", tap(map[string]any{"action": "right", "tm": 100}), [4]int{1, 1, 2, 0})
	check("tap after the node was read again", tap(map[string]any{"action": "right", "tm": 100}), [4]int{0, 0, 1, 0})
}
