package config

import (
	"reflect"
	"testing"
)

func TestSuggestKey(t *testing.T) {
	onvif := keysOf(reflect.TypeFor[ONVIF]())
	camera := keysOf(reflect.TypeFor[Camera]())
	for _, tc := range []struct {
		name, key string
		allowed   []string
		want      string // "" for no suggestion
	}{
		{"one letter missing", "usename", onvif, "username"},
		{"swapped letters count once", "rtsp_transprot", camera, "rtsp_transport"},
		{"swapped letters in a short key", "nmae", camera, "name"},
		{"case is ignored", "Username", onvif, "username"},
		{"extra letter", "passwords", onvif, "password"},
		{"two edits in a long key", "max_clok_skw", onvif, "max_clock_skew"},
		{"two edits in a short key are too many", "usr", onvif, ""},
		{"prefix far in distance", "user", onvif, ""},
		{"unrelated", "location", camera, ""},
		{"tie between two keys", "ab", []string{"aa", "bb"}, ""},
		{"one substitution in a short key", "url", []string{"uri"}, "uri"},
		{"empty key", "", camera, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := suggestKey(tc.key, tc.allowed)
			if !ok {
				got = ""
			}
			if got != tc.want {
				t.Errorf("suggestKey(%q) = %q, %v; want %q", tc.key, got, ok, tc.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"name", "name", 0},
		{"nmae", "name", 1}, {"name", "names", 1}, {"name", "nam", 1}, {"name", "nome", 1},
		{"user", "url", 3}, {"ca", "abc", 3}, // optimal string alignment: no edit after a swap, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (not symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}
