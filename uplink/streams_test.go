package uplink_test

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
)

type streamsEnv struct {
	ing    *cloudsim.Ingest
	s      *uplink.Streams
	link   uplink.Link
	opens  atomic.Int32
	closes atomic.Int32 // readers closed
	stop   func() error // ends Run, returns its result
	mu     sync.Mutex
	sleeps []time.Duration
	// As the Streams' clock: sleep (nil: return at once) ends each
	// recorded wait; Now runs ahead of the wall clock by ahead.
	sleep func(ctx context.Context, d time.Duration) error
	ahead atomic.Int64
}

func (e *streamsEnv) Now() time.Time { return time.Now().Add(time.Duration(e.ahead.Load())) }

func (e *streamsEnv) Sleep(ctx context.Context, d time.Duration) error {
	e.mu.Lock()
	e.sleeps = append(e.sleeps, d)
	e.mu.Unlock()
	if e.sleep != nil {
		return e.sleep(ctx, d)
	}
	return ctx.Err()
}

func (e *streamsEnv) recordedSleeps() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.sleeps...)
}

func newStreamsEnv(t *testing.T, ingOpts cloudsim.IngestOptions) *streamsEnv {
	return newStreamsEnvSleep(t, ingOpts, nil)
}

// newStreamsEnvSleep uses sleep as the backoff wait; nil records the
// delay and returns at once. Its Streams runs until the test ends.
func newStreamsEnvSleep(t *testing.T, ingOpts cloudsim.IngestOptions, sleep func(ctx context.Context, d time.Duration) error) *streamsEnv {
	t.Helper()
	e := newStreamsEnvIdle(t, ingOpts, sleep, 0)
	e.stop = runInBackground(t, e.s.Run)
	return e
}

// newStreamsEnvIdle is newStreamsEnvSleep with the given StartTimeout
// (0: the default) and without running the Streams.
func newStreamsEnvIdle(t *testing.T, ingOpts cloudsim.IngestOptions, sleep func(ctx context.Context, d time.Duration) error, startTimeout time.Duration) *streamsEnv {
	t.Helper()
	f := loadFixture(t)
	e := &streamsEnv{ing: startIngest(t, ingOpts), sleep: sleep}
	e.link = uplink.Link{MediaServer: e.ing.Addr(), Path: "live/u1m2c3_", SID: "sid1"}
	e.s = uplink.NewStreams(uplink.StreamsOptions{
		Open: func(id string) (uplink.UnitReader, error) {
			if id != "Main" {
				return nil, errors.New("no such stream")
			}
			e.opens.Add(1)
			// Paced like a camera (4× real time) so a long test does not flood.
			return countedReader{newReader(f, true, 4), &e.closes}, nil
		},
		Clock:        e,
		StartTimeout: startTimeout,
		Logger:       zaptest.NewLogger(t),
	})
	return e
}

// countedReader counts its Close in closes.
type countedReader struct {
	*fakeReader
	closes *atomic.Int32
}

func (r countedReader) Close() {
	r.fakeReader.Close()
	r.closes.Add(1)
}

func activePublishes(rs []cloudsim.PublishRecord) (n int) {
	for _, r := range rs {
		if r.Active {
			n++
		}
	}
	return n
}

func acceptedPublishes(rs []cloudsim.PublishRecord) (n int) {
	for _, r := range rs {
		if r.Accepted {
			n++
		}
	}
	return n
}

