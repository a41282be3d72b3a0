package agent

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/camagent/camagent/demo/rig"
)

// scrape is one /metrics response in the Prometheus text format: series
// (name plus labels, as written) to value, and metric name to TYPE.
type scrape struct {
	values map[string]float64
	types  map[string]string
}

func scrapeMetrics(t *testing.T, statusURL string) scrape {
	t.Helper()
	resp, err := http.Get(statusURL + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape content type %q, want the text format", ct)
	}
	s := scrape{values: map[string]float64{}, types: map[string]string{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			s.types[name] = typ
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("scrape: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: malformed value in %q: %v", line, err)
		}
		s.values[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return s
}

// value returns a series' value and whether the scrape had it.
func (s scrape) value(series string) (float64, bool) {
	v, ok := s.values[series]
	return v, ok
}

// TestMetricsFollowTheCamera scrapes /metrics of an agent streaming from the
// simulated camera to the simulated cloud: frame counters grow per camera
// and stream, the session gauge says ready, and the publishing gauge follows
// the cloud's stream_start and stream_stop.
func TestMetricsFollowTheCamera(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	waitReady(t, r)

	const main = `{camera="demo",stream="Main"}`
	frames := func() float64 {
		v, _ := scrapeMetrics(t, statusURL).value("camagent_rtsp_video_frames_total" + main)
		return v
	}
	waitFor(t, "video frames counted", func() bool { return frames() > 0 })
	first := frames()
	waitFor(t, "the frame counter to grow", func() bool { return frames() > first })

	s := scrapeMetrics(t, statusURL)
	for series, want := range map[string]float64{
		`camagent_build_info{version="test"}`:                              1,
		`camagent_cloud_session_state{camera="demo",state="ready"}`:        1,
		`camagent_cloud_session_state{camera="demo",state="ws_open"}`:      0,
		`camagent_cloud_session_state{camera="demo",state="disconnected"}`: 0,
		`camagent_onvif_connected{camera="demo"}`:                          1,
		"camagent_publishing" + main:                                       0,
		"camagent_rtsp_pulling" + main:                                     1,
		"camagent_rtsp_reconnects_total" + main:                            0,
		"camagent_reader_dropped_frames_total" + main:                      0,
		`camagent_cloud_connect_attempts_total{camera="demo"}`:             1,
		`camagent_cloud_registrations_total{camera="demo"}`:                1,
	} {
		if got, ok := s.value(series); !ok || got != want {
			t.Errorf("%s = %v (present %t), want %v", series, got, ok, want)
		}
	}
	for _, series := range []string{"camagent_uptime_seconds", "camagent_rtsp_last_frame_age_seconds" + main} {
		if v, ok := s.value(series); !ok || v < 0 {
			t.Errorf("%s = %v (present %t), want a non-negative value", series, v, ok)
		}
	}
	if v, _ := s.value("camagent_rtsp_received_bytes_total" + main); v <= 0 {
		t.Errorf("received bytes %v, want > 0 while the camera streams", v)
	}
	if _, ok := s.value("go_goroutines"); !ok {
		t.Error("the Go runtime metrics are missing")
	}
	for name, typ := range s.types {
		if strings.HasPrefix(name, "camagent_") && strings.HasSuffix(name, "_total") != (typ == "counter") {
			t.Errorf("%s is a %s: counters and only counters end in _total", name, typ)
		}
	}

	// The cloud asks for live video: the gauge turns on and the publish counts frames.
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 7}); rep["status"] != "OK" {
		t.Fatalf("stream_start: %v", rep)
	}
	waitFor(t, "publishing gauge on and frames published", func() bool {
		s := scrapeMetrics(t, statusURL)
		on, _ := s.value("camagent_publishing" + main)
		sent, _ := s.value(`camagent_publish_frames_total{camera="demo",kind="video",stream="Main"}`)
		bytes, _ := s.value("camagent_publish_bytes_total" + main)
		return on == 1 && sent > 0 && bytes > 0
	})
	if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Main", "reason": "live"}); rep["status"] != "OK" {
		t.Fatalf("stream_stop: %v", rep)
	}
	waitFor(t, "publishing gauge off after stream_stop", func() bool {
		v, ok := scrapeMetrics(t, statusURL).value("camagent_publishing" + main)
		return ok && v == 0
	})
	// Frames are counted by kind, as the cloud received them: the video
	// count is the frame count a viewer's frames/s is made of.
	var video, audio float64
	waitFor(t, "the published frames counted by kind as the cloud got them", func() bool {
		s := scrapeMetrics(t, statusURL)
		video, _ = s.value(`camagent_publish_frames_total{camera="demo",kind="video",stream="Main"}`)
		audio, _ = s.value(`camagent_publish_frames_total{camera="demo",kind="audio",stream="Main"}`)
		got := r.Ingest.Publishes()
		return len(got) == 1 && video == float64(got[0].VideoFrames) && audio == float64(got[0].AudioFrames)
	})
	if video == 0 || audio == 0 {
		t.Errorf("published %v video and %v audio frames, want both", video, audio)
	}

	// A preview the cloud asked for is counted once it has been uploaded.
	if rep := request(t, r, "cam_update_preview", nil); rep["status"] != "OK" {
		t.Fatalf("cam_update_preview: %v", rep)
	}
	waitFor(t, "the preview upload counted", func() bool {
		v, _ := scrapeMetrics(t, statusURL).value(`camagent_uploads_total{camera="demo",category="preview",result="ok"}`)
		return v == 1
	})
}
