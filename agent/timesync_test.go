package agent

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// clockRig runs the agent against a camera whose clock is skew off, with
// extra onvif config keys, and returns the rig, the agent and its logs.
func clockRig(t *testing.T, skew time.Duration, onvifConfig string) (*rig.Rig, *Agent, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, core)
	})))
	r, a, _ := runRig(t, rig.Options{
		Logger:      log,
		ONVIF:       func(o *onvifsim.Options) { o.ClockSkew = skew },
		ONVIFConfig: onvifConfig,
	})
	// The clock is checked right after the ONVIF connect, before the
	// camera registers: once it is ready, the check is done.
	waitReady(t, r)
	t.Cleanup(func() {
		if v := r.Cloud.Violations(); len(v) > 0 {
			t.Errorf("cloud saw protocol violations: %v", v)
		}
	})
	return r, a, logs
}

// clockSets returns the requests that change the camera's clock setup.
func clockSets(s *onvifsim.Server) []string {
	var out []string
	for _, a := range s.Requests() {
		if a == "SetSystemDateAndTime" || a == "SetNTP" {
			out = append(out, a)
		}
	}
	return out
}

// assertCameraClock checks that the simulated camera's clock is within a
// couple of seconds of the real time.
func assertCameraClock(t *testing.T, s *onvifsim.Server) {
	t.Helper()
	if d := time.Until(s.Now()); d.Abs() > 2*time.Second {
		t.Errorf("camera clock is %s off after the sync", d)
	}
}

// logged returns the log entries with message msg.
func logged(logs *observer.ObservedLogs, msg string) []observer.LoggedEntry {
	return logs.FilterMessage(msg).All()
}

// utcDateTime matches tt:DateTime in its schema order, Time before Date.
var utcDateTime = regexp.MustCompile(`(?s)UTCDateTime>.*?Hour[^>]*>(\d+)<.*?Minute[^>]*>(\d+)<.*?Second[^>]*>(\d+)<` +
	`.*?Year[^>]*>(\d+)<.*?Month[^>]*>(\d+)<.*?Day[^>]*>(\d+)<`)

// sentTime extracts the UTC time of a SetSystemDateAndTime envelope.
func sentTime(t *testing.T, env string) time.Time {
	t.Helper()
	m := utcDateTime.FindStringSubmatch(env)
	if m == nil {
		t.Fatalf("no UTCDateTime in %s", env)
	}
	var v [6]int
	for i := range v {
		v[(i+3)%6], _ = strconv.Atoi(m[i+1]) // year, month, day, hour, minute, second
	}
	return time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC)
}

func TestClockSyncGatewaySetsCameraClock(t *testing.T) {
	r, _, logs := clockRig(t, 90*time.Minute, "clock_sync: gateway")

	if got := clockSets(r.ONVIF); !slices.Equal(got, []string{"SetSystemDateAndTime"}) {
		t.Fatalf("clock requests = %v, want one SetSystemDateAndTime", got)
	}
	env := r.ONVIF.LastRequest("SetSystemDateAndTime")
	if !regexp.MustCompile(`DateTimeType>\s*Manual\s*<`).MatchString(env) {
		t.Errorf("SetSystemDateAndTime is not Manual: %s", env)
	}
	if d := time.Since(sentTime(t, env)); d.Abs() > 5*time.Second {
		t.Errorf("time sent to the camera is %s off the real time", d)
	}
	assertCameraClock(t, r.ONVIF)

	e := logged(logs, "camera clock set to the gateway's time")
	if len(e) != 1 {
		t.Fatalf("got %d sync log lines, want 1", len(e))
	}
	f := e[0].ContextMap()
	before, _ := f["skew_before"].(time.Duration)
	after, _ := f["skew_after"].(time.Duration)
	if f["camera"] != "demo" || (before-90*time.Minute).Abs() > 5*time.Second || after.Abs() > 2*time.Second {
		t.Errorf("sync log fields = %v", f)
	}
}

func TestClockSyncNTP(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		servers      []string // what the camera holds afterwards
		dhcp         bool
	}{
		{"given servers", "clock_sync: ntp, ntp_servers: [ntp1.example.org, 192.0.2.123]",
			[]string{"ntp1.example.org", "192.0.2.123"}, false},
		{"servers from dhcp", "clock_sync: ntp", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, logs := clockRig(t, -3*time.Hour, tc.config)

			if got := r.ONVIF.NTPServers(); !slices.Equal(got, tc.servers) {
				t.Errorf("camera ntp servers = %q, want %q", got, tc.servers)
			}
			env := r.ONVIF.LastRequest("SetNTP")
			if !regexp.MustCompile(`FromDHCP>\s*` + strconv.FormatBool(tc.dhcp) + `\s*<`).MatchString(env) {
				t.Errorf("SetNTP FromDHCP is not %t: %s", tc.dhcp, env)
			}
			// The camera was on a manual clock: it must now be on NTP,
			// and nobody set its clock by hand.
			if env := r.ONVIF.LastRequest("SetSystemDateAndTime"); !regexp.MustCompile(`DateTimeType>\s*NTP\s*<`).MatchString(env) {
				t.Errorf("camera not switched to NTP: %q", env)
			}
			e := logged(logs, "camera clock switched to ntp")
			if len(e) != 1 {
				t.Fatalf("got %d ntp log lines, want 1", len(e))
			}
			f := e[0].ContextMap()
			if before, _ := f["skew_before"].(time.Duration); (before+3*time.Hour).Abs() > 5*time.Second || f["camera"] != "demo" {
				t.Errorf("ntp log fields = %v", f)
			}
		})
	}
}

