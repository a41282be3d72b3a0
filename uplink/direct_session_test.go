package uplink_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
	"go.uber.org/zap/zaptest"
)

// mp4Chunk is the start of an ISO-BMFF file: an ftyp box, then an empty mdat.
var mp4Chunk = []byte{0, 0, 0, 20, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 0, 0, 0, 8, 'm', 'd', 'a', 't'}

// uploadEvents declares a motion event with snapshots and a custom event
// with snapshots and metadata.
var uploadEvents = uplink.CamEventsConf{Enabled: true, Events: []uplink.EventConf{
	{Event: uplink.EventMotion, Active: true, Snapshot: true, Caps: uplink.EventCaps{Snapshot: true}},
	{Event: "line-crossing", Active: true, Snapshot: true, Caps: uplink.EventCaps{Snapshot: true, Trigger: true}},
}}

// uploadAgent is a READY agent on a TLS cloud that grants direct uploads
// and knows the agent's events; mod may change the session's options.
func uploadAgent(t *testing.T, mod func(*uplink.Options)) (*cloudsim.Server, *agent, *http.Client) {
	t.Helper()
	sim := newSim(t, cloudsim.Options{TLS: true, Uploads: true})
	a := startAgent(t, sim, func(o *uplink.Options) {
		o.Handler.(*handler).events = &uploadEvents
		if mod != nil {
			mod(o)
		}
	})
	a.readyOn(t, sim)
	if rep, err := sim.Request(ctxT(t), sim.CamID(), uplink.CmdGetCamEvents, nil); err != nil || rep["cmd"] != uplink.CmdCamEventsConf {
		t.Fatalf("get_cam_events: %v, %v", rep, err)
	}
	client := uplink.NewUploadClient(sim.CertPool(), 5*time.Second)
	t.Cleanup(client.CloseIdleConnections)
	return sim, a, client
}

func motionEvent(at time.Time, size int) *uplink.CamEvent {
	return &uplink.CamEvent{Event: uplink.EventMotion, Time: uplink.EpochTime{Time: at}, MotionInfo: &uplink.MotionInfo{},
		SnapshotInfo: &uplink.SnapshotInfo{ImageTime: uplink.PackedTime{Time: at}, Width: 1280, Height: 720, Size: int64(size)}}
}

func recordChunk(start time.Time, size int) *uplink.GetDirectUploadURL {
	return &uplink.GetDirectUploadURL{Category: uplink.CategoryRecord, Type: uplink.UploadMP4, StreamID: "Main",
		FileTime: uplink.PackedTime{Time: start}, Duration: 15000, Size: int64(size)}
}

// waitDone waits until the cloud has the agent's done for its n-th grant
// and returns that done's status.
func waitDone(t *testing.T, sim *cloudsim.Server, n int) string {
	t.Helper()
	var st string
	err := sim.Wait(ctxT(t), func() bool {
		g := sim.Grants()
		if len(g) > n {
			st = g[n].Done
		}
		return st != ""
	})
	if err != nil {
		t.Fatalf("no done for grant %d: %v", n, err)
	}
	return st
}

