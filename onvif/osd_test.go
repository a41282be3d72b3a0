package onvif

import (
	"errors"
	"strings"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

const vsc = "VideoSourceConfig_1"

func TestOSDs(t *testing.T) {
	_, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	osds, err := c.OSDs(ctx, vsc)
	if err != nil {
		t.Fatal(err)
	}
	white := &OSDColor{Color: Color{X: 235, Y: 128, Z: 128, Colorspace: "http://www.onvif.org/ver10/colorspace/YCbCr"}}
	if len(osds) != 2 {
		t.Fatalf("osds = %+v", osds)
	}
	if o := osds[0]; o.Token != "OSD_1" || o.TextType != OSDDateAndTime || o.DateFormat != "yyyy-MM-dd" ||
		o.TimeFormat != "HH:mm:ss" || o.FontSize != 32 || o.Position.Type != "UpperLeft" || *o.FontColor != *white ||
		o.BackgroundColor != nil || o.VideoSourceConfigToken != vsc {
		t.Errorf("date overlay = %+v", o)
	}
	if o := osds[1]; o.TextType != OSDPlain || o.Text != "Camera 1" || o.Position.Type != "LowerRight" {
		t.Errorf("text overlay = %+v", o)
	}
	opts, err := c.OSDOptions(ctx, vsc)
	if err != nil {
		t.Fatal(err)
	}
	if opts.MaxTotal != 4 || len(opts.Positions) != 5 || len(opts.TextTypes) != 4 || opts.FontSize != (Range{16, 64}) ||
		len(opts.DateFormats) != 3 || len(opts.TimeFormats) != 2 || len(opts.FontColors) != 3 || len(opts.BackgroundColors) != 3 {
		t.Errorf("options = %+v", opts)
	}
}

func TestSetOSD(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	got, err := c.SetOSD(ctx, OSD{Token: "OSD_2", Text: "Gate & <Yard>", Position: OSDPosition{Type: "Custom", X: 0.5, Y: -0.5},
		BackgroundColor: &OSDColor{Color: Color{X: 16.4, Y: 128, Z: 128}, Transparent: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "Gate & <Yard>" || got.Position != (OSDPosition{Type: "Custom", X: 0.5, Y: -0.5}) || got.FontSize != 32 ||
		got.TextType != OSDPlain {
		t.Errorf("read back %+v", got)
	}
	// The camera keeps whole colour components.
	if b := got.BackgroundColor; b == nil || b.Color.X != 16 || b.Transparent != 1 {
		t.Errorf("background = %+v", b)
	}
	got, err = c.SetOSD(ctx, OSD{Token: "OSD_1", DateFormat: "dd/MM/yyyy", TimeFormat: "hh:mm:ss tt", FontSize: 48})
	if err != nil {
		t.Fatal(err)
	}
	if got.DateFormat != "dd/MM/yyyy" || got.TimeFormat != "hh:mm:ss tt" || got.FontSize != 48 || got.TextType != OSDDateAndTime ||
		got.Position.Type != "UpperLeft" {
		t.Errorf("read back %+v", got)
	}
	st := sim.OSDs()
	if len(st) != 2 || st[0].FontSize != 48 || st[1].Text != "Gate & <Yard>" {
		t.Errorf("camera holds %+v", st)
	}
	// Media ver10 SetOSD has no ForcePersistence; strict cameras refuse
	// unknown elements.
	if raw := sim.LastRequest("SetOSD"); strings.Contains(raw, "ForcePersistence") {
		t.Errorf("SetOSD carried ForcePersistence:\n%s", raw)
	}
}

func TestCreateAndDeleteOSD(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	got, err := c.SetOSD(ctx, OSD{VideoSourceConfigToken: vsc, TextType: OSDPlain, Text: "Lobby"})
	if err != nil {
		t.Fatalf("create: %v\nrequest:\n%s", err, sim.LastRequest("CreateOSD"))
	}
	if got.Token != "OSD_3" || got.Text != "Lobby" || got.Position.Type != "UpperLeft" {
		t.Errorf("created %+v", got)
	}
	if n := len(sim.OSDs()); n != 3 {
		t.Errorf("camera has %d overlays, want 3", n)
	}
	if err := c.DeleteOSD(ctx, got.Token); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.OSDs()); n != 2 {
		t.Errorf("camera has %d overlays after delete, want 2", n)
	}
	if _, err := c.SetOSD(ctx, OSD{TextType: OSDPlain, Text: "no source"}); err == nil {
		t.Error("create without a video source configuration accepted")
	}
}

func TestSetOSDValidates(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	for _, o := range []OSD{
		{Token: "OSD_1", FontSize: 100},
		{Token: "OSD_1", DateFormat: "YYYY"},
		{Token: "OSD_1", Position: OSDPosition{Type: "Middle"}},
		{Token: "OSD_1", TextType: "Image"},
	} {
		var re *RangeError
		if _, err := c.SetOSD(ctx, o); !errors.As(err, &re) {
			t.Errorf("SetOSD(%+v) = %v, want *RangeError", o, err)
		}
	}
	if sim.LastRequest("SetOSD") != "" {
		t.Error("an invalid overlay reached the camera")
	}
	// Transparency is not in the options we check; the camera refuses it,
	// and the refusal still reads as an invalid value.
	_, err := c.SetOSD(ctx, OSD{Token: "OSD_1", FontColor: &OSDColor{Color: Color{X: 16, Y: 128, Z: 128}, Transparent: 5}})
	var f *Fault
	if !errors.Is(err, ErrOutOfRange) || !errors.As(err, &f) || f.Subcode != "ConfigModify" {
		t.Errorf("camera refusal = %v, want ErrOutOfRange wrapping the ConfigModify fault", err)
	}
}

func TestOSDUnsupported(t *testing.T) {
	_, c := connected(t, onvifsim.Options{NoOSD: true})
	ctx := testCtx(t)
	if _, err := c.OSDs(ctx, vsc); !errors.Is(err, ErrUnsupported) {
		t.Errorf("OSDs: %v, want ErrUnsupported", err)
	}
	if _, err := c.SetOSD(ctx, OSD{Token: "OSD_1", FontSize: 20}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SetOSD: %v, want ErrUnsupported", err)
	}
}
