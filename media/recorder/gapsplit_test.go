package recorder

import (
	"testing"
	"time"
)

// An agent that starts while its camera is away: the time until it
// started is "agent not running", the time after "camera offline", not
// one gap with the later reason.
func TestGapReasonChangesWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	f := loadFixture(t)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	r := openT(t, Options{Dir: dir})
	(&cam{f: f, t0: t0}).feed(r, 10*time.Second)
	r.Close()

	r = openT(t, Options{Dir: dir})
	started := time.Now()
	r.Pause(GapCameraOffline) // the camera does not answer
	r.Pause(GapCameraOffline) // said again every second: no new gap
	back := started.Add(2 * time.Second)
	(&cam{f: f, t0: back, base: time.Minute, discont: true}).feed(r, 5*time.Second)
	r.Close()

	gaps := r.Gaps(t0, back.Add(time.Minute))
	if len(gaps) != 2 {
		t.Fatalf("gaps %+v, want agent not running then camera offline", gaps)
	}
	end := t0.Add(10 * time.Second)
	if g := gaps[0]; g.Reason != GapAgentNotRunning || !g.Start.Equal(end) || g.End.Sub(started).Abs() > 100*time.Millisecond {
		t.Errorf("first gap %v – %v %v, want agent not running %v – %v", g.Start, g.End, g.Reason, end, started)
	}
	if g := gaps[1]; g.Reason != GapCameraOffline || !g.Start.Equal(gaps[0].End) || !g.End.Equal(back) {
		t.Errorf("second gap %v – %v %v, want camera offline %v – %v", g.Start, g.End, g.Reason, gaps[0].End, back)
	}
	checkSegments(t, r.Dir())
}