func TestStreamsLiveAndRecordShareOnePublish(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	ctx := testCtx(t)
	if err := e.s.Start(ctx, e.link, "Main", "live", 4711); err != nil {
		t.Fatalf("start live: %v", err)
	}
	// Start returns only once the ingest accepted the publish.
	if rs := e.ing.Publishes(); acceptedPublishes(rs) != 1 || rs[0].Name != "u1m2c3_Main?sid=sid1&psid=4711" {
		t.Fatalf("after start live: %+v", rs)
	}
	if !e.s.Streaming() {
		t.Error("Streaming() = false while publishing")
	}
	if err := e.s.Start(ctx, e.link, "Main", "record", 4712); err != nil {
		t.Fatalf("start record: %v", err)
	}
	if got, want := e.s.Active(), map[string][]string{"Main": {"live", "record"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Active() = %v, want %v", got, want)
	}
	e.s.Stop("Main", "live")
	// Still publishing for record: frames keep arriving on the same connection.
	before := e.ing.Publishes()[0].VideoFrames
	if err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return rs[0].VideoFrames > before+5 }); err != nil {
		t.Fatalf("publish stalled after stop live: %v", err)
	}
	if rs := e.ing.Publishes(); len(rs) != 1 || !rs[0].Active {
		t.Fatalf("stop live changed the publish: %+v", rs)
	}
	e.s.Stop("Main", "record")
	if err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return activePublishes(rs) == 0 }); err != nil {
		t.Fatalf("publish still open after the last reason stopped: %v", err)
	}
	if len(e.s.Active()) != 0 || e.s.Streaming() {
		t.Errorf("after stopping all reasons: Active %v Streaming %v", e.s.Active(), e.s.Streaming())
	}
	if r := e.ing.Publishes()[0]; !r.FirstVideoKey || !r.Monotonic || len(r.Violations) != 0 {
		t.Errorf("publish quality: key %v monotonic %v violations %v", r.FirstVideoKey, r.Monotonic, r.Violations)
	}
	// Stopping a reason that is not active is fine (docs/protocol.md#stream-stop).
	e.s.Stop("Main", "live")
	if len(e.s.Active()) != 0 {
		t.Errorf("stop inactive reason left %v", e.s.Active())
	}
}

func TestStreamsRecordByEventOpensNoPublish(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	if err := e.s.Start(testCtx(t), e.link, "Main", "record_by_event", 0); err != nil {
		t.Fatal(err)
	}
	if got := e.s.Active(); !reflect.DeepEqual(got, map[string][]string{"Main": {"record_by_event"}}) {
		t.Errorf("Active() = %v", got)
	}
	if !e.s.Has("Main", "record_by_event") || e.s.Has("Main", "live") {
		t.Error("Has() disagrees with the started reasons")
	}
	if n := e.opens.Load(); n != 0 || len(e.ing.Publishes()) != 0 || e.s.Streaming() {
		t.Errorf("record_by_event opened %d readers, %d publishes", n, len(e.ing.Publishes()))
	}
	e.s.Stop("Main", "record_by_event")
	if len(e.s.Active()) != 0 || e.s.Has("Main", "record_by_event") {
		t.Errorf("Active() = %v after stop", e.s.Active())
	}
}

func TestStreamsStartIsIdempotent(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	ctx := testCtx(t)
	// Concurrent and repeated starts still make one publish.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, r := range []uplink.StreamReason{uplink.ReasonLive, uplink.ReasonLive, uplink.ReasonServerByEvent} {
		wg.Go(func() { errs <- e.s.Start(ctx, e.link, "Main", r, 1) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Start(ctx, e.link, "Main", "live", 2); err != nil {
		t.Fatal(err)
	}
	if err := e.ing.WaitFrames(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := len(e.ing.Publishes()); n != 1 || e.opens.Load() != 1 {
		t.Errorf("%d publishes, %d readers opened; want 1 and 1", n, e.opens.Load())
	}
	if got := e.s.Active(); !reflect.DeepEqual(got, map[string][]string{"Main": {"live", "server_by_event"}}) {
		t.Errorf("Active() = %v", got)
	}
}

func TestStreamsRejectsBadInput(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	ctx := testCtx(t)
	if err := e.s.Start(ctx, uplink.Link{SID: "x"}, "Main", "live", 0); !errors.Is(err, uplink.ErrNoMediaServer) {
		t.Errorf("start without media server = %v", err)
	}
	if err := e.s.Start(ctx, e.link, "Other", "live", 0); err == nil {
		t.Error("start of a stream the media side cannot open succeeded")
	}
	if len(e.s.Active()) != 0 {
		t.Errorf("failed starts left reasons behind: %v", e.s.Active())
	}
}

func TestStreamsStartFailsWhenIngestRefuses(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{Authorize: func(_, _ string, q url.Values) error {
		return errors.New("unknown sid")
	}})
	err := e.s.Start(testCtx(t), e.link, "Main", "live", 0)
	if err == nil {
		t.Fatal("Start succeeded although the ingest refused the publish")
	}
	if len(e.s.Active()) != 0 || e.s.Streaming() {
		t.Errorf("refused start kept state: %v", e.s.Active())
	}
	// No background retries once Start reported the failure.
	if rs := e.ing.Publishes(); len(rs) != 1 {
		t.Errorf("%d publish attempts, want 1", len(rs))
	}
}

func TestStreamsReconnectWhileRequested(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	ctx := testCtx(t)
	if err := e.s.Start(ctx, e.link, "Main", "live", 9); err != nil {
		t.Fatal(err)
	}
	if err := e.ing.WaitFrames(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for round := 2; round <= 3; round++ {
		if n := e.ing.DropPublishers(); n != 1 {
			t.Fatalf("dropped %d publishes", n)
		}
		err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool {
			return len(rs) == round && rs[round-1].Active && rs[round-1].VideoFrames > 0
		})
		if err != nil {
			t.Fatalf("no reconnect #%d: %v", round-1, err)
		}
	}
	for _, r := range e.ing.Publishes() {
		if r.Name != "u1m2c3_Main?sid=sid1&psid=9" || !r.FirstVideoKey || len(r.Violations) != 0 {
			t.Errorf("publish %d: name %q key %v violations %v", r.ID, r.Name, r.FirstVideoKey, r.Violations)
		}
	}
	sleeps := e.recordedSleeps()
	if len(sleeps) != 2 {
		t.Fatalf("backoff sleeps = %v, want 2", sleeps)
	}
	for _, d := range sleeps {
		if d < time.Second || d > 5*time.Second {
			t.Errorf("backoff %v outside the 1–5 s policy", d)
		}
	}
	if sleeps[1] <= sleeps[0]*5/6 {
		t.Errorf("backoff did not grow: %v", sleeps)
	}
	// A control-channel disconnect stops every publish (docs/protocol.md#reconnect).
	e.s.StopAll()
	if err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return activePublishes(rs) == 0 }); err != nil {
		t.Errorf("publishes still active after StopAll: %v", err)
	}
	if len(e.s.Active()) != 0 {
		t.Errorf("Active() = %v after StopAll", e.s.Active())
	}
}

