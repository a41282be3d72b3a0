package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/media/recorder"
)

// mountSmallDisk mounts a tmpfs of size bytes on a fresh directory: a
// disk that really fills and can really be made read-only. It needs
// CAP_SYS_ADMIN (CI runs as root).
func mountSmallDisk(t *testing.T, flags uintptr, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("camagent-test", dir, "tmpfs", flags, "size="+size+",mode=0700"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("mounting a tmpfs needs CAP_SYS_ADMIN: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func remount(t *testing.T, dir, opts string) {
	t.Helper()
	// A file system with files open for writing cannot be made read-only
	// (EBUSY); only the other way round is tested.
	if err := syscall.Mount("camagent-test", dir, "tmpfs", syscall.MS_REMOUNT, opts); err != nil {
		t.Fatalf("remount %s %s: %v", dir, opts, err)
	}
}

func readyz(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestMemoryCardDiskFullAndReadOnly: the memory card's file system is
// read-only when the agent starts (as after a failed fsck), then writable
// but too small for one segment, so nothing can be evicted to make room.
// Each is named on the camera's status and in /readyz while live video to
// the cloud goes on; once the disk is writable and has room, recording
// resumes by itself.
func TestMemoryCardDiskFullAndReadOnly(t *testing.T) {
	dir := mountSmallDisk(t, syscall.MS_RDONLY, "64m")
	r, a, base := runRig(t, rig.Options{Config: recordingOn(dir)})
	cam := a.workers[0]
	waitReady(t, r)
	problem := func(kind recorder.ProblemKind) func() bool {
		return func() bool {
			rec := cam.Status().Recording
			return rec != nil && rec.Problem != nil && rec.Problem.Kind == kind
		}
	}
	waitFor(t, "read-only on the camera's status", problem(recorder.ProblemReadOnly))
	if body := readyz(t, base); !strings.Contains(body, "demo: recording stopped: read-only") {
		t.Errorf("/readyz does not say the disk is read-only: %q", body)
	}
	if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 1}); rep["status"] != "OK" {
		t.Fatalf("stream_start: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	frames := func() int {
		n := 0
		for _, p := range r.Ingest.Publishes() {
			n += p.VideoFrames
		}
		return n
	}
	if err := r.Ingest.WaitFrames(ctx, 25); err != nil {
		t.Fatalf("live video stopped with the disk read-only: %v", err)
	}

	// Smaller than the rig camera's first minute.
	remount(t, dir, "rw,size=256k")
	waitFor(t, "disk full on the camera's status", problem(recorder.ProblemDiskFull))
	if body := readyz(t, base); !strings.Contains(body, "demo: recording stopped: disk full") {
		t.Errorf("/readyz does not say the disk is full: %q", body)
	}
	if err := r.Ingest.WaitFrames(ctx, frames()+25); err != nil {
		t.Fatalf("live video stopped with the disk full: %v", err)
	}

	remount(t, dir, "rw,size=64m")
	waitFor(t, "recording to resume once the disk has room", func() bool {
		rec := cam.Status().Recording
		return rec != nil && rec.Problem == nil && rec.Bytes > 256<<10
	})
	if body := readyz(t, base); strings.Contains(body, "recording stopped") {
		t.Errorf("/readyz still names a recording problem: %q", body)
	}
	if err := r.Ingest.WaitFrames(ctx, frames()+25); err != nil {
		t.Fatalf("live video stopped: %v", err)
	}
	noViolations(t, r)
}
