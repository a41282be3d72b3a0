package camera

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/onvif/onvifsim"
)

// resolvedCamera is a camera that learnt a simulated ONVIF device whose
// snapshot URI is snapshotURL; nothing else of it runs.
func resolvedCamera(t *testing.T, snapshotURL string) *Camera {
	t.Helper()
	sim := onvifsim.New(onvifsim.Options{Username: "admin", Password: "pw", SnapshotURL: snapshotURL, RTSPURL: "rtsp://127.0.0.1:1/main"})
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	cam := config.Camera{Name: "demo", ONVIF: config.ONVIF{
		URL: sim.URL(), Username: "admin", Password: config.NewSecret("pw"),
		Timeout: 5 * time.Second, MaxClockSkew: config.DefaultMaxClockSkew,
	}}
	w := New(Options{Camera: cam, Logger: zaptest.NewLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := w.resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.id.Store(id)
	return w
}

// snapshotServer is a camera's snapshot endpoint whose answers the test
// controls: it counts requests and can hold them until released.
type snapshotServer struct {
	*httptest.Server
	requests atomic.Int32
	body     atomic.Pointer[[]byte]
	hold     atomic.Pointer[chan struct{}] // answer once it is closed; nil: at once
	arrived  chan struct{}
}

func newSnapshotServer(t *testing.T, body []byte) *snapshotServer {
	s := &snapshotServer{arrived: make(chan struct{}, 16)}
	s.body.Store(&body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.arrived <- struct{}{}
		if h := s.hold.Load(); h != nil {
			<-*h
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

// TestSnapshotCache: callers asking at once share one request to the
// camera, a young picture is answered from memory, and pictures that are
// too big or not JPEG are refused with a plain reason on the snapshot URL.
func TestSnapshotCache(t *testing.T) {
	picture := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{1}, 1000)...)
	cam := newSnapshotServer(t, picture)
	hold := make(chan struct{})
	cam.hold.Store(&hold)
	w := resolvedCamera(t, cam.URL+"/snap.jpg")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	type result struct {
		jpeg []byte
		err  error
	}
	results := make(chan result, 5)
	var wg sync.WaitGroup
	wg.Go(func() {
		jpeg, _, err := w.Snapshot(ctx, time.Hour)
		results <- result{jpeg, err}
	})
	<-cam.arrived // the first fetch is at the camera, held there
	for range 4 {
		wg.Go(func() {
			jpeg, _, err := w.Snapshot(ctx, time.Hour)
			results <- result{jpeg, err}
		})
	}
	close(hold)
	wg.Wait()
	close(results)
	for res := range results {
		if res.err != nil || !bytes.Equal(res.jpeg, picture) {
			t.Errorf("caller got %d bytes, %v", len(res.jpeg), res.err)
		}
	}
	if n := cam.requests.Load(); n != 1 {
		t.Errorf("%d requests reached the camera for 5 callers at once, want 1", n)
	}
	if _, _, err := w.Snapshot(ctx, time.Hour); err != nil || cam.requests.Load() != 1 {
		t.Errorf("a young picture was fetched again (%d requests, %v)", cam.requests.Load(), err)
	}

	// The caller whose fetch the others wait for gives up: one of them
	// fetches instead, and they all get the picture.
	w.snap.mu.Lock()
	w.snap.jpeg = nil
	w.snap.mu.Unlock()
	hold = make(chan struct{})
	cam.hold.Store(&hold)
	first, giveUp := context.WithCancel(ctx)
	firstErr := make(chan error, 1)
	wg.Go(func() {
		_, _, err := w.Snapshot(first, time.Hour)
		firstErr <- err
	})
	<-cam.arrived
	results = make(chan result, 3)
	for range 3 {
		wg.Go(func() {
			jpeg, _, err := w.Snapshot(ctx, time.Hour)
			results <- result{jpeg, err}
		})
	}
	giveUp()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller who gave up got %v", err)
	}
	<-cam.arrived // the fetch of a caller still waiting
	close(hold)
	wg.Wait()
	close(results)
	for res := range results {
		if res.err != nil || !bytes.Equal(res.jpeg, picture) {
			t.Errorf("a caller left waiting got %d bytes, %v", len(res.jpeg), res.err)
		}
	}
	if n := cam.requests.Load(); n != 3 {
		t.Errorf("%d requests reached the camera, want 3 (one shared, one abandoned, one for the callers left)", n)
	}

	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"too big", append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, snapshotMaxBytes)...), "more than the 2097152 allowed"},
		{"not a jpeg", []byte("<html>error</html>"), "not a JPEG"},
	} {
		w.snap.mu.Lock()
		w.snap.jpeg, w.snap.err = nil, nil
		w.snap.mu.Unlock()
		cam.body.Store(&c.body)
		if _, _, err := w.Snapshot(ctx, time.Hour); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		// A failure is remembered for a moment: the camera is not asked again at once.
		n := cam.requests.Load()
		if _, _, err := w.Snapshot(ctx, time.Hour); err == nil || !strings.Contains(err.Error(), c.want) || cam.requests.Load() != n {
			t.Errorf("%s: asking again at once: %v, %d requests before, %d after", c.name, err, n, cam.requests.Load())
		}
		for len(cam.arrived) > 0 {
			<-cam.arrived
		}
	}
}

// TestOneRunAtATime: a camera's state has one owner, so a second Run while
// one runs is refused at once and changes nothing.
func TestOneRunAtATime(t *testing.T) {
	w := resolvedCamera(t, "http://127.0.0.1:1/snap.jpg")
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- w.Run(ctx) }()
	for !w.running.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := w.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	cancel()
	if err := <-first; err != nil {
		t.Errorf("first Run = %v after cancel, want nil", err)
	}
}
