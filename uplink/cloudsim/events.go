package cloudsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
)

// declaredEvent is what the agent's cam_events_conf (and later accepted
// set_cam_events) says about one event kind.
type declaredEvent struct {
	active, stream, snapshot bool
	capStream, capSnapshot   bool
}

// eventState is one connection's view of the agent's event configuration.
// Only the connection's reader goroutine touches it.
type eventState struct {
	conf    bool // a cam_events_conf was received
	enabled bool
	events  map[string]*declaredEvent

	// From the last motion_detection_conf: the grid motion maps use and
	// the region names (nil = no conf seen, nothing to check against).
	columns, rows int
	regions       []string
}

// Events returns the cam_event messages agents sent, in order (numbers as
// json.Number).
func (s *Server) Events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, m := range s.received {
		if m["cmd"] == "cam_event" {
			out = append(out, m)
		}
	}
	return out
}

// WaitEvent waits until a cam_event for which match returns true (any
// cam_event when match is nil) has been received, and returns the first
// such event.
func (s *Server) WaitEvent(ctx context.Context, match func(map[string]any) bool) (map[string]any, error) {
	var found map[string]any
	err := s.Wait(ctx, func() bool {
		for _, m := range s.Events() {
			if match == nil || match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found, err
}

// observeReply learns the agent's event configuration from its replies:
// cam_events_conf replaces it, a done OK to set_cam_events applies the
// request the way docs/protocol.md#set-cam-events says the agent must.
func (c *simConn) observeReply(cmd string, p *pending, m map[string]any) {
	switch {
	case cmd == "cam_events_conf":
		c.eventsConf(m)
	case cmd == "motion_detection_conf":
		c.motionConf(m)
	case cmd == "cam_memorycard_timeline":
		c.memorycardTimeline(p, m)
	case cmd == "cam_memorycard_synchronize_status" && p.cmd == "cam_memorycard_synchronize":
		c.syncReply(p, m)
	case cmd == "done" && p.cmd == "set_cam_events" && m["status"] == "OK":
		c.applySetEvents(p.body)
	case cmd == "done" && p.cmd == "cam_format_memorycard":
		c.formatDone(m)
	case cmd == "done" && p.cmd == "direct_upload_url":
		c.grantDone(p, m)
	}
}

// eventsConf checks a cam_events_conf reply (docs/protocol.md#get-cam-events) and records it.
func (c *simConn) eventsConf(m map[string]any) {
	s := c.s
	st := eventState{conf: true, events: map[string]*declaredEvent{}, columns: c.ev.columns, rows: c.ev.rows, regions: c.ev.regions}
	en, ok := m["enabled"].(bool)
	if !ok {
		s.violation("cam_events_conf: enabled %v is not a bool", m["enabled"])
	}
	st.enabled = en
	list, ok := m["events"].([]any)
	if !ok {
		s.violation("cam_events_conf: events %T is not a list", m["events"])
	}
	for _, e := range list {
		o, ok := e.(map[string]any)
		name, _ := o["event"].(string)
		if !ok || name == "" {
			s.violation("cam_events_conf: entry %v without an event name", e)
			continue
		}
		if st.events[name] != nil {
			s.violation("cam_events_conf: event %s declared twice", name)
		}
		d := &declaredEvent{}
		for k, dst := range map[string]*bool{"active": &d.active, "stream": &d.stream, "snapshot": &d.snapshot} {
			if *dst, ok = o[k].(bool); !ok {
				s.violation("cam_events_conf: %s.%s %v is not a bool", name, k, o[k])
			}
		}
		caps, ok := o["caps"].(map[string]any)
		if !ok {
			s.violation("cam_events_conf: %s without caps object", name)
		}
		var periodic bool
		for k, dst := range map[string]*bool{"stream": &d.capStream, "snapshot": &d.capSnapshot, "periodic": &periodic, "trigger": new(bool)} {
			if *dst, ok = caps[k].(bool); !ok {
				s.violation("cam_events_conf: %s.caps.%s %v is not a bool", name, k, caps[k])
			}
		}
		if d.stream && !d.capStream || d.snapshot && !d.capSnapshot {
			s.violation("cam_events_conf: %s has stream/snapshot on beyond its caps", name)
		}
		if _, has := o["period"]; has || periodic {
			if p, err := intField(o, "period", true); err != nil || p <= 0 {
				s.violation("cam_events_conf: %s period %v (periodic %v) must be a positive integer", name, o["period"], periodic)
			}
		}
		st.events[name] = d
	}
	c.ev = st
}

// applySetEvents applies an accepted set_cam_events body: stream and
// snapshot ANDed with caps, unknown names ignored (docs/protocol.md#set-cam-events).
func (c *simConn) applySetEvents(body any) {
	b, err := json.Marshal(body)
	if err != nil {
		return
	}
	var set struct {
		Enabled *bool `json:"enabled"`
		Events  []struct {
			Event                    string
			Active, Stream, Snapshot *bool
		} `json:"events"`
	}
	if json.Unmarshal(b, &set) != nil {
		return
	}
	if set.Enabled != nil {
		c.ev.enabled = *set.Enabled
	}
	for _, e := range set.Events {
		d := c.ev.events[e.Event]
		if d == nil {
			continue
		}
		if e.Active != nil {
			d.active = *e.Active
		}
		if e.Stream != nil {
			d.stream = *e.Stream && d.capStream
		}
		if e.Snapshot != nil {
			d.snapshot = *e.Snapshot && d.capSnapshot
		}
	}
}

// packedTime is packed-time as an agent must emit it: exactly three
// fractional digits (docs/protocol.md#conventions).
var packedTime = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{3}$`)

var memorycardStates = []string{"none", "normal", "need-format", "formatting", "initialization"}

// camEvent checks a cam_event (docs/protocol.md#cam-event) against the connection's declared
// events; it runs before the message joins s.received.
func (c *simConn) camEvent(m map[string]any) {
	s := c.s
	name, _ := m["event"].(string)
	if name == "" {
		s.violation("cam_event: event %v is not a non-empty string", m["event"])
		return
	}
	bad := func(format string, a ...any) { s.violation("cam_event %s: "+format, append([]any{name}, a...)...) }
	n, isNum := m["time"].(json.Number)
	evTime, err := n.Float64()
	if !isNum || err != nil || evTime <= 0 {
		bad("time %v is not a positive epoch-float number", m["time"])
	}
	if _, err := intField(m, "mediatm", false); err != nil {
		bad("%v", err)
	}
	switch st, has := m["status"]; {
	case !has, st == "OK":
	case st == "ERROR":
		if d, _ := m["error_description"].(string); d == "" {
			bad("status ERROR without error_description")
		}
	default:
		bad("status %v, want OK or ERROR", st)
	}
	if meta, has := m["meta"]; has {
		if _, ok := meta.(map[string]any); !ok {
			bad("meta is %T, want an object", meta)
		}
	}
	d := c.ev.events[name]
	switch {
	case name == "record": // system event, never declared (docs/protocol.md#get-cam-events)
	case !c.ev.conf:
		bad("sent before any cam_events_conf on this connection")
	case !c.ev.enabled:
		bad("sent while events are disabled")
	case d == nil:
		bad("not declared in cam_events_conf")
	case !d.active:
		bad("declared inactive")
	}
	info := func(k string, required bool) map[string]any {
		v, has := m[k]
		if !has {
			if required {
				bad("without %s", k)
			}
			return nil
		}
		o, ok := v.(map[string]any)
		if !ok {
			bad("%s is %T, want an object", k, v)
		}
		return o
	}
	switch name {
	case "motion":
		if mi := info("motion_info", true); mi != nil {
			if mp, has := mi["map"]; has {
				str, _ := mp.(string)
				if err := c.checkMap(str); err != nil {
					bad("motion_info.map %v: %v", mp, err)
				}
			}
			if rs, has := mi["regions"]; has {
				if !stringList(rs) {
					bad("motion_info.regions %v is not a list of strings", rs)
				}
				l, _ := rs.([]any)
				for _, r := range l {
					if name, _ := r.(string); c.ev.regions != nil && !slices.Contains(c.ev.regions, name) {
						bad("motion_info.regions names %v, not a region of motion_detection_conf", r)
					}
				}
			}
		}
	case "record":
		if ri := info("record_info", true); ri != nil {
			if _, ok := ri["on"].(bool); !ok {
				bad("record_info.on %v is not a bool", ri["on"])
			}
			if id, _ := ri["stream_id"].(string); id == "" {
				bad("record_info.stream_id %v is not a non-empty string", ri["stream_id"])
			}
		}
	case "sound":
		if si := info("sound_info", false); si != nil {
			if _, ok := si["on"].(bool); !ok {
				bad("sound_info.on %v is not a bool", si["on"])
			}
		}
	case "net":
		if ni := info("net_info", true); ni != nil {
			if _, ok := ni["ip"].(string); !ok {
				bad("net_info.ip %v is not a string", ni["ip"])
			}
		}
	case "memorycard":
		if mi := info("memorycard_info", true); mi != nil {
			st, _ := mi["status"].(string)
			if !slices.Contains(memorycardStates, st) {
				bad("memorycard_info.status %v", mi["status"])
			}
			c.formatStatus(st)
			for _, k := range []string{"size", "free", "max_sync_duration"} {
				if _, err := intField(mi, k, false); err != nil {
					bad("memorycard_info: %v", err)
				}
			}
			if _, ok := mi["recording_status"].(bool); !ok {
				bad("memorycard_info.recording_status %v is not a bool", mi["recording_status"])
			}
		}
	case "wifi":
		if wi := info("wifi_info", true); wi != nil {
			caps, _ := wi["encryption_caps"].([]any)
			if !slices.Contains(caps, wi["encryption"]) {
				bad("wifi_info.encryption %v not in encryption_caps %v", wi["encryption"], wi["encryption_caps"])
			}
		}
	case "snapshot":
		if _, has := m["snapshot_info"]; !has {
			bad("without snapshot_info")
		}
	}
	if si := info("snapshot_info", false); si != nil {
		if d != nil && !d.snapshot {
			bad("carries a snapshot although declared snapshot:false")
		}
		c.snapshotInfo(bad, si, evTime, m["time"])
	}
	if fm := info("file_meta_info", false); fm != nil {
		if sz, err := intField(fm, "size", true); err != nil || sz <= 0 {
			bad("file_meta_info.size %v is not a positive integer", fm["size"])
		}
	}
}

// motionConf records the grid and region names of a motion_detection_conf.
func (c *simConn) motionConf(m map[string]any) {
	cols, err1 := intField(m, "columns", true)
	rows, err2 := intField(m, "rows", true)
	if err1 != nil || err2 != nil || cols < 0 || rows < 0 || cols*rows > 1<<16 {
		c.s.violation("motion_detection_conf: grid %v x %v", m["columns"], m["rows"])
		return
	}
	c.ev.columns, c.ev.rows, c.ev.regions = int(cols), int(rows), []string{}
	list, _ := m["regions"].([]any)
	for _, r := range list {
		o, _ := r.(map[string]any)
		name, _ := o["region"].(string)
		c.ev.regions = append(c.ev.regions, name)
		mp, _ := o["map"].(string)
		if err := c.checkMap(mp); err != nil {
			c.s.violation("motion_detection_conf: region %q map: %v", name, err)
		}
	}
}

// checkMap decodes a docs/protocol.md#motion-detection grid (base64, PackBits, one '0'/'1' per cell)
// independently of uplink; without a known grid only base64 is checked.
func (c *simConn) checkMap(s string) error {
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil || s == "" {
		return fmt.Errorf("not padded base64")
	}
	n := c.ev.columns * c.ev.rows
	if n == 0 {
		return nil
	}
	var cells []byte
	for i := 0; len(cells) < n; {
		if i >= len(data) {
			return fmt.Errorf("%d of %d cells", len(cells), n)
		}
		h := int(int8(data[i]))
		i++
		switch {
		case h >= 0:
			if i+h+1 > len(data) {
				return fmt.Errorf("literal cut short")
			}
			cells = append(cells, data[i:i+h+1]...)
			i += h + 1
		case h > -128:
			if i >= len(data) {
				return fmt.Errorf("repeat cut short")
			}
			cells = append(cells, bytes.Repeat(data[i:i+1], 1-h)...)
			i++
		}
		if k := bytes.IndexFunc(cells, func(r rune) bool { return r != '0' && r != '1' }); k >= 0 && k < n {
			return fmt.Errorf("cell %d is byte 0x%02x", k, cells[k])
		}
	}
	return nil
}

// snapshotInfo checks snapshot_info: complete, image_time equal to the
// event time and unique for the camera (it names the image).
func (c *simConn) snapshotInfo(bad func(string, ...any), si map[string]any, evTime float64, evTimeRaw any) {
	for _, k := range []string{"width", "height", "size"} {
		if v, err := intField(si, k, true); err != nil || v <= 0 {
			bad("snapshot_info.%s %v is not a positive integer", k, si[k])
		}
	}
	it, _ := si["image_time"].(string)
	if !packedTime.MatchString(it) {
		bad("snapshot_info.image_time %v is not packed-time YYYYMMDDThhmmss.mmm", si["image_time"])
		return
	}
	t, err := time.Parse("20060102T150405.000", it)
	if err != nil {
		bad("snapshot_info.image_time %q: %v", it, err)
		return
	}
	if ms := math.Round(evTime * 1000); float64(t.UnixMilli()) != ms {
		bad("snapshot_info.image_time %s differs from time %v", it, evTimeRaw)
	}
	s := c.s
	s.mu.Lock()
	dup := false
	for _, prev := range s.received {
		if ps, ok := prev["snapshot_info"].(map[string]any); ok && prev["cmd"] == "cam_event" && ps["image_time"] == it {
			dup = true
		}
	}
	s.mu.Unlock()
	if dup {
		bad("snapshot_info.image_time %s reused", it)
	}
}

func stringList(v any) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range l {
		if _, ok := e.(string); !ok {
			return false
		}
	}
	return true
}
