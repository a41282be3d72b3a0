package cloudsim

import (
	"fmt"
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
