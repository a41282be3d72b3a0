package onvif

import (
	"reflect"
	"testing"
	"time"

	"github.com/camagent/camagent/onvif/onvifsim"
)

func TestPosixTZ(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"},
		{"America/New_York", "EST5EDT,M3.2.0,M11.1.0"},
		{"Asia/Kolkata", "IST-5:30"},
		{"Asia/Tokyo", "JST-9"},
		{"UTC", "UTC0"},
		{"CST-8", "CST-8"},
		{"<+0330>-3:30", "<+0330>-3:30"},
	} {
		got, err := PosixTZ(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("PosixTZ(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Local", "Europe/"} {
		if got, err := PosixTZ(bad); err == nil {
			t.Errorf("PosixTZ(%q) = %q, want error", bad, got)
		}
	}
}

func TestSetTimeZone(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{ClockSkew: 2 * time.Hour})
	ctx := testCtx(t)
	st, err := c.SetTimeZone(ctx, "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if st.TZ != "CET-1CEST,M3.5.0,M10.5.0/3" || st.NTP {
		t.Fatalf("read back %+v", st)
	}
	// Only the zone changed: the camera is still two hours ahead.
	if d := sim.Now().Sub(time.Now()); d < 2*time.Hour-3*time.Second || d > 2*time.Hour+3*time.Second {
		t.Fatalf("camera clock moved: now %v ahead", d)
	}
	if _, err := c.SetTimeZone(ctx, "Mars/Olympus_Mons"); err == nil {
		t.Fatal("unknown zone accepted")
	}
	if n := count(sim.Requests(), "SetSystemDateAndTime"); n != 1 {
		t.Fatalf("%d SetSystemDateAndTime sent, want 1 (none for the bad zone)", n)
	}
}

func TestSyncTime(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{ClockSkew: 3 * time.Hour})
	ctx := testCtx(t)
	if _, err := c.SetTimeZone(ctx, "America/New_York"); err != nil {
		t.Fatal(err)
	}
	st, err := c.SyncTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TZ != "EST5EDT,M3.2.0,M11.1.0" || st.NTP {
		t.Fatalf("read back %+v: zone lost or mode wrong", st)
	}
	if d := sim.Now().Sub(time.Now()); d < -2*time.Second || d > 2*time.Second {
		t.Fatalf("camera clock still %v off", d)
	}
	if off := c.ClockOffset(); off < -2*time.Second || off > 2*time.Second {
		t.Fatalf("offset not re-measured: %v", off)
	}
	// Authentication (computed with the new offset) still works.
	if _, err := c.DeviceInfo(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSetNTP(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{})
	ctx := testCtx(t)
	servers := []string{"pool.ntp.org", "192.168.1.1"}
	got, err := c.SetNTP(ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, servers) || !reflect.DeepEqual(sim.NTPServers(), servers) {
		t.Fatalf("read back %v, camera holds %v", got, sim.NTPServers())
	}
	st, err := c.SystemTime(ctx)
	if err != nil || !st.NTP || st.TZ != "UTC0" {
		t.Fatalf("system time %+v %v: want NTP mode, zone kept", st, err)
	}
	// Changing the zone keeps NTP mode.
	if st, err = c.SetTimeZone(ctx, "Asia/Tokyo"); err != nil || !st.NTP || st.TZ != "JST-9" {
		t.Fatalf("set zone in NTP mode: %+v %v", st, err)
	}
	if _, err := c.SetNTP(ctx, []string{""}); err == nil {
		t.Fatal("empty server accepted")
	}
}
