package onvif

import (
	"errors"
	"reflect"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

func TestAudioEncoder(t *testing.T) {
	_, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	srcs, err := c.AudioSources(ctx)
	if err != nil || !reflect.DeepEqual(srcs, []string{"AudioSource_1"}) {
		t.Fatalf("audio sources = %v, %v", srcs, err)
	}
	const tok = "AudioEncoder_Profile_1"
	a, err := c.AudioEncoder(ctx, tok)
	if err != nil || a != (AudioEncoderConfig{Token: tok, Name: "mainStream_audio", Encoding: "G711", BitrateKbps: 64, SampleRateKHz: 8}) {
		t.Fatalf("audio encoder = %+v, %v", a, err)
	}
	opts, err := c.AudioEncoderOptions(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := []AudioCodecOptions{{Encoding: "G711", BitratesKbps: []int{64}, SampleRatesKHz: []float64{8}},
		{Encoding: "AAC", BitratesKbps: []int{32, 64, 128}, SampleRatesKHz: []float64{16, 48}}}
	if !reflect.DeepEqual(opts, want) {
		t.Errorf("options = %+v", opts)
	}
	// G711 allows only 64 kbps.
	var re *RangeError
	if _, err := c.SetAudioEncoder(ctx, tok, AudioEncoderPatch{BitrateKbps: ptr(32)}); !errors.As(err, &re) {
		t.Errorf("32 kbps G711: %v, want *RangeError", err)
	}
	got, err := c.SetAudioEncoder(ctx, tok, AudioEncoderPatch{Encoding: "aac", BitrateKbps: ptr(128), SampleRateKHz: ptr(48.0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Encoding != "AAC" || got.BitrateKbps != 128 || got.SampleRateKHz != 48 {
		t.Errorf("read back %+v", got)
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := profiles[0].Audio; p == nil || *p != got {
		t.Errorf("profile audio = %+v, want %+v", p, got)
	}
}

func TestAudioOutput(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	outs, err := c.AudioOutputConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := AudioOutputConfig{Token: "AudioOutputConfig_1", Name: "AudioOutput", OutputToken: "AudioOutput_1",
		Level: Level{Value: 50, Range: FloatRange{0, 100}}}
	if len(outs) != 1 || outs[0] != want {
		t.Fatalf("outputs = %+v", outs)
	}
	got, err := c.SetAudioOutputLevel(ctx, outs[0].Token, outs[0].Level.AtPercent(80))
	if err != nil {
		t.Fatal(err)
	}
	if got.Level.Percent() != 80 || sim.AudioOutputLevel() != 80 {
		t.Errorf("level = %+v, camera %d", got.Level, sim.AudioOutputLevel())
	}
	var re *RangeError
	if _, err := c.SetAudioOutputLevel(ctx, outs[0].Token, 150); !errors.As(err, &re) {
		t.Errorf("level 150: %v, want *RangeError", err)
	}
}

func TestNoSpeakerNoMicrophone(t *testing.T) {
	_, c := connected(t, onvifsim.Options{NoAudioOutput: true, Profiles: []onvifsim.Profile{{Token: "P", Name: "video only",
		Encoding: "H264", Width: 1280, Height: 720, FrameRate: 25, BitrateKbps: 2048, GOP: 50, H264Profile: "Main"}}})
	ctx := testCtx(t)
	outs, err := c.AudioOutputConfigs(ctx)
	if err != nil || len(outs) != 0 {
		t.Errorf("outputs = %+v, %v; want none", outs, err)
	}
	srcs, err := c.AudioSources(ctx)
	if err != nil || len(srcs) != 0 {
		t.Errorf("sources = %v, %v; want none", srcs, err)
	}
}
