package uplink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
	"go.uber.org/zap/zaptest"
)

const waitLimit = 10 * time.Second

// fakeClock hands every requested delay to the test, which must take it
// from sleeps; the sleep then ends at once. Now only moves by Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps chan time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), sleeps: make(chan time.Duration)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case c.sleeps <- d:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next returns the next delay the session asks for.
func (c *fakeClock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.sleeps:
		return d
	case <-time.After(waitLimit):
		t.Fatal("no delay requested")
		return 0
	}
}

// noSleep asserts the session is not waiting to reconnect right now.
func (c *fakeClock) noSleep(t *testing.T) {
	t.Helper()
	select {
	case d := <-c.sleeps:
		t.Fatalf("unexpected delay %v requested", d)
	default:
	}
}

// handler stands in for the camera worker.
type handler struct {
	mu       sync.Mutex
	links    []uplink.Link
	downs    int
	handled  []string
	reqs     []uplink.Request
	infoErrs int // CameraInfo fails this many times first
	block    chan struct{}
	// blocked, when set, is told each time Handle starts waiting on block.
	blocked  chan struct{}
	ready    chan uplink.Link
	problems []string
	// then, when set, is attached with Reply.Then to the done of cam_get_log.
	then func()
	// events, when set, answers get_cam_events.
	events *uplink.CamEventsConf
}

func (h *handler) Problem(refID int64, origCmd, reason string) {
	h.mu.Lock()
	h.problems = append(h.problems, fmt.Sprintf("%d %s %s", refID, origCmd, reason))
	h.mu.Unlock()
}

func newHandler() *handler { return &handler{ready: make(chan uplink.Link, 16)} }

func (h *handler) CameraInfo(ctx context.Context) (uplink.CameraInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.infoErrs > 0 {
		h.infoErrs--
		return uplink.CameraInfo{}, errors.New("onvif: camera unreachable")
	}
	return uplink.CameraInfo{IP: "192.168.1.64", Brand: "ExampleCam", Model: "EC-200", SN: "EC200-0001234", Version: "2.4.1", Type: "bullet"}, nil
}

func (h *handler) Ready(l uplink.Link) {
	h.mu.Lock()
	h.links = append(h.links, l)
	h.mu.Unlock()
	h.ready <- l
}

func (h *handler) Down() {
	h.mu.Lock()
	h.downs++
	h.mu.Unlock()
}

func (h *handler) Handle(ctx context.Context, req uplink.Request) uplink.Reply {
	h.mu.Lock()
	h.handled = append(h.handled, req.Cmd())
	h.reqs = append(h.reqs, req)
	block, blocked := h.block, h.blocked
	h.mu.Unlock()
	if block != nil {
		if blocked != nil {
			blocked <- struct{}{}
		}
		select {
		case <-block:
		case <-ctx.Done():
			return uplink.Done(uplink.StatusError, ctx.Err())
		}
	}
	switch req := req.(type) {
	case *uplink.CamGetLog:
		h.mu.Lock()
		then := h.then
		h.mu.Unlock()
		return uplink.Done(uplink.StatusOK).Then(then)
	case *uplink.GetCamStatus:
		return uplink.Answer(uplink.CamStatus{IP: "192.168.1.64", Activity: true, StatusLED: false})
	case *uplink.GetCamEvents:
		if h.events != nil {
			return uplink.Answer(*h.events)
		}
	case *uplink.StreamStart:
		if req.StreamID != "Main" {
			return uplink.Done(uplink.StatusInvalidParam)
		}
		return uplink.Done(uplink.StatusOK)
	}
	return uplink.Done(uplink.StatusNotSupported)
}

func (h *handler) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.handled...)
}

func newSim(t *testing.T, opts cloudsim.Options) *cloudsim.Server {
	t.Helper()
	opts.Logger = zaptest.NewLogger(t).Named("cloudsim")
	sim, err := cloudsim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sim.Close()
		if v := sim.Violations(); len(v) > 0 {
			t.Errorf("protocol violations: %q", v)
		}
	})
	return sim
}

type agent struct {
	s    *uplink.Session
	clk  *fakeClock
	h    *handler
	opts uplink.Options
	stop func() error
	done chan struct{} // closed when Run returned
	err  error         // Run's result, valid after done
}

