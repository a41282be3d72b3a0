//go:build browser

package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/media/recorder"
)

// timelineLook is the status page's timeline of the demo camera, read in
// one evaluation.
type timelineLook struct {
	Origin float64 `json:"origin"`
	SVG    *struct {
		W float64 `json:"w"`
		H float64 `json:"h"`
	} `json:"svg"`
	Recorded int `json:"recorded"` // bars of recorded time
	Gaps     []struct {
		Title string  `json:"title"`
		W     float64 `json:"w"`
		Fill  string  `json:"fill"`
	} `json:"gaps"`
	Items    []string `json:"items"`  // the gap list under the picture
	Legend   []string `json:"legend"` // the legend's words
	Labels   []string `json:"labels"` // hour labels
	Overflow int      `json:"overflow"`
}

const timelineJS = `(() => {
	const cam = document.querySelector('[data-camera="demo"]');
	const svg = cam && cam.querySelector('svg.tl');
	const box = svg && svg.getBoundingClientRect();
	const text = sel => cam ? Array.from(cam.querySelectorAll(sel), e => e.textContent.trim()) : [];
	return {
		origin: performance.timeOrigin,
		svg: box ? {w: box.width, h: box.height} : null,
		recorded: svg ? svg.querySelectorAll('rect.tl-rec, rect.tl-up').length : 0,
		gaps: svg ? Array.from(svg.querySelectorAll('rect.tl-gap'), g => ({
			title: g.querySelector('title').textContent, w: g.getBoundingClientRect().width, fill: getComputedStyle(g).fill})) : [],
		items: text('ul.tl-gaps li.gap'),
		legend: text('ul.tl-legend li'),
		labels: text('svg.tl text'),
		overflow: document.documentElement.scrollWidth - screen.width,
	};
})()`

// TestBrowserTimeline: a camera that was away for a while shows on the
// status page, in headless chromium, as a drawn 24-hour timeline with
// recorded bars and one red gap whose hover title and list entry say
// "camera offline" with its start; the legend names what the colours
// mean, nothing on the page fails, and at phone width nothing sticks out.
//
// Set CAMAGENT_SCREENSHOT=/path/timeline.png to keep screenshots.
func TestBrowserTimeline(t *testing.T) {
	r, a, statusURL := runRig(t, rig.Options{Config: recordingOn(t.TempDir())})
	cam := a.workers[0]
	recorded := func() int {
		tl, _ := cam.Timeline(time.Now().Add(-time.Hour), time.Now())
		return len(tl.Ranges)
	}
	waitFor(t, "recording", func() bool { return recorded() == 1 })
	r.RTSP.Stop()
	waitFor(t, "the outage on the timeline", func() bool {
		tl, _ := cam.Timeline(time.Now().Add(-time.Hour), time.Now())
		return len(tl.Gaps) == 1 && tl.Gaps[0].Reason == recorder.GapCameraOffline
	})
	if err := r.RTSP.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recording after the outage", func() bool { return recorded() == 2 })
	tl, _ := cam.Timeline(time.Now().Add(-time.Hour), time.Now())
	if len(tl.Gaps) != 1 {
		t.Fatalf("gaps %+v, want the outage alone", tl.Gaps)
	}
	gapStart := tl.Gaps[0].Start.Local().Format("15:04:05")

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b := startBrowser(t)
	c := b.page(t)
	c.watch(ctx, t)
	c.screen(ctx, t, 1100, 900, 1, false)
	from := c.mark()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := c.call(ctx, "Page.navigate", map[string]any{"url": statusURL + "/"}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate to the status page: %v %s", err, nav.ErrorText)
	}
	if _, err := c.waitEvent(ctx, "Page.loadEventFired", from); err != nil {
		t.Fatal(err)
	}
	// The page refreshes itself: a read that meets a new document reads
	// that one once it has loaded.
	read := func() timelineLook {
		t.Helper()
		var err error
		for range 3 {
			mark := c.mark()
			var v timelineLook
			if err = c.eval(ctx, timelineJS, &v); err == nil {
				return v
			}
			if _, werr := c.waitEvent(ctx, "Page.loadEventFired", mark); werr != nil {
				t.Fatalf("read the page: %v; then %v", err, werr)
			}
		}
		t.Fatalf("read the page: %v", err)
		return timelineLook{}
	}

	v := read()
	if v.SVG == nil || v.SVG.W <= 0 || v.SVG.H <= 0 {
		t.Fatalf("the timeline is not drawn: %+v", v.SVG)
	}
	if v.Recorded < 2 {
		t.Errorf("%d recorded bars, want the recording before and after the outage", v.Recorded)
	}
	if len(v.Gaps) != 1 || !strings.HasPrefix(v.Gaps[0].Title, "camera offline: "+gapStart+" – ") || v.Gaps[0].W <= 0 ||
		v.Gaps[0].Fill != "rgb(192, 38, 45)" {
		t.Errorf("gaps drawn %+v; want one red bar titled camera offline from %s", v.Gaps, gapStart)
	}
	if len(v.Items) != 1 || !strings.HasPrefix(v.Items[0], gapStart+" – ") || !strings.Contains(v.Items[0], ": camera offline (") {
		t.Errorf("gap list %q; want the outage from %s, camera offline", v.Items, gapStart)
	}
	for _, want := range []string{"recorded on the gateway", "camera offline"} {
		if !strings.Contains(strings.Join(v.Legend, "|"), want) {
			t.Errorf("the legend %q does not explain %q", v.Legend, want)
		}
	}
	if len(v.Labels) < 8 || v.Labels[len(v.Labels)-1] != "now" {
		t.Errorf("hour labels %q, want every third hour and now", v.Labels)
	}
	screenshot(ctx, t, c, "")

	c.screen(ctx, t, 390, 844, 1, true)
	if v = read(); v.SVG == nil || v.SVG.W <= 0 || v.SVG.W > 390 || v.Overflow > 0 {
		t.Errorf("at phone width the timeline is %+v and the page %d px wider than the screen", v.SVG, v.Overflow)
	}
	screenshot(ctx, t, c, "-phone")
	clipPageErrors(t, c)
}
