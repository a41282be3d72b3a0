package onvifsim

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"strings"
)

// Media2 (ver20) service, offered instead of Media when Options.Media2Only
// is set, as a Profile T camera without Profile S would: profiles, stream
// and snapshot URIs.

// Media2Path is where the Media2 service is served.
const Media2Path = "/onvif/media2_service"

const nsMedia2 = "http://www.onvif.org/ver20/media/wsdl"

// media2Request holds the arguments of the Media2 actions answered here.
type media2Request struct {
	Body struct {
		Action struct {
			Types        []string `xml:"Type"`
			Protocol     string   `xml:"Protocol"`
			ProfileToken *string  `xml:"ProfileToken"`
		} `xml:",any"`
	} `xml:"Body"`
}

// media2Handler returns the handler of a Media2 action, or nil.
func (s *Server) media2Handler(path string, name xml.Name, data []byte) func(action) (string, *fault) {
	if !s.opts.Media2Only || path != Media2Path || name.Space != nsMedia2 {
		return nil
	}
	var req media2Request
	if xml.Unmarshal(data, &req) != nil {
		return nil
	}
	a := req.Body.Action
	switch name.Local {
	case "GetProfiles":
		return func(action) (string, *fault) { return s.media2Profiles(a.Types), nil }
	case "GetStreamUri":
		return func(action) (string, *fault) {
			p, f := s.profile(a.ProfileToken)
			if f != nil {
				return "", f
			}
			switch strings.TrimSpace(a.Protocol) {
			case "RtspUnicast", "RtspMulticast", "RTSP", "RtspOverHttp":
			default:
				return "", &fault{subcodes: []string{"ter:InvalidArgVal", "ter:InvalidStreamSetup"}, reason: "unknown Protocol"}
			}
			uri := cmp.Or(p.RTSPURL, s.opts.RTSPURL)
			if uri == "" {
				uri = "rtsp://127.0.0.1:554/" + p.Token
			}
			return `<tr2:GetStreamUriResponse xmlns:tr2="` + nsMedia2 + `"><tr2:Uri>` + esc(uri) + `</tr2:Uri></tr2:GetStreamUriResponse>`, nil
		}
	case "GetSnapshotUri":
		return func(action) (string, *fault) {
			if _, f := s.profile(a.ProfileToken); f != nil {
				return "", f
			}
			uri := s.opts.SnapshotURL
			if uri == "" {
				uri = "http://" + s.ln.Addr().String() + SnapshotPath
			}
			return `<tr2:GetSnapshotUriResponse xmlns:tr2="` + nsMedia2 + `"><tr2:Uri>` + esc(uri) + `</tr2:Uri></tr2:GetSnapshotUriResponse>`, nil
		}
	}
	return nil
}

// media2Profiles lists the profiles; as Media2 specifies, configurations
// are included only for the requested types ("All" for every type).
func (s *Server) media2Profiles(types []string) string {
	want := map[string]bool{}
	for _, t := range types {
		want[strings.TrimSpace(t)] = true
	}
	all := want["All"]
	var b strings.Builder
	b.WriteString(`<tr2:GetProfilesResponse xmlns:tr2="` + nsMedia2 + `">`)
	for _, p := range s.profiles() {
		fmt.Fprintf(&b, `<tr2:Profiles token="%s" fixed="true"><tr2:Name>%s</tr2:Name><tr2:Configurations>`, esc(p.Token), esc(p.Name))
		if all || want["VideoSource"] {
			b.WriteString(`<tr2:VideoSource token="VideoSourceConfig_1"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>1</tt:UseCount>` +
				`<tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/></tr2:VideoSource>`)
		}
		if all || want["VideoEncoder"] {
			fmt.Fprintf(&b, `<tr2:VideoEncoder token="%s" GovLength="%d" Profile="%s"><tt:Name>%s</tt:Name><tt:UseCount>1</tt:UseCount>`+
				`<tt:Encoding>%s</tt:Encoding><tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution>`+
				`<tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>%d</tt:FrameRateLimit><tt:BitrateLimit>%d</tt:BitrateLimit></tt:RateControl>`+
				`<tt:Quality>%s</tt:Quality></tr2:VideoEncoder>`,
				esc(encoderToken(p)), p.GOP, esc(p.H264Profile), esc(p.Name+"_video"), esc(p.Encoding), p.Width, p.Height,
				p.FrameRate, p.BitrateKbps, fmtF(p.Quality))
		}
		b.WriteString(`</tr2:Configurations></tr2:Profiles>`)
	}
	b.WriteString(`</tr2:GetProfilesResponse>`)
	return b.String()
}

// mediaCapabilities is the Media entry of GetCapabilities, which has none
// for Media2.
func (s *Server) mediaCapabilities(base string) string {
	if s.opts.Media2Only {
		return ""
	}
	return `<tt:Media><tt:XAddr>` + base + MediaPath + `</tt:XAddr>` +
		`<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>` +
		`<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>`
}

// mediaServices is the media entry of GetServices.
func (s *Server) mediaServices(svc func(ns, path string) string) string {
	if s.opts.Media2Only {
		return svc(nsMedia2, Media2Path)
	}
	return svc(nsMedia, MediaPath)
}
