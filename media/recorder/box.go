package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"
)

// closeMarker ends every cleanly closed segment: a 'free' box players skip.
// A segment without it was cut short (kill, crash, power loss) and is
// repaired at Open.
var closeMarker = []byte("\x00\x00\x00\x18freecamagent-closed\x00")

// maxMoof bounds the moof box the walker reads; ours hold a second of
// sample entries, a few KiB.
const maxMoof = 4 << 20

// segScan is what the box walker found in a segment file.
type segScan struct {
	size    int64  // file size
	initEnd int64  // end of ftyp+moov; 0 when the init is incomplete
	end     int64  // end of the last complete moof+mdat pair (initEnd when none)
	frags   int    // complete moof+mdat pairs
	video   uint64 // end of the video track, 90 kHz ticks from the segment start
	closed  bool   // the close marker follows end
}

func (s segScan) duration() time.Duration {
	return time.Duration(s.video) * time.Second / videoTimescale
}

// scanSegment walks the top-level boxes of a segment file: ftyp, moov,
// then moof+mdat pairs, then the close marker. It stops at the first box
// that is torn or out of place; everything before it is intact.
func scanSegment(f *os.File) (segScan, error) {
	st, err := f.Stat()
	if err != nil {
		return segScan{}, err
	}
	s := segScan{size: st.Size()}
	var hdr [16]byte
	var pos int64
	var moof []byte
	moofEnd := int64(-1)
	for stage := 0; ; stage++ {
		typ, size, hlen, ok := readBoxHeader(f, pos, s.size, hdr[:])
		if !ok {
			break
		}
		end := pos + size
		switch {
		case stage == 0 && typ == "ftyp", stage == 1 && typ == "moov":
			if typ == "moov" {
				s.initEnd, s.end = end, end
			}
		case s.initEnd > 0 && typ == "moof" && moofEnd < 0 && size <= maxMoof:
			moof = grow(moof, int(size-hlen))
			if _, err := f.ReadAt(moof, pos+hlen); err != nil {
				return s, fmt.Errorf("recorder: read moof: %w", err)
			}
			moofEnd = end
		case typ == "mdat" && moofEnd == pos:
			if e, ok := videoEnd(moof); ok && e > s.video {
				s.video = e
			}
			s.end, s.frags, moofEnd = end, s.frags+1, -1
		case typ == "free" && s.initEnd > 0 && pos == s.end && end == s.size && isMarker(f, pos):
			s.closed = true
			return s, nil
		default:
			return s, nil
		}
		pos = end
	}
	return s, nil
}

// readBoxHeader reads the header of the box at pos; ok is false when it
// is torn (runs past size) or malformed.
func readBoxHeader(f *os.File, pos, fileSize int64, hdr []byte) (typ string, size, hlen int64, ok bool) {
	if pos+8 > fileSize {
		return "", 0, 0, false
	}
	if _, err := f.ReadAt(hdr[:8], pos); err != nil {
		return "", 0, 0, false
	}
	size, hlen = int64(binary.BigEndian.Uint32(hdr)), 8
	if size == 1 {
		if pos+16 > fileSize {
			return "", 0, 0, false
		}
		if _, err := f.ReadAt(hdr[8:16], pos+8); err != nil {
			return "", 0, 0, false
		}
		size, hlen = int64(binary.BigEndian.Uint64(hdr[8:])), 16
	}
	// size 0 ("to the end of the file") is never written by us: a zeroed
	// tail after a power loss looks like it.
	if size < hlen || pos+size > fileSize {
		return "", 0, 0, false
	}
	return string(hdr[4:8]), size, hlen, true
}

func isMarker(f *os.File, pos int64) bool {
	b := make([]byte, len(closeMarker))
	_, err := f.ReadAt(b, pos)
	return err == nil && bytes.Equal(b, closeMarker)
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// videoEnd returns tfdt + the sum of sample durations of the video traf
// in a moof payload.
func videoEnd(moof []byte) (uint64, bool) {
	for box := range children(moof) {
		if box.typ != "traf" {
			continue
		}
		var id uint32
		var base, sum uint64
		var haveBase bool
		for c := range children(box.data) {
			d := c.data
			switch c.typ {
			case "tfhd":
				if len(d) >= 8 {
					id = binary.BigEndian.Uint32(d[4:])
				}
			case "tfdt":
				if len(d) >= 12 && d[0] == 1 {
					base, haveBase = binary.BigEndian.Uint64(d[4:]), true
				} else if len(d) >= 8 {
					base, haveBase = uint64(binary.BigEndian.Uint32(d[4:])), true
				}
			case "trun":
				sum += trunDuration(d)
			}
		}
		if id == videoID && haveBase {
			return base + sum, true
		}
	}
	return 0, false
}

// trunDuration sums the sample durations of a trun payload.
func trunDuration(d []byte) uint64 {
	if len(d) < 8 {
		return 0
	}
	flags := binary.BigEndian.Uint32(d) & 0xffffff
	n := int(binary.BigEndian.Uint32(d[4:]))
	p := 8
	if flags&0x1 != 0 {
		p += 4
	}
	if flags&0x4 != 0 {
		p += 4
	}
	if flags&0x100 == 0 {
		return 0
	}
	per := 0
	for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&f != 0 {
			per += 4
		}
	}
	var sum uint64
	for i := 0; i < n && p+4 <= len(d); i++ {
		sum += uint64(binary.BigEndian.Uint32(d[p:]))
		p += per
	}
	return sum
}

type box struct {
	typ  string
	data []byte
}

// children iterates the boxes packed in b, stopping at a malformed one.
func children(b []byte) iter.Seq[box] {
	return func(yield func(box) bool) {
		for len(b) >= 8 {
			n := int(binary.BigEndian.Uint32(b))
			if n < 8 || n > len(b) {
				return
			}
			if !yield(box{typ: string(b[4:8]), data: b[8:n]}) {
				return
			}
			b = b[n:]
		}
	}
}

// errEmpty: the segment holds no complete fragment and was deleted.
var errEmpty = errors.New("recorder: empty segment")

// repairSegment makes a segment that was not closed cleanly readable:
// truncated after its last complete fragment and closed with the marker.
// One without a complete fragment is deleted (errEmpty).
func repairSegment(path string) (segScan, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return segScan{}, err
	}
	defer f.Close()
	s, err := scanSegment(f)
	if err != nil {
		return s, err
	}
	if s.closed {
		return s, nil
	}
	if s.frags == 0 {
		f.Close()
		if err := os.Remove(path); err != nil {
			return s, err
		}
		return s, errEmpty
	}
	if err := f.Truncate(s.end); err != nil {
		return s, fmt.Errorf("recorder: truncate %s: %w", path, err)
	}
	if _, err := f.WriteAt(closeMarker, s.end); err != nil {
		return s, fmt.Errorf("recorder: close %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return s, err
	}
	s.size, s.closed = s.end+int64(len(closeMarker)), true
	return s, nil
}

// readFragments returns the init and the fragments of a closed segment.
func readFragments(path string) (init, frags []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	s, err := scanSegment(f)
	if err != nil {
		return nil, nil, err
	}
	if s.initEnd == 0 {
		return nil, nil, fmt.Errorf("recorder: %s: no init segment", path)
	}
	b := make([]byte, s.end)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, s.end), b); err != nil {
		return nil, nil, err
	}
	return b[:s.initEnd], b[s.initEnd:], nil
}
