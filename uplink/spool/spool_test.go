package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/camagent/camagent/internal/backoff"
)

// base is the Created time tests place items around: recent, so no
// default MaxAge applies, and whole seconds, so every record has the same
// length.
var base = time.Now().Add(-time.Minute).Truncate(time.Second).UTC()

func open(t *testing.T, opts Options) *Spool {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "spool")
	}
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	if opts.Backoff.Min == 0 {
		opts.Backoff = backoff.Backoff{Min: time.Millisecond, Max: time.Millisecond}
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *Spool, c Class, created time.Time, payload string) Item {
	t.Helper()
	it, err := s.Put(Item{Class: c, Created: created, Meta: []byte(`{"n":"` + payload + `"}`)}, []byte(payload))
	if err != nil {
		t.Fatalf("put %s %q: %v", c, payload, err)
	}
	return it
}

// delivery is one deliver call as the test sees it.
type delivery struct {
	it      Item
	payload string
	reply   chan error // the test answers deliver's result here
}

// run starts s.Run with a deliver that hands each call to the test on the
// returned channel and waits for the test's answer. stop cancels and waits.
func run(t *testing.T, s *Spool) (calls chan delivery, stop func()) {
	t.Helper()
	calls = make(chan delivery)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context, it Item, payload io.Reader) error {
			b, err := io.ReadAll(payload)
			if err != nil {
				return err
			}
			d := delivery{it, string(b), make(chan error)}
			select {
			case calls <- d:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case err := <-d.reply:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return calls, stop
}

// booked returns a channel told every booked delivery outcome.
func booked(s *Spool) chan error {
	ch := make(chan error, 64)
	s.booked = func(_ Item, err error) { ch <- err }
	return ch
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestDeliveredItemIsDeleted(t *testing.T) {
	s := open(t, Options{})
	it := put(t, s, ClassEvent, base, "snapshot")
	if got := files(t, s.opts.Dir); !slices.Equal(got, []string{it.ID + ".data", it.ID + ".meta"}) {
		t.Fatalf("files after put: %v", got)
	}
	outcomes := booked(s)
	calls, _ := run(t, s)
	d := <-calls
	if d.payload != "snapshot" || string(d.it.Meta) != `{"n":"snapshot"}` || !d.it.Created.Equal(base) || d.it.Size != 8 || d.it.ID != it.ID {
		t.Errorf("delivered %+v with %q", d.it, d.payload)
	}
	d.reply <- nil
	<-outcomes
	if got := files(t, s.opts.Dir); len(got) != 0 {
		t.Errorf("files after delivery: %v", got)
	}
	st := s.Stats()
	if st.Items != 0 || st.Bytes != 0 || st.Uploaded != 1 || st.UploadedBytes != 8 || st.LastUpload.IsZero() || !st.OldestCreated.IsZero() {
		t.Errorf("stats: %+v", st)
	}
}

func TestFailedItemIsKeptAndRetried(t *testing.T) {
	s := open(t, Options{})
	it := put(t, s, ClassClip, time.Now(), "chunk")
	outcomes := booked(s)
	calls, _ := run(t, s)
	(<-calls).reply <- errors.New("put: 503")
	<-outcomes
	if st := s.Stats(); st.Items != 1 || st.Failures != 1 || st.LastError != "put: 503" {
		t.Errorf("stats after failure: %+v", st)
	}
	d := <-calls // after the backoff
	if d.it.ID != it.ID || d.payload != "chunk" {
		t.Errorf("retry delivered %+v %q", d.it, d.payload)
	}
	if got := files(t, s.opts.Dir); len(got) != 2 {
		t.Errorf("files during retry: %v", got)
	}
	d.reply <- nil
	<-outcomes
	if st := s.Stats(); st.Items != 0 || st.Uploaded != 1 || st.Failures != 1 {
		t.Errorf("stats after retry: %+v", st)
	}
}

func TestWaitParksUntilWake(t *testing.T) {
	s := open(t, Options{MaxActive: 1})
	put(t, s, ClassEvent, base, "a")
	put(t, s, ClassEvent, base.Add(time.Second), "b")
	outcomes := booked(s)
	calls, _ := run(t, s)
	d := <-calls
	d.reply <- fmt.Errorf("no link: %w", ErrWait)
	<-outcomes
	select {
	case d := <-calls:
		t.Fatalf("delivered %q while waiting for the link", d.payload)
	default:
	}
	if st := s.Stats(); !st.Waiting || st.Items != 2 || st.Failures != 0 {
		t.Errorf("stats while waiting: %+v", st)
	}
	s.Wake()
	var got []string
	for range 2 {
		d := <-calls
		got = append(got, d.payload)
		d.reply <- nil
		<-outcomes
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("after wake delivered %v", got)
	}
	if st := s.Stats(); st.Waiting || st.Items != 0 {
		t.Errorf("stats after wake: %+v", st)
	}
}

func TestDropDeletesUnsent(t *testing.T) {
	s := open(t, Options{})
	put(t, s, ClassOther, base, "log")
	outcomes := booked(s)
	calls, _ := run(t, s)
	(<-calls).reply <- fmt.Errorf("cloud: 404: %w", ErrDrop)
	<-outcomes
	st := s.Stats()
	if st.Items != 0 || st.Uploaded != 0 || st.Dropped[reasonRefused] != 1 {
		t.Errorf("stats: %+v", st)
	}
	if got := files(t, s.opts.Dir); len(got) != 0 {
		t.Errorf("files: %v", got)
	}
}

// With one delivery at a time, events go first, then clips, previews and
// the rest, each oldest first, whatever order they were put in.
func TestPriority(t *testing.T) {
	s := open(t, Options{MaxActive: 1})
	for _, i := range []int{2, 0, 3, 1} {
		for _, c := range []Class{ClassOther, ClassPreview, ClassEvent, ClassClip} {
			put(t, s, c, base.Add(time.Duration(i)*time.Second), fmt.Sprintf("%s%d", c, i))
		}
	}
	calls, _ := run(t, s)
	var got []string
	for range 16 {
		d := <-calls
		got = append(got, d.payload)
		d.reply <- nil
	}
	var want []string
	for _, c := range Classes {
		for i := range 4 {
			want = append(want, fmt.Sprintf("%s%d", c, i))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
}

// No class ever has more deliveries running than its cap, and each reaches it.
func TestWorkerCaps(t *testing.T) {
	caps := map[Class]int{ClassEvent: 3, ClassClip: 2, ClassPreview: 1, ClassOther: 2}
	s := open(t, Options{Workers: caps})
	const perClass = 5
	for _, c := range Classes {
		for i := range perClass {
			put(t, s, c, base.Add(time.Duration(i)*time.Second), fmt.Sprint(c, i))
		}
	}
	var mu sync.Mutex
	var active, peak [numClasses]int
	var entered, release [numClasses]chan struct{}
	for _, c := range Classes {
		entered[c], release[c] = make(chan struct{}, perClass), make(chan struct{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context, it Item, _ io.Reader) error {
			mu.Lock()
			active[it.Class]++
			peak[it.Class] = max(peak[it.Class], active[it.Class])
			if active[it.Class] > caps[it.Class] {
				t.Errorf("%d %s deliveries at once, cap %d", active[it.Class], it.Class, caps[it.Class])
			}
			mu.Unlock()
			entered[it.Class] <- struct{}{}
			<-release[it.Class]
			mu.Lock()
			active[it.Class]--
			mu.Unlock()
			return nil
		})
	}()
	for _, c := range Classes {
		for range caps[c] { // the cap filled
			<-entered[c]
		}
		for range perClass - caps[c] { // each release lets one more in
			release[c] <- struct{}{}
			<-entered[c]
		}
		for range caps[c] {
			release[c] <- struct{}{}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, c := range Classes {
		if peak[c] != caps[c] {
			t.Errorf("%s: peak %d deliveries, cap %d", c, peak[c], caps[c])
		}
	}
	if st := s.Stats(); st.Items != 0 || st.Uploaded != 4*perClass {
		t.Errorf("stats: %+v", st)
	}
}

// An upload cut off by shutdown stays queued and starts over from byte 0.
func TestInterruptedDeliveryStartsOver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, Options{Dir: dir})
	put(t, s, ClassClip, time.Now(), "0123456789")
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context, _ Item, p io.Reader) error {
			io.CopyN(io.Discard, p, 4)
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Items != 1 || st.Failures != 0 {
		t.Errorf("stats after shutdown: %+v", st)
	}
	s.Close()
	s2 := open(t, Options{Dir: dir})
	calls, _ := run(t, s2)
	d := <-calls
	d.reply <- nil
	if d.payload != "0123456789" {
		t.Errorf("redelivered %q", d.payload)
	}
}

func TestClose(t *testing.T) {
	b := NewBudget(0)
	s := open(t, Options{Budget: b})
	put(t, s, ClassEvent, base, "x")
	calls, _ := run(t, s)
	d := <-calls
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	// Close cancels the running delivery and waits for Run.
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	close(d.reply)
	if _, err := s.Put(Item{Class: ClassEvent}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("put after close: %v", err)
	}
	if err := s.Run(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("run after close: %v", err)
	}
	if b.Used() != 0 {
		t.Errorf("budget still charged %d bytes", b.Used())
	}
}

func TestPutWithoutPayload(t *testing.T) {
	s := open(t, Options{})
	it := put(t, s, ClassEvent, base, "")
	if got := files(t, s.opts.Dir); !slices.Equal(got, []string{it.ID + ".meta"}) {
		t.Errorf("files: %v", got)
	}
	calls, _ := run(t, s)
	d := <-calls
	d.reply <- nil
	if d.payload != "" || d.it.Size != 0 || !bytes.Equal(d.it.Meta, []byte(`{"n":""}`)) {
		t.Errorf("delivered %+v %q", d.it, d.payload)
	}
}
