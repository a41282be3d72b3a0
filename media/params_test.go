package media

import (
	"bytes"
	"testing"
)

// NAL units with real headers: H.264 type in the low 5 bits, H.265 type in
// bits 1..6 of a 2-byte header.
var (
	avcSPS, avcSPS2, avcPPS = []byte{0x67, 0x42, 1}, []byte{0x67, 0x42, 2}, []byte{0x68, 0xce}
	avcIDR, avcP, avcAUD    = []byte{0x65, 0x88}, []byte{0x41, 0x9a}, []byte{0x09, 0xf0}
	hevcVPS, hevcSPS        = []byte{0x40, 0x01, 1}, []byte{0x42, 0x01, 2}
	hevcPPS, hevcIDR        = []byte{0x44, 0x01, 3}, []byte{0x26, 0x01, 4}
)

func TestParamSetsUpdate(t *testing.T) {
	have := ParamSets{SPS: []byte{0x67, 0}, PPS: []byte{0x68, 0}}
	for _, tc := range []struct {
		name  string
		codec Codec
		p     ParamSets
		au    [][]byte
		want  ParamSets
	}{
		{"h264 key frame with sets", CodecH264, ParamSets{}, [][]byte{avcAUD, avcSPS, avcPPS, avcIDR}, ParamSets{SPS: avcSPS, PPS: avcPPS}},
		{"h264 in-band replaces", CodecH264, have, [][]byte{avcSPS, avcPPS, avcIDR}, ParamSets{SPS: avcSPS, PPS: avcPPS}},
		{"h264 only pps in band", CodecH264, have, [][]byte{avcPPS, avcIDR}, ParamSets{SPS: have.SPS, PPS: avcPPS}},
		{"h264 latest of a kind wins", CodecH264, ParamSets{}, [][]byte{avcSPS, avcSPS2, avcPPS, avcIDR}, ParamSets{SPS: avcSPS2, PPS: avcPPS}},
		{"h264 frame without sets", CodecH264, have, [][]byte{avcP}, have},
		{"empty nal units", CodecH264, have, [][]byte{{}, nil, avcP}, have},
		{"h265 key frame with sets", CodecH265, ParamSets{}, [][]byte{hevcVPS, hevcSPS, hevcPPS, hevcIDR},
			ParamSets{VPS: hevcVPS, SPS: hevcSPS, PPS: hevcPPS}},
		// 0x67 is an H.265 type 51 unit, not an SPS.
		{"h264 sps in h265 stream", CodecH265, ParamSets{}, [][]byte{avcSPS, hevcIDR}, ParamSets{}},
		{"audio codec", CodecAAC, ParamSets{}, [][]byte{avcSPS}, ParamSets{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Update(tc.codec, tc.au); !got.Equal(tc.want) {
				t.Errorf("Update = %x, want %x", got, tc.want)
			}
		})
	}
}

func TestUnitParamSetsPreferTrack(t *testing.T) {
	track := &Track{Codec: CodecH264, ClockRate: 90000, SPS: []byte{0x67, 0}}
	u := &Unit{Track: track, Key: true, NALUs: [][]byte{avcSPS, avcPPS, avcIDR}}
	// The SPS comes from the track, the PPS it lacks from the key frame.
	if got, want := u.ParamSets(), (ParamSets{SPS: track.SPS, PPS: avcPPS}); !got.Equal(want) {
		t.Errorf("ParamSets = %x, want %x", got, want)
	}
}

func TestParamSetsUpdateDoesNotAllocate(t *testing.T) {
	have := ParamSets{SPS: avcSPS, PPS: avcPPS}
	au := [][]byte{avcAUD, avcSPS, avcPPS, avcIDR}
	if n := testing.AllocsPerRun(100, func() {
		if !have.Update(CodecH264, au).Equal(have) {
			t.Fatal("changed")
		}
	}); n != 0 {
		t.Errorf("Update allocates %v times per access unit", n)
	}
}

func TestNewVideoTrackCopiesSets(t *testing.T) {
	sps := bytes.Clone(avcSPS)
	tr := newVideoTrack(CodecH264, 90000, ParamSets{VPS: hevcVPS, SPS: sps, PPS: avcPPS})
	sps[2] = 9
	if !bytes.Equal(tr.SPS, avcSPS) || tr.VPS != nil {
		t.Errorf("track SPS %x VPS %x: want a copy of the SPS and no VPS for H.264", tr.SPS, tr.VPS)
	}
}

func TestVideoHeaders(t *testing.T) {
	t1 := &Track{Codec: CodecH264, ClockRate: 90000}
	t2 := &Track{Codec: CodecH264, ClockRate: 90000}
	var h VideoHeaders
	steps := []struct {
		u        *Unit
		sent     bool // the consumer sent headers for u's track after Check
		need, ok bool
	}{
		{&Unit{Track: t1}, false, false, false},          // before the first key frame: drop
		{&Unit{Track: t1, Key: true}, false, true, true}, // headers could not be built
		{&Unit{Track: t1}, false, false, false},          // so still waiting
		{&Unit{Track: t1, Key: true}, true, true, true},
		{&Unit{Track: t1}, false, false, true},
		{&Unit{Track: t1, Key: true}, false, false, true}, // same track: no new headers
		{&Unit{Track: t2}, false, false, false},           // new track: wait for its key frame
		{&Unit{Track: t2, Key: true}, true, true, true},
		{&Unit{Track: t2}, false, false, true},
	}
	for i, s := range steps {
		need, ok := h.Check(s.u)
		if need != s.need || ok != s.ok {
			t.Fatalf("step %d: Check = need %v ok %v, want %v %v", i, need, ok, s.need, s.ok)
		}
		if s.sent {
			h.Sent(s.u.Track)
		}
	}
}
