package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/internal/backoff"
	"github.com/camagent/camagent/uplink"
)

// ConfigStatus is where the running config came from and how the last
// reload went, for the status page and /status.json.
type ConfigStatus struct {
	// Path is the config file ("" for a config built in code).
	Path string `json:"path,omitempty"`
	// LoadedAt is when the running config was applied: at start, or by the
	// last reload that was applied.
	LoadedAt time.Time `json:"loaded_at"`
	// LastReload is when a reload was last tried, applied or refused; nil
	// before the first (a pointer, so templates can test it with if).
	LastReload *time.Time `json:"last_reload,omitempty"`
	// Error says why the newest config was refused (file:line: key: what
	// is wrong); the previous config keeps running. Empty once a config is
	// applied.
	Error string `json:"error,omitempty"`
	// Added, Removed and Restarted count the cameras the last applied
	// reload started, stopped and restarted; the others kept running.
	Added     int `json:"added"`
	Removed   int `json:"removed"`
	Restarted int `json:"restarted"`
	// Pending names settings that take effect only after a restart of
	// camagent (http.listen), "" when none.
	Pending string `json:"pending,omitempty"`
}

// workerRun is a started worker: Apply cancels one camera and waits for
// done without touching the others.
type workerRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// plan is a config that passed the checks New makes, with what its workers
// are built from.
type plan struct {
	cfg    *config.Config
	roots  *x509.CertPool
	tokens map[string]uplink.Token // by camera name
	shared *camera.Shared
	// generated is the status server's password from state_dir when the
	// config names none, else "".
	generated string
}

// Check makes the checks New and Apply make beyond the config file's own
// validation (tokens decode, cloud.ca_file holds certificates) without
// changing anything, for `camagent check`.
func Check(cfg *config.Config) error {
	_, err := checkPlan(cfg, nil)
	return err
}

// prepare makes every check that needs more than the config file (CA file,
// state dir, tokens), before anything changes: a reload is all or nothing.
func (a *Agent) prepare(cfg *config.Config) (*plan, error) {
	p, err := checkPlan(cfg, a.opts.RootCAs)
	if err != nil {
		return nil, err
	}
	// Last, as the checks that change something.
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, cfg.KeyError("state_dir", err)
	}
	// Generated whenever no password is configured, loopback or not: the
	// event input asks for it even there.
	if !cfg.HTTP.HasCredentials() {
		path := GeneratedPasswordFile(cfg.StateDir)
		pass, created, err := generatedPassword(path)
		if err != nil {
			return nil, cfg.KeyError("state_dir", fmt.Errorf("status server password: %w", err))
		}
		if created {
			a.log.Info("generated a password for the status server", zap.String("user", cfg.HTTP.User()), zap.String("password_file", path))
		}
		p.generated = pass
	}
	return p, nil
}

