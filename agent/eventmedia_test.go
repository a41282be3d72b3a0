package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amp4 "github.com/abema/go-mp4"
	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

func waitPut(t *testing.T, r *rig.Rig, what string, match func(cloudsim.Put) bool) cloudsim.Put {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := r.Cloud.WaitPut(ctx, match)
	if err != nil {
		t.Fatalf("no %s upload at the cloud: %v", what, err)
	}
	return p
}

func waitCloudEvent(t *testing.T, r *rig.Rig, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := r.Cloud.WaitEvent(ctx, match)
	if err != nil {
		t.Fatalf("no %s at the cloud: %v", what, err)
	}
	return ev
}

func hasSnapshot(e map[string]any) bool { _, ok := e["snapshot_info"]; return ok }

func intOf(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// eventConf finds one kind's entry in a cam_events_conf.
func eventConf(t *testing.T, conf map[string]any, name string) map[string]any {
	t.Helper()
	list, _ := conf["events"].([]any)
	for _, e := range list {
		if m, _ := e.(map[string]any); m["event"] == name {
			return m
		}
	}
	t.Fatalf("%s not declared in %v", name, conf)
	return nil
}

// TestEventSnapshotReachesTheCloud: with snapshot on, a motion's cam_event
// announces its picture and the JPEG the cloud receives by PUT is the one
// announced: same size and dimensions, image_time the event's time.
func TestEventSnapshotReachesTheCloud(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, _, _ := runRig(t, rig.Options{})
	conf := eventsReady(t, r)
	caps, _ := eventConf(t, conf, "motion")["caps"].(map[string]any)
	if caps["snapshot"] != true || caps["stream"] != true || caps["trigger"] != true {
		t.Fatalf("motion caps %v, want snapshot, stream and trigger", caps)
	}
	rep := request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": true}}})
	if rep["status"] != "OK" {
		t.Fatalf("set_cam_events: %v", rep)
	}
	if m := eventConf(t, request(t, r, "get_cam_events", nil), "motion"); m["snapshot"] != true {
		t.Fatalf("snapshot not stored: %v", m)
	}
	motion := time.Now()
	r.ONVIF.TriggerMotion(true)
	r.ONVIF.TriggerMotion(false)
	ev := waitCloudEvent(t, r, "motion with a snapshot", func(e map[string]any) bool { return e["event"] == "motion" && hasSnapshot(e) })
	si := ev["snapshot_info"].(map[string]any)
	put := waitPut(t, r, "event snapshot", func(p cloudsim.Put) bool { return p.Category == "snapshot" })
	t.Logf("motion at the camera → snapshot at the cloud: %v", put.Received.Sub(motion))
	if put.Size != intOf(t, si["size"]) || int64(len(put.Body)) != put.Size {
		t.Errorf("snapshot of %d bytes (PUT %d) announced as %v", len(put.Body), put.Size, si["size"])
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(put.Body))
	if err != nil {
		t.Fatalf("uploaded snapshot is not a JPEG: %v", err)
	}
	if int64(cfg.Width) != intOf(t, si["width"]) || int64(cfg.Height) != intOf(t, si["height"]) {
		t.Errorf("snapshot is %dx%d, announced %vx%v", cfg.Width, cfg.Height, si["width"], si["height"])
	}
	if at := eventTime(t, ev); !put.FileTime.Equal(at) || si["image_time"] != uplink.FormatPackedTime(at) {
		t.Errorf("image_time %v / PUT for %v, event time %v", si["image_time"], put.FileTime, at)
	}
	for _, g := range r.Cloud.Grants() {
		if g.Done != "OK" {
			t.Errorf("grant %+v answered %q, want done OK", g, g.Done)
		}
	}
	noViolations(t, r)
}

// TestEventWithoutSnapshotSaysWhy: a camera whose snapshot fails still
// gets its event to the cloud, with status ERROR and the reason.
func TestEventWithoutSnapshotSaysWhy(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, _, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": true}}})
	r.ONVIF.FailSnapshots(true)
	r.ONVIF.TriggerMotion(true)
	ev := waitCloudEvent(t, r, "motion", func(e map[string]any) bool { return e["event"] == "motion" })
	if ev["status"] != "ERROR" || !strings.Contains(ev["error_description"].(string), "snapshot") || hasSnapshot(ev) {
		t.Errorf("event without its picture: %v", ev)
	}
	noViolations(t, r)
}

// probedMP4 is what a test reads back from an uploaded clip chunk.
type probedMP4 struct {
	duration   time.Duration
	samples    int
	firstIsKey bool
}

// probeMP4 reads an MP4 back with go-mp4: the video track's duration and
// sample count, and whether its first sample is an IDR frame.
func probeMP4(t *testing.T, b []byte) probedMP4 {
	t.Helper()
	info, err := amp4.Probe(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("clip is not an MP4: %v", err)
	}
	for _, tr := range info.Tracks {
		if tr.Codec != amp4.CodecAVC1 {
			continue
		}
		out := probedMP4{duration: time.Duration(tr.Duration) * time.Second / time.Duration(tr.Timescale), samples: len(tr.Samples)}
		if len(tr.Chunks) > 0 && len(tr.Samples) > 0 {
			s := b[tr.Chunks[0].DataOffset : tr.Chunks[0].DataOffset+uint64(tr.Samples[0].Size)]
			for len(s) > 4 {
				n := int(s[0])<<24 | int(s[1])<<16 | int(s[2])<<8 | int(s[3])
				if n <= 0 || 4+n > len(s) {
					break
				}
				if s[4]&0x1f == 5 {
					out.firstIsKey = true
				}
				s = s[4+n:]
			}
		}
		return out
	}
	t.Fatal("clip has no H.264 track")
	return probedMP4{}
}

// TestEventClipCoversPreAndPost: with record_by_event on, a motion's video
// from pre_event before it to post_event after its end reaches the cloud
// as MP4 chunks that each start with a key frame, follow each other without
// gap or overlap, and are each announced with their exact size.
func TestEventClipCoversPreAndPost(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	const pre, post = 3 * time.Second, 2 * time.Second
	if rep := request(t, r, "set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": pre.Milliseconds(), "post_event": post.Milliseconds()}); rep["status"] != "OK" {
		t.Fatalf("set_stream_by_event: %v", rep)
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record_by_event"}); rep["status"] != "OK" {
		t.Fatalf("stream_start record_by_event: %v", rep)
	}
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "stream": true}}})
	cam := a.workers[0]
	waitFor(t, "the pre-event buffer to hold pre_event", func() bool { return cam.EventBuffer().Span >= pre })

	start := time.Now()
	r.ONVIF.TriggerMotion(true)
	waitCloudEvent(t, r, "motion", func(e map[string]any) bool { return e["event"] == "motion" })
	r.ONVIF.TriggerMotion(false)
	end := time.Now()
	last := waitPut(t, r, "the clip's last chunk", func(p cloudsim.Put) bool {
		return p.Category == "record" && p.FileTime.Add(time.Duration(p.Duration)*time.Millisecond).After(end.Add(post-time.Second))
	})
	t.Logf("motion end → last chunk uploaded: %v (post_event %v)", last.Received.Sub(end), post)
	var chunks []cloudsim.Put
	for _, p := range r.Cloud.Puts() {
		if p.Category == "record" {
			chunks = append(chunks, p)
		}
	}
	slices.SortFunc(chunks, func(a, b cloudsim.Put) int { return a.FileTime.Compare(b.FileTime) })
	if first := chunks[0].FileTime; first.After(start.Add(-pre + time.Second)) {
		t.Errorf("clip starts %v before the motion, want about pre_event %v", start.Sub(first), pre)
	}
	for i, c := range chunks {
		if c.StreamID != "Main" || c.ContentType != "video/mp4" {
			t.Errorf("chunk %d: stream %q, type %q", i, c.StreamID, c.ContentType)
		}
		p := probeMP4(t, c.Body)
		if !p.firstIsKey || p.samples == 0 {
			t.Errorf("chunk %d: %d samples, first a key frame %v", i, p.samples, p.firstIsKey)
		}
		if d := p.duration - time.Duration(c.Duration)*time.Millisecond; d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("chunk %d: MP4 lasts %v, announced %d ms", i, p.duration, c.Duration)
		}
		if i > 0 {
			prev := chunks[i-1]
			gap := c.FileTime.Sub(prev.FileTime.Add(time.Duration(prev.Duration) * time.Millisecond))
			// Both are in whole ms on the wire: they may differ by the rounding.
			if gap < -2*time.Millisecond || gap > 2*time.Millisecond {
				t.Errorf("chunk %d starts %v after chunk %d ends: not contiguous", i, gap, i-1)
			}
		}
	}
	noViolations(t, r)
}