// A publish that stayed up 30 s earns the fast 1 s retry again instead of
// the grown delay.
func TestStreamsBackoffStartsOverAfterHealthyPublish(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	ctx := testCtx(t)
	if err := e.s.Start(ctx, e.link, "Main", "live", 9); err != nil {
		t.Fatal(err)
	}
	if err := e.ing.WaitFrames(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for round := 2; round <= 4; round++ {
		if round == 4 {
			e.ahead.Store(int64(31 * time.Second)) // the third publish has been up 31 s
		}
		if n := e.ing.DropPublishers(); n != 1 {
			t.Fatalf("dropped %d publishes", n)
		}
		err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool {
			return len(rs) == round && rs[round-1].Active && rs[round-1].VideoFrames > 0
		})
		if err != nil {
			t.Fatalf("no reconnect #%d: %v", round-1, err)
		}
	}
	// ±20 % around 1 s and 2 s, then back at 1 s (4 s without the reset).
	sleeps := e.recordedSleeps()
	if len(sleeps) != 3 || sleeps[0] > 1200*time.Millisecond || sleeps[1] < 1600*time.Millisecond ||
		sleeps[2] < time.Second || sleeps[2] > 1200*time.Millisecond {
		t.Errorf("backoff sleeps = %v, want ~1 s, ~2 s, then ~1 s again", sleeps)
	}
}

// Run owns the publishes: they end with its context, and it returns only
// after they have. The owner (the camera) runs it again on its next attempt.
func TestStreamsRunOwnsPublishes(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	ctx := testCtx(t)
	if err := e.s.Start(ctx, e.link, "Main", "live", 1); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Start(ctx, e.link, "Main", "record_by_event", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Run(ctx); err == nil {
		t.Fatal("a second Run beside the running one returned nil")
	}
	if err := e.stop(); err != nil {
		t.Fatalf("Run = %v, want nil after its context ended", err)
	}
	if o, c := e.opens.Load(), e.closes.Load(); o != 1 || c != 1 {
		t.Errorf("Run returned with %d readers opened, %d closed: a publish outlived it", o, c)
	}
	if len(e.s.Active()) != 0 || e.s.Streaming() {
		t.Errorf("after Run: Active %v, Streaming %v", e.s.Active(), e.s.Streaming())
	}
	if err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return activePublishes(rs) == 0 }); err != nil {
		t.Fatalf("publish still open after Run returned: %v", err)
	}

	// A Start made before the next Run begins is served by it.
	started := make(chan error, 1)
	go func() { started <- e.s.Start(ctx, e.link, "Main", "live", 2) }()
	runInBackground(t, e.s.Run)
	if err := <-started; err != nil {
		t.Fatalf("start served by the second Run: %v", err)
	}
	rs := e.ing.Publishes()
	if len(rs) != 2 || !rs[1].Accepted || rs[1].Query.Get("psid") != "2" || !e.s.Streaming() {
		t.Fatalf("after the second Run's start: %d publishes, last %+v", len(rs), rs[len(rs)-1])
	}
}

