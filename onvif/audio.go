package onvif

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// AudioEncoderPatch lists the audio encoder settings to change; nil or
// empty fields are left as they are.
type AudioEncoderPatch struct {
	// Encoding is "G711", "G726" or "AAC".
	Encoding      string
	BitrateKbps   *int
	SampleRateKHz *float64
}

// AudioCodecOptions are the bitrates and sample rates one audio encoding allows.
type AudioCodecOptions struct {
	Encoding       string
	BitratesKbps   []int
	SampleRatesKHz []float64
}

// AudioOutputConfig is an audio output (speaker) configuration.
type AudioOutputConfig struct {
	Token       string
	Name        string
	OutputToken string
	// Level is the output level (speaker volume) with its range.
	Level Level
}

// AudioSources lists the tokens of the camera's audio inputs (microphones);
// empty when it has none.
func (c *Client) AudioSources(ctx context.Context) ([]string, error) {
	const op = "get audio sources"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct {
		Sources []*node `xml:"AudioSources"`
	}
	if err := c.call(ctx, op, addr, nsMedia+"/GetAudioSources", newRequest(nsMedia, "GetAudioSources"), true,
		"GetAudioSourcesResponse", &r); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range r.Sources {
		if t := s.attr("token"); t != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// AudioEncoder reads one audio encoder configuration.
func (c *Client) AudioEncoder(ctx context.Context, configToken string) (AudioEncoderConfig, error) {
	n, err := c.audioEncoderNode(ctx, configToken)
	if err != nil {
		return AudioEncoderConfig{}, err
	}
	return audioEncoderFromNode(n)
}

// AudioEncoderOptions lists the encodings, bitrates and sample rates an
// audio encoder configuration may be set to.
func (c *Client) AudioEncoderOptions(ctx context.Context, configToken string) ([]AudioCodecOptions, error) {
	const op = "get audio encoder configuration options"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct {
		Options *node `xml:"Options"`
	}
	req := newRequest(nsMedia, "GetAudioEncoderConfigurationOptions").elem("ConfigurationToken", configToken)
	if err := c.call(ctx, op, addr, nsMedia+"/GetAudioEncoderConfigurationOptions", req, true,
		"GetAudioEncoderConfigurationOptionsResponse", &r); err != nil {
		return nil, err
	}
	return audioOptionsFromNode(r.Options), nil
}

func audioOptionsFromNode(n *node) []AudioCodecOptions {
	var out []AudioCodecOptions
	for _, o := range n.findAll("Options") {
		co := AudioCodecOptions{Encoding: strings.ToUpper(o.value("Encoding"))}
		for _, s := range texts(o.find("BitrateList"), "Items") {
			for _, f := range strings.Fields(s) {
				co.BitratesKbps = append(co.BitratesKbps, atoi(f))
			}
		}
		for _, s := range texts(o.find("SampleRateList"), "Items") {
			for _, f := range strings.Fields(s) {
				co.SampleRatesKHz = append(co.SampleRatesKHz, atof(f))
			}
		}
		if co.Encoding != "" {
			out = append(out, co)
		}
	}
	return out
}

// SetAudioEncoder validates p against the camera's options, changes only
// the requested fields and returns the configuration read back.
func (c *Client) SetAudioEncoder(ctx context.Context, configToken string, p AudioEncoderPatch) (AudioEncoderConfig, error) {
	const op = "set audio encoder configuration"
	cur, err := c.audioEncoderNode(ctx, configToken)
	if err != nil {
		return AudioEncoderConfig{}, err
	}
	opts, err := c.AudioEncoderOptions(ctx, configToken)
	if err != nil {
		return AudioEncoderConfig{}, err
	}
	enc := strings.ToUpper(cur.value("Encoding"))
	if p.Encoding != "" {
		enc = strings.ToUpper(p.Encoding)
	}
	var codec *AudioCodecOptions
	var encs []string
	for i := range opts {
		encs = append(encs, opts[i].Encoding)
		if opts[i].Encoding == enc {
			codec = &opts[i]
		}
	}
	if codec == nil && len(opts) > 0 {
		return AudioEncoderConfig{}, &RangeError{Field: "audio encoding", Value: enc, Allowed: "[" + strings.Join(encs, " ") + "]"}
	}
	if codec != nil && p.BitrateKbps != nil && len(codec.BitratesKbps) > 0 {
		if err := checkOneOf("audio bitrate", strconv.Itoa(*p.BitrateKbps), intStrings(codec.BitratesKbps)); err != nil {
			return AudioEncoderConfig{}, err
		}
	}
	if codec != nil && p.SampleRateKHz != nil && len(codec.SampleRatesKHz) > 0 {
		rates := make([]string, len(codec.SampleRatesKHz))
		for i, r := range codec.SampleRatesKHz {
			rates[i] = fmtFloat(r)
		}
		if err := checkOneOf("audio sample rate", fmtFloat(*p.SampleRateKHz), rates); err != nil {
			return AudioEncoderConfig{}, err
		}
	}
	cur.set(enc, "Encoding")
	if p.BitrateKbps != nil {
		cur.set(strconv.Itoa(*p.BitrateKbps), "Bitrate")
	}
	if p.SampleRateKHz != nil {
		cur.set(fmtFloat(*p.SampleRateKHz), "SampleRate")
	}
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return AudioEncoderConfig{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	req := newRequest(nsMedia, "SetAudioEncoderConfiguration").withNode(cur, "Configuration").elem("ForcePersistence", "true")
	if err := c.call(ctx, op, addr, nsMedia+"/SetAudioEncoderConfiguration", req, true,
		"SetAudioEncoderConfigurationResponse", &emptyResponse{}); err != nil {
		return AudioEncoderConfig{}, refused(err)
	}
	back, err := c.AudioEncoder(ctx, configToken)
	if err != nil {
		return AudioEncoderConfig{}, fmt.Errorf("onvif: %s: read back: %w", op, err)
	}
	return back, nil
}

func intStrings(in []int) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = strconv.Itoa(v)
	}
	return out
}

func (c *Client) audioEncoderNode(ctx context.Context, configToken string) (*node, error) {
	const op = "get audio encoder configuration"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r configResponse
	req := newRequest(nsMedia, "GetAudioEncoderConfiguration").elem("ConfigurationToken", configToken)
	if err := c.call(ctx, op, addr, nsMedia+"/GetAudioEncoderConfiguration", req, true,
		"GetAudioEncoderConfigurationResponse", &r); err != nil {
		return nil, err
	}
	if r.Configuration == nil {
		return nil, fmt.Errorf("onvif: %s: no Configuration in response", op)
	}
	r.Configuration.typ = "AudioEncoderConfiguration"
	return r.Configuration, nil
}

func audioEncoderFromNode(n *node) (AudioEncoderConfig, error) {
	var x xmlAudioEncoder
	if err := n.decodeInto(&x); err != nil {
		return AudioEncoderConfig{}, fmt.Errorf("onvif: decode audio encoder configuration: %w", err)
	}
	return *x.config(), nil
}

// AudioOutputConfigs lists the audio output (speaker) configurations with
// their level ranges. A camera without a speaker gives an empty list or
// ErrUnsupported.
func (c *Client) AudioOutputConfigs(ctx context.Context) ([]AudioOutputConfig, error) {
	const op = "get audio output configurations"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct {
		Configurations []*node `xml:"Configurations"`
	}
	if err := c.call(ctx, op, addr, nsMedia+"/GetAudioOutputConfigurations", newRequest(nsMedia, "GetAudioOutputConfigurations"),
		true, "GetAudioOutputConfigurationsResponse", &r); err != nil {
		return nil, err
	}
	out := make([]AudioOutputConfig, 0, len(r.Configurations))
	for _, n := range r.Configurations {
		rng, err := c.audioOutputRange(ctx, n.attr("token"))
		if err != nil {
			return nil, err
		}
		out = append(out, audioOutputFromNode(n, rng))
	}
	return out, nil
}

func (c *Client) audioOutputRange(ctx context.Context, configToken string) (FloatRange, error) {
	const op = "get audio output configuration options"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return FloatRange{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	var r struct {
		Options *node `xml:"Options"`
	}
	req := newRequest(nsMedia, "GetAudioOutputConfigurationOptions").elem("ConfigurationToken", configToken)
	err = c.call(ctx, op, addr, nsMedia+"/GetAudioOutputConfigurationOptions", req, true,
		"GetAudioOutputConfigurationOptionsResponse", &r)
	if errors.Is(err, ErrUnsupported) {
		return FloatRange{}, nil
	}
	if err != nil {
		return FloatRange{}, err
	}
	return floatRange(r.Options.find("OutputLevelRange")), nil
}

func audioOutputFromNode(n *node, rng FloatRange) AudioOutputConfig {
	return AudioOutputConfig{
		Token:       n.attr("token"),
		Name:        n.value("Name"),
		OutputToken: n.value("OutputToken"),
		Level:       Level{Value: atof(n.value("OutputLevel")), Range: rng},
	}
}

// SetAudioOutputLevel sets the output level (speaker volume, in the
// camera's units; see Level.AtPercent) and returns the configuration read back.
func (c *Client) SetAudioOutputLevel(ctx context.Context, configToken string, level float64) (AudioOutputConfig, error) {
	const op = "set audio output configuration"
	addr, err := c.endpoint(mediaAddr)
	if err != nil {
		return AudioOutputConfig{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	get := func() (*node, error) {
		var r configResponse
		req := newRequest(nsMedia, "GetAudioOutputConfiguration").elem("ConfigurationToken", configToken)
		if err := c.call(ctx, "get audio output configuration", addr, nsMedia+"/GetAudioOutputConfiguration", req, true,
			"GetAudioOutputConfigurationResponse", &r); err != nil {
			return nil, err
		}
		if r.Configuration == nil {
			return nil, fmt.Errorf("onvif: %s: no Configuration in response", op)
		}
		r.Configuration.typ = "AudioOutputConfiguration"
		return r.Configuration, nil
	}
	cur, err := get()
	if err != nil {
		return AudioOutputConfig{}, err
	}
	rng, err := c.audioOutputRange(ctx, configToken)
	if err != nil {
		return AudioOutputConfig{}, err
	}
	if math.IsNaN(level) || math.IsInf(level, 0) {
		return AudioOutputConfig{}, &RangeError{Field: "output level", Value: fmtFloat(level), Allowed: "a number"}
	}
	if err := checkIn("output level", level, rng); err != nil {
		return AudioOutputConfig{}, err
	}
	cur.set(strconv.Itoa(int(math.Round(level))), "OutputLevel")
	req := newRequest(nsMedia, "SetAudioOutputConfiguration").withNode(cur, "Configuration").elem("ForcePersistence", "true")
	if err := c.call(ctx, op, addr, nsMedia+"/SetAudioOutputConfiguration", req, true,
		"SetAudioOutputConfigurationResponse", &emptyResponse{}); err != nil {
		return AudioOutputConfig{}, refused(err)
	}
	back, err := get()
	if err != nil {
		return AudioOutputConfig{}, fmt.Errorf("onvif: %s: read back: %w", op, err)
	}
	return audioOutputFromNode(back, rng), nil
}
