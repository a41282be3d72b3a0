package rtspsim

import (
	"errors"
	"fmt"
)

// accessUnit is one H.264 picture: its NAL units without start codes.
type accessUnit [][]byte

// H.264 NAL unit types the splitter looks at (ITU-T H.264 table 7-1).
const (
	naluSlice = 1
	naluIDR   = 5
	naluSEI   = 6
	naluSPS   = 7
	naluPPS   = 8
	naluAUD   = 9
)

// splitAnnexB cuts an H.264 Annex-B byte stream into access units. A new
// unit starts at an access unit delimiter, at SEI/SPS/PPS after a slice, or at
// a slice whose first_mb_in_slice is 0 after a slice (ITU-T H.264 7.4.1.2.3).
// The returned slices alias buf.
func splitAnnexB(buf []byte) ([]accessUnit, error) {
	nalus, err := splitNALUs(buf)
	if err != nil {
		return nil, err
	}
	var aus []accessUnit
	var cur accessUnit
	hasVCL := false
	for _, n := range nalus {
		typ := n[0] & 0x1f
		vcl := typ >= naluSlice && typ <= naluIDR
		boundary := false
		switch {
		case typ == naluAUD:
			boundary = len(cur) > 0
		case vcl:
			// first_mb_in_slice is ue(v); a leading 1 bit encodes 0.
			boundary = hasVCL && len(n) > 1 && n[1]&0x80 != 0
		case typ == naluSEI || typ == naluSPS || typ == naluPPS || (typ >= 14 && typ <= 18):
			boundary = hasVCL
		}
		if boundary {
			aus = append(aus, cur)
			cur, hasVCL = nil, false
		}
		cur = append(cur, n)
		hasVCL = hasVCL || vcl
	}
	if len(cur) > 0 {
		if !hasVCL {
			return nil, errors.New("annex-b: trailing access unit without a slice")
		}
		aus = append(aus, cur)
	}
	if len(aus) == 0 {
		return nil, errors.New("annex-b: no access units")
	}
	return aus, nil
}

// splitNALUs returns the NAL units between start codes (00 00 01, with any
// leading zero bytes of the 4-byte form trimmed from the previous unit).
func splitNALUs(buf []byte) ([][]byte, error) {
	var out [][]byte
	start := -1 // first byte of the current NAL unit
	i := 0
	for i+2 < len(buf) {
		if buf[i] != 0 || buf[i+1] != 0 || buf[i+2] != 1 {
			if start < 0 && buf[i] != 0 {
				return nil, errors.New("annex-b: data before the first start code")
			}
			i++
			continue
		}
		if start >= 0 {
			if n := trimZeros(buf[start:i]); len(n) > 0 {
				out = append(out, n)
			}
		}
		i += 3
		start = i
	}
	if start < 0 {
		return nil, errors.New("annex-b: no start code")
	}
	if n := trimZeros(buf[start:]); len(n) > 0 {
		out = append(out, n)
	}
	for _, n := range out {
		if n[0]&0x80 != 0 {
			return nil, errors.New("annex-b: forbidden_zero_bit set")
		}
	}
	return out, nil
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// adtsConfig is what every ADTS header of a file must agree on.
type adtsConfig struct {
	ObjectType   int // MPEG-4 audio object type (2 = AAC LC)
	SampleRate   int
	ChannelCount int
}

var adtsSampleRates = [...]int{
	96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
}

// splitADTS cuts an ADTS stream (ISO 14496-3 1.A.2) into raw AAC frames,
// one raw_data_block each. Every header must carry the same configuration.
// The returned frames alias buf.
func splitADTS(buf []byte) ([][]byte, adtsConfig, error) {
	var frames [][]byte
	var cfg adtsConfig
	for pos := 0; pos < len(buf); {
		h := buf[pos:]
		if len(h) < 7 {
			return nil, cfg, fmt.Errorf("adts: truncated header at %d", pos)
		}
		if h[0] != 0xff || h[1]&0xf0 != 0xf0 {
			return nil, cfg, fmt.Errorf("adts: missing syncword at %d", pos)
		}
		if h[1]&0x06 != 0 {
			return nil, cfg, fmt.Errorf("adts: layer must be 0 at %d", pos)
		}
		hdrLen := 7
		if h[1]&0x01 == 0 { // protection_absent == 0: a CRC follows
			hdrLen = 9
		}
		srIndex := int(h[2]>>2) & 0x0f
		if srIndex >= len(adtsSampleRates) {
			return nil, cfg, fmt.Errorf("adts: bad sampling index %d at %d", srIndex, pos)
		}
		c := adtsConfig{
			ObjectType:   int(h[2]>>6) + 1,
			SampleRate:   adtsSampleRates[srIndex],
			ChannelCount: int(h[2]&0x01)<<2 | int(h[3]>>6),
		}
		if c.ChannelCount == 0 || c.ChannelCount > 6 {
			return nil, cfg, fmt.Errorf("adts: unsupported channel configuration %d at %d", c.ChannelCount, pos)
		}
		if h[6]&0x03 != 0 {
			return nil, cfg, fmt.Errorf("adts: several raw data blocks per frame at %d", pos)
		}
		frameLen := int(h[3]&0x03)<<11 | int(h[4])<<3 | int(h[5]>>5)
		if frameLen <= hdrLen || frameLen > len(h) {
			return nil, cfg, fmt.Errorf("adts: bad frame length %d at %d", frameLen, pos)
		}
		if len(frames) == 0 {
			cfg = c
		} else if c != cfg {
			return nil, cfg, fmt.Errorf("adts: configuration changes at %d", pos)
		}
		frames = append(frames, h[hdrLen:frameLen])
		pos += frameLen
	}
	if len(frames) == 0 {
		return nil, cfg, errors.New("adts: no frames")
	}
	return frames, cfg, nil
}
