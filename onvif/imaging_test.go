package onvif

import (
	"errors"
	"strings"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

func ptr[T any](v T) *T { return &v }

func TestImagingSettings(t *testing.T) {
	_, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	im, err := c.ImagingSettings(ctx, "VideoSource_1")
	if err != nil {
		t.Fatal(err)
	}
	if im.Brightness == nil || *im.Brightness != (Level{Value: 50, Range: FloatRange{0, 100}}) {
		t.Errorf("brightness = %+v", im.Brightness)
	}
	if im.Sharpness == nil || *im.Sharpness != (Level{Value: 8, Range: FloatRange{0, 15}}) || im.Sharpness.Percent() != 53 {
		t.Errorf("sharpness = %+v", im.Sharpness)
	}
	if im.IRCutFilter != IRCutFilterAuto || im.WDRMode != "OFF" || im.BacklightMode != "OFF" {
		t.Errorf("modes = %q %q %q", im.IRCutFilter, im.WDRMode, im.BacklightMode)
	}
	o, err := c.ImagingOptions(ctx, "VideoSource_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.IRCutFilterModes) != 3 || len(o.WDRModes) != 2 || len(o.BacklightModes) != 2 || o.Contrast != (FloatRange{0, 100}) {
		t.Errorf("options = %+v", o)
	}
}

func TestSetImagingReadsBack(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	sharp := Level{Range: FloatRange{0, 15}}.AtPercent(100)
	got, err := c.SetImaging(ctx, "VideoSource_1", ImagingPatch{
		Brightness:  ptr(70.4), // the camera keeps whole numbers
		Sharpness:   &sharp,
		IRCutFilter: IRCutFilterOff,
		WDRMode:     "on",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Brightness.Value != 70 || got.Sharpness.Value != 15 || got.Sharpness.Percent() != 100 {
		t.Errorf("read back brightness %v sharpness %v", got.Brightness, got.Sharpness)
	}
	if got.IRCutFilter != IRCutFilterOff || got.WDRMode != "ON" || got.BacklightMode != "OFF" {
		t.Errorf("read back modes %q %q %q", got.IRCutFilter, got.WDRMode, got.BacklightMode)
	}
	want := onvifsim.ImagingState{Brightness: 70, Saturation: 50, Contrast: 50, Sharpness: 15,
		IRCutFilter: "OFF", WDRMode: "ON", BacklightMode: "OFF"}
	if st := sim.Imaging(); st != want {
		t.Errorf("camera holds %+v, want %+v", st, want)
	}
	// Read-modify-write: what the camera reported and we did not change
	// goes back unchanged, including settings we do not model.
	raw := sim.LastRequest("SetImagingSettings")
	for _, s := range []string{"<ForcePersistence>true</ForcePersistence>", "<tt:MaxExposureTime>40000</tt:MaxExposureTime>",
		"<tt:Contrast>50</tt:Contrast>", "<tt:Brightness>70.4</tt:Brightness>"} {
		if !strings.Contains(raw, s) {
			t.Errorf("SetImagingSettings lacks %s:\n%s", s, raw)
		}
	}
}

func TestSetImagingValidates(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	for _, tc := range []struct {
		name  string
		patch ImagingPatch
		field string
	}{
		{"brightness above range", ImagingPatch{Brightness: ptr(101.0)}, "brightness"},
		{"sharpness as percent", ImagingPatch{Sharpness: ptr(50.0)}, "sharpness"},
		{"unknown ir mode", ImagingPatch{IRCutFilter: "NIGHT"}, "ir cut filter"},
		{"unknown wdr mode", ImagingPatch{WDRMode: "AUTO"}, "wdr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SetImaging(ctx, "VideoSource_1", tc.patch)
			var re *RangeError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Fatalf("err = %v, want *RangeError for %s", err, tc.field)
			}
		})
	}
	if sim.LastRequest("SetImagingSettings") != "" {
		t.Error("an invalid patch reached the camera")
	}
	if _, err := c.SetImaging(ctx, "NoSuchSource", ImagingPatch{Brightness: ptr(1.0)}); err == nil {
		t.Error("unknown video source accepted")
	}
}

func TestImagingUnsupported(t *testing.T) {
	_, c := connected(t, onvifsim.Options{NoImaging: true})
	if _, err := c.ImagingSettings(testCtx(t), "VideoSource_1"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("err = %v, want ErrUnsupported", err)
	}
}

func TestLevelPercent(t *testing.T) {
	for _, tc := range []struct {
		l       Level
		percent int
	}{
		{Level{Value: 50, Range: FloatRange{0, 100}}, 50},
		{Level{Value: 0, Range: FloatRange{-100, 100}}, 50},
		{Level{Value: 255, Range: FloatRange{0, 255}}, 100},
		{Level{Value: 0.25, Range: FloatRange{0, 1}}, 25},
		{Level{Value: 70}, 70},
		{Level{Value: 300, Range: FloatRange{0, 255}}, 100},
	} {
		if got := tc.l.Percent(); got != tc.percent {
			t.Errorf("%+v.Percent() = %d, want %d", tc.l, got, tc.percent)
		}
		back := Level{Value: tc.l.AtPercent(tc.percent), Range: tc.l.Range}
		if tc.l.Range.Contains(tc.l.Value) && back.Percent() != tc.percent {
			t.Errorf("%+v: AtPercent(%d) = %v does not map back", tc.l, tc.percent, back.Value)
		}
	}
	if v := (Level{Range: FloatRange{0, 1}}).AtPercent(33); v != 0.33 {
		t.Errorf("AtPercent on 0..1 = %v, want 0.33", v)
	}
}
