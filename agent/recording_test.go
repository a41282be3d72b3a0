package agent

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink"
)

// recordingOn gives the rig's camera a memory card under dir.
func recordingOn(dir string) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.Recording.Dir = dir
		cfg.Recording.MinFree = 0
		for i := range cfg.Cameras {
			cfg.Cameras[i].Recording.Enabled = true
		}
	}
}

// memorycardEvents are the memorycard cam_events the cloud got, in order.
func memorycardEvents(r *rig.Rig) []map[string]any {
	var out []map[string]any
	for _, e := range r.Cloud.Events() {
		if e["event"] == uplink.EventMemorycard {
			out = append(out, e)
		}
	}
	return out
}

// timeline asks for the recorded ranges of [from, to).
func timeline(t *testing.T, r *rig.Rig, from, to time.Time) map[string]any {
	t.Helper()
	return request(t, r, "get_cam_memorycard_timeline", map[string]any{
		"request_id": "tl-1", "start": uplink.FormatPackedTime(from), "end": uplink.FormatPackedTime(to)})
}

func ranges(rep map[string]any) []any {
	d, _ := rep["data"].([]any)
	return d
}

func declared(conf map[string]any, name string) bool {
	evs, _ := conf["events"].([]any)
	for _, e := range evs {
		if m, _ := e.(map[string]any); m["event"] == name {
			return m["active"] == true
		}
	}
	return false
}

// TestMemoryCardRecords: a camera with recording on records its main
// stream to disk, declares the memory card and reports it as the first
// event after connect; the cloud reads a timeline covering the recorded
// time, and a camera outage is a gap in it.
func TestMemoryCardRecords(t *testing.T) {
	dir := t.TempDir()
	r, a, _ := runRig(t, rig.Options{Config: recordingOn(dir)})
	t0 := time.Now().Add(-time.Second)
	cam := a.workers[0]
	conf := eventsReady(t, r)
	if !declared(conf, "memorycard") {
		t.Fatalf("memorycard not declared: %v", conf["events"])
	}
	waitFor(t, "the memorycard event", func() bool { return len(memorycardEvents(r)) > 0 })
	if first := r.Cloud.Events()[0]; first["event"] != "memorycard" {
		t.Errorf("first cam_event after connect is %v, want memorycard", first["event"])
	}
	mi, _ := memorycardEvents(r)[0]["memorycard_info"].(map[string]any)
	if mi["status"] != "normal" || mi["recording_status"] != true || mustJSON(t, mi["max_sync_duration"]) != "3600" {
		t.Errorf("memorycard_info = %v, want normal, recording, sync up to an hour", mi)
	}

	waitFor(t, "recorded video on disk", func() bool {
		rec := cam.Status().Recording
		return rec != nil && rec.Bytes > 0
	})
	files, _ := filepath.Glob(filepath.Join(dir, "demo", "Main", "*.mp4"))
	if len(files) == 0 {
		t.Fatalf("no segment files under %s", filepath.Join(dir, "demo", "Main"))
	}
	rep := timeline(t, r, t0.Add(-time.Minute), time.Now().Add(time.Minute))
	if rep["cmd"] != "cam_memorycard_timeline" || len(ranges(rep)) != 1 || rep["request_id"] != "tl-1" {
		t.Fatalf("timeline = %v, want one range", rep)
	}

	// The camera goes away for a while and comes back.
	r.RTSP.Stop()
	waitFor(t, "the pull to fail", func() bool { return cam.Status().Streams[0].Pull == camera.PullFailing })
	if err := r.RTSP.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a second recorded range after the outage", func() bool {
		return len(ranges(timeline(t, r, t0.Add(-time.Minute), time.Now().Add(time.Minute)))) == 2
	})
	noViolations(t, r)
}

