package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/media/recorder"
	"github.com/camagent/camagent/uplink"
)

const (
	// timelineDefault is the window a timeline request gets without from.
	timelineDefault = 24 * time.Hour
	// timelineMax bounds the window: the answer grows with it.
	timelineMax = 31 * 24 * time.Hour
)

// TimelineJSON is GET /api/v1/cameras/{name}/timeline: what the camera's
// memory card holds over [from, to).
type TimelineJSON struct {
	Camera string    `json:"camera"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// MemoryCard is false when the config gives the camera none; Message
	// then says so and the rest is empty.
	MemoryCard bool   `json:"memory_card"`
	Message    string `json:"message,omitempty"`
	Stream     string `json:"stream,omitempty"`
	// Since is when the recordings' history begins, nil when nothing was
	// ever recorded (NeverRecorded). Before it there is no gap: nothing
	// had been recorded yet.
	Since         *time.Time `json:"since,omitempty"`
	NeverRecorded bool       `json:"never_recorded,omitempty"`
	// Source is where the facts came from: "recorder", "disk" (the index
	// on disk while the recorder is not open) or "none".
	Source string `json:"source,omitempty"`
	// Problem is why the recorder is not open ("disk full", …).
	Problem string          `json:"problem,omitempty"`
	Ranges  []TimelineRange `json:"ranges"`
	Gaps    []TimelineGap   `json:"gaps"`
}

// TimelineRange is a recorded stretch; Uploaded when it reached the cloud.
type TimelineRange struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Uploaded bool      `json:"uploaded"`
}

// TimelineGap is a stretch without recording and why: "camera offline",
// "stream stalled", "evicted", "recording off", "agent not running",
// "disk error" or "unknown".
type TimelineGap struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason string    `json:"reason"`
}

// timelineJSON puts a camera's Timeline in its JSON form, times in UTC.
func timelineJSON(name string, tl camera.Timeline) TimelineJSON {
	out := TimelineJSON{Camera: name, From: tl.From.UTC(), To: tl.To.UTC(), MemoryCard: true, Stream: tl.Stream,
		Source: tl.Source.String(), Ranges: []TimelineRange{}, Gaps: []TimelineGap{}}
	if tl.Since.IsZero() {
		out.NeverRecorded = true
	} else {
		since := tl.Since.UTC()
		out.Since = &since
	}
	if tl.Problem != nil {
		out.Problem = tl.Problem.Kind.String()
	}
	for _, r := range tl.Ranges {
		out.Ranges = append(out.Ranges, TimelineRange{Start: r.Start.UTC(), End: r.End.UTC(), Uploaded: r.Uploaded})
	}
	for _, g := range tl.Gaps {
		out.Gaps = append(out.Gaps, TimelineGap{Start: g.Start.UTC(), End: g.End.UTC(), Reason: g.Reason.String()})
	}
	return out
}

// serveTimeline serves GET /api/v1/cameras/{name}/timeline?from=&to=.
func (a *Agent) serveTimeline(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	cw := a.cameraNamed(name)
	if cw == nil {
		jsonError(w, http.StatusNotFound, fmt.Sprintf("no camera named %q", name))
		return
	}
	from, to, err := timelineWindow(r, time.Now())
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := TimelineJSON{Camera: name, From: from.UTC(), To: to.UTC(), Ranges: []TimelineRange{}, Gaps: []TimelineGap{},
		Message: "camera " + name + " has no memory card: recording is not enabled in its config"}
	if tl, ok := cw.Timeline(from, to); ok {
		out = timelineJSON(name, tl)
	}
	writeJSON(w, http.StatusOK, out)
}

// timelineWindow reads from and to: to defaults to now, from to a day
// before to.
func timelineWindow(r *http.Request, now time.Time) (from, to time.Time, err error) {
	q := r.URL.Query()
	to = now
	if v := q.Get("to"); v != "" {
		if to, err = parseTimelineTime("to", v); err != nil {
			return
		}
	}
	from = to.Add(-timelineDefault)
	if v := q.Get("from"); v != "" {
		if from, err = parseTimelineTime("from", v); err != nil {
			return
		}
	}
	switch {
	case !from.Before(to):
		err = fmt.Errorf("from (%s) must be before to (%s)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	case to.Sub(from) > timelineMax:
		err = fmt.Errorf("from and to are %s apart; at most %d days are allowed", to.Sub(from).Round(time.Second), timelineMax/(24*time.Hour))
	}
	return
}

// parseTimelineTime reads an RFC 3339 time or a packed time (UTC).
func parseTimelineTime(param, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := uplink.ParsePackedTime(v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("parameter %s: %q is not a time; use RFC 3339 (2024-03-14T00:00:00Z) or packed time in UTC (20240314T000000.000)", param, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// pageGaps bounds the gap list under a timeline on the status page.
const pageGaps = 20

// timelineView is a camera's last day as the status page draws it: bars
// placed in percent of the width, so that the labels keep their size on
// a phone, and the gaps listed in words, newest first.
type timelineView struct {
	Bars   []timelineBar
	Ticks  []timelineTick
	Legend []timelineKey
	Gaps   []timelineItem
	// More counts the gaps left out of the list.
	More int
	// Never: nothing was ever recorded.
	Never bool
	// Since is when the first recording began, shown when within the day.
	Since string
	// Note says where the facts came from when it is not the recorder.
	Note  string
	Label string // for screen readers
}

type timelineBar struct {
	X, W, Class, Title string
	Gap                bool // drawn taller than the recorded bars
}

type timelineTick struct {
	X, Label string
}

type timelineKey struct {
	Class, Text string
}

type timelineItem struct {
	Start, End    time.Time
	Since, Until  string // clock times as shown
	Reason, Class string
	Length        string
	Ongoing       bool
}

// gapClass is the colour class of each gap reason on the page.
var gapClass = map[recorder.GapReason]string{
	recorder.GapCameraOffline:   "g-offline",
	recorder.GapStreamStalled:   "g-stalled",
	recorder.GapEvicted:         "g-evicted",
	recorder.GapRecordingOff:    "g-off",
	recorder.GapAgentNotRunning: "g-agent",
	recorder.GapDiskError:       "g-disk",
	recorder.GapUnknown:         "g-unknown",
}

// gapOrder is the legend's order of the gap reasons.
var gapOrder = []recorder.GapReason{recorder.GapCameraOffline, recorder.GapStreamStalled, recorder.GapRecordingOff,
	recorder.GapAgentNotRunning, recorder.GapDiskError, recorder.GapEvicted, recorder.GapUnknown}

// timelines draws the last day of every camera with a memory card.
func (a *Agent) timelines(now time.Time) map[string]*timelineView {
	out := map[string]*timelineView{}
	for _, w := range a.cameraWorkers() {
		if tl, ok := w.Timeline(now.Add(-timelineDefault), now); ok {
			out[w.Name()] = drawTimeline(tl, now)
		}
	}
	return out
}

// drawTimeline lays tl out for the page; now places "yesterday".
func drawTimeline(tl camera.Timeline, now time.Time) *timelineView {
	v := &timelineView{Never: tl.Since.IsZero()}
	span := tl.To.Sub(tl.From)
	pct := func(t time.Time) float64 { return 100 * float64(t.Sub(tl.From)) / float64(span) }
	bar := func(start, end time.Time, class, title string, gap bool) timelineBar {
		// Seconds in a day are still visible: at least 0.3 %. Gaps are
		// drawn over the recorded bars, so a short gap is never hidden.
		x, w := pct(start), pct(end)-pct(start)
		if w < 0.3 {
			w = 0.3
			x = min(x, 100-w)
		}
		return timelineBar{X: fmt.Sprintf("%.3f%%", x), W: fmt.Sprintf("%.3f%%", w), Class: class, Title: title, Gap: gap}
	}
	clock := func(t time.Time) string {
		t = t.Local()
		if y, m, d := t.Date(); y != now.Local().Year() || m != now.Local().Month() || d != now.Local().Day() {
			return "yesterday " + t.Format("15:04:05")
		}
		return t.Format("15:04:05")
	}
	uploaded, onGateway := false, false
	for _, r := range tl.Ranges {
		class, where := "tl-rec", "on the gateway only"
		if r.Uploaded {
			class, where, uploaded = "tl-up", "uploaded to the cloud", true
		} else {
			onGateway = true
		}
		v.Bars = append(v.Bars, bar(r.Start, r.End, class, "recorded "+clock(r.Start)+" – "+clock(r.End)+", "+where, false))
	}
	seen := map[recorder.GapReason]bool{}
	for i, g := range tl.Gaps {
		seen[g.Reason] = true
		it := timelineItem{Start: g.Start, End: g.End, Since: clock(g.Start), Until: clock(g.End), Reason: g.Reason.String(),
			Class: gapClass[g.Reason], Length: spanLength(g.End.Sub(g.Start)), Ongoing: i == len(tl.Gaps)-1 && g.End.Equal(tl.To)}
		until := it.Until
		if it.Ongoing {
			until = "now"
		}
		v.Bars = append(v.Bars, bar(g.Start, g.End, "tl-gap "+it.Class, it.Reason+": "+it.Since+" – "+until+" ("+it.Length+")", true))
		v.Gaps = append(v.Gaps, it)
	}
	slices.Reverse(v.Gaps)
	if len(v.Gaps) > pageGaps {
		v.More, v.Gaps = len(v.Gaps)-pageGaps, v.Gaps[:pageGaps]
	}
	if onGateway || len(tl.Ranges) == 0 {
		v.Legend = append(v.Legend, timelineKey{"tl-rec", "recorded on the gateway"})
	}
	if uploaded || len(tl.Ranges) == 0 {
		v.Legend = append(v.Legend, timelineKey{"tl-up", "uploaded to the cloud"})
	}
	for _, g := range gapOrder {
		if seen[g] {
			v.Legend = append(v.Legend, timelineKey{gapClass[g], g.String()})
		}
	}
	if !tl.Since.IsZero() && tl.Since.After(tl.From) {
		v.Since = clock(tl.Since)
	}
	if tl.Since.IsZero() || tl.Since.After(tl.From) {
		v.Legend = append(v.Legend, timelineKey{"tl-bg", "before the first recording"})
	}
	lt := tl.From.Local()
	for h := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), 0, 0, 0, time.Local); h.Before(tl.To); h = h.Add(time.Hour) {
		x := pct(h)
		if x <= 0 {
			continue
		}
		tk := timelineTick{X: fmt.Sprintf("%.3f%%", x)}
		// Every third hour is named; none so near an edge that it is cut.
		if h.Hour()%3 == 0 && x > 3 && x < 93 {
			tk.Label = h.Format("15:04")
		}
		v.Ticks = append(v.Ticks, tk)
	}
	switch {
	case tl.Source == camera.SourceDisk:
		v.Note = "the recorder is not open: this is the index it left on disk"
	case tl.Source == camera.SourceNone && tl.Problem != nil:
		v.Note = "the recordings cannot be read: " + tl.Problem.Kind.String()
	}
	v.Label = fmt.Sprintf("recording of the last 24 hours: %d recorded ranges, %d gaps", len(tl.Ranges), len(tl.Gaps))
	return v
}

// spanLength says how long a gap lasted, to the second.
func spanLength(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}
