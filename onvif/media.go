package onvif

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/use-go/onvif/media"
	"github.com/use-go/onvif/xsd/onvif"
)

// Profile is one ONVIF media profile: a video (and optionally audio) encoder
// bound to a video source. Each profile becomes one cloud media stream.
type Profile struct {
	Token            string
	Name             string
	VideoSourceToken string
	Video            *VideoEncoderConfig // nil if the profile has no video encoder
	Audio            *AudioEncoderConfig // nil if the profile has no audio encoder
	// VideoSourceConfigToken names the profile's video source
	// configuration, which rotation and OSD settings address.
	VideoSourceConfigToken string
}

// RateControl says how the encoder controls its bitrate.
type RateControl string

// Rate control modes. Media (ver10) cameras rarely say, so Unknown is common.
const (
	RateControlUnknown RateControl = ""
	RateControlCBR     RateControl = "CBR"
	RateControlVBR     RateControl = "VBR"
)

// VideoEncoderConfig is a video encoder configuration as the camera reports it.
type VideoEncoderConfig struct {
	Token string
	Name  string
	// Encoding is "H264", "H265", "JPEG" or "MPEG4".
	Encoding string
	Width    int
	Height   int
	// FrameRate is the frame-rate limit in frames per second.
	FrameRate float64
	// BitrateKbps is the bitrate limit in kbit/s.
	BitrateKbps int
	// GOP is the I-frame interval (GovLength) in frames; 0 if not reported.
	GOP int
	// Profile is the codec profile, e.g. "Main" or "High".
	Profile string
	// Quality is the camera's quality value, within VideoEncoderOptions.Quality.
	Quality float64
	// EncodingInterval keeps every n-th frame; 1 means all frames.
	EncodingInterval int
	RateControl      RateControl
}

// AudioEncoderConfig is an audio encoder configuration.
type AudioEncoderConfig struct {
	Token string
	Name  string
	// Encoding is "G711", "G726" or "AAC".
	Encoding      string
	BitrateKbps   int
	SampleRateKHz float64
}

// Resolution is a picture size in pixels.
type Resolution struct {
	Width  int
	Height int
}

// Range is an inclusive integer range; the zero value means "not reported".
type Range struct {
	Min int
	Max int
}

// CodecOptions are the settings one encoding allows.
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
type VideoEncoderOptions struct {
	Quality Range
	// Codecs holds one entry per encoding the camera offers.
	Codecs []CodecOptions
}

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

func mediaAddr(s Services) string { return s.Media }

// Profiles lists the camera's media profiles with their encoder settings.
func (c *Client) Profiles(ctx context.Context) ([]Profile, error) {
	const op = "get profiles"
	if a2 := c.media2Addr(); a2 != "" {
		return c.media2Profiles(ctx, a2) // media2.go
	}
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r profilesResponse
	if err := c.call(ctx, op, addr, nsMedia+"/GetProfiles", media.GetProfiles{}, true, "GetProfilesResponse", &r); err != nil {
		return nil, err
	}
	return r.profiles(), nil
}

// StreamURI returns the RTSP (RTP unicast) URI of a profile.
func (c *Client) StreamURI(ctx context.Context, profileToken string) (string, error) {
	const op = "get stream uri"
	if a2 := c.media2Addr(); a2 != "" {
		return c.media2URI(ctx, a2, op, profileToken, false) // media2.go
	}
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return "", fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := media.GetStreamUri{
		StreamSetup: onvif.StreamSetup{
			Stream:    onvif.StreamType("RTP-Unicast"),
			Transport: onvif.Transport{Protocol: onvif.TransportProtocol("RTSP")},
		},
		ProfileToken: onvif.ReferenceToken(profileToken),
	}
	var r mediaURIResponse
	if err := c.call(ctx, op, addr, nsMedia+"/GetStreamUri", req, true, "GetStreamUriResponse", &r); err != nil {
		return "", err
	}
	return r.uri(op)
}

// SnapshotURI returns the HTTP URI of a JPEG snapshot for a profile.
func (c *Client) SnapshotURI(ctx context.Context, profileToken string) (string, error) {
	const op = "get snapshot uri"
	if a2 := c.media2Addr(); a2 != "" {
		return c.media2URI(ctx, a2, op, profileToken, true) // media2.go
	}
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return "", fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := media.GetSnapshotUri{ProfileToken: onvif.ReferenceToken(profileToken)}
	var r mediaURIResponse
	if err := c.call(ctx, op, addr, nsMedia+"/GetSnapshotUri", req, true, "GetSnapshotUriResponse", &r); err != nil {
		return "", err
	}
	return r.uri(op)
}

// VideoEncoderConfigs lists all video encoder configurations.
func (c *Client) VideoEncoderConfigs(ctx context.Context) ([]VideoEncoderConfig, error) {
	const op = "get video encoder configurations"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct {
		Configurations []xmlVideoEncoder `xml:"Configurations"`
	}
	if err := c.call(ctx, op, addr, nsMedia+"/GetVideoEncoderConfigurations", media.GetVideoEncoderConfigurations{},
		true, "GetVideoEncoderConfigurationsResponse", &r); err != nil {
		return nil, err
	}
	out := make([]VideoEncoderConfig, 0, len(r.Configurations))
	for i := range r.Configurations {
		out = append(out, *r.Configurations[i].config())
	}
	return out, nil
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
// options.
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
		return VideoEncoderOptions{}, err
	}
	return r.Options.options(), nil
}

// Response shapes, matched by local names. Numbers are kept as strings and
// parsed leniently because firmware writes "25", "25.0" or " 25 ".

type profilesResponse struct {
	Profiles []xmlProfile `xml:"Profiles"`
}

