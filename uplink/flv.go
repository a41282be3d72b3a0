package uplink

import (
	"errors"
	"fmt"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// errNoParameterSets means a key frame arrived without the SPS/PPS needed
// for the FLV sequence header, neither in the track nor in-band.
var errNoParameterSets = errors.New("no parameter sets for sequence header")

// avcConfig builds the AVCDecoderConfigurationRecord of the FLV AVC sequence
// header. Profile and level are the raw SPS bytes 1..3, so a camera SPS the
// parser would not understand is still passed through untouched.
func avcConfig(sps, pps []byte) (*mp4.AVCDecoderConfiguration, error) {
	if len(sps) < 4 || len(pps) < 1 {
		return nil, errNoParameterSets
	}
	c := &mp4.AVCDecoderConfiguration{
		ConfigurationVersion:       1,
		Profile:                    sps[1],
		ProfileCompatibility:       sps[2],
		Level:                      sps[3],
		Reserved:                   0x3f,
		LengthSizeMinusOne:         3,
		Reserved2:                  0x7,
		NumOfSequenceParameterSets: 1,
		SequenceParameterSets:      []mp4.AVCParameterSet{{Length: uint16(len(sps)), NALUnit: sps}},
		NumOfPictureParameterSets:  1,
		PictureParameterSets:       []mp4.AVCParameterSet{{Length: uint16(len(pps)), NALUnit: pps}},
	}
	c.SetType(mp4.BoxTypeAvcC())
	return c, nil
}

// hvcConfig builds the HEVCDecoderConfigurationRecord of the enhanced-RTMP
// HEVC sequence start.
func hvcConfig(vps, sps, pps []byte) (*mp4.HvcC, error) {
	if len(vps) < 2 || len(sps) < 13 || len(pps) < 2 {
		return nil, errNoParameterSets
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("parse h265 sps: %w", err)
	}
	ptl := s.ProfileTierLevel
	arr := func(typ byte, nalu []byte) mp4.HEVCNaluArray {
		return mp4.HEVCNaluArray{
			Completeness: true,
			NaluType:     typ,
			NumNalus:     1,
			Nalus:        []mp4.HEVCNalu{{Length: uint16(len(nalu)), NALUnit: nalu}},
		}
	}
	return &mp4.HvcC{
		ConfigurationVersion:        1,
		GeneralTierFlag:             ptl.GeneralTierFlag == 1,
		GeneralProfileIdc:           ptl.GeneralProfileIdc,
		GeneralProfileCompatibility: ptl.GeneralProfileCompatibilityFlag,
		// The constraint flags sit right after the 2-byte NAL header,
		// 1 byte of sps ids and 4 bytes of compatibility flags.
		GeneralConstraintIndicator: [6]uint8(sps[7:13]),
		GeneralLevelIdc:            ptl.GeneralLevelIdc,
		Reserved1:                  0xf,
		Reserved2:                  0x3f,
		Reserved3:                  0x3f,
		ChromaFormatIdc:            uint8(s.ChromaFormatIdc),
		Reserved4:                  0x1f,
		BitDepthLumaMinus8:         uint8(s.BitDepthLumaMinus8),
		Reserved5:                  0x1f,
		BitDepthChromaMinus8:       uint8(s.BitDepthChromaMinus8),
		NumTemporalLayers:          1,
		LengthSizeMinusOne:         3,
		NumOfNaluArrays:            3,
		NaluArrays: []mp4.HEVCNaluArray{
			arr(byte(h265.NALUType_VPS_NUT), vps), arr(byte(h265.NALUType_SPS_NUT), sps), arr(byte(h265.NALUType_PPS_NUT), pps),
		},
	}, nil
}
