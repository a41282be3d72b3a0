package camera

import (
	"errors"
	"testing"
	"time"
)

// TestPullState: only video from the running pull counts, a pull that
// has not delivered video for stallAfter is stalled, and a session that
// failed after the last video is failing until video comes again.
func TestPullState(t *testing.T) {
	now := time.Now()
	started := now.Add(-time.Minute)
	failed := errors.New("rtsp session ended")
	for _, c := range []struct {
		name      string
		s         streamState
		lastVideo time.Time
		want      PullState
	}{
		{"not pulled", streamState{}, now, PullIdle},
		{"no video yet", streamState{pulling: true, pullStarted: started}, time.Time{}, PullConnecting},
		{"video of an earlier pull", streamState{pulling: true, pullStarted: started}, started.Add(-time.Second), PullConnecting},
		{"first frame just came", streamState{pulling: true, pullStarted: now.Add(-50 * time.Millisecond)}, now, PullPlaying},
		{"video 1 s ago (1 frame/s)", streamState{pulling: true, pullStarted: started}, now.Add(-time.Second), PullPlaying},
		{"no video for longer", streamState{pulling: true, pullStarted: started}, now.Add(-stallAfter), PullStalled},
		{"session failed after the video", streamState{pulling: true, pullStarted: started, err: failed, errAt: now.Add(-time.Second)}, now.Add(-2 * time.Second), PullFailing},
		{"session failed before any video", streamState{pulling: true, pullStarted: started, err: failed, errAt: started.Add(time.Second)}, time.Time{}, PullFailing},
		{"video again after the failure", streamState{pulling: true, pullStarted: started, err: failed, errAt: now.Add(-time.Second)}, now, PullPlaying},
		{"failure of an earlier pull", streamState{pulling: true, pullStarted: started, err: failed, errAt: started.Add(-time.Second)}, time.Time{}, PullConnecting},
	} {
		if got := pullState(&c.s, c.lastVideo, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
