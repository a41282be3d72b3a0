package agent

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/media/recorder"
	"github.com/camagent/camagent/uplink"
)

const (
	tlUser = "ops"
	tlPass = "http-Passw0rd"
)

// getTimeline asks the agent at base for the camera's timeline with query
// q, as the operator ops.
func getTimeline(t *testing.T, base, camera, q string) (int, TimelineJSON, string) {
	t.Helper()
	resp, body := (call{path: "/api/v1/cameras/" + camera + "/timeline" + q, user: tlUser, pass: tlPass}).do(t, base)
	var tl TimelineJSON
	if resp.StatusCode != http.StatusOK {
		// Errors are JSON too: {"error": "..."}; the message is returned.
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
			t.Errorf("HTTP %d with %q, want a JSON error", resp.StatusCode, body)
		}
		return resp.StatusCode, tl, e.Error
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal([]byte(body), &tl); err != nil {
		t.Fatalf("timeline JSON: %v\n%s", err, body)
	}
	return resp.StatusCode, tl, body
}

// recordingWithLogin gives the rig's camera a memory card with 10 s
// segments (the shortest allowed), and the status server a login.
func recordingWithLogin(dir string) func(*config.Config) {
	return func(cfg *config.Config) {
		recordingOn(dir)(cfg)
		cfg.Cameras[0].Recording.Segment = 10 * time.Second
		cfg.HTTP.Username, cfg.HTTP.Password = tlUser, config.NewSecret(tlPass)
	}
}

// TestTimelineAPI: GET /api/v1/cameras/{name}/timeline asks for the
// login, refuses bad windows and unknown cameras with a clear word, and
// tells what the memory card holds: the range the cloud synced as
// uploaded, the rest as on the gateway only, and a camera outage as a
// "camera offline" gap, first going on until now, then between the
// recording before and the one after, where the camera was away.
func TestTimelineAPI(t *testing.T) {
	r, _, base := runRig(t, rig.Options{Config: recordingWithLogin(t.TempDir())})
	path := "/api/v1/cameras/demo/timeline"
	if resp, _ := (call{path: path}).do(t, base); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s without the login: %s, want 401", path, resp.Status)
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"?from=yesterday", []string{"parameter from", `"yesterday"`, "RFC 3339", "20240314T000000.000"}},
		{"?to=2024-13-01T00:00:00Z", []string{"parameter to", "RFC 3339", "packed time"}},
		{"?from=20240314T000000.000&to=2024-03-13T00:00:00Z", []string{"from (2024-03-14T00:00:00Z) must be before to (2024-03-13T00:00:00Z)"}},
		{"?from=2024-01-01T00:00:00Z&to=2024-03-01T00:00:00Z", []string{"at most 31 days"}},
	} {
		code, _, body := getTimeline(t, base, "demo", tc.q)
		if code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400: %s", tc.q, code, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the error %q does not say %q", tc.q, body, w)
			}
		}
	}
	if code, _, body := getTimeline(t, base, "nope", ""); code != http.StatusNotFound || !strings.Contains(body, `no camera named "nope"`) {
		t.Errorf("unknown camera: HTTP %d %s, want 404 naming it", code, body)
	}

	// Recording runs in real time: wait for 12 s of it, longer than
	// waitFor waits.
	var tl TimelineJSON
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for 12 s recorded: %+v", tl)
		}
		if _, tl, _ = getTimeline(t, base, "demo", ""); len(tl.Ranges) == 1 && tl.Ranges[0].End.Sub(tl.Ranges[0].Start) >= 12*time.Second {
			break
		}
	}
	start := tl.Ranges[0].Start
	if !tl.MemoryCard || tl.Stream != "Main" || tl.Source != "recorder" || tl.NeverRecorded || tl.Since == nil || !tl.Since.Equal(start) ||
		tl.To.Sub(tl.From) != 24*time.Hour || len(tl.Gaps) != 0 {
		t.Fatalf("timeline while recording: %+v", tl)
	}
	// The cloud pulls the first segment (10 s, cut on the 1 s GOP) whole.
	waitReady(t, r)
	syncReq(t, r, "tl-sync", start, start.Add(11*time.Second))
	waitFor(t, "the sync to end", func() bool { return r.Cloud.SyncFinal("tl-sync") != "" })
	// A packed-time window: the recording's first minute.
	q := "?from=" + uplink.FormatPackedTime(start.Add(-time.Second)) + "&to=" + uplink.FormatPackedTime(start.Add(time.Minute))
	code, tl, body := getTimeline(t, base, "demo", q)
	if code != http.StatusOK || len(tl.Ranges) != 2 || !tl.Ranges[0].Uploaded || tl.Ranges[1].Uploaded ||
		!tl.Ranges[0].Start.Equal(start) || !tl.Ranges[1].Start.Equal(tl.Ranges[0].End) || tl.Ranges[0].End.Sub(start) < 10*time.Second {
		t.Fatalf("after syncing the first segment: HTTP %d %s; want its range uploaded, the rest not", code, body)
	}

	// The camera goes away: a gap going on until now, for the reason.
	stopped := time.Now()
	r.RTSP.Stop()
	waitFor(t, "an ongoing camera offline gap", func() bool {
		_, tl, _ = getTimeline(t, base, "demo", "")
		n := len(tl.Gaps)
		return n > 0 && tl.Gaps[n-1].Reason == "camera offline" && tl.Gaps[n-1].End.Equal(tl.To)
	})
	if len(tl.Gaps) != 1 {
		t.Errorf("gaps while the camera is away: %+v", tl.Gaps)
	}
	restarted := time.Now()
	if err := r.RTSP.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recording after the outage", func() bool {
		_, tl, _ = getTimeline(t, base, "demo", "")
		return len(tl.Ranges) > 0 && tl.Ranges[len(tl.Ranges)-1].Start.After(restarted)
	})
	if len(tl.Gaps) != 1 {
		t.Fatalf("gaps after the outage: %+v, want one", tl.Gaps)
	}
	g, before, after := tl.Gaps[0], tl.Ranges[len(tl.Ranges)-2], tl.Ranges[len(tl.Ranges)-1]
	// The recording ends with the last frame before the camera stopped; a
	// segment's times follow the media clock, at most 2 s off the wall
	// clock (recorder maxDrift).
	if g.Reason != "camera offline" || !g.Start.Equal(before.End) || !g.End.Equal(after.Start) ||
		g.Start.Before(start) || g.Start.After(stopped.Add(2*time.Second)) || g.End.Before(restarted) {
		t.Errorf("gap %+v between %+v and %+v; want camera offline from about %v to after %v", g, before, after, stopped, restarted)
	}
	// The status page draws it and lists it in words.
	resp, page := (call{path: "/", user: tlUser, pass: tlPass}).do(t, base)
	item := "<li class=\"gap\"><span class=\"sw g-offline\"></span><time datetime=\"" + g.Start.Format(time.RFC3339) + "\">"
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<svg class=\"tl\"") || !strings.Contains(page, item) ||
		!strings.Contains(page, "<title>camera offline: ") {
		t.Errorf("the status page does not show the gap %+v (want %s); it reads:\n%s", g, item, page)
	}
	noViolations(t, r)
}

