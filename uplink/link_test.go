package uplink

import "testing"

func TestLinkPublishURL(t *testing.T) {
	cases := []struct {
		name   string
		link   Link
		stream string
		psid   int64
		want   string
	}{
		{"spec example", Link{MediaServer: "media.vms.example.net:1935", Path: "live/u7731m310077c310042_", SID: "Jv3kPq8ZtX"}, "Main", 4711,
			"rtmp://media.vms.example.net:1935/live/u7731m310077c310042_Main?sid=Jv3kPq8ZtX&psid=4711"},
		{"secure default scheme", Link{MediaServer: "media.vms.example.net:443", Path: "live/p_", SID: "s", Secure: true}, "Main", 0,
			"rtmps://media.vms.example.net:443/live/p_Main?sid=s"},
		{"scheme from server wins", Link{MediaServer: "rtmp://m:1935", Path: "live/p_", SID: "s", Secure: true}, "Sub", 0,
			"rtmp://m:1935/live/p_Sub?sid=s"},
		{"media_uri with rtmps", Link{MediaServer: "rtmps://media.vms.example.net:443/", Path: "live/u_", SID: "x"}, "Main", 7,
			"rtmps://media.vms.example.net:443/live/u_Main?sid=x&psid=7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.link.PublishURL(c.stream, c.psid)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	if _, err := (Link{}).PublishURL("Main", 0); err == nil {
		t.Error("empty media server accepted")
	}
	if _, err := (Link{MediaServer: "http://x:80"}).PublishURL("Main", 0); err == nil {
		t.Error("http scheme accepted")
	}
}
