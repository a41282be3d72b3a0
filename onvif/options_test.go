package onvif

import (
	"reflect"
	"testing"
)

var encoderOptionsCases = []struct {
	name    string
	xml     string
	want    VideoEncoderOptions
	wantErr bool
}{
	{
		name: "hikvision base and extension",
		xml: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"><env:Body>` +
			`<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options><tt:QualityRange><tt:Min>1</tt:Min><tt:Max>6</tt:Max></tt:QualityRange>` +
			`<tt:H264><tt:ResolutionsAvailable><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:ResolutionsAvailable>` +
			`<tt:ResolutionsAvailable><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:ResolutionsAvailable>` +
			`<tt:GovLengthRange><tt:Min>1</tt:Min><tt:Max>400</tt:Max></tt:GovLengthRange><tt:FrameRateRange><tt:Min>1</tt:Min><tt:Max>25</tt:Max></tt:FrameRateRange>` +
			`<tt:EncodingIntervalRange><tt:Min>1</tt:Min><tt:Max>1</tt:Max></tt:EncodingIntervalRange>` +
			`<tt:H264ProfilesSupported>Baseline</tt:H264ProfilesSupported><tt:H264ProfilesSupported>Main</tt:H264ProfilesSupported><tt:H264ProfilesSupported>High</tt:H264ProfilesSupported></tt:H264>` +
			`<tt:Extension><tt:H264><tt:ResolutionsAvailable><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:ResolutionsAvailable>` +
			`<tt:GovLengthRange><tt:Min>1</tt:Min><tt:Max>400</tt:Max></tt:GovLengthRange><tt:FrameRateRange><tt:Min>1</tt:Min><tt:Max>25</tt:Max></tt:FrameRateRange>` +
			`<tt:EncodingIntervalRange><tt:Min>1</tt:Min><tt:Max>1</tt:Max></tt:EncodingIntervalRange><tt:H264ProfilesSupported>Main</tt:H264ProfilesSupported>` +
			`<tt:BitrateRange><tt:Min>32</tt:Min><tt:Max>16384</tt:Max></tt:BitrateRange></tt:H264></tt:Extension>` +
			`</trt:Options></trt:GetVideoEncoderConfigurationOptionsResponse></env:Body></env:Envelope>`,
		want: VideoEncoderOptions{Quality: Range{1, 6}, Codecs: []CodecOptions{{
			Encoding:    "H264",
			Resolutions: []Resolution{{2560, 1440}, {1920, 1080}},
			FrameRate:   Range{1, 25}, EncodingInterval: Range{1, 1}, GOP: Range{1, 400}, BitrateKbps: Range{32, 16384},
			Profiles: []string{"Baseline", "Main", "High"},
		}}},
	},
	{
		name: "axis jpeg and h264 without bitrates",
		xml: `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>` +
			`<GetVideoEncoderConfigurationOptionsResponse xmlns="http://www.onvif.org/ver10/media/wsdl"><Options>` +
			`<QualityRange xmlns="http://www.onvif.org/ver10/schema"><Min>0</Min><Max>100</Max></QualityRange>` +
			`<JPEG xmlns="http://www.onvif.org/ver10/schema"><ResolutionsAvailable><Width>640</Width><Height>480</Height></ResolutionsAvailable>` +
			`<FrameRateRange><Min>1</Min><Max>30</Max></FrameRateRange><EncodingIntervalRange><Min>1</Min><Max>1</Max></EncodingIntervalRange></JPEG>` +
			`<H264 xmlns="http://www.onvif.org/ver10/schema"><ResolutionsAvailable><Width>640</Width><Height>480</Height></ResolutionsAvailable>` +
			`<ResolutionsAvailable><Width>0</Width><Height>480</Height></ResolutionsAvailable>` +
			`<GovLengthRange><Min>1</Min><Max>32767</Max></GovLengthRange><FrameRateRange><Min>1</Min><Max>30</Max></FrameRateRange>` +
			`<EncodingIntervalRange><Min>1</Min><Max>1</Max></EncodingIntervalRange><H264ProfilesSupported>Baseline</H264ProfilesSupported></H264>` +
			`</Options></GetVideoEncoderConfigurationOptionsResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
		want: VideoEncoderOptions{Quality: Range{0, 100}, Codecs: []CodecOptions{
			{Encoding: "H264", Resolutions: []Resolution{{640, 480}}, FrameRate: Range{1, 30}, EncodingInterval: Range{1, 1},
				GOP: Range{1, 32767}, Profiles: []string{"Baseline"}},
			{Encoding: "JPEG", Resolutions: []Resolution{{640, 480}}, FrameRate: Range{1, 30}, EncodingInterval: Range{1, 1}},
		}},
	},
	{
		name: "extension only",
		xml: `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a:GetVideoEncoderConfigurationOptionsResponse xmlns:a="m" xmlns:b="s"><a:Options>` +
			`<b:Extension><b:H264><b:ResolutionsAvailable><b:Width>1280</b:Width><b:Height>720</b:Height></b:ResolutionsAvailable>` +
			`<b:BitrateRange><b:Min>64</b:Min><b:Max>4096</b:Max></b:BitrateRange></b:H264></b:Extension>` +
			`</a:Options></a:GetVideoEncoderConfigurationOptionsResponse></s:Body></s:Envelope>`,
		want: VideoEncoderOptions{Codecs: []CodecOptions{{Encoding: "H264", Resolutions: []Resolution{{1280, 720}}, BitrateKbps: Range{64, 4096}}}},
	},
	{
		// Some firmware answers with nothing in Options.
		name: "empty options",
		xml: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"><env:Body>` +
			`<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options/></trt:GetVideoEncoderConfigurationOptionsResponse></env:Body></env:Envelope>`,
		want: VideoEncoderOptions{},
	},
	{
		// Empty elements are unknown ranges, not ranges of zeros; an empty
		// codec element offers the encoding with nothing known about it.
		name: "empty elements",
		xml: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"><env:Body>` +
			`<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options><tt:QualityRange><tt:Min></tt:Min><tt:Max></tt:Max></tt:QualityRange>` +
			`<tt:H264><tt:ResolutionsAvailable><tt:Width></tt:Width><tt:Height></tt:Height></tt:ResolutionsAvailable>` +
			`<tt:GovLengthRange/><tt:FrameRateRange><tt:Min/><tt:Max/></tt:FrameRateRange><tt:EncodingIntervalRange><tt:Min>0</tt:Min><tt:Max>0</tt:Max></tt:EncodingIntervalRange>` +
			`<tt:H264ProfilesSupported></tt:H264ProfilesSupported></tt:H264><tt:Extension><tt:H264><tt:BitrateRange/></tt:H264></tt:Extension>` +
			`</trt:Options></trt:GetVideoEncoderConfigurationOptionsResponse></env:Body></env:Envelope>`,
		want: VideoEncoderOptions{Codecs: []CodecOptions{{Encoding: "H264"}}},
	},
	{
		name: "half and upside-down ranges",
		xml: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"><env:Body>` +
			`<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options><tt:QualityRange><tt:Max>5</tt:Max></tt:QualityRange>` +
			`<tt:H264><tt:GovLengthRange><tt:Min>400</tt:Min><tt:Max>1</tt:Max></tt:GovLengthRange><tt:FrameRateRange><tt:Min>-5</tt:Min><tt:Max>25</tt:Max></tt:FrameRateRange>` +
			`<tt:EncodingIntervalRange><tt:Min>x</tt:Min><tt:Max>1</tt:Max></tt:EncodingIntervalRange></tt:H264>` +
			`<tt:JPEG><tt:FrameRateRange><tt:Min> 1.0 </tt:Min><tt:Max>30.0</tt:Max></tt:FrameRateRange></tt:JPEG>` +
			`</trt:Options></trt:GetVideoEncoderConfigurationOptionsResponse></env:Body></env:Envelope>`,
		want: VideoEncoderOptions{Codecs: []CodecOptions{{Encoding: "H264"}, {Encoding: "JPEG", FrameRate: Range{1, 30}}}},
	},
	{
		name:    "fault",
		xml:     hikvisionNotAuthorized,
		wantErr: true,
	},
}

