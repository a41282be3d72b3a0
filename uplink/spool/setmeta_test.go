package spool

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// TestSetMetaSurvivesReopen: a delivery that rewrote its item's meta and
// then failed leaves the item with the new meta, also for the next Open,
// with its payload intact; the budget still balances.
func TestSetMetaSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	b := NewBudget(1 << 20)
	s := open(t, Options{Dir: dir, Budget: b})
	put(t, s, ClassEvent, base, "picture")
	ctx, cancel := context.WithCancel(context.Background())
	failed := errors.New("PUT failed")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx, func(ctx context.Context, it Item, payload io.Reader) error {
			if string(it.Meta) == `{"n":"picture"}` {
				if _, err := s.SetMeta(it, []byte(`{"kind":"snapshot-only"}`)); err != nil {
					t.Errorf("set meta: %v", err)
				}
				return failed
			}
			<-ctx.Done() // the second try: leave it queued
			return ctx.Err()
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Failures != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failed try was not counted")
		}
	}
	cancel()
	<-done
	used := b.Used()
	s.Close()

	s2 := open(t, Options{Dir: dir, Budget: NewBudget(1 << 20)})
	if st := s2.Stats(); st.Items != 1 || st.Bytes != used {
		t.Fatalf("after reopen: %d items, %d bytes; want 1 item of the %d bytes charged before", st.Items, st.Bytes, used)
	}
	got := make(chan string, 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() {
		_ = s2.Run(ctx2, func(_ context.Context, it Item, payload io.Reader) error {
			b, _ := io.ReadAll(payload)
			got <- string(it.Meta) + " " + string(b)
			return nil
		})
	}()
	if g := <-got; g != `{"kind":"snapshot-only"} picture` {
		t.Errorf("after reopen the item is %q", g)
	}
}
