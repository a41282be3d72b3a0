package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/camagent/camagent/demo/rig"
)

// show plays the cloud's part a person watches: it asks each camera what a
// real cloud asks after a connect, requests live video from one, makes
// the other see motion every MotionEvery, and reports once per Tick what
// reached the cloud.
type show struct {
	r           *rig.Rig
	out         io.Writer
	tick, every time.Duration
	live        *rig.Camera
	motion      *rig.Camera

	events map[*rig.Camera]int // cam_events the cloud has received, by camera
	puts   map[*rig.Camera]int // direct uploads the cloud has received, by camera
}

func newShow(r *rig.Rig, o Options) *show {
	s := &show{r: r, out: o.Out, tick: o.Tick, every: o.MotionEvery, events: map[*rig.Camera]int{}, puts: map[*rig.Camera]int{}}
	for _, c := range r.Cameras {
		switch c.Name {
		case LiveCamera:
			s.live = c
		case MotionCamera:
			s.motion = c
		}
	}
	return s
}

// run returns nil when ctx ends, an error when a camera never comes up.
func (s *show) run(ctx context.Context) error {
	for _, c := range s.r.Cameras {
		if err := s.register(ctx, c); err != nil {
			return err
		}
	}
	if err := s.startLive(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(s.tick)
	defer tick.Stop()
	var (
		lastFrames      int
		lastBytes       int64
		last            = time.Now()
		keyToldOnce     bool
		armed, inMotion bool
		next, end       time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			frames, bytes, keyFirst := rig.IngestTotals(s.r.Ingest)
			if frames > 0 && !keyToldOnce {
				keyToldOnce = true
				if keyFirst {
					s.say(now, "the first video frame the cloud received from %s is a key frame: players show a picture at once", s.live.Name)
				} else {
					s.say(now, "the first video frame the cloud received from %s is NOT a key frame: players wait for the next one", s.live.Name)
				}
			}
			secs := now.Sub(last).Seconds()
			s.say(now, "cloud receives from %s: %5.1f frames/s %7.0f kbit/s (total %d frames)",
				s.live.Name, float64(frames-lastFrames)/secs, float64(bytes-lastBytes)*8/1000/secs, frames)
			lastFrames, lastBytes, last = frames, bytes, now

			// Motion only once the agent watches the camera's events:
			// before that the camera would report it to nobody.
			if !armed && s.motion.ONVIF.Subscriptions() > 0 {
				armed, next = true, now
			}
			switch {
			case inMotion && !now.Before(end):
				s.motion.ONVIF.TriggerMotion(false)
				inMotion = false
			case armed && !inMotion && !now.Before(next):
				s.motion.ONVIF.TriggerMotion(true)
				inMotion, end, next = true, now.Add(s.every/4), now.Add(s.every)
				s.say(now, "%s: simulated motion in front of the camera (again in %v)", s.motion.Name, s.every)
			}
			s.reportEvents(now)
		}
	}
}

// register waits for the camera's channel to be ready and asks what a
// cloud asks after every connect: the events the camera declares (without
// this the agent holds events back, docs/protocol.md#get-cam-events) and its PTZ.
func (s *show) register(ctx context.Context, c *rig.Camera) error {
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Cloud.WaitReady(wait, c.Cloud.CamID()); err != nil {
		return quiet(ctx, fmt.Errorf("camera %s did not register with the simulated cloud: %w", c.Name, err))
	}
	conf, err := c.Cloud.Request(wait, c.Cloud.CamID(), "get_cam_events", nil)
	if err != nil {
		return quiet(ctx, fmt.Errorf("camera %s: get_cam_events: %w", c.Name, err))
	}
	ptz, err := c.Cloud.Request(wait, c.Cloud.CamID(), "get_ptz_conf", nil)
	if err != nil {
		return quiet(ctx, fmt.Errorf("camera %s: get_ptz_conf: %w", c.Name, err))
	}
	s.say(time.Now(), "%s registered with the cloud as cam %d; events: %s; PTZ: %s", c.Name, c.Cloud.CamID(), activeEvents(conf), ptzWords(ptz))
	if c == s.motion {
		return s.eventMedia(wait, c)
	}
	return nil
}