// TestStreamByEventSettings: get_stream_by_event reports the stream and
// times with real caps; set_stream_by_event refuses what is beyond them or
// an unknown stream, and what it stores survives a restart.
func TestStreamByEventSettings(t *testing.T) {
	r, err := rig.Start(rig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	dir := t.TempDir()
	stop := startAgent(t, r, dir)
	waitReady(t, r)
	got := request(t, r, "get_stream_by_event", nil)
	if got["cmd"] != "stream_by_event_conf" || got["stream_id"] != "Main" || intOf(t, got["pre_event"]) != 10000 {
		t.Fatalf("default stream_by_event_conf %v", got)
	}
	caps := got["caps"].(map[string]any)
	if intOf(t, caps["pre_event_max"]) != 30000 || intOf(t, caps["post_event_max"]) != 60000 {
		t.Errorf("caps %v", caps)
	}
	for _, bad := range []map[string]any{
		{"stream_id": "Main", "pre_event": 30001, "post_event": 1000},
		{"stream_id": "Main", "post_event": 60001},
		{"stream_id": "Nope", "post_event": 1000},
	} {
		if rep := request(t, r, "set_stream_by_event", bad); rep["status"] != "INVALID_PARAM" {
			t.Errorf("set_stream_by_event %v: %v, want INVALID_PARAM", bad, rep)
		}
	}
	if rep := request(t, r, "set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": 5000, "post_event": 20000}); rep["status"] != "OK" {
		t.Fatalf("set_stream_by_event: %v", rep)
	}
	stop()
	startAgent(t, r, dir)
	waitFor(t, "the second agent's registration", func() bool { return len(r.Cloud.CamRegistrations()) >= 2 })
	waitReady(t, r)
	got = request(t, r, "get_stream_by_event", nil)
	if got["stream_id"] != "Main" || intOf(t, got["pre_event"]) != 5000 || intOf(t, got["post_event"]) != 20000 {
		t.Errorf("after restart: %v", got)
	}
	noViolations(t, r)
}

