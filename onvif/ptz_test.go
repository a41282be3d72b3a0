package onvif

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/onvif/onvifsim"
)

// connected starts a simulator with opts and returns a connected client.
func connected(t *testing.T, opts onvifsim.Options) (*onvifsim.Server, *Client) {
	t.Helper()
	sim := startSim(t, opts)
	c := newClient(t, sim.URL(), testUser, testPass, nil)
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return sim, c
}

// waitPTZ polls cond (which asks the camera) until it holds or the
// deadline passes; the simulator integrates motion on its own clock, so
// tests wait on the outcome.
func waitPTZ(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestPTZConfig(t *testing.T) {
	_, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	if c.Services().PTZ == "" {
		t.Fatal("no ptz service address learned")
	}
	info, err := c.PTZConfig(ctx, "Profile_1")
	if err != nil {
		t.Fatal(err)
	}
	want := PTZInfo{ConfigToken: "PTZConfig_1", NodeToken: "PTZNode_1", ContinuousPanTilt: true, ContinuousZoom: true,
		MaxPresets: 8, HomeSupported: true}
	if info != want {
		t.Errorf("ptz info = %+v, want %+v", info, want)
	}
}

func TestPTZUnsupported(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{NoPTZ: true})
	ctx := testCtx(t)
	if _, err := c.PTZConfig(ctx, "Profile_1"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ptz config on a fixed camera: %v, want ErrUnsupported", err)
	}
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Pan: 1}, 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("continuous move on a fixed camera: %v, want ErrUnsupported", err)
	}
	for _, r := range sim.Requests() {
		if r == "ContinuousMove" {
			t.Error("client sent ContinuousMove to a camera that advertises no PTZ service")
		}
	}
}

// TestPTZUnsupportedAtAddress covers firmware that advertises PTZ but
// refuses its actions.
func TestPTZUnsupportedAtAddress(t *testing.T) {
	_, c := connected(t, onvifsim.Options{Unsupported: []string{"GetNode", "ContinuousMove"}})
	ctx := testCtx(t)
	if _, err := c.PTZConfig(ctx, "Profile_1"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ptz config: %v, want ErrUnsupported", err)
	}
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Pan: 1}, time.Second); !errors.Is(err, ErrUnsupported) {
		t.Errorf("continuous move: %v, want ErrUnsupported", err)
	}
}

func TestContinuousMoveAlwaysSendsTimeout(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Pan: 0.5}, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Zoom: -0.25}, 0); err != nil {
		t.Fatal(err)
	}
	moves := sim.Moves()
	if len(moves) != 2 {
		t.Fatalf("camera saw %d moves, want 2", len(moves))
	}
	if m := moves[0]; !m.HasTimeout || m.Timeout != 1500*time.Millisecond || m.Pan != 0.5 || m.Tilt != 0 {
		t.Errorf("first move = %+v, want pan 0.5 with a 1.5 s timeout", m)
	}
	if m := moves[1]; !m.HasTimeout || m.Timeout != DefaultMoveTimeout || m.Zoom != -0.25 {
		t.Errorf("second move = %+v, want zoom -0.25 with the default timeout", m)
	}
	raw := sim.LastRequest("ContinuousMove")
	if !strings.Contains(raw, "<Timeout>PT10S</Timeout>") || strings.Contains(raw, "PanTilt") {
		t.Errorf("zoom-only request should carry PT10S and no PanTilt:\n%s", raw)
	}
	if err := c.Stop(ctx, "Profile_1"); err != nil {
		t.Fatal(err)
	}
}

func TestContinuousMoveRejectsBadVelocity(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	err := c.ContinuousMove(testCtx(t), "Profile_1", PTZVelocity{Pan: 1.5}, time.Second)
	var re *RangeError
	if !errors.As(err, &re) || !errors.Is(err, ErrOutOfRange) || re.Field != "pan velocity" {
		t.Fatalf("err = %v, want *RangeError for pan velocity", err)
	}
	if len(sim.Moves()) != 0 {
		t.Error("an invalid velocity reached the camera")
	}
}

func TestPTZMovesAndStops(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	// "right" as the agent sends it.
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Pan: 0.5}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitPTZ(t, "pan to increase", func() bool {
		p, err := c.PTZStatus(ctx, "Profile_1")
		if err != nil {
			t.Fatal(err)
		}
		return p.Moving && p.Pan > 0.001 && p.Tilt == 0
	})
	if err := c.Stop(ctx, "Profile_1"); err != nil {
		t.Fatal(err)
	}
	p1, err := c.PTZStatus(ctx, "Profile_1")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Moving || p1.Pan <= 0 {
		t.Fatalf("after stop: %+v, want idle with pan > 0", p1)
	}
	p2, err := c.PTZStatus(ctx, "Profile_1")
	if err != nil {
		t.Fatal(err)
	}
	if p2.Pan != p1.Pan {
		t.Errorf("pan moved after stop: %v then %v", p1.Pan, p2.Pan)
	}
	if pan, _, _ := sim.PTZPosition(); pan != p1.Pan {
		t.Errorf("camera pan %v, client saw %v", pan, p1.Pan)
	}
	sim.SetClockSkew(time.Hour) // an NTP jump of the camera clock must not move the head
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Pan: 0.5}, time.Millisecond); err != nil {
		t.Fatalf("move after the camera clock jumped: %v", err)
	}
	waitPTZ(t, "the 1 ms move to end", func() bool {
		p, err := c.PTZStatus(ctx, "Profile_1")
		return err == nil && !p.Moving
	})
	if pan, _, _ := sim.PTZPosition(); pan-p1.Pan > 0.0006 {
		t.Errorf("a 1 ms move at 0.5 after a clock jump moved pan from %v to %v", p1.Pan, pan)
	}
}

