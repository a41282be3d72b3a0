package uplink

import (
	"strings"
	"testing"
)

var publishURLCases = []struct {
	name    string
	url     string
	wantErr bool
	tcURL   string
	app     string
	stream  string
}{
	{
		name:   "spec example",
		url:    "rtmp://media.vms.example.net:1935/live/u7731m310077c310042_Main?sid=Jv3kPq8ZtX&psid=4711",
		tcURL:  "rtmp://media.vms.example.net:1935/live",
		app:    "live",
		stream: "u7731m310077c310042_Main?sid=Jv3kPq8ZtX&psid=4711",
	},
	{
		name:   "rtmps without port",
		url:    "rtmps://media.example.net/live/cam_Sub?sid=x",
		tcURL:  "rtmps://media.example.net/live",
		app:    "live",
		stream: "cam_Sub?sid=x",
	},
	{
		name:   "deeper path stays in the stream name",
		url:    "rtmp://h:1935/live/a/b?sid=1",
		tcURL:  "rtmp://h:1935/live",
		app:    "live",
		stream: "a/b?sid=1",
	},
	{name: "no query", url: "rtmp://h/live/cam", tcURL: "rtmp://h/live", app: "live", stream: "cam"},
	{name: "http scheme", url: "http://h/live/cam", wantErr: true},
	{name: "no stream", url: "rtmp://h/live", wantErr: true},
	{name: "empty app", url: "rtmp://h//cam", wantErr: true},
	{name: "no host", url: "rtmp:///live/cam", wantErr: true},
	{name: "garbage", url: "::", wantErr: true},
}

func TestParsePublishURL(t *testing.T) {
	for _, tc := range publishURLCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePublishURL(tc.url)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got.tcURL() != tc.tcURL || got.app != tc.app || got.name != tc.stream {
				t.Errorf("got tcUrl %q app %q stream %q", got.tcURL(), got.app, got.name)
			}
			// gortmplib takes app from the path and the name from the fragment.
			u := got.clientURL()
			if u.Path != "/"+tc.app || u.Fragment != tc.stream {
				t.Errorf("client url path %q fragment %q", u.Path, u.Fragment)
			}
		})
	}
}

func FuzzParsePublishURL(f *testing.F) {
	for _, tc := range publishURLCases {
		f.Add(tc.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parsePublishURL(raw)
		if err != nil {
			return
		}
		if got.app == "" || got.name == "" || strings.Contains(got.app, "/") {
			t.Fatalf("accepted %q as app %q stream %q", raw, got.app, got.name)
		}
	})
}

func TestAVCConfigNeedsParameterSets(t *testing.T) {
	if _, err := avcConfig(nil, []byte{0x68}); err == nil {
		t.Error("accepted a missing SPS")
	}
	c, err := avcConfig([]byte{0x67, 0x42, 0xc0, 0x1e, 0xd9}, []byte{0x68, 0xce})
	if err != nil {
		t.Fatal(err)
	}
	if c.Profile != 0x42 || c.ProfileCompatibility != 0xc0 || c.Level != 0x1e || c.LengthSizeMinusOne != 3 {
		t.Errorf("config = %+v", c)
	}
}
