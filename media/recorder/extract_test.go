package recorder

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

func extractAll(t *testing.T, r *Recorder, from, to time.Time, chunkMax time.Duration) []Chunk {
	t.Helper()
	var out []Chunk
	for c, err := range r.Extract(from, to, chunkMax) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// checkChunk asserts a chunk is a standalone MP4 starting with a key frame
// that holds what the chunk says (and that ffprobe, when installed, plays).
func checkChunk(t *testing.T, i int, c Chunk) {
	t.Helper()
	var p pmp4.Presentation
	if err := p.Unmarshal(bytes.NewReader(c.Data)); err != nil {
		t.Fatalf("chunk %d: %v", i, err)
	}
	vt := p.Tracks[0]
	if len(p.Tracks) != 2 || len(vt.Samples) != c.Frames || vt.Samples[0].IsNonSyncSample {
		t.Fatalf("chunk %d: %d tracks, %d video samples (want %d), first key %v", i, len(p.Tracks), len(vt.Samples), c.Frames, !vt.Samples[0].IsNonSyncSample)
	}
	path := filepath.Join(t.TempDir(), "chunk.mp4")
	if err := os.WriteFile(path, c.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	if d, ok := ffprobeDuration(t, path); ok && (d-c.Duration > 50*time.Millisecond || c.Duration-d > 50*time.Millisecond) {
		t.Errorf("chunk %d: ffprobe says %v, chunk %v", i, d, c.Duration)
	}
}

// Extract cuts a range across a segment boundary into standalone chunks
// of at most chunkMax that start with key frames and meet exactly: the
// first at the key frame before from, the last ending with the last frame
// before to, every frame in between once.
func TestExtractChunks(t *testing.T) {
	r := openT(t, Options{Dir: t.TempDir()})
	c := &cam{f: loadFixture(t), t0: testT0}
	c.feed(r, 150*time.Second)
	r.Close()

	from, to := testT0.Add(10500*time.Millisecond), testT0.Add(75*time.Second)
	chunks := extractAll(t, r, from, to, 10*time.Second)
	if len(chunks) < 7 {
		t.Fatalf("%d chunks", len(chunks))
	}
	if !chunks[0].Start.Equal(testT0.Add(10 * time.Second)) {
		t.Errorf("first chunk starts %v, want the key frame at 10 s", chunks[0].Start.Sub(testT0))
	}
	frames := 0
	for i, ch := range chunks {
		checkChunk(t, i, ch)
		if ch.Duration > 10*time.Second || ch.Duration <= 0 {
			t.Errorf("chunk %d lasts %v", i, ch.Duration)
		}
		if i > 0 && !chunks[i-1].End().Equal(ch.Start) {
			t.Errorf("chunk %d starts %v, chunk %d ends %v", i, ch.Start.Sub(testT0), i-1, chunks[i-1].End().Sub(testT0))
		}
		frames += ch.Frames
	}
	t.Logf("%d chunks, first %v last %v", len(chunks), chunks[0].Duration, chunks[len(chunks)-1].Duration)
	last := chunks[len(chunks)-1]
	if !last.End().Equal(to) || frames != 65*25 {
		t.Errorf("chunks end %v with %d frames, want %v and %d", last.End().Sub(testT0), frames, to.Sub(testT0), 65*25)
	}
	// The segment boundary at 60 s is a chunk boundary, reported as such.
	cut := false
	for _, ch := range chunks {
		if ch.SegmentEnd {
			cut = cut || ch.End().Equal(testT0.Add(time.Minute))
		}
	}
	if !cut {
		t.Error("no chunk ends with the first segment")
	}

	// A range outside the recording yields nothing.
	if n := len(extractAll(t, r, testT0.Add(-time.Hour), testT0.Add(-time.Minute), 10*time.Second)); n != 0 {
		t.Errorf("%d chunks before the recording", n)
	}
}

// A deleted segment is reported and skipped; the rest is extracted.
func TestExtractMissingSegment(t *testing.T) {
	r := openT(t, Options{Dir: t.TempDir()})
	c := &cam{f: loadFixture(t), t0: testT0}
	c.feed(r, 130*time.Second)
	r.Close()
	segs := r.Segments()
	if err := os.Remove(filepath.Join(r.Dir(), segs[1].Name())); err != nil {
		t.Fatal(err)
	}
	var errs, frames int
	for ch, err := range r.Extract(testT0, testT0.Add(time.Hour), 30*time.Second) {
		if err != nil {
			errs++
			continue
		}
		frames += ch.Frames
	}
	if errs != 1 || frames != 70*25 {
		t.Errorf("%d errors, %d frames; want 1 and %d", errs, frames, 70*25)
	}
}