type xmlProfile struct {
	Token       string `xml:"token,attr"`
	Name        string `xml:"Name"`
	VideoSource *struct {
		Token       string `xml:"token,attr"`
		SourceToken string `xml:"SourceToken"`
	} `xml:"VideoSourceConfiguration"`
	VideoEncoder *xmlVideoEncoder `xml:"VideoEncoderConfiguration"`
	AudioEncoder *xmlAudioEncoder `xml:"AudioEncoderConfiguration"`
}

type xmlVideoEncoder struct {
	Token       string `xml:"token,attr"`
	Name        string `xml:"Name"`
	Encoding    string `xml:"Encoding"`
	Width       string `xml:"Resolution>Width"`
	Height      string `xml:"Resolution>Height"`
	Quality     string `xml:"Quality"`
	RateControl *struct {
		ConstantBitRate  string `xml:"ConstantBitRate,attr"`
		FrameRateLimit   string `xml:"FrameRateLimit"`
		EncodingInterval string `xml:"EncodingInterval"`
		BitrateLimit     string `xml:"BitrateLimit"`
	} `xml:"RateControl"`
	H264 *struct {
		GovLength   string `xml:"GovLength"`
		H264Profile string `xml:"H264Profile"`
	} `xml:"H264"`
	H265 *struct {
		GovLength   string `xml:"GovLength"`
		H265Profile string `xml:"H265Profile"`
	} `xml:"H265"`
	MPEG4 *struct {
		GovLength    string `xml:"GovLength"`
		Mpeg4Profile string `xml:"Mpeg4Profile"`
	} `xml:"MPEG4"`
}

type xmlAudioEncoder struct {
	Token      string `xml:"token,attr"`
	Name       string `xml:"Name"`
	Encoding   string `xml:"Encoding"`
	Bitrate    string `xml:"Bitrate"`
	SampleRate string `xml:"SampleRate"`
}

type mediaURIResponse struct {
	URI string `xml:"MediaUri>Uri"`
}

func (r mediaURIResponse) uri(op string) (string, error) {
	u := strings.TrimSpace(r.URI)
	if u == "" {
		return "", fmt.Errorf("onvif: %s: empty uri", op)
	}
	return u, nil
}

func (r profilesResponse) profiles() []Profile {
	out := make([]Profile, 0, len(r.Profiles))
	for _, p := range r.Profiles {
		prof := Profile{Token: strings.TrimSpace(p.Token), Name: strings.TrimSpace(p.Name)}
		if p.VideoSource != nil {
			prof.VideoSourceToken = strings.TrimSpace(p.VideoSource.SourceToken)
			prof.VideoSourceConfigToken = strings.TrimSpace(p.VideoSource.Token)
		}
		if p.VideoEncoder != nil {
			prof.Video = p.VideoEncoder.config()
		}
		if p.AudioEncoder != nil {
			prof.Audio = p.AudioEncoder.config()
		}
		out = append(out, prof)
	}
	return out
}

func (x *xmlVideoEncoder) config() *VideoEncoderConfig {
	v := &VideoEncoderConfig{
		Token:    strings.TrimSpace(x.Token),
		Name:     strings.TrimSpace(x.Name),
		Encoding: normalizeEncoding(x.Encoding),
		Width:    atoi(x.Width),
		Height:   atoi(x.Height),
		Quality:  atof(x.Quality),
	}
	if rc := x.RateControl; rc != nil {
		v.FrameRate = atof(rc.FrameRateLimit)
		v.EncodingInterval = atoi(rc.EncodingInterval)
		v.BitrateKbps = atoi(rc.BitrateLimit)
		switch strings.ToLower(strings.TrimSpace(rc.ConstantBitRate)) {
		case "true", "1":
			v.RateControl = RateControlCBR
		case "false", "0":
			v.RateControl = RateControlVBR
		}
	}
	switch {
	case x.H264 != nil && v.Encoding == "H264":
		v.GOP, v.Profile = atoi(x.H264.GovLength), strings.TrimSpace(x.H264.H264Profile)
	case x.H265 != nil && v.Encoding == "H265":
		v.GOP, v.Profile = atoi(x.H265.GovLength), strings.TrimSpace(x.H265.H265Profile)
	case x.MPEG4 != nil && v.Encoding == "MPEG4":
		v.GOP, v.Profile = atoi(x.MPEG4.GovLength), strings.TrimSpace(x.MPEG4.Mpeg4Profile)
	case x.H264 != nil && v.Encoding == "H265":
		// Some firmware reports H.265 through the Media (ver10) H264 element.
		v.GOP = atoi(x.H264.GovLength)
	}
	return v
}

func (x *xmlAudioEncoder) config() *AudioEncoderConfig {
	return &AudioEncoderConfig{
		Token:         strings.TrimSpace(x.Token),
		Name:          strings.TrimSpace(x.Name),
		Encoding:      strings.ToUpper(strings.TrimSpace(x.Encoding)),
		BitrateKbps:   atoi(x.Bitrate),
		SampleRateKHz: atof(x.SampleRate),
	}
}

type xmlRange struct {
	Min string `xml:"Min"`
	Max string `xml:"Max"`
}

func (r *xmlRange) rng() Range {
	if r == nil {
		return Range{}
	}
	return Range{Min: atoi(r.Min), Max: atoi(r.Max)}
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
			if br := ext.BitrateRange.rng(); br != (Range{}) {
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

// normalizeEncoding maps vendor spellings ("H.264", "h264", "HEVC") to ours.
func normalizeEncoding(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.ReplaceAll(s, ".", "")
	switch s {
	case "HEVC":
		return "H265"
	case "MJPEG", "MJPG":
		return "JPEG"
	}
	return s
}

func atoi(s string) int {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > -1e9 && f < 1e9 {
		return int(f)
	}
	return 0
}

func atof(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
