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
	// FrameRate is the frame-rate limit in frames per second; 0 means
	// unknown: the camera left RateControl (or its FrameRateLimit) out,
	// as some firmware does. It is never a real limit.
	FrameRate float64
	// BitrateKbps is the bitrate limit in kbit/s; 0 means unknown, as for
	// FrameRate.
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
		// Zero or negative limits are firmware placeholders: unknown.
		v.FrameRate = max(atof(rc.FrameRateLimit), 0)
		v.EncodingInterval = atoi(rc.EncodingInterval)
		v.BitrateKbps = max(atoi(rc.BitrateLimit), 0)
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
