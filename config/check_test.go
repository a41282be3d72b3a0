package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// checkTokens stands in for agent.Check: every token that is not "good"
// is refused at its key, as a check after loading reports it.
func checkTokens(c *Config) error {
	var errs []error
	for i, cam := range c.Cameras {
		if cam.Token.Reveal() != "good" {
			p := "cameras[" + strconv.Itoa(i) + "].token"
			errs = append(errs, c.KeyError(p, errors.New("not a token")))
		}
	}
	return errors.Join(errs...)
}

// TestLoadChecked: the check after loading runs even when the file has
// other problems, so one run reports all of them, in the order of the
// file's lines, each once.
func TestLoadChecked(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	for _, tc := range []struct {
		name  string
		yaml  string
		check func(*Config) error
		paths []string // nil: accepted
	}{
		{name: "good file, good tokens", yaml: "cameras:\n  - {name: a, token: good, rtsp: rtsp://h/}\n", check: checkTokens},
		{name: "check errors beside validation errors", yaml: `
cameras:
  - name: "a b"
    token: good
    rtsp: rtsp://h/
  - name: yard
    token: bad
    rtsp: ftp://h/
`, check: checkTokens, paths: []string{"cameras[0].name", "cameras[1].token", "cameras[1].rtsp"}},
		{name: "check errors beside type errors", yaml: "log: {level: [x]}\ncameras:\n  - {name: a, token: bad, rtsp: rtsp://h/}\n",
			check: checkTokens, paths: []string{"log.level", "cameras[0].token"}},
		// "is required" already says it; "not a token" would repeat it.
		{name: "key Validate refused", yaml: "cameras:\n  - {name: a, rtsp: rtsp://h/}\n", check: checkTokens,
			paths: []string{"cameras[0].token"}},
		{name: "key the decoder refused", yaml: "cameras:\n  - {name: a, token: [x], rtsp: rtsp://h/}\n  - lobby\n", check: checkTokens,
			paths: []string{"cameras[0].token", "cameras[1]"}},
		{name: "error without a key", yaml: "cameras:\n  - {name: a, token: good, rtsp: ftp://h/}\n",
			check: func(*Config) error { return errors.New("no state dir") }, paths: []string{"", "cameras[0].rtsp"}},
		{name: "no check on a file that does not parse", yaml: "cameras: [\n", check: func(*Config) error {
			t.Error("check ran on a broken file")
			return nil
		}, paths: []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "camagent.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadChecked(path, tc.check)
			if tc.paths == nil {
				if err != nil || cfg == nil {
					t.Fatalf("LoadChecked = %v, %v", cfg, err)
				}
				return
			}
			if cfg != nil || err == nil {
				t.Fatalf("LoadChecked = %v, %v; want errors at %q", cfg, err, tc.paths)
			}
			var paths []string
			for _, e := range splitErrors(err) {
				p, _ := fieldPath(e)
				paths = append(paths, p)
			}
			if !slices.Equal(paths, tc.paths) {
				t.Errorf("error paths = %q, want %q\nerror: %v", paths, tc.paths, err)
			}
		})
	}
}
