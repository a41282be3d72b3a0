package cloudsim

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// readyAgent drives a raw agent through register and cam_register; it
// returns the agent and its next msgid.
func readyAgent(t *testing.T, s *Server) (*rawAgent, int) {
	t.Helper()
	a, _, err := dialRaw(t, s, "/ctl/NEW/"+s.Secret()+"/")
	if err != nil {
		t.Fatal(err)
	}
	a.send(register(nil, s))
	cfg, hello := a.recv(), a.recv()
	a.send(map[string]any{"cmd": "done", "msgid": 2, "refid": cfg["msgid"], "orig_cmd": "configure", "status": "OK"})
	a.send(map[string]any{"cmd": "done", "msgid": 3, "refid": hello["msgid"], "orig_cmd": "hello", "status": "OK"})
	a.send(map[string]any{"cmd": "cam_register", "msgid": 4, "ip": "1.2.3.4", "uuid": s.opts.UUID, "brand": "b", "model": "m", "sn": "s", "version": "1"})
	ch := a.recv()
	a.send(map[string]any{"cmd": "done", "msgid": 5, "refid": ch["msgid"], "orig_cmd": "cam_hello", "cam_id": s.CamID(), "status": "OK"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx, s.CamID()); err != nil {
		t.Fatal(err)
	}
	return a, 6
}

// specVectors returns the docs/protocol.md#events/#stream-by-event vector messages by id.
func specVectors(t *testing.T) map[string]map[string]any {
	b, err := os.ReadFile("../testdata/camera_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		ID      string         `json:"id"`
		Message map[string]any `json:"message"`
	}
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, v := range vs {
		out[v.ID] = v.Message
	}
	return out
}

// answer makes the raw agent answer the next cloud request with reply
// (refid, orig_cmd and cam_id filled in) while s.Request waits for it.
func answer(t *testing.T, s *Server, a *rawAgent, msgid *int, cmd string, body any, reply map[string]any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		m   map[string]any
		err error
	}
	res := make(chan result, 1)
	go func() {
		m, err := s.Request(ctx, s.CamID(), cmd, body)
		res <- result{m, err}
	}()
	req := a.recv()
	if req["cmd"] != cmd {
		t.Fatalf("agent got %v, want %s", req, cmd)
	}
	out := map[string]any{}
	for k, v := range reply {
		out[k] = v
	}
	out["msgid"], out["refid"], out["orig_cmd"], out["cam_id"] = *msgid, req["msgid"], cmd, s.CamID()
	*msgid++
	a.send(out)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.m
}

