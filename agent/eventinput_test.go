package agent

import (
	"strings"
	"testing"
	"time"
)

// localEventCases seed FuzzDecodeLocalEvent too.
var localEventCases = []struct {
	body    string
	ok      bool
	event   string
	offset  time.Duration // of the time from now
	comment string
}{
	{`{"event":"doorbell"}`, true, "doorbell", 0, "no time: now"},
	{`{"event":"door","time":1000.25,"meta":{"a":1}}`, true, "door", -1, "epoch seconds"},
	{`{"event":"door","time":"2026-12-07T10:00:00.5Z"}`, true, "door", -1, "RFC 3339"},
	{`{"event":"door","time":null}`, true, "door", 0, "null time: now"},
	{`{"time":5}`, false, "", 0, "no event"},
	{`{"event":""}`, false, "", 0, "empty event"},
	{`{"event":"door","when":5}`, false, "", 0, "unknown field"},
	{`{"event":"door","time":"noon"}`, false, "", 0, "bad time"},
	{`{"event":"door","time":1e400}`, false, "", 0, "infinite time"},
	{`[1,2]`, false, "", 0, "not an object"},
	{`{"event":"door","meta":[1]}`, false, "", 0, "meta not an object"},
}

func TestDecodeLocalEvent(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 1, 0, time.UTC)
	for _, c := range localEventCases {
		in, at, err := decodeLocalEvent(strings.NewReader(c.body), time.Unix(1000, 0).Add(time.Hour))
		if strings.Contains(c.comment, "RFC") {
			in, at, err = decodeLocalEvent(strings.NewReader(c.body), now)
		}
		if (err == nil) != c.ok {
			t.Errorf("%s: %s: error %v, want ok %v", c.comment, c.body, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		if in.Event != c.event {
			t.Errorf("%s: event %q", c.comment, in.Event)
		}
		switch c.comment {
		case "epoch seconds":
			if !at.Equal(time.UnixMilli(1000250)) {
				t.Errorf("epoch time %v", at)
			}
		case "RFC 3339":
			if !at.Equal(now.Add(-500 * time.Millisecond)) {
				t.Errorf("RFC 3339 time %v", at)
			}
		}
	}
}

// FuzzDecodeLocalEvent: whatever a program on the gateway posts, the
// decoder answers an error or an event with a name and a time within the
// window, and never panics.
func FuzzDecodeLocalEvent(f *testing.F) {
	for _, c := range localEventCases {
		f.Add([]byte(c.body))
	}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		in, at, err := decodeLocalEvent(strings.NewReader(string(b)), now)
		if err != nil {
			return
		}
		if in.Event == "" || at.After(now.Add(eventFuture)) || at.Before(now.Add(-eventPast)) {
			t.Fatalf("accepted %q: event %q at %v", b, in.Event, at)
		}
	})
}
