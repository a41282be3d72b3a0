package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
	"github.com/camagent/camagent/uplink"
)

// testTiming is what the agents the tests start run their cameras on
// (Options.timing); zero fields keep the defaults.
var testTiming camera.Timing

// eventTiming is the default timing with the event pipeline's hold,
// repeat and resubscribe delay replaced, and no minimum interval between
// two starts.
func eventTiming(hold, repeat, retryMin time.Duration) camera.Timing {
	tm := camera.DefaultTiming
	tm.EventMinInterval, tm.EventHold, tm.EventRepeat, tm.EventRetryMin = 0, hold, repeat, retryMin
	return tm
}

// withTiming runs the cameras of agents started later in the test on tm.
func withTiming(t *testing.T, tm camera.Timing) {
	t.Helper()
	testTiming = tm
	t.Cleanup(func() { testTiming = camera.Timing{} })
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func motionEvents(r *rig.Rig) []map[string]any {
	var out []map[string]any
	for _, e := range r.Cloud.Events() {
		if e["event"] == "motion" {
			out = append(out, e)
		}
	}
	return out
}

func eventTime(t *testing.T, e map[string]any) time.Time {
	t.Helper()
	n, ok := e["time"].(json.Number)
	if !ok {
		t.Fatalf("cam_event time %v is not a number", e["time"])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(int64(f * 1000))
}

func noViolations(t *testing.T, r *rig.Rig) {
	t.Helper()
	if v := r.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// eventsReady brings the camera online, lets the cloud read the event
// declaration (as it does after every connect) and waits until the agent
// holds a subscription on the camera.
func eventsReady(t *testing.T, r *rig.Rig) map[string]any {
	t.Helper()
	waitReady(t, r)
	conf := request(t, r, "get_cam_events", nil)
	waitFor(t, "an event subscription on the camera", func() bool { return r.ONVIF.Subscriptions() > 0 })
	return conf
}

// TestMotionReachesTheCloud: each vendor way of reporting motion, from a
// camera whose clock is hours off, becomes cam_event motion stamped with
// the true UTC time, repeated while it lasts and ended even when the
// camera never says so.
func TestMotionReachesTheCloud(t *testing.T) {
	const skew = 3 * time.Hour
	for _, c := range []struct {
		name       string
		style      string
		neverStops bool
	}{
		{"motion alarm state", onvifsim.MotionStyleMotionAlarm, false},
		{"cell motion that never stops", onvifsim.MotionStyleCellMotion, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tm := eventTiming(30*time.Second, 50*time.Millisecond, 50*time.Millisecond)
			if c.neverStops {
				// The hold must end the activity; no repeats in between.
				tm = eventTiming(200*time.Millisecond, time.Minute, 50*time.Millisecond)
			}
			withTiming(t, tm)
			r, a, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
				o.ClockSkew, o.MotionStyle, o.NeverSendsStop = skew, c.style, c.neverStops
			}})
			conf := eventsReady(t, r)
			// The sim lists motion and sound topics; sound and the periodic
			// snapshot are declared but off until the cloud enables them.
			if got := mustJSON(t, conf["events"]); got != `[{"active":true,"caps":{"periodic":false,"snapshot":true,"stream":true,"trigger":true},"event":"motion","snapshot":false,"stream":false},`+
				`{"active":false,"caps":{"periodic":true,"snapshot":true,"stream":false,"trigger":false},"event":"snapshot","period":300,"snapshot":false,"stream":false},`+
				`{"active":false,"caps":{"periodic":false,"snapshot":true,"stream":true,"trigger":false},"event":"sound","snapshot":false,"stream":false}]` || conf["enabled"] != true {
				t.Errorf("cam_events_conf = %v", conf)
			}
			cam := a.workers[0]

			r.ONVIF.TriggerMotion(true)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			first, err := r.Cloud.WaitEvent(ctx, func(m map[string]any) bool { return m["event"] == "motion" })
			if err != nil {
				t.Fatalf("no motion event in the cloud: %v", err)
			}
			if at := eventTime(t, first); at.Sub(time.Now()).Abs() > time.Minute {
				t.Errorf("event time %v is not the true time (camera clock is %v ahead)", at.UTC(), skew)
			}
			if first["status"] != "OK" || mustJSON(t, first["motion_info"]) != "{}" {
				t.Errorf("cam_event = %v, want status OK and motion_info {}", first)
			}

			if c.neverStops {
				waitFor(t, "the hold to end the motion", func() bool { return cam.Metrics().EventsEnded == 1 })
				// The camera's next report is a new start, not an extension.
				r.ONVIF.TriggerMotion(false)
				r.ONVIF.TriggerMotion(true)
				waitFor(t, "a second motion event", func() bool { return len(motionEvents(r)) == 2 })
			} else {
				waitFor(t, "the motion to be repeated while it lasts", func() bool { return len(motionEvents(r)) >= 3 })
				r.ONVIF.TriggerMotion(false)
				waitFor(t, "the camera's stop to end the motion", func() bool { return cam.Metrics().EventsEnded == 1 })
				evs := motionEvents(r)
				for i := 1; i < len(evs); i++ {
					if !eventTime(t, evs[i]).After(eventTime(t, evs[i-1])) {
						t.Errorf("repeat %d has time %v, not after %v", i, evs[i]["time"], evs[i-1]["time"])
					}
				}
			}
			noViolations(t, r)
		})
	}
}

