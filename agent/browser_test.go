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
	r, _, statusURL := runRig(t, rigOptions{onvif: func(o *onvifsim.Options) { o.RequireDigest = true }})
	liveStatus(t, r, statusURL)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := r.ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no video reached the simulated cloud: %v", err)
	}

	b := startBrowser(t)
	c := b.page(t)
	for _, domain := range []string{"Runtime", "Log", "Page", "Network"} {
		if err := c.call(ctx, domain+".enable", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": 1100, "height": 800, "deviceScaleFactor": 1, "mobile": false,
	}, nil); err != nil {
		t.Fatal(err)
	}
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

	var title string
	if err := c.eval(ctx, "document.title", &title); err != nil {
		t.Fatal(err)
	}
	if title != "camagent status" {
		t.Errorf("title %q", title)
	}
	var text string
	if err := c.eval(ctx, "document.body.innerText", &text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"demo", "ready, registered", "connected", "SimCam SC-640", "state_dir"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not say %q; it reads:\n%s", want, text)
		}
	}
	main := mainRow(ctx, t, c)
	if main.Codec != "H.264" || !regexp.MustCompile(`^\d+x\d+$`).MatchString(main.Resolution) || main.FPS <= 0 ||
		main.Cloud != "publishing (live)" || main.RTSP != "playing" {
		t.Errorf("Main stream row: %+v; want H.264, a resolution, fps > 0, playing, publishing (live)", main)
	}
	var img struct {
		Complete bool `json:"complete"`
		Width    int  `json:"w"`
		Height   int  `json:"h"`
	}
	if err := c.eval(ctx, `(() => { const i = document.querySelector('[data-camera="demo"] img');
		return i ? {complete: i.complete, w: i.naturalWidth, h: i.naturalHeight} : {complete: false, w: 0, h: 0}; })()`, &img); err != nil {
		t.Fatal(err)
	}
	if !img.Complete || img.Width <= 0 || img.Height <= 0 {
		t.Errorf("the thumbnail did not load: %+v", img)
	}
	screenshot(ctx, t, c, "")

	// The refresh comes a few seconds after the load: look at it on a phone.
	if err := c.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true,
	}, nil); err != nil {
		t.Fatal(err)
	}
	// The page reloads itself: a second load, with the frame counter on.
	if _, err := c.waitEvent(ctx, "Page.loadEventFired", loaded+1); err != nil {
		t.Fatalf("the page did not refresh itself: %v", err)
	}
	if again := mainRow(ctx, t, c); again.Frames <= main.Frames {
		t.Errorf("frames %d after the refresh, %d before: the page shows stale numbers", again.Frames, main.Frames)
	}
	// At phone width nothing sticks out: the page is no wider than the screen.
	var overflow int
	if err := c.eval(ctx, "document.documentElement.scrollWidth - screen.width", &overflow); err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Errorf("at phone width the page is %d px wider than the screen", overflow)
	}
	screenshot(ctx, t, c, "-phone")

	pageErrors(t, c)
}

// streamRow is the Main stream's row of the page as a person reads it.
type streamRow struct {
	RTSP, Codec, Resolution, Cloud string
	FPS                            float64
	Frames                         uint64
}

func mainRow(ctx context.Context, t *testing.T, c *cdpConn) streamRow {
	t.Helper()
	var cells []string
	if err := c.eval(ctx, `Array.from(document.querySelectorAll('[data-camera="demo"] tr[data-stream="Main"] > td'), td => td.innerText.trim())`, &cells); err != nil {
		t.Fatal(err)
	}
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