// TestDirectUploadSnapshot walks docs/protocol.md#direct-upload for event
// snapshots: the cam_event announces the JPEG, the cloud grants a URL, the
// agent acknowledges it and PUTs the bytes, which the cloud stores under
// the event's image time; an event with metadata gets two targets.
func TestDirectUploadSnapshot(t *testing.T) {
	sim, a, client := uploadAgent(t, nil)
	at := time.Now().UTC().Truncate(time.Millisecond)
	g, err := a.s.RequestUpload(ctxT(t), uplink.CmdCamEvent, motionEvent(at, len(jpeg)))
	if err != nil {
		t.Fatal(err)
	}
	tg, ok := g.For(uplink.CategorySnapshot)
	if !ok || len(g.Targets) != 1 {
		t.Fatalf("grant %+v has no single snapshot target", g)
	}
	if tg.Headers["Content-Type"] != "image/jpeg" || tg.Headers["Content-Length"] != strconv.Itoa(len(jpeg)) || tg.EventID == 0 || !tg.Expire.After(at) {
		t.Errorf("target %+v", tg)
	}
	if st := waitDone(t, sim, 0); st != uplink.StatusOK {
		t.Errorf("done %s for a usable grant", st)
	}
	if err := uplink.PutUpload(ctxT(t), client, tg, bytes.NewReader(jpeg), int64(len(jpeg))); err != nil {
		t.Fatal(err)
	}
	p, err := sim.WaitPut(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Category != uplink.CategorySnapshot || !bytes.Equal(p.Body, jpeg) || !p.FileTime.Equal(at) || !p.EventTime.Equal(at) || p.EventID != tg.EventID {
		t.Errorf("cloud stored %+v", p)
	}

	// Snapshot and metadata: the main entry and one extra.
	meta := []byte(`{"object":"person"}`)
	at2 := at.Add(time.Second)
	ev := &uplink.CamEvent{Event: "line-crossing", Time: uplink.EpochTime{Time: at2}, Meta: map[string]any{"line": "north-gate"},
		SnapshotInfo: &uplink.SnapshotInfo{ImageTime: uplink.PackedTime{Time: at2}, Width: 1280, Height: 720, Size: int64(len(jpeg))},
		FileMetaInfo: &uplink.FileMetaInfo{Size: int64(len(meta))}}
	g, err = a.s.RequestUpload(ctxT(t), uplink.CmdCamEvent, ev)
	if err != nil {
		t.Fatal(err)
	}
	snap, ok1 := g.For(uplink.CategorySnapshot)
	mt, ok2 := g.For(uplink.CategoryFileMeta)
	if !ok1 || !ok2 || len(g.Targets) != 2 || snap.URL == mt.URL {
		t.Fatalf("grant %+v, want a snapshot and a file_meta target", g)
	}
	if err := uplink.PutUpload(ctxT(t), client, mt, bytes.NewReader(meta), int64(len(meta))); err != nil {
		t.Fatal(err)
	}
	if err := uplink.PutUpload(ctxT(t), client, snap, bytes.NewReader(jpeg), int64(len(jpeg))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{uplink.CategoryFileMeta, uplink.CategorySnapshot} {
		p, err := sim.WaitPut(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Category != want || !p.EventTime.Equal(at2) {
			t.Errorf("put %+v, want %s of the second event", p, want)
		}
	}
	if st := waitDone(t, sim, 1); st != uplink.StatusOK {
		t.Errorf("done %s for the second grant", st)
	}
	if n := a.s.PendingGrants(); n != 0 {
		t.Errorf("%d grant waiters left", n)
	}
}

// TestDirectUploadRecordChunk asks for a record chunk with
// get_direct_upload_url and PUTs the MP4; a refused PUT comes back as its
// HTTP status, and a second PUT after a success is never needed: the
// cloud saw exactly one.
func TestDirectUploadRecordChunk(t *testing.T) {
	sim, a, client := uploadAgent(t, nil)
	start := time.Date(2024, 3, 14, 9, 26, 43, 512e6, time.UTC)
	g, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(start, len(mp4Chunk)))
	if err != nil {
		t.Fatal(err)
	}
	tg, ok := g.For(uplink.CategoryRecord)
	if !ok || tg.Headers["Content-Type"] != "video/mp4" || tg.EventID != 0 {
		t.Fatalf("grant %+v", g)
	}
	sim.FailPuts(http.StatusServiceUnavailable)
	err = uplink.PutUpload(ctxT(t), client, tg, bytes.NewReader(mp4Chunk), int64(len(mp4Chunk)))
	var se *uplink.UploadStatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || !se.Direct || se.Cat != uplink.CategoryRecord {
		t.Fatalf("refused PUT returned %v, want an UploadStatusError 503", err)
	}
	sim.FailPuts(0)
	if err := uplink.PutUpload(ctxT(t), client, tg, bytes.NewReader(mp4Chunk), int64(len(mp4Chunk))); err != nil {
		t.Fatal(err)
	}
	p, err := sim.WaitPut(ctxT(t), func(p cloudsim.Put) bool { return p.Category == uplink.CategoryRecord })
	if err != nil {
		t.Fatal(err)
	}
	if p.StreamID != "Main" || p.Duration != 15000 || !p.FileTime.Equal(start) || !bytes.Equal(p.Body, mp4Chunk) || p.ContentType != "video/mp4" {
		t.Errorf("cloud stored %+v", p)
	}
	if n := len(sim.Puts()); n != 1 {
		t.Errorf("cloud stored %d PUTs, want 1", n)
	}
}

// TestPutUploadChecksBeforeSending: a size that differs from the granted
// Content-Length and an expired URL are refused before anything is sent.
func TestPutUploadChecksBeforeSending(t *testing.T) {
	sim, a, client := uploadAgent(t, nil)
	start := time.Date(2024, 3, 14, 9, 26, 43, 512e6, time.UTC)
	g, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(start, len(mp4Chunk)))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := g.For(uplink.CategoryRecord)
	longer := append(append([]byte{}, mp4Chunk...), 0)
	if err := uplink.PutUpload(ctxT(t), client, tg, bytes.NewReader(longer), int64(len(longer))); err == nil || !strings.Contains(err.Error(), "Content-Length") {
		t.Errorf("PUT of %d bytes on a grant for %d: %v", len(longer), len(mp4Chunk), err)
	}

	sim.ExpireGrants(-time.Minute)
	g, err = a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(start.Add(15*time.Second), len(mp4Chunk)))
	if err != nil {
		t.Fatal(err)
	}
	tg, _ = g.For(uplink.CategoryRecord)
	if err := uplink.PutUpload(ctxT(t), client, tg, bytes.NewReader(mp4Chunk), int64(len(mp4Chunk))); !errors.Is(err, uplink.ErrUploadExpired) {
		t.Errorf("PUT to an expired URL: %v, want ErrUploadExpired", err)
	}
	if n := len(sim.Puts()); n != 0 {
		t.Errorf("cloud got %d PUTs", n)
	}
}