// TestEventsOffSendNothing: with events disabled or motion inactive the
// camera's motion is dropped, and turning motion back on delivers again.
func TestEventsOffSendNothing(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	waitFor(t, "an event subscription on the camera", func() bool { return r.ONVIF.Subscriptions() > 0 })
	cam := a.workers[0]
	motion := func() {
		r.ONVIF.TriggerMotion(true)
		r.ONVIF.TriggerMotion(false)
	}

	// Until the cloud has read the declaration on this connection, a
	// motion waits in the queue (docs/protocol.md#get-cam-events).
	motion()
	waitFor(t, "the undeclared motion to be queued", func() bool { return cam.UploadQueue().Items == 1 })
	if n := len(motionEvents(r)); n != 0 {
		t.Fatalf("%d events sent before the declaration", n)
	}
	request(t, r, "get_cam_events", nil)
	waitFor(t, "the queued motion after the declaration", func() bool { return len(motionEvents(r)) == 1 })

	if rep := request(t, r, "set_cam_events", map[string]any{"enabled": false}); rep["status"] != "OK" {
		t.Fatalf("set_cam_events: %v", rep)
	}
	motion()
	waitFor(t, "the motion to be dropped", func() bool { return cam.Metrics().EventsDropped == 1 })

	rep := request(t, r, "set_cam_events", map[string]any{"enabled": true, "events": []any{
		map[string]any{"event": "motion", "active": false}, map[string]any{"event": "doorbell", "active": true}}})
	if rep["status"] != "OK" {
		t.Fatalf("set_cam_events: %v", rep)
	}
	motion()
	waitFor(t, "the motion to be dropped", func() bool { return cam.Metrics().EventsDropped == 2 })
	if rep := request(t, r, "cam_trigger_event", map[string]any{"event": "motion"}); rep["status"] != "INVALID_PARAM" {
		t.Errorf("trigger of inactive motion: %v, want INVALID_PARAM", rep)
	}
	if n := len(r.Cloud.Events()); n != 1 {
		t.Fatalf("%d events reached the cloud, want the one before it was off: %v", n, r.Cloud.Events())
	}

	conf := request(t, r, "get_cam_events", nil)
	if got := mustJSON(t, conf["events"]); !strings.Contains(got, `"active":false`) || strings.Contains(got, "doorbell") {
		t.Errorf("cam_events_conf after set = %s", got)
	}
	request(t, r, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true}}})
	motion()
	waitFor(t, "motion once it is on again", func() bool { return len(motionEvents(r)) == 2 })

	// Passive mode sends no events (docs/protocol.md#passive-mode).
	request(t, r, "set_cam_parameter", map[string]any{"activity": false})
	motion()
	waitFor(t, "the motion in passive mode to be dropped", func() bool { return cam.Metrics().EventsDropped == 3 })
	request(t, r, "set_cam_parameter", map[string]any{"activity": true})
	motion()
	waitFor(t, "motion after passive mode", func() bool { return len(motionEvents(r)) == 3 })
	noViolations(t, r)
}

