//go:build browser

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camagent/camagent/media/rtspsim"
)

// clipPage is a page with nothing but the clip in a muted video element;
// media errors are kept for the test to read.
const clipPage = `<!doctype html>
<meta charset="utf-8">
<title>event clip</title>
<link rel="icon" href="data:,">
<video id="v" muted playsinline preload="auto" src="/clip.mp4"></video>
<script>
window.mediaErrors = [];
const v = document.getElementById('v');
v.addEventListener('error', () => mediaErrors.push(v.error ? v.error.code + ' ' + v.error.message : 'error event'));
</script>
`

// videoState is what the page's video element says of itself.
type videoState struct {
	Ready    int      `json:"ready"`
	Duration float64  `json:"duration"` // s; -1 while unknown
	Time     float64  `json:"time"`     // currentTime, s
	Width    int      `json:"w"`
	Height   int      `json:"h"`
	Ended    bool     `json:"ended"`
	Errors   []string `json:"errors"`
}

const videoStateJS = `(() => {
	const v = document.getElementById('v');
	return {
		ready: v.readyState,
		duration: isFinite(v.duration) ? v.duration : -1,
		time: v.currentTime,
		w: v.videoWidth, h: v.videoHeight,
		ended: v.ended,
		errors: window.mediaErrors,
	};
})()`

// TestBrowserPlaysEventClip: a chunk of an event clip, as the cloud
// received it, plays in Chromium from a plain web server: the browser
// reads its duration and picture size, plays it through to the end, and
// nothing on the page fails.
func TestBrowserPlaysEventClip(t *testing.T) {
	chunks := eventClipChunks(t, 2*time.Second, 2*time.Second)
	clip := chunks[0]
	for _, c := range chunks[1:] {
		if c.Duration > clip.Duration {
			clip = c
		}
	}
	announced := time.Duration(clip.Duration) * time.Millisecond
	v := playMP4(t, clip.Body, clip.FileTime, announced)
	t.Logf("chunk of %v, %d bytes: played to %.3f s at %dx%d", announced, len(clip.Body), v.Time, v.Width, v.Height)
}

// playMP4 serves body to headless Chromium in a <video>, checks the length
// it gives it against announced and the picture size against the rig
// camera's, plays it to its end and fails on any page error.
func playMP4(t *testing.T, body []byte, modTime time.Time, announced time.Duration) videoState {
	t.Helper()
	var ranged atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(clipPage))
	})
	mux.HandleFunc("GET /clip.mp4", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranged.Add(1)
		}
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, r, "", modTime, bytes.NewReader(body))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b := startBrowser(t)
	c := b.page(t)
	c.watch(ctx, t)
	from := c.mark()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := c.call(ctx, "Page.navigate", map[string]any{"url": srv.URL + "/"}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate to the clip page: %v %s", err, nav.ErrorText)
	}
	if _, err := c.waitEvent(ctx, "Page.loadEventFired", from); err != nil {
		t.Fatal(err)
	}

	var v videoState
	read := func() videoState {
		t.Helper()
		if err := c.eval(ctx, videoStateJS, &v); err != nil {
			t.Fatal(err)
		}
		if len(v.Errors) > 0 {
			t.Fatalf("the video element failed: %v", v.Errors)
		}
		return v
	}
	// HAVE_CURRENT_DATA: the first frame is decoded.
	waitFor(t, "the video to have its first frame", func() bool { return read().Ready >= 2 && v.Duration > 0 })
	const frame = time.Second / rtspsim.FPS
	duration := time.Duration(v.Duration * float64(time.Second))
	if (duration - announced).Abs() > frame {
		t.Errorf("the browser gives the clip %v, announced %v", duration, announced)
	}
	if v.Width != 640 || v.Height != 360 {
		t.Errorf("the browser shows %dx%d, the camera sends 640x360", v.Width, v.Height)
	}

	var played struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
	}
	if err := c.call(ctx, "Runtime.evaluate", map[string]any{
		"expression":   `document.getElementById('v').play().then(() => 'playing', e => 'refused: ' + e)`,
		"awaitPromise": true, "returnByValue": true,
	}, &played); err != nil || played.Result.Value != "playing" {
		t.Fatalf("play(): %v %q", err, played.Result.Value)
	}
	start := v.Time
	waitFor(t, "currentTime to advance", func() bool { return read().Time > start })
	// Played through: the last frame decoded too.
	waitFor(t, "the clip to play to its end", func() bool { return read().Ended })
	if end := time.Duration(v.Time * float64(time.Second)); (end - duration).Abs() > frame {
		t.Errorf("playback ended at %v of %v", end, duration)
	}
	if ranged.Load() == 0 {
		t.Error("the browser never asked for a byte range of the clip")
	}
	clipPageErrors(t, c)
	return v
}

// clipPageErrors fails the test for every console error, uncaught
// exception, browser log error, failed load and HTTP error the page met.
func clipPageErrors(t *testing.T, c *cdpConn) {
	t.Helper()
	for _, p := range c.eventsNamed("Runtime.consoleAPICalled") {
		var e struct {
			Type string `json:"type"`
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
	for _, p := range c.eventsNamed("Network.responseReceived") {
		var e struct {
			Response struct {
				URL    string `json:"url"`
				Status int    `json:"status"`
			} `json:"response"`
		}
		if json.Unmarshal(p, &e) == nil && e.Response.Status >= 400 {
			t.Errorf("GET %s: HTTP %d", e.Response.URL, e.Response.Status)
		}
	}
}
