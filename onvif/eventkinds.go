package onvif

import "strings"

// Kind is what an event means to us, whatever the vendor called it.
type Kind string

// Event kinds the agent acts on.
const (
	KindMotion       Kind = "motion"
	KindSound        Kind = "sound"
	KindTamper       Kind = "tamper"
	KindDigitalInput Kind = "digital_input"
)

// TopicRule maps one vendor topic and data item to a Kind.
type TopicRule struct {
	// Topic is a normalised topic (no namespace prefixes), compared without
	// regard to case. With Prefix set, any topic below it matches too.
	Topic  string
	Prefix bool
	// Item is the Data SimpleItem holding the state, compared without
	// regard to case; empty takes the first item that reads as a boolean.
	Item string
	Kind Kind
}

// TopicRules is the table Classify uses. Adding a vendor's topic is one row;
// the first matching row wins, so put specific rows before prefix rows.
var TopicRules = []TopicRule{
	// ONVIF cell motion detector rule (Profile S/T analytics): Hikvision,
	// Axis, Uniview, most OEM firmware.
	{Topic: "RuleEngine/CellMotionDetector/Motion", Item: "IsMotion", Kind: KindMotion},
	// Older ONVIF motion alarm on the video source: Hikvision, Dahua and
	// many cameras that require WS-Security.
	{Topic: "VideoSource/MotionAlarm", Item: "State", Kind: KindMotion},
	// Region-based motion rule (Axis and others); State per the ONVIF
	// specification, IsMotion on some firmware.
	{Topic: "RuleEngine/MotionRegionDetector/Motion", Item: "State", Kind: KindMotion},
	{Topic: "RuleEngine/MotionRegionDetector/Motion", Item: "IsMotion", Kind: KindMotion},
	// Analytics-service motion: Bosch (MotionAlarm), Hanwha/Samsung
	// (tnssamsung:MotionDetection), generic VideoAnalytics/Motion.
	{Topic: "VideoAnalytics/MotionAlarm", Item: "State", Kind: KindMotion},
	{Topic: "VideoAnalytics/MotionDetection", Kind: KindMotion},
	{Topic: "VideoAnalytics/Motion", Prefix: true, Kind: KindMotion},
	// Axis video motion detection application and PIR sensor.
	{Topic: "CameraApplicationPlatform/VMD", Prefix: true, Item: "active", Kind: KindMotion},
	{Topic: "Device/Sensor/PIR", Item: "state", Kind: KindMotion},

	// ONVIF audio analytics sound detection; Axis audio trigger level.
	{Topic: "AudioAnalytics/Audio/DetectedSound", Item: "IsSoundDetected", Kind: KindSound},
	{Topic: "AudioAnalytics/Audio/DetectedSound", Item: "State", Kind: KindSound},
	{Topic: "AudioSource/TriggerLevel", Item: "triggered", Kind: KindSound},

	// Tamper: scene change from the imaging, analytics or recording
	// service, and the tamper detector rule.
	{Topic: "VideoSource/GlobalSceneChange", Prefix: true, Item: "State", Kind: KindTamper},
	{Topic: "RuleEngine/TamperDetector/Tamper", Item: "IsTamper", Kind: KindTamper},

	// Alarm inputs.
	{Topic: "Device/Trigger/DigitalInput", Item: "LogicalState", Kind: KindDigitalInput},
}

// Classify maps e to a Kind with TopicRules. active is the state the event
// reports; ok is false when no rule matches or its item is missing or not a
// boolean.
func Classify(e Event) (kind Kind, active bool, ok bool) {
	return ClassifyWith(TopicRules, e)
}

// ClassifyWith is Classify with a caller's table, e.g. TopicRules plus rows
// for one camera.
func ClassifyWith(rules []TopicRule, e Event) (kind Kind, active bool, ok bool) {
	for _, r := range rules {
		if !r.matches(e.Topic) {
			continue
		}
		if v, found := r.state(e.Data); found {
			return r.Kind, v, true
		}
	}
	return "", false, false
}

func (r TopicRule) matches(topic string) bool {
	if strings.EqualFold(topic, r.Topic) {
		return true
	}
	return r.Prefix && len(topic) > len(r.Topic) && topic[len(r.Topic)] == '/' &&
		strings.EqualFold(topic[:len(r.Topic)], r.Topic)
}

func (r TopicRule) state(data map[string]string) (bool, bool) {
	if r.Item == "" {
		// Map order is random: pick the boolean item with the smallest
		// name so the choice is stable.
		best, val, found := "", false, false
		for k, v := range data {
			if b, ok := parseBool(v); ok && (!found || k < best) {
				best, val, found = k, b, true
			}
		}
		return val, found
	}
	for k, v := range data {
		if strings.EqualFold(k, r.Item) {
			return parseBool(v)
		}
	}
	return false, false
}

// parseBool reads the boolean spellings cameras use.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "on", "active", "yes":
		return true, true
	case "false", "0", "off", "inactive", "no":
		return false, true
	}
	return false, false
}
