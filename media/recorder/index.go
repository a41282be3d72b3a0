package recorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// nameLayout names segment files by their start time in UTC; names sort
// like the times.
const nameLayout = "20060102T150405.000Z"

const (
	indexName = "index.json"
	segExt    = ".mp4"
	// mergeTolerance: segments closer than this are one contiguous range
	// (a frame or so of rounding between a cut and the next start).
	mergeTolerance = 100 * time.Millisecond
	// maxGaps bounds the gap history kept in the index.
	maxGaps = 4096
)

// GapReason tells why nothing was recorded for a while.
type GapReason int

// Gap reasons. GapNone is only used for contiguous segments.
const (
	GapNone            GapReason = iota
	GapCameraOffline             // the camera's stream broke off (new RTSP session after)
	GapStreamStalled             // units stopped arriving for a while
	GapEvicted                   // recorded, then deleted to stay within the budget
	GapRecordingOff              // the owner paused recording
	GapAgentNotRunning           // between one run of the agent and the next
	GapDiskError                 // the disk refused or could not keep up
)

var gapNames = [...]string{"none", "camera offline", "stream stalled", "evicted", "recording off", "agent not running", "disk error"}

func (g GapReason) String() string {
	if g >= 0 && int(g) < len(gapNames) {
		return gapNames[g]
	}
	return "unknown"
}

// MarshalText writes the reason as its name.
func (g GapReason) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses a reason name.
func (g *GapReason) UnmarshalText(b []byte) error {
	i := slices.Index(gapNames[:], string(b))
	if i < 0 {
		return fmt.Errorf("recorder: unknown gap reason %q", b)
	}
	*g = GapReason(i)
	return nil
}

// Segment is one segment file on disk.
type Segment struct {
	Stream   string        `json:"stream"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	Bytes    int64         `json:"bytes"`
	Uploaded bool          `json:"uploaded"`
	// open: the segment is being written and may not be evicted.
	open bool
}

// End is when the segment's last frame ends.
func (s Segment) End() time.Time { return s.Start.Add(s.Duration) }

// Name is the segment's file name.
func (s Segment) Name() string { return segName(s.Start) }

// Gap is a span with no recording.
type Gap struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason GapReason `json:"reason"`
}

// Range is a contiguous recorded span.
type Range struct {
	Start, End time.Time
}

type indexFile struct {
	Version  int       `json:"version"`
	Segments []Segment `json:"segments"`
	Gaps     []Gap     `json:"gaps"`
}

func segName(start time.Time) string { return start.UTC().Format(nameLayout) + segExt }

func parseSegName(name string) (time.Time, bool) {
	base, ok := strings.CutSuffix(name, segExt)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(nameLayout, base)
	return t, err == nil
}

// index is what is on disk for one stream. Guarded by Recorder.imu.
type index struct {
	segs []Segment // by Start
	gaps []Gap     // by Start
}

func (x *index) find(start time.Time) int {
	name := segName(start)
	for i := range x.segs {
		if x.segs[i].Name() == name {
			return i
		}
	}
	return -1
}

// lastEnd is the end of the newest segment; zero when there is none.
func (x *index) lastEnd() time.Time {
	var e time.Time
	for _, s := range x.segs {
		if s.End().After(e) {
			e = s.End()
		}
	}
	return e
}

// explained is when the newest segment or gap ends: the time a gap
// going on now starts from. Zero when nothing was ever recorded.
func (x *index) explained() time.Time {
	e := x.lastEnd()
	if e.IsZero() {
		return e
	}
	for _, g := range x.gaps {
		e = maxTime(e, g.End)
	}
	return e
}

func (x *index) add(s Segment) {
	i, _ := slices.BinarySearchFunc(x.segs, s.Start, func(a Segment, t time.Time) int { return a.Start.Compare(t) })
	x.segs = slices.Insert(x.segs, i, s)
}

func (x *index) addGap(g Gap) {
	if !g.End.After(g.Start) {
		return
	}
	i, _ := slices.BinarySearchFunc(x.gaps, g.Start, func(a Gap, t time.Time) int { return a.Start.Compare(t) })
	x.gaps = slices.Insert(x.gaps, i, g)
	if n := len(x.gaps) - maxGaps; n > 0 {
		x.gaps = slices.Delete(x.gaps, 0, n)
	}
}

func (x *index) bytes() int64 {
	var n int64
	for _, s := range x.segs {
		n += s.Bytes
	}
	return n
}

// timeline merges the segments overlapping [from, to) into contiguous
// ranges, clipped to [from, to).
func (x *index) timeline(from, to time.Time) []Range {
	var out []Range
	for _, s := range x.segs {
		if s.Duration <= 0 || !s.End().After(from) || !s.Start.Before(to) {
			continue
		}
		r := Range{Start: maxTime(s.Start, from), End: minTime(s.End(), to)}
		if n := len(out); n > 0 && r.Start.Sub(out[n-1].End) <= mergeTolerance {
			out[n-1].End = maxTime(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

func (x *index) gapsIn(from, to time.Time) []Gap {
	var out []Gap
	for _, g := range x.gaps {
		if g.End.After(from) && g.Start.Before(to) {
			out = append(out, Gap{Start: maxTime(g.Start, from), End: minTime(g.End, to), Reason: g.Reason})
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// save writes the index atomically: temp file, fsync, rename, fsync dir.
func (x *index) save(dir string) error {
	segs := make([]Segment, 0, len(x.segs))
	for _, s := range x.segs {
		if !s.open {
			segs = append(segs, s)
		}
	}
	b, err := json.MarshalIndent(indexFile{Version: 1, Segments: segs, Gaps: x.gaps}, "", " ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, indexName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("recorder: write index: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, indexName))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recorder: write index: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadIndex reads the index and reconciles it with the segment files:
// segments left open are repaired, files the index does not know (or
// knows at another size) are scanned, entries without a file dropped. A
// missing or corrupt index is rebuilt from the files alone. It returns
// the number of segments repaired.
func loadIndex(dir, stream string) (*index, int, error) {
	known := map[string]Segment{}
	x := &index{}
	if b, err := os.ReadFile(filepath.Join(dir, indexName)); err == nil {
		var f indexFile
		if json.Unmarshal(b, &f) == nil && f.Version == 1 {
			for _, s := range f.Segments {
				known[s.Name()] = s
			}
			x.gaps = f.Gaps
		}
	}
	os.Remove(filepath.Join(dir, indexName+".tmp"))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	repaired := 0
	for _, e := range ents {
		start, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			continue
		}
		if s, ok := known[e.Name()]; ok && s.Bytes == info.Size() && hasMarker(path, info.Size()) {
			x.add(s)
			continue
		}
		sc, err := repairSegment(path)
		if err == errEmpty {
			repaired++
			continue
		}
		if err != nil {
			return nil, repaired, err
		}
		if !sc.closed || info.Size() != sc.size {
			repaired++
		}
		s := known[e.Name()]
		x.add(Segment{Stream: stream, Start: start, Duration: sc.duration(), Bytes: sc.size, Uploaded: s.Uploaded})
	}
	return x, repaired, nil
}

func hasMarker(path string, size int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return size >= int64(len(closeMarker)) && isMarker(f, size-int64(len(closeMarker)))
}
