//go:build interop

package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/camagent/camagent/media/rtspsim"
)

// clipProbe is what ffprobe reads from one MP4 chunk, only the fields the
// test judges.
type clipProbe struct {
	Streams []struct {
		Index      int    `json:"index"`
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		RFrameRate string `json:"r_frame_rate"`
		SampleRate string `json:"sample_rate"`
		StartTime  string `json:"start_time"`
		Duration   string `json:"duration"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		DTSTime     string `json:"dts_time"`
		Flags       string `json:"flags"`
	} `json:"packets"`
}

// seconds parses one of ffprobe's times ("1.040000"); what is not a time
// fails the test.
func seconds(t *testing.T, what, s string) time.Duration {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("ffprobe %s %q: %v", what, s, err)
	}
	return time.Duration(f * float64(time.Second))
}

// probeClip has ffprobe (Debian package ffmpeg) read an MP4 file; any
// warning it prints fails the test, as a cloud transcoder would log it.
func probeClip(t *testing.T, path string) clipProbe {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal("interop: ffprobe not found (Debian package ffmpeg)")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-v", "warning", "-of", "json", "-show_streams", "-show_packets", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe %s warns:\n%s", filepath.Base(path), stderr.Bytes())
	}
	var p clipProbe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s json: %v", path, err)
	}
	return p
}

// TestInteropEventClips: the MP4 chunks of an event clip, as the cloud
// receives them, read by ffprobe: the camera's H.264 and AAC, each chunk
// lasting what was announced, opening on a key frame and playing without
// a stall, audio starting with the video, and the chunks following each
// other without gap or overlap.
//
// Set CAMAGENT_CLIPS=/dir to keep the chunks there.
func TestInteropEventClips(t *testing.T) {
	const pre, post = 2 * time.Second, 2 * time.Second
	chunks := eventClipChunks(t, pre, post)
	dir := t.TempDir()
	if d := os.Getenv("CAMAGENT_CLIPS"); d != "" {
		dir = d
	}
	const frame = time.Second / rtspsim.FPS
	// One AAC frame of the camera's 48 kHz audio.
	const aacFrame = 1024 * time.Second / 48000
	var total time.Duration
	var prevVideoEnd, prevAudioEnd time.Duration // of the chunk before, on its timeline
	for i, c := range chunks {
		announced := time.Duration(c.Duration) * time.Millisecond
		total += announced
		path := filepath.Join(dir, fmt.Sprintf("chunk%d.mp4", i))
		if err := os.WriteFile(path, c.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		p := probeClip(t, path)
		video, audio := -1, -1
		var vstart, astart time.Duration
		for _, s := range p.Streams {
			switch s.CodecType {
			case "video":
				video = s.Index
				if s.CodecName != "h264" || s.Width != 640 || s.Height != 360 || s.RFrameRate != "25/1" {
					t.Errorf("chunk %d: video %s %dx%d at %s fps, want h264 640x360 at 25/1", i, s.CodecName, s.Width, s.Height, s.RFrameRate)
				}
				if d := seconds(t, "video duration", s.Duration); (d - announced).Abs() > frame {
					t.Errorf("chunk %d: video lasts %v, announced %v", i, d, announced)
				}
				vstart = seconds(t, "video start_time", s.StartTime)
			case "audio":
				audio = s.Index
				if s.CodecName != "aac" || s.SampleRate != "48000" {
					t.Errorf("chunk %d: audio %s at %s Hz, want aac at 48000", i, s.CodecName, s.SampleRate)
				}
				astart = seconds(t, "audio start_time", s.StartTime)
			}
		}
		if video < 0 || audio < 0 || len(p.Streams) != 2 {
			t.Errorf("chunk %d: streams %+v, want one h264 and one aac", i, p.Streams)
			continue
		}
		// A player lines the tracks up by their start times: audio that
		// starts an AAC frame or more away from the video is out of sync.
		if vstart != 0 || (astart-vstart).Abs() >= aacFrame {
			t.Errorf("chunk %d: video starts at %v, audio at %v; want both at 0, within one AAC frame (%v)", i, vstart, astart, aacFrame)
		}

		var vdts []time.Duration
		lastAudio := time.Duration(-1)
		for j, pk := range p.Packets {
			dts := seconds(t, "dts_time", pk.DTSTime)
			switch pk.StreamIndex {
			case video:
				if len(vdts) == 0 && (len(pk.Flags) == 0 || pk.Flags[0] != 'K') {
					t.Errorf("chunk %d: first video packet (packet %d) has flags %q, want a key frame", i, j, pk.Flags)
				}
				if n := len(vdts); n > 0 {
					if step := dts - vdts[n-1]; step <= 0 || step > 2*frame {
						t.Errorf("chunk %d: video packet %d at %v after %v: want a step in (0, %v]", i, n, dts, vdts[n-1], 2*frame)
					}
				}
				vdts = append(vdts, dts)
			case audio:
				if dts <= lastAudio {
					t.Errorf("chunk %d: audio dts %v after %v", i, dts, lastAudio)
				}
				lastAudio = dts
			}
		}
		if len(vdts) == 0 || lastAudio < 0 {
			t.Errorf("chunk %d: %d video packets, audio present %t", i, len(vdts), lastAudio >= 0)
		}

		if i > 0 {
			prev := chunks[i-1]
			gap := c.FileTime.Sub(prev.FileTime.Add(time.Duration(prev.Duration) * time.Millisecond))
			if gap.Abs() > frame {
				t.Errorf("chunk %d starts %v after chunk %d ends (file_time + duration): want within a frame", i, gap, i-1)
			}
			// The audio goes on across the seam: what the previous chunk's
			// audio leaves before its video ends, plus where this chunk's
			// audio starts, is less than one AAC frame.
			if hole := prevVideoEnd - prevAudioEnd + astart; hole.Abs() >= aacFrame/2 {
				t.Errorf("chunk %d: %v of audio missing at the seam (previous audio ends %v before its video, this one starts at %v)",
					i, hole, prevVideoEnd-prevAudioEnd, astart)
			}
		}
		if len(vdts) > 0 {
			prevVideoEnd, prevAudioEnd = vdts[len(vdts)-1]+frame, lastAudio+aacFrame
		}
		t.Logf("chunk %d: file_time %s, %v announced, %d bytes, %d video packets, video from %v, audio from %v",
			i, c.FileTime.Format("15:04:05.000"), announced, len(c.Body), len(vdts), vstart, astart)
	}
	// The clip runs from pre before the motion (rounded out to key
	// frames) to post after its end.
	if total < pre+post {
		t.Errorf("the chunks last %v together, want at least pre + post = %v", total, pre+post)
	}
}
