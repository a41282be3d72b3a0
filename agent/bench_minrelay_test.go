//go:build bench

package agent

// The optional minimal-relay row: with MINRELAY=1, testdata/minrelay (the
// least a Go process can do to relay RTSP/TCP to RTMP: one goroutine and
// reused buffers per camera, no GOP cache, no recovery) relays every
// camera in one process, through its own taps for the latency: the floor
// of any Go relay on this machine, beside which camagent's cost reads.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func minRelayStreamName(k int) string { return fmt.Sprintf("minrelay%02d", k+1) }

func isMinRelayStream(s string) bool { return strings.HasPrefix(s, "minrelay") }

// benchBuildMinRelay builds testdata/minrelay like the agent (testdata is
// outside ./..., so by its path), or returns "" unless MINRELAY=1.
func benchBuildMinRelay(t *testing.T) string {
	switch v := os.Getenv("MINRELAY"); v {
	case "", "0":
		return ""
	case "1":
	default:
		t.Fatalf("MINRELAY=%q: want 1 (or unset)", v)
	}
	return benchBuild(t, "minrelay", "./agent/testdata/minrelay")
}

// startMinRelay starts one minrelay for every camera and waits until each
// camera's publish carries video.
func (b *benchRun) startMinRelay(ctx context.Context, dir string) *child {
	t := b.t
	var args []string
	for k := range b.n {
		args = append(args, "-in", b.cameraURL(k, b.mrTaps[k]),
			"-out", fmt.Sprintf("rtmp://%s/live/%s", b.ingest.Addr(), minRelayStreamName(k)))
	}
	c := startChild(t, "minrelay", filepath.Join(dir, "minrelay.log"), nil, b.mode.minrelay, args...)
	if err := b.waitPublishing(ctx, isMinRelayStream); err != nil {
		t.Fatalf("minrelay does not deliver video to the ingest: %v\nminrelay log:\n%s", err, tail(c.log, 20))
	}
	return c
}
