//go:build interop

package record

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/media"
	"github.com/camagent/camagent/media/rtspsim"
)

// The interop tier has ffprobe (Debian package ffmpeg), an MP4 reader
// nobody on this project wrote, judge every chunk. The tests fail, never
// skip, when it is missing.

type ffprobeReport struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		Index     int    `json:"index"`
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		DTSTime     string `json:"dts_time"`
		Flags       string `json:"flags"`
	} `json:"packets"`
}

// ffprobe reads an MP4 from a file as the cloud would, and checks its video
// codec, its duration against want (within a frame), that the first packet
// is a key frame and that no stream's DTS goes backwards. It returns the
// audio codec, "" when there is none.
func ffprobe(t *testing.T, data []byte, video string, want time.Duration) string {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal("interop: ffprobe not found (Debian package ffmpeg)")
	}
	path := filepath.Join(t.TempDir(), "chunk.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-v", "error", "-of", "json", "-show_format", "-show_streams", "-show_packets", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe: %v\n%s", err, stderr.Bytes())
	}
	var r ffprobeReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	kinds, audio := map[int]string{}, ""
	for _, s := range r.Streams {
		kinds[s.Index] = s.CodecType
		switch s.CodecType {
		case "video":
			if s.CodecName != video {
				t.Errorf("ffprobe video codec %q, want %q", s.CodecName, video)
			}
		case "audio":
			audio = s.CodecName
		}
	}
	secs, err := strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", r.Format.Duration, err)
	}
	if d := time.Duration(secs * float64(time.Second)); (d - want).Abs() > frameDur {
		t.Errorf("ffprobe duration %v, want %v within a frame", d, want)
	}
	last := map[int]float64{}
	firstVideo := true
	for _, p := range r.Packets {
		dts, err := strconv.ParseFloat(p.DTSTime, 64)
		if err != nil {
			t.Fatalf("packet without dts: %+v", p)
		}
		if prev, ok := last[p.StreamIndex]; ok && dts <= prev {
			t.Errorf("%s dts %v after %v: not monotonic", kinds[p.StreamIndex], dts, prev)
		}
		last[p.StreamIndex] = dts
		if kinds[p.StreamIndex] == "video" && firstVideo {
			firstVideo = false
			if p.Flags == "" || p.Flags[0] != 'K' {
				t.Errorf("first video packet flags %q, want a key frame", p.Flags)
			}
		}
	}
	return audio
}

func TestInteropH265AndBFramesProbe(t *testing.T) {
	for _, tc := range []struct {
		name, codec string
		units       []*media.Unit
	}{
		{"h265", "hevc", h265Units(t)},
		{"bframes", "h264", bframeUnits(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, info := writeMP4(t, tc.units, 0)
			ffprobe(t, data, tc.codec, info.Duration)
		})
	}
}

// TestInteropClipFromRTSP pulls rtspsim (H.264 + AAC) over RTSP through
// media.Source into a Stream, feeds a Buffer from one Reader, cuts a clip
// and has ffprobe read every chunk.
func TestInteropClipFromRTSP(t *testing.T) {
	sim := rtspsim.New(rtspsim.Options{})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	log := zaptest.NewLogger(t)
	stream := media.NewStream(log)
	reader := stream.AddReader("record", 512)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srcCtx, stopSrc := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = media.NewSource(media.SourceOptions{URL: sim.URL(), Log: log}, stream).Run(srcCtx) })
	defer func() {
		stopSrc()
		wg.Wait()
		stream.Close()
	}()

	buf := NewBuffer(BufferOptions{Keep: 2 * time.Second, Budget: NewBudget(16 << 20)})
	defer buf.Close()
	var (
		mu     sync.Mutex
		chunks []Chunk
		fed    []*media.Unit
	)
	readerDone := make(chan error, 1)
	go func() {
		for {
			u, err := reader.Read(ctx)
			if err != nil {
				readerDone <- err
				return
			}
			mu.Lock()
			fed = append(fed, u)
			mu.Unlock()
			buf.Write(u)
		}
	}()
	defer func() { reader.Close(); <-readerDone }()

	// Let the buffer fill past Keep, then an event with 1.5 s before and
	// 2.5 s after, cut into 1 s chunks.
	for buf.Stats().Span < 2*time.Second {
		select {
		case err := <-readerDone:
			t.Fatalf("reader: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	now := time.Now()
	until := now.Add(2500 * time.Millisecond)
	clip := buf.StartClip(ClipOptions{From: now.Add(-1500 * time.Millisecond), Until: until, ChunkMax: time.Second,
		OnChunk: func(ch Chunk) { mu.Lock(); chunks = append(chunks, ch); mu.Unlock() }})
	select {
	case <-clip.Done():
	case <-ctx.Done():
		t.Fatal("clip not done in time")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(chunks) < 3 {
		t.Fatalf("%d chunks, want pre-event, current GOP and post-event ones", len(chunks))
	}
	var total time.Duration
	for i, ch := range chunks {
		t.Run(fmt.Sprintf("chunk%d", i), func(t *testing.T) {
			if ch.Err != nil {
				t.Fatal(ch.Err)
			}
			if audio := ffprobe(t, ch.Data, "h264", ch.Duration); audio != "aac" {
				t.Errorf("audio codec %q, want aac", audio)
			}
		})
		total += ch.Duration
	}
	// Every video frame from the first chunk's key frame to Until is in
	// exactly one chunk, and the chunks' durations add up to their span.
	want, frames, in := 0, 0, false
	var first, last time.Duration
	for _, u := range fed {
		if !in && u.Key && u.Wall.Equal(chunks[0].Start) {
			in, first = true, u.DTS
		}
		if !u.Wall.Before(until) {
			break
		}
		if in && u.Track.Codec.IsVideo() {
			want, last = want+1, u.DTS
		}
	}
	for _, ch := range chunks {
		frames += ch.Frames
	}
	if frames != want || want == 0 {
		t.Errorf("chunks hold %d frames, the stream had %d in the interval", frames, want)
	}
	if span := last - first + time.Second/rtspsim.FPS; (total - span).Abs() > frameDur {
		t.Errorf("chunks last %v together, their frames span %v", total, span)
	}
	t.Logf("%d chunks over %v; first %d bytes %d frames", len(chunks), total, len(chunks[0].Data), chunks[0].Frames)
}
