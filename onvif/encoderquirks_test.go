package onvif

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

// Cameras that bend the ONVIF rules on encoder options (issue 14): their
// options are unknown, which must neither fail the call nor limit a change.

func TestVideoEncoderOptionsUnknown(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       onvifsim.Options
		faultNext  bool
		wantReason string // in Unavailable; "" when the camera answered
	}{
		{name: "empty elements", opts: onvifsim.Options{EmptyEncoderOptions: true}},
		{name: "receiver fault", opts: onvifsim.Options{EncoderOptionsFault: true}, wantReason: "TypeError: method is not a function"},
		{name: "bare http 500", opts: onvifsim.Options{BareHTTPErrors: true, Unsupported: []string{"GetVideoEncoderConfigurationOptions"}},
			wantReason: "http 500"},
		{name: "sender fault", faultNext: true, wantReason: "injected fault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, c := connected(t, tc.opts)
			if tc.faultNext {
				sim.FaultNext("GetVideoEncoderConfigurationOptions")
			}
			o, err := c.VideoEncoderOptions(testCtx(t), mainEncoder, "Profile_1")
			if err != nil {
				t.Fatalf("options call failed: %v; want unknown options", err)
			}
			if o.Known() || o.Quality.Known() {
				t.Errorf("options %+v, want unknown", o)
			}
			switch {
			case tc.wantReason == "" && o.Unavailable != nil:
				t.Errorf("Unavailable = %v, want nil (the camera answered)", o.Unavailable)
			case tc.wantReason != "" && (o.Unavailable == nil || !strings.Contains(o.Unavailable.Error(), tc.wantReason)):
				t.Errorf("Unavailable = %v, want it to say %q", o.Unavailable, tc.wantReason)
			}
		})
	}
}

// TestVideoEncoderOptionsStillFailWhenCameraIsGone: only the camera's own
// bad answer means "unknown"; no answer is still an error.
func TestVideoEncoderOptionsStillFailWhenCameraIsGone(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{EncoderOptionsFault: true})
	sim.Close()
	if _, err := c.VideoEncoderOptions(testCtx(t), mainEncoder, ""); !errors.Is(err, ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
}

// TestSetVideoEncoderWithUnknownOptions: the change is tried, and what the
// camera applied (here clamped to its real limits) comes back.
func TestSetVideoEncoderWithUnknownOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts onvifsim.Options
	}{
		{"empty elements", onvifsim.Options{EmptyEncoderOptions: true}},
		{"receiver fault", onvifsim.Options{EncoderOptionsFault: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := connected(t, tc.opts)
			ctx := testCtx(t)
			got, err := c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{})
			if err != nil {
				t.Fatalf("unchanged configuration refused: %v", err)
			}
			if got.FrameRate != 25 || got.BitrateKbps != 4096 {
				t.Errorf("after no change: %+v", got)
			}
			got, err = c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{
				Resolution: &Resolution{Width: 1280, Height: 720}, FrameRate: ptr(60.0), BitrateKbps: ptr(20000), GOP: ptr(60),
			})
			if err != nil {
				t.Fatalf("change refused: %v", err)
			}
			want := VideoEncoderConfig{Token: mainEncoder, Name: "mainStream_video", Encoding: "H264", Width: 1280, Height: 720,
				FrameRate: 30, BitrateKbps: 16384, GOP: 60, Profile: "Main", Quality: 4, EncodingInterval: 1}
			if got != want {
				t.Errorf("read back %+v\nwant the clamped %+v", got, want)
			}
		})
	}
}

// TestSetVideoEncoderWithoutRateControl: frame rate and bitrate are
// unknown (0), a change that leaves them alone sends no RateControl, and a
// new frame rate is sent on its own.
func TestSetVideoEncoderWithoutRateControl(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{NoRateControl: true})
	ctx := testCtx(t)
	cur, err := c.VideoEncoder(ctx, mainEncoder)
	if err != nil || cur.FrameRate != 0 || cur.BitrateKbps != 0 || cur.Width != 1920 {
		t.Fatalf("configuration %+v, %v; want unknown frame rate and bitrate", cur, err)
	}
	got, err := c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{GOP: ptr(30)})
	if err != nil || got.GOP != 30 {
		t.Fatalf("gop change: %+v, %v", got, err)
	}
	if raw := sim.LastRequest("SetVideoEncoderConfiguration"); strings.Contains(raw, "RateControl") {
		t.Errorf("request invents a RateControl:\n%s", raw)
	}
	if _, err := c.SetVideoEncoder(ctx, mainEncoder, VideoEncoderPatch{FrameRate: ptr(15.0)}); err != nil {
		t.Fatalf("frame rate change: %v", err)
	}
	if raw := sim.LastRequest("SetVideoEncoderConfiguration"); !strings.Contains(raw, "<tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit></tt:RateControl><tt:H264>") {
		t.Errorf("request lacks the new frame rate in schema order:\n%s", raw)
	}
}

// TestEncoderPatchKeepsCurrentValues: a camera may run outside the options
// it lists; sending its own values back must not be refused.
func TestEncoderPatchKeepsCurrentValues(t *testing.T) {
	const cfg = `<Configuration><Name>v</Name><Encoding>H264</Encoding><Resolution><Width>2592</Width><Height>1944</Height></Resolution>` +
		`<Quality>9</Quality><RateControl><FrameRateLimit>50</FrameRateLimit><EncodingInterval>1</EncodingInterval><BitrateLimit>20000</BitrateLimit></RateControl>` +
		`<H264><GovLength>500</GovLength><H264Profile>Extended</H264Profile></H264></Configuration>`
	opts := VideoEncoderOptions{Quality: Range{1, 6}, Codecs: []CodecOptions{{Encoding: "H264", Resolutions: []Resolution{{1920, 1080}},
		FrameRate: Range{1, 30}, GOP: Range{1, 400}, BitrateKbps: Range{32, 16384}, Profiles: []string{"Main"}}}}
	var cur node
	if err := xml.Unmarshal([]byte(cfg), &cur); err != nil {
		t.Fatal(err)
	}
	same := VideoEncoderPatch{Encoding: "H264", Resolution: &Resolution{2592, 1944}, FrameRate: ptr(50.0), BitrateKbps: ptr(20000),
		GOP: ptr(500), Profile: "extended", Quality: ptr(9.0)}
	if err := applyEncoderPatch("set", &cur, opts, same); err != nil {
		t.Errorf("current values refused: %v", err)
	}
	var re *RangeError
	if err := applyEncoderPatch("set", &cur, opts, VideoEncoderPatch{FrameRate: ptr(45.0)}); !errors.As(err, &re) || re.Field != "frame rate" {
		t.Errorf("a new value outside the options: %v, want a frame rate RangeError", err)
	}
}