// TestClockSyncOffOnlyWarnsOnce: with clock_sync off a camera clock 90
// minutes ahead is logged once and shown as one problem, counted at every
// check, saying how far off it is and what to set.
func TestClockSyncOffOnlyWarnsOnce(t *testing.T) {
	// Checks every 50 ms stand in for the hourly ones.
	tm := camera.DefaultTiming
	tm.ClockCheck = 50 * time.Millisecond
	withTiming(t, tm)
	r, a, logs := clockRig(t, 90*time.Minute, "")

	if got := clockSets(r.ONVIF); len(got) != 0 {
		t.Errorf("clock_sync off, yet the camera got %v", got)
	}
	// The periodic checks find the same skew and stay quiet.
	waitClockChecks(t, a, 3)
	if got := clockSets(r.ONVIF); len(got) != 0 {
		t.Errorf("clock_sync off, yet the re-check sent %v", got)
	}
	e := logged(logs, "camera clock is off; set onvif.clock_sync to correct it")
	if len(e) != 1 {
		t.Fatalf("got %d clock warnings, want 1", len(e))
	}
	if e[0].Level != zapcore.WarnLevel || e[0].ContextMap()["camera"] != "demo" {
		t.Errorf("warning = %v %v", e[0].Level, e[0].ContextMap())
	}
	if d := time.Until(r.ONVIF.Now()); (d - 90*time.Minute).Abs() > 2*time.Second {
		t.Errorf("camera clock moved by %s", d-90*time.Minute)
	}
	const words = "camera clock is 1 h 30 min ahead of this machine's: it misdates what the camera stamps (set onvif.clock_sync to gateway or ntp to correct it, or set the camera's clock)"
	waitFor(t, "the clock problem counted at every check", func() bool {
		ps := a.workers[0].Status().Problems
		return len(ps) > 0 && ps[0].What == words && ps[0].Count >= 3
	})
	ps := a.workers[0].Status().Problems
	if n := len(clockProblems(ps)); n != 1 {
		t.Errorf("%d clock problems, want one: %+v", n, ps)
	}
	if !strings.Contains(ps[0].Detail, "1h29m") && !strings.Contains(ps[0].Detail, "1h30m") {
		t.Errorf("clock problem detail %q does not give the measured skew", ps[0].Detail)
	}
}

// clockProblems are the problems about the camera's clock.
func clockProblems(ps []camera.Problem) []camera.Problem {
	var out []camera.Problem
	for _, p := range ps {
		if strings.HasPrefix(p.What, "camera clock") {
			out = append(out, p)
		}
	}
	return out
}

func TestClockSyncLeavesAGoodClockAlone(t *testing.T) {
	// Checks every 50 ms stand in for the hourly ones.
	tm := camera.DefaultTiming
	tm.ClockCheck = 50 * time.Millisecond
	withTiming(t, tm)
	r, a, logs := clockRig(t, 10*time.Second, "clock_sync: gateway, max_clock_skew: 30s")

	if got := clockSets(r.ONVIF); len(got) != 0 {
		t.Errorf("skew under max_clock_skew, yet the camera got %v", got)
	}
	for _, msg := range []string{"camera clock set to the gateway's time", "camera clock is off; set onvif.clock_sync to correct it"} {
		if n := len(logged(logs, msg)); n != 0 {
			t.Errorf("got %d %q lines for a good clock", n, msg)
		}
	}
	if ps := clockProblems(a.workers[0].Status().Problems); len(ps) != 0 {
		t.Errorf("clock problems for a good clock: %+v", ps)
	}

	// Later the camera loses its time (a reboot without a battery): the
	// periodic check measures afresh and corrects it.
	r.ONVIF.SetClockSkew(-20 * time.Minute)
	waitFor(t, "the periodic check to correct the clock", func() bool { return len(clockSets(r.ONVIF)) > 0 })
	waitClockChecks(t, a, a.workers[0].Metrics().ClockChecks+2)
	if got := clockSets(r.ONVIF); !slices.Equal(got, []string{"SetSystemDateAndTime"}) {
		t.Fatalf("after the clock jumped: clock requests = %v, want one SetSystemDateAndTime", got)
	}
	assertCameraClock(t, r.ONVIF)
	e := logged(logs, "camera clock set to the gateway's time")
	if len(e) != 1 {
		t.Fatalf("got %d sync log lines, want 1", len(e))
	}
	if before, _ := e[0].ContextMap()["skew_before"].(time.Duration); (before + 20*time.Minute).Abs() > 5*time.Second {
		t.Errorf("skew_before = %s, want about -20m", before)
	}
}

// waitClockChecks waits until the camera made at least n clock checks.
func waitClockChecks(t *testing.T, a *Agent, n int64) {
	t.Helper()
	waitFor(t, "the periodic clock checks", func() bool { return a.workers[0].Metrics().ClockChecks >= n })
}
