package media

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// ParamSets are the parameter sets of an H.264 (SPS, PPS) or H.265 (VPS,
// SPS, PPS) stream, without start codes. Cameras send them in the SDP, in
// band before key frames, or both.
type ParamSets struct {
	VPS, SPS, PPS []byte
}

// ParamSets returns the track's parameter sets (shared, never modify them).
func (t *Track) ParamSets() ParamSets {
	return ParamSets{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}
}

// Equal reports whether p and q hold the same bytes.
func (p ParamSets) Equal(q ParamSets) bool {
	return bytes.Equal(p.VPS, q.VPS) && bytes.Equal(p.SPS, q.SPS) && bytes.Equal(p.PPS, q.PPS)
}

// Update returns p with every set that access unit au of codec c carries in
// band replaced by the latest one (the last of its kind in au). The result
// shares memory with au; Update does not allocate.
func (p ParamSets) Update(c Codec, au [][]byte) ParamSets {
	return inBand(c, au).or(p)
}

// ParamSets returns the parameter sets for the codec headers of key frame
// u: its track's, each one the track lacks taken from those u carries in
// band (the latest of its kind). The result shares memory with u.
func (u *Unit) ParamSets() ParamSets {
	return u.Track.ParamSets().or(inBand(u.Track.Codec, u.NALUs))
}

// inBand returns the last parameter set of each kind in au; nil where au
// has none.
func inBand(c Codec, au [][]byte) ParamSets {
	var p ParamSets
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch c {
		case CodecH264:
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				p.SPS = n
			case h264.NALUTypePPS:
				p.PPS = n
			}
		case CodecH265:
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				p.VPS = n
			case h265.NALUType_SPS_NUT:
				p.SPS = n
			case h265.NALUType_PPS_NUT:
				p.PPS = n
			}
		}
	}
	return p
}

// or returns p with each empty set taken from q.
func (p ParamSets) or(q ParamSets) ParamSets {
	if len(p.VPS) == 0 {
		p.VPS = q.VPS
	}
	if len(p.SPS) == 0 {
		p.SPS = q.SPS
	}
	if len(p.PPS) == 0 {
		p.PPS = q.PPS
	}
	return p
}

// isRandomAccess reports whether access unit au of codec c is a key frame
// (H.264 IDR; H.265 IDR or CRA).
func isRandomAccess(c Codec, au [][]byte) bool {
	if c == CodecH265 {
		return h265.IsRandomAccess(au)
	}
	return h264.IsRandomAccess(au)
}

// newVideoTrack returns an H.264 or H.265 track with copies of ps and the
// picture size from its SPS.
func newVideoTrack(c Codec, clockRate int, ps ParamSets) *Track {
	t := &Track{Codec: c, ClockRate: clockRate, SPS: clone(ps.SPS), PPS: clone(ps.PPS)}
	if c == CodecH265 {
		t.VPS = clone(ps.VPS)
		var s h265.SPS
		if len(ps.SPS) > 0 && s.Unmarshal(ps.SPS) == nil {
			t.Width, t.Height = s.Width(), s.Height()
		}
		return t
	}
	var s h264.SPS
	if len(ps.SPS) > 0 && s.Unmarshal(ps.SPS) == nil {
		t.Width, t.Height = s.Width(), s.Height()
	}
	return t
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// VideoHeaders follows, for one consumer of a stream, the video track it
// last sent codec headers for: an FLV/MP4 sequence header, or parameter
// sets prepended to a key frame. Headers must go before the first video
// unit and again whenever the stream publishes a new track (new parameter
// sets, e.g. after a camera reconnect), and only at a key frame: the frames
// up to the next one are not decodable with the new sets. The zero value
// has sent nothing.
type VideoHeaders struct {
	sent *Track
}

// Check says what to do with video unit u. need: send headers built from
// u.ParamSets() before u, then call Sent. ok false: drop u, it waits for a
// key frame.
func (h *VideoHeaders) Check(u *Unit) (need, ok bool) {
	if u.Discontinuity {
		// A new camera session: headers again, and no frame before its key frame.
		h.sent = nil
	}
	if u.Track == h.sent {
		return false, true
	}
	return u.Key, u.Key
}

// Sent records that headers for track t went out.
func (h *VideoHeaders) Sent(t *Track) { h.sent = t }
