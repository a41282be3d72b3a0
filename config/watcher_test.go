package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeAtomic replaces path the way careful editors and config management
// do, so the watcher never sees a half-written file.
func writeAtomic(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func startWatcher(t *testing.T, interval time.Duration, initial string) (*Watcher, string) {
	t.Helper()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	path := filepath.Join(t.TempDir(), "camagent.yaml")
	writeAtomic(t, path, initial)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(path, cfg, interval)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w, path
}

func nextUpdate(t *testing.T, w *Watcher) Update {
	t.Helper()
	select {
	case u := <-w.Updates():
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no config update")
		return Update{}
	}
}

func TestWatcherPollsForChanges(t *testing.T) {
	w, path := startWatcher(t, 5*time.Millisecond, minimalCam)

	writeAtomic(t, path, strings.Replace(minimalCam, "lobby", "yard", 1))
	u := nextUpdate(t, w)
	if u.Err != nil || u.Config.Cameras[0].Name != "yard" {
		t.Fatalf("update = %+v", u)
	}

	writeAtomic(t, path, minimalCam+"    bogus: 1\n")
	u = nextUpdate(t, w)
	fes := FieldErrors(u.Err)
	if u.Config != nil || len(fes) != 1 || fes[0].Path != "cameras[0].bogus" {
		t.Fatalf("update = %+v, want refusal naming cameras[0].bogus", u)
	}

	// The broken file is reported once; the next update is the fix.
	writeAtomic(t, path, strings.Replace(minimalCam, "lobby", "gate", 1))
	u = nextUpdate(t, w)
	if u.Err != nil || u.Config.Cameras[0].Name != "gate" {
		t.Fatalf("update = %+v, want the fixed config", u)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if u = nextUpdate(t, w); u.Err == nil || !os.IsNotExist(u.Err) {
		t.Fatalf("update after removal = %+v", u)
	}
}

func TestWatcherReloadOnDemand(t *testing.T) {
	// A poll interval far beyond the test: only Reload triggers loads.
	w, path := startWatcher(t, time.Hour, minimalCam)

	w.Reload()
	u := nextUpdate(t, w)
	if u.Err != nil || u.Config.Cameras[0].Name != "lobby" {
		t.Fatalf("forced reload of unchanged file = %+v", u)
	}

	writeAtomic(t, path, "log: {level: loud}\n"+minimalCam)
	w.Reload()
	u = nextUpdate(t, w)
	if fes := FieldErrors(u.Err); len(fes) != 1 || fes[0].Path != "log.level" {
		t.Fatalf("reload of bad file = %+v", u)
	}
}

// noUpdate fails if the watcher has delivered something.
func noUpdate(t *testing.T, w *Watcher, when string) {
	t.Helper()
	select {
	case u := <-w.Updates():
		t.Fatalf("%s: unexpected update %+v", when, u)
	default:
	}
}

// TestWatcherWaitsForTwoStepWrites drives the polls by hand: a file caught
// halfway through being written is not refused; the change is reported
// once two polls read the same bytes, and only once.
func TestWatcherWaitsForTwoStepWrites(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	path := filepath.Join(t.TempDir(), "camagent.yaml")
	writeAtomic(t, path, minimalCam)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(path, cfg, time.Hour)
	poll := func() { w.check(false) }

	poll()
	noUpdate(t, w, "unchanged file")

	// Truncated and half rewritten, as `>` in a shell or an editor
	// saving in place does; the next poll sees the finished file.
	edited := strings.Replace(minimalCam, "lobby", "yard", 1)
	if err := os.WriteFile(path, []byte(edited[:len(edited)/2]), 0o600); err != nil {
		t.Fatal(err)
	}
	poll()
	noUpdate(t, w, "half-written file")
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	poll()
	noUpdate(t, w, "file seen once after the second step")
	poll()
	if u := nextUpdate(t, w); u.Err != nil || u.Config.Cameras[0].Name != "yard" {
		t.Fatalf("finished file = %+v", u)
	}
	poll()
	noUpdate(t, w, "the same file again")

	// A file that stays broken is refused once.
	writeAtomic(t, path, "cameras: [\n")
	poll()
	poll()
	if u := nextUpdate(t, w); u.Err == nil || u.Config != nil {
		t.Fatalf("broken file = %+v, want a refusal", u)
	}
	poll()
	noUpdate(t, w, "the same broken file")

	// SIGHUP does not wait: the operator says the file is ready.
	writeAtomic(t, path, minimalCam)
	w.check(true)
	if u := nextUpdate(t, w); u.Err != nil || u.Config.Cameras[0].Name != "lobby" {
		t.Fatalf("forced reload = %+v", u)
	}
	poll()
	noUpdate(t, w, "after a forced reload of the same file")
}

// TestKeyError: a check made after loading names the file and line of the
// key like Validate does.
func TestKeyError(t *testing.T) {
	cfg, err := Parse([]byte(minimalCam), "/etc/camagent/camagent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("bad access token")
	err = cfg.KeyError("cameras[0].token", cause)
	if got, want := err.Error(), "/etc/camagent/camagent.yaml:4: cameras[0].token: bad access token"; got != want {
		t.Errorf("KeyError = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) || len(FieldErrors(err)) != 1 {
		t.Errorf("KeyError %v does not wrap its cause as one FieldError", err)
	}
	if cfg.Source() != "/etc/camagent/camagent.yaml" {
		t.Errorf("Source = %q", cfg.Source())
	}
}
