// Command pkgversion turns `git describe --tags --always --dirty` output
// into a version string that dpkg and rpm both accept and order the way the
// commits were made:
//
//	v1.2.3                  1.2.3
//	v1.2.3-rc.1             1.2.3~rc.1        (~ sorts before the release)
//	v1.2.3-4-gabc1234       1.2.3+4.gabc1234  (+ sorts after it)
//	abc1234 (no tag yet)    0.0.0+git20261127051500.abc1234 (commit time orders untagged builds)
//	...-dirty               ... plus .dirty
//
// Both formats forbid "-" in the upstream version (dpkg reads it as the
// start of the revision, rpm rejects it), so it never appears in the result.
//
//	pkgversion -describe "$(git describe --tags --always --dirty)" -source-date-epoch "$(git log -1 --format=%ct)"
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

func main() {
	describe := flag.String("describe", "", "git describe --tags --always --dirty output")
	epoch := flag.Int64("source-date-epoch", 0, "commit time in Unix seconds (orders untagged commits)")
	flag.Parse()
	v, err := packageVersion(*describe, time.Unix(*epoch, 0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pkgversion:", err)
		os.Exit(1)
	}
	fmt.Println(v)
}

var (
	// v1.2.3, v1.2.3-rc.1, each optionally followed by -N-gHASH.
	tagged = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.]+?))??(?:-([0-9]+)-g([0-9a-f]+))?$`)
	// A bare abbreviated commit: no tag is reachable.
	untagged = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
	// What is left after the rules above that neither format allows.
	invalid = regexp.MustCompile(`[^0-9A-Za-z.+~]+`)
)

// packageVersion converts describe (git describe output) to a deb and rpm
// version; commit is the commit time, which orders untagged commits.
func packageVersion(describe string, commit time.Time) (string, error) {
	d, dirty := strings.CutSuffix(strings.TrimSpace(describe), "-dirty")
	if d == "" {
		return "", errors.New("empty describe")
	}
	var v string
	switch {
	case tagged.MatchString(d):
		m := tagged.FindStringSubmatch(d)
		v = m[1]
		if m[2] != "" {
			v += "~" + m[2]
		}
		if m[3] != "" {
			v += "+" + m[3] + ".g" + m[4]
		}
	case untagged.MatchString(d):
		if commit.Unix() <= 0 {
			return "", fmt.Errorf("untagged commit %s needs the commit time", d)
		}
		v = "0.0.0+git" + commit.UTC().Format("20060102150405") + "." + d
	default:
		// Something else (a hand-set VERSION such as "dev"): keep it
		// readable, below every real release.
		v = "0.0.0+" + strings.Trim(invalid.ReplaceAllString(d, "."), ".")
	}
	if dirty {
		v += ".dirty"
	}
	return v, nil
}
