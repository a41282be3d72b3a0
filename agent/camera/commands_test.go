package camera

import (
	"encoding/json"
	"testing"

	"go.uber.org/zap"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/onvif"
)

// TestVideoConfigRateControl: stream_config reports brt for CBR, and for
// VBR vbr_brt plus the quality docs/protocol.md#get-stream-config requires with VBR.
func TestVideoConfigRateControl(t *testing.T) {
	cases := []struct {
		name string
		rc   onvif.RateControl
		want string
	}{
		{"cbr", onvif.RateControlCBR, `{"stream":"MainVideo","format":"H.264","horz":1920,"vert":1080,"fps":25.0,"gop":50,"vbr":false,"brt":2048}`},
		{"not reported", onvif.RateControlUnknown, `{"stream":"MainVideo","format":"H.264","horz":1920,"vert":1080,"fps":25.0,"gop":50,"vbr":false,"brt":2048}`},
		{"vbr", onvif.RateControlVBR, `{"stream":"MainVideo","format":"H.264","horz":1920,"vert":1080,"fps":25.0,"gop":50,"vbr":true,"vbr_brt":2048,"quality":0}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &pipe{id: "Main", stream: media.NewStream(zap.NewNop()), profile: &onvif.Profile{Video: &onvif.VideoEncoderConfig{
				Encoding: "H264", Width: 1920, Height: 1080, FrameRate: 25, BitrateKbps: 2048, GOP: 50, Quality: 3, RateControl: c.rc}}}
			b, err := json.Marshal(videoConfig(p))
			if err != nil || string(b) != c.want {
				t.Errorf("got  %s (%v)\nwant %s", b, err, c.want)
			}
		})
	}
}

func TestCloudQuality(t *testing.T) {
	for _, c := range []struct {
		q    float64
		r    onvif.Range
		want int
	}{
		{1, onvif.Range{Min: 1, Max: 9}, -4}, {5, onvif.Range{Min: 1, Max: 9}, 0}, {9, onvif.Range{Min: 1, Max: 9}, 4},
		{50, onvif.Range{Min: 0, Max: 100}, 0}, {7, onvif.Range{}, 0}, {20, onvif.Range{Min: 1, Max: 9}, 4},
	} {
		if got := cloudQuality(c.q, c.r); got != c.want {
			t.Errorf("cloudQuality(%v, %v) = %d, want %d", c.q, c.r, got, c.want)
		}
	}
}

// TestFPSChoices: stream_caps.fps is never an empty list (docs/protocol.md#get-stream-caps requires it).
func TestFPSChoices(t *testing.T) {
	for _, c := range []struct {
		r    onvif.Range
		want string
	}{
		{onvif.Range{Min: 1, Max: 30}, "[30.0,25.0,20.0,15.0,12.0,10.0,8.0,5.0,2.0,1.0]"},
		{onvif.Range{Min: 3, Max: 4}, "[4.0,3.0]"},
		{onvif.Range{Min: 7, Max: 7}, "[7.0]"},
		{onvif.Range{Max: 6}, "[5.0,2.0,1.0]"},
	} {
		b, _ := json.Marshal(fpsChoices(c.r))
		if string(b) != c.want {
			t.Errorf("fpsChoices(%v) = %s, want %s", c.r, b, c.want)
		}
	}
}