// TestDirectUploadRefused: a refused grant is acknowledged MISSED_PARAM
// (docs/protocol.md#direct-upload) and fails the request; when only the
// snapshot of an event is refused, its metadata target is still granted.
func TestDirectUploadRefused(t *testing.T) {
	sim, a, _ := uploadAgent(t, nil)
	sim.RefuseUploads(uplink.CategoryRecord, uplink.CategorySnapshot)
	_, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(time.Now(), 100))
	if !errors.Is(err, uplink.ErrUploadRefused) {
		t.Fatalf("got %v, want ErrUploadRefused", err)
	}
	if st := waitDone(t, sim, 0); st != uplink.StatusMissedParam {
		t.Errorf("done %s for a refused grant, want MISSED_PARAM", st)
	}

	at := time.Now().UTC().Truncate(time.Millisecond)
	ev := &uplink.CamEvent{Event: "line-crossing", Time: uplink.EpochTime{Time: at},
		SnapshotInfo: &uplink.SnapshotInfo{ImageTime: uplink.PackedTime{Time: at}, Width: 640, Height: 480, Size: 100},
		FileMetaInfo: &uplink.FileMetaInfo{Size: 10}}
	g, err := a.s.RequestUpload(ctxT(t), uplink.CmdCamEvent, ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.For(uplink.CategorySnapshot); ok || len(g.Targets) != 1 {
		t.Errorf("grant %+v, want the file_meta target only", g)
	}
	if _, ok := g.For(uplink.CategoryFileMeta); !ok {
		t.Errorf("grant %+v lacks the file_meta target", g)
	}
	if st := waitDone(t, sim, 1); st != uplink.StatusMissedParam {
		t.Errorf("done %s for a grant whose main entry was refused", st)
	}
}

// waitWithheld waits until the cloud has decided to withhold n upload
// requests. (Waiting for it to have received them is not enough: a test
// that turns WithholdGrants off next could race the decision and get a
// grant nobody waits for.)
func waitWithheld(t *testing.T, sim *cloudsim.Server, n int) {
	t.Helper()
	if err := sim.Wait(ctxT(t), func() bool { return sim.Withheld() >= n }); err != nil {
		t.Fatalf("cloud never withheld request %d: %v", n, err)
	}
}

// TestDirectUploadTimeout: without a direct_upload_url the request fails
// after Timeouts.DirectUpload, and leaves no waiter behind.
func TestDirectUploadTimeout(t *testing.T) {
	sim, a, _ := uploadAgent(t, func(o *uplink.Options) { o.Timeouts.DirectUpload = 50 * time.Millisecond })
	sim.WithholdGrants(true)
	_, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(time.Now(), 10))
	if !errors.Is(err, uplink.ErrUploadTimeout) {
		t.Errorf("withheld grant: %v, want ErrUploadTimeout", err)
	}
	if n := a.s.PendingGrants(); n != 0 {
		t.Errorf("%d grant waiters left", n)
	}
}