// TestEventsDuringOutageArriveAfterReconnect: motions while the cloud is
// away are queued and, after the reconnect and the declaration, reach the
// cloud in order with their original times, each with its snapshot, and
// none twice.
func TestEventsDuringOutageArriveAfterReconnect(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, base := runRig(t, rig.Options{})
	eventsReady(t, r)
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": true}}})
	cam := a.workers[0]
	r.Cloud.Bye(uplink.ByeSystemError, 4) // back in 4 s
	waitFor(t, "the agent to be offline", func() bool { return cam.Status().Cloud != uplink.StateReady })
	for n := 1; n <= 3; n++ {
		r.ONVIF.TriggerMotion(true)
		r.ONVIF.TriggerMotion(false)
		waitFor(t, "the motion to be queued", func() bool { return cam.UploadQueue().Items == n })
	}
	// What waits is visible: status.json, the page and /metrics.
	var st Status
	_, body := get(t, base+"/status.json")
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if u := st.Cameras[0].Uploads; u.Items != 3 || u.Bytes == 0 || u.Oldest == nil {
		t.Errorf("status.json uploads while the cloud is away: %+v", u)
	}
	if _, page := get(t, base+"/"); !strings.Contains(string(page), "3 waiting") {
		t.Error("status page does not show the 3 waiting uploads")
	}
	if _, m := get(t, base+"/metrics"); !strings.Contains(string(m), `camagent_upload_queue_items{camera="demo"} 3`) {
		t.Error("/metrics lacks camagent_upload_queue_items 3")
	}
	waitFor(t, "a new connection", func() bool { return r.Cloud.Connections() == 2 })
	back := time.Now()
	waitReady(t, r)
	request(t, r, "get_cam_events", nil)
	waitFor(t, "three snapshots", func() bool { return len(r.Cloud.Puts()) == 3 })
	evs := motionEvents(r)
	if len(evs) != 3 {
		t.Fatalf("%d motion events at the cloud, want 3", len(evs))
	}
	for i, e := range evs {
		// The outage lasted 4 s: an event stamped when it was sent would
		// be within a second of the reconnect (camera clock error included).
		at := eventTime(t, e)
		if at.After(back.Add(-2*time.Second)) || i > 0 && !at.After(eventTime(t, evs[i-1])) {
			t.Errorf("event %d at %v: not its original time (reconnect at %v) or out of order", i, at, back)
		}
		if !hasSnapshot(e) {
			t.Errorf("event %d without snapshot_info", i)
		}
	}
	// The cloud has the last picture a moment before the agent hears its 2xx.
	waitFor(t, "the queue to empty", func() bool { q := cam.UploadQueue(); return q.Items == 0 && q.Uploaded == 3 })
	noViolations(t, r)
}

