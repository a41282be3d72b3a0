package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"time"
)

// DefaultWatchInterval is how often a Watcher polls the file when asked for
// no interval. Polling a small file is cheap and, unlike inotify, follows
// editors that replace the file and bind mounts that swap it.
const DefaultWatchInterval = 2 * time.Second

// Update is the outcome of one reload: a validated Config, or the error that
// refused the new file (the caller keeps its running config then).
type Update struct {
	Config *Config
	Err    error
}

// Watcher reloads the config file when its contents change, or on demand
// (SIGHUP), and hands each outcome out on Updates. It reports a file only
// once per distinct content, so a broken file is refused once, not every
// poll. A change is reported only when two polls in a row read the same
// contents, so a file written in two steps (truncate, then write; or
// write, then append) is not refused halfway through.
type Watcher struct {
	path     string
	interval time.Duration
	// reported is the state last delivered (or loaded at start): the
	// digest of the contents, or the read error. pending is a new state
	// seen by one poll and waiting for the next to confirm it.
	reported string
	pending  string
	reload   chan struct{}
	updates  chan Update
}

// NewWatcher watches path, which current was loaded from; changes are
// measured against current's file contents, so an edit made between Load
// and NewWatcher is still seen. interval <= 0 means DefaultWatchInterval.
func NewWatcher(path string, current *Config, interval time.Duration) *Watcher {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	return &Watcher{
		path:     path,
		interval: interval,
		reported: digestState(current.digest),
		reload:   make(chan struct{}, 1),
		updates:  make(chan Update, 1),
	}
}

// Updates delivers reload outcomes. Only the newest undelivered one is
// kept, so a slow reader never blocks the watcher and never applies a stale
// config.
func (w *Watcher) Updates() <-chan Update { return w.updates }

// Reload asks for the file to be loaded and reported even if its contents
// did not change (for SIGHUP, or after a credential file changed). It never
// blocks.
func (w *Watcher) Reload() {
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// Run polls until ctx is cancelled and then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.check(false)
		case <-w.reload:
			w.check(true)
		}
	}
}

func digestState(d [sha256.Size]byte) string { return "sha256:" + hex.EncodeToString(d[:]) }

// check reads the file and delivers the outcome when it changed and the
// previous check saw the same change, or at once when forced (the operator
// said the file is ready).
func (w *Watcher) check(force bool) {
	data, err := os.ReadFile(w.path)
	state := "error:"
	if err != nil {
		state += err.Error()
	} else {
		state = digestState(sha256.Sum256(data))
	}
	if !force {
		if state == w.reported {
			w.pending = ""
			return
		}
		if state != w.pending {
			w.pending = state
			return
		}
	}
	w.pending, w.reported = "", state
	if err != nil {
		w.deliver(Update{Err: err})
		return
	}
	cfg, err := Parse(data, w.path)
	w.deliver(Update{Config: cfg, Err: err})
}

func (w *Watcher) deliver(u Update) {
	// Replace an update nobody has taken yet; Run is the only sender, so
	// after this the send below cannot block.
	select {
	case <-w.updates:
	default:
	}
	w.updates <- u
}

// Source is the file name the config was loaded from ("" for configs built
// in code), for status pages and messages.
func (c *Config) Source() string { return c.source }

// KeyError wraps err, found by a check made after loading (a token that
// does not decode, a CA file without certificates), as a *FieldError naming
// path with the file and line it came from, so a refused reload reads like
// any other config error.
func (c *Config) KeyError(path string, err error) error {
	return &FieldError{Source: c.source, Line: c.line(path), Path: path, Msg: err.Error(), Err: err}
}
