package onvifsim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

// Strict schema-order validation of request bodies. Cameras built on
// generated SOAP stacks reject a request whose elements are not in XSD
// sequence order ("validation constraint violation"), so the simulator does
// too. The table lists, per element (by local name), the schema sequence of
// its children; children not listed are not checked. "Configuration" has a
// different type per action, so it is keyed by action.
var sequences = map[string][]string{
	// Device management.
	"SetSystemDateAndTime": {"DateTimeType", "DaylightSavings", "TimeZone", "UTCDateTime"},
	"UTCDateTime":          {"Time", "Date"}, // tt:DateTime: Time comes first
	"Date":                 {"Year", "Month", "Day"},
	"Time":                 {"Hour", "Minute", "Second"},
	"SetNTP":               {"FromDHCP", "NTPManual"},
	"NTPManual":            {"Type", "IPv4Address", "IPv6Address", "DNSname", "Extension"},
	// Media.
	"GetStreamUri":                        {"StreamSetup", "ProfileToken"},
	"StreamSetup":                         {"Stream", "Transport"},
	"Transport":                           {"Protocol", "Tunnel"},
	"GetVideoEncoderConfigurationOptions": {"ConfigurationToken", "ProfileToken"},
	"SetVideoEncoderConfiguration":        {"Configuration", "ForcePersistence"},
	"SetVideoSourceConfiguration":         {"Configuration", "ForcePersistence"},
	"SetAudioEncoderConfiguration":        {"Configuration", "ForcePersistence"},
	"SetAudioOutputConfiguration":         {"Configuration", "ForcePersistence"},
	"Configuration@SetVideoEncoderConfiguration": {"Name", "UseCount", "Encoding", "Resolution", "Quality",
		"RateControl", "MPEG4", "H264", "Multicast", "SessionTimeout"},
	"Configuration@SetVideoSourceConfiguration":  {"Name", "UseCount", "SourceToken", "Bounds", "Extension"},
	"Configuration@SetAudioEncoderConfiguration": {"Name", "UseCount", "Encoding", "Bitrate", "SampleRate", "Multicast", "SessionTimeout"},
	"Configuration@SetAudioOutputConfiguration":  {"Name", "UseCount", "OutputToken", "SendPrimacy", "OutputLevel"},
	"Resolution":  {"Width", "Height"},
	"RateControl": {"FrameRateLimit", "EncodingInterval", "BitrateLimit"},
	"H264":        {"GovLength", "H264Profile"},
	"Multicast":   {"Address", "Port", "TTL", "AutoStart"},
	"Rotate":      {"Mode", "Degree", "Extension"},
	"OSD":         {"VideoSourceConfigurationToken", "Type", "Position", "TextString", "Image", "Extension"},
	"Position":    {"Type", "Pos", "Extension"},
	"TextString":  {"Type", "DateFormat", "TimeFormat", "FontSize", "FontColor", "BackgroundColor", "PlainText", "Extension"},
	// PTZ.
	"ContinuousMove": {"ProfileToken", "Velocity", "Timeout"},
	"Velocity":       {"PanTilt", "Zoom"},
	"Stop":           {"ProfileToken", "PanTilt", "Zoom"},
	"SetPreset":      {"ProfileToken", "PresetName", "PresetToken"},
	"GotoPreset":     {"ProfileToken", "PresetToken", "Speed"},
	// Imaging.
	"SetImagingSettings": {"VideoSourceToken", "ImagingSettings", "ForcePersistence"},
	"ImagingSettings": {"BacklightCompensation", "Brightness", "ColorSaturation", "Contrast", "Exposure", "Focus",
		"IrCutFilter", "Sharpness", "WideDynamicRange", "WhiteBalance", "Extension"},
	"BacklightCompensation": {"Mode", "Level"},
	"WideDynamicRange":      {"Mode", "Level"},
	"WhiteBalance":          {"Mode", "CrGain", "CbGain", "Extension"},
	"Exposure": {"Mode", "Priority", "Window", "MinExposureTime", "MaxExposureTime", "MinGain", "MaxGain",
		"MinIris", "MaxIris", "ExposureTime", "Gain", "Iris"},
	// Events and analytics.
	"CreatePullPointSubscription": {"Filter", "InitialTerminationTime", "SubscriptionPolicy"},
	"PullMessages":                {"Timeout", "MessageLimit"},
	"ModifyAnalyticsModules":      {"ConfigurationToken", "AnalyticsModule"},
	"ModifyRules":                 {"ConfigurationToken", "Rule"},
}

// errOrder reports an element out of its schema sequence.
var errOrder = errors.New("validation constraint violation: element out of sequence order")

// checkOrder walks the SOAP body and returns a description of the first
// element found out of schema order, or "".
func checkOrder(data []byte) string {
	d := xml.NewDecoder(bytes.NewReader(data))
	type open struct {
		name string
		seq  []string
		last int
	}
	var stack []open
	action := ""
	inBody := false
	for {
		tok, err := d.Token()
		if err == io.EOF || err != nil {
			return "" // malformed XML is refused elsewhere
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if !inBody {
				if name == "Body" {
					inBody = true
				}
				if name != "Envelope" && name != "Body" {
					if err := d.Skip(); err != nil {
						return ""
					}
				}
				continue
			}
			if action == "" {
				action = name
			}
			if n := len(stack); n > 0 {
				parent := &stack[n-1]
				for i, s := range parent.seq {
					if s != name {
						continue
					}
					if i < parent.last {
						return errOrder.Error() + ": " + name + " after " + parent.seq[parent.last] + " in " + parent.name
					}
					parent.last = i
					break
				}
			}
			seq := sequences[name]
			if name == "Configuration" {
				seq = sequences[name+"@"+action]
			}
			stack = append(stack, open{name: name, seq: seq})
		case xml.EndElement:
			if len(stack) == 0 {
				return ""
			}
			stack = stack[:len(stack)-1]
		}
	}
}
