package onvif

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// PackBits (Apple/TIFF run-length coding) compresses the ONVIF ActiveCells
// bit map of a cell motion detector. A header byte n says what follows:
// 0..127 copies the next n+1 bytes literally, -1..-127 repeats the next byte
// 1-n times, and -128 is a no-op.

// maxPackBitsOutput bounds decoding so a hostile camera cannot make us
// allocate without limit; real cell maps are a few hundred bytes.
const maxPackBitsOutput = 1 << 16

var errPackBitsTruncated = errors.New("packbits: truncated input")

// packBits compresses src. Runs of three or more equal bytes become repeat
// packets; everything else is copied in literal packets of up to 128 bytes.
func packBits(src []byte) []byte {
	out := make([]byte, 0, len(src)+len(src)/128+1)
	for i := 0; i < len(src); {
		run := 1
		for i+run < len(src) && run < 128 && src[i+run] == src[i] {
			run++
		}
		if run >= 3 || (run == 2 && i+run == len(src)) {
			out = append(out, byte(1-run), src[i]) // 1-run is -1..-127 as a byte
			i += run
			continue
		}
		// Literal: extend until a run of three starts or 128 bytes.
		start := i
		for i < len(src) && i-start < 128 {
			if i+2 < len(src) && src[i] == src[i+1] && src[i] == src[i+2] {
				break
			}
			i++
		}
		out = append(out, byte(i-start-1))
		out = append(out, src[start:i]...)
	}
	return out
}

// unpackBits decompresses src, stopping once want bytes were produced (a
// camera may pad its map); it fails when src ends before want bytes.
func unpackBits(src []byte, want int) ([]byte, error) {
	if want < 0 || want > maxPackBitsOutput {
		return nil, fmt.Errorf("packbits: output size %d out of range", want)
	}
	out := make([]byte, 0, want)
	for i := 0; i < len(src) && len(out) < want; {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0:
			if i+n+1 > len(src) {
				return nil, errPackBitsTruncated
			}
			out = append(out, src[i:i+n+1]...)
			i += n + 1
		case n == -128:
			// no-op
		default:
			if i >= len(src) {
				return nil, errPackBitsTruncated
			}
			for k := 0; k < 1-n; k++ {
				out = append(out, src[i])
			}
			i++
		}
	}
	if len(out) < want {
		return nil, fmt.Errorf("packbits: got %d bytes, want %d", len(out), want)
	}
	return out[:want], nil
}

// encodeActiveCells packs one bit per cell (row-major, most significant bit
// first, the last byte zero-padded), PackBits-compresses and base64-encodes
// it, as ONVIF's CellMotionDetector ActiveCells parameter wants.
func encodeActiveCells(active []bool) string {
	bits := make([]byte, (len(active)+7)/8)
	for i, a := range active {
		if a {
			bits[i/8] |= 0x80 >> (i % 8)
		}
	}
	return base64.StdEncoding.EncodeToString(packBits(bits))
}

// decodeActiveCells reverses encodeActiveCells for a grid of n cells.
func decodeActiveCells(s string, n int) ([]bool, error) {
	s = strings.Join(strings.Fields(s), "")
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some firmware drops the padding.
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil, fmt.Errorf("active cells: base64: %w", err)
		}
	}
	if n < 0 || n > 8*maxPackBitsOutput {
		return nil, fmt.Errorf("active cells: %d cells out of range", n)
	}
	bits, err := unpackBits(raw, (n+7)/8)
	if err != nil {
		return nil, fmt.Errorf("active cells: %w", err)
	}
	active := make([]bool, n)
	for i := range active {
		active[i] = bits[i/8]&(0x80>>(i%8)) != 0
	}
	return active, nil
}
