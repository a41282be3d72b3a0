// Command camagent connects ONVIF/RTSP IP cameras to a VXG-compatible cloud.
//
//	camagent run --config /etc/camagent/camagent.yaml   the daemon
//	camagent check --config FILE                         validate a config file
//	camagent discover [--timeout D] [--interface IF] [--json]  find ONVIF cameras on the LAN
//	camagent probe --onvif URL [--username U] [--json]   check one camera (password: --password or $CAMAGENT_PROBE_PASSWORD)
//	camagent version
//
// The demo (simulated camera + cloud + agent) is the separate binary
// camagent-demo, so that this one links no simulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"go.uber.org/zap"

	"github.com/camagent/camagent/agent"
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/uplink"
)

// Set by the Makefile through -ldflags.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// errUsage marks command-line mistakes: exit code 2 instead of 1.
var errUsage = errors.New("usage")

// exitConfig is the exit code of `run` when its config cannot be used
// (sysexits' EX_CONFIG). The unit lists it in RestartPreventExitStatus=:
// restarting every few seconds cannot fix a file, and a gateway booting
// with an unedited config would otherwise loop and fill the journal.
const exitConfig = 78

// configError marks an error of `run` that only a config change can fix.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case errors.As(err, new(configError)):
		fmt.Fprintln(os.Stderr, "camagent: config refused, not starting:", err)
		os.Exit(exitConfig)
	default:
		fmt.Fprintln(os.Stderr, "camagent:", err)
		os.Exit(1)
	}
}

const usage = `usage: camagent <command> [flags]

commands:
  run     --config FILE              run the agent
  check   --config FILE              validate a config file and exit
  discover [--timeout 3s] [--interface IF] [--json]
                                     find ONVIF cameras on the LAN and check their addresses
  probe   --onvif URL --username U [--password P] [--timeout 5s] [--json]
                                     check one camera and say whether the agent can use it
                                     (password also from $CAMAGENT_PROBE_PASSWORD); exit 1 if not
  version                            print version

The demo (simulated camera + cloud + agent on loopback) is camagent-demo.`

// demoMoved answers `camagent demo`, which earlier versions had: the
// daemon links no simulator since the demo became its own binary.
const demoMoved = "the demo is its own command now: run camagent-demo (installed beside camagent; `make demo` in a checkout)"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w\n%s", errUsage, usage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return runAgent(ctx, args, stderr)
	case "check":
		return runCheck(args, stdout)
	case "demo":
		return fmt.Errorf("%w: %s", errUsage, demoMoved)
	case "discover":
		return runDiscover(ctx, args, stdout) // tools.go
	case "probe":
		return runProbe(ctx, args, stdout, stderr) // tools.go
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "camagent %s (commit %s, built %s)\n", version, commit, date)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q\n%s", errUsage, cmd, usage)
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %s %v", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

// configFlag parses the flags of run and check: just --config.
func configFlag(name string, args []string) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "/etc/camagent/camagent.yaml", "config file")
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	return *path, nil
}

