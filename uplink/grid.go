package uplink

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrBadGrid is wrapped by DecodeGrid for every malformed motion map.
var ErrBadGrid = errors.New("bad motion grid")

// maxGridCells bounds a decoded grid so a hostile map or geometry cannot
// make the decoder allocate without limit; real grids have a few hundred cells.
const maxGridCells = 1 << 16

// EncodeGrid encodes a motion grid the VXG way (docs/protocol.md#motion-detection): one ASCII '0'/'1'
// per cell, row-major from the top-left, compressed with Apple PackBits and
// base64 encoded (standard alphabet, padded). active holds columns×rows
// cells; missing cells count as inactive and extra ones are ignored.
func EncodeGrid(columns, rows int, active []bool) string {
	n := max(columns, 0) * max(rows, 0)
	cells := make([]byte, n)
	for i := range cells {
		cells[i] = '0'
		if i < len(active) && active[i] {
			cells[i] = '1'
		}
	}
	return base64.StdEncoding.EncodeToString(packBits(cells))
}

// packBits compresses src: a run of two or more equal bytes becomes a
// repeat packet, everything else literal packets of at most 128 bytes.
func packBits(src []byte) []byte {
	var out []byte
	lit := -1 // index in out of the open literal packet's header, -1 = none
	for i := 0; i < len(src); {
		run := 1
		for i+run < len(src) && src[i+run] == src[i] && run < 128 {
			run++
		}
		if run >= 2 {
			out = append(out, byte(1-run), src[i]) // header -(run-1)
			lit = -1
			i += run
			continue
		}
		if lit < 0 || out[lit] == 127 {
			out = append(out, 0xFF) // becomes 0 after the increment below
			lit = len(out) - 1
		}
		out[lit]++
		out = append(out, src[i])
		i++
	}
	return out
}

// DecodeGrid decodes a docs/protocol.md#motion-detection motion map into columns×rows cells
// (row-major, true = active). Decoding stops as soon as columns×rows
// bytes were produced; trailing data is ignored. It fails, wrapping
// ErrBadGrid, for bad base64, data that ends early, a cell byte other
// than '0'/'1', or an impossible geometry.
func DecodeGrid(s string, columns, rows int) ([]bool, error) {
	if columns < 0 || rows < 0 || (rows > 0 && columns > maxGridCells/rows) {
		return nil, fmt.Errorf("%w: geometry %dx%d", ErrBadGrid, columns, rows)
	}
	n := columns * rows
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrBadGrid, err)
	}
	cells := make([]bool, 0, n)
	put := func(b byte) error {
		switch b {
		case '0':
			cells = append(cells, false)
		case '1':
			cells = append(cells, true)
		default:
			return fmt.Errorf("%w: cell %d is byte 0x%02x, want '0' or '1'", ErrBadGrid, len(cells), b)
		}
		return nil
	}
	for i := 0; len(cells) < n; {
		if i >= len(data) {
			return nil, fmt.Errorf("%w: data ends after %d of %d cells", ErrBadGrid, len(cells), n)
		}
		h := int8(data[i])
		i++
		switch {
		case h >= 0: // literal: h+1 bytes follow
			cnt := int(h) + 1
			for k := 0; k < cnt && len(cells) < n; k++ {
				if i >= len(data) {
					return nil, fmt.Errorf("%w: literal cut short after %d of %d cells", ErrBadGrid, len(cells), n)
				}
				if err := put(data[i]); err != nil {
					return nil, err
				}
				i++
			}
		case h == -128: // no-op
		default: // repeat the next byte 1-h times
			if i >= len(data) {
				return nil, fmt.Errorf("%w: repeat without byte after %d of %d cells", ErrBadGrid, len(cells), n)
			}
			b := data[i]
			i++
			for k := 0; k < 1-int(h) && len(cells) < n; k++ {
				if err := put(b); err != nil {
					return nil, err
				}
			}
		}
	}
	return cells, nil
}

// ScaleGrid maps a row-major grid of srcCols×srcRows cells onto one of
// dstCols×dstRows covering the same picture, e.g. the cloud's grid onto a
// camera's cell layout and back. A destination cell is active when at
// least half of the picture area it covers is active in the source
// (area-weighted majority), so a drawn region keeps its shape instead of
// growing at every edge as "any overlap" would. Equal geometries map cell
// for cell, and a grid scaled to a whole multiple finer and back comes
// back unchanged (for other ratios a round trip can move an edge by a
// cell). Missing source cells count as inactive; a non-positive geometry
// gives nil.
func ScaleGrid(src []bool, srcCols, srcRows, dstCols, dstRows int) []bool {
	if srcCols <= 0 || srcRows <= 0 || dstCols <= 0 || dstRows <= 0 {
		return nil
	}
	// In units where a source cell is dstCols wide and dstRows high, a
	// destination cell is srcCols wide and srcRows high: all integers.
	out := make([]bool, dstCols*dstRows)
	total := srcCols * srcRows
	for dy := range dstRows {
		y0, y1 := dy*srcRows, (dy+1)*srcRows
		for dx := range dstCols {
			x0, x1 := dx*srcCols, (dx+1)*srcCols
			area := 0
			for sy := y0 / dstRows; sy < srcRows && sy*dstRows < y1; sy++ {
				oy := min(y1, (sy+1)*dstRows) - max(y0, sy*dstRows)
				for sx := x0 / dstCols; sx < srcCols && sx*dstCols < x1; sx++ {
					i := sy*srcCols + sx
					if i >= len(src) || !src[i] {
						continue
					}
					area += oy * (min(x1, (sx+1)*dstCols) - max(x0, sx*dstCols))
				}
			}
			out[dy*dstCols+dx] = 2*area >= total
		}
	}
	return out
}
