package onvif

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

func TestSetRotate(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	vs, err := c.VideoSourceConfig(ctx, "VideoSourceConfig_1")
	if err != nil {
		t.Fatal(err)
	}
	want := VideoSourceConfig{Token: "VideoSourceConfig_1", Name: "VideoSourceConfig", SourceToken: "VideoSource_1",
		Rotate: &Rotate{Mode: RotateOff}, RotateModes: []RotateMode{RotateOff, RotateOn}, RotateDegrees: []int{90, 180, 270}}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("video source = %+v, want %+v", vs, want)
	}
	got, err := c.SetRotate(ctx, "VideoSourceConfig_1", Rotate{Mode: RotateOn, Degree: 180})
	if err != nil {
		t.Fatal(err)
	}
	if got.Rotate == nil || *got.Rotate != (Rotate{Mode: RotateOn, Degree: 180}) {
		t.Errorf("read back rotate = %+v", got.Rotate)
	}
	if mode, deg := sim.Rotation(); mode != "ON" || deg != 180 {
		t.Errorf("camera rotation = %s %d", mode, deg)
	}
	raw := sim.LastRequest("SetVideoSourceConfiguration")
	if !strings.Contains(raw, `<tt:Bounds x="0" y="0" width="1920" height="1080">`) ||
		!strings.Contains(raw, "<tt:Extension><tt:Rotate><tt:Mode>ON</tt:Mode><tt:Degree>180</tt:Degree></tt:Rotate></tt:Extension>") {
		t.Errorf("request:\n%s", raw)
	}
	got, err = c.SetRotate(ctx, "VideoSourceConfig_1", Rotate{Mode: RotateOff})
	if err != nil || got.Rotate == nil || got.Rotate.Mode != RotateOff {
		t.Errorf("rotate off: %+v, %v", got.Rotate, err)
	}
	for _, r := range []Rotate{{Mode: RotateAuto}, {Mode: RotateOn, Degree: 45}} {
		var re *RangeError
		if _, err := c.SetRotate(ctx, "VideoSourceConfig_1", r); !errors.As(err, &re) {
			t.Errorf("SetRotate(%+v) = %v, want *RangeError", r, err)
		}
	}
}

func TestSetRotateUnsupported(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{NoRotate: true})
	ctx := testCtx(t)
	vs, err := c.VideoSourceConfig(ctx, "VideoSourceConfig_1")
	if err != nil || vs.Rotate != nil || len(vs.RotateModes) != 0 {
		t.Fatalf("video source = %+v, %v", vs, err)
	}
	if _, err := c.SetRotate(ctx, "VideoSourceConfig_1", Rotate{Mode: RotateOn}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("err = %v, want ErrUnsupported", err)
	}
	if sim.LastRequest("SetVideoSourceConfiguration") != "" {
		t.Error("request sent to a camera without rotation")
	}
}
