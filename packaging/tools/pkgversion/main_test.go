package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestPackageVersion(t *testing.T) {
	date := time.Date(2026, 11, 27, 5, 15, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, describe, want string
	}{
		{"release", "v1.2.3", "1.2.3"},
		{"release without v", "1.2.3", "1.2.3"},
		{"two components", "v2.0", "2.0"},
		{"prerelease", "v1.2.3-rc.1", "1.2.3~rc.1"},
		{"commits after tag", "v1.2.3-4-gabc1234", "1.2.3+4.gabc1234"},
		{"commits after prerelease", "v1.2.3-rc.1-4-gabc1234", "1.2.3~rc.1+4.gabc1234"},
		{"dirty release", "v1.2.3-dirty", "1.2.3.dirty"},
		{"dirty after tag", "v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty"},
		{"untagged", "8a369d0", "0.0.0+git20261127051500.8a369d0"},
		{"untagged dirty", "8a369d0-dirty", "0.0.0+git20261127051500.8a369d0.dirty"},
		{"hand-set", "dev", "0.0.0+dev"},
		{"hand-set odd characters", "my build/1", "0.0.0+my.build.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := packageVersion(tc.describe, date)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("packageVersion(%q) = %q, want %q", tc.describe, got, tc.want)
			}
			if strings.Contains(got, "-") {
				t.Errorf("%q contains '-'", got)
			}
		})
	}
	if _, err := packageVersion("8a369d0", time.Unix(0, 0)); err == nil {
		t.Error("untagged commit without a date was accepted")
	}
	if _, err := packageVersion("", date); err == nil {
		t.Error("empty describe was accepted")
	}
}

// TestDpkgOrder asks dpkg itself that the versions sort in commit order,
// (every Debian machine has dpkg; .ci/run installs Debian's rpm package). A dirty build only has to
// sort after its commit: it is never a release.
func TestOrder(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Fatalf("dpkg not installed: %v", err)
	}
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		t.Fatalf("rpm not installed (apt-get install rpm): %v", err)
	}
	order := []string{
		"0.0.0+dev",
		"0.0.0+git20261127051500.8a369d0",
		"0.0.0+git20261128000000.0000000",
		"1.2.3~rc.1",
		"1.2.3~rc.1+4.gabc1234",
		"1.2.3",
		"1.2.3+4.gabc1234",
		"1.2.3+5.g0000000",
		"1.2.4~rc.1",
	}
	pairs := [][2]string{{"1.2.3", "1.2.3.dirty"}, {"0.0.0+git20261127051500.8a369d0", "0.0.0+git20261127051500.8a369d0.dirty"}}
	for i := 1; i < len(order); i++ {
		pairs = append(pairs, [2]string{order[i-1], order[i]})
	}
	for _, p := range pairs {
		if err := exec.Command(dpkg, "--compare-versions", p[0], "lt", p[1]).Run(); err != nil {
			t.Errorf("dpkg does not sort %s before %s", p[0], p[1])
		}
		out, err := exec.Command(rpm, "--eval", `%{lua: print(rpm.vercmp("`+p[0]+`", "`+p[1]+`"))}`).Output()
		if err != nil || strings.TrimSpace(string(out)) != "-1" {
			t.Errorf("rpm does not sort %s before %s: %q %v", p[0], p[1], out, err)
		}
	}
}