func TestContinuousMoveEndsAtTimeout(t *testing.T) {
	_, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	// Tilt down for 50 ms, then nobody sends Stop.
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Tilt: -1}, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var p PTZPosition
	waitPTZ(t, "the move to time out", func() bool {
		var err error
		if p, err = c.PTZStatus(ctx, "Profile_1"); err != nil {
			t.Fatal(err)
		}
		return !p.Moving
	})
	// Velocity 1 moves one unit per second: 50 ms gives 0.05.
	if p.Tilt > -0.04 || p.Tilt < -0.06 {
		t.Errorf("tilt after a 50 ms move = %v, want about -0.05", p.Tilt)
	}
}

func TestPTZPresetsAndHome(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	const prof = "Profile_1"
	move := func(v PTZVelocity) {
		t.Helper()
		before, _, _ := sim.PTZPosition()
		if err := c.ContinuousMove(ctx, prof, v, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		waitPTZ(t, "move to finish", func() bool {
			p, err := c.PTZStatus(ctx, prof)
			return err == nil && !p.Moving && p.Pan != before
		})
	}
	if err := c.SetHome(ctx, prof); err != nil {
		t.Fatal(err)
	}
	move(PTZVelocity{Pan: 1})
	gate, err := c.SetPreset(ctx, prof, "Gate", "")
	if err != nil {
		t.Fatal(err)
	}
	if gate == "" {
		t.Fatal("no token for the new preset")
	}
	gatePan, _, _ := sim.PTZPosition()
	move(PTZVelocity{Pan: -1})
	yard, err := c.SetPreset(ctx, prof, "Yard", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetPreset(ctx, prof, "Yard", ""); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("a second preset named Yard: %v, want ErrOutOfRange", err)
	}

	presets, err := c.Presets(ctx, prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(presets) != 2 || presets[0].Token != gate || presets[0].Name != "Gate" || presets[1].Name != "Yard" ||
		presets[0].Position == nil || presets[0].Position.Pan != gatePan {
		t.Fatalf("presets = %+v", presets)
	}

	if err := c.GotoPreset(ctx, prof, gate); err != nil {
		t.Fatal(err)
	}
	if pan, _, _ := sim.PTZPosition(); pan != gatePan {
		t.Errorf("after goto Gate pan = %v, want %v", pan, gatePan)
	}
	// Update: rename Yard and store the current (Gate) position in it.
	if tok, err := c.SetPreset(ctx, prof, "Back yard", yard); err != nil || tok != yard {
		t.Fatalf("update preset = %q, %v", tok, err)
	}
	if err := c.RemovePreset(ctx, prof, gate); err != nil {
		t.Fatal(err)
	}
	presets, err = c.Presets(ctx, prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(presets) != 1 || presets[0].Token != yard || presets[0].Name != "Back yard" || presets[0].Position.Pan != gatePan {
		t.Fatalf("presets after update and remove = %+v", presets)
	}
	if err := c.GotoPreset(ctx, prof, gate); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("goto a removed preset: %v, want ErrOutOfRange", err)
	}
	if err := c.GotoHome(ctx, prof); err != nil {
		t.Fatal(err)
	}
	if pan, tilt, zoom := sim.PTZPosition(); pan != 0 || tilt != 0 || zoom != 0 {
		t.Errorf("home = %v %v %v, want the origin", pan, tilt, zoom)
	}
}

func TestXSDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:             "PT1S",
		1500 * time.Millisecond: "PT1.5S",
		10 * time.Second:        "PT10S",
		time.Microsecond:        "PT0.001S",
		2 * time.Minute:         "PT120S",
	} {
		if got := xsDuration(d); got != want {
			t.Errorf("xsDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// The simulator counts requests per action and fails the next one on
// request, so callers can test what they do on a camera's fault.
func TestSimCountsAndInjectsFaults(t *testing.T) {
	sim, c := connected(t, onvifsim.Options{})
	ctx := testCtx(t)
	sim.FaultNext("ContinuousMove")
	var f *Fault
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Pan: 1}, time.Second); !errors.As(err, &f) || f.Subcode != "NoEntity" {
		t.Fatalf("injected fault: %v", err)
	}
	if err := c.ContinuousMove(ctx, "Profile_1", PTZVelocity{Pan: 1}, time.Second); err != nil {
		t.Fatalf("move after the injected fault: %v", err)
	}
	if n := sim.Count("ContinuousMove"); n != 2 {
		t.Errorf("ContinuousMove counted %d times, want 2", n)
	}
	if n := sim.Count("GetNode"); n != 0 {
		t.Errorf("GetNode counted %d times, want 0", n)
	}
}