// TestMemoryCardSwitchedByCloud: cam_memorycard_recording off and on is
// answered done, reported with memorycard events and kept across a
// restart of the agent.
func TestMemoryCardSwitchedByCloud(t *testing.T) {
	r, err := rig.Start(rig.Options{Config: recordingOn(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	state := t.TempDir()
	stop := startAgent(t, r, state)
	waitReady(t, r)
	request(t, r, "get_cam_events", nil)
	waitFor(t, "the memorycard event", func() bool { return len(memorycardEvents(r)) == 1 })
	recordingStatus := func(i int) any {
		mi, _ := memorycardEvents(r)[i]["memorycard_info"].(map[string]any)
		return mi["recording_status"]
	}
	if rep := request(t, r, "cam_memorycard_recording", map[string]any{"stream_id": "Main", "enabled": false}); rep["status"] != "OK" {
		t.Fatalf("recording off: %v", rep)
	}
	waitFor(t, "memorycard event recording off", func() bool { return len(memorycardEvents(r)) == 2 })
	if recordingStatus(1) != false {
		t.Errorf("after off: recording_status %v", recordingStatus(1))
	}
	if rep := request(t, r, "cam_memorycard_recording", map[string]any{"stream_id": "Main", "enabled": true}); rep["status"] != "OK" {
		t.Fatalf("recording on: %v", rep)
	}
	waitFor(t, "memorycard event recording on", func() bool { return len(memorycardEvents(r)) == 3 })
	if recordingStatus(2) != true {
		t.Errorf("after on: recording_status %v", recordingStatus(2))
	}
	request(t, r, "cam_memorycard_recording", map[string]any{"stream_id": "Main", "enabled": false})
	waitFor(t, "memorycard event recording off again", func() bool { return len(memorycardEvents(r)) == 4 })
	stop()

	fi, err := os.Stat(filepath.Join(state, "demo.recording.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("recording setting file: %v, %v", err, fi)
	}
	startAgent(t, r, state)
	waitFor(t, "the second run to connect", func() bool { return r.Cloud.Connections() == 2 })
	waitReady(t, r)
	request(t, r, "get_cam_events", nil)
	waitFor(t, "the memorycard event of the second run", func() bool { return len(memorycardEvents(r)) == 5 })
	if recordingStatus(4) != false {
		t.Errorf("after restart: recording_status %v, want the cloud's off", recordingStatus(4))
	}
	if rep := request(t, r, "cam_memorycard_recording", map[string]any{"stream_id": "Nope", "enabled": true}); rep["status"] != "INVALID_PARAM" {
		t.Errorf("unknown stream: %v", rep)
	}
	noViolations(t, r)
}

// TestMemoryCardDiskTrouble: a recordings directory that cannot be used
// shows on the status and /readyz; live video goes on.
func TestMemoryCardDiskTrouble(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, a, base := runRig(t, rig.Options{Config: recordingOn(file)})
	cam := a.workers[0]
	waitReady(t, r)
	waitFor(t, "the disk problem on the status", func() bool {
		rec := cam.Status().Recording
		return rec != nil && rec.Problem != nil
	})
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "demo: recording stopped:") {
		t.Errorf("/readyz does not tell the recording problem: %q", body)
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 1}); rep["status"] != "OK" {
		t.Fatalf("stream_start: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Ingest.WaitFrames(ctx, 25); err != nil {
		t.Fatalf("live video stopped with the disk problem: %v", err)
	}
	if rep := timeline(t, r, time.Now().Add(-time.Hour), time.Now()); rep["status"] != "ERROR" {
		t.Errorf("timeline without a usable disk = %v, want done ERROR", rep)
	}
	noViolations(t, r)
}

// TestNoMemoryCardByDefault: without recording.enabled nothing changes for
// the cloud: no memorycard declared or sent, its commands not supported.
func TestNoMemoryCardByDefault(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	conf := eventsReady(t, r)
	if strings.Contains(mustJSON(t, conf["events"]), "memorycard") {
		t.Errorf("memorycard declared without a memory card: %v", conf["events"])
	}
	if rep := timeline(t, r, time.Now().Add(-time.Hour), time.Now()); rep["status"] != "NOT_SUPPORTED" {
		t.Errorf("timeline = %v, want NOT_SUPPORTED", rep)
	}
	if rep := request(t, r, "cam_memorycard_recording", map[string]any{"stream_id": "Main", "enabled": true}); rep["status"] != "NOT_SUPPORTED" {
		t.Errorf("recording = %v, want NOT_SUPPORTED", rep)
	}
	if n := len(memorycardEvents(r)); n != 0 {
		t.Errorf("%d memorycard events sent", n)
	}
}
