//go:build browser

package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// TestBrowserStatusPage opens the status page of the demo rig in headless
// chromium, as an operator would: with the camera registered and streaming
// live, the page shows its states, codec, size, rate and publish reason,
// the thumbnail loads, nothing on the page fails or logs an error, and the
// page refreshes itself with newer numbers.
//
// Set CAMAGENT_SCREENSHOT=/path/status.png to keep screenshots of it (the
// phone-width one gets a -phone suffix).
func TestBrowserStatusPage(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.RequireDigest = true }})
	liveStatus(t, r, statusURL)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no video reached the simulated cloud: %v", err)
	}

	b := startBrowser(t)
	c := b.page(t)
	c.watch(ctx, t)
	c.screen(ctx, t, 1100, 800, 1, false)
	from := c.mark()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := c.call(ctx, "Page.navigate", map[string]any{"url": statusURL + "/"}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate to the status page: %v %s", err, nav.ErrorText)
	}
	loaded, err := c.waitEvent(ctx, "Page.loadEventFired", from)
	if err != nil {
		t.Fatal(err)
	}

	v1 := look(ctx, t, c)
	if v1.Title != "camagent status" {
		t.Errorf("title %q", v1.Title)
	}
	for _, want := range []string{"demo", "ready, registered", "connected", "SimCam SC-640", "state_dir"} {
		if !strings.Contains(v1.Text, want) {
			t.Errorf("the page does not say %q; it reads:\n%s", want, v1.Text)
		}
	}
	main := v1.mainRow(t)
	if main.Codec != "H.264" || !regexp.MustCompile(`^\d+x\d+$`).MatchString(main.Resolution) || main.FPS <= 0 ||
		main.Cloud != "publishing (live)" || main.RTSP != "playing" {
		t.Errorf("Main stream row: %+v; want H.264, a resolution, fps > 0, playing, publishing (live)", main)
	}
	if v1.Img == nil || !v1.Img.Complete || v1.Img.Width <= 0 || v1.Img.Height <= 0 {
		t.Errorf("the thumbnail did not load: %+v", v1.Img)
	}
	screenshot(ctx, t, c, "")

	// The next look is on a phone.
	c.screen(ctx, t, 390, 844, 2, true)
	// The page reloads itself: another document, with the frame counter on.
	var v2 view
	for v2.Origin == 0 || v2.Origin == v1.Origin {
		if loaded, err = c.waitEvent(ctx, "Page.loadEventFired", loaded+1); err != nil {
			t.Fatalf("the page did not refresh itself: %v", err)
		}
		v2 = look(ctx, t, c)
	}
	if again := v2.mainRow(t); again.Frames <= main.Frames {
		t.Errorf("frames %d after the refresh, %d before: the page shows stale numbers", again.Frames, main.Frames)
	}
	// At phone width nothing sticks out: the page is no wider than the screen.
	if v2.Overflow > 0 {
		t.Errorf("at phone width the page is %d px wider than the screen", v2.Overflow)
	}
	screenshot(ctx, t, c, "-phone")

	pageErrors(t, c)
}

// view is what the test reads off the page in one evaluation, so that
// every part comes from the same document even while it refreshes.
type view struct {
	Origin float64  `json:"origin"` // performance.timeOrigin: differs per document
	Title  string   `json:"title"`
	Text   string   `json:"text"`
	Cells  []string `json:"cells"` // the Main stream's row
	Img    *struct {
		Complete bool `json:"complete"`
		Width    int  `json:"w"`
		Height   int  `json:"h"`
	} `json:"img"`
	Overflow int `json:"overflow"` // page width beyond the screen's, px
}

const viewJS = `(() => {
	const cam = document.querySelector('[data-camera="demo"]');
	const row = cam && cam.querySelector('tr[data-stream="Main"]');
	const img = cam && cam.querySelector('img');
	return {
		origin: performance.timeOrigin,
		title: document.title,
		text: document.body.innerText,
		cells: row ? Array.from(row.cells, td => td.innerText.trim()) : [],
		img: img ? {complete: img.complete, w: img.naturalWidth, h: img.naturalHeight} : null,
		overflow: document.documentElement.scrollWidth - screen.width,
	};
})()`

