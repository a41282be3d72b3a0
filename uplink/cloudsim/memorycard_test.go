package cloudsim

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// cam_format_memorycard is checked against the memorycard events around
// it: formatting, then normal, before the done OK; formatting never
// without a format in flight, nor left standing by an ERROR.
func TestFormatMemorycardChecks(t *testing.T) {
	s := newTestServer(t, Options{})
	a, msgid := readyAgent(t, s)
	vec := specVectors(t)
	conf := vec["v108"]
	answer(t, s, a, &msgid, "get_cam_events", nil, map[string]any{"cmd": "cam_events_conf", "enabled": conf["enabled"], "events": conf["events"]})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	event := func(status string) map[string]any {
		m := map[string]any{}
		b, _ := json.Marshal(vec["v121"])
		json.Unmarshal(b, &m)
		m["memorycard_info"].(map[string]any)["status"] = status
		m["msgid"], m["cam_id"] = msgid, s.CamID()
		msgid++
		return m
	}
	// format has the raw agent answer a cam_format_memorycard with the
	// memorycard statuses, then done status; it returns the violations.
	format := func(statuses []string, status string) []string {
		t.Helper()
		before := len(s.Violations())
		res := make(chan error, 1)
		go func() {
			_, err := s.Request(ctx, s.CamID(), "cam_format_memorycard", nil)
			res <- err
		}()
		req := a.recv()
		if req["cmd"] != "cam_format_memorycard" {
			t.Fatalf("agent got %v", req)
		}
		for _, st := range statuses {
			a.send(event(st))
		}
		a.send(map[string]any{"cmd": "done", "msgid": msgid, "refid": req["msgid"], "orig_cmd": "cam_format_memorycard",
			"cam_id": s.CamID(), "status": status})
		msgid++
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		return s.Violations()[before:]
	}

	if v := format([]string{"formatting", "normal"}, "OK"); len(v) != 0 {
		t.Errorf("formatting, normal, OK flagged: %q", v)
	}
	if v := format([]string{"formatting", "none"}, "ERROR"); len(v) != 0 {
		t.Errorf("formatting, none, ERROR flagged: %q", v)
	}
	bad := []struct {
		name     string
		statuses []string
		status   string
		want     string
	}{
		{"OK without events", nil, "OK", "want formatting then normal"},
		{"OK without normal", []string{"formatting"}, "OK", "want formatting then normal"},
		{"OK normal first", []string{"normal", "formatting"}, "OK", "want formatting then normal"},
		{"ERROR left formatting", []string{"formatting"}, "ERROR", "leaves the memory card formatting"},
	}
	for _, c := range bad {
		if v := format(c.statuses, c.status); !strings.Contains(strings.Join(v, "\n"), c.want) {
			t.Errorf("%s: violations %q, want %q", c.name, v, c.want)
		}
	}

	before := len(s.Violations())
	ev := event("formatting")
	a.send(ev)
	if _, err := s.WaitEvent(ctx, func(e map[string]any) bool { return e["msgid"] == json.Number(jsonNum(ev["msgid"])) }); err != nil {
		t.Fatal(err)
	}
	if v := s.Violations()[before:]; len(v) != 1 || !strings.Contains(v[0], "without a cam_format_memorycard in flight") {
		t.Errorf("formatting out of the blue: %q", v)
	}
}