// TestTimelineNoMemoryCard: a camera the config gives no memory card
// answers 200 with memory_card false and says why.
func TestTimelineNoMemoryCard(t *testing.T) {
	r, _, base := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.Username, cfg.HTTP.Password = tlUser, config.NewSecret(tlPass)
	}})
	waitReady(t, r)
	code, tl, body := getTimeline(t, base, "demo", "?from=2024-03-14T00:00:00%2B01:00&to=20240314T120000")
	if code != http.StatusOK || tl.MemoryCard || !strings.Contains(tl.Message, "no memory card") ||
		!tl.From.Equal(time.Date(2024, 3, 13, 23, 0, 0, 0, time.UTC)) || !tl.To.Equal(time.Date(2024, 3, 14, 12, 0, 0, 0, time.UTC)) ||
		tl.Ranges == nil || tl.Gaps == nil {
		t.Errorf("HTTP %d %s; want memory_card false, the window echoed, empty lists", code, body)
	}
}

// TestDrawTimeline: the page's picture of a day with a synced morning,
// an evening on the gateway only and 25 short outages between: bars in
// their colours and places, the newest gaps listed first, 20 of them,
// the rest counted, the legend naming what is drawn.
func TestDrawTimeline(t *testing.T) {
	from := time.Date(2024, 3, 14, 0, 0, 0, 0, time.Local)
	to := from.Add(24 * time.Hour)
	tl := camera.Timeline{From: from, To: to, Since: from.Add(6 * time.Hour), Source: camera.SourceRecorder,
		Ranges: []camera.TimelineRange{{Start: from.Add(6 * time.Hour), End: from.Add(12 * time.Hour), Uploaded: true}, {Start: from.Add(12 * time.Hour), End: from.Add(18 * time.Hour)}}}
	for i := range 25 {
		at := from.Add(18*time.Hour + time.Duration(i)*time.Minute)
		tl.Gaps = append(tl.Gaps, recorder.Gap{Start: at, End: at.Add(30 * time.Second), Reason: recorder.GapStreamStalled})
	}
	tl.Gaps = append(tl.Gaps, recorder.Gap{Start: from.Add(20 * time.Hour), End: to, Reason: recorder.GapCameraOffline})
	v := drawTimeline(tl, to.Add(-time.Minute)) // the same day: no "yesterday"
	if b := v.Bars[0]; b.Class != "tl-up" || b.X != "25.000%" || b.W != "25.000%" || b.Title != "recorded 06:00:00 – 12:00:00, uploaded to the cloud" {
		t.Errorf("first bar %+v", b)
	}
	if b := v.Bars[1]; b.Class != "tl-rec" || b.X != "50.000%" || !strings.HasSuffix(b.Title, "on the gateway only") {
		t.Errorf("second bar %+v", b)
	}
	// 30 s is 0.035 % of a day: drawn 0.3 % wide.
	if b := v.Bars[2]; b.Class != "tl-gap g-stalled" || b.W != "0.300%" || !b.Gap || b.Title != "stream stalled: 18:00:00 – 18:00:30 (30 s)" {
		t.Errorf("first gap bar %+v", b)
	}
	if last := v.Bars[len(v.Bars)-1]; last.Title != "camera offline: 20:00:00 – now (4 h 0 min)" {
		t.Errorf("last bar %+v", last)
	}
	if len(v.Gaps) != 20 || v.More != 6 || !v.Gaps[0].Ongoing || v.Gaps[0].Reason != "camera offline" || v.Gaps[1].Since != "18:24:00" {
		t.Errorf("gap list %+v, %d more; want the 20 newest, the ongoing outage first", v.Gaps, v.More)
	}
	var legend []string
	for _, k := range v.Legend {
		legend = append(legend, k.Text)
	}
	if want := "recorded on the gateway|uploaded to the cloud|camera offline|stream stalled|before the first recording"; strings.Join(legend, "|") != want {
		t.Errorf("legend %q, want %q", legend, want)
	}
	if len(v.Ticks) != 23 || v.Ticks[2].Label != "03:00" || v.Ticks[0].Label != "" || v.Since != "06:00:00" {
		t.Errorf("ticks %+v since %q; want 23 hour ticks, every third named", v.Ticks, v.Since)
	}
}
