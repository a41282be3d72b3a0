package cloudsim

import (
	"fmt"
	"slices"
	"time"
)

// memorycardTimeline checks a cam_memorycard_timeline reply
// (docs/protocol.md#memory-card): the request's id and interval echoed,
// data a list of packed-time ranges, each ordered and inside the interval.
func (c *simConn) memorycardTimeline(p *pending, m map[string]any) {
	s := c.s
	bad := func(format string, a ...any) { s.violation("cam_memorycard_timeline: "+format, a...) }
	req, _ := p.body.(map[string]any)
	if id, ok := m["request_id"].(string); !ok || req != nil && id != req["request_id"] {
		bad("request_id %v does not echo the request's %v", m["request_id"], req["request_id"])
	}
	from, errFrom := packedField(m, "start")
	to, errTo := packedField(m, "end")
	for _, err := range []error{errFrom, errTo} {
		if err != nil {
			bad("%v", err)
		}
	}
	if req != nil && (m["start"] != req["start"] || m["end"] != req["end"]) {
		bad("start/end %v-%v do not echo the request's %v-%v", m["start"], m["end"], req["start"], req["end"])
	}
	data, ok := m["data"].([]any)
	if !ok {
		bad("data %T is not a list", m["data"])
		return
	}
	var prev time.Time
	for i, e := range data {
		r, ok := e.(map[string]any)
		if !ok {
			bad("data[%d] %T is not an object", i, e)
			continue
		}
		a, err1 := packedField(r, "start")
		b, err2 := packedField(r, "end")
		switch {
		case err1 != nil || err2 != nil:
			bad("data[%d]: %v %v", i, err1, err2)
		case b.Before(a):
			bad("data[%d] ends before it starts", i)
		case errFrom == nil && errTo == nil && (a.Before(from) || b.After(to)):
			bad("data[%d] %v-%v outside the asked %v-%v", i, r["start"], r["end"], m["start"], m["end"])
		case a.Before(prev):
			bad("data[%d] is not in order", i)
		}
		prev = b
	}
}

// packedField reads the packed-time string m[k], written with exactly three
// fractional digits as an agent must.
func packedField(m map[string]any, k string) (time.Time, error) {
	v, _ := m[k].(string)
	if !packedTime.MatchString(v) {
		return time.Time{}, fmt.Errorf("%s %v is not packed-time", k, m[k])
	}
	return time.Parse("20060102T150405.000", v)
}

// formatInFlight: a cam_format_memorycard awaits its done.
func (c *simConn) formatInFlight() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pending {
		if p.cmd == "cam_format_memorycard" {
			return true
		}
	}
	return false
}

// formatStatus checks a memorycard event's status against the format
// in flight: formatting is only said while the card is being formatted.
func (c *simConn) formatStatus(status string) {
	if !c.formatInFlight() {
		if status == "formatting" {
			c.s.violation("cam_event memorycard: status formatting without a cam_format_memorycard in flight")
		}
		return
	}
	c.formatSeen = append(c.formatSeen, status)
}

// formatDone checks the done of cam_format_memorycard
// (docs/protocol.md#memory-card): the card is formatted when the agent
// answers OK, so an agent whose memorycard event is declared active has
// said formatting, then normal, before; one that answers ERROR after
// saying formatting must have said how the card is now.
func (c *simConn) formatDone(m map[string]any) {
	seen := c.formatSeen
	c.formatSeen = nil
	first := slices.Index(seen, "formatting")
	switch {
	case m["status"] == "OK":
		d := c.ev.events["memorycard"]
		if !c.ev.enabled || d == nil || !d.active {
			return
		}
		ok := first >= 0 && seen[len(seen)-1] == "normal"
		for _, st := range seen[max(first, 0):max(len(seen)-1, 0)] {
			ok = ok && st == "formatting"
		}
		if !ok {
			c.s.violation("cam_format_memorycard: done OK after memorycard statuses %v, want formatting then normal", seen)
		}
	case first >= 0 && seen[len(seen)-1] == "formatting":
		c.s.violation("cam_format_memorycard: done %v leaves the memory card formatting", m["status"])
	}
}
