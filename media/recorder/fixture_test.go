package recorder

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/camagent/camagent/media"
)

// Real camera-like frames: rtspsim's fixture (640x360 H.264, IDR every 25
// frames, 48 kHz mono AAC) replayed with timing the tests control.
type fixture struct {
	video, audio *media.Track
	aus          [][][]byte
	aac          [][]byte
}

var testT0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

const frameDur = 40 * time.Millisecond

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	raw, err := os.ReadFile("../rtspsim/fixture/fixture.h264")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{video: &media.Track{Codec: media.CodecH264, ClockRate: 90000}}
	var au [][]byte
	for _, n := range bytes.Split(raw, []byte{0, 0, 1}) {
		if n = bytes.TrimRight(n, "\x00"); len(n) == 0 {
			continue
		}
		typ := h264.NALUType(n[0] & 0x1f)
		switch typ {
		case h264.NALUTypeSPS:
			if f.video.SPS == nil { // the first of each: the fixture repeats them
				f.video.SPS = n
			}
		case h264.NALUTypePPS:
			if f.video.PPS == nil {
				f.video.PPS = n
			}
		}
		au = append(au, n)
		if typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR {
			f.aus, au = append(f.aus, au), nil
		}
	}
	raw, err = os.ReadFile("../rtspsim/fixture/fixture.aac")
	if err != nil {
		t.Fatal(err)
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	conf := mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelConfig: uint8(pkts[0].ChannelCount), ChannelCount: pkts[0].ChannelCount}
	cfg, err := conf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.audio = &media.Track{Codec: media.CodecAAC, ClockRate: pkts[0].SampleRate, Config: cfg, SampleRate: pkts[0].SampleRate, Channels: pkts[0].ChannelCount}
	for _, p := range pkts {
		f.aac = append(f.aac, p.AU)
	}
	return f
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

// cam emits units in stream order as a media.Stream does: 25 fps video
// and one AAC frame per audio unit, Wall = t0 + DTS (+ wallShift).
type cam struct {
	f            *fixture
	t0           time.Time
	frame, audio int
	noAudio      bool
	base         time.Duration // added to DTS/PTS (stream timeline)
	discont      bool          // mark the next unit
}

func (c *cam) next() *media.Unit {
	vdts := time.Duration(c.frame) * frameDur
	adts := time.Duration(c.audio) * aacFrameSamples * time.Second / time.Duration(c.f.audio.SampleRate)
	var u *media.Unit
	if c.noAudio || vdts <= adts {
		au := c.f.aus[c.frame%len(c.f.aus)]
		c.frame++
		u = &media.Unit{Track: c.f.video, PTS: vdts, DTS: vdts, Key: isIDR(au), NALUs: au}
	} else {
		fr := c.f.aac[c.audio%len(c.f.aac)]
		c.audio++
		u = &media.Unit{Track: c.f.audio, PTS: adts, DTS: adts, Frames: [][]byte{fr}}
	}
	u.Wall = c.t0.Add(u.DTS)
	u.PTS += c.base
	u.DTS += c.base
	u.Discontinuity, c.discont = c.discont, false
	return u
}

// fed is the media time of the video frames emitted so far.
func (c *cam) fed() time.Duration { return time.Duration(c.frame) * frameDur }

// feed writes units until d of video has been emitted.
func (c *cam) feed(r *Recorder, d time.Duration) {
	for c.fed() < d {
		r.Write(c.next())
	}
}

func openT(t testing.TB, opts Options) *Recorder {
	t.Helper()
	if opts.Stream == "" {
		opts.Stream = "main"
	}
	r, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.waitDisk = true
	return r
}

// checkSegments asserts every segment file parses to the end with the box
// walker (and with ffprobe when installed, which must agree on the
// duration) and returns the summed duration.
func checkSegments(t *testing.T, dir string) time.Duration {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+segExt))
	if len(files) == 0 {
		t.Fatalf("no segments in %s", dir)
	}
	var total time.Duration
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := scanSegment(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !s.closed || s.frags == 0 || s.end+int64(len(closeMarker)) != s.size {
			t.Fatalf("%s: not a clean segment: %+v", filepath.Base(p), s)
		}
		total += s.duration()
		if d, ok := ffprobeDuration(t, p); ok {
			if diff := d - s.duration(); diff > 50*time.Millisecond || diff < -50*time.Millisecond {
				t.Errorf("%s: ffprobe says %v, walker %v", filepath.Base(p), d, s.duration())
			}
		}
	}
	return total
}

// ffprobeDuration returns the video stream duration ffprobe reads, failing
// the test on any decode complaint; ok false when ffprobe is not installed.
func ffprobeDuration(t *testing.T, path string) (time.Duration, bool) {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		return 0, false
	}
	out, err := exec.Command(bin, "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=codec_name,nb_read_packets:format=duration", "-of", "json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(path), err, out)
	}
	var res struct {
		Streams []struct {
			Codec   string `json:"codec_name"`
			Packets string `json:"nb_read_packets"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(path), err, out)
	}
	if len(res.Streams) != 1 || res.Streams[0].Codec != "h264" {
		t.Fatalf("ffprobe %s: %s", filepath.Base(path), out)
	}
	n, _ := strconv.Atoi(res.Streams[0].Packets)
	if n == 0 {
		t.Fatalf("ffprobe %s: no video packets: %s", filepath.Base(path), out)
	}
	sec, err := strconv.ParseFloat(res.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe %s: %s", filepath.Base(path), out)
	}
	return time.Duration(sec * float64(time.Second)), true
}
