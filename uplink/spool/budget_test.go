package spool

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const itemPayload = 1000

// itemCost is what one test item (itemPayload bytes, same-length meta and
// whole-second Created) is charged.
func itemCost(t *testing.T) int64 {
	t.Helper()
	s := open(t, Options{})
	putSized(t, s, ClassEvent, base, "x")
	return s.Stats().Bytes
}

// putSized puts an item of itemPayload bytes named by its Meta.
func putSized(t *testing.T, s *Spool, c Class, created time.Time, name string) (Item, error) {
	t.Helper()
	meta := []byte(fmt.Sprintf("%-16s", name)) // one length, one cost
	return s.Put(Item{Class: c, Created: created, Meta: meta}, []byte(strings.Repeat("p", itemPayload)))
}

// queued returns the names (Meta) of the items in s, in rank order.
func queued(s *Spool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, q := range s.classes {
		for _, e := range q {
			names = append(names, strings.TrimSpace(string(e.Meta)))
		}
	}
	return names
}

// A full budget shared by two cameras gives way from the least important
// item of either: the highest class first, within it the oldest; an item
// less important than all it would displace is refused.
func TestSharedBudgetEvictsLeastImportant(t *testing.T) {
	cost := itemCost(t)
	b := NewBudget(4 * cost)
	a := open(t, Options{Budget: b})
	c := open(t, Options{Budget: b})
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	mustPut := func(s *Spool, cl Class, sec int, name string) {
		t.Helper()
		if _, err := putSized(t, s, cl, at(sec), name); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	mustPut(a, ClassPreview, 1, "a-preview1")
	mustPut(a, ClassClip, 2, "a-clip2")
	mustPut(c, ClassPreview, 3, "c-preview3")
	mustPut(c, ClassEvent, 4, "c-event4")
	if b.Used() != 4*cost {
		t.Fatalf("budget used %d, want %d", b.Used(), 4*cost)
	}

	mustPut(a, ClassClip, 5, "a-clip5") // evicts a-preview1, the older preview
	if _, err := putSized(t, c, ClassOther, at(6), "c-other6"); !errors.Is(err, ErrFull) {
		t.Errorf("put of the least important item: %v, want ErrFull", err)
	}
	mustPut(c, ClassEvent, 7, "c-event7") // evicts c-preview3
	if _, err := putSized(t, a, ClassClip, at(0), "a-clip0"); !errors.Is(err, ErrFull) {
		t.Errorf("put of a clip older than all queued clips: %v, want ErrFull", err)
	}
	mustPut(a, ClassEvent, 8, "a-event8") // evicts a-clip2, the oldest clip

	if got, want := queued(a), []string{"a-event8", "a-clip5"}; !slices.Equal(got, want) {
		t.Errorf("camera a holds %v, want %v", got, want)
	}
	if got, want := queued(c), []string{"c-event4", "c-event7"}; !slices.Equal(got, want) {
		t.Errorf("camera c holds %v, want %v", got, want)
	}
	if got, want := a.Stats().Dropped, map[string]int64{reasonBudget: 2, reasonFull: 1}; !maps.Equal(got, want) {
		t.Errorf("camera a dropped %v, want %v", got, want)
	}
	if got, want := c.Stats().Dropped, map[string]int64{reasonBudget: 1, reasonFull: 1}; !maps.Equal(got, want) {
		t.Errorf("camera c dropped %v, want %v", got, want)
	}
	if b.Used() != 4*cost || len(files(t, a.opts.Dir)) != 4 || len(files(t, c.opts.Dir)) != 4 {
		t.Errorf("budget used %d, want %d; files a %v c %v", b.Used(), 4*cost, files(t, a.opts.Dir), files(t, c.opts.Dir))
	}
}

// An item that could not fit even after evicting everything is refused
// without evicting anything.
func TestOversizedItemEvictsNothing(t *testing.T) {
	cost := itemCost(t)
	b := NewBudget(2 * cost)
	s := open(t, Options{Budget: b})
	putSized(t, s, ClassOther, base, "other")
	putSized(t, s, ClassEvent, base, "event")
	big := make([]byte, 2*cost+1)
	if _, err := s.Put(Item{Class: ClassEvent, Created: base.Add(time.Second)}, big); !errors.Is(err, ErrFull) {
		t.Fatalf("put: %v, want ErrFull", err)
	}
	if got := queued(s); len(got) != 2 {
		t.Errorf("queued %v after a refused put", got)
	}
}

// The free-disk guard evicts like the budget does, with its own reason.
func TestMinFreeEvicts(t *testing.T) {
	cost := itemCost(t)
	s := open(t, Options{MinFree: 1000})
	var mu sync.Mutex
	disk := 1000 + 3*cost // room for three items
	s.freeBytes = func(string) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		return disk - s.budget.Used(), nil
	}
	for i, name := range []string{"p1", "p2", "p3", "p4"} {
		if _, err := putSized(t, s, ClassPreview, base.Add(time.Duration(i)*time.Second), name); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	if got, want := queued(s), []string{"p2", "p3", "p4"}; !slices.Equal(got, want) {
		t.Errorf("queued %v, want %v", got, want)
	}
	if got := s.Stats().Dropped; got[reasonDisk] != 1 {
		t.Errorf("dropped %v", got)
	}
}

// Queued clips older than their MaxAge are dropped unsent; other classes
// have no age limit by default.
func TestMaxAgeDropsOldClips(t *testing.T) {
	s := open(t, Options{MaxActive: 1})
	now := time.Now()
	put(t, s, ClassClip, now.Add(-31*time.Minute), "stale clip")
	put(t, s, ClassClip, now.Add(-29*time.Minute), "fresh clip")
	put(t, s, ClassPreview, now.Add(-24*time.Hour), "old preview")
	calls, _ := run(t, s)
	var got []string
	for range 2 {
		d := <-calls
		got = append(got, d.payload)
		d.reply <- nil
	}
	if want := []string{"fresh clip", "old preview"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if st := s.Stats(); st.Dropped[reasonAge] != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// A budget-wide view: Used follows puts, deliveries and Close.
func TestBudgetAccounting(t *testing.T) {
	b := NewBudget(0)
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, Options{Dir: dir, Budget: b})
	put(t, s, ClassEvent, base, "one")
	put(t, s, ClassEvent, base, "two")
	if b.Used() != s.Stats().Bytes || b.Used() == 0 {
		t.Fatalf("budget %d, spool %d", b.Used(), s.Stats().Bytes)
	}
	held := b.Used()
	s.Close()
	if b.Used() != 0 {
		t.Errorf("after close: %d", b.Used())
	}
	s2 := open(t, Options{Dir: dir, Budget: b})
	if b.Used() != held {
		t.Errorf("after reopen: %d, want %d", b.Used(), held)
	}
	drainAll(t, s2)
	if b.Used() != 0 {
		t.Errorf("after delivering all: %d", b.Used())
	}
}