func TestCamEventChecks(t *testing.T) {
	s := newTestServer(t, Options{})
	a, msgid := readyAgent(t, s)
	vec := specVectors(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// sendEvent sends ev as the next cam_event and returns the violations it caused.
	sendEvent := func(ev map[string]any, edit func(map[string]any)) []string {
		t.Helper()
		m := map[string]any{}
		b, _ := json.Marshal(ev)
		json.Unmarshal(b, &m)
		if edit != nil {
			edit(m)
		}
		id := msgid
		msgid++
		m["msgid"], m["cam_id"] = id, s.CamID()
		before := len(s.Violations())
		a.send(m)
		if _, err := s.WaitEvent(ctx, func(e map[string]any) bool { return e["msgid"] == json.Number(jsonNum(id)) }); err != nil {
			t.Fatalf("event %d not recorded: %v", id, err)
		}
		return s.Violations()[before:]
	}

	// Before any cam_events_conf nothing but record may be sent.
	noSnapshot := func(m map[string]any) { delete(m, "snapshot_info") }
	if v := sendEvent(vec["v111"], noSnapshot); len(v) != 1 || !strings.Contains(v[0], "before any cam_events_conf") {
		t.Errorf("event before conf: %q", v)
	}
	if v := sendEvent(vec["v118"], nil); len(v) != 0 {
		t.Errorf("record before conf: %q", v)
	}

	conf := vec["v108"]
	answer(t, s, a, &msgid, "get_cam_events", nil, map[string]any{"cmd": "cam_events_conf", "enabled": conf["enabled"], "events": conf["events"]})
	for _, id := range []string{"v111", "v114", "v119", "v120", "v121", "v122", "v123", "v128"} {
		if v := sendEvent(vec[id], nil); len(v) != 0 {
			t.Errorf("%s: valid event flagged: %q", id, v)
		}
	}

	bad := []struct {
		name string
		ev   string
		edit func(map[string]any)
		want string
	}{
		{"undeclared", "v124", nil, "not declared"},
		{"inactive", "v115", nil, "declared inactive"},
		{"motion without motion_info", "v111", func(m map[string]any) { delete(m, "motion_info"); delete(m, "snapshot_info") }, "without motion_info"},
		{"time as string", "v120", func(m map[string]any) { m["time"] = "1710408301" }, "epoch-float"},
		{"no time", "v120", func(m map[string]any) { delete(m, "time") }, "epoch-float"},
		{"unknown status", "v120", func(m map[string]any) { m["status"] = "FINE" }, "want OK or ERROR"},
		{"error without description", "v128", func(m map[string]any) { delete(m, "error_description") }, "without error_description"},
		{"snapshot without size", "v123", func(m map[string]any) {
			m["time"] = 1710408481.0
			m["snapshot_info"] = map[string]any{"image_time": "20240314T092801.000", "width": 800, "height": 600}
		}, "snapshot_info.size"},
		{"image_time two digits", "v123", func(m map[string]any) {
			m["time"] = 1710408482.5
			m["snapshot_info"].(map[string]any)["image_time"] = "20240314T092802.50"
		}, "not packed-time"},
		{"image_time not event time", "v123", func(m map[string]any) {
			m["time"] = 1710408483.0
			m["snapshot_info"].(map[string]any)["image_time"] = "20240314T092804.000"
		}, "differs from time"},
		{"image_time reused", "v123", nil, "reused"},
		{"snapshot event without image", "v123", func(m map[string]any) { delete(m, "snapshot_info") }, "without snapshot_info"},
		{"snapshot on a snapshot:false event", "v120", func(m map[string]any) {
			m["time"] = 1710408485.0
			m["snapshot_info"] = map[string]any{"image_time": "20240314T092805.000", "width": 8, "height": 6, "size": 100}
		}, "snapshot:false"},
		{"record without stream", "v118", func(m map[string]any) { delete(m["record_info"].(map[string]any), "stream_id") }, "stream_id"},
		{"wifi encryption not in caps", "v122", func(m map[string]any) { m["wifi_info"].(map[string]any)["encryption"] = "WEP" }, "encryption_caps"},
		{"memorycard underscore state", "v121", func(m map[string]any) { m["memorycard_info"].(map[string]any)["status"] = "need_format" }, "memorycard_info.status"},
	}
	for _, c := range bad {
		v := sendEvent(vec[c.ev], c.edit)
		if len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), c.want) {
			t.Errorf("%s: violations %q, want %q", c.name, v, c.want)
		}
	}

	// Once motion_detection_conf told the grid, motion maps and region
	// names are checked against it.
	mc := vec["v096"]
	answer(t, s, a, &msgid, "get_motion_detection", nil, map[string]any{"cmd": "motion_detection_conf",
		"columns": mc["columns"], "rows": mc["rows"], "caps": mc["caps"], "regions": mc["regions"]})
	motion := func(info map[string]any) func(map[string]any) {
		return func(m map[string]any) { delete(m, "snapshot_info"); m["motion_info"] = info }
	}
	if v := sendEvent(vec["v114"], motion(map[string]any{"map": "0TE=", "regions": []any{"region_0"}})); len(v) != 0 {
		t.Errorf("valid motion map flagged: %q", v)
	}
	for _, c := range []struct {
		info map[string]any
		want string
	}{
		{map[string]any{"map": "AzAx"}, "literal cut short"},
		{map[string]any{"map": "0TA"}, "base64"},
		{map[string]any{"map": "/wA="}, "is byte 0x00"},
		{map[string]any{"regions": []any{"region_9"}}, "not a region"},
	} {
		v := sendEvent(vec["v114"], motion(c.info))
		if len(v) != 1 || !strings.Contains(v[0], c.want) {
			t.Errorf("motion_info %v: violations %q, want %q", c.info, v, c.want)
		}
	}

	// An accepted set_cam_events activates sound (docs/protocol.md#set-cam-events); a rejected one changes nothing.
	set := vec["v109"]
	body := map[string]any{"enabled": true, "events": set["events"]}
	answer(t, s, a, &msgid, "set_cam_events", map[string]any{"enabled": false}, map[string]any{"cmd": "done", "status": "INVALID_PARAM"})
	if v := sendEvent(vec["v120"], nil); len(v) != 0 {
		t.Errorf("rejected set_cam_events applied: %q", v)
	}
	answer(t, s, a, &msgid, "set_cam_events", body, map[string]any{"cmd": "done", "status": "OK"})
	if v := sendEvent(vec["v115"], nil); len(v) != 0 {
		t.Errorf("sound after set_cam_events: %q", v)
	}
	answer(t, s, a, &msgid, "set_cam_events", map[string]any{"enabled": false}, map[string]any{"cmd": "done", "status": "OK"})
	if v := sendEvent(vec["v120"], nil); len(v) != 1 || !strings.Contains(v[0], "disabled") {
		t.Errorf("event while disabled: %q", v)
	}

	// A bad cam_events_conf is itself a violation.
	before := len(s.Violations())
	answer(t, s, a, &msgid, "get_cam_events", nil, map[string]any{"cmd": "cam_events_conf", "enabled": "yes", "events": []any{
		map[string]any{"event": "motion", "active": true, "stream": true, "snapshot": false,
			"caps": map[string]any{"stream": false, "snapshot": false, "periodic": false, "trigger": false}},
		map[string]any{"event": "snapshot", "active": true, "stream": false, "snapshot": true,
			"caps": map[string]any{"stream": false, "snapshot": true, "periodic": true, "trigger": false}},
	}})
	v := strings.Join(s.Violations()[before:], "\n")
	for _, want := range []string{"enabled yes is not a bool", "beyond its caps", "snapshot period"} {
		if !strings.Contains(v, want) {
			t.Errorf("cam_events_conf violation %q missing in %q", want, v)
		}
	}
	if n := len(s.Events()); n != 2+8+len(bad)+5+3 {
		t.Errorf("Events() has %d", n)
	}
	s.violations = nil // the test's own deliberate mistakes
}
