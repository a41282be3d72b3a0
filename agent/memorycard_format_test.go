package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink"
)

// TestMemoryCardFormat: cam_format_memorycard deletes the camera's
// recordings of every stream, says formatting then normal before its done
// OK, leaves another camera's recordings alone, and recording goes on
// into a fresh timeline.
func TestMemoryCardFormat(t *testing.T) {
	dir := t.TempDir()
	oldSub := filepath.Join(dir, "demo", "Sub", "20240314T090000.000Z.mp4")
	otherCam := filepath.Join(dir, "other", "Main", "20240314T090000.000Z.mp4")
	for _, p := range []string{oldSub, otherCam} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("segment"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, a, _ := runRig(t, rig.Options{Config: recordingOn(dir)})
	cam := a.workers[0]
	t0 := time.Now().Add(-time.Second)
	eventsReady(t, r)
	waitFor(t, "the memorycard event", func() bool { return len(memorycardEvents(r)) == 1 })
	var before map[string]any
	waitFor(t, "three seconds recorded", func() bool {
		d := ranges(timeline(t, r, t0.Add(-time.Minute), time.Now().Add(time.Minute)))
		if len(d) != 1 {
			return false
		}
		before, _ = d[0].(map[string]any)
		from, _ := uplink.ParsePackedTime(before["start"].(string))
		to, _ := uplink.ParsePackedTime(before["end"].(string))
		return to.Sub(from) >= 3*time.Second
	})
	oldMain, _ := filepath.Glob(filepath.Join(dir, "demo", "Main", "*.mp4"))
	if len(oldMain) == 0 {
		t.Fatal("no segment recorded")
	}

	if rep := request(t, r, "cam_format_memorycard", nil); rep["status"] != "OK" {
		t.Fatalf("cam_format_memorycard: %v", rep)
	}
	var statuses []any
	for _, e := range memorycardEvents(r)[1:] {
		mi, _ := e["memorycard_info"].(map[string]any)
		statuses = append(statuses, mi["status"])
	}
	if len(statuses) != 2 || statuses[0] != "formatting" || statuses[1] != "normal" {
		t.Errorf("memorycard statuses around the format %v, want formatting then normal", statuses)
	}
	for _, p := range append(oldMain, oldSub) {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived the format: %v", p, err)
		}
	}
	if _, err := os.Stat(otherCam); err != nil {
		t.Errorf("another camera's recording went with the format: %v", err)
	}
	// Nothing of what was recorded before is in the timeline any more.
	from, _ := uplink.ParsePackedTime(before["start"].(string))
	to, _ := uplink.ParsePackedTime(before["end"].(string))
	if d := ranges(timeline(t, r, t0.Add(-time.Minute), from.Add(to.Sub(from)/2))); len(d) != 0 {
		t.Errorf("timeline of the formatted time: %v", d)
	}
	waitFor(t, "recording to go on after the format", func() bool {
		rec := cam.Status().Recording
		return rec != nil && rec.Bytes > 0 && len(ranges(timeline(t, r, to, time.Now().Add(time.Minute)))) == 1
	})
	noViolations(t, r)
}

// TestMemoryCardFormatWithoutCard: a camera without a memory card answers
// cam_format_memorycard ERROR and sends no memorycard event.
func TestMemoryCardFormatWithoutCard(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	if rep := request(t, r, "cam_format_memorycard", nil); rep["status"] != "ERROR" {
		t.Errorf("cam_format_memorycard = %v, want ERROR", rep)
	}
	if n := len(memorycardEvents(r)); n != 0 {
		t.Errorf("%d memorycard events sent", n)
	}
	noViolations(t, r)
}
