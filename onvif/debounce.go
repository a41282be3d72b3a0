package onvif

import (
	"sort"
	"time"
)

// DebounceRule says how one kind of event is debounced.
type DebounceRule struct {
	// MinInterval is the shortest time between two starts; a start sooner
	// than that after the previous one is dropped, with its stop.
	MinInterval time.Duration
	// Hold ends an activity that the camera never reports as ended: a stop
	// is synthesised Hold after the last "active" report. Zero trusts the
	// camera to send the stop.
	Hold time.Duration
}

// Transition is a debounced start or stop of one kind of activity.
type Transition struct {
	Kind   Kind
	Active bool
	At     time.Time
	// Synthetic marks a stop made up by Hold rather than sent by the camera.
	Synthetic bool
}

// Debouncer turns a camera's raw active/inactive reports into clean
// start/stop transitions. It has no clock of its own: callers pass event
// times to Observe and call Expire when NextDeadline passes, so tests run on
// an injected clock. It is not safe for concurrent use.
type Debouncer struct {
	rules map[Kind]DebounceRule
	def   DebounceRule
	state map[Kind]*debounceState
}

type debounceState struct {
	active    bool
	started   bool // lastStart is valid
	lastStart time.Time
	holdUntil time.Time
}

// NewDebouncer returns a Debouncer applying rules per kind and def to kinds
// without a rule.
func NewDebouncer(def DebounceRule, rules map[Kind]DebounceRule) *Debouncer {
	r := make(map[Kind]DebounceRule, len(rules))
	for k, v := range rules {
		r[k] = v
	}
	return &Debouncer{rules: r, def: def, state: make(map[Kind]*debounceState)}
}

func (d *Debouncer) rule(k Kind) DebounceRule {
	if r, ok := d.rules[k]; ok {
		return r
	}
	return d.def
}

// Observe feeds one report taken at t and returns the transitions it causes
// (none, or one). Stops whose hold already ran out before t are returned
// first, so feeding events in order is enough even without Expire.
func (d *Debouncer) Observe(kind Kind, active bool, t time.Time) []Transition {
	out := d.expireKind(kind, t, nil)
	st := d.state[kind]
	if st == nil {
		st = &debounceState{}
		d.state[kind] = st
	}
	r := d.rule(kind)
	switch {
	case active && st.active:
		if r.Hold > 0 {
			st.holdUntil = t.Add(r.Hold)
		}
	case active:
		if st.started && t.Sub(st.lastStart) < r.MinInterval {
			return out
		}
		st.active, st.started, st.lastStart = true, true, t
		if r.Hold > 0 {
			st.holdUntil = t.Add(r.Hold)
		}
		out = append(out, Transition{Kind: kind, Active: true, At: t})
	case st.active:
		st.active = false
		out = append(out, Transition{Kind: kind, Active: false, At: t})
	}
	return out
}

// Expire returns the synthesised stops of every activity whose hold ended by
// now, ordered by time.
func (d *Debouncer) Expire(now time.Time) []Transition {
	var out []Transition
	for k := range d.state {
		out = d.expireKind(k, now, out)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func (d *Debouncer) expireKind(k Kind, now time.Time, out []Transition) []Transition {
	st := d.state[k]
	if st == nil || !st.active || d.rule(k).Hold <= 0 || now.Before(st.holdUntil) {
		return out
	}
	st.active = false
	return append(out, Transition{Kind: k, Active: false, At: st.holdUntil, Synthetic: true})
}

// NextDeadline returns the earliest time Expire has work to do; ok is false
// when nothing is held.
func (d *Debouncer) NextDeadline() (t time.Time, ok bool) {
	for k, st := range d.state {
		if st.active && d.rule(k).Hold > 0 && (!ok || st.holdUntil.Before(t)) {
			t, ok = st.holdUntil, true
		}
	}
	return t, ok
}

// Active reports whether kind is currently active after debouncing.
func (d *Debouncer) Active(kind Kind) bool {
	st := d.state[kind]
	return st != nil && st.active
}
