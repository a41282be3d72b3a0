package onvif

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// packBitsCases are PackBits-compressed inputs and what they decode to.
var packBitsCases = []struct {
	name   string
	packed string // hex
	plain  string // hex
}{
	{"apple technote example", "feaa0280002afdaa0380002a22f7aa",
		"aaaaaa80002aaaaaaaaa80002a22aaaaaaaaaaaaaaaaaaaa"},
	{"single literal", "0041", "41"},
	{"repeat two", "ff00", "0000"},
	{"vxg full 8x6 grid", "d131", strings.Repeat("31", 48)},
	{"longest repeat", "8107", strings.Repeat("07", 128)},
	{"longest literal", "7f" + strings.Repeat("0102", 64), strings.Repeat("0102", 64)},
	{"no-op header skipped", "80ff01", "0101"},
	{"empty", "", ""},
}

func TestPackBitsTable(t *testing.T) {
	for _, tc := range packBitsCases {
		t.Run(tc.name, func(t *testing.T) {
			packed, _ := hex.DecodeString(tc.packed)
			plain, _ := hex.DecodeString(tc.plain)
			got, err := unpackBits(packed, len(plain))
			if err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("unpack = %x, want %x", got, plain)
			}
			// Our encoder must round-trip, and for these inputs it is as
			// compact as the reference encodings.
			enc := packBits(plain)
			if back, err := unpackBits(enc, len(plain)); err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("round trip of %x via %x = %x, %v", plain, enc, back, err)
			}
			if tc.name != "no-op header skipped" && len(enc) > len(packed) {
				t.Fatalf("pack = %x (%d bytes), reference %x", enc, len(enc), packed)
			}
		})
	}
}

func TestUnpackBitsRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		packed string
		want   int
	}{
		{"literal runs past end", "0341", 4},
		{"repeat without byte", "fe", 3},
		{"too short", "ff00", 3},
		{"huge", "ff00", maxPackBitsOutput + 1},
	} {
		packed, _ := hex.DecodeString(tc.packed)
		if got, err := unpackBits(packed, tc.want); err == nil {
			t.Errorf("%s: unpack = %x, want error", tc.name, got)
		}
	}
}

func TestActiveCells(t *testing.T) {
	// 22x18 with everything active: Hikvision/Axis-style layout.
	all := make([]bool, 22*18)
	for i := range all {
		all[i] = true
	}
	if got := encodeActiveCells(all); got != "0P8A8A==" {
		// 49 bytes of 0xff then 0xf0 (396 bits = 49.5 bytes, zero padded).
		t.Errorf("22x18 all active = %q", got)
	}
	// The common "zP8=" form repeats 0xff 53 times: more than needed,
	// which cameras send and we must accept.
	cells, err := decodeActiveCells("zP8=", 22*18)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range cells {
		if !a {
			t.Fatalf("cell %d inactive", i)
		}
	}
	// 8x6 with the lower-right 4x3 block active: bits MSB first, row-major.
	grid := make([]bool, 48)
	for r := 3; r < 6; r++ {
		for c := 4; c < 8; c++ {
			grid[r*8+c] = true
		}
	}
	enc := encodeActiveCells(grid)
	back, err := decodeActiveCells(enc, 48)
	if err != nil {
		t.Fatal(err)
	}
	for i := range grid {
		if grid[i] != back[i] {
			t.Fatalf("cell %d: %v after round trip via %q", i, back[i], enc)
		}
	}
	// Rows 0-2 are 0x00, rows 3-5 are 0b00001111: fe00 fe0f.
	if enc != "/gD+Dw==" {
		t.Errorf("8x6 lower-right block = %q", enc)
	}
	if _, err := decodeActiveCells("!!", 48); err == nil {
		t.Error("bad base64 accepted")
	}
	if got, err := decodeActiveCells("/gD+Dw", 48); err != nil || !got[47] {
		t.Errorf("unpadded base64: %v %v", got, err)
	}
}

func FuzzPackBits(f *testing.F) {
	for _, tc := range packBitsCases {
		b, _ := hex.DecodeString(tc.packed)
		f.Add(b, 64)
		p, _ := hex.DecodeString(tc.plain)
		f.Add(p, len(p))
	}
	f.Fuzz(func(t *testing.T, data []byte, want int) {
		if want < 0 || want > 4096 {
			return
		}
		// Decoding arbitrary input never panics and never over-produces.
		if out, err := unpackBits(data, want); err == nil && len(out) != want {
			t.Fatalf("unpack produced %d bytes, want %d", len(out), want)
		}
		// Encoding anything round-trips.
		back, err := unpackBits(packBits(data), len(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip %x: %x %v", data, back, err)
		}
	})
}
