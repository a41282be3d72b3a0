package onvif

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrOutOfRange means a requested setting lies outside what the camera
// reports it accepts; the agent answers INVALID_PARAM. *RangeError wraps it.
var ErrOutOfRange = errors.New("onvif: value out of range")

// RangeError says which setting was refused before anything was sent.
type RangeError struct {
	// Field names the setting, e.g. "brightness" or "resolution".
	Field string
	// Value is the requested value as text.
	Value string
	// Allowed describes what the camera accepts, e.g. "0..100" or "[H264 JPEG]".
	Allowed string
}

// Error implements error.
func (e *RangeError) Error() string {
	return fmt.Sprintf("onvif: %s %s out of range (camera allows %s)", e.Field, e.Value, e.Allowed)
}

// Unwrap makes errors.Is(err, ErrOutOfRange) true.
func (e *RangeError) Unwrap() error { return ErrOutOfRange }

// FloatRange is an inclusive range; Min == Max == 0 means "not reported".
type FloatRange struct {
	Min float64
	Max float64
}

// Known reports whether the camera reported a usable range.
func (r FloatRange) Known() bool { return r.Max > r.Min }

// Contains reports whether v lies in the range; an unknown range contains
// everything, leaving the judgement to the camera.
func (r FloatRange) Contains(v float64) bool {
	return !r.Known() || (v >= r.Min && v <= r.Max)
}

// Level is a setting in the camera's own units together with its range, so
// callers can map it to the cloud's 0–100 %.
type Level struct {
	Value float64
	Range FloatRange
}

// Percent maps Value onto 0–100 within Range; with an unknown range the
// value is assumed to be a percentage already.
func (l Level) Percent() int {
	if !l.Range.Known() {
		return int(math.Round(math.Max(0, math.Min(100, l.Value))))
	}
	p := (l.Value - l.Range.Min) * 100 / (l.Range.Max - l.Range.Min)
	return int(math.Round(math.Max(0, math.Min(100, p))))
}

// AtPercent returns the camera value for percentage p (clamped to 0–100),
// rounded to a whole unit when the range spans at least 10 units (cameras
// with 0–100 or 0–255 ranges take integers) and to hundredths otherwise.
func (l Level) AtPercent(p int) float64 {
	p = max(0, min(100, p))
	if !l.Range.Known() {
		return float64(p)
	}
	v := l.Range.Min + float64(p)*(l.Range.Max-l.Range.Min)/100
	if l.Range.Max-l.Range.Min >= 10 {
		return math.Round(v)
	}
	return math.Round(v*100) / 100
}

// checkIn returns a *RangeError when v is outside r or not a number.
func checkIn(field string, v float64, r FloatRange) error {
	if !math.IsNaN(v) && !math.IsInf(v, 0) && r.Contains(v) {
		return nil
	}
	return &RangeError{Field: field, Value: fmtFloat(v), Allowed: fmtFloat(r.Min) + ".." + fmtFloat(r.Max)}
}

// checkOneOf returns a *RangeError when v is not in allowed (compared
// case-insensitively); an empty list accepts anything.
func checkOneOf(field, v string, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return nil
		}
	}
	return &RangeError{Field: field, Value: v, Allowed: "[" + strings.Join(allowed, " ") + "]"}
}

// fmtFloat writes a number the way xs:float expects: shortest form.
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// floatRange parses a node with Min and Max children.
func floatRange(n *node) FloatRange {
	if n == nil {
		return FloatRange{}
	}
	return FloatRange{Min: atof(n.value("Min")), Max: atof(n.value("Max"))}
}

// texts returns the trimmed, non-empty texts of n's children named local.
func texts(n *node, local string) []string {
	var out []string
	for _, k := range n.findAll(local) {
		if v := strings.TrimSpace(k.text); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// unsupportedField is the error for a setting the camera does not have.
func unsupportedField(op, field string) error {
	return fmt.Errorf("onvif: %s: camera has no %s: %w", op, field, ErrUnsupported)
}

// valueFaults are the ONVIF subcodes with which cameras refuse a value.
var valueFaults = map[string]bool{
	"InvalidArgVal": true, "InvalidArgs": true, "ConfigModify": true, "SettingsInvalid": true,
	"InvalidVelocity": true, "InvalidSpeed": true, "TimeoutNotSupported": true,
	"InvalidPresetName": true, "PresetExist": true, "NoToken": true,
}

// refused marks a camera's refusal of a value as ErrOutOfRange as well, so
// the agent answers INVALID_PARAM when the camera is stricter than the
// options it advertised. The *Fault stays reachable with errors.As.
func refused(err error) error {
	var f *Fault
	if !errors.As(err, &f) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrUnauthorized) {
		return err
	}
	for _, c := range f.codes() {
		if valueFaults[c] {
			return fmt.Errorf("%w: %w", ErrOutOfRange, err)
		}
	}
	return err
}
