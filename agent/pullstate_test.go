package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
)

// watchStart polls status.json while stream i starts and until it has
// been playing for a while, and fails on any state an operator would take
// for trouble (a stalled or failing stream, a red badge) on the way: the
// camera streams all along.
func watchStart(t *testing.T, statusURL string, i int) {
	t.Helper()
	watchUntilPlaying(t, statusURL, i, false)
}

// watchUntilPlaying polls status.json until stream i has been playing for
// 2 s and fails if it ever reads stalled; unless failingOK (the camera
// really dropped the session), also if it reads failing or the badge red.
func watchUntilPlaying(t *testing.T, statusURL string, i int, failingOK bool) {
	t.Helper()
	var seen []string
	var playingSince time.Time
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		cs := cameraStatus(t, statusURL)
		if len(cs.Streams) <= i {
			continue
		}
		state := cs.Streams[i].RTSP + "/" + verdict(cs)[1]
		if len(seen) == 0 || seen[len(seen)-1] != state {
			seen = append(seen, state)
		}
		rtsp := cs.Streams[i].RTSP
		ok := rtsp == "idle" || rtsp == "connecting" || rtsp == "playing" || failingOK && rtsp == "failing"
		if !ok || !failingOK && verdict(cs)[0] == "bad" {
			t.Fatalf("stream %s said %q while the camera streams; states seen: %s", cs.Streams[i].ID, state, strings.Join(seen, " → "))
		}
		switch {
		case rtsp != "playing":
			playingSince = time.Time{}
		case playingSince.IsZero():
			playingSince = time.Now()
		case time.Since(playingSince) > 2*time.Second:
			t.Logf("states seen: %s", strings.Join(seen, " → "))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("stream %d never played for 2 s; states seen: %s", i, strings.Join(seen, " → "))
}

// TestNoFalseAlarmAtStart: from the agent's start until its main stream
// plays, the page never calls the stream stalled nor the camera in trouble
// (the first second of video used to read as stalled: the frame rate is
// measured over a second).
func TestNoFalseAlarmAtStart(t *testing.T) {
	r, _, statusURL := runRig(t, rig.Options{})
	watchStart(t, statusURL, 0)

	// The camera drops the session (a reboot): the stream reads failing
	// until video comes again, then playing, never stalled.
	r.RTSP.DropSessions()
	waitFor(t, "the stream to notice", func() bool { return cameraStatus(t, statusURL).Streams[0].RTSP != "playing" })
	watchUntilPlaying(t, statusURL, 0, true)
}

// TestNoFalseAlarmOnDemand: a sub stream pulled for a publish, and pulled
// again after it was released, starts without a false alarm either.
func TestNoFalseAlarmOnDemand(t *testing.T) {
	r, sub, statusURL := subStreamRig(t, config.Pull{Warm: config.PullWarmMain, IdleTimeout: time.Second})
	for round := range 2 {
		if rep := request(t, r, "stream_start", map[string]any{"stream_id": "Sub", "reason": "live"}); rep["status"] != "OK" {
			t.Fatalf("round %d: stream_start Sub: %v", round, rep)
		}
		watchStart(t, statusURL, 1)
		if rep := request(t, r, "stream_stop", map[string]any{"stream_id": "Sub", "reason": "live"}); rep["status"] != "OK" {
			t.Fatalf("round %d: stream_stop Sub: %v", round, rep)
		}
		waitFor(t, "the sub stream released", func() bool {
			return sub.Sessions() == 0 && cameraStatus(t, statusURL).Streams[1].RTSP == "idle"
		})
	}
}