func runCheck(args []string, stdout io.Writer) error {
	path, err := configFlag("check", args)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	// What run would refuse at start (a token that does not decode, a CA
	// file without certificates) fails the check too.
	if err := agent.Check(cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config ok: %d camera(s)\n", len(cfg.Cameras))
	return nil
}

// watchInterval is how often run polls the config file (tests shorten it).
var watchInterval = config.DefaultWatchInterval

func runAgent(ctx context.Context, args []string, stderr io.Writer) error {
	path, err := configFlag("run", args)
	if err != nil {
		return err
	}
	// SIGHUP means reload from here on; before, it ends the process as an
	// unconfigured daemon should.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := config.Load(path)
	if err != nil {
		return configError{err}
	}
	level := zap.NewAtomicLevelAt(cfg.Log.Level.ZapLevel())
	log, ring := newRingLogger(stderr, level)
	defer log.Sync() //nolint:errcheck // stderr sync fails on terminals
	log.Info("starting", zap.String("version", version), zap.Int("cameras", len(cfg.Cameras)))
	tuneProcs(len(cfg.Cameras), log)
	// A malformed systemd environment costs the notifications, not the agent.
	sd, err := newNotifier()
	if err != nil {
		log.Warn("systemd notify off", zap.Error(err))
	}
	watchdog, err := watchdogInterval()
	if err != nil {
		log.Warn("systemd watchdog off", zap.Error(err))
	}
	ready := make(chan struct{})
	a, err := agent.New(agent.Options{
		Config: cfg, Logger: log, Version: version,
		OnReady:     func() { close(ready) },
		SetLogLevel: level.SetLevel,
		LogRing:     ring,
	})
	if err != nil {
		return configError{err}
	}
	watcher := config.NewWatcher(path, cfg, watchInterval)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = watcher.Run(ctx) }) // returns nil on cancel
	wg.Go(func() {
		reloads(ctx, reloadOptions{
			Agent: a, Watcher: watcher, Hup: hup, Notifier: sd, Ready: ready,
			Status: func() string { return systemdStatus(a.Status()) },
			Logger: log.Named("reload"),
		})
	})
	if sd != nil {
		wg.Go(func() {
			runSystemd(ctx, systemdOptions{
				Notifier: sd,
				Watchdog: watchdog,
				Ready:    ready,
				Status:   func() string { return systemdStatus(a.Status()) },
				Logger:   log.Named("systemd"),
			})
		})
	}
	err = a.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// reloadOptions configures reloads.
type reloadOptions struct {
	Agent    *agent.Agent
	Watcher  *config.Watcher
	Hup      <-chan os.Signal
	Notifier *notifier // nil outside systemd
	// Ready is closed once the agent serves; systemd hears about reloads
	// only after READY=1.
	Ready <-chan struct{}
	// Status is the STATUS text sent with READY=1 after a reload, so
	// systemctl status tells at once whether the config was refused.
	Status func() string
	Logger *zap.Logger
}

// reloads turns SIGHUP into a forced reload and hands every config the
// watcher reports to the agent, until ctx ends. Around each one it tells
// systemd RELOADING=1 and then READY=1 (refused ones included: the agent
// keeps serving the old config then, which is ready), so the unit shows
// "reloading" meanwhile. With ExecReload=kill -HUP, `systemctl reload`
// itself returns once kill has sent the signal, usually before the new
// config is applied; the STATUS line says how it went.
func reloads(ctx context.Context, o reloadOptions) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Hup:
			o.Logger.Info("sighup: reloading config")
			o.Watcher.Reload()
		case u := <-o.Watcher.Updates():
			notify := isClosed(o.Ready)
			if notify {
				o.send("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
			}
			if u.Err != nil {
				o.Agent.Refuse(u.Err)
			} else if o.Agent.Apply(u.Config) == nil { // Apply logs and records a refusal
				tuneProcs(len(u.Config.Cameras), o.Logger)
			}
			if notify {
				o.send("READY=1\nSTATUS=" + o.Status())
			}
		}
	}
}

func (o reloadOptions) send(state string) {
	if err := o.Notifier.notify(state); err != nil {
		o.Logger.Warn("systemd notify", zap.Error(err))
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// systemdStatus is the one-line STATUS systemctl status shows: the cameras
// whose cloud session is ready and, since a refused reload still leaves a
// healthy service, a word about a refused config.
func systemdStatus(st agent.Status) string {
	ready := 0
	for _, c := range st.Cameras {
		if c.Cloud == uplink.StateReady.String() {
			ready++
		}
	}
	s := fmt.Sprintf("%d/%d cameras ready", ready, len(st.Cameras))
	if st.Config.Error != "" {
		s += "; newest config refused, see the status page"
	}
	return s
}
