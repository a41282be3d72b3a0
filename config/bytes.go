package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Bytes is a byte count written as a plain number or with a unit: 512KB,
// 64MiB, 1.5GB (B, KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of
// 1024). Disk and network people use both, so both are taken as written.
type Bytes int64

var byteUnits = []struct {
	name string
	mult float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1},
}

// ParseBytes parses a Bytes value.
func ParseBytes(s string) (Bytes, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.name); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB, 1GB, 500000)", s)
	}
	return Bytes(f * mult), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for the decoder.
func (b *Bytes) UnmarshalText(text []byte) error {
	v, err := ParseBytes(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String writes the largest binary unit that divides b exactly.
func (b Bytes) String() string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// Dimensions is a picture size written WIDTHxHEIGHT, e.g. 1280x720.
type Dimensions struct{ Width, Height int }

// UnmarshalText implements encoding.TextUnmarshaler for the decoder.
func (d *Dimensions) UnmarshalText(text []byte) error {
	w, h, ok := strings.Cut(strings.ToLower(string(text)), "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || wi < 16 || hi < 16 || wi > 16384 || hi > 16384 {
		return fmt.Errorf("%q is not WIDTHxHEIGHT with each 16-16384 (e.g. 1280x720)", text)
	}
	*d = Dimensions{wi, hi}
	return nil
}

func (d Dimensions) String() string { return fmt.Sprintf("%dx%d", d.Width, d.Height) }
