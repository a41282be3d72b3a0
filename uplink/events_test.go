package uplink

import (
	"encoding/json"
	"testing"
	"time"
)

func TestEpochTime(t *testing.T) {
	cases := []struct {
		name string
		t    time.Time
		json string
	}{
		{"millis", time.Date(2024, 3, 14, 9, 26, 53, 512e6, time.UTC), "1710408413.512"},
		{"whole second", time.Unix(1710408300, 0), "1710408300.0"},
		{"trailing zero trimmed", time.UnixMilli(1710408500250), "1710408500.25"},
		{"sub-millisecond dropped", time.Unix(1710408413, 512999999), "1710408413.512"},
		{"before 1970", time.UnixMilli(-1500), "-1.5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(EpochTime{c.t})
			if err != nil || string(b) != c.json {
				t.Fatalf("marshal = %s, %v; want %s", b, err, c.json)
			}
			var back EpochTime
			if err := json.Unmarshal(b, &back); err != nil || !back.Equal(c.t.Truncate(time.Millisecond)) {
				t.Errorf("unmarshal = %v, %v", back, err)
			}
		})
	}
	for _, in := range []string{`1710408413.5119999`, `1.7104084135120e9`} {
		var e EpochTime
		if err := json.Unmarshal([]byte(in), &e); err != nil || e.UnixMilli() != 1710408413512 {
			t.Errorf("%s: %v %v", in, e, err)
		}
	}
	for _, in := range []string{`"1710408413"`, `true`, `{}`, `1e20`} {
		var e EpochTime
		if err := json.Unmarshal([]byte(in), &e); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

func TestPackedTime(t *testing.T) {
	ts := time.Date(2024, 3, 14, 9, 26, 53, 512e6, time.UTC)
	if got := FormatPackedTime(ts); got != "20240314T092653.512" {
		t.Errorf("format %s", got)
	}
	if got := FormatPackedTime(time.Date(2024, 3, 14, 10, 28, 0, 0, time.FixedZone("CET", 3600))); got != "20240314T092800.000" {
		t.Errorf("format in UTC with three digits: %s", got)
	}
	parse := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "20240314T092653.512", want: ts},
		{in: "20240314T092653", want: ts.Truncate(time.Second)},
		{in: "20240314T092653.5", want: ts.Truncate(time.Second).Add(500 * time.Millisecond)},
		{in: "20240314T092653.512000001", want: ts.Add(1)},
		{in: "20240314T092653.", err: true},
		{in: "20240314T092653.1234567890", err: true},
		{in: "20240314T092653.5x", err: true},
		{in: "2024-03-14T09:26:53", err: true},
		{in: "20240314T092653Z", err: true},
		{in: "20241314T092653", err: true},
		{in: "", err: true},
	}
	for _, c := range parse {
		got, err := ParsePackedTime(c.in)
		if c.err {
			if err == nil {
				t.Errorf("%q accepted as %v", c.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("%q = %v, %v", c.in, got, err)
		}
	}
	b, _ := json.Marshal(PackedTime{ts})
	var back PackedTime
	if string(b) != `"20240314T092653.512"` || json.Unmarshal(b, &back) != nil || !back.Equal(ts) {
		t.Errorf("json %s → %v", b, back)
	}
}
