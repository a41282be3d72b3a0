package agent

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

func syncReq(t *testing.T, r *rig.Rig, id string, from, to time.Time) map[string]any {
	t.Helper()
	return request(t, r, "cam_memorycard_synchronize", map[string]any{
		"request_id": id, "start": uplink.FormatPackedTime(from), "end": uplink.FormatPackedTime(to)})
}

func recordPuts(r *rig.Rig) []cloudsim.Put {
	var out []cloudsim.Put
	for _, p := range r.Cloud.Puts() {
		if p.Category == "record" {
			out = append(out, p)
		}
	}
	return out
}

// checkSyncedChunk asserts a PUT is a standalone MP4 that starts with a
// key frame and lasts what get_direct_upload_url said (ffprobe agreeing
// when installed).
func checkSyncedChunk(t *testing.T, i int, p cloudsim.Put) {
	t.Helper()
	var pr pmp4.Presentation
	if err := pr.Unmarshal(bytes.NewReader(p.Body)); err != nil || len(pr.Tracks) == 0 {
		t.Fatalf("chunk %d: not an MP4: %v", i, err)
	}
	v := pr.Tracks[0]
	var ticks uint64
	for _, s := range v.Samples {
		ticks += uint64(s.Duration)
	}
	d := time.Duration(ticks) * time.Second / time.Duration(v.TimeScale)
	if v.Samples[0].IsNonSyncSample || d.Milliseconds() != p.Duration {
		t.Errorf("chunk %d: first sample key %v, lasts %v, announced %d ms", i, !v.Samples[0].IsNonSyncSample, d, p.Duration)
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		return
	}
	path := filepath.Join(t.TempDir(), "chunk.mp4")
	if err := os.WriteFile(path, p.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := cloudsim.Probe(path)
	if err != nil || rec.VideoCodec != "h264" || len(rec.Video) == 0 || !rec.Video[0].Key {
		t.Errorf("chunk %d: ffprobe %v %v", i, rec, err)
	}
}

// TestMemoryCardSync: the cloud pulls a recorded range. The job is
// answered pending, its chunks are asked for and PUT as record uploads
// (standalone MP4s that meet end to start and cover the range), progress
// comes after each and one final done ends it; the segment it covered
// whole is marked uploaded. A cancelled job ends canceled; a third job
// while two run is refused with too_many_requests; a range longer than
// max_sync_duration is refused; a job whose connection drops ends error,
// told on the next connection.
func TestMemoryCardSync(t *testing.T) {
	dir := t.TempDir()
	r, _, _ := runRig(t, rig.Options{Config: func(cfg *config.Config) {
		recordingOn(dir)(cfg)
		cfg.Cameras[0].Recording.Segment = 10 * time.Second
	}})
	waitReady(t, r)
	request(t, r, "get_cam_events", nil)
	waitFor(t, "the memorycard event", func() bool { return len(memorycardEvents(r)) > 0 })
	mi, _ := memorycardEvents(r)[0]["memorycard_info"].(map[string]any)
	if mustJSON(t, mi["max_sync_duration"]) != "3600" {
		t.Errorf("max_sync_duration %v, want 3600", mi["max_sync_duration"])
	}
	// Recording happens in real time: wait for 21 s of it, longer than
	// waitFor waits.
	var rs time.Time
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for 21 s recorded")
		}
		rg := ranges(timeline(t, r, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
		if len(rg) == 0 {
			continue
		}
		a, _ := rg[0].(map[string]any)
		s, _ := uplink.ParsePackedTime(a["start"].(string))
		e, _ := uplink.ParsePackedTime(a["end"].(string))
		if rs = s; e.Sub(s) >= 21*time.Second {
			break
		}
	}

	// An 11 s range: the end of the first segment and all of the second.
	from, to := rs.Add(9500*time.Millisecond), rs.Add(20500*time.Millisecond)
	rep := syncReq(t, r, "s1", from, to)
	if rep["cmd"] != "cam_memorycard_synchronize_status" || rep["status"] != "pending" || rep["request_id"] != "s1" {
		t.Fatalf("reply %v, want pending", rep)
	}
	waitFor(t, "s1 to end", func() bool { return r.Cloud.SyncFinal("s1") != "" })
	if f := r.Cloud.SyncFinal("s1"); f != "done" {
		t.Fatalf("s1 ended %s", f)
	}
	puts := recordPuts(r)
	slices.SortFunc(puts, func(a, b cloudsim.Put) int { return a.FileTime.Compare(b.FileTime) })
	if len(puts) < 2 {
		t.Fatalf("%d chunks uploaded", len(puts))
	}
	for i, p := range puts {
		checkSyncedChunk(t, i, p)
		if p.StreamID != "Main" || p.Duration > 10000 {
			t.Errorf("chunk %d: stream %q, %d ms", i, p.StreamID, p.Duration)
		}
		// Times and durations go in whole milliseconds: a chunk's end
		// meets the next start within one.
		if i > 0 {
			if gap := p.FileTime.Sub(puts[i-1].FileTime.Add(time.Duration(puts[i-1].Duration) * time.Millisecond)); gap < 0 || gap > time.Millisecond {
				t.Errorf("chunk %d starts %v after chunk %d ends", i, gap, i-1)
			}
		}
	}
	last := puts[len(puts)-1]
	end := last.FileTime.Add(time.Duration(last.Duration) * time.Millisecond)
	if puts[0].FileTime.After(from) || from.Sub(puts[0].FileTime) > 2*time.Second || end.Before(to.Add(-time.Second)) || end.After(to.Add(time.Second)) {
		t.Errorf("chunks cover %v-%v of the asked %v-%v", puts[0].FileTime.Sub(rs), end.Sub(rs), from.Sub(rs), to.Sub(rs))
	}
	prog := r.Cloud.SyncProgress("s1")
	if n := len(r.Cloud.SyncStatuses("s1")); n != len(puts)+2 || len(prog) != len(puts)+1 || prog[len(prog)-1] != 100 {
		t.Errorf("%d statuses, progress %v, for %d chunks", n, prog, len(puts))
	}
	var idx struct {
		Segments []struct {
			Start    time.Time
			Uploaded bool
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "demo", "Main", "index.json"))
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	var marked []time.Time
	for _, s := range idx.Segments {
		if s.Uploaded {
			marked = append(marked, s.Start)
		}
	}
	if len(marked) != 1 || marked[0].Before(from) || marked[0].After(to) {
		t.Errorf("segments marked uploaded %v, want the one inside %v-%v", marked, from, to)
	}

	// A PUT that fails is tried again: a range inside one segment, whose
	// one chunk fails once, still ends done with that chunk uploaded.
	r.Cloud.FailPuts(http.StatusServiceUnavailable)
	before := len(recordPuts(r))
	if rep := syncReq(t, r, "s1b", rs.Add(12*time.Second), rs.Add(15*time.Second)); rep["status"] != "pending" {
		t.Fatalf("s1b: %v", rep)
	}
	waitFor(t, "s1b's PUT to fail", func() bool { return r.Cloud.FailedPuts() > 0 })
	r.Cloud.FailPuts(0)
	waitFor(t, "s1b to end", func() bool { return r.Cloud.SyncFinal("s1b") != "" })
	if f, n := r.Cloud.SyncFinal("s1b"), len(recordPuts(r))-before; f != "done" || n == 0 {
		t.Errorf("a job whose PUT failed once ended %s with %d chunks, want done with its chunk", f, n)
	}

	// Cancel while a chunk is on its way.
	release := r.Cloud.HoldPuts()
	if rep := syncReq(t, r, "s2", from, to); rep["status"] != "pending" {
		t.Fatalf("s2: %v", rep)
	}
	waitFor(t, "s2's first PUT", func() bool { return r.Cloud.PutsHeld() == 1 })
	if rep := syncReq(t, r, "s3", from, to); rep["status"] != "pending" {
		t.Fatalf("s3: %v", rep)
	}
	if rep := syncReq(t, r, "s4", from, to); rep["status"] != "too_many_requests" || rep["request_id"] != "s4" {
		t.Errorf("a third job: %v, want too_many_requests", rep)
	}
	if rep := request(t, r, "cam_memorycard_synchronize_cancel", map[string]any{"request_id": "s2"}); rep["status"] != "OK" {
		t.Errorf("cancel: %v", rep)
	}
	if rep := request(t, r, "cam_memorycard_synchronize_cancel", map[string]any{"request_id": "s3"}); rep["status"] != "OK" {
		t.Errorf("cancel: %v", rep)
	}
	waitFor(t, "s2 and s3 to end", func() bool { return r.Cloud.SyncFinal("s2") != "" && r.Cloud.SyncFinal("s3") != "" })
	release()
	if a, b := r.Cloud.SyncFinal("s2"), r.Cloud.SyncFinal("s3"); a != "canceled" || b != "canceled" {
		t.Errorf("cancelled jobs ended %s, %s", a, b)
	}
	if rep := request(t, r, "cam_memorycard_synchronize_cancel", map[string]any{"request_id": "nope"}); rep["status"] != "OK" {
		t.Errorf("cancel of an unknown job: %v", rep)
	}
	if rep := syncReq(t, r, "s5", from, from.Add(time.Hour+time.Second)); rep["cmd"] != "done" || rep["status"] != "ERROR" {
		t.Errorf("a range longer than max_sync_duration: %v, want done ERROR", rep)
	}

	// The connection drops while the job waits for its upload URL.
	r.Cloud.WithholdGrants(true)
	if rep := syncReq(t, r, "s6", from, to); rep["status"] != "pending" {
		t.Fatalf("s6: %v", rep)
	}
	waitFor(t, "s6 to ask for a URL", func() bool { return r.Cloud.Withheld() > 0 })
	r.Cloud.WithholdGrants(false)
	r.Cloud.DropConnections()
	waitFor(t, "s6 to end", func() bool { return r.Cloud.SyncFinal("s6") != "" })
	if f := r.Cloud.SyncFinal("s6"); f != "error" {
		t.Errorf("job of a dropped connection ended %s, want error", f)
	}
	noViolations(t, r)
}
