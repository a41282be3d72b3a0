package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/cloudsim"
)

// recordingKillRig is a kill rig whose camera records to a memory card
// under recDir.
func recordingKillRig(t *testing.T) (k *killRig, recDir string) {
	t.Helper()
	k = startKillRig(t)
	recDir = t.TempDir()
	b, err := os.ReadFile(k.config)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "    recording: {enabled: true}\nrecording: {dir: "+recDir+", min_free: 0}\n"...)
	if err := os.WriteFile(k.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return k, recDir
}

// segmentIndex is the recorder's index.json as the next run finds it.
type segmentIndex struct {
	Segments []struct {
		Start    time.Time     `json:"start"`
		Duration time.Duration `json:"duration"`
		Bytes    int64         `json:"bytes"`
	} `json:"segments"`
	Gaps []struct {
		Start  time.Time `json:"start"`
		End    time.Time `json:"end"`
		Reason string    `json:"reason"`
	} `json:"gaps"`
}

func readIndex(t *testing.T, dir string) segmentIndex {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var x segmentIndex
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	return x
}

// TestKill9WhileRecording: the real daemon records its camera to disk
// and is killed with SIGKILL mid-segment, as a power cut would. Every
// segment it left is readable by ffprobe and starts with a key frame,
// at most about a second before the kill is lost, and the next daemon
// on the same disk keeps the recording, marks the time it was away as
// "agent not running" and records on.
func TestKill9WhileRecording(t *testing.T) {
	k, recDir := recordingKillRig(t)
	streamDir := filepath.Join(recDir, "demo", "Main")
	d := startDaemon(t, k.config)
	k.waitSession(t, 1)
	poll(t, "recorded video on disk", func() bool {
		st, ok := k.camStatus(t)
		return ok && st.Recording != nil && st.Recording.Bytes > 0
	})
	// Several fragments into the segment, between two of them.
	time.Sleep(4300 * time.Millisecond) // deliberate: record a while before the power cut
	killed := time.Now()
	d.kill9(t)

	files, _ := filepath.Glob(filepath.Join(streamDir, "*.mp4"))
	if len(files) == 0 {
		t.Fatalf("no segment on disk under %s after the kill", streamDir)
	}
	// What a player gets from the disk as the kill left it, before any
	// repair: the fragments written so far.
	for _, f := range files {
		checkSegmentFile(t, f)
	}

	restart := time.Now()
	d = startDaemon(t, k.config)
	k.waitSession(t, 2)
	// The next daemon repairs the torn segment and records a new one;
	// a clean stop writes the index as the run after it will read it.
	poll(t, "a new segment after the restart", func() bool {
		st, ok := k.camStatus(t)
		return ok && st.Recording != nil && st.Recording.Segments >= 2
	})
	d.stop(t)
	x := readIndex(t, streamDir)
	if len(x.Segments) < 2 {
		t.Fatalf("index after the restart: %+v", x)
	}
	before := x.Segments[len(x.Segments)-2]
	after := x.Segments[len(x.Segments)-1]
	lost := killed.Sub(before.Start.Add(before.Duration))
	t.Logf("recorded %v before the kill; lost the last %d ms; the restarted daemon recorded again %v after its start",
		before.Duration.Round(time.Millisecond), lost.Milliseconds(), after.Start.Sub(restart).Round(time.Millisecond))
	// Fragments are flushed every second of video; a frame in flight and
	// the disk goroutine's write add a little.
	if lost < 0 || lost > 1200*time.Millisecond {
		t.Errorf("recording ended %v before the kill, want at most about a second", lost)
	}
	if before.Duration < 3*time.Second {
		t.Errorf("the torn segment holds %v of the ~4.3 s recorded", before.Duration)
	}
	var away bool
	for _, g := range x.Gaps {
		if g.Reason == "agent not running" && !g.Start.After(before.Start.Add(before.Duration)) && !g.End.Before(after.Start) {
			away = true
		}
	}
	if !away {
		t.Errorf("no \"agent not running\" gap from %v to %v in the index: %+v", before.Start.Add(before.Duration), after.Start, x.Gaps)
	}
	files, _ = filepath.Glob(filepath.Join(streamDir, "*.mp4"))
	for _, f := range files {
		checkSegmentFile(t, f)
	}
	var onDisk int64
	for _, s := range x.Segments {
		fi, err := os.Stat(filepath.Join(streamDir, s.Start.UTC().Format("20060102T150405.000Z")+".mp4"))
		if err != nil {
			t.Errorf("index names a segment of %v that is not on disk: %v", s.Start, err)
			continue
		}
		if fi.Size() != s.Bytes {
			t.Errorf("segment of %v: index says %d bytes, file has %d", s.Start, s.Bytes, fi.Size())
		}
		onDisk += fi.Size()
	}
	if onDisk == 0 {
		t.Error("the repaired segment is empty")
	}
}

// checkSegmentFile reads a segment with ffprobe: H.264 that starts with a
// key frame, with no undecodable packets.
func checkSegmentFile(t *testing.T, path string) {
	t.Helper()
	rec, err := cloudsim.Probe(path)
	if err != nil {
		t.Errorf("segment unreadable: %v", err)
		return
	}
	if rec.VideoCodec != "h264" || len(rec.Video) == 0 || !rec.Video[0].Key || rec.NoDTS > 0 {
		t.Errorf("%s: %s, %d video packets (first key: %v), %d without DTS", filepath.Base(path), rec.VideoCodec, len(rec.Video), len(rec.Video) > 0 && rec.Video[0].Key, rec.NoDTS)
	}
}
