// Package agent runs one worker per configured camera: it resolves the camera
// over ONVIF, pulls its RTSP streams, keeps its VXG camera channel open and
// routes cloud commands to ONVIF and media. It also serves the status page.
package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/uplink"
)

// Options configures an Agent.
type Options struct {
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
}

// Agent supervises every camera of one config.
type Agent struct {
	opts    Options
	log     *zap.Logger
	started time.Time
	workers []*cameraWorker
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
	roots := opts.RootCAs
	if roots == nil {
		var err error
		if roots, err = loadRootCAs(cfg.Cloud.CAFile); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	a := &Agent{opts: opts, log: opts.Logger.Named("agent")}
	for i, cam := range cfg.Cameras {
		tok, err := uplink.DecodeToken(cam.Token.Reveal())
		if err != nil {
			return nil, fmt.Errorf("cameras[%d].token (camera %q): %w", i, cam.Name, err)
		}
		w := newCameraWorker(workerOptions{
			Camera:    cam,
			Token:     tok,
			Insecure:  cfg.Cloud.Insecure,
			RootCAs:   roots,
			StatePath: filepath.Join(cfg.StateDir, cam.Name+".state.json"),
			Version:   opts.Version,
			Logger:    opts.Logger,
		})
		a.workers = append(a.workers, w)
	}
	return a, nil
}

// loadRootCAs returns the system pool plus the PEM certificates in caFile.
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
		return nil, fmt.Errorf("cloud.ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cloud.ca_file: %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// Run serves every camera and the status page until ctx is cancelled.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	ln := a.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.opts.Config.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
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
	for _, w := range a.workers {
		g.Go(func() error { w.Run(ctx); return nil })
	}
	a.log.Info("running", zap.Int("cameras", len(a.workers)), zap.String("status_page", "http://"+ln.Addr().String()))
	if a.opts.OnReady != nil {
		a.opts.OnReady()
	}
	err := g.Wait()
	a.log.Info("stopped")
	return err
}

// Status derives every camera's state from its worker's facts.
func (a *Agent) Status() Status {
	st := Status{Version: a.opts.Version, Started: a.started, Uptime: time.Since(a.started).Truncate(time.Second).String()}
	for _, w := range a.workers {
		st.Cameras = append(st.Cameras, w.status())
	}
	return st
}

func errField(err error) zap.Field { return zap.Error(err) }