// Without a Run to serve it, Start fails with ErrStreamsNotRunning once
// StartTimeout has passed: before the first Run and after one returned.
func TestStreamsStartWithoutRunFails(t *testing.T) {
	e := newStreamsEnvIdle(t, cloudsim.IngestOptions{}, nil, 20*time.Millisecond)
	ctx := testCtx(t)
	check := func(when string) {
		t.Helper()
		for _, r := range []uplink.StreamReason{uplink.ReasonLive, uplink.ReasonRecordByEvent} {
			if err := e.s.Start(ctx, e.link, "Main", r, 0); !errors.Is(err, uplink.ErrStreamsNotRunning) {
				t.Errorf("%s: Start %s = %v, want ErrStreamsNotRunning", when, r, err)
			}
		}
		if len(e.s.Active()) != 0 || e.opens.Load() != 0 || len(e.ing.Publishes()) != 0 {
			t.Errorf("%s: refused starts left %v, opened %d readers, %d publishes", when, e.s.Active(), e.opens.Load(), len(e.ing.Publishes()))
		}
	}
	check("before Run")
	if err := runInBackground(t, e.s.Run)(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	check("after Run returned")
}

func TestStreamsRestartDuringBackoffReconnectsWithNewPSID(t *testing.T) {
	// The backoff waits until cancelled, so only a re-sent stream_start can
	// bring the publish back.
	sleeping := make(chan struct{}, 1)
	e := newStreamsEnvSleep(t, cloudsim.IngestOptions{}, func(ctx context.Context, _ time.Duration) error {
		sleeping <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	ctx := testCtx(t)
	if err := e.s.Start(ctx, e.link, "Main", "live", 1); err != nil {
		t.Fatal(err)
	}
	if n := e.ing.DropPublishers(); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	select {
	case <-sleeping:
	case <-ctx.Done():
		t.Fatal("publisher did not notice the drop")
	}
	if e.s.Streaming() {
		t.Error("Streaming() = true while the publish is down")
	}
	// Returns only once the new publish is up.
	if err := e.s.Start(ctx, e.link, "Main", "live", 2); err != nil {
		t.Fatal(err)
	}
	rs := e.ing.Publishes()
	if len(rs) != 2 || !rs[1].Accepted || rs[1].Query.Get("psid") != "2" || !e.s.Streaming() {
		t.Fatalf("after re-sent stream_start: %d publishes, last %+v", len(rs), rs[len(rs)-1])
	}
}

// Publish counters are for metrics: they add up over every publish of a
// stream and never go down when one ends or the next starts.
func TestStreamsStatsNeverGoDown(t *testing.T) {
	e := newStreamsEnv(t, cloudsim.IngestOptions{})
	ctx := testCtx(t)
	var last uplink.PublisherStats
	for i, psid := range []int64{1, 2} {
		if err := e.s.Start(ctx, e.link, "Main", "live", psid); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return rs[i].VideoFrames > 5 }); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		e.s.Stop("Main", "live")
		// The ingest frees the stream name once it has read the close;
		// publishing the same name before that is refused ("already
		// publishing"), as by a real RTMP server.
		if err := e.ing.WaitFor(ctx, func(rs []cloudsim.PublishRecord) bool { return !rs[i].Active }); err != nil {
			t.Fatalf("publish %d still open at the ingest: %v", i, err)
		}
		got := e.s.Stats()["Main"]
		if got.VideoFrames <= last.VideoFrames || got.AudioFrames <= last.AudioFrames || got.Bytes <= last.Bytes {
			t.Fatalf("after publish %d: %+v, want more than %+v", i+1, got, last)
		}
		last = got
	}
	if sent := e.ing.Publishes()[0].VideoFrames + e.ing.Publishes()[1].VideoFrames; last.VideoFrames < uint64(sent) {
		t.Errorf("counted %d video frames, the ingest received %d", last.VideoFrames, sent)
	}
}
