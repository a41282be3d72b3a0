// Package agent runs one worker per configured camera: it resolves the camera
// over ONVIF, pulls its RTSP streams, keeps its VXG camera channel open and
// routes cloud commands to ONVIF and media. It also serves the status page.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/camagent/camagent/agent/camera"
	"github.com/camagent/camagent/config"
)

// Options configures an Agent.
type Options struct {
	// Config is the config to start with; Apply replaces it later.
	Config  *config.Config
	Logger  *zap.Logger
	Version string
	// RootCAs, when set, replaces the system pool plus cloud.ca_file
	// (the demo trusts its simulated cloud this way).
	RootCAs *x509.CertPool
	// Listener, when set, serves the status page instead of listening on
	// http.listen (tests pass 127.0.0.1:0 listeners).
	Listener net.Listener
	// OnReady, when set, is called once by Run after the status page listens
	// and every camera worker has started (main tells systemd READY=1).
	OnReady func()
	// SetLogLevel, when set, is called when a reload changes log.level
	// (main passes its zap.AtomicLevel's SetLevel).
	SetLogLevel func(zapcore.Level)
	// LogRing, when set, holds the recent log lines main tees into it;
	// cam_get_log uploads a camera's share of them (docs/protocol.md#cam-get-log).
	LogRing *LogRing

	// timing replaces the cameras' time constants (tests shorten them).
	timing camera.Timing
	// server replaces the status server's limits (tests shrink them).
	server serverLimits
}

// Agent supervises every camera of one config, and of each config applied
// after it (see Apply).
type Agent struct {
	opts    Options
	log     *zap.Logger
	started time.Time

	// applyMu serializes Apply and Refuse; a reload waits for the cameras
	// it stops, so it must not hold mu meanwhile.
	applyMu sync.Mutex

	mu  sync.Mutex
	cfg *config.Config // the running config
	// roots is the trust pool the running workers were built with.
	roots *x509.CertPool
	// workers is the running set in config order. Apply replaces the
	// slice, never changes it in place, so a copy taken under mu can be
	// read without it (see cameraWorkers).
	workers []*camera.Camera
	runs    map[*camera.Camera]*workerRun // started workers
	// serving is set while Run starts cameras; Apply then wakes it with
	// changed (capacity 1) to start the cameras it added.
	serving bool
	changed chan struct{}
	wg      sync.WaitGroup // started workers
	conf    ConfigStatus
	// listen is the status page address Run serves (http.listen at start).
	listen string
	// served is the address the status page is bound to while Run serves
	// it; nil before.
	served net.Addr
	// shared are the budgets the running workers share.
	shared *camera.Shared
	// generated is the status server's password when the config names
	// none (see GeneratedPasswordFile).
	generated string
	// tls is set while Run serves HTTPS (http.tls_cert at start).
	tls bool

	logins *loginLimiter
	bcrypt bcryptCache
	certs  certCache
}

// New checks what can be checked without the network (tokens, state dir, CA
// file) and builds one worker per camera.
func New(opts Options) (*Agent, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("agent: no config")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	a := &Agent{opts: opts, log: opts.Logger.Named("agent"), runs: map[*camera.Camera]*workerRun{}, changed: make(chan struct{}, 1),
		logins: newLoginLimiter()}
	p, err := a.prepare(cfg)
	if err != nil {
		return nil, err
	}
	p.shared = camera.NewShared(cfg)
	a.shared = p.shared
	for _, cam := range cfg.Cameras {
		a.workers = append(a.workers, a.newWorker(p, cam))
	}
	a.cfg, a.roots, a.listen, a.generated = cfg, p.roots, cfg.HTTP.Listen, p.generated
	a.conf = ConfigStatus{Path: cfg.Source(), LoadedAt: time.Now()}
	return a, nil
}

// loadRootCAs returns the system pool plus the PEM certificates in caFile.
// Errors do not name the key: the caller does (Config.KeyError).
func loadRootCAs(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// Run serves every camera and the status page until ctx is cancelled. It
// returns once every worker, including those a reload started, has ended.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	ln := a.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.listen); err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
	}
	a.mu.Lock()
	a.tls = a.cfg.HTTP.TLSCert != ""
	serveTLS := a.tls
	a.mu.Unlock()
	srv := a.opts.server.server(a.handler())
	ln = a.opts.server.limit(ln)
	scheme := "http://"
	if serveTLS {
		scheme = "https://"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: a.getCertificate}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if serveTLS {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("status page: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	})
	a.mu.Lock()
	a.serving, a.served = true, ln.Addr()
	a.startLocked(ctx)
	n, h, dir := len(a.workers), a.cfg.HTTP, a.cfg.StateDir
	a.mu.Unlock()
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-a.changed:
				a.mu.Lock()
				a.startLocked(ctx)
				a.mu.Unlock()
			}
		}
	})
	a.log.Info("running", zap.Int("cameras", n), zap.String("status_page", scheme+ln.Addr().String()))
	a.logAccess(ln.Addr(), h, dir)
	if a.opts.OnReady != nil {
		a.opts.OnReady()
	}
	err := g.Wait()
	// No worker starts after this, so the WaitGroup cannot grow while
	// it is waited on.
	a.mu.Lock()
	a.serving = false
	a.mu.Unlock()
	a.wg.Wait()
	a.log.Info("stopped")
	return err
}

// cameraWorkers returns the running workers in config order. The slice is
// never changed in place, so callers iterate it without a lock.
func (a *Agent) cameraWorkers() []*camera.Camera {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.workers
}

// Status derives every camera's state from its worker's facts.
func (a *Agent) Status() Status {
	st := Status{Version: a.opts.Version, Started: a.started, Uptime: time.Since(a.started).Truncate(time.Second).String()}
	for _, w := range a.cameraWorkers() {
		st.Cameras = append(st.Cameras, describeCamera(w))
	}
	st.Config = a.configStatus()
	return st
}

func errField(err error) zap.Field { return zap.Error(err) }
