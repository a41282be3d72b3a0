package onvif

import (
	"reflect"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		topic  string
		data   map[string]string
		kind   Kind
		active bool
		ok     bool
	}{
		{"cell motion on", "RuleEngine/CellMotionDetector/Motion", map[string]string{"IsMotion": "true"}, KindMotion, true, true},
		{"cell motion off", "RuleEngine/CellMotionDetector/Motion", map[string]string{"IsMotion": "false"}, KindMotion, false, true},
		{"motion alarm", "VideoSource/MotionAlarm", map[string]string{"State": "true"}, KindMotion, true, true},
		{"motion alarm numeric", "VideoSource/MotionAlarm", map[string]string{"State": "0"}, KindMotion, false, true},
		{"region detector State", "RuleEngine/MotionRegionDetector/Motion", map[string]string{"State": "1"}, KindMotion, true, true},
		{"region detector IsMotion", "RuleEngine/MotionRegionDetector/Motion", map[string]string{"IsMotion": "true"}, KindMotion, true, true},
		{"samsung analytics motion", "VideoAnalytics/MotionDetection", map[string]string{"State": "true"}, KindMotion, true, true},
		{"bosch analytics motion", "VideoAnalytics/MotionAlarm", map[string]string{"State": "true"}, KindMotion, true, true},
		{"axis vmd profile", "CameraApplicationPlatform/VMD/Camera1Profile1", map[string]string{"active": "1"}, KindMotion, true, true},
		{"axis pir", "Device/Sensor/PIR", map[string]string{"state": "1"}, KindMotion, true, true},
		{"case-insensitive topic and item", "videosource/motionalarm", map[string]string{"state": "TRUE"}, KindMotion, true, true},
		{"sound", "AudioAnalytics/Audio/DetectedSound", map[string]string{"IsSoundDetected": "true"}, KindSound, true, true},
		{"axis audio trigger", "AudioSource/TriggerLevel", map[string]string{"triggered": "0"}, KindSound, false, true},
		{"scene change", "VideoSource/GlobalSceneChange/ImagingService", map[string]string{"State": "true"}, KindTamper, true, true},
		{"tamper rule", "RuleEngine/TamperDetector/Tamper", map[string]string{"IsTamper": "false"}, KindTamper, false, true},
		{"digital input", "Device/Trigger/DigitalInput", map[string]string{"LogicalState": "true"}, KindDigitalInput, true, true},
		{"unknown topic", "Monitoring/ProcessorUsage", map[string]string{"Value": "12"}, "", false, false},
		{"missing item", "RuleEngine/CellMotionDetector/Motion", map[string]string{"Other": "true"}, "", false, false},
		{"non-boolean value", "VideoSource/MotionAlarm", map[string]string{"State": "maybe"}, "", false, false},
		{"prefix needs a path boundary", "VideoSource/GlobalSceneChangeX", map[string]string{"State": "true"}, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, a, ok := Classify(Event{Topic: tc.topic, Data: tc.data})
			if k != tc.kind || a != tc.active || ok != tc.ok {
				t.Fatalf("Classify = %q %v %v, want %q %v %v", k, a, ok, tc.kind, tc.active, tc.ok)
			}
		})
	}
	// One extra row teaches a new vendor topic.
	rules := append([]TopicRule{{Topic: "Vendor/Line", Item: "Crossed", Kind: "line"}}, TopicRules...)
	if k, a, ok := ClassifyWith(rules, Event{Topic: "Vendor/Line", Data: map[string]string{"Crossed": "true"}}); k != "line" || !a || !ok {
		t.Fatalf("custom row: %q %v %v", k, a, ok)
	}
}

func TestDebouncer(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	start := func(k Kind, s float64) Transition { return Transition{Kind: k, Active: true, At: at(s)} }
	stop := func(k Kind, s float64, synth bool) Transition {
		return Transition{Kind: k, Active: false, At: at(s), Synthetic: synth}
	}
	check := func(t *testing.T, what string, got []Transition, want ...Transition) {
		t.Helper()
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", what, got, want)
		}
	}

	t.Run("camera sends stops", func(t *testing.T) {
		d := NewDebouncer(DebounceRule{}, nil)
		check(t, "start", d.Observe(KindMotion, true, at(0)), start(KindMotion, 0))
		check(t, "repeat active", d.Observe(KindMotion, true, at(1)))
		check(t, "stop", d.Observe(KindMotion, false, at(2)), stop(KindMotion, 2, false))
		check(t, "repeat stop", d.Observe(KindMotion, false, at(3)))
		check(t, "no hold, nothing expires", d.Expire(at(100)))
	})

	t.Run("min interval between starts", func(t *testing.T) {
		d := NewDebouncer(DebounceRule{MinInterval: 10 * time.Second}, nil)
		check(t, "start", d.Observe(KindMotion, true, at(0)), start(KindMotion, 0))
		check(t, "stop", d.Observe(KindMotion, false, at(1)), stop(KindMotion, 1, false))
		check(t, "flap suppressed", d.Observe(KindMotion, true, at(5)))
		if d.Active(KindMotion) {
			t.Fatal("suppressed start left motion active")
		}
		check(t, "its stop suppressed too", d.Observe(KindMotion, false, at(6)))
		check(t, "start after interval", d.Observe(KindMotion, true, at(10)), start(KindMotion, 10))
	})

	t.Run("camera never sends stop", func(t *testing.T) {
		d := NewDebouncer(DebounceRule{}, map[Kind]DebounceRule{KindMotion: {Hold: 5 * time.Second}})
		check(t, "start", d.Observe(KindMotion, true, at(0)), start(KindMotion, 0))
		if dl, ok := d.NextDeadline(); !ok || !dl.Equal(at(5)) {
			t.Fatalf("deadline %v %v", dl, ok)
		}
		check(t, "before hold", d.Expire(at(4)))
		check(t, "active again extends", d.Observe(KindMotion, true, at(4)))
		check(t, "old deadline passes", d.Expire(at(6)))
		check(t, "synthesised stop at hold end", d.Expire(at(9.5)), stop(KindMotion, 9, true))
		if _, ok := d.NextDeadline(); ok {
			t.Fatal("deadline after stop")
		}
		check(t, "next start", d.Observe(KindMotion, true, at(20)), start(KindMotion, 20))
		// Observing after the hold ran out reports the stop first.
		check(t, "late report", d.Observe(KindMotion, true, at(30)),
			stop(KindMotion, 25, true), start(KindMotion, 30))
	})

	t.Run("kinds are independent", func(t *testing.T) {
		d := NewDebouncer(DebounceRule{Hold: 3 * time.Second, MinInterval: time.Minute}, nil)
		check(t, "motion", d.Observe(KindMotion, true, at(0)), start(KindMotion, 0))
		check(t, "sound", d.Observe(KindSound, true, at(1)), start(KindSound, 1))
		check(t, "both expire in order", d.Expire(at(10)), stop(KindMotion, 3, true), stop(KindSound, 4, true))
		check(t, "stop for inactive ignored", d.Observe(KindTamper, false, at(11)))
	})
}
