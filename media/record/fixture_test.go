package record

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	amp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/camagent/camagent/media"
)

// Real camera-like frames: rtspsim's fixture (640x360 H.264, IDR every 25
// frames, 48 kHz mono AAC) replayed with timing the tests control.
type fixture struct {
	video, audio *media.Track
	aus          [][][]byte
	aac          [][]byte
}

var testT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	raw, err := os.ReadFile("../rtspsim/fixture/fixture.h264")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{video: &media.Track{Codec: media.CodecH264, ClockRate: 90000}}
	var au [][]byte
	for _, n := range bytes.Split(raw, []byte{0, 0, 1}) {
		// Emulation prevention: 00 00 01 occurs only as a start code.
		if n = bytes.TrimRight(n, "\x00"); len(n) == 0 {
			continue
		}
		typ := h264.NALUType(n[0] & 0x1f)
		switch typ {
		case h264.NALUTypeSPS:
			if f.video.SPS == nil { // the first of each: the fixture repeats them
				f.video.SPS = n
			}
		case h264.NALUTypePPS:
			if f.video.PPS == nil {
				f.video.PPS = n
			}
		}
		au = append(au, n)
		if typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR { // x264 -threads 1: one slice a picture
			f.aus, au = append(f.aus, au), nil
		}
	}
	raw, err = os.ReadFile("../rtspsim/fixture/fixture.aac")
	if err != nil {
		t.Fatal(err)
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	conf := mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelConfig: uint8(pkts[0].ChannelCount), ChannelCount: pkts[0].ChannelCount}
	cfg, err := conf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.audio = &media.Track{Codec: media.CodecAAC, ClockRate: pkts[0].SampleRate, Config: cfg, SampleRate: pkts[0].SampleRate, Channels: pkts[0].ChannelCount}
	for _, p := range pkts {
		f.aac = append(f.aac, p.AU)
	}
	return f
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

// cam emits units in stream order as a media.Stream would: 25 fps video and
// one AAC frame per audio unit, Wall = testT0 + DTS.
type cam struct {
	f            *fixture
	frame, audio int
	skip         int // the stream starts this many frames into the fixture
	noAudio      bool
	audioTrack   *media.Track // overrides f.audio (G.711)
	// audioLag delays each audio frame's arrival after its DTS, as cameras
	// send a frame once it is encoded: frames just before a key frame then
	// arrive after it.
	audioLag time.Duration
	// keyLate delays the arrival of the key frames of odd seconds, as a
	// camera that now and then sends a big frame in a slow burst does.
	keyLate time.Duration
}

const frameDur = 40 * time.Millisecond

func (c *cam) next() *media.Unit {
	vdts := time.Duration(c.frame) * frameDur
	adts := time.Duration(c.audio) * aacFrameSamples * time.Second / time.Duration(c.f.audio.SampleRate)
	if c.noAudio || vdts <= adts+c.audioLag {
		au := c.f.aus[(c.frame+c.skip)%len(c.f.aus)]
		c.frame++
		u := &media.Unit{Track: c.f.video, PTS: vdts, DTS: vdts, Key: isIDR(au), NALUs: au, Wall: testT0.Add(vdts)}
		if u.Key && int(vdts/time.Second)%2 == 1 {
			u.Wall = u.Wall.Add(c.keyLate)
		}
		return u
	}
	tr := c.f.audio
	if c.audioTrack != nil {
		tr = c.audioTrack
	}
	fr := c.f.aac[c.audio%len(c.f.aac)]
	c.audio++
	return &media.Unit{Track: tr, PTS: adts, DTS: adts, Frames: [][]byte{fr}, Wall: testT0.Add(adts + c.audioLag)}
}

// feedUntil writes units to b until one arrives at or after wall and
// returns the units written.
func (c *cam) feedUntil(b *Buffer, wall time.Time) []*media.Unit {
	var out []*media.Unit
	for {
		u := c.next()
		b.Write(u)
		out = append(out, u)
		if !u.Wall.Before(wall) {
			return out
		}
	}
}

// splitAUD cuts an Annex-B file into access units at each access unit
// delimiter (the generated H.265 and B-frame files carry one per picture).
func splitAUD(t testing.TB, path string, isAUD func([]byte) bool) [][][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	for _, n := range bytes.Split(raw, []byte{0, 0, 1}) {
		n = bytes.TrimRight(n, "\x00")
		switch {
		case len(n) == 0:
		case isAUD(n):
			aus = append(aus, nil)
		case len(aus) > 0:
			aus[len(aus)-1] = append(aus[len(aus)-1], n)
		}
	}
	return aus
}

func h265Units(t testing.TB) []*media.Unit {
	aus := splitAUD(t, "../testdata/h265.hevc", func(n []byte) bool { return h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_AUD_NUT })
	tr := &media.Track{Codec: media.CodecH265, ClockRate: 90000}
	var out []*media.Unit
	for i, au := range aus {
		key := false
		for _, n := range au {
			switch typ := h265.NALUType((n[0] >> 1) & 0x3f); {
			case typ == h265.NALUType_VPS_NUT:
				tr.VPS = orIfEmpty(tr.VPS, n)
			case typ == h265.NALUType_SPS_NUT:
				tr.SPS = orIfEmpty(tr.SPS, n)
			case typ == h265.NALUType_PPS_NUT:
				tr.PPS = orIfEmpty(tr.PPS, n)
			case typ >= h265.NALUType_BLA_W_LP && typ <= h265.NALUType_CRA_NUT:
				key = true
			}
		}
		d := time.Duration(i) * frameDur
		out = append(out, &media.Unit{Track: tr, PTS: d, DTS: d, Key: key, NALUs: au, Wall: testT0.Add(d)})
	}
	return out
}