// TestEventsWaitForDeclarationAfterReconnect: after the connection drops,
// events wait until the cloud has read the declaration again, and then
// arrive with the time they happened.
func TestEventsWaitForDeclarationAfterReconnect(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	cam := a.workers[0]
	r.Cloud.DropConnections()
	waitFor(t, "a new connection", func() bool { return r.Cloud.Connections() == 2 })
	waitReady(t, r)
	r.ONVIF.TriggerMotion(true)
	r.ONVIF.TriggerMotion(false)
	waitFor(t, "the motion to be held back", func() bool { return cam.UploadQueue().Items == 1 })
	if n := len(motionEvents(r)); n != 0 {
		t.Fatalf("%d events sent before the declaration", n)
	}
	request(t, r, "get_cam_events", nil)
	waitFor(t, "the held-back motion after the declaration", func() bool { return len(motionEvents(r)) == 1 })
	if cam.Metrics().EventsDropped != 0 {
		t.Errorf("%d events dropped", cam.Metrics().EventsDropped)
	}
	noViolations(t, r)
}

// startAgent runs an agent for the rig with the given state directory and
// returns a function that stops it.
func startAgent(t *testing.T, r *rig.Rig, stateDir string) func() {
	t.Helper()
	_, stop := startAgentWith(t, r, stateDir)
	return stop
}

