package rtspsim

import (
	"bytes"
	"testing"
)

var annexBCases = []struct {
	name    string
	in      []byte
	wantAUs []int // NAL units per access unit; nil means an error
}{
	{"sps pps idr", []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 0x88}, []int{3}},
	{"two frames", []byte{0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9a}, []int{1, 1}},
	{"two slices one frame", []byte{0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x65, 0x40, 0, 0, 1, 0x41, 0x80}, []int{2, 1}},
	{"aud splits", []byte{0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x9a}, []int{2, 2}},
	{"sei after slice splits", []byte{0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x06, 5, 0, 0, 1, 0x41, 0x9a}, []int{1, 2}},
	{"trailing zeros trimmed", []byte{0, 0, 1, 0x41, 0x9a, 0, 0, 0, 0, 1, 0x41, 0x9a, 0}, []int{1, 1}},
	{"empty", nil, nil},
	{"no start code", []byte{0x65, 0x88}, nil},
	{"garbage before start", []byte{7, 0, 0, 1, 0x65, 0x88}, nil},
	{"forbidden bit", []byte{0, 0, 1, 0xe5, 0x88}, nil},
	{"params without slice", []byte{0, 0, 1, 0x67, 1}, nil},
}

func TestSplitAnnexB(t *testing.T) {
	for _, tc := range annexBCases {
		t.Run(tc.name, func(t *testing.T) {
			aus, err := splitAnnexB(tc.in)
			if tc.wantAUs == nil {
				if err == nil {
					t.Fatalf("want error, got %d units", len(aus))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(aus) != len(tc.wantAUs) {
				t.Fatalf("got %d units, want %d", len(aus), len(tc.wantAUs))
			}
			for i, au := range aus {
				if len(au) != tc.wantAUs[i] {
					t.Errorf("unit %d: %d NAL units, want %d", i, len(au), tc.wantAUs[i])
				}
			}
		})
	}
}

func FuzzSplitAnnexB(f *testing.F) {
	for _, tc := range annexBCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		aus, err := splitAnnexB(b)
		if err != nil {
			return
		}
		for _, au := range aus {
			if len(au) == 0 {
				t.Fatal("empty access unit")
			}
			for _, n := range au {
				if len(n) == 0 || n[0]&0x80 != 0 || n[len(n)-1] == 0 {
					t.Fatalf("bad NAL unit %x", n)
				}
			}
		}
	})
}

// adtsFrame builds one ADTS frame: AAC LC, 48 kHz, mono, no CRC.
func adtsFrame(payload ...byte) []byte {
	l := 7 + len(payload)
	h := []byte{0xff, 0xf1, 1<<6 | 3<<2, 1 << 6, 0, 0, 0xfc}
	h[3] |= byte(l >> 11)
	h[4] = byte(l >> 3)
	h[5] = byte(l<<5) | 0x1f
	return append(h, payload...)
}

var adtsCases = []struct {
	name       string
	in         []byte
	wantFrames int // -1 means an error
}{
	{"one frame", adtsFrame(1, 2, 3), 1},
	{"two frames", append(adtsFrame(1), adtsFrame(2, 3)...), 2},
	{"empty", nil, -1},
	{"truncated header", adtsFrame(1)[:5], -1},
	{"truncated payload", adtsFrame(1, 2, 3)[:8], -1},
	{"no sync", append([]byte{0}, adtsFrame(1)...), -1},
	{"zero payload", adtsFrame(), -1},
	{"config change", append(adtsFrame(1), func() []byte { b := adtsFrame(1); b[2] = 1<<6 | 4<<2; return b }()...), -1},
	{"bad rate index", func() []byte { b := adtsFrame(1); b[2] = 1<<6 | 15<<2; return b }(), -1},
}

func TestSplitADTS(t *testing.T) {
	for _, tc := range adtsCases {
		t.Run(tc.name, func(t *testing.T) {
			frames, cfg, err := splitADTS(tc.in)
			if tc.wantFrames < 0 {
				if err == nil {
					t.Fatalf("want error, got %d frames", len(frames))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != tc.wantFrames {
				t.Fatalf("got %d frames, want %d", len(frames), tc.wantFrames)
			}
			if cfg != (adtsConfig{ObjectType: 2, SampleRate: 48000, ChannelCount: 1}) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func FuzzSplitADTS(f *testing.F) {
	for _, tc := range adtsCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, _, err := splitADTS(b)
		if err != nil {
			return
		}
		total := 0
		for _, fr := range frames {
			if len(fr) == 0 {
				t.Fatal("empty frame")
			}
			total += len(fr) + 7
		}
		if total > len(b) {
			t.Fatalf("frames cover %d bytes of %d", total, len(b))
		}
	})
}

func TestFixture(t *testing.T) {
	aus, err := splitAnnexB(fixtureVideo)
	if err != nil {
		t.Fatal(err)
	}
	if len(aus) != 10*FPS {
		t.Errorf("fixture has %d frames, want %d", len(aus), 10*FPS)
	}
	idr := 0
	for _, au := range aus {
		for _, n := range au {
			if n[0]&0x1f == naluIDR {
				idr++
				break
			}
		}
	}
	if idr != 10 {
		t.Errorf("fixture has %d IDR frames, want 10 (GOP 25)", idr)
	}
	if !bytes.Equal(aus[0][0][:1], []byte{0x67}) {
		t.Errorf("first NAL unit is %x, want an SPS", aus[0][0][0])
	}
	frames, cfg, err := splitADTS(fixtureAudio)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SampleRate != 48000 || cfg.ObjectType != 2 || len(frames) < 400 {
		t.Errorf("audio %+v, %d frames", cfg, len(frames))
	}
}