// look reads the page. A refresh can replace the document under the
// evaluation; then it reads the new one once it has loaded.
func look(ctx context.Context, t *testing.T, c *cdpConn) view {
	t.Helper()
	var err error
	for range 3 {
		from := c.mark()
		var v view
		if err = c.eval(ctx, viewJS, &v); err == nil {
			return v
		}
		if _, werr := c.waitEvent(ctx, "Page.loadEventFired", from); werr != nil {
			t.Fatalf("read the page: %v; then %v", err, werr)
		}
	}
	t.Fatalf("read the page: %v", err)
	return view{}
}

// streamRow is the Main stream's row of the page as a person reads it.
type streamRow struct {
	RTSP, Codec, Resolution, Cloud string
	FPS                            float64
	Frames                         uint64
}

func (v view) mainRow(t *testing.T) streamRow {
	t.Helper()
	cells := v.Cells
	if len(cells) != 8 {
		t.Fatalf("Main stream row has cells %q, want 8", cells)
	}
	fps, err := strconv.ParseFloat(cells[4], 64)
	if err != nil {
		t.Errorf("fps cell %q: %v", cells[4], err)
	}
	frames, err := strconv.ParseUint(cells[6], 10, 64)
	if err != nil {
		t.Errorf("frames cell %q: %v", cells[6], err)
	}
	return streamRow{RTSP: cells[1], Codec: cells[2], Resolution: cells[3], FPS: fps, Frames: frames, Cloud: cells[7]}
}

// pageErrors fails the test for every console error, uncaught exception,
// browser log error, failed load and HTTP error the page met.
func pageErrors(t *testing.T, c *cdpConn) {
	t.Helper()
	for _, p := range c.eventsNamed("Runtime.consoleAPICalled") {
		var e struct {
			Type string            `json:"type"`
			Args []json.RawMessage `json:"args"`
		}
		if json.Unmarshal(p, &e) == nil && e.Type == "error" {
			t.Errorf("console error: %s", p)
		}
	}
	for _, p := range c.eventsNamed("Runtime.exceptionThrown") {
		t.Errorf("uncaught exception: %s", p)
	}
	for _, p := range c.eventsNamed("Log.entryAdded") {
		var e struct {
			Entry struct {
				Level string `json:"level"`
			} `json:"entry"`
		}
		if json.Unmarshal(p, &e) == nil && e.Entry.Level == "error" {
			t.Errorf("browser logged an error: %s", p)
		}
	}
	for _, p := range c.eventsNamed("Network.loadingFailed") {
		t.Errorf("a load failed: %s", p)
	}
	loads := 0
	for _, p := range c.eventsNamed("Network.responseReceived") {
		var e struct {
			Response struct {
				URL    string `json:"url"`
				Status int    `json:"status"`
			} `json:"response"`
		}
		if json.Unmarshal(p, &e) != nil {
			continue
		}
		loads++
		if e.Response.Status >= 400 {
			t.Errorf("GET %s: HTTP %d", e.Response.URL, e.Response.Status)
		}
	}
	// Two page loads, each with its thumbnail.
	if loads < 4 {
		t.Errorf("the browser saw %d responses, want at least 4 (page and thumbnail, twice)", loads)
	}
}

// screenshot captures the whole page into the test's temp dir, or next to
// $CAMAGENT_SCREENSHOT when set.
func screenshot(ctx context.Context, t *testing.T, c *cdpConn, suffix string) {
	t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	if err := c.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "status.png")
	if p := os.Getenv("CAMAGENT_SCREENSHOT"); p != "" {
		path = p
	}
	ext := filepath.Ext(path)
	path = strings.TrimSuffix(path, ext) + suffix + ext
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