// checkPlan decodes the tokens and loads the trust pool (unless roots is
// given). It reports every problem at once, as config validation does.
func checkPlan(cfg *config.Config, roots *x509.CertPool) (*plan, error) {
	p := &plan{cfg: cfg, roots: roots, tokens: make(map[string]uplink.Token, len(cfg.Cameras))}
	var errs []error
	owner := make(map[string]int, len(cfg.Cameras)) // token secret → first camera
	for i, cam := range cfg.Cameras {
		path := "cameras[" + strconv.Itoa(i) + "].token"
		tok, err := uplink.DecodeToken(cam.Token.Reveal())
		if err != nil {
			// The key path names the camera already.
			errs = append(errs, cfg.KeyError(path, err))
			continue
		}
		// Two sessions with one token take turns throwing each other
		// out of the cloud (bye CONN_CONFLICT): a copy-paste slip.
		if j, dup := owner[tok.Secret]; dup {
			errs = append(errs, cfg.KeyError(path, fmt.Errorf("is the same as cameras[%d].token (%q); each camera needs its own",
				j, cfg.Cameras[j].Name)))
			continue
		}
		owner[tok.Secret] = i
		p.tokens[cam.Name] = tok
	}
	if h := cfg.HTTP; h.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(h.TLSCert, h.TLSKey); err != nil {
			errs = append(errs, cfg.KeyError("http.tls_cert", err))
		}
	}
	if p.roots == nil {
		var err error
		if p.roots, err = loadRootCAs(cfg.Cloud.CAFile); err != nil {
			errs = append(errs, cfg.KeyError("cloud.ca_file", err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// newWorker builds the worker of one camera of a prepared config.
func (a *Agent) newWorker(p *plan, cam config.Camera) *camera.Camera {
	var logs camera.LogSource // a nil *LogRing in it would not be nil
	if a.opts.LogRing != nil {
		logs = a.opts.LogRing
	}
	return camera.New(camera.Options{
		Camera:    cam,
		Token:     p.tokens[cam.Name],
		Insecure:  p.cfg.Cloud.Insecure,
		RootCAs:   p.roots,
		StatePath: filepath.Join(p.cfg.StateDir, cam.Name+".state.json"),
		Version:   a.opts.Version,
		Logger:    a.opts.Logger,
		LogRing:   logs,
		Timing:    a.opts.timing,
		SpoolDir:  filepath.Join(p.cfg.StateDir, "spool", cam.Name),
		Shared:    p.shared,
	})
}

// startLocked starts, under Run's ctx, every camera of a.workers not
// running yet. Only Run calls it, with a.mu held.
func (a *Agent) startLocked(ctx context.Context) {
	if !a.serving {
		return
	}
	for _, w := range a.workers {
		if a.runs[w] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(ctx)
		r := &workerRun{cancel: cancel, done: make(chan struct{})}
		a.runs[w] = r
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(r.done)
			defer cancel()
			a.supervise(ctx, w)
		}()
	}
}

// supervise runs a camera until ctx is cancelled, starting it again with
// backoff after each failed attempt; a camera the cloud deleted stays
// stopped until a reload gives it a new config.
func (a *Agent) supervise(ctx context.Context, w *camera.Camera) {
	log := a.log.With(zap.String("camera", w.Name()))
	// Retry ends only with ctx (or a deleted camera): nothing to report.
	_ = backoff.Retry(ctx, camera.NewBackoff(), func(ctx context.Context) error {
		err := w.Run(ctx)
		if errors.Is(err, camera.ErrDeleted) {
			log.Error("camera was deleted from its cloud account: not reconnecting; give it a new token")
			return nil
		}
		return err
	}, w.Retrying)
}

// stop ends the given workers together (their sessions say bye SHUTDOWN as
// on shutdown) and waits for each. Their runs stay in a.runs, so Run does
// not start them again meanwhile; the caller forgets them under a.mu as it
// drops them from a.workers (forget).
func (a *Agent) stop(ws []*camera.Camera) {
	a.mu.Lock()
	var runs []*workerRun
	for _, w := range ws {
		if r := a.runs[w]; r != nil {
			r.cancel()
			runs = append(runs, r)
		}
	}
	a.mu.Unlock()
	for _, r := range runs {
		<-r.done
	}
}

// forgetLocked drops the runs of stopped workers; a.mu held.
func (a *Agent) forgetLocked(ws []*camera.Camera) {
	for _, w := range ws {
		delete(a.runs, w)
	}
}

// Apply makes cfg the running config, changing only what differs: cameras
// whose settings are unchanged keep running untouched (cloud session,
// RTSP pulls, publishes), removed cameras stop, added ones start, changed
// ones restart. A change of cloud.insecure, cloud.ca_file (or the CA
// certificates in it) or state_dir restarts every camera; log.level and
// the status page's basic auth apply at once; a new http.listen waits for
// a restart of camagent (ConfigStatus.Pending says so).
//
// cfg must have passed config validation (config.Load, config.Parse).
// Apply then makes the checks New makes before it changes anything; a
// config that fails them is refused as by Refuse and the running one
// stays. Apply may be called before, during or after Run.
func (a *Agent) Apply(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("agent: no config")
	}
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	p, err := a.prepare(cfg)
	if err != nil {
		a.refuseLocked(err)
		return err
	}

	a.mu.Lock()
	old, oldRoots := a.cfg, a.roots
	restartAll := old.Cloud != cfg.Cloud || old.StateDir != cfg.StateDir || !p.roots.Equal(oldRoots) ||
		old.Events != cfg.Events || old.Uploads != cfg.Uploads || old.Recording != cfg.Recording
	p.shared = a.shared
	if restartAll {
		p.shared = camera.NewShared(cfg)
	}
	current := make(map[string]*camera.Camera, len(a.workers))
	for _, w := range a.workers {
		current[w.Name()] = w
	}
	var added, removed, restarted, unchanged []string
	var stopping, starting, next []*camera.Camera
	for _, cam := range cfg.Cameras {
		w, ok := current[cam.Name]
		delete(current, cam.Name)
		switch {
		case ok && !restartAll && reflect.DeepEqual(w.Config(), cam):
			unchanged = append(unchanged, cam.Name)
			next = append(next, w)
			continue
		case ok:
			restarted = append(restarted, cam.Name)
			stopping = append(stopping, w)
		default:
			added = append(added, cam.Name)
		}
		nw := a.newWorker(p, cam)
		starting = append(starting, nw)
		next = append(next, nw)
	}
	for _, w := range a.workers {
		if current[w.Name()] != nil {
			removed = append(removed, w.Name())
			stopping = append(stopping, w)
		}
	}
	a.mu.Unlock()

	// A restarted camera's new worker shares the state file of the old
	// one, so the old one ends first.
	a.stop(stopping)

	a.mu.Lock()
	a.forgetLocked(stopping)
	a.cfg, a.roots, a.workers, a.shared, a.generated = cfg, p.roots, next, p.shared, p.generated
	if len(starting) > 0 {
		select {
		case a.changed <- struct{}{}: // Run starts them
		default: // a wake-up is pending already
		}
	}
	now := time.Now()
	a.conf = ConfigStatus{
		Path: cfg.Source(), LoadedAt: now, LastReload: &now,
		Added: len(added), Removed: len(removed), Restarted: len(restarted),
	}
	a.conf.Pending = a.pendingLocked(cfg.HTTP)
	a.mu.Unlock()

	if cfg.Log.Level != old.Log.Level && a.opts.SetLogLevel != nil {
		a.opts.SetLogLevel(cfg.Log.Level.ZapLevel())
	}
	fields := []zap.Field{
		zap.Strings("added", added), zap.Strings("removed", removed),
		zap.Strings("restarted", restarted), zap.Strings("unchanged", unchanged),
	}
	if cfg.Log.Level != old.Log.Level {
		fields = append(fields, zap.Stringer("log_level", cfg.Log.Level))
	}
	if restartAll && len(restarted) > 0 {
		fields = append(fields, zap.String("why_all", "cloud, state_dir, events or uploads changed"))
	}
	if cfg.HTTP.Listen != a.listen {
		fields = append(fields, zap.String("http_listen_pending", cfg.HTTP.Listen))
	}
	a.log.Info("config reloaded", fields...)
	if served := a.servedAddr(); served != nil && cfg.HTTP != old.HTTP {
		a.logAccess(served, cfg.HTTP, cfg.StateDir)
	}
	return nil
}

// Refuse records a config that could not be loaded or validated (what a
// config.Watcher reports as Update.Err): the running config stays, the
// error is logged and shown on the status page until a config is applied.
func (a *Agent) Refuse(err error) {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	a.refuseLocked(err)
}

func (a *Agent) refuseLocked(err error) {
	now := time.Now()
	a.mu.Lock()
	a.conf.LastReload = &now
	a.conf.Error = err.Error()
	a.mu.Unlock()
	a.log.Warn("config refused", zap.Error(err))
}

// configStatus is ConfigStatus as of now.
func (a *Agent) configStatus() ConfigStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conf
}

// servedAddr is the address the status page is bound to, nil before Run
// listens.
func (a *Agent) servedAddr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.served
}

// pendingLocked says which settings of h wait for a restart of camagent,
// "" when none; a.mu held.
func (a *Agent) pendingLocked(h config.HTTP) string {
	var p []string
	if h.Listen != a.listen {
		p = append(p, "http.listen "+h.Listen+" needs a restart of camagent; the status page stays on "+a.listen)
	}
	if a.served != nil && (h.TLSCert != "") != a.tls {
		p = append(p, "switching HTTPS on or off (http.tls_cert) needs a restart of camagent")
	}
	return strings.Join(p, "; ")
}

// httpConfig is the status page's part of the running config.
func (a *Agent) httpConfig() config.HTTP {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.HTTP
}