func startAgent(t *testing.T, sim *cloudsim.Server, mod func(*uplink.Options)) *agent {
	t.Helper()
	tok, err := uplink.DecodeToken(sim.Token())
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{clk: newFakeClock(), h: newHandler()}
	a.opts = uplink.Options{Token: tok, Insecure: sim.CertPool() == nil, RootCAs: sim.CertPool(),
		StatePath: filepath.Join(t.TempDir(), "state.json"), Version: "camagent/test", Vendor: "camagent", TZ: "UTC",
		Handler: a.h, Logger: zaptest.NewLogger(t).Named("uplink"), Clock: a.clk, Rand: func() float64 { return 0.5 }}
	if mod != nil {
		mod(&a.opts)
	}
	a.run(t)
	return a
}

func (a *agent) run(t *testing.T) {
	a.s = uplink.NewSession(a.opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.done = done
	go func() {
		a.err = a.s.Run(ctx)
		close(done)
	}()
	a.stop = func() error {
		cancel()
		select {
		case <-done:
			return a.err
		case <-time.After(waitLimit):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { a.stop() })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func (a *agent) waitReady(t *testing.T) uplink.Link {
	t.Helper()
	select {
	case l := <-a.h.ready:
		return l
	case <-time.After(waitLimit):
		t.Fatal("camera never READY")
		return uplink.Link{}
	}
}

// readyOn waits until both ends agree the camera is READY: the agent's
// Ready ran and sim has seen the done for cam_hello.
func (a *agent) readyOn(t *testing.T, sim *cloudsim.Server) uplink.Link {
	t.Helper()
	l := a.waitReady(t)
	if err := sim.WaitReady(ctxT(t), sim.CamID()); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFirstRegistration(t *testing.T) {
	sim := newSim(t, cloudsim.Options{MediaServer: "127.0.0.1:1935", UploadURI: "http://127.0.0.1:1"})
	a := startAgent(t, sim, nil)
	link := a.waitReady(t)
	if err := sim.WaitReady(ctxT(t), sim.CamID()); err != nil {
		t.Fatal(err)
	}
	if a.s.State() != uplink.StateReady || a.s.State().String() != "ready" {
		t.Errorf("state %v", a.s.State())
	}
	if link.CamID != sim.CamID() || link.SID == "" || link.MediaServer != "127.0.0.1:1935" || link.Secure ||
		!link.Activity || !strings.HasPrefix(link.Path, "live/") || link.UploadURI != "http://127.0.0.1:1" {
		t.Errorf("link %+v", link)
	}
	regs := sim.Registrations()
	if len(regs) != 1 {
		t.Fatalf("%d registrations", len(regs))
	}
	r := regs[0]
	if r["reg_token"] != sim.Secret() || r["pwd"] != nil || r["prev_sid"] != nil || r["tz"] != "UTC" || r["ver"] != "camagent/test" {
		t.Errorf("first register %v", r)
	}
	if mp, _ := json.Marshal(r["media_protocols"]); string(mp) != `["rtmp"]` {
		t.Errorf("media_protocols %s on ws", mp)
	}
	rep, err := sim.Request(ctxT(t), sim.CamID(), uplink.CmdGetCamStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep["cmd"] != uplink.CmdCamStatus || rep["ip"] != "192.168.1.64" || rep["activity"] != true || rep["streaming"] != false {
		t.Errorf("cam_status %v", rep)
	}
	// configure and hello were persisted, mode 0600 (docs/protocol.md#state).
	fi, err := os.Stat(a.opts.StatePath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state mode %v", fi.Mode().Perm())
	}
	st, err := uplink.LoadState(a.opts.StatePath, a.opts.Token)
	if err != nil || st.Pwd == "" || st.UUID == "" || st.ConnID == "" || st.TZ != "UTC" || st.SID != link.SID {
		t.Errorf("state %+v, %v", st, err)
	}
	// record needs no cam_events_conf declaration (docs/protocol.md#get-cam-events), so the strict sim accepts it here.
	if err := a.s.Send(ctxT(t), "cam_event", map[string]any{"event": "record", "time": 1710408413.5, "status": "OK",
		"record_info": map[string]any{"on": true, "stream_id": "Main"}}); err != nil {
		t.Fatal(err)
	}
	if err := sim.Wait(ctxT(t), func() bool { return len(sim.Received()) == 1 }); err != nil {
		t.Fatal(err)
	}
	if ev := sim.Received()[0]; ev["cmd"] != "cam_event" || ev["cam_id"] != json.Number("310042") {
		t.Errorf("event %v", ev)
	}
}

func TestSubprotocolEchoed(t *testing.T) {
	sim := newSim(t, cloudsim.Options{EchoSubprotocol: true})
	a := startAgent(t, sim, nil)
	a.readyOn(t, sim)
}

func TestSendBeforeReady(t *testing.T) {
	s := uplink.NewSession(uplink.Options{Handler: newHandler()})
	if err := s.Send(context.Background(), "cam_event", map[string]any{}); !errors.Is(err, uplink.ErrNotReady) {
		t.Fatalf("err = %v", err)
	}
	if s.State() != uplink.StateDisconnected {
		t.Errorf("state %v", s.State())
	}
}

func TestShutdownSendsByeAndClose1000(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	a.waitReady(t)
	if err := a.stop(); err != nil {
		t.Fatalf("Run returned %v on cancel", err)
	}
	if err := sim.Wait(ctxT(t), func() bool { return len(sim.CloseCodes()) == 1 }); err != nil {
		t.Fatal(err)
	}
	if b := sim.Byes(); len(b) != 1 || b[0] != uplink.ByeShutdown {
		t.Errorf("byes %v", b)
	}
	if c := sim.CloseCodes(); c[0] != 1000 {
		t.Errorf("close code %d", c[0])
	}
	if a.h.downs != 1 {
		t.Errorf("Down called %d times", a.h.downs)
	}
}

// docs/protocol.md#reconnect: after a drop the agent waits, re-registers with pwd and prev_sid;
// the same holds across a process restart through the state file.
func TestReconnectSendsStoredCredentials(t *testing.T) {
	sim := newSim(t, cloudsim.Options{Pwd: "c8Zk2Lq0", TZ: "Europe/Berlin"})
	a := startAgent(t, sim, nil)
	first := a.waitReady(t)
	sim.DropConnections()
	if d := a.clk.next(t); d != 5*time.Second {
		t.Errorf("delay after drop %v, want 5s", d)
	}
	second := a.waitReady(t)
	regs := sim.Registrations()
	if len(regs) != 2 || regs[1]["pwd"] != "c8Zk2Lq0" || regs[1]["prev_sid"] != first.SID || regs[1]["tz"] != "Europe/Berlin" {
		t.Fatalf("registrations %v", regs)
	}
	if c := a.s.Counts(); c != (uplink.Counts{Attempts: 2, Registrations: 2}) {
		t.Errorf("counts after one drop %+v, want 2 attempts, 2 registrations", c)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if a.h.downs != 2 {
		t.Errorf("Down called %d times, want 2", a.h.downs)
	}
	a.run(t) // new process, same state file
	a.waitReady(t)
	regs = sim.Registrations()
	if len(regs) != 3 || regs[2]["pwd"] != "c8Zk2Lq0" || regs[2]["prev_sid"] != second.SID {
		t.Fatalf("after restart %v", regs[2])
	}
}

// docs/protocol.md#redirect: configure.server + bye RECONNECT moves the agent; a later drop
// sends it back to the token host.
func TestRedirect(t *testing.T) {
	// Two servers of one cloud share the camera's identity.
	id := cloudsim.Options{Pwd: "p", UUID: "u", Secret: "share.same.secret"}
	s1, s2 := newSim(t, id), newSim(t, id)
	a := startAgent(t, s1, nil)
	a.waitReady(t)
	if err := s1.Redirect(ctxT(t), s2.Addr(), 2); err != nil {
		t.Fatal(err)
	}
	if d := a.clk.next(t); d != 2*time.Second {
		t.Errorf("delay %v, want bye.retry 2s", d)
	}
	a.waitReady(t)
	if s2.Connections() != 1 || s1.Connections() != 1 {
		t.Fatalf("connections s1=%d s2=%d", s1.Connections(), s2.Connections())
	}
	if r := s2.Registrations()[0]; r["pwd"] != "p" || r["prev_sid"] == nil {
		t.Errorf("register at redirect target %v", r)
	}
	s2.Bye(uplink.ByeSystemError, 0)
	if d := a.clk.next(t); d != 5*time.Second {
		t.Errorf("delay %v, want backoff 5s", d)
	}
	a.waitReady(t)
	if s1.Connections() != 2 || s2.Connections() != 1 {
		t.Fatalf("did not return to token host: s1=%d s2=%d", s1.Connections(), s2.Connections())
	}
}

// Every bye reason of docs/protocol.md#bye, with the delay asked from the clock.
func TestByeReasons(t *testing.T) {
	cases := []struct {
		reason string
		retry  int
		want   time.Duration
	}{
		{uplink.ByeReconnect, 0, 5 * time.Second},
		{uplink.ByeReconnect, 3, 3 * time.Second},
		{uplink.ByeError, 0, 5 * time.Second},
		{uplink.ByeError, 7, 7 * time.Second},
		{uplink.ByeSystemError, 0, 5 * time.Second},
		{uplink.ByeShutdown, 0, 5 * time.Second},
		{uplink.ByeConnConflict, 0, 30 * time.Second},
		{uplink.ByeConnConflict, 45, 45 * time.Second},
		{uplink.ByeInvalidUser, 0, time.Minute},
		{uplink.ByeAuthFailure, 0, 5 * time.Minute},
		{uplink.ByeAuthFailure, 10, 5 * time.Minute},
		{"NOT_A_REASON", 0, 5 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.reason+"/"+time.Duration(c.retry*int(time.Second)).String(), func(t *testing.T) {
			sim := newSim(t, cloudsim.Options{})
			a := startAgent(t, sim, nil)
			a.waitReady(t)
			sim.Bye(c.reason, c.retry)
			if d := a.clk.next(t); d != c.want {
				t.Errorf("delay %v, want %v", d, c.want)
			}
			a.waitReady(t) // and it comes back
		})
	}
	t.Run("DELETED", func(t *testing.T) {
		sim := newSim(t, cloudsim.Options{})
		a := startAgent(t, sim, nil)
		a.waitReady(t)
		if _, err := os.Stat(a.opts.StatePath); err != nil {
			t.Fatal(err)
		}
		sim.Bye(uplink.ByeDeleted, 0)
		select {
		case <-a.done:
			if !errors.Is(a.err, uplink.ErrDeleted) {
				t.Fatalf("Run returned %v", a.err)
			}
		case d := <-a.clk.sleeps:
			t.Fatalf("reconnect scheduled in %v after DELETED", d)
		case <-time.After(waitLimit):
			t.Fatal("Run did not return")
		}
		if _, err := os.Stat(a.opts.StatePath); !os.IsNotExist(err) {
			t.Errorf("state not wiped: %v", err)
		}
	})
	t.Run("register refused", func(t *testing.T) {
		sim := newSim(t, cloudsim.Options{RejectAuth: true})
		a := startAgent(t, sim, nil)
		for range 2 {
			if d := a.clk.next(t); d != 5*time.Minute {
				t.Errorf("delay %v after AUTH_FAILURE, want 5m", d)
			}
		}
		if a.s.State() == uplink.StateReady {
			t.Error("READY with rejected credentials")
		}
		if e, _ := a.s.LastEnd(); !e.Settled() || !strings.Contains(e.String(), "AUTH_FAILURE") || !strings.Contains(e.String(), "access token was rejected") {
			t.Errorf("LastEnd %q does not tell the operator the token was rejected", e)
		}
	})
}

// Backoff grows 5,10,20 s and resets after READY was held 60 s (docs/protocol.md#reconnect).
func TestBackoffGrowthAndReset(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	a.waitReady(t)
	for _, want := range []time.Duration{5, 10, 20} {
		sim.DropConnections()
		if d := a.clk.next(t); d != want*time.Second {
			t.Errorf("delay %v, want %v", d, want*time.Second)
		}
		a.waitReady(t)
	}
	a.clk.Advance(61 * time.Second)
	sim.DropConnections()
	if d := a.clk.next(t); d != 5*time.Second {
		t.Errorf("delay after a good run %v, want 5s", d)
	}
	a.waitReady(t)
}

func TestJitterBounds(t *testing.T) {
	for _, r := range []float64{0, 0.999999} {
		sim := newSim(t, cloudsim.Options{})
		a := startAgent(t, sim, func(o *uplink.Options) { o.Rand = func() float64 { return r } })
		a.waitReady(t)
		sim.DropConnections()
		d := a.clk.next(t)
		if d < 4*time.Second || d > 6*time.Second || (r == 0) != (d == 4*time.Second) {
			t.Errorf("rand %v: delay %v outside 5s±20%%", r, d)
		}
		a.stop()
	}
}

func TestCloudDownAndBack(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	a.waitReady(t)
	sim.Close()
	for _, want := range []time.Duration{5, 10, 20} {
		if d := a.clk.next(t); d != want*time.Second {
			t.Errorf("delay %v, want %v", d, want*time.Second)
		}
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case <-a.h.ready:
			if sim.Connections() != 2 {
				t.Errorf("connections %d", sim.Connections())
			}
			return
		case <-a.clk.sleeps: // the session may still have dialled the dead port once
		case <-time.After(waitLimit):
			t.Fatal("never READY again")
		}
	}
}

func TestTLS(t *testing.T) {
	sim := newSim(t, cloudsim.Options{TLS: true})
	t.Run("trusted", func(t *testing.T) {
		a := startAgent(t, sim, nil)
		l := a.waitReady(t)
		if !l.Secure {
			t.Error("link not secure on wss")
		}
		if mp, _ := json.Marshal(sim.Registrations()[0]["media_protocols"]); string(mp) != `["rtmps"]` {
			t.Errorf("media_protocols %s on wss", mp)
		}
		a.stop()
	})
	t.Run("untrusted", func(t *testing.T) {
		before := sim.Connections()
		a := startAgent(t, sim, func(o *uplink.Options) { o.RootCAs = nil })
		if d := a.clk.next(t); d != 5*time.Second {
			t.Errorf("delay %v", d)
		}
		if sim.Connections() != before || a.s.State() != uplink.StateDisconnected {
			t.Errorf("connected without trusting the server")
		}
	})
}

func TestRequests(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	a.readyOn(t, sim)
	ctx := ctxT(t)
	cam := sim.CamID()
	status := func(cmd string, body any) string {
		t.Helper()
		r, err := sim.Request(ctx, cam, cmd, body)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := r["status"].(string)
		return s
	}
	for _, raw := range []string{"{not json", `{"msgid":5}`, `[1,2]`, `{"cmd":"get_cam_status"}`, ``} {
		if err := sim.SendRaw(cam, raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.Send(cam, "done", map[string]any{"refid": 999, "orig_cmd": "cam_event", "status": "OK"}); err != nil {
		t.Fatal(err)
	}
	if err := sim.Send(cam, "report_problem", map[string]any{"refid": 999, "orig_cmd": "cam_event", "reason": "x"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, cmd string
		body      any
		want      string
	}{
		{"unknown command", "cam_future_feature", map[string]any{"level": 3}, uplink.StatusNotSupported},
		{"stream_start", uplink.CmdStreamStart, map[string]any{"stream_id": "Main", "reason": "live", "publish_session_id": 4711}, uplink.StatusOK},
		{"stream_start unknown stream", uplink.CmdStreamStart, map[string]any{"stream_id": "Third", "reason": "live"}, uplink.StatusInvalidParam},
		{"stream_start missing reason", uplink.CmdStreamStart, map[string]any{"stream_id": "Main"}, uplink.StatusMissedParam},
		{"stream_start bad reason", uplink.CmdStreamStart, map[string]any{"stream_id": "Main", "reason": "fun"}, uplink.StatusInvalidParam},
		{"foreign cam_id", uplink.CmdGetCamStatus, map[string]any{"cam_id": int64(999999)}, uplink.StatusError},
		{"1 MiB message", "cam_future_feature", map[string]any{"blob": strings.Repeat("a", 1<<20+10)}, uplink.StatusNotSupported},
	}
	for _, c := range cases {
		if got := status(c.cmd, c.body); got != c.want {
			t.Errorf("%s: status %q, want %q", c.name, got, c.want)
		}
	}
	want := []string{uplink.CmdStreamStart, uplink.CmdStreamStart}
	if got := a.h.seen(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("handler saw %v, want %v (unknown, invalid and foreign requests must not reach it)", got, want)
	}
	if sim.Connections() != 1 {
		t.Errorf("session did not survive bad frames: %d connections", sim.Connections())
	}
	a.h.mu.Lock()
	if len(a.h.problems) != 1 || a.h.problems[0] != "999 cam_event x" {
		t.Errorf("problems %q", a.h.problems)
	}
	a.h.mu.Unlock()
	a.clk.noSleep(t)
}

// The camera probe fails: cam_register waits (docs/protocol.md#cam-register), the connection
// stays, camera commands get RETRY (docs/protocol.md#states), and the probe is retried.
func TestCameraUnavailable(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, func(o *uplink.Options) { o.Handler.(*handler).infoErrs = 1 })
	if err := sim.Wait(ctxT(t), func() bool { return len(sim.Registrations()) == 1 }); err != nil {
		t.Fatal(err)
	}
	// The failed probe now waits in the clock, so READY cannot happen yet.
	r, err := sim.RequestEarly(ctxT(t), uplink.CmdGetCamStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r["status"] != uplink.StatusRetry {
		t.Errorf("early request answered %v, want RETRY", r["status"])
	}
	if d := a.clk.next(t); d != 10*time.Second {
		t.Fatalf("camera retry delay %v, want 10s", d)
	}
	a.waitReady(t)
	if sim.Connections() != 1 || len(a.h.seen()) != 0 {
		t.Errorf("%d connections, handler saw %v", sim.Connections(), a.h.seen())
	}
}

func TestQueueFullRetries(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	a.readyOn(t, sim)
	block := make(chan struct{})
	a.h.mu.Lock()
	a.h.block = block
	a.h.mu.Unlock()
	const n = 40
	type res struct {
		status string
		err    error
	}
	results := make(chan res, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := sim.Request(ctxT(t), sim.CamID(), uplink.CmdStreamStart, map[string]any{"stream_id": "Main", "reason": "live"})
			s, _ := r["status"].(string)
			results <- res{s, err}
		})
	}
	// Requests beyond the queue are refused at once, while the handler is stuck.
	retries := 0
	for retries < n-33 {
		select {
		case r := <-results:
			if r.err != nil || r.status != uplink.StatusRetry {
				t.Fatalf("early reply %+v, want RETRY", r)
			}
			retries++
		case <-time.After(waitLimit):
			t.Fatalf("only %d RETRY replies while the handler was blocked", retries)
		}
	}
	close(block)
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || r.status != uplink.StatusOK {
			t.Errorf("queued request: %+v", r)
		}
	}
}

// TestLiveness pings every 10 ms and gives up after 2 s of silence: long
// enough that a loaded machine (the handshake and every pong count as
// traffic) never trips it, short enough for a test.
func TestLiveness(t *testing.T) {
	t.Run("pings keep it alive", func(t *testing.T) {
		sim := newSim(t, cloudsim.Options{})
		a := startAgent(t, sim, func(o *uplink.Options) {
			o.Timeouts = uplink.Timeouts{Idle: 10 * time.Millisecond, Dead: 2 * time.Second}
		})
		a.waitReady(t)
		if err := sim.Wait(ctxT(t), func() bool { return sim.Pings() >= 40 }); err != nil {
			t.Fatal(err)
		}
		a.clk.noSleep(t)
		if sim.Connections() != 1 {
			t.Errorf("%d connections", sim.Connections())
		}
	})
	t.Run("silence kills it", func(t *testing.T) {
		sim := newSim(t, cloudsim.Options{IgnorePings: true})
		a := startAgent(t, sim, func(o *uplink.Options) {
			o.Timeouts = uplink.Timeouts{Idle: 10 * time.Millisecond, Dead: 2 * time.Second}
		})
		a.waitReady(t)
		if d := a.clk.next(t); d != 5*time.Second {
			t.Errorf("delay %v", d)
		}
		if sim.Pings() == 0 {
			t.Error("no ping sent during silence")
		}
	})
}

func TestHelloRefused(t *testing.T) {
	sim := newSim(t, cloudsim.Options{HelloStatus: "ERROR"})
	a := startAgent(t, sim, nil)
	for _, want := range []time.Duration{5, 10} {
		if d := a.clk.next(t); d != want*time.Second {
			t.Errorf("delay %v after refused hello, want %v", d, want*time.Second)
		}
	}
	if sim.Connections() != 2 || a.s.State() == uplink.StateReady {
		t.Errorf("connections %d, state %v", sim.Connections(), a.s.State())
	}
}

func TestHelloTimeout(t *testing.T) {
	sim := newSim(t, cloudsim.Options{HoldHello: true})
	a := startAgent(t, sim, func(o *uplink.Options) { o.Timeouts = uplink.Timeouts{Hello: 50 * time.Millisecond} })
	if d := a.clk.next(t); d != 5*time.Second {
		t.Errorf("delay %v after hello timeout", d)
	}
	if sim.Connections() != 1 || len(sim.Registrations()) != 1 {
		t.Errorf("connections %d", sim.Connections())
	}
}

// The token's proxy.socks5 carries the camera channel (docs/protocol.md#websocket).
func TestSOCKS5(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var proxied atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { socks5Serve(c, &proxied) })
		}
	})
	a := startAgent(t, sim, func(o *uplink.Options) { o.Token.SOCKS5 = "socks5://" + ln.Addr().String() })
	a.waitReady(t)
	if proxied.Load() != 1 {
		t.Errorf("%d connections through the proxy", proxied.Load())
	}
	a.stop()
}

// socks5Serve is a minimal no-auth SOCKS5 CONNECT proxy (RFC 1928).
func socks5Serve(c net.Conn, n *atomic.Int32) {
	defer c.Close()
	buf := make([]byte, 262)
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 {
		return
	}
	var host string
	switch buf[3] {
	case 1:
		io.ReadFull(c, buf[:4])
		host = net.IP(buf[:4]).String()
	case 3:
		io.ReadFull(c, buf[:1])
		l := int(buf[0])
		io.ReadFull(c, buf[:l])
		host = string(buf[:l])
	default:
		return
	}
	io.ReadFull(c, buf[:2])
	port := int(buf[0])<<8 | int(buf[1])
	up, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	n.Add(1)
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	done := make(chan struct{})
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
	io.Copy(c, up)
	c.Close()
	<-done
}

// Work a handler attaches with Reply.Then runs only after the reply is on
// the wire: the cloud sees cam_get_log's done before the log upload starts
// (docs/protocol.md#cam-get-log). Then waits for the cloud to have the done; run before the
// send, it would wait in vain.
func TestReplyThenRunsAfterTheReplyIsSent(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	replied := make(chan struct{})
	after := make(chan bool, 1)
	a.h.mu.Lock()
	a.h.then = func() {
		select {
		case <-replied:
			after <- true
		case <-time.After(5 * time.Second):
			after <- false
		}
	}
	a.h.mu.Unlock()
	a.waitReady(t)
	if err := sim.WaitReady(ctxT(t), sim.CamID()); err != nil {
		t.Fatal(err)
	}
	rep, err := sim.Request(ctxT(t), sim.CamID(), uplink.CmdCamGetLog, nil)
	if err != nil || rep["status"] != "OK" {
		t.Fatalf("cam_get_log: %v %v", rep, err)
	}
	close(replied)
	if !<-after {
		t.Fatal("the Then work ran before the cloud had the reply")
	}
}

// TestLastEndSaysStopped: a connection the cloud dropped ends as such; the
// one the session's own stop ended says Stopped, so the camera does not
// take it for a problem.
func TestLastEndSaysStopped(t *testing.T) {
	sim := newSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	a.waitReady(t)
	sim.DropConnections()
	a.clk.next(t)
	if e, ok := a.s.LastEnd(); !ok || e.Stopped {
		t.Errorf("after the cloud dropped the connection: LastEnd %+v (%v), want a connection end, not stopped", e, ok)
	}
	a.waitReady(t)
	if err := a.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if e, ok := a.s.LastEnd(); !ok || !e.Stopped {
		t.Errorf("after the session stopped: LastEnd %+v (%v), want Stopped", e, ok)
	}
}
