package camera

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventSettingsCases seed FuzzDecodeEventSettings too; the camera
// declares the custom kind "doorbell".
var eventSettingsCases = []struct {
	name string
	in   string
	want string // JSON of the result, "" = error
}{
	{"saved by this version", `{"enabled":false,"events":{"motion":{"active":false,"stream":true,"snapshot":false}},"stream_by_event":{"stream_id":"Sub","pre_event":5000,"post_event":20000},"record_by_event":["Sub"]}`,
		`{"enabled":false,"events":{"doorbell":{"active":true,"stream":false,"snapshot":false},"motion":{"active":false,"stream":true,"snapshot":false}},"stream_by_event":{"stream_id":"Sub","pre_event":5000,"post_event":20000},"record_by_event":["Sub"]}`},
	{"caps apply again", `{"enabled":true,"events":{"motion":{"active":true,"stream":true,"snapshot":true,"period":60},"snapshot":{"active":true,"stream":true,"period":60}}}`,
		`{"enabled":true,"events":{"doorbell":{"active":true,"stream":false,"snapshot":false},"motion":{"active":true,"stream":true,"snapshot":true},"snapshot":{"active":true,"stream":false,"snapshot":false,"period":60}},"stream_by_event":{"pre_event":10000,"post_event":10000}}`},
	{"event no longer declared", `{"enabled":true,"events":{"fire":{"active":true}}}`,
		`{"enabled":true,"events":{"doorbell":{"active":true,"stream":false,"snapshot":false},"motion":{"active":true,"stream":false,"snapshot":false}},"stream_by_event":{"pre_event":10000,"post_event":10000}}`},
	{"times beyond the caps keep the defaults", `{"enabled":true,"stream_by_event":{"stream_id":"Main","pre_event":199000,"post_event":1000},"record_by_event":["Main","","Main"]}`,
		`{"enabled":true,"events":{"doorbell":{"active":true,"stream":false,"snapshot":false},"motion":{"active":true,"stream":false,"snapshot":false}},"stream_by_event":{"pre_event":10000,"post_event":10000},"record_by_event":["Main"]}`},
	{"pre_event of the memory card kept", `{"enabled":true,"stream_by_event":{"stream_id":"Main","pre_event":90000,"post_event":1000}}`,
		`{"enabled":true,"events":{"doorbell":{"active":true,"stream":false,"snapshot":false},"motion":{"active":true,"stream":false,"snapshot":false}},"stream_by_event":{"stream_id":"Main","pre_event":90000,"post_event":1000}}`},
	{"no events keeps the defaults", `{"enabled":true}`,
		`{"enabled":true,"events":{"doorbell":{"active":true,"stream":false,"snapshot":false},"motion":{"active":true,"stream":false,"snapshot":false}},"stream_by_event":{"pre_event":10000,"post_event":10000}}`},
	{"not json", `{"enabled":`, ""},
	{"wrong type", `{"enabled":"yes"}`, ""},
}

var testCustom = []string{"doorbell"}

func TestDecodeEventSettings(t *testing.T) {
	for _, c := range eventSettingsCases {
		t.Run(c.name, func(t *testing.T) {
			s, err := decodeEventSettings([]byte(c.in), testCustom)
			if c.want == "" {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(t, s); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func FuzzDecodeEventSettings(f *testing.F) {
	for _, c := range eventSettingsCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeEventSettings(b, testCustom)
		if err != nil {
			return
		}
		// Whatever the file says, only declarable events within their
		// caps and times within the limits remain.
		if sb := s.StreamByEvent; sb.PreEvent < 0 || sb.PreEvent > preEventMaxRecorded || sb.PostEvent < 0 || sb.PostEvent > postEventMax {
			t.Fatalf("stream_by_event %+v beyond the caps", sb)
		}
		for name, es := range s.Events {
			d, ok := catalogDecl(name, testCustom)
			if !ok {
				t.Fatalf("undeclared event %q kept", name)
			}
			if es != limitToCaps(es, d.caps) {
				t.Fatalf("%s: %+v beyond caps", name, es)
			}
		}
	})
}

func TestCloudGrid(t *testing.T) {
	for _, c := range []struct {
		name               string
		cols, rows         int
		wantCols, wantRows int
	}{
		{"fits", 22, 18, 22, 18},
		{"at the limit", 32, 32, 32, 32},
		{"halved", 44, 36, 22, 18},
		{"wide", 80, 20, 26, 6},
		{"one cell", 1, 1, 1, 1},
	} {
		if gc, gr := cloudGrid(c.cols, c.rows); gc != c.wantCols || gr != c.wantRows {
			t.Errorf("%s: %dx%d shown as %dx%d, want %dx%d", c.name, c.cols, c.rows, gc, gr, c.wantCols, c.wantRows)
		}
	}
	if got := eventsPath(filepath.Join("state", "door.state.json")); got != filepath.Join("state", "door.events.json") {
		t.Errorf("events path %s", got)
	}
}

func TestConfiguredHost(t *testing.T) {
	for _, c := range []struct{ rtsp, onvif, want string }{
		{"rtsp://192.168.1.64:554/s1", "http://cam.example.net:8080/onvif/device_service", "rtsp://cam.example.net:554/s1"},
		{"rtsp://u:p@10.0.0.5/s1?x=1", "http://203.0.113.9/onvif", "rtsp://u:p@203.0.113.9:554/s1?x=1"},
		{"rtsp://10.0.0.5:8554/s1", "http://10.0.0.5/onvif", ""},
	} {
		got, ok := configuredHost(c.rtsp, c.onvif)
		if !ok {
			got = ""
		}
		if got != c.want {
			t.Errorf("configuredHost(%q, %q) = %q, want %q", c.rtsp, c.onvif, got, c.want)
		}
	}
}

func TestWithoutUserinfo(t *testing.T) {
	if got := withoutUserinfo("rtsp://admin:pw@cam:554/s?x=1"); got != "rtsp://cam:554/s?x=1" {
		t.Errorf("withoutUserinfo = %q", got)
	}
}
