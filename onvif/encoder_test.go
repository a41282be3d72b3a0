package onvif

import (
	"errors"
	"strings"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

const mainEncoder = "VideoEncoder_Profile_1"

func TestSetVideoEncoder(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	got, err := c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{
		Resolution:  &Resolution{Width: 1280, Height: 720},
		FrameRate:   ptr(15.0),
		BitrateKbps: ptr(2048),
		GOP:         ptr(30),
		Profile:     "high",
		Quality:     ptr(5.0),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := VideoEncoderConfig{Token: mainEncoder, Name: "mainStream_video", Encoding: "H264", Width: 1280, Height: 720,
		FrameRate: 15, BitrateKbps: 2048, GOP: 30, Profile: "High", Quality: 5, EncodingInterval: 1}
	if got != want {
		t.Errorf("read back %+v, want %+v", got, want)
	}
	// The profile list (what the agent registers) shows the change too.
	profiles, err := c.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := profiles[0].Video; v == nil || *v != want {
		t.Errorf("profile video = %+v", v)
	}
	raw := sim.LastRequest("SetVideoEncoderConfiguration")
	for _, s := range []string{"<ForcePersistence>true</ForcePersistence>", "<tt:SessionTimeout>PT5S</tt:SessionTimeout>",
		"<tt:IPv4Address>0.0.0.0</tt:IPv4Address>", "<tt:H264Profile>High</tt:H264Profile>"} {
		if !strings.Contains(raw, s) {
			t.Errorf("request lacks %s:\n%s", s, raw)
		}
	}
}

func TestSetVideoEncoderReturnsWhatCameraApplied(t *testing.T) {
	_, c := connected(t, onvifsim.Options{MaxBitrateKbps: 3000})
	got, err := c.SetVideoEncoder(testCtx(t), mainEncoder, VideoEncoderPatch{BitrateKbps: ptr(8192)})
	if err != nil {
		t.Fatal(err)
	}
	if got.BitrateKbps != 3000 {
		t.Errorf("bitrate = %d, want the 3000 the camera capped it to", got.BitrateKbps)
	}
	if got.Width != 1920 || got.GOP != 50 || got.FrameRate != 25 {
		t.Errorf("untouched fields changed: %+v", got)
	}
}

func TestSetVideoEncoderValidates(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	for _, tc := range []struct {
		name  string
		patch VideoEncoderPatch
		field string
	}{
		{"h265 on media ver10", VideoEncoderPatch{Encoding: "H.265"}, "encoding"},
		{"resolution not offered", VideoEncoderPatch{Resolution: &Resolution{Width: 1000, Height: 1000}}, "resolution"},
		{"frame rate too high", VideoEncoderPatch{FrameRate: ptr(60.0)}, "frame rate"},
		{"bitrate too high", VideoEncoderPatch{BitrateKbps: ptr(20000)}, "bitrate"},
		{"gop zero", VideoEncoderPatch{GOP: ptr(0)}, "gop"},
		{"profile not offered", VideoEncoderPatch{Profile: "Extended"}, "profile"},
		{"quality too high", VideoEncoderPatch{Quality: ptr(9.0)}, "quality"},
		{"rate control garbage", VideoEncoderPatch{RateControl: "ABR"}, "rate control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SetVideoEncoder(ctx, mainEncoder, tc.patch)
			var re *RangeError
			if !errors.As(err, &re) || re.Field != tc.field || !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("err = %v, want *RangeError for %s", err, tc.field)
			}
		})
	}
	if sim.LastRequest("SetVideoEncoderConfiguration") != "" {
		t.Error("an invalid patch reached the camera")
	}
	// A camera that does not report CBR/VBR cannot be switched.
	if _, err := c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{RateControl: RateControlCBR}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("rate control on a camera without it: %v, want ErrUnsupported", err)
	}
	if _, err := c.SetVideoEncoder(ctx, "NoSuchEncoder", VideoEncoderPatch{GOP: ptr(10)}); err == nil {
		t.Error("unknown encoder token accepted")
	}
}

func TestSetVideoEncoderRateControl(t *testing.T) {
	_, c := connected(t, onvifsim.Options{Profiles: []onvifsim.Profile{{Token: "P", Name: "main", Encoding: "H264",
		Width: 1920, Height: 1080, FrameRate: 25, BitrateKbps: 4096, GOP: 50, H264Profile: "Main", RateControl: "VBR"}}})
	ctx := testCtx(t)
	before, err := c.VideoEncoder(ctx, "VideoEncoder_P")
	if err != nil || before.RateControl != RateControlVBR {
		t.Fatalf("before: %+v, %v", before, err)
	}
	got, err := c.SetVideoEncoder(ctx, "VideoEncoder_P", VideoEncoderPatch{RateControl: RateControlCBR})
	if err != nil {
		t.Fatal(err)
	}
	if got.RateControl != RateControlCBR {
		t.Errorf("rate control = %q, want CBR", got.RateControl)
	}
}

// TestSetVideoEncoderSwitchCodec goes to JPEG (the camera then drops the
// H264 element) and back, so the client must rebuild the H264 settings.
func TestSetVideoEncoderSwitchCodec(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	got, err := c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{Encoding: "JPEG", FrameRate: ptr(10.0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Encoding != "JPEG" || got.GOP != 0 || got.FrameRate != 10 {
		t.Errorf("after JPEG: %+v", got)
	}
	if _, err := c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{GOP: ptr(10)}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("gop on JPEG: %v, want ErrUnsupported", err)
	}
	got, err = c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{Encoding: "h264"})
	if err != nil {
		t.Fatalf("back to H264: %v\nrequest:\n%s", err, sim.LastRequest("SetVideoEncoderConfiguration"))
	}
	if got.Encoding != "H264" || got.GOP != 20 || got.Profile != "Baseline" {
		t.Errorf("after H264: %+v, want GOP 2×10 fps and the first offered profile", got)
	}
}
