package record

import (
	"testing"
	"time"

	"github.com/camagent/camagent/media"
)

// oldestKept starts a clip from long ago and returns the first unit it
// gets: the oldest unit the buffer holds.
func oldestKept(t *testing.T, b *Buffer) *media.Unit {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.snapshot(time.Time{})
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func TestBufferKeepsWholeGOPsCoveringKeep(t *testing.T) {
	c := &cam{f: loadFixture(t), skip: 10} // the stream starts mid-GOP
	b := NewBuffer(BufferOptions{Keep: 3 * time.Second})
	defer b.Close()
	for range 400 {
		u := c.next()
		b.Write(u)
		first := oldestKept(t, b)
		if first == nil {
			if c.frame > 15 {
				t.Fatalf("nothing kept after %d frames", c.frame)
			}
			continue
		}
		if !first.Key || !first.Track.Codec.IsVideo() {
			t.Fatalf("oldest kept unit at %v is not a video key frame", first.DTS)
		}
		if first.DTS == 0 {
			t.Fatal("kept a frame from before the first key frame")
		}
		st := b.Stats()
		// A second's GOP: covers Keep once it can, and never a whole GOP more.
		if u.DTS > 4*time.Second && (st.Span < 3*time.Second || st.Span >= 4*time.Second) {
			t.Fatalf("at %v the buffer spans %v, want [3s, 4s)", u.DTS, st.Span)
		}
	}
	if st := b.Stats(); st.Trimmed != 0 || st.Discarded != 0 {
		t.Errorf("stats %+v: nothing should be trimmed without a byte limit", st)
	}
}

func TestBufferMaxBytes(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	// Learn what two seconds of the fixture weigh.
	probe := NewBuffer(BufferOptions{Keep: time.Hour})
	c.feedUntil(probe, testT0.Add(2*time.Second-time.Millisecond))
	limit := probe.Stats().Bytes
	probe.Close()

	b := NewBuffer(BufferOptions{Keep: time.Hour, MaxBytes: limit})
	defer b.Close()
	c = &cam{f: loadFixture(t)}
	for range 500 {
		b.Write(c.next())
		st := b.Stats()
		if st.Bytes > limit {
			t.Fatalf("buffer holds %d bytes, limit %d", st.Bytes, limit)
		}
		if first := oldestKept(t, b); first == nil || !first.Key {
			t.Fatalf("after %d frames the buffer does not start with a key frame", c.frame)
		}
	}
	if st := b.Stats(); st.Trimmed == 0 || st.Span < time.Second {
		t.Errorf("stats %+v: want GOPs trimmed and at least one full second kept", st)
	}
}

func TestBufferGOPLargerThanLimit(t *testing.T) {
	c := &cam{f: loadFixture(t), noAudio: true}
	key := c.next()
	b := NewBuffer(BufferOptions{Keep: time.Hour, MaxBytes: unitSize(key) + 100})
	defer b.Close()
	b.Write(key)
	for range 60 {
		b.Write(c.next())
		if st := b.Stats(); st.Bytes > unitSize(key)+100 {
			t.Fatalf("holds %d bytes over its limit", st.Bytes)
		}
	}
	st := b.Stats()
	if st.Discarded == 0 {
		t.Errorf("stats %+v: want units discarded", st)
	}
	if first := oldestKept(t, b); first != nil && !first.Key {
		t.Fatal("kept the tail of a GOP without its key frame")
	}
}

func TestBudgetSharedByBuffers(t *testing.T) {
	f := loadFixture(t)
	probe := NewBuffer(BufferOptions{Keep: time.Hour})
	(&cam{f: f}).feedUntil(probe, testT0.Add(3*time.Second-time.Millisecond))
	budget := NewBudget(probe.Stats().Bytes) // three GOPs for two buffers that want five each
	probe.Close()

	cams := []*cam{{f: f}, {f: f, skip: 12}}
	bufs := []*Buffer{
		NewBuffer(BufferOptions{Keep: 5 * time.Second, Budget: budget}),
		NewBuffer(BufferOptions{Keep: 5 * time.Second, Budget: budget}),
	}
	for range 800 {
		for i, b := range bufs {
			b.Write(cams[i].next())
		}
		sum := bufs[0].Stats().Bytes + bufs[1].Stats().Bytes
		if used := budget.Used(); used > budget.Max() || used != sum {
			t.Fatalf("budget used %d (max %d), buffers hold %d", used, budget.Max(), sum)
		}
		for _, b := range bufs {
			if first := oldestKept(t, b); first != nil && !first.Key {
				t.Fatal("a buffer squeezed by the budget does not start on a key frame")
			}
		}
	}
	if bufs[0].Stats().Trimmed+bufs[1].Stats().Trimmed == 0 {
		t.Error("an exhausted budget trimmed nothing")
	}
	bufs[0].Close()
	if budget.Used() != bufs[1].Stats().Bytes {
		t.Errorf("after Close the budget still counts %d bytes, want %d", budget.Used(), bufs[1].Stats().Bytes)
	}
	bufs[1].Close()
	if budget.Used() != 0 {
		t.Errorf("budget counts %d bytes after every buffer closed", budget.Used())
	}
}

func TestBufferWriteDoesNotAllocate(t *testing.T) {
	c := &cam{f: loadFixture(t)}
	units := make([]*media.Unit, 2000)
	for i := range units {
		units[i] = c.next()
	}
	b := NewBuffer(BufferOptions{Keep: 2 * time.Second, Budget: NewBudget(64 << 20)})
	defer b.Close()
	for _, u := range units[:1000] { // the ring reaches its size
		b.Write(u)
	}
	i := 1000
	if n := testing.AllocsPerRun(900, func() { b.Write(units[i]); i++ }); n != 0 {
		t.Fatalf("Write allocates %v times per unit in steady state", n)
	}
}
