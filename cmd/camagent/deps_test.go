package main

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestDaemonLinksNoSimulator: the daemon carries no simulated camera or
// cloud, no demo and no test fixture. They would add code and the 465 KB
// video fixture to every gateway, and a path by which production could
// start a fake. go list -deps is what the linker gets.
func TestDaemonLinksNoSimulator(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .EmbedFiles}} {{.}}{{end}}", ".").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps: %v", err)
	}
	var ours int
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg, embeds := fields[0], fields[1:]
		if !strings.HasPrefix(pkg, "github.com/camagent/camagent/") {
			continue
		}
		ours++
		if strings.HasSuffix(pkg, "sim") || strings.Contains(pkg, "sim/") ||
			strings.Contains(pkg, "/testdata/") || strings.HasPrefix(pkg, "github.com/camagent/camagent/demo") {
			t.Errorf("camagent links %s", pkg)
		}
		for _, f := range embeds {
			switch path.Ext(f) {
			case ".h264", ".h265", ".hevc", ".aac":
				t.Errorf("camagent embeds the media file %s from %s", f, pkg)
				continue
			}
			if strings.Contains(f, "testdata/") || strings.Contains(f, "fixture") {
				t.Errorf("camagent embeds %s from %s", f, pkg)
			}
		}
	}
	// A go list that printed nothing of ours would pass for the wrong reason.
	if ours < 5 {
		t.Errorf("go list -deps named %d of our packages, want the agent's (cmd/camagent, agent, config, ...):\n%s", ours, out)
	}
}
