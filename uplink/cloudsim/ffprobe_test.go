package cloudsim

import (
	"strings"
	"testing"
	"time"
)

// evenRecording is two seconds of a 25 fps, 48 kHz mono camera recorded
// without a flaw, interleaved by time as a muxer writes it.
func evenRecording() *Recording {
	r := &Recording{
		VideoCodec: "h264", AudioCodec: "aac", Width: 640, Height: 360,
		FrameRate: 25, SampleRate: 48000, Channels: 1,
	}
	aframe := time.Second * aacFrameSamples / 48000
	var a time.Duration
	for i := range 50 {
		v := time.Duration(i) * 40 * time.Millisecond
		for ; a <= v; a += aframe {
			r.Audio = append(r.Audio, Packet{DTS: a})
			r.Packets = append(r.Packets, Packet{DTS: a})
		}
		p := Packet{DTS: v, Key: i%25 == 0, Video: true}
		r.Video = append(r.Video, p)
		r.Packets = append(r.Packets, p)
	}
	return r
}

func TestRecordingProblems(t *testing.T) {
	want := Want{Width: 640, Height: 360, FPS: 25, SampleRate: 48000, Channels: 1}
	for _, tc := range []struct {
		name  string
		spoil func(r *Recording)
		want  []string // substrings, one per problem, in order; none for a good file
	}{
		{"good", func(*Recording) {}, nil},
		{"transcoded", func(r *Recording) { r.VideoCodec, r.Width = "hevc", 1280 }, []string{"codecs hevc/aac", "resolution 1280x360"}},
		{"rate guessed wrong", func(r *Recording) { r.FrameRate = 30 }, []string{"frame rate 30, want 25"}},
		{"stereo", func(r *Recording) { r.Channels = 2 }, []string{"audio 48000 Hz 2 ch"}},
		{"too short", func(r *Recording) { r.Video = r.Video[:10] }, []string{"only 10 video"}},
		{"no key frame first", func(r *Recording) { r.Video[0].Key = false }, []string{"not a key frame"}},
		{"packets without dts", func(r *Recording) { r.NoDTS = 3 }, []string{"3 packets without DTS"}},
		{"step back", func(r *Recording) {
			r.Audio[10].DTS = r.Audio[9].DTS - time.Millisecond
		}, []string{"1 of"}},
		{"jump", func(r *Recording) {
			for i := 30; i < len(r.Video); i++ {
				r.Video[i].DTS += time.Second
			}
		}, []string{"1 of", "video timestamp steps"}},
		{"uneven video", func(r *Recording) {
			r.Video[5].DTS += 15 * time.Millisecond
		}, []string{"video timestamp steps"}},
		{"audio off its clock", func(r *Recording) {
			for i := 20; i < len(r.Audio); i++ {
				r.Audio[i].DTS += 100 * time.Millisecond
			}
		}, []string{"audio strays 100ms"}},
		{"audio repeats a time", func(r *Recording) { r.Audio[7].DTS = r.Audio[6].DTS }, []string{"1 of 92 audio packets share"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := evenRecording()
			tc.spoil(r)
			got := r.Problems(want)
			if len(got) != len(tc.want) {
				t.Fatalf("Problems = %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"25/1", 25, true},
		{"1/1000", 0.001, true},
		{"30000/1001", 30000.0 / 1001, true},
		{"0/0", 0, false},
		{"25", 0, false},
		{"a/1", 0, false},
	} {
		if got, ok := ratio(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("ratio(%q) = %v, %t; want %v, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