// eventMedia asks for what a cloud shows with each motion: a snapshot and
// a clip from 5 s before to 5 s after (docs/protocol.md#stream-by-event).
func (s *show) eventMedia(ctx context.Context, c *rig.Camera) error {
	for _, r := range []struct {
		cmd  string
		body map[string]any
	}{
		{"set_stream_by_event", map[string]any{"stream_id": "Main", "pre_event": 5000, "post_event": 5000}},
		{"stream_start", map[string]any{"stream_id": "Main", "reason": "record_by_event"}},
		{"set_cam_events", map[string]any{"events": []any{map[string]any{"event": "motion", "active": true, "snapshot": true, "stream": true}}}},
	} {
		rep, err := c.Cloud.Request(ctx, c.Cloud.CamID(), r.cmd, r.body)
		if err != nil {
			return quiet(ctx, fmt.Errorf("camera %s: %s: %w", c.Name, r.cmd, err))
		}
		if rep["status"] != "OK" {
			return fmt.Errorf("camera %s: %s answered %v", c.Name, r.cmd, rep["status"])
		}
	}
	s.say(time.Now(), "cloud asked %s for a snapshot and a clip (5 s before to 5 s after) with each motion", c.Name)
	return nil
}

// startLive asks for live video, as a viewer opening the camera in the
// cloud would.
func (s *show) startLive(ctx context.Context) error {
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := s.live.Cloud.Request(wait, s.live.Cloud.CamID(), "stream_start", map[string]any{"stream_id": "Main", "reason": "live"})
	if err != nil {
		return quiet(ctx, fmt.Errorf("stream_start: %w", err))
	}
	if rep["status"] != "OK" {
		return fmt.Errorf("stream_start answered %v", rep["status"])
	}
	s.say(time.Now(), "cloud requested live video from %s (stream_start Main live)", s.live.Name)
	return nil
}

// reportEvents says which cam_events reached the cloud since the last tick.
func (s *show) reportEvents(now time.Time) {
	for _, c := range s.r.Cameras {
		evs := c.Cloud.Events()
		for _, ev := range evs[min(s.events[c], len(evs)):] {
			s.say(now, "cloud received event %v from %s; the status page shows it as last event", ev["event"], c.Name)
		}
		s.events[c] = len(evs)
		puts := c.Cloud.Puts()
		for _, p := range puts[min(s.puts[c], len(puts)):] {
			switch p.Category {
			case "snapshot":
				s.say(now, "cloud received the event's snapshot from %s (%d KB JPEG)", c.Name, (p.Size+512)/1024)
			case "record":
				s.say(now, "cloud received an event clip from %s: %.1f s of video from %s (%d KB MP4)",
					c.Name, float64(p.Duration)/1000, clock(p.FileTime), (p.Size+512)/1024)
			}
		}
		s.puts[c] = len(puts)
	}
}

func (s *show) say(at time.Time, format string, a ...any) {
	fmt.Fprintf(s.out, "%s "+format+"\n", append([]any{clock(at)}, a...)...)
}

// activeEvents lists the event kinds a cam_events_conf reply has on.
func activeEvents(conf map[string]any) string {
	if conf["enabled"] != true {
		return "off"
	}
	var on []string
	list, _ := conf["events"].([]any)
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["active"] == true {
			on = append(on, fmt.Sprint(m["event"]))
		}
	}
	if len(on) == 0 {
		return "none on"
	}
	return strings.Join(on, ", ") + " on"
}

// ptzWords sums up a get_ptz_conf reply.
func ptzWords(rep map[string]any) string {
	if rep["cmd"] != "cam_ptz_conf" {
		return fmt.Sprintf("none (%v)", rep["status"])
	}
	actions, _ := rep["actions"].([]any)
	return fmt.Sprintf("%d actions, up to %v presets", len(actions), rep["maximum_number_of_presets"])
}

// quiet drops err when ctx ended: stopping is not a failure.
func quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