// TestQueuedEventSurvivesRestart: an event queued while the cloud is away
// is on disk; the next agent on the same state_dir delivers it with its
// original time and its picture.
func TestQueuedEventSurvivesRestart(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, err := rig.Start(rig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	dir := t.TempDir()
	a, stop := startAgentWith(t, r, dir)
	eventsReady(t, r)
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": true}}})
	r.Cloud.Bye(uplink.ByeSystemError, 3600) // away for good
	waitFor(t, "the cloud session to end", func() bool { return len(r.Cloud.CloseCodes()) > 0 })
	// Raised as the local event input does, with a time the restart
	// cannot be mistaken for.
	raised := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	if err := a.workers[0].RaiseEvent("motion", raised, map[string]any{"door": "back"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queued event on disk", func() bool { return spooledItems(t, dir) == 1 })
	stop()

	startAgent(t, r, dir)
	waitFor(t, "the second agent's connection", func() bool { return r.Cloud.Connections() == 2 })
	waitReady(t, r)
	request(t, r, "get_cam_events", nil)
	ev := waitCloudEvent(t, r, "the queued motion", func(e map[string]any) bool { return e["event"] == "motion" })
	if at := eventTime(t, ev); !at.Equal(raised) || ev["meta"].(map[string]any)["door"] != "back" {
		t.Errorf("event after the restart: time %v, meta %v; raised at %v with door=back", at, ev["meta"], raised)
	}
	waitPut(t, r, "its snapshot", func(p cloudsim.Put) bool { return p.Category == "snapshot" })
	noViolations(t, r)
}

// TestLocalEventInput: a program on the gateway raises a configured custom
// event with a JSON POST and the generated password, even on loopback; the
// cloud gets it with its meta. Requests that are not a JSON POST of a
// known, active event are refused with a reason.
func TestLocalEventInput(t *testing.T) {
	r, a, base := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.Cameras[0].Events.Custom = []string{"doorbell"}
	}})
	conf := eventsReady(t, r)
	if d := eventConf(t, conf, "doorbell"); d["active"] != true || d["caps"].(map[string]any)["trigger"] != true {
		t.Fatalf("doorbell declared as %v", d)
	}
	pass := generatedPass(t, a)
	post := func(path, ctype, body string) (int, string) {
		t.Helper()
		resp, text := call{method: http.MethodPost, path: path, ctype: ctype, body: body, user: "admin", pass: pass}.do(t, base)
		return resp.StatusCode, text
	}
	const path = "/api/v1/cameras/demo/events"
	if resp, _ := (call{method: http.MethodPost, path: path, ctype: "application/json", body: `{"event":"doorbell"}`}).do(t, base); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST without credentials on loopback: %s, want 401", resp.Status)
	}
	if code, body := post(path, "application/json", `{"event":"doorbell","meta":{"button":"front"}}`); code != http.StatusAccepted {
		t.Fatalf("POST doorbell: %d %s", code, body)
	}
	ev := waitCloudEvent(t, r, "doorbell", func(e map[string]any) bool { return e["event"] == "doorbell" })
	if m, _ := ev["meta"].(map[string]any); m["button"] != "front" {
		t.Errorf("doorbell meta %v", ev["meta"])
	}
	for _, c := range []struct {
		path, ctype, body string
		code              int
		says              string
	}{
		{path, "text/plain", `{"event":"doorbell"}`, http.StatusUnsupportedMediaType, "application/json"},
		{path, "application/x-www-form-urlencoded", `event=doorbell`, http.StatusUnsupportedMediaType, "application/json"},
		{"/api/v1/cameras/nope/events", "application/json", `{"event":"doorbell"}`, http.StatusNotFound, "no such camera"},
		{path, "application/json", `{"event":"fire"}`, http.StatusBadRequest, "cameras[].events.custom"},
		{path, "application/json", `{"event":"doorbell","when":1}`, http.StatusBadRequest, "unknown field"},
		{path, "application/json", `{"event":"doorbell","time":"yesterday"}`, http.StatusBadRequest, "epoch seconds"},
		{path, "application/json", `{"event":"doorbell","time":1}`, http.StatusBadRequest, "behind this gateway's clock"},
		{path, "application/json", `{"event":"doorbell","meta":"` + strings.Repeat("x", 70000) + `"}`, http.StatusRequestEntityTooLarge, "larger than"},
	} {
		if code, body := post(c.path, c.ctype, c.body); code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("POST %s %s %.40s: %d %s, want %d saying %q", c.path, c.ctype, c.body, code, body, c.code, c.says)
		}
	}
	if resp, err := http.Get(base + path); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of the event input: %v %v", resp.StatusCode, err)
	}
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "doorbell", "active": false}}})
	if code, body := post(path, "application/json", `{"event":"doorbell"}`); code != http.StatusConflict {
		t.Errorf("POST of an inactive event: %d %s, want 409", code, body)
	}
	noViolations(t, r)
}

