package onvifsim

import (
	"fmt"
	"slices"
	"strings"
)

// audioEncoderState is one audio encoder configuration.
type audioEncoderState struct {
	encoding   string
	bitrate    int // kbps
	sampleRate int // kHz
}

// audioCodec is what one audio encoding allows.
type audioCodec struct {
	encoding    string
	bitrates    []int
	sampleRates []int
}

// audioCodecs are the audio encoder options: bitrates (kbps) and sample
// rates (kHz) per encoding.
var audioCodecs = []audioCodec{
	{"G711", []int{64}, []int{8}},
	{"AAC", []int{32, 64, 128}, []int{16, 48}},
}

const (
	audioSourceToken       = "AudioSource_1"
	audioOutputToken       = "AudioOutput_1"
	audioOutputConfigToken = "AudioOutputConfig_1"
)

func audioEncoderToken(p Profile) string { return "AudioEncoder_" + p.Token }

// AudioOutputLevel returns the speaker volume the camera holds (0–100).
func (s *Server) AudioOutputLevel() int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.outLevel
}

// audioEncoderXML renders one audio encoder configuration; "" when the
// profile has no audio.
func (s *Server) audioEncoderXML(elem string, p Profile) string {
	s.st.mu.Lock()
	a := s.st.audio[audioEncoderToken(p)]
	var st audioEncoderState
	if a != nil {
		st = *a
	}
	s.st.mu.Unlock()
	if a == nil {
		return ""
	}
	return fmt.Sprintf(`<%s token="%s"><tt:Name>%s_audio</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>%s</tt:Encoding>`+
		`<tt:Bitrate>%d</tt:Bitrate><tt:SampleRate>%d</tt:SampleRate>`+
		`<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>`+
		`<tt:Port>0</tt:Port><tt:TTL>5</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>`+
		`<tt:SessionTimeout>PT5S</tt:SessionTimeout></%s>`,
		elem, esc(audioEncoderToken(p)), esc(p.Name), esc(st.encoding), st.bitrate, st.sampleRate, elem)
}

// audioEncoderProfileXML is the AudioEncoderConfiguration inside a profile.
func (s *Server) audioEncoderProfileXML(p Profile) string {
	return s.audioEncoderXML("tt:AudioEncoderConfiguration", p)
}

func (s *Server) getAudioSources([]byte) (string, *fault) {
	src := ""
	for _, p := range s.profiles() {
		if p.AudioEncoding != "" {
			src = `<trt:AudioSources token="` + audioSourceToken + `"><tt:Channels>1</tt:Channels></trt:AudioSources>`
		}
	}
	return `<trt:GetAudioSourcesResponse>` + src + `</trt:GetAudioSourcesResponse>`, nil
}

func (s *Server) getAudioEncoderConfigurations([]byte) (string, *fault) {
	var b strings.Builder
	b.WriteString(`<trt:GetAudioEncoderConfigurationsResponse>`)
	for _, p := range s.profiles() {
		b.WriteString(s.audioEncoderXML("trt:Configurations", p))
	}
	b.WriteString(`</trt:GetAudioEncoderConfigurationsResponse>`)
	return b.String(), nil
}

type audioReq struct {
	ConfigurationToken *string `xml:"ConfigurationToken"`
	Configuration      *struct {
		Token          string    `xml:"token,attr"`
		Name           *string   `xml:"Name"`
		UseCount       *string   `xml:"UseCount"`
		Encoding       string    `xml:"Encoding"`
		Bitrate        string    `xml:"Bitrate"`
		SampleRate     string    `xml:"SampleRate"`
		Multicast      *struct{} `xml:"Multicast"`
		SessionTimeout *string   `xml:"SessionTimeout"`
		OutputToken    string    `xml:"OutputToken"`
		OutputLevel    *string   `xml:"OutputLevel"`
	} `xml:"Configuration"`
	ForcePersistence *string `xml:"ForcePersistence"`
}