// TestEventSettingsSurviveRestart: what the cloud set is kept in state_dir
// (0600) and declared again by the next run before the cloud re-sends it.
func TestEventSettingsSurviveRestart(t *testing.T) {
	r, err := rig.Start(rig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	dir := t.TempDir()

	stop := startAgent(t, r, dir)
	waitReady(t, r)
	request(t, r, "get_cam_events", nil)
	rep := request(t, r, "set_cam_events", map[string]any{"enabled": false, "events": []any{
		map[string]any{"event": "motion", "active": false, "stream": true, "snapshot": true},
		map[string]any{"event": "snapshot", "active": true, "stream": true, "period": 60}}})
	if rep["status"] != "OK" {
		t.Fatalf("set_cam_events: %v", rep)
	}
	stop()

	fi, err := os.Stat(filepath.Join(dir, "demo.events.json"))
	if err != nil {
		t.Fatalf("event settings not saved beside the session state: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("settings file mode %v, want 0600", fi.Mode().Perm())
	}

	startAgent(t, r, dir)
	waitFor(t, "the second run to connect", func() bool { return r.Cloud.Connections() == 2 })
	waitReady(t, r)
	conf := request(t, r, "get_cam_events", nil)
	// stream was asked for the snapshot event too, but its caps do not allow it.
	want := `[{"active":false,"caps":{"periodic":false,"snapshot":true,"stream":true,"trigger":true},"event":"motion","snapshot":true,"stream":true},` +
		`{"active":true,"caps":{"periodic":true,"snapshot":true,"stream":false,"trigger":false},"event":"snapshot","period":60,"snapshot":false,"stream":false},` +
		`{"active":false,"caps":{"periodic":false,"snapshot":true,"stream":true,"trigger":false},"event":"sound","snapshot":false,"stream":false}]`
	if conf["enabled"] != false || mustJSON(t, conf["events"]) != want {
		t.Errorf("cam_events_conf after restart = enabled %v events %s, want disabled %s", conf["enabled"], mustJSON(t, conf["events"]), want)
	}
	noViolations(t, r)
}

// TestEventsResubscribeAfterCameraReboot: a camera that forgets its
// subscriptions gets a new one and its motion still arrives.
func TestEventsResubscribeAfterCameraReboot(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, _, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	count := func() int {
		n := 0
		for _, a := range r.ONVIF.Requests() {
			if a == "CreatePullPointSubscription" {
				n++
			}
		}
		return n
	}
	before := count()
	r.ONVIF.DropSubscriptions()
	waitFor(t, "a new subscription", func() bool { return count() > before && r.ONVIF.Subscriptions() == 1 })
	r.ONVIF.TriggerMotion(true)
	waitFor(t, "motion after the reboot", func() bool { return len(motionEvents(r)) == 1 })
	noViolations(t, r)
}

// TestEventsAfterCameraSwitchedOff: a camera switched off (its ONVIF port
// refuses, its subscriptions are gone) and on again is subscribed to once
// more, with one new subscription, and its motion arrives.
func TestEventsAfterCameraSwitchedOff(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, _, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	before := r.ONVIF.Count("CreatePullPointSubscription")
	r.ONVIF.Stop()
	time.Sleep(1500 * time.Millisecond) // several knocks find it off
	if err := r.ONVIF.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new subscription", func() bool { return r.ONVIF.Subscriptions() == 1 })
	if n := r.ONVIF.Count("CreatePullPointSubscription") - before; n != 1 {
		t.Errorf("%d subscriptions after the camera came back, want 1", n)
	}
	r.ONVIF.TriggerMotion(true)
	waitFor(t, "motion after the camera came back", func() bool { return len(motionEvents(r)) == 1 })
	noViolations(t, r)
}

// TestTriggerEvent: cam_trigger_event fires a declared, active,
// triggerable event with the given time and meta; anything else is
// INVALID_PARAM.
func TestTriggerEvent(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	request(t, r, "get_cam_events", nil)
	rep := request(t, r, "cam_trigger_event", map[string]any{"event": "motion", "time": 1710408413.512, "meta": map[string]any{"source": "api"}})
	if rep["cmd"] != "done" || rep["status"] != "OK" {
		t.Fatalf("cam_trigger_event motion: %v", rep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := r.Cloud.WaitEvent(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev["event"] != "motion" || ev["time"] != json.Number("1710408413.512") || mustJSON(t, ev["meta"]) != `{"source":"api"}` {
		t.Errorf("triggered cam_event = %v", ev)
	}
	if rep := request(t, r, "cam_trigger_event", map[string]any{"event": "doorbell"}); rep["status"] != "INVALID_PARAM" {
		t.Errorf("trigger of an undeclared event: %v, want INVALID_PARAM", rep)
	}
	noViolations(t, r)
}

// TestMotionGrid: the camera's cell mask reaches the cloud as a VXG grid
// and back, scaled when the camera's layout is finer than the cloud's.
func TestMotionGrid(t *testing.T) {
	for _, c := range []struct {
		name                   string
		camCols, camRows       int
		cloudCols, cloudRows   int
		defaultLayout, scaling bool
	}{
		{name: "camera layout as is", camCols: 22, camRows: 18, cloudCols: 22, cloudRows: 18, defaultLayout: true},
		{name: "fine layout halved", camCols: 44, camRows: 36, cloudCols: 22, cloudRows: 18, scaling: true},
		{name: "small layout", camCols: 8, camRows: 6, cloudCols: 8, cloudRows: 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) {
				if !c.defaultLayout {
					o.CellColumns, o.CellRows = c.camCols, c.camRows
				}
			}})
			waitReady(t, r)
			conf := request(t, r, "get_motion_detection", nil)
			if conf["cmd"] != "motion_detection_conf" || conf["columns"] != json.Number(strconv.Itoa(c.cloudCols)) || conf["rows"] != json.Number(strconv.Itoa(c.cloudRows)) {
				t.Fatalf("motion_detection_conf = %v, want %dx%d", conf, c.cloudCols, c.cloudRows)
			}
			if got := mustJSON(t, conf["caps"]); got != `{"max_regions":1,"region_shape":"any","sensitivity":"frame"}` {
				t.Errorf("caps = %s", got)
			}
			cols, rows, cells := r.ONVIF.MotionCells()
			regions := conf["regions"].([]any)
			reg := regions[0].(map[string]any)
			got, err := uplink.DecodeGrid(reg["map"].(string), c.cloudCols, c.cloudRows)
			if err != nil {
				t.Fatal(err)
			}
			if want := uplink.ScaleGrid(cells, cols, rows, c.cloudCols, c.cloudRows); len(regions) != 1 || reg["region"] != "region_0" || !slices.Equal(got, want) {
				t.Errorf("region %v does not show the camera's cells", reg)
			}

			// The lower-right quarter of the cloud's grid, sensitivity 30.
			block := make([]bool, c.cloudCols*c.cloudRows)
			for y := c.cloudRows / 2; y < c.cloudRows; y++ {
				for x := c.cloudCols / 2; x < c.cloudCols; x++ {
					block[y*c.cloudCols+x] = true
				}
			}
			mp := uplink.EncodeGrid(c.cloudCols, c.cloudRows, block)
			rep := request(t, r, "set_motion_detection", map[string]any{"regions": []any{
				map[string]any{"region": "region_0", "map": mp, "sensitivity": 30, "enabled": true}}})
			if rep["cmd"] != "done" || rep["status"] != "OK" {
				t.Fatalf("set_motion_detection: %v", rep)
			}
			if req := r.ONVIF.LastRequest("ModifyRules"); !strings.Contains(req, "ActiveCells") {
				t.Errorf("camera got no ActiveCells: %q", req)
			}
			_, _, cells = r.ONVIF.MotionCells()
			if want := uplink.ScaleGrid(block, c.cloudCols, c.cloudRows, c.camCols, c.camRows); !slices.Equal(cells, want) {
				t.Errorf("camera cells after set differ from the cloud's map scaled to %dx%d", c.camCols, c.camRows)
			}
			if s := r.ONVIF.MotionSensitivity(); s != 30 {
				t.Errorf("camera sensitivity %d, want 30", s)
			}
			conf = request(t, r, "get_motion_detection", nil)
			if got := mustJSON(t, conf["regions"]); got != `[{"enabled":true,"map":"`+mp+`","region":"region_0","sensitivity":30}]` {
				t.Errorf("regions read back = %s, want the map that was set", got)
			}

			// A disabled region clears the camera's mask.
			request(t, r, "set_motion_detection", map[string]any{"regions": []any{
				map[string]any{"region": "region_0", "map": mp, "sensitivity": 30, "enabled": false}}})
			if _, _, cells = r.ONVIF.MotionCells(); slices.Contains(cells, true) {
				t.Error("cells still active after disabling the region")
			}
			if reg := request(t, r, "get_motion_detection", nil)["regions"].([]any)[0].(map[string]any); reg["enabled"] != false {
				t.Errorf("region after disabling = %v", reg)
			}
			noViolations(t, r)
		})
	}
}

// TestMotionGridRejects: more regions than the camera has and maps that do
// not fit its grid are refused without touching the camera.
func TestMotionGridRejects(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	full := uplink.EncodeGrid(22, 18, slices.Repeat([]bool{true}, 22*18))
	for _, c := range []struct {
		name    string
		regions []any
		status  string
	}{
		{"two regions", []any{
			map[string]any{"region": "region_0", "map": full, "sensitivity": 50, "enabled": true},
			map[string]any{"region": "region_1", "map": full, "sensitivity": 50, "enabled": true}}, "TOO_MANY"},
		{"map of another grid", []any{map[string]any{"region": "region_0", "map": "0TE=", "sensitivity": 50, "enabled": true}}, "INVALID_PARAM"},
		{"map that is not a grid", []any{map[string]any{"region": "region_0", "map": "AAAA", "sensitivity": 50, "enabled": true}}, "INVALID_PARAM"},
		{"sensitivity out of range", []any{map[string]any{"region": "region_0", "map": full, "sensitivity": 101, "enabled": true}}, "INVALID_PARAM"},
	} {
		rep := request(t, r, "set_motion_detection", map[string]any{"regions": c.regions})
		if rep["cmd"] != "done" || rep["status"] != c.status {
			t.Errorf("%s: %v, want %s", c.name, rep, c.status)
		}
	}
	if req := r.ONVIF.LastRequest("ModifyRules"); req != "" {
		t.Error("a refused set_motion_detection reached the camera")
	}
	noViolations(t, r)
}

// TestDetectionNotSupported: a camera without a cell motion engine and
// without an events service answers NOT_SUPPORTED for the detectors, as
// does audio detection, which ONVIF gives the agent no way to read.
func TestDetectionNotSupported(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{ONVIF: func(o *onvifsim.Options) { o.NoAnalytics, o.NoEvents = true, true }})
	waitReady(t, r)
	full := uplink.EncodeGrid(22, 18, slices.Repeat([]bool{true}, 22*18))
	for _, c := range []struct {
		cmd  string
		body any
	}{
		{"get_motion_detection", nil},
		{"set_motion_detection", map[string]any{"regions": []any{map[string]any{"region": "region_0", "map": full, "sensitivity": 50, "enabled": true}}}},
		{"get_audio_detection", nil},
		{"set_audio_detection", map[string]any{"level": 40, "length": 500}},
	} {
		if rep := request(t, r, c.cmd, c.body); rep["cmd"] != "done" || rep["status"] != "NOT_SUPPORTED" {
			t.Errorf("%s: %v, want NOT_SUPPORTED", c.cmd, rep)
		}
	}
	// Motion stays declared: cam_trigger_event can still fire it.
	if conf := request(t, r, "get_cam_events", nil); conf["cmd"] != "cam_events_conf" {
		t.Errorf("get_cam_events: %v", conf)
	}
	noViolations(t, r)
}