// TestPeriodicSnapshotEvents: the snapshot event, switched on with a
// period, arrives every period with its picture.
func TestPeriodicSnapshotEvents(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	conf := eventsReady(t, r)
	if caps := eventConf(t, conf, "snapshot")["caps"].(map[string]any); caps["periodic"] != true || caps["snapshot"] != true {
		t.Fatalf("snapshot caps %v", caps)
	}
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "snapshot", "active": true, "snapshot": true, "period": 1}}})
	waitFor(t, "two periodic snapshots uploaded", func() bool {
		n := 0
		for _, p := range r.Cloud.Puts() {
			if p.Category == "snapshot" {
				n++
			}
		}
		return n >= 2
	})
	if m := eventConf(t, request(t, r, "get_cam_events", nil), "snapshot"); intOf(t, m["period"]) != 1 {
		t.Errorf("period not stored: %v", m)
	}
	noViolations(t, r)
}

// spooledItems counts the complete items in the upload queue of the
// first camera under stateDir.
func spooledItems(t *testing.T, stateDir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(stateDir, "spool", "demo", "*.meta"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// startAgentWith is startAgent that also returns the agent.
func startAgentWith(t *testing.T, r *rig.Rig, stateDir string) (*Agent, func()) {
	t.Helper()
	cfg, err := r.Config(stateDir, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Logger: zaptest.NewLogger(t), Version: "test", RootCAs: r.Roots, timing: testTiming})
	if err != nil {
		t.Fatal(err)
	}
	return a, goRun(t, a)
}

// TestEventVideoStreamMode: without pre-event memory, an event's video is
// published live: record on, an RTMP publish that starts with a key frame,
// and record off with the publish closed post_event after the motion ended.
// A second motion during the first keeps the one publish.
func TestEventVideoStreamMode(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, _, _ := runRig(t, rig.Options{Config: func(cfg *config.Config) { cfg.Events.PrebufferMemory = 0 }})
	eventsReady(t, r)
	request(t, r, "set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": 0, "post_event": 1000})
	request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "record_by_event"})
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "stream": true}}})
	if n := len(r.Ingest.Publishes()); n != 0 {
		t.Fatalf("record_by_event alone opened %d publishes", n)
	}
	record := func(on bool) map[string]any {
		return waitCloudEvent(t, r, "record event", func(e map[string]any) bool {
			ri, _ := e["record_info"].(map[string]any)
			return e["event"] == "record" && ri["on"] == on && ri["stream_id"] == "Main"
		})
	}
	r.ONVIF.TriggerMotion(true)
	recOn := record(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 10); err != nil {
		t.Fatalf("no event video at the ingest: %v", err)
	}
	// A nested event: the publish stays the one.
	if rep := request(t, r, "cam_trigger_event", map[string]any{"event": "motion"}); rep["status"] != "OK" {
		t.Fatalf("cam_trigger_event: %v", rep)
	}
	waitFor(t, "the second motion", func() bool { return len(motionEvents(r)) == 2 })
	r.ONVIF.TriggerMotion(false)
	ended := time.Now()
	recOff := record(false)
	if err := r.Ingest.WaitFor(ctx, func(ps []PublishRecordAlias) bool { return len(ps) == 1 && !ps[0].Active }); err != nil {
		t.Fatalf("event publish not closed after post_event: %v", err)
	}
	if d := eventTime(t, recOff).Sub(ended); d < 900*time.Millisecond {
		t.Errorf("record off %v after the motion ended, want post_event 1 s", d)
	}
	if !eventTime(t, recOff).After(eventTime(t, recOn)) {
		t.Error("record off before record on")
	}
	p := r.Ingest.Publishes()[0]
	if !p.FirstVideoKey || len(p.Violations) > 0 {
		t.Errorf("event publish: first frame key %v, violations %v", p.FirstVideoKey, p.Violations)
	}
	noViolations(t, r)
}