// audioProfile finds the profile owning an audio encoder token.
func (s *Server) audioProfile(token string) (Profile, bool) {
	for _, p := range s.profiles() {
		if p.AudioEncoding != "" && audioEncoderToken(p) == strings.TrimSpace(token) {
			return p, true
		}
	}
	return Profile{}, false
}

func (s *Server) getAudioEncoderConfiguration(data []byte) (string, *fault) {
	req, f := decodeBody[audioReq](data)
	if f != nil {
		return "", f
	}
	if req.ConfigurationToken == nil {
		return "", noConfig()
	}
	p, ok := s.audioProfile(*req.ConfigurationToken)
	if !ok {
		return "", noConfig()
	}
	return `<trt:GetAudioEncoderConfigurationResponse>` + s.audioEncoderXML("trt:Configuration", p) +
		`</trt:GetAudioEncoderConfigurationResponse>`, nil
}

func (s *Server) getAudioEncoderConfigurationOptions(data []byte) (string, *fault) {
	req, f := decodeBody[audioReq](data)
	if f != nil {
		return "", f
	}
	if req.ConfigurationToken != nil {
		if _, ok := s.audioProfile(*req.ConfigurationToken); !ok {
			return "", noConfig()
		}
	}
	var b strings.Builder
	b.WriteString(`<trt:GetAudioEncoderConfigurationOptionsResponse><trt:Options>`)
	for _, c := range audioCodecs {
		b.WriteString(`<tt:Options><tt:Encoding>` + c.encoding + `</tt:Encoding><tt:BitrateList>`)
		for _, v := range c.bitrates {
			fmt.Fprintf(&b, `<tt:Items>%d</tt:Items>`, v)
		}
		b.WriteString(`</tt:BitrateList><tt:SampleRateList>`)
		for _, v := range c.sampleRates {
			fmt.Fprintf(&b, `<tt:Items>%d</tt:Items>`, v)
		}
		b.WriteString(`</tt:SampleRateList></tt:Options>`)
	}
	b.WriteString(`</trt:Options></trt:GetAudioEncoderConfigurationOptionsResponse>`)
	return b.String(), nil
}

func (s *Server) setAudioEncoderConfiguration(data []byte) (string, *fault) {
	req, f := decodeBody[audioReq](data)
	if f != nil {
		return "", f
	}
	c := req.Configuration
	if c == nil || req.ForcePersistence == nil {
		return "", configModify("Configuration or ForcePersistence missing")
	}
	p, ok := s.audioProfile(c.Token)
	if !ok {
		return "", noConfig()
	}
	if c.Name == nil || c.UseCount == nil || c.Multicast == nil || c.SessionTimeout == nil {
		return "", configModify("Configuration lacks a required element (Name, UseCount, Multicast, SessionTimeout)")
	}
	enc := strings.TrimSpace(c.Encoding)
	i := slices.IndexFunc(audioCodecs, func(a audioCodec) bool { return a.encoding == enc })
	if i < 0 {
		return "", configModify(fmt.Sprintf("Encoding %q not supported", enc))
	}
	br, ok1 := parseNumber(c.Bitrate)
	sr, ok2 := parseNumber(c.SampleRate)
	if !ok1 || !ok2 || !slices.Contains(audioCodecs[i].bitrates, int(br)) || !slices.Contains(audioCodecs[i].sampleRates, int(sr)) {
		return "", configModify(fmt.Sprintf("Bitrate %q or SampleRate %q not supported for %s", c.Bitrate, c.SampleRate, enc))
	}
	s.st.mu.Lock()
	s.st.audio[audioEncoderToken(p)] = &audioEncoderState{encoding: enc, bitrate: int(br), sampleRate: int(sr)}
	s.st.mu.Unlock()
	return `<trt:SetAudioEncoderConfigurationResponse/>`, nil
}

