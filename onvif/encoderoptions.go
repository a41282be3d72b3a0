package onvif

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Range is an inclusive integer range. The zero value, and anything a
// camera wrote that is not a range (an empty Min or Max, Min above Max),
// means "not reported": see Known.
type Range struct {
	Min int
	Max int
}

// Known reports whether the camera gave a usable range. An unknown range
// limits nothing: the camera judges the value itself.
func (r Range) Known() bool { return r.Max > 0 && r.Min >= 0 && r.Min <= r.Max }

// CodecOptions are the settings one encoding allows; ranges the camera
// left out or left empty are unknown (Range.Known), and an empty list is
// an unknown list, not an empty choice.
type CodecOptions struct {
	// Encoding is "H264", "H265", "JPEG" or "MPEG4".
	Encoding         string
	Resolutions      []Resolution
	FrameRate        Range
	EncodingInterval Range
	GOP              Range
	// BitrateKbps is only reported by cameras implementing the Media
	// options extension.
	BitrateKbps Range
	// Profiles lists codec profiles, e.g. Baseline, Main, High.
	Profiles []string
}

// VideoEncoderOptions are what GetVideoEncoderConfigurationOptions reports.
// Some firmware answers with empty elements, or faults on the call; then
// the options are unknown (Known is false), which callers must read as
// "the camera did not say", never as "nothing is allowed".
type VideoEncoderOptions struct {
	Quality Range
	// Codecs holds one entry per encoding the camera offers.
	Codecs []CodecOptions
	// Unavailable is the camera's answer when it faulted on the call
	// instead of listing options; nil when it answered.
	Unavailable error
}

// Known reports whether the camera listed any encoding.
func (o VideoEncoderOptions) Known() bool { return len(o.Codecs) > 0 }

// Encodings lists the encodings in o.
func (o VideoEncoderOptions) Encodings() []string {
	out := make([]string, 0, len(o.Codecs))
	for _, c := range o.Codecs {
		out = append(out, c.Encoding)
	}
	return out
}

// Codec returns the options for encoding, if offered.
func (o VideoEncoderOptions) Codec(encoding string) (CodecOptions, bool) {
	for _, c := range o.Codecs {
		if c.Encoding == encoding {
			return c, true
		}
	}
	return CodecOptions{}, false
}

// getVideoEncoderConfigurationOptions replaces use-go's request type, which
// sends empty token elements that cameras read as the token "".
type getVideoEncoderConfigurationOptions struct {
	XMLName            string `xml:"trt:GetVideoEncoderConfigurationOptions"`
	ConfigurationToken string `xml:"trt:ConfigurationToken,omitempty"`
	ProfileToken       string `xml:"trt:ProfileToken,omitempty"`
}

