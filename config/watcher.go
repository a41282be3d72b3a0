package config

import (
	"context"
	"crypto/sha256"
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
// poll.
type Watcher struct {
	path     string
	interval time.Duration
	last     [sha256.Size]byte
	lastErr  string
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
		last:     current.digest,
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

// check loads the file if it changed (or if forced) and delivers the outcome.
func (w *Watcher) check(force bool) {
	data, err := os.ReadFile(w.path)
	if err != nil {
		if force || err.Error() != w.lastErr {
			w.lastErr = err.Error()
			w.deliver(Update{Err: err})
		}
		return
	}
	digest := sha256.Sum256(data)
	if !force && digest == w.last && w.lastErr == "" {
		return
	}
	w.last, w.lastErr = digest, ""
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
