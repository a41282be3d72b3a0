package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	amp4 "github.com/abema/go-mp4"

	"github.com/camagent/camagent/agent"
	"github.com/camagent/camagent/demo/rig"
	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

// daemon is the real `camagent run` in a child process (the test binary
// re-run as main, see TestMain), so that it can be killed with SIGKILL.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	log  string        // its stdout and stderr
}

func startDaemon(t *testing.T, config string) *daemon {
	t.Helper()
	d := &daemon{done: make(chan struct{}), log: filepath.Join(t.TempDir(), "camagent.log")}
	f, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	d.cmd = exec.Command(os.Args[0], "-test.run=^$")
	d.cmd.Env = append(os.Environ(), "CAMAGENT_TEST_MAIN=run --config "+config)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.stop(t)
		out, _ := os.ReadFile(d.log)
		if bytes.Contains(out, []byte("DATA RACE")) {
			t.Errorf("the daemon (pid %d) saw a data race:\n%s", d.cmd.Process.Pid, out)
		} else if t.Failed() {
			t.Logf("daemon pid %d log:\n%s", d.cmd.Process.Pid, out)
		}
	})
	return d
}

// kill9 kills the daemon as a power cut or the OOM killer would, and
// waits until it is gone.
func (d *daemon) kill9(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

// stop ends a daemon still running with SIGTERM, SIGKILL after 10 s.
func (d *daemon) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Errorf("daemon pid %d did not stop within 10 s of SIGTERM", d.cmd.Process.Pid)
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
	}
}

// killRig is a rig on loopback without TLS (the daemon has no test
// roots) and a config file for the daemon on stateDir, its status page on
// a free port.
type killRig struct {
	*rig.Rig
	state, config, status string
}

func startKillRig(t *testing.T) *killRig {
	t.Helper()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	t.Setenv("NOTIFY_SOCKET", "")
	r, err := rig.Start(rig.Options{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	k := &killRig{Rig: r, state: t.TempDir(), status: "http://" + listen + "/status.json"}
	k.config = writeConfig(t, fmt.Sprintf(`state_dir: %q
log: {level: info}
http: {listen: %q}
cloud: {insecure: true}
cameras:
  - name: demo
    token: %q
    onvif: {url: %q, username: %q, password: %q}
`, k.state, listen, r.Cloud.Token(), r.ONVIF.URL(), rig.User, rig.Password))
	return k
}

// poll waits until cond holds, failing the test after 30 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// camStatus is the daemon's status.json entry for its camera; false while
// the status page does not answer.
func (k *killRig) camStatus(t *testing.T) (agent.CameraStatus, bool) {
	t.Helper()
	resp, err := http.Get(k.status)
	if err != nil {
		return agent.CameraStatus{}, false
	}
	defer resp.Body.Close()
	var st agent.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Cameras) != 1 {
		return agent.CameraStatus{}, false
	}
	return st.Cameras[0], true
}

func (k *killRig) request(t *testing.T, cmd string, body any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := k.Cloud.Request(ctx, k.Cloud.CamID(), cmd, body)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if rep["cmd"] == "done" && rep["status"] != "OK" {
		t.Fatalf("%s: %v", cmd, rep)
	}
	return rep
}

// waitSession waits for the daemon's n-th cloud connection to be ready.
func (k *killRig) waitSession(t *testing.T, n int) {
	t.Helper()
	poll(t, fmt.Sprintf("cloud connection %d", n), func() bool { return k.Cloud.Connections() >= n })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.Cloud.WaitReady(ctx, k.Cloud.CamID()); err != nil {
		t.Fatalf("camera never ready in the cloud: %v", err)
	}
}

// eventMedia switches on what the cloud would for event media: motion with
// the given snapshot and clip settings, pre/post event video on Main, and
// waits until the daemon holds the pre-event buffer.
func (k *killRig) eventMedia(t *testing.T, snapshot bool, pre, post time.Duration) {
	t.Helper()
	k.request(t, "get_cam_events", nil)
	poll(t, "an event subscription on the camera", func() bool { return k.ONVIF.Subscriptions() > 0 })
	k.request(t, "set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": snapshot, "stream": true}}})
	k.request(t, "set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": pre.Milliseconds(), "post_event": post.Milliseconds()})
	k.request(t, "stream_start", map[string]any{"stream_id": "Main", "reason": "record_by_event"})
	k.waitBuffer(t, pre)
}

