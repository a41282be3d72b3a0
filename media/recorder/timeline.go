package recorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// GapUnknown marks a stretch between recordings that the index has no
// reason for: its gap history was rebuilt from the files after the index
// was lost, or trimmed to maxGaps. It is never stored.
const GapUnknown GapReason = -1

// History is what one stream's index says, as of one moment: segments
// and known gaps, oldest first. It is a copy; nothing changes it.
type History struct {
	Segments []Segment
	Gaps     []Gap
}

// Span is a contiguous recorded stretch whose segments all reached the
// cloud, or all did not.
type Span struct {
	Start, End time.Time
	Uploaded   bool
}

// History returns the index now; the segment being written is included
// with what has reached the disk so far.
func (r *Recorder) History() History {
	r.imu.Lock()
	defer r.imu.Unlock()
	return History{Segments: slices.Clone(r.idx.segs), Gaps: slices.Clone(r.idx.gaps)}
}

// Pending returns why nothing is being recorded now, and false while a
// segment is open: the reason the gap that began at the end of the last
// segment will carry once the next one starts.
func (r *Recorder) Pending() (GapReason, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inSeg && !r.closed {
		return GapNone, false
	}
	return r.nextGap, true
}

// ReadHistory reads the index a recorder left in dir (Options.Dir/Stream)
// without opening it: nothing is repaired or written, so it is safe while
// another process or a failed Open left the directory as it is. Segments
// that were open when it was written are not in it.
func ReadHistory(dir string) (History, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexName))
	if err != nil {
		return History{}, fmt.Errorf("recorder: read index: %w", err)
	}
	var f indexFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return History{}, fmt.Errorf("recorder: read index %s: not a version 1 index", dir)
	}
	x := &index{gaps: f.Gaps}
	for _, s := range f.Segments {
		x.add(s)
	}
	return History{Segments: x.segs, Gaps: x.gaps}, nil
}

// Since is when the history begins: the first segment or the first known
// gap (an evicted segment leaves one). Zero when nothing was ever recorded.
func (h History) Since() time.Time {
	var t time.Time
	if len(h.Segments) > 0 {
		t = h.Segments[0].Start
	}
	if len(h.Gaps) > 0 && (t.IsZero() || h.Gaps[0].Start.Before(t)) {
		t = h.Gaps[0].Start
	}
	return t
}

// OngoingFrom is where a gap going on now begins: the end of the newest
// segment or of the newest known gap after it; zero when nothing was
// ever recorded.
func (h History) OngoingFrom() time.Time {
	return (&index{segs: h.Segments, gaps: h.Gaps}).explained()
}

// Spans merges the segments overlapping [from, to) into contiguous spans
// of the same upload state, clipped to [from, to).
func (h History) Spans(from, to time.Time) []Span {
	var out []Span
	for _, s := range h.Segments {
		if s.Duration <= 0 || !s.End().After(from) || !s.Start.Before(to) {
			continue
		}
		sp := Span{Start: maxTime(s.Start, from), End: minTime(s.End(), to), Uploaded: s.Uploaded}
		if n := len(out); n > 0 && out[n-1].Uploaded == sp.Uploaded && sp.Start.Sub(out[n-1].End) <= mergeTolerance {
			out[n-1].End = maxTime(out[n-1].End, sp.End)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// GapsIn returns the gaps within [from, to), clipped, oldest first. A
// stretch between two segments the gap history does not cover is a gap
// with GapUnknown, so that every moment after Since is either recorded or
// a gap with a reason.
func (h History) GapsIn(from, to time.Time) []Gap {
	x := &index{segs: h.Segments, gaps: h.Gaps}
	out := x.gapsIn(from, to)
	var prevEnd time.Time
	for _, s := range h.Segments {
		if s.Duration <= 0 {
			continue
		}
		if !prevEnd.IsZero() && s.Start.Sub(prevEnd) > mergeTolerance {
			out = append(out, uncovered(h.Gaps, Gap{Start: prevEnd, End: s.Start, Reason: GapUnknown}, from, to)...)
		}
		prevEnd = maxTime(prevEnd, s.End())
	}
	slices.SortFunc(out, func(a, b Gap) int { return a.Start.Compare(b.Start) })
	return out
}

// uncovered returns the parts of hole within [from, to) that no known gap
// covers.
func uncovered(known []Gap, hole Gap, from, to time.Time) []Gap {
	hole.Start, hole.End = maxTime(hole.Start, from), minTime(hole.End, to)
	var out []Gap
	for _, g := range known {
		if !hole.End.After(hole.Start) {
			return out
		}
		if !g.End.After(hole.Start) || !g.Start.Before(hole.End) {
			continue
		}
		if g.Start.Sub(hole.Start) > mergeTolerance {
			out = append(out, Gap{Start: hole.Start, End: g.Start, Reason: GapUnknown})
		}
		hole.Start = maxTime(hole.Start, g.End)
	}
	if hole.End.Sub(hole.Start) > mergeTolerance {
		out = append(out, hole)
	}
	return out
}
