package recorder

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/camagent/camagent/media"
)

// Track IDs and the video timescale of every segment file; readers of the
// files (index rebuild, Extract) rely on them.
const (
	videoID        = 1
	audioID        = 2
	videoTimescale = 90000
	// aacFrameSamples is the length of an AAC-LC access unit.
	aacFrameSamples = 1024
)

// trackMux collects the samples of one track for the fragment being built.
// The newest sample is held back until the next one gives its duration.
// Payloads are not copied: data references the units' NAL units or audio
// frames (units are immutable and shared), written to disk with writev.
type trackMux struct {
	id        int
	timescale int64
	avcc      bool          // each piece gets a 4-byte length prefix (video)
	data      [][]byte      // payload pieces of the complete samples, then of the held one
	nData     int           // pieces of the complete samples
	pend      int           // payload bytes of all samples, held one included
	samples   []fmp4.Sample // complete samples; Payload unused (sizes holds it)
	sizes     []int
	base      uint64 // decode time of samples[0]
	held      bool
	heldT     int64 // decode time of the held sample
	heldSize  int
	heldN     int // pieces of the held sample
	heldSync  bool
	heldPTS   int32
	lastDur   uint32
	firstSeen bool // base is set
}

func (t *trackMux) reset() {
	clear(t.data) // let the units go
	t.data, t.samples, t.sizes = t.data[:0], t.samples[:0], t.sizes[:0]
	t.nData, t.pend = 0, 0
	t.held, t.firstSeen, t.lastDur = false, false, 0
}

// push appends the pieces of one sample, which add then describes.
func (t *trackMux) push(pieces ...[]byte) int {
	size := 0
	for _, p := range pieces {
		size += len(p)
		if t.avcc {
			size += 4
		}
	}
	t.data = append(t.data, pieces...)
	t.pend += size
	return size
}

// add appends a sample at decode time ts; the held sample, if any, gets
// its duration from ts.
func (t *trackMux) add(ts int64, sync bool, ptsOff int32, size int) {
	if t.held {
		d := ts - t.heldT
		if d <= 0 {
			d = 1
		}
		t.complete(uint32(d))
	}
	if !t.firstSeen {
		t.base, t.firstSeen = uint64(ts), true
	}
	t.held, t.heldT, t.heldSync, t.heldPTS, t.heldSize = true, ts, sync, ptsOff, size
	t.heldN = len(t.data) - t.nData
}

// complete closes the held sample with duration d.
func (t *trackMux) complete(d uint32) {
	t.samples = append(t.samples, fmp4.Sample{Duration: d, PTSOffset: t.heldPTS, IsNonSyncSample: !t.heldSync})
	t.sizes = append(t.sizes, t.heldSize)
	t.nData += t.heldN
	t.lastDur, t.held, t.heldN = d, false, 0
}

// finish closes the held sample with the previous sample's duration (or
// def when it is the only one): the stream ended without telling how long
// its last frame lasts.
func (t *trackMux) finish(def uint32) {
	if !t.held {
		return
	}
	d := t.lastDur
	if d == 0 {
		d = def
	}
	t.complete(d)
}

// fragBytes is the size of the complete samples' payloads.
func (t *trackMux) fragBytes() int {
	n := 0
	for _, z := range t.sizes {
		n += z
	}
	return n
}

// appendFragment appends one moof and the mdat header holding the
// complete samples of the tracks that have any, in the layout
// fmp4.Part.Marshal writes (default-base-is-moof, trun version 1), then
// the video samples' length prefixes; iov gets the fragment's bytes in
// file order: the header, then prefixes and payloads from the units.
func appendFragment(b []byte, iov [][]byte, seq uint32, tracks ...*trackMux) ([]byte, [][]byte) {
	moofSize := 8 + 16
	for _, t := range tracks {
		if len(t.samples) > 0 {
			moofSize += 8 + 16 + 20 + 20 + len(t.samples)*4*bits.OnesCount32(trunFlags(t)&0xf00)
		}
	}
	be := binary.BigEndian
	b = be.AppendUint32(b, uint32(moofSize))
	b = append(b, "moof"...)
	b = be.AppendUint32(b, 16)
	b = append(b, "mfhd\x00\x00\x00\x00"...)
	b = be.AppendUint32(b, seq)
	dataOff := moofSize + 8
	for _, t := range tracks {
		if len(t.samples) == 0 {
			continue
		}
		flags := trunFlags(t)
		per := 4 * bits.OnesCount32(flags&0xf00)
		b = be.AppendUint32(b, uint32(8+16+20+20+len(t.samples)*per))
		b = append(b, "traf"...)
		b = be.AppendUint32(b, 16)
		b = append(b, "tfhd\x00\x02\x00\x00"...) // default-base-is-moof
		b = be.AppendUint32(b, uint32(t.id))
		b = be.AppendUint32(b, 20)
		b = append(b, "tfdt\x01\x00\x00\x00"...)
		b = be.AppendUint64(b, t.base)
		b = be.AppendUint32(b, uint32(20+len(t.samples)*per))
		b = append(b, "trun\x01"...)
		b = append(b, byte(flags>>16), byte(flags>>8), byte(flags))
		b = be.AppendUint32(b, uint32(len(t.samples)))
		b = be.AppendUint32(b, uint32(dataOff))
		for i := range t.samples {
			sm := &t.samples[i]
			b = be.AppendUint32(b, sm.Duration)
			b = be.AppendUint32(b, uint32(t.sizes[i]))
			if flags&0x400 != 0 {
				var f uint32
				if sm.IsNonSyncSample {
					f = 1 << 16
				}
				b = be.AppendUint32(b, f)
			}
			if flags&0x800 != 0 {
				b = be.AppendUint32(b, uint32(sm.PTSOffset))
			}
		}
		dataOff += t.fragBytes()
	}
	b = be.AppendUint32(b, uint32(dataOff-moofSize))
	b = append(b, "mdat"...)
	hdr := len(b)
	for _, t := range tracks {
		if t.avcc {
			for _, p := range t.data[:t.nData] {
				b = be.AppendUint32(b, uint32(len(p)))
			}
		}
	}
	// b grows no more: the slices below stay valid.
	iov = append(iov, b[:hdr])
	pfx := hdr
	for _, t := range tracks {
		for _, p := range t.data[:t.nData] {
			if t.avcc {
				iov = append(iov, b[pfx:pfx+4])
				pfx += 4
			}
			iov = append(iov, p)
		}
	}
	return b, iov
}

