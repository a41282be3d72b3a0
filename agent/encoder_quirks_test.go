package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/media/rtspsim"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// Cameras that bend the ONVIF rules on encoder options (issue 14), driven
// from the simulated cloud through the real agent to the simulated camera.
// Unknown options mean "the camera did not say": the current values are
// the one known choice, a change is tried, and what the camera applied is
// what get_stream_config reports afterwards.

var mainVideoOnly = map[string]any{"video_es": []string{"MainVideo"}, "audio_es": []string{}}

// mainVideo is the one video entry of a stream_caps or stream_config reply.
func mainVideo(t *testing.T, rep map[string]any, list string) map[string]any {
	t.Helper()
	l, ok := rep[list].([]any)
	if !ok || len(l) != 1 {
		t.Fatalf("%s.%s = %v, want one entry", rep["cmd"], list, rep[list])
	}
	return l[0].(map[string]any)
}

// num is a JSON number from a reply (cloudsim decodes with UseNumber); 0
// for anything else.
func num(v any) float64 {
	n, _ := v.(json.Number)
	f, _ := n.Float64()
	return f
}

// setSameConfig sends get_stream_config's own answer back, as a cloud
// that saves its settings form unchanged does.
func setSameConfig(t *testing.T, r *rig.Rig) {
	t.Helper()
	cur := mainVideo(t, request(t, r, "get_stream_config", mainVideoOnly), "video")
	wantDone(t, request(t, r, "set_stream_config", map[string]any{"video": []any{cur}}), "set_stream_config", "OK")
}

func TestStreamSettingsWithEmptyEncoderOptions(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.EmptyEncoderOptions = true }})
	waitReady(t, r)

	caps := mustJSON(t, mainVideo(t, request(t, r, "get_stream_caps", mainVideoOnly), "caps_video"))
	if want := `{"brt":[1024,1024,1],"formats":["H.264"],"fps":[25.0],"gop":[25,25,1],"resolutions":[[640,360]],"streams":["MainVideo"],"vbr":false}`; caps != want {
		t.Errorf("caps with empty options:\n got %s\nwant %s (the current values as the only choice)", caps, want)
	}
	setSameConfig(t, r)

	// Beyond the camera's real limits: it clamps, and the cloud is shown
	// what it applied.
	wantDone(t, request(t, r, "set_stream_config", map[string]any{"video": []any{
		map[string]any{"stream": "MainVideo", "horz": 1280, "vert": 720, "fps": 60, "brt": 20000, "gop": 120},
	}}), "set_stream_config", "OK")
	soapHas(t, r, "SetVideoEncoderConfiguration", "<tt:Width>1280<", ">60<", ">20000<", ">120<")
	v := mustJSON(t, mainVideo(t, request(t, r, "get_stream_config", mainVideoOnly), "video"))
	if want := `{"brt":16384,"format":"H.264","fps":30.0,"gop":120,"horz":1280,"profile":"Main","stream":"MainVideo","vbr":false,"vert":720}`; v != want {
		t.Errorf("stream_config after set:\n got %s\nwant %s (what the camera applied)", v, want)
	}
	caps = mustJSON(t, mainVideo(t, request(t, r, "get_stream_caps", mainVideoOnly), "caps_video"))
	if !strings.Contains(caps, `"fps":[30.0]`) || !strings.Contains(caps, `"brt":[16384,16384,1]`) || !strings.Contains(caps, `"resolutions":[[1280,720]]`) {
		t.Errorf("caps after set: %s, want the applied values", caps)
	}
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

func TestStreamSettingsWhenEncoderOptionsFault(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.EncoderOptionsFault = true }})
	waitReady(t, r)

	rep := request(t, r, "get_stream_caps", mainVideoOnly)
	if rep["cmd"] != "stream_caps" {
		t.Fatalf("get_stream_caps answered %v, want stream_caps", rep)
	}
	caps := mustJSON(t, mainVideo(t, rep, "caps_video"))
	if want := `{"brt":[1024,1024,1],"formats":["H.264"],"fps":[25.0],"gop":[25,25,1],"resolutions":[[640,360]],"streams":["MainVideo"],"vbr":false}`; caps != want {
		t.Errorf("caps:\n got %s\nwant %s", caps, want)
	}
	setSameConfig(t, r)
	wantDone(t, request(t, r, "set_stream_config", map[string]any{"video": []any{
		map[string]any{"stream": "MainVideo", "fps": 15, "gop": 30},
	}}), "set_stream_config", "OK")
	v := mainVideo(t, request(t, r, "get_stream_config", mainVideoOnly), "video")
	if num(v["fps"]) != 15 || num(v["gop"]) != 30 {
		t.Errorf("stream_config after set: %v, want fps 15 gop 30", v)
	}
}

// TestStreamSettingsWithoutRateControl: a camera that reports neither
// frame rate nor bitrate nor options; the stream's own rates stand in.
func TestStreamSettingsWithoutRateControl(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.NoRateControl, o.EmptyEncoderOptions = true, true }})
	waitReady(t, r)
	wantDone(t, request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live"}), "stream_start", "OK")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no video at the ingest: %v", err)
	}

	var v map[string]any
	eventually(t, "stream_config shows the stream's frame rate and bitrate", func() bool {
		v = mainVideo(t, request(t, r, "get_stream_config", mainVideoOnly), "video")
		return num(v["fps"]) > 0 && num(v["brt"]) > 0
	})
	caps := mainVideo(t, request(t, r, "get_stream_caps", mainVideoOnly), "caps_video")
	fps, _ := caps["fps"].([]any)
	brt, _ := caps["brt"].([]any)
	if len(fps) != 1 || num(fps[0]) <= 0 || len(brt) != 3 || num(brt[0]) <= 0 || num(brt[0]) != num(brt[1]) {
		t.Errorf("caps %s, want one known frame rate and bitrate, not zeros", mustJSON(t, caps))
	}
	setSameConfig(t, r)
}

// TestProbeShowsUnknownRatesAsUnknown: camagent probe prints what it does
// not know as unknown, not as 0fps 0kbps.
func TestProbeShowsUnknownRatesAsUnknown(t *testing.T) {
	rs := rtspsim.New(rtspsim.Options{})
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	sim := onvifsim.New(onvifsim.Options{NoRateControl: true, RTSPURL: rs.URL()})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Probe(ctx, ProbeOptions{URL: sim.URL(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "0fps") || strings.Contains(out, "0kbps") || !strings.Contains(out, "1920x1080 fps unknown kbps unknown") {
		t.Errorf("probe output:\n%s\nwant unknown frame rate and bitrate, not zeros", out)
	}
}
