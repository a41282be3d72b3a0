package onvif

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
)

// Media2 (ver20) fallback for cameras that offer only the Media2 service
// (Profile T devices may): profiles and stream and snapshot URIs, which is
// what streaming needs. Encoder, OSD and other settings stay Media (ver10)
// operations and give ErrUnsupported on such cameras.

const nsMedia2 = "http://www.onvif.org/ver20/media/wsdl"

// media2Addr returns the Media2 address when the camera offers Media2 but
// not Media, and "" otherwise.
func (c *Client) media2Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected || c.services.Media != "" {
		return ""
	}
	return c.services.Media2
}

type media2ProfilesRequest struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver20/media/wsdl GetProfiles"`
	// Type All asks for the configurations; without a type the camera
	// returns only profile names and tokens.
	Type string `xml:"Type"`
}

type media2ProfilesResponse struct {
	Profiles []struct {
		Token       string `xml:"token,attr"`
		Name        string `xml:"Name"`
		VideoSource *struct {
			Token       string `xml:"token,attr"`
			SourceToken string `xml:"SourceToken"`
		} `xml:"Configurations>VideoSource"`
		VideoEncoder *struct {
			Token       string `xml:"token,attr"`
			Name        string `xml:"Name"`
			GovLength   string `xml:"GovLength,attr"`
			Profile     string `xml:"Profile,attr"`
			Encoding    string `xml:"Encoding"`
			Width       string `xml:"Resolution>Width"`
			Height      string `xml:"Resolution>Height"`
			Quality     string `xml:"Quality"`
			RateControl *struct {
				ConstantBitRate string `xml:"ConstantBitRate,attr"`
				FrameRateLimit  string `xml:"FrameRateLimit"`
				BitrateLimit    string `xml:"BitrateLimit"`
			} `xml:"RateControl"`
		} `xml:"Configurations>VideoEncoder"`
		AudioEncoder *xmlAudioEncoder `xml:"Configurations>AudioEncoder"`
	} `xml:"Profiles"`
}

func (r media2ProfilesResponse) profiles() []Profile {
	t := strings.TrimSpace
	out := make([]Profile, 0, len(r.Profiles))
	for _, p := range r.Profiles {
		prof := Profile{Token: t(p.Token), Name: t(p.Name)}
		if vs := p.VideoSource; vs != nil {
			prof.VideoSourceToken, prof.VideoSourceConfigToken = t(vs.SourceToken), t(vs.Token)
		}
		if ve := p.VideoEncoder; ve != nil {
			v := &VideoEncoderConfig{Token: t(ve.Token), Name: t(ve.Name), Encoding: normalizeEncoding(ve.Encoding),
				Width: atoi(ve.Width), Height: atoi(ve.Height), Quality: atof(ve.Quality), GOP: atoi(ve.GovLength),
				Profile: t(ve.Profile), EncodingInterval: 1}
			if rc := ve.RateControl; rc != nil {
				v.FrameRate, v.BitrateKbps = atof(rc.FrameRateLimit), atoi(rc.BitrateLimit)
				switch strings.ToLower(t(rc.ConstantBitRate)) {
				case "true", "1":
					v.RateControl = RateControlCBR
				case "false", "0":
					v.RateControl = RateControlVBR
				}
			}
			prof.Video = v
		}
		if p.AudioEncoder != nil {
			prof.Audio = p.AudioEncoder.config()
		}
		out = append(out, prof)
	}
	return out
}

func (c *Client) media2Profiles(ctx context.Context, addr string) ([]Profile, error) {
	var r media2ProfilesResponse
	if err := c.call(ctx, "get profiles (media2)", addr, nsMedia2+"/GetProfiles", media2ProfilesRequest{Type: "All"},
		true, "GetProfilesResponse", &r); err != nil {
		return nil, err
	}
	return r.profiles(), nil
}

type media2StreamURIRequest struct {
	XMLName      xml.Name `xml:"http://www.onvif.org/ver20/media/wsdl GetStreamUri"`
	Protocol     string   `xml:"Protocol"`
	ProfileToken string   `xml:"ProfileToken"`
}

type media2SnapshotURIRequest struct {
	XMLName      xml.Name `xml:"http://www.onvif.org/ver20/media/wsdl GetSnapshotUri"`
	ProfileToken string   `xml:"ProfileToken"`
}

type media2URIResponse struct {
	URI string `xml:"Uri"`
}

// media2URI asks for a stream (RTSP, unicast) or snapshot URI.
func (c *Client) media2URI(ctx context.Context, addr, op, profileToken string, snapshot bool) (string, error) {
	var req any = media2StreamURIRequest{Protocol: "RtspUnicast", ProfileToken: profileToken}
	action, want := nsMedia2+"/GetStreamUri", "GetStreamUriResponse"
	if snapshot {
		req = media2SnapshotURIRequest{ProfileToken: profileToken}
		action, want = nsMedia2+"/GetSnapshotUri", "GetSnapshotUriResponse"
	}
	var r media2URIResponse
	if err := c.call(ctx, op, addr, action, req, true, want, &r); err != nil {
		return "", err
	}
	u := strings.TrimSpace(r.URI)
	if u == "" {
		return "", fmt.Errorf("onvif: %s: empty uri", op)
	}
	return u, nil
}