// TestConfigureTimeZoneReachesCamera: the zone the cloud user picks is set
// on the camera as a POSIX TZ.
func TestConfigureTimeZoneReachesCamera(t *testing.T) {
	r, _, _ := runRig(t, rig.Options{})
	waitReady(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Cloud.Configure(ctx, map[string]any{"tz": "Europe/Berlin"}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	waitFor(t, "SetSystemDateAndTime with Berlin's zone", func() bool {
		return strings.Contains(r.ONVIF.LastRequest("SetSystemDateAndTime"), "CET-1CEST,M3.5.0,M10.5.0/3")
	})
	noViolations(t, r)
}

// TestSoundEventsWhenEnabled: a camera that lists a sound-detection topic
// gets sound declared, off by default; once the cloud enables it, the
// camera's sound detection reaches the cloud as cam_event sound.
func TestSoundEventsWhenEnabled(t *testing.T) {
	withTiming(t, eventTiming(30*time.Second, time.Minute, 50*time.Millisecond))
	r, a, _ := runRig(t, rig.Options{})
	eventsReady(t, r)
	cam := a.workers[0]
	r.ONVIF.TriggerSound(true)
	waitFor(t, "the sound to be dropped while inactive", func() bool { return cam.Metrics().EventsDropped > 0 })
	r.ONVIF.TriggerSound(false)
	rep := request(t, r, "set_cam_events", map[string]any{"enabled": true, "events": []any{
		map[string]any{"event": "sound", "active": true, "stream": false, "snapshot": false}}})
	if rep["status"] != "OK" {
		t.Fatalf("set_cam_events: %v", rep)
	}
	r.ONVIF.TriggerSound(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.Cloud.WaitEvent(ctx, func(m map[string]any) bool { return m["event"] == "sound" }); err != nil {
		t.Fatalf("no sound event in the cloud: %v", err)
	}
	var sounds int
	for _, e := range r.Cloud.Events() {
		if e["event"] == "sound" {
			sounds++
		}
	}
	if sounds != 1 {
		t.Errorf("%d sound events, want 1: the sound before it was enabled must not be sent", sounds)
	}
	noViolations(t, r)
}