// waitBuffer waits until the daemon's pre-event buffer holds pre.
func (k *killRig) waitBuffer(t *testing.T, pre time.Duration) {
	t.Helper()
	poll(t, "the pre-event buffer to hold pre_event", func() bool {
		st, ok := k.camStatus(t)
		return ok && st.EventBuffer != nil && st.EventBuffer.Seconds >= pre.Seconds()
	})
}

// spooled is one item the daemon left in its upload queue on disk.
type spooled struct {
	kind     string
	at       time.Time // event time, or a chunk's file_time
	duration int64     // ms, chunks
	data     []byte
}

// readSpool reads the items of camera demo's upload queue as the next run
// will find them: the complete ones (a .meta beside its .data), in name
// (creation) order. It reads the journal format of uplink/spool and the
// item descriptions of agent/camera, so the test knows what must arrive.
func readSpool(t *testing.T, state string) []spooled {
	t.Helper()
	dir := filepath.Join(state, "spool", "demo")
	metas, err := filepath.Glob(filepath.Join(dir, "*.meta"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(metas)
	var out []spooled
	for _, p := range metas {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, body, _ := bytes.Cut(b, []byte{'\n'})
		var rec struct {
			Size int64  `json:"size"`
			Meta []byte `json:"meta"`
		}
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var m struct {
			Kind      string           `json:"kind"`
			Event     *uplink.CamEvent `json:"event"`
			FileTime  time.Time        `json:"file_time"`
			ImageTime time.Time        `json:"image_time"`
			Duration  int64            `json:"duration"`
		}
		if err := json.Unmarshal(rec.Meta, &m); err != nil {
			t.Fatalf("%s meta: %v", p, err)
		}
		it := spooled{kind: m.Kind, at: m.FileTime, duration: m.Duration}
		if m.Kind == "snapshot" {
			it.at = m.ImageTime
		}
		if m.Event != nil {
			it.at = m.Event.Time.Time
		}
		if rec.Size > 0 {
			if it.data, err = os.ReadFile(strings.TrimSuffix(p, ".meta") + ".data"); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, it)
	}
	return out
}

func countKind(items []spooled, kind string) int {
	n := 0
	for _, it := range items {
		if it.kind == kind {
			n++
		}
	}
	return n
}

// checkDelivered waits until the restarted daemon's queue is empty and
// checks that each item left on disk reached the cloud exactly once,
// byte for byte, each clip chunk an MP4, and nothing else was PUT.
func checkDelivered(t *testing.T, k *killRig, left []spooled) {
	t.Helper()
	poll(t, "the restarted daemon's upload queue to empty", func() bool {
		st, ok := k.camStatus(t)
		return ok && st.Uploads.Items == 0 && st.Uploads.Uploaded > 0
	})
	puts := k.Cloud.Puts()
	want := 0
	for _, it := range left {
		switch it.kind {
		case "clip":
			want++
			var got []cloudsim.Put
			for _, p := range puts {
				if p.Category == "record" && p.FileTime.Equal(it.at.Truncate(time.Millisecond)) {
					got = append(got, p)
				}
			}
			if len(got) != 1 {
				t.Errorf("chunk of %v (%d ms) PUT %d times, want once", it.at, it.duration, len(got))
				continue
			}
			if !bytes.Equal(got[0].Body, it.data) {
				t.Errorf("chunk of %v: PUT %d bytes that differ from the %d queued", it.at, len(got[0].Body), len(it.data))
			}
			if got[0].Duration != it.duration || got[0].StreamID != "Main" {
				t.Errorf("chunk of %v announced %d ms on %q, queued %d ms on Main", it.at, got[0].Duration, got[0].StreamID, it.duration)
			}
			checkMP4(t, got[0])
		case "event", "snapshot":
			if it.data == nil {
				continue
			}
			want++
			var got []cloudsim.Put
			for _, p := range puts {
				if p.Category == "snapshot" && p.FileTime.Equal(it.at.Truncate(time.Millisecond)) {
					got = append(got, p)
				}
			}
			if len(got) != 1 {
				t.Errorf("snapshot of %v PUT %d times, want once", it.at, len(got))
			} else if !bytes.Equal(got[0].Body, it.data) {
				t.Errorf("snapshot of %v: PUT %d bytes that differ from the %d queued", it.at, len(got[0].Body), len(it.data))
			}
		}
	}
	if len(puts) != want {
		t.Errorf("%d PUTs at the cloud, want the %d items left on disk", len(puts), want)
	}
	seen := map[string]bool{}
	for _, p := range puts {
		key := p.Category + " " + p.FileTime.Format(time.RFC3339Nano)
		if seen[key] {
			t.Errorf("%s uploaded twice", key)
		}
		seen[key] = true
	}
	if v := k.Cloud.Violations(); len(v) > 0 {
		t.Errorf("cloud saw protocol violations: %v", v)
	}
}

// checkMP4 parses a clip chunk with go-mp4: it must be an MP4 whose H.264
// track has samples and lasts what was announced.
func checkMP4(t *testing.T, p cloudsim.Put) {
	t.Helper()
	info, err := amp4.Probe(bytes.NewReader(p.Body))
	if err != nil {
		t.Errorf("chunk of %v is not an MP4: %v", p.FileTime, err)
		return
	}
	for _, tr := range info.Tracks {
		if tr.Codec != amp4.CodecAVC1 {
			continue
		}
		d := time.Duration(tr.Duration) * time.Second / time.Duration(tr.Timescale)
		if len(tr.Samples) == 0 || (d-time.Duration(p.Duration)*time.Millisecond).Abs() > 50*time.Millisecond {
			t.Errorf("chunk of %v: %d samples over %v, announced %d ms", p.FileTime, len(tr.Samples), d, p.Duration)
		}
		return
	}
	t.Errorf("chunk of %v has no H.264 track", p.FileTime)
}

// TestKill9AfterMotion: the daemon is killed with SIGKILL one second after
// a motion it saw while the cloud was away. The next daemon on the same
// state_dir delivers the motion with its original time, its snapshot and
// every clip chunk that was on disk, each complete and once.
func TestKill9AfterMotion(t *testing.T) {
	const pre, post = 3 * time.Second, 3 * time.Second
	k := startKillRig(t)
	d := startDaemon(t, k.config)
	k.waitSession(t, 1)
	k.eventMedia(t, true, pre, post)

	// The cloud goes away, so what the motion makes can only reach it
	// from the disk, through the next daemon.
	k.Cloud.Bye(uplink.ByeSystemError, 3600)
	poll(t, "the cloud session to end", func() bool { return len(k.Cloud.CloseCodes()) > 0 })
	motion := time.Now()
	k.ONVIF.TriggerMotion(true)
	k.ONVIF.TriggerMotion(false)
	// A motion is queued once the camera's report and its picture are in;
	// killing before that would test something else.
	poll(t, "the motion to be queued", func() bool {
		st, ok := k.camStatus(t)
		return ok && st.LastEvent != nil && st.LastEvent.Kind == "motion" && st.LastEvent.Outcome == "queued"
	})
	queued := time.Since(motion)
	time.Sleep(time.Until(motion.Add(time.Second))) // deliberate: the clip is still being cut
	d.kill9(t)
	killed := time.Since(motion)
	left := readSpool(t, k.state)
	t.Logf("motion queued after %v, killed after %v with %d events and %d clip chunks on disk",
		queued.Round(time.Millisecond), killed.Round(time.Millisecond), countKind(left, "event"), countKind(left, "clip"))
	if countKind(left, "event") != 1 || countKind(left, "clip") == 0 {
		t.Fatalf("on disk after the kill: %d events, %d clip chunks; want the motion and its pre-event video",
			countKind(left, "event"), countKind(left, "clip"))
	}
	if len(k.Cloud.Events()) != 0 || len(k.Cloud.Puts()) != 0 {
		t.Fatalf("the cloud got %d events and %d PUTs while it was away", len(k.Cloud.Events()), len(k.Cloud.Puts()))
	}

	restart := time.Now()
	startDaemon(t, k.config)
	k.waitSession(t, 2)
	t.Logf("restarted daemon ready in the cloud %v after its start", time.Since(restart).Round(time.Millisecond))
	// record_by_event survived the kill: the buffer fills again. This
	// also puts pre_event between the motion and the moment the event
	// can go out (after get_cam_events), a gap the time check relies on.
	k.waitBuffer(t, pre)
	declared := time.Now()
	k.request(t, "get_cam_events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := k.Cloud.WaitEvent(ctx, func(e map[string]any) bool { return e["event"] == "motion" })
	if err != nil {
		t.Fatalf("the motion never reached the cloud: %v", err)
	}
	at := eventTime(t, ev)
	// The camera stamps the motion; the agent corrects its clock to
	// within about half a second.
	t.Logf("event time − motion: %v; declared %v after the motion", at.Sub(motion).Round(time.Millisecond), declared.Sub(motion).Round(time.Millisecond))
	if d := at.Sub(motion); d.Abs() > time.Second || declared.Sub(motion) < 3*time.Second {
		t.Errorf("event stamped %v after the motion (declared to the restarted daemon %v after it): not the motion's time", d, declared.Sub(motion))
	}
	si, ok := ev["snapshot_info"].(map[string]any)
	if !ok {
		t.Fatalf("motion without snapshot_info: %v", ev)
	}
	checkDelivered(t, k, left)
	t.Logf("everything delivered %v after the restart", time.Since(restart).Round(time.Millisecond))
	snap := slices.IndexFunc(k.Cloud.Puts(), func(p cloudsim.Put) bool { return p.Category == "snapshot" })
	if snap < 0 {
		t.Fatal("no snapshot PUT")
	}
	p := k.Cloud.Puts()[snap]
	if size, _ := si["size"].(json.Number).Int64(); p.Size != size || !p.EventTime.Equal(at) || !bytes.HasPrefix(p.Body, []byte{0xFF, 0xD8, 0xFF}) {
		t.Errorf("snapshot PUT of %d bytes for the event at %v; announced %v bytes, event at %v", p.Size, p.EventTime, si["size"], at)
	}
	if n := len(k.Cloud.Events()); n != 1 {
		t.Errorf("%d events at the cloud, want the one motion", n)
	}
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
	return time.UnixMilli(int64(math.Round(f * 1000)))
}

// TestKill9DuringPut: the daemon is killed with SIGKILL while the cloud
// holds the PUTs of an event clip. Nothing of them arrived; the next
// daemon on the same state_dir uploads every chunk again from the start,
// each with a URL granted to it, and each arrives complete and once.
//
// The motion has no snapshot: a kill during the PUT of an event's
// snapshot makes the next daemon send the cam_event again (the item on
// disk still says "event"), which the cloud refuses as a reused image_time.
func TestKill9DuringPut(t *testing.T) {
	const pre, post = 2 * time.Second, time.Second
	k := startKillRig(t)
	d := startDaemon(t, k.config)
	k.waitSession(t, 1)
	k.eventMedia(t, true, pre, post)

	release := k.Cloud.HoldPuts()
	motion := time.Now()
	k.ONVIF.TriggerMotion(true)
	k.ONVIF.TriggerMotion(false)
	// The event's snapshot and the first clip chunk: the cam_event has
	// gone out, its picture not.
	poll(t, "two PUTs in flight", func() bool { return k.Cloud.PutsHeld() >= 2 })
	held := k.Cloud.PutsHeld()
	d.kill9(t)
	t.Logf("killed %v after the motion with %d PUTs in flight", time.Since(motion).Round(time.Millisecond), held)
	left := readSpool(t, k.state)
	grantsBefore := len(k.Cloud.Grants())
	if len(k.Cloud.Puts()) != 0 {
		t.Fatalf("%d PUTs completed while the cloud held them", len(k.Cloud.Puts()))
	}
	if n := countKind(left, "clip") + countKind(left, "snapshot"); n < held || countKind(left, "event") != 0 {
		t.Fatalf("on disk after the kill: %d clip chunks and snapshots (%d were in flight), %d events (sent already: want 0)",
			n, held, countKind(left, "event"))
	}
	poll(t, "the held PUTs to end with the connection", func() bool { return k.Cloud.PutsHeld() == 0 })

	restart := time.Now()
	startDaemon(t, k.config)
	k.waitSession(t, 2)
	k.request(t, "get_cam_events", nil)
	poll(t, "a PUT of the restarted daemon", func() bool { return k.Cloud.PutsHeld() > 0 })
	release()
	checkDelivered(t, k, left)
	t.Logf("everything delivered %v after the restart", time.Since(restart).Round(time.Millisecond))
	// Each PUT that arrived went to a URL granted after the kill: a URL of
	// the killed daemon reused would leave fewer new grants than PUTs.
	if fresh := len(k.Cloud.Grants()) - grantsBefore; fresh < len(k.Cloud.Puts()) {
		t.Errorf("%d grants after the kill for %d PUTs", fresh, len(k.Cloud.Puts()))
	}
	for _, g := range k.Cloud.Grants()[grantsBefore:] {
		if g.Done != "OK" {
			t.Errorf("grant %+v answered %q, want OK", g, g.Done)
		}
	}
	if n := len(k.Cloud.Events()); n != 1 {
		t.Errorf("%d events at the cloud, want the motion once", n)
	}
	t.Logf("on disk at the kill: %d snapshots, %d chunks; grants before %d, after %d; motion events at the cloud %d",
		countKind(left, "snapshot"), countKind(left, "clip"), grantsBefore, len(k.Cloud.Grants())-grantsBefore, len(k.Cloud.Events()))
}