// TestDirectUploadProblemAndCancel: a report_problem fails the request
// with the cloud's reason (and is not also handed to the Handler);
// cancelling the context while waiting returns its error. No waiter is
// left behind and the next request is granted.
func TestDirectUploadProblemAndCancel(t *testing.T) {
	sim, a, _ := uploadAgent(t, nil)
	start := time.Date(2024, 3, 14, 9, 26, 43, 512e6, time.UTC)
	sim.ReportUploadProblem("stream_id is unknown")
	_, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(start, 10))
	if !errors.Is(err, uplink.ErrUploadProblem) || !strings.Contains(err.Error(), "stream_id is unknown") {
		t.Errorf("reported problem: %v, want ErrUploadProblem with the reason", err)
	}
	a.h.mu.Lock()
	if len(a.h.problems) != 0 {
		t.Errorf("handler was also told: %v", a.h.problems)
	}
	a.h.mu.Unlock()
	sim.ReportUploadProblem("")

	sim.WithholdGrants(true)
	ctx, cancel := context.WithCancel(ctxT(t))
	res := make(chan error, 1)
	go func() {
		_, err := a.s.RequestUpload(ctx, uplink.CmdGetDirectUploadURL, recordChunk(start, 10))
		res <- err
	}()
	waitWithheld(t, sim, 1)
	cancel()
	if err := <-res; err != context.Canceled {
		t.Errorf("cancelled request: %v, want context.Canceled", err)
	}
	sim.WithholdGrants(false)

	if _, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(start, 10)); err != nil {
		t.Errorf("request after the failures: %v", err)
	}
	if n := a.s.PendingGrants(); n != 0 {
		t.Errorf("%d grant waiters left", n)
	}
}

