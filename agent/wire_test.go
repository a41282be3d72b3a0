package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/camagent/camagent/demo/rig"
)

// specVectors reads the spec's example messages (copies kept in uplink's
// testdata) by id, numbers as json.Number.
func specVectors(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, f := range []string{"../uplink/testdata/vectors.json", "../uplink/testdata/camera_vectors.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var vs []struct {
			ID      string         `json:"id"`
			Message map[string]any `json:"message"`
		}
		if err := dec.Decode(&vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			out[v.ID] = v.Message
		}
	}
	return out
}

// jsonKind names a decoded JSON value's type; numbers are int or float by
// how they were written.
func jsonKind(v any) string {
	switch v := v.(type) {
	case json.Number:
		if strings.ContainsAny(v.String(), ".eE") {
			return "float"
		}
		return "int"
	case string:
		return "string"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// sameShape reports where got differs in shape from the spec example
// want: a key the example does not have, a value of another JSON type
// (int versus float included), or a key of required missing. Arrays are
// compared element by element against the example's first element, so
// tuples like [w,h] and [min,max,step] are checked too. required maps a
// path ("", "caps_video[]") to the keys that must be there; an entry
// "path+key" names the JSON type of a key the example lacks.
func sameShape(path string, got, want any, required map[string][]string) []string {
	gk, wk := jsonKind(got), jsonKind(want)
	if gk != wk {
		return []string{fmt.Sprintf("%s: %s, spec has %s", orRoot(path), gk, wk)}
	}
	var diffs []string
	switch g := got.(type) {
	case map[string]any:
		w := want.(map[string]any)
		for k, v := range g {
			wv, ok := w[k]
			if !ok && required[path+"+"+k] != nil {
				// A field of the spec's table the example leaves out; its type is given.
				if kind := required[path+"+"+k][0]; jsonKind(v) != kind {
					diffs = append(diffs, fmt.Sprintf("%s: %s, spec has %s", join(path, k), jsonKind(v), kind))
				}
				continue
			}
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: key %q not in the spec example", orRoot(path), k))
				continue
			}
			diffs = append(diffs, sameShape(join(path, k), v, wv, required)...)
		}
		for _, k := range required[path] {
			if _, ok := g[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: required key %q missing", orRoot(path), k))
			}
		}
	case []any:
		w := want.([]any)
		if len(w) == 0 {
			break
		}
		for _, e := range g {
			diffs = append(diffs, sameShape(path+"[]", e, w[0], required)...)
		}
	}
	return diffs
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(p string) string {
	if p == "" {
		return "message"
	}
	return p
}

// TestRepliesMatchSpecShapes: what the real agent answers to the cloud's
// discovery burst (docs/protocol.md#registration step 10) has the field set and JSON types of the
// spec's examples: ints where the spec has ints, floats (25.0) for fps,
// srt and time, explicit booleans, [w,h] and [min,max,step] int tuples.
func TestRepliesMatchSpecShapes(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	vs := specVectors(t)
	env := []string{"cmd", "msgid", "refid", "orig_cmd", "cam_id"}
	cases := []struct {
		cmd      string
		body     any
		vector   string
		required map[string][]string
	}{
		{"get_cam_status", nil, "v028", map[string][]string{"": {"ip", "activity", "streaming", "status_led"}}},
		{"get_supported_streams", nil, "v034", map[string][]string{"": {"streams", "video_es", "audio_es"}, "streams[]": {"id", "video"}}},
		{"get_stream_caps", nil, "v036", map[string][]string{
			"":             {"caps_video", "caps_audio"},
			"caps_video[]": {"streams", "formats", "resolutions", "fps", "gop", "brt", "vbr"},
			"caps_audio[]": {"streams", "formats", "brt", "srt"},
		}},
		{"get_stream_config", nil, "v038", map[string][]string{
			"":        {"video", "audio"},
			"video[]": {"stream", "format", "horz", "vert", "fps", "gop", "vbr", "brt"},
			"audio[]": {"stream", "format", "brt", "srt"},
		}},
		{"get_cam_video_conf", nil, "v060", map[string][]string{"": {"caps"},
			"+saturation": {"int"}, "+sharpness": {"int"}, "+nr_type": {"string"}, "+nr_level": {"int"}, "+wb_type": {"string"}}},
		{"get_cam_audio_conf", nil, "v066", map[string][]string{"": {"caps"}}},
		{"get_ptz_conf", nil, "v070", map[string][]string{"": {"actions", "maximum_number_of_presets", "presets"}}},
		{"get_osd_conf", nil, "v175", map[string][]string{"": {"caps"}}},
		{"get_motion_detection", nil, "v096", map[string][]string{
			"":     {"columns", "rows", "caps", "regions"},
			"caps": {"max_regions", "sensitivity", "region_shape"},
		}},
		{"get_cam_events", nil, "v108", map[string][]string{
			"":                {"enabled", "events"},
			"events[]":        {"event", "active", "stream", "snapshot", "caps"},
			"events[]+period": {"int"},
			"events[].caps":   {"stream", "snapshot", "periodic", "trigger"},
		}},
	}
	for _, c := range cases {
		rep := request(t, r, c.cmd, c.body)
		want := vs[c.vector]
		if want == nil {
			t.Fatalf("no vector %s", c.vector)
		}
		c.required[""] = append(slices.Clone(env), c.required[""]...)
		for _, d := range sameShape("", rep, want, c.required) {
			t.Errorf("%s reply: %s\n got  %s", c.cmd, d, mustJSON(t, rep))
		}
	}

	// A motion event, triggered as an installer would, against docs/protocol.md#cam-event's example.
	request(t, r, "set_cam_events", map[string]any{"enabled": true, "events": []any{map[string]any{"event": "motion", "active": true}}})
	if rep := request(t, r, "cam_trigger_event", map[string]any{"event": "motion"}); rep["status"] != "OK" {
		t.Fatalf("cam_trigger_event %v", rep)
	}
	waitFor(t, "the triggered motion event", func() bool { return len(motionEvents(r)) == 1 })
	ev := motionEvents(r)[0]
	for _, d := range sameShape("", ev, vs["v111"], map[string][]string{"": {"cmd", "msgid", "cam_id", "event", "time", "status", "motion_info"}}) {
		t.Errorf("cam_event: %s\n got  %s", d, mustJSON(t, ev))
	}
	noViolations(t, r)
}
