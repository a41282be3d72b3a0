package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeMode replaces path with text at mode, as an editor that saves
// through a temporary file does, so a watcher never sees a half-set mode.
func writeMode(t *testing.T, path, text string, mode fs.FileMode) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile's mode passes the umask
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestConfigPermOwnFile: a config file of the user camagent runs as is
// private at 0600 or 0400; any group or other bit earns a warning that
// names the file, its mode and chmod 600.
func TestConfigPermOwnFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camagent.yaml")
	uid, gid := os.Getuid(), os.Getgid()
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		writeMode(t, path, "cameras: []\n", mode)
		if p := configPerm(path, uid, gid); p != nil {
			t.Errorf("mode %04o: warned %q", mode, p)
		}
	}
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o620, 0o666} {
		writeMode(t, path, "cameras: []\n", mode)
		if uid == 0 && mode&0o027 == 0 {
			continue // root-owned group read is the packaged layout: TestConfigPermRootOwned
		}
		p := configPerm(path, uid, gid)
		if p == nil {
			t.Errorf("mode %04o: no warning", mode)
			continue
		}
		if p.Fix != "chmod 600 "+path || p.Owner != "" || p.Mode != mode {
			t.Errorf("mode %04o: %+v, want fix chmod 600 and no owner", mode, p)
		}
		if s := p.String(); !strings.Contains(s, path) || !strings.Contains(s, "chmod 600 "+path) {
			t.Errorf("mode %04o: warning %q lacks the file or the fix", mode, s)
		}
	}
	if p := configPerm(filepath.Join(t.TempDir(), "missing.yaml"), uid, gid); p != nil {
		t.Errorf("a missing file warned %q; loading it reports that", p)
	}
}

// TestConfigPermAnotherUsersFile: a file owned by someone else is named
// with its owner and the user camagent runs as, and the fix gives it to
// the latter.
func TestConfigPermAnotherUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camagent.yaml")
	writeMode(t, path, "cameras: []\n", 0o644)
	owner := os.Getuid()
	if owner == 0 {
		t.Log("running as root: the file is root-owned, so this checks the root-owned case's advice")
	}
	runsAs := owner + 4242 // not the file's owner
	p := configPerm(path, runsAs, os.Getgid()+4242)
	if p == nil {
		t.Fatal("mode 0644 owned by another user: no warning")
	}
	if p.Owner != userName(owner) || p.RunsAs != userName(runsAs) {
		t.Errorf("owner %q, runs as %q; want %q and %q", p.Owner, p.RunsAs, userName(owner), userName(runsAs))
	}
	want := "chown " + userName(runsAs) + " " + path + " && chmod 600 " + path
	if owner == 0 {
		want = "chgrp " + groupName(os.Getgid()+4242) + " " + path + " && chmod 640 " + path
	}
	if p.Fix != want {
		t.Errorf("fix %q, want %q", p.Fix, want)
	}
	if s := p.String(); !strings.Contains(s, "owned by "+p.Owner+", not by "+p.RunsAs) {
		t.Errorf("warning %q does not say who owns the file", s)
	}
}

// TestConfigPermRootOwned: the packaged layout, root:camagent 0640, is
// private enough for the service; chmod 600 would lock it out.
func TestConfigPermRootOwned(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root can make a root-owned file") // the layout needs a real root-owned file
	}
	path := filepath.Join(t.TempDir(), "camagent.yaml")
	writeMode(t, path, "cameras: []\n", 0o640)
	const service = 4242 // uid and gid of the service user
	if err := os.Chown(path, 0, service); err != nil {
		t.Fatal(err)
	}
	if p := configPerm(path, service, service); p != nil {
		t.Errorf("root:service 0640 warned %q", p)
	}
	if p := configPerm(path, 0, 0); p != nil {
		t.Errorf("root:service 0640 warned %q to root (camagent check)", p)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	if p := configPerm(path, service, service); p == nil || p.Fix != "chmod 640 "+path {
		t.Errorf("root:service 0660 (the service may rewrite it): %v, want fix chmod 640", p)
	}
}

// TestCheckWarnsAboutOpenConfig: camagent check prints one warning line
// for a config other users can read and still succeeds.
func TestCheckWarnsAboutOpenConfig(t *testing.T) {
	path := writeConfig(t, "state_dir: /tmp/x\ncameras:\n  - name: lobby\n    token: "+specToken+"\n    rtsp: rtsp://127.0.0.1:8554/stream\n")
	for _, c := range []struct {
		mode fs.FileMode
		warn bool
	}{{0o600, false}, {0o644, true}} {
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := run(context.Background(), []string{"check", "--config", path}, &out, &out); err != nil {
			t.Fatalf("mode %04o: check refused a good config: %v", c.mode, err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		// After "config ok" check explains the status server's access.
		if !c.warn {
			if !strings.HasPrefix(lines[0], "config ok") || strings.Contains(out.String(), "warning") {
				t.Errorf("mode %04o: check printed %q, want config ok and no warning", c.mode, out.String())
			}
			continue
		}
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "warning: "+path+" is readable or writable by other users (mode 0644)") ||
			!strings.HasSuffix(lines[0], "fix: chmod 600 "+path) || !strings.HasPrefix(lines[1], "config ok") {
			t.Errorf("mode %04o: check printed %q, want a warning with the fix, then config ok", c.mode, out.String())
		}
	}
}

// TestRunWarnsAboutOpenConfig: run warns at start about a config file
// other users can read, and again after a reload reads such a file, not
// after one that reads a private file.
func TestRunWarnsAboutOpenConfig(t *testing.T) {
	defer func(d time.Duration) { watchInterval = d }(watchInterval)
	watchInterval = 20 * time.Millisecond
	t.Setenv("NOTIFY_SOCKET", "")
	s := startReloadSims(t)
	s.write(t, "lobby")
	if err := os.Chmod(s.path, 0o644); err != nil {
		t.Fatal(err)
	}
	logs := s.run(t)
	const warning = `"msg":"config file is readable or writable by other users"`
	line := logs.lineWith(t, warning)
	for _, want := range []string{`"file":"` + s.path + `"`, `"mode":"0644"`, `"fix":"chmod 600 ` + s.path + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("warning %s lacks %s", line, want)
		}
	}

	// A private file reloads without a word; an open one warns again.
	lobby := readFile(t, s.path)
	s.write(t, "lobby", "yard") // 0600
	logs.waitFor(t, `"msg":"config reloaded"`)
	if n := strings.Count(logs.String(), warning); n != 1 {
		t.Errorf("%d warnings after a reload of a 0600 file, want the first one only", n)
	}
	writeMode(t, s.path, lobby, 0o604)
	logs.waitCount(t, `"msg":"config reloaded"`, 2)
	if n := strings.Count(logs.String(), warning); n != 2 {
		t.Errorf("%d warnings after a reload of a 0604 file, want 2", n)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lineWith is the first log line containing text, waiting for it.
func (l *logBuffer) lineWith(t *testing.T, text string) string {
	t.Helper()
	l.waitFor(t, text)
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, text) {
			return line
		}
	}
	return ""
}

// waitCount waits until the logs contain text n times.
func (l *logBuffer) waitCount(t *testing.T, text string, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for strings.Count(l.String(), text) < n {
		select {
		case <-l.written:
		case <-timeout:
			t.Fatalf("the logs said %s fewer than %d times:\n%s", text, n, l.String())
		}
	}
}
