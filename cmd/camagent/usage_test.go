package main

import (
	"regexp"
	"strings"
	"testing"
)

// commandFlags are the flags each subcommand's --help must explain, as
// they appear there.
var commandFlags = map[string][]string{
	"run":           {"--config FILE"},
	"check":         {"--config FILE"},
	"discover":      {"--timeout DURATION", "--interface NAME", "--json", "--addr HOST:PORT"},
	"probe":         {"--onvif URL", "--username NAME", "--password PASSWORD", "--timeout DURATION", "--json", "-v"},
	"hash-password": {"--cost COST"},
	"version":       {},
}

// TestCommandHelp runs the real main: every subcommand's -h and --help
// print its usage and each flag with an explanation on one line, to
// stdout, and exit 0; `camagent help CMD` does the same.
func TestCommandHelp(t *testing.T) {
	for _, c := range commands {
		want, ok := commandFlags[c.name]
		if !ok {
			t.Errorf("no flags listed here for command %q", c.name)
		}
		for _, args := range []string{c.name + " --help", c.name + " -h", "help " + c.name} {
			t.Run(args, func(t *testing.T) {
				code, stdout, stderr := runMain(t, args)
				if code != 0 || stderr != "" {
					t.Fatalf("exit code %d, stderr %q; want 0 and nothing", code, stderr)
				}
				if !strings.HasPrefix(stdout, "usage: camagent "+c.name) {
					t.Errorf("stdout does not start with the usage line:\n%s", stdout)
				}
				for _, f := range append(want, "-h, --help") {
					line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(f) + `   +\S.*$`)
					if !line.MatchString(stdout) {
						t.Errorf("no line explaining %s:\n%s", f, stdout)
					}
				}
			})
		}
	}
}

// TestUsageMistakes: a bad flag, a stray argument, an unknown or no
// command print what is wrong and the usage to stderr, nothing else, and
// exit 2.
func TestUsageMistakes(t *testing.T) {
	for _, tc := range []struct {
		args, first, usage string
	}{
		{"", "usage: camagent <command>", "usage: camagent <command>"},
		{"frobnicate", `camagent: unknown command "frobnicate"`, "usage: camagent <command>"},
		{"check --bogus", "camagent check: flag provided but not defined: -bogus", "usage: camagent check [--config FILE]"},
		{"run --config", "camagent run: flag needs an argument: -config", "usage: camagent run [--config FILE]"},
		{"discover --timeout soon", `camagent discover: invalid value "soon" for flag -timeout`, "usage: camagent discover"},
		{"probe --username admin", "camagent probe: --onvif URL is required", "usage: camagent probe --onvif URL"},
		{"version now", `camagent version: unexpected argument "now"`, "usage: camagent version"},
		{"help frobnicate", `camagent: unknown command "frobnicate"`, "usage: camagent <command>"},
	} {
		t.Run(tc.args, func(t *testing.T) {
			code, stdout, stderr := runMain(t, tc.args)
			if code != 2 || stdout != "" {
				t.Fatalf("exit code %d, stdout %q; want 2 and nothing", code, stdout)
			}
			// The first line says what is wrong: no stray "usage" before it.
			if first, _, _ := strings.Cut(stderr, "\n"); !strings.HasPrefix(first, tc.first) {
				t.Errorf("stderr starts %q, want %q:\n%s", first, tc.first, stderr)
			}
			if !strings.Contains(stderr, "\n"+tc.usage) && !strings.HasPrefix(stderr, tc.usage) {
				t.Errorf("stderr lacks %q:\n%s", tc.usage, stderr)
			}
		})
	}
}

// TestMainHelp: `camagent --help` and `camagent help` list the commands on
// stdout and exit 0.
func TestMainHelp(t *testing.T) {
	for _, args := range []string{"--help", "-h", "help"} {
		code, stdout, stderr := runMain(t, args)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: camagent <command>") {
			t.Errorf("camagent %s: exit code %d, stderr %q, stdout:\n%s", args, code, stderr, stdout)
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + c.name + `   +\S`).MatchString(stdout) {
				t.Errorf("camagent %s does not list %s:\n%s", args, c.name, stdout)
			}
		}
	}
}