// TestDirectUploadConnectionLost: the connection ending while a request
// waits fails it at once, not after the timeout.
func TestDirectUploadConnectionLost(t *testing.T) {
	sim, a, _ := uploadAgent(t, func(o *uplink.Options) { o.Timeouts.DirectUpload = time.Hour })
	sim.WithholdGrants(true)
	res := make(chan error, 1)
	go func() {
		_, err := a.s.RequestUpload(context.Background(), uplink.CmdGetDirectUploadURL, recordChunk(time.Now(), 10))
		res <- err
	}()
	waitWithheld(t, sim, 1)
	sim.DropConnections()
	select {
	case err := <-res:
		if !errors.Is(err, uplink.ErrConnClosed) {
			t.Errorf("got %v, want ErrConnClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("request still waiting after the connection ended")
	}
	// The session now waits on the fake clock to reconnect.
	if _, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(time.Now(), 10)); !errors.Is(err, uplink.ErrNotReady) {
		t.Errorf("request while disconnected: %v, want ErrNotReady", err)
	}
}

// TestDirectUploadNotBehindHandler: a grant is delivered while the Handler
// is busy with a slow request; the receive loop answers it itself.
func TestDirectUploadNotBehindHandler(t *testing.T) {
	sim, a, _ := uploadAgent(t, nil)
	block, blocked := make(chan struct{}), make(chan struct{}, 1)
	a.h.mu.Lock()
	a.h.block, a.h.blocked = block, blocked
	a.h.mu.Unlock()
	slow := make(chan error, 1)
	go func() {
		_, err := sim.Request(ctxT(t), sim.CamID(), uplink.CmdGetCamStatus, nil)
		slow <- err
	}()
	select {
	case <-blocked:
	case <-time.After(waitLimit):
		t.Fatal("handler never got the slow request")
	}
	if _, err := a.s.RequestUpload(ctxT(t), uplink.CmdGetDirectUploadURL, recordChunk(time.Now(), 10)); err != nil {
		t.Errorf("request while the handler is busy: %v", err)
	}
	close(block)
	if err := <-slow; err != nil {
		t.Error(err)
	}
}

// rawReady runs a session against a raw cloud up to READY, with grants
// timing out after grantWait.
func rawReady(t *testing.T, camID int64, grantWait time.Duration) (*uplink.Session, *rawConn) {
	t.Helper()
	rc := newRawCloud(t)
	h := newHandler()
	opts := uplink.Options{Token: rawToken(t, "share.x.y", rc.host(), camID), Insecure: true, Version: "v", Vendor: "v",
		Handler: h, Logger: zaptest.NewLogger(t), Clock: newFakeClock(), Rand: func() float64 { return 0.5 },
		Timeouts: uplink.Timeouts{DirectUpload: grantWait}}
	s := uplink.NewSession(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c := rc.accept()
	c.expect("register", "ver", "tz", "vendor", "reg_token", "media_protocols")
	c.send(map[string]any{"cmd": "hello", "msgid": 1, "refid": c.msgid, "orig_cmd": "register", "status": "OK", "sid": "s1"})
	c.expectDone(1, "hello", "OK", 0)
	c.expect("cam_register", "ip", "uuid", "brand", "model", "sn", "version", "type", "raw_messaging")
	c.send(map[string]any{"cmd": "cam_hello", "msgid": 2, "refid": c.msgid, "orig_cmd": "cam_register", "cam_id": camID, "path": "live/c_"})
	c.expectDone(2, "cam_hello", "OK", camID)
	select {
	case <-h.ready:
	case <-time.After(waitLimit):
		t.Fatal("not READY")
	}
	return s, c
}

// TestRawCloudDirectUploadURL checks the agent's done for each kind of
// direct_upload_url a cloud may send (docs/protocol.md#direct-upload,
// vectors v144/v145): one for a request that timed out, one nobody asked
// for and one for another camera are answered ERROR and change nothing.
func TestRawCloudDirectUploadURL(t *testing.T) {
	const camID = 310042
	s, c := rawReady(t, camID, time.Hour)
	type result struct {
		g   uplink.UploadGrant
		err error
	}
	ask := func(ctx context.Context) (int64, chan result) {
		res := make(chan result, 1)
		go func() {
			g, err := s.RequestUpload(ctx, uplink.CmdGetDirectUploadURL, recordChunk(time.Date(2024, 3, 14, 9, 26, 58, 512e6, time.UTC), 1910784))
			res <- result{g, err}
		}()
		m := c.expect(uplink.CmdGetDirectUploadURL, "cam_id", "category", "type", "stream_id", "file_time", "duration", "size")
		if m["file_time"] != "20240314T092658.512" || num(m["duration"]) != 15000 || num(m["size"]) != 1910784 {
			t.Errorf("request %v", m)
		}
		return c.msgid, res
	}

	// v144: refused; the agent answers MISSED_PARAM (v145) and gives up.
	id, res := ask(ctxT(t))
	c.send(map[string]any{"cmd": "direct_upload_url", "msgid": 1065, "refid": id, "orig_cmd": "get_direct_upload_url", "cam_id": camID, "status": "ERROR", "category": "record"})
	c.expectDone(1065, "direct_upload_url", "MISSED_PARAM", camID)
	if r := <-res; !errors.Is(r.err, uplink.ErrUploadRefused) {
		t.Errorf("refused grant: %v", r.err)
	}

	// The answer arrives after the request gave up.
	ctx, cancel := context.WithCancel(ctxT(t))
	id, res = ask(ctx)
	cancel()
	if r := <-res; r.err != context.Canceled {
		t.Fatalf("cancelled request: %v", r.err)
	}
	usable := map[string]any{"cmd": "direct_upload_url", "msgid": 1066, "refid": id, "orig_cmd": "get_direct_upload_url", "cam_id": camID,
		"status": "OK", "category": "record", "url": "https://s.example/r", "headers": map[string]string{"Content-Type": "video/mp4"}}
	c.send(usable)
	c.expectDone(1066, "direct_upload_url", "ERROR", camID)

	// Never asked for, and no refid at all.
	c.sendRaw(`{"cmd":"direct_upload_url","msgid":1067,"cam_id":310042,"status":"OK","url":"https://s.example/x","headers":{}}`)
	c.expectDone(1067, "direct_upload_url", "ERROR", camID)

	// For another camera, with the refid of a pending request: refused,
	// and the request still waits for its own answer.
	id, res = ask(ctxT(t))
	usable["msgid"], usable["refid"], usable["cam_id"] = 1068, id, camID+1
	c.send(usable)
	c.expectDone(1068, "direct_upload_url", "ERROR", camID+1)
	usable["msgid"], usable["cam_id"] = 1069, camID
	c.send(usable)
	c.expectDone(1069, "direct_upload_url", "OK", camID)
	r := <-res
	if tg, ok := r.g.For(uplink.CategoryRecord); r.err != nil || !ok || tg.URL != "https://s.example/r" {
		t.Errorf("grant %+v, %v", r.g, r.err)
	}
	if n := s.PendingGrants(); n != 0 {
		t.Errorf("%d grant waiters left", n)
	}
}