// bframeUnits returns the B-frame file in decode order with its
// presentation times; DTS is set two frames back so PTS >= DTS, as
// media.Source does.
func bframeUnits(t testing.TB) []*media.Unit {
	aus := splitAUD(t, "../testdata/bframes.h264", func(n []byte) bool { return h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter })
	raw, err := os.ReadFile("../testdata/bframes.pts")
	if err != nil {
		t.Fatal(err)
	}
	tr := &media.Track{Codec: media.CodecH264, ClockRate: 90000}
	var out []*media.Unit
	for i, l := range strings.Fields(string(raw)) {
		p, err := strconv.Atoi(l)
		if err != nil {
			t.Fatal(err)
		}
		au := aus[i]
		for _, n := range au {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				tr.SPS = orIfEmpty(tr.SPS, n)
			case h264.NALUTypePPS:
				tr.PPS = orIfEmpty(tr.PPS, n)
			}
		}
		pts, dts := time.Duration(p+2)*frameDur, time.Duration(i)*frameDur
		out = append(out, &media.Unit{Track: tr, PTS: pts, DTS: dts, Key: isIDR(au), NALUs: au, Wall: testT0.Add(dts)})
	}
	return out
}

// probed is what go-mp4 reads back from a file.
type probed struct {
	order         []string // top-level boxes
	movieDuration time.Duration
	tracks        []probedTrack
}

type probedTrack struct {
	handler     string
	sampleEntry string // avc1, hvc1, mp4a
	timescale   uint32
	duration    time.Duration // mdhd
	sttsSum     time.Duration
	samples     int
	syncs       []uint32 // nil: no stss, every sample is a sync sample
	cttsOffsets []int64  // per sample
}

func probeMP4(t testing.TB, data []byte) probed {
	t.Helper()
	var p probed
	var tr *probedTrack
	var mvhdScale uint32
	_, err := amp4.ReadBoxStructure(bytes.NewReader(data), func(h *amp4.ReadHandle) (any, error) {
		typ := h.BoxInfo.Type.String()
		if len(h.Path) == 1 {
			p.order = append(p.order, typ)
		}
		switch typ {
		case "moov", "trak", "mdia", "minf", "stbl", "stsd":
			if typ == "trak" {
				p.tracks = append(p.tracks, probedTrack{})
				tr = &p.tracks[len(p.tracks)-1]
			}
			_, err := h.Expand()
			return nil, err
		case "avc1", "hvc1", "hev1", "mp4a":
			tr.sampleEntry = typ
			return nil, nil
		case "mvhd", "mdhd", "hdlr", "stts", "stsz", "stss", "ctts":
		default:
			return nil, nil
		}
		box, _, err := h.ReadPayload()
		if err != nil {
			return nil, err
		}
		switch b := box.(type) {
		case *amp4.Mvhd:
			mvhdScale = b.Timescale
			p.movieDuration = time.Duration(b.GetDuration()) * time.Second / time.Duration(b.Timescale)
		case *amp4.Mdhd:
			tr.timescale = b.Timescale
			tr.duration = time.Duration(b.GetDuration()) * time.Second / time.Duration(b.Timescale)
		case *amp4.Hdlr:
			tr.handler = string(b.HandlerType[:])
		case *amp4.Stts:
			var sum int64
			for _, e := range b.Entries {
				sum += int64(e.SampleCount) * int64(e.SampleDelta)
			}
			tr.sttsSum = time.Duration(sum) * time.Second / time.Duration(tr.timescale)
		case *amp4.Stsz:
			tr.samples = int(b.SampleCount)
		case *amp4.Stss:
			tr.syncs = append([]uint32{}, b.SampleNumber...)
		case *amp4.Ctts:
			for i, e := range b.Entries {
				for range e.SampleCount {
					tr.cttsOffsets = append(tr.cttsOffsets, b.GetSampleOffset(i))
				}
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatalf("go-mp4 cannot read the file: %v", err)
	}
	if mvhdScale == 0 {
		t.Fatalf("no mvhd; boxes %v", p.order)
	}
	return p
}

func (p probed) track(t testing.TB, handler string) probedTrack {
	t.Helper()
	for _, tr := range p.tracks {
		if tr.handler == handler {
			return tr
		}
	}
	t.Fatalf("no %s track in %+v", handler, p)
	return probedTrack{}
}

func (p probedTrack) String() string {
	return fmt.Sprintf("%s %s ts %d dur %v stts %v samples %d", p.handler, p.sampleEntry, p.timescale, p.duration, p.sttsSum, p.samples)
}

// orIfEmpty keeps the first parameter set of each kind a fixture carries.
func orIfEmpty(have, n []byte) []byte {
	if len(have) > 0 {
		return have
	}
	return n
}
