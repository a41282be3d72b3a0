package uplink

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// parseCells turns "0011…" into cells.
func parseCells(s string) []bool {
	out := make([]bool, len(s))
	for i := range s {
		out[i] = s[i] == '1'
	}
	return out
}

// gridCases seeds FuzzDecodeGrid too; cells "" with err set means failure.
var gridCases = []struct {
	name          string
	enc           string
	columns, rows int
	cells         string
	err           bool
	noEncode      bool // enc is not what EncodeGrid emits for cells
}{
	{name: "spec lower-right block", enc: "5TD9Mf0w/TH9MP0x", columns: 8, rows: 6,
		cells: "00000000" + "00000000" + "00000000" + "00001111" + "00001111" + "00001111"},
	{name: "spec full", enc: "0TE=", columns: 8, rows: 6, cells: strings.Repeat("1", 48)},
	{name: "empty grid", enc: "", columns: 0, rows: 0, cells: ""},
	{name: "literal", enc: "AzAxMDE=", columns: 2, rows: 2, cells: "0101"},
	{name: "run stops at grid end", enc: "0TE=", columns: 4, rows: 2, cells: "11111111", noEncode: true},
	{name: "no-op header skipped", enc: "gP8x", columns: 2, rows: 1, cells: "11", noEncode: true},
	{name: "trailing data ignored", enc: "/zEAMA==", columns: 2, rows: 1, cells: "11", noEncode: true},
	{name: "long run over 128", enc: "gTClMA==", columns: 20, rows: 11, cells: strings.Repeat("0", 220)},
	{name: "bad base64", enc: "0TE", columns: 8, rows: 6, err: true},
	{name: "url alphabet", enc: "5TD9Mf0w_TH9MP0x", columns: 8, rows: 6, err: true},
	{name: "truncated", enc: "0TE=", columns: 8, rows: 7, err: true},
	{name: "literal cut short", enc: "AzAx", columns: 2, rows: 2, err: true},
	{name: "repeat without byte", enc: "/w==", columns: 2, rows: 1, err: true},
	{name: "bit-packed bytes", enc: "AP8=", columns: 1, rows: 1, err: true},
	{name: "negative geometry", enc: "0TE=", columns: -8, rows: -6, err: true},
	{name: "huge geometry", enc: "0TE=", columns: 1 << 20, rows: 1 << 20, err: true},
}

func TestGrid(t *testing.T) {
	for _, c := range gridCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeGrid(c.enc, c.columns, c.rows)
			if c.err {
				if !errors.Is(err, ErrBadGrid) {
					t.Fatalf("err = %v, want ErrBadGrid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := parseCells(c.cells)
			if !slices.Equal(got, want) {
				t.Errorf("decoded %v", got)
			}
			if !c.noEncode {
				if enc := EncodeGrid(c.columns, c.rows, want); enc != c.enc {
					t.Errorf("EncodeGrid = %q, want %q", enc, c.enc)
				}
			}
		})
	}
}

func TestEncodeGridShortInput(t *testing.T) {
	// Missing cells are inactive, extra ones ignored.
	if got := EncodeGrid(8, 6, nil); got != EncodeGrid(8, 6, make([]bool, 48)) {
		t.Errorf("nil cells: %q", got)
	}
	if got := EncodeGrid(8, 6, parseCells(strings.Repeat("1", 60))); got != "0TE=" {
		t.Errorf("extra cells: %q", got)
	}
}

// TestGridRoundTrip: any grid survives encode → decode, including long
// literals and runs that cross the 128-byte packet limits.
func TestGridRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		cols, rows := 1+r.IntN(40), 1+r.IntN(40)
		cells := make([]bool, cols*rows)
		density := r.Float64()
		runny := i%2 == 0
		for j := range cells {
			if runny && j > 0 && r.IntN(50) != 0 {
				cells[j] = cells[j-1]
			} else {
				cells[j] = r.Float64() < density
			}
		}
		enc := EncodeGrid(cols, rows, cells)
		got, err := DecodeGrid(enc, cols, rows)
		if err != nil || !slices.Equal(got, cells) {
			t.Fatalf("%dx%d %q: %v", cols, rows, enc, err)
		}
	}
}

func FuzzDecodeGrid(f *testing.F) {
	for _, c := range gridCases {
		f.Add(c.enc, c.columns, c.rows)
	}
	f.Fuzz(func(t *testing.T, s string, columns, rows int) {
		cells, err := DecodeGrid(s, columns, rows)
		if err != nil {
			if !errors.Is(err, ErrBadGrid) {
				t.Fatalf("error does not wrap ErrBadGrid: %v", err)
			}
			return
		}
		if len(cells) != columns*rows {
			t.Fatalf("%d cells for %dx%d", len(cells), columns, rows)
		}
		again, err := DecodeGrid(EncodeGrid(columns, rows, cells), columns, rows)
		if err != nil || !slices.Equal(again, cells) {
			t.Fatalf("re-encode round trip: %v", err)
		}
	})
}

func TestScaleGrid(t *testing.T) {
	cases := []struct {
		name                   string
		src                    string
		srcC, srcR, dstC, dstR int
		want                   string
	}{
		{"identity", "0110" + "1001", 4, 2, 4, 2, "0110" + "1001"},
		{"upscale 2x", "01" + "10", 2, 2, 4, 4, "0011" + "0011" + "1100" + "1100"},
		{"downscale quarter is not enough", "1000" + "0000" + "0000" + "0000", 4, 4, 2, 2, "00" + "00"},
		{"downscale half is enough", "1100" + "0000" + "0011" + "0011", 4, 4, 2, 2, "10" + "01"},
		{"non-integer 3 to 2", "110", 3, 1, 2, 1, "10"},
		{"non-integer 2 to 3", "10", 2, 1, 3, 1, "110"},
		{"all active any geometry", strings.Repeat("1", 48), 8, 6, 22, 18, strings.Repeat("1", 22*18)},
		{"none active", strings.Repeat("0", 48), 8, 6, 5, 7, strings.Repeat("0", 35)},
		{"short source is inactive", "1", 2, 1, 2, 1, "10"},
		{"bad geometry", "1", 1, 1, 0, 3, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ScaleGrid(parseCells(c.src), c.srcC, c.srcR, c.dstC, c.dstR)
			if !slices.Equal(got, parseCells(c.want)) && !(c.want == "" && got == nil) {
				t.Errorf("got %v", got)
			}
			if c.want == "" && got != nil {
				t.Errorf("want nil, got %v", got)
			}
		})
	}
}

// TestScaleGridRoundTrip: a region drawn on the cloud grid comes back
// unchanged after a trip through a camera layout that is a whole multiple
// finer, and through ONVIF's common 22×18 for the 8×6 cloud grid.
func TestScaleGridRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []bool {
		cells := make([]bool, n)
		for i := range cells {
			cells[i] = r.IntN(2) == 0
		}
		return cells
	}
	for range 500 {
		cols, rows := 1+r.IntN(16), 1+r.IntN(16)
		k := 1 + r.IntN(4)
		cells := random(cols * rows)
		fine := ScaleGrid(cells, cols, rows, cols*k, rows*k)
		if back := ScaleGrid(fine, cols*k, rows*k, cols, rows); !slices.Equal(back, cells) {
			t.Fatalf("%dx%d via x%d changed", cols, rows, k)
		}
	}
	for range 500 {
		cells := random(48)
		if back := ScaleGrid(ScaleGrid(cells, 8, 6, 22, 18), 22, 18, 8, 6); !slices.Equal(back, cells) {
			t.Fatalf("8x6 via 22x18 changed %v", cells)
		}
	}
}