// trunFlags: data offset, durations and sizes always; sample flags and
// composition offsets when a sample needs them.
func trunFlags(t *trackMux) uint32 {
	f := uint32(0x1 | 0x100 | 0x200)
	for i := range t.samples {
		if t.samples[i].IsNonSyncSample {
			f |= 0x400
		}
		if t.samples[i].PTSOffset != 0 {
			f |= 0x800
		}
	}
	return f
}

// flushed drops the samples just written, keeping the held one.
func (t *trackMux) flushed() {
	if len(t.samples) == 0 {
		return
	}
	var end uint64
	for i := range t.samples {
		t.pend -= t.sizes[i]
		end += uint64(t.samples[i].Duration)
	}
	n := copy(t.data, t.data[t.nData:])
	clear(t.data[n:]) // let the written units go
	t.data, t.nData = t.data[:n], 0
	t.base += end
	t.samples, t.sizes = t.samples[:0], t.sizes[:0]
}

// duration is the decode time at the end of the complete samples.
func (t *trackMux) end() uint64 {
	e := t.base
	for i := range t.samples {
		e += uint64(t.samples[i].Duration)
	}
	return e
}

// initFor describes the tracks of a new segment; audio may be nil.
func initFor(vc fmp4.Codec, audio *media.Track) (*fmp4.Init, error) {
	in := &fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: videoID, TimeScale: videoTimescale, Codec: vc}}}
	if audio != nil {
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(audio.Config); err != nil {
			return nil, fmt.Errorf("recorder: aac config: %w", err)
		}
		in.Tracks = append(in.Tracks, &fmp4.InitTrack{ID: audioID, TimeScale: uint32(audio.SampleRate), Codec: &fmp4.CodecMPEG4Audio{Config: conf}})
	}
	return in, nil
}

// videoCodec takes the parameter sets from the track, or from the key
// frame when the camera sends them only in band (media's one rule).
func videoCodec(key *media.Unit) (fmp4.Codec, error) {
	t, ps := key.Track, key.ParamSets()
	if len(ps.SPS) == 0 || len(ps.PPS) == 0 || (t.Codec == media.CodecH265 && len(ps.VPS) == 0) {
		return nil, fmt.Errorf("recorder: %v key frame without parameter sets", t.Codec)
	}
	if t.Codec == media.CodecH264 {
		return &fmp4.CodecH264{SPS: ps.SPS, PPS: ps.PPS}, nil
	}
	return &fmp4.CodecH265{VPS: ps.VPS, SPS: ps.SPS, PPS: ps.PPS}, nil
}

// ticks converts a duration to units of 1/scale s, rounded to the nearest.
func ticks(d time.Duration, scale int64) int64 {
	n := int64(d) * scale
	if n < 0 {
		return -((-n + int64(time.Second)/2) / int64(time.Second))
	}
	return (n + int64(time.Second)/2) / int64(time.Second)
}

// seekBuf is the io.WriteSeeker fmp4 marshals into; it keeps its memory
// between fragments. A fragment's bytes are iov (b holds its header and
// prefixes); an init's are b.
type seekBuf struct {
	b   []byte
	pos int
	iov [][]byte
}

func (s *seekBuf) Write(p []byte) (int, error) {
	need := s.pos + len(p)
	if need > len(s.b) {
		if need > cap(s.b) {
			nb := make([]byte, need, 2*need)
			copy(nb, s.b)
			s.b = nb
		}
		s.b = s.b[:need]
	}
	copy(s.b[s.pos:], p)
	s.pos = need
	return len(p), nil
}

func (s *seekBuf) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
	case 1:
		off += int64(s.pos)
	case 2:
		off += int64(len(s.b))
	}
	if off < 0 || off > int64(len(s.b)) {
		return 0, fmt.Errorf("recorder: seek out of range")
	}
	s.pos = int(off)
	return off, nil
}

func (s *seekBuf) reset() {
	clear(s.iov) // let the units go
	s.b, s.pos, s.iov = s.b[:0], 0, s.iov[:0]
}