func parseEncoderOptions(data []byte) (VideoEncoderOptions, error) {
	var r struct {
		Options xmlEncoderOptions `xml:"Options"`
	}
	if err := decodeResponse(data, "GetVideoEncoderConfigurationOptionsResponse", &r); err != nil {
		return VideoEncoderOptions{}, err
	}
	return r.Options.options(), nil
}

func TestParseEncoderOptions(t *testing.T) {
	for _, tc := range encoderOptionsCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEncoderOptions([]byte(tc.xml))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseEncoderOptions(f *testing.F) {
	for _, tc := range encoderOptionsCases {
		f.Add([]byte(tc.xml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := parseEncoderOptions(data)
		if err != nil {
			return
		}
		ranges := []Range{o.Quality}
		for _, c := range o.Codecs {
			ranges = append(ranges, c.FrameRate, c.EncodingInterval, c.GOP, c.BitrateKbps)
			for _, r := range c.Resolutions {
				if r.Width <= 0 || r.Height <= 0 {
					t.Fatalf("bad resolution %+v", r)
				}
			}
		}
		// A range is either known or the zero value: never zeros or
		// an upside-down range passed off as what the camera allows.
		for _, r := range ranges {
			if !r.Known() && r != (Range{}) {
				t.Fatalf("range %+v is neither known nor unknown", r)
			}
		}
	})
}