func (s *Server) audioOutputConfigXML(elem string) string {
	s.st.mu.Lock()
	level := s.st.outLevel
	s.st.mu.Unlock()
	return fmt.Sprintf(`<%s token="%s"><tt:Name>AudioOutput</tt:Name><tt:UseCount>1</tt:UseCount>`+
		`<tt:OutputToken>%s</tt:OutputToken><tt:SendPrimacy>http://www.onvif.org/ver20/HalfDuplex/Auto</tt:SendPrimacy>`+
		`<tt:OutputLevel>%d</tt:OutputLevel></%s>`, elem, audioOutputConfigToken, audioOutputToken, level, elem)
}

func (s *Server) getAudioOutputs([]byte) (string, *fault) {
	out := ""
	if !s.opts.NoAudioOutput {
		out = `<trt:AudioOutputs token="` + audioOutputToken + `"/>`
	}
	return `<trt:GetAudioOutputsResponse>` + out + `</trt:GetAudioOutputsResponse>`, nil
}

func (s *Server) getAudioOutputConfigurations([]byte) (string, *fault) {
	out := ""
	if !s.opts.NoAudioOutput {
		out = s.audioOutputConfigXML("trt:Configurations")
	}
	return `<trt:GetAudioOutputConfigurationsResponse>` + out + `</trt:GetAudioOutputConfigurationsResponse>`, nil
}

// checkAudioOutputToken refuses tokens other than the single output's.
func (s *Server) checkAudioOutputToken(tok *string) *fault {
	if s.opts.NoAudioOutput || tok == nil || strings.TrimSpace(*tok) != audioOutputConfigToken {
		return noConfig()
	}
	return nil
}

func (s *Server) getAudioOutputConfiguration(data []byte) (string, *fault) {
	req, f := decodeBody[audioReq](data)
	if f != nil {
		return "", f
	}
	if f := s.checkAudioOutputToken(req.ConfigurationToken); f != nil {
		return "", f
	}
	return `<trt:GetAudioOutputConfigurationResponse>` + s.audioOutputConfigXML("trt:Configuration") +
		`</trt:GetAudioOutputConfigurationResponse>`, nil
}

func (s *Server) getAudioOutputConfigurationOptions(data []byte) (string, *fault) {
	req, f := decodeBody[audioReq](data)
	if f != nil {
		return "", f
	}
	if req.ConfigurationToken != nil {
		if f := s.checkAudioOutputToken(req.ConfigurationToken); f != nil {
			return "", f
		}
	}
	return `<trt:GetAudioOutputConfigurationOptionsResponse><trt:Options>` +
		`<tt:OutputTokensAvailable>` + audioOutputToken + `</tt:OutputTokensAvailable>` +
		`<tt:SendPrimacyOptions>http://www.onvif.org/ver20/HalfDuplex/Auto</tt:SendPrimacyOptions>` +
		`<tt:OutputLevelRange><tt:Min>0</tt:Min><tt:Max>100</tt:Max></tt:OutputLevelRange>` +
		`</trt:Options></trt:GetAudioOutputConfigurationOptionsResponse>`, nil
}

func (s *Server) setAudioOutputConfiguration(data []byte) (string, *fault) {
	req, f := decodeBody[audioReq](data)
	if f != nil {
		return "", f
	}
	c := req.Configuration
	if c == nil || req.ForcePersistence == nil {
		return "", configModify("Configuration or ForcePersistence missing")
	}
	if f := s.checkAudioOutputToken(&c.Token); f != nil {
		return "", f
	}
	if c.Name == nil || c.UseCount == nil || strings.TrimSpace(c.OutputToken) != audioOutputToken || c.OutputLevel == nil {
		return "", configModify("Configuration lacks Name, UseCount or OutputLevel, or names another output")
	}
	lv, ok := parseNumber(*c.OutputLevel)
	if !ok || lv < 0 || lv > 100 || lv != float64(int(lv)) {
		return "", configModify(fmt.Sprintf("OutputLevel %q is not an integer in 0..100", *c.OutputLevel))
	}
	s.st.mu.Lock()
	s.st.outLevel = int(lv)
	s.st.mu.Unlock()
	return `<trt:SetAudioOutputConfigurationResponse/>`, nil
}