// VideoEncoderOptions returns what a video encoder configuration may be set
// to. Either token may be empty; with both empty the camera reports generic
// options. A camera that answers the call with a fault, an HTTP error or an
// unreadable body gives unknown options with Unavailable set, not an error:
// its encoder still works, it just does not say what it allows. Errors are
// left for an unreachable camera, refused credentials and cancellation.
func (c *Client) VideoEncoderOptions(ctx context.Context, configToken, profileToken string) (VideoEncoderOptions, error) {
	const op = "get video encoder configuration options"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return VideoEncoderOptions{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := getVideoEncoderConfigurationOptions{ConfigurationToken: configToken, ProfileToken: profileToken}
	var r struct {
		Options xmlEncoderOptions `xml:"Options"`
	}
	if err := c.call(ctx, op, addr, nsMedia+"/GetVideoEncoderConfigurationOptions", req,
		true, "GetVideoEncoderConfigurationOptionsResponse", &r); err != nil {
		if !cameraAnswered(ctx, err) {
			return VideoEncoderOptions{}, err
		}
		return VideoEncoderOptions{Unavailable: err}, nil
	}
	return r.Options.options(), nil
}

// cameraAnswered reports whether err is the camera's own (bad) answer
// rather than no answer, refused credentials or the caller giving up.
func cameraAnswered(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrUnauthorized) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

type xmlRange struct {
	Min string `xml:"Min"`
	Max string `xml:"Max"`
}

// rng parses a range; one that is missing, half empty or upside down is
// unknown (the zero Range), never a range of zeros.
func (r *xmlRange) rng() Range {
	if r == nil {
		return Range{}
	}
	lo, okLo := rangeEnd(r.Min)
	hi, okHi := rangeEnd(r.Max)
	if rg := (Range{Min: lo, Max: hi}); okLo && okHi && rg.Known() {
		return rg
	}
	return Range{}
}

// rangeEnd parses one end of a range leniently ("25", "25.0", " 25 ").
func rangeEnd(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > -1e9 && f < 1e9 {
		return int(f), true
	}
	return 0, false
}

type xmlCodecOptions struct {
	Resolutions []struct {
		Width  string `xml:"Width"`
		Height string `xml:"Height"`
	} `xml:"ResolutionsAvailable"`
	GovLengthRange        *xmlRange `xml:"GovLengthRange"`
	FrameRateRange        *xmlRange `xml:"FrameRateRange"`
	EncodingIntervalRange *xmlRange `xml:"EncodingIntervalRange"`
	BitrateRange          *xmlRange `xml:"BitrateRange"`
	H264Profiles          []string  `xml:"H264ProfilesSupported"`
	Mpeg4Profiles         []string  `xml:"Mpeg4ProfilesSupported"`
}

type xmlEncoderOptions struct {
	QualityRange *xmlRange        `xml:"QualityRange"`
	JPEG         *xmlCodecOptions `xml:"JPEG"`
	MPEG4        *xmlCodecOptions `xml:"MPEG4"`
	H264         *xmlCodecOptions `xml:"H264"`
	Extension    *struct {
		JPEG  *xmlCodecOptions `xml:"JPEG"`
		MPEG4 *xmlCodecOptions `xml:"MPEG4"`
		H264  *xmlCodecOptions `xml:"H264"`
	} `xml:"Extension"`
}

func (x xmlEncoderOptions) options() VideoEncoderOptions {
	o := VideoEncoderOptions{Quality: x.QualityRange.rng()}
	add := func(enc string, base, ext *xmlCodecOptions) {
		if base == nil {
			// The extension repeats the base options plus bitrates, so it
			// can stand alone.
			base = ext
		}
		if base == nil {
			return
		}
		c := CodecOptions{
			Encoding:         enc,
			FrameRate:        base.FrameRateRange.rng(),
			EncodingInterval: base.EncodingIntervalRange.rng(),
			GOP:              base.GovLengthRange.rng(),
			BitrateKbps:      base.BitrateRange.rng(),
		}
		for _, r := range base.Resolutions {
			if w, h := atoi(r.Width), atoi(r.Height); w > 0 && h > 0 {
				c.Resolutions = append(c.Resolutions, Resolution{Width: w, Height: h})
			}
		}
		for _, p := range append(base.H264Profiles, base.Mpeg4Profiles...) {
			if p = strings.TrimSpace(p); p != "" {
				c.Profiles = append(c.Profiles, p)
			}
		}
		if ext != nil && ext != base {
			if br := ext.BitrateRange.rng(); br.Known() {
				c.BitrateKbps = br
			}
		}
		o.Codecs = append(o.Codecs, c)
	}
	var ext struct{ JPEG, MPEG4, H264 *xmlCodecOptions }
	if x.Extension != nil {
		ext.JPEG, ext.MPEG4, ext.H264 = x.Extension.JPEG, x.Extension.MPEG4, x.Extension.H264
	}
	add("H264", x.H264, ext.H264)
	add("JPEG", x.JPEG, ext.JPEG)
	add("MPEG4", x.MPEG4, ext.MPEG4)
	return o
}
