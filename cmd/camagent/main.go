// Command camagent connects ONVIF/RTSP IP cameras to a VXG-compatible cloud.
//
//	camagent run --config /etc/camagent/camagent.yaml   the daemon
//	camagent check --config FILE                         validate a config file
//	camagent discover [--timeout D] [--interface IF] [--json]  find ONVIF cameras on the LAN
//	camagent probe --onvif URL [--username U] [--json]   check one camera (password: --password or $CAMAGENT_PROBE_PASSWORD)
//	camagent hash-password [--cost N]                    bcrypt hash for http.password_hash
//	camagent version
//
// The demo (simulated cameras + cloud + agent) is the separate binary
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
	"strings"
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
	case isUsage(err):
		fmt.Fprint(os.Stderr, strings.TrimSuffix(err.Error(), "\n")+"\n")
		os.Exit(2)
	case errors.As(err, new(configError)):
		fmt.Fprintln(os.Stderr, "camagent: config refused, not starting:", err)
		os.Exit(exitConfig)
	default:
		fmt.Fprintln(os.Stderr, "camagent:", err)
		os.Exit(1)
	}
}

// demoMoved answers `camagent demo`, which earlier versions had: the
// daemon links no simulator since the demo became its own binary.
const demoMoved = "the demo is its own command now: run camagent-demo (installed beside camagent; `make demo` in a checkout)"

// run runs the subcommand args[0] names. -h or --help on any of them
// prints its usage to stdout and succeeds.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{usage: mainUsage()}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return runAgent(ctx, args, stdout, stderr)
	case "check":
		return runCheck(args, stdout)
	case "demo":
		return &usageError{msg: "camagent demo: " + demoMoved}
	case "discover":
		return runDiscover(ctx, args, stdout) // tools.go
	case "probe":
		return runProbe(ctx, args, stdout, stderr) // tools.go
	case "hash-password":
		return runHashPassword(args, os.Stdin, stdout, stderr) // tools.go
	case "version":
		return runVersion(args, stdout)
	case "--version", "-v":
		return runVersion(nil, stdout)
	case "help", "-h", "--help":
		if len(args) == 1 { // `camagent help check`
			return runCommand(ctx, []string{args[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, mainUsage())
		return nil
	}
	return &usageError{msg: fmt.Sprintf("camagent: unknown command %q", cmd), usage: mainUsage()}
}

func runVersion(args []string, stdout io.Writer) error {
	fs := newFlagSet("version", "", "Print the version, the commit it was built from and the build date.")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "camagent %s (commit %s, built %s)\n", version, commit, date)
	return nil
}

// configFlag adds --config to the flags of run and check.
func configFlag(fs *flagSet) *string {
	return fs.String("config", "/etc/camagent/camagent.yaml", "read the config from `file`")
}

func runCheck(args []string, stdout io.Writer) error {
	fs := newFlagSet("check", "[--config FILE]",
		"Validate a config file as run would, access tokens and cloud.ca_file included,\n"+
			"and list every problem with its line. Exit 0 when run would accept it, 1 if not.")
	path := configFlag(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	printConfigPerm(stdout, *path) // perm.go
	// What run would refuse at start (a token that does not decode, a CA
	// file without certificates) fails the check too, in the same list.
	cfg, err := config.LoadChecked(*path, agent.Check)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config ok: %d camera(s)\n", len(cfg.Cameras))
	fmt.Fprintln(stdout, strings.Join(agent.DescribeAccess(cfg), "\n"))
	return nil
}

// watchInterval is how often run polls the config file (tests shorten it).
var watchInterval = config.DefaultWatchInterval

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "[--config FILE]",
		"Run the agent: connect every camera of the config file to its cloud. It logs\n"+
			"JSON lines to stderr; SIGTERM stops it; SIGHUP or a change to the file reloads\n"+
			"it. A config it cannot use at start ends it with exit code 78.")
	path := configFlag(fs)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	// SIGHUP means reload from here on; before, it ends the process as an
	// unconfigured daemon should.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Everything New would refuse is checked before the first log line,
	// and reported at once, as `camagent check` does.
	cfg, err := config.LoadChecked(*path, agent.Check)
	if err != nil {
		return configError{err}
	}
	level := zap.NewAtomicLevelAt(cfg.Log.Level.ZapLevel())
	log, ring := newRingLogger(stderr, level)
	defer log.Sync() //nolint:errcheck // stderr sync fails on terminals
	ready := make(chan struct{})
	a, err := agent.New(agent.Options{
		Config: cfg, Logger: log, Version: version,
		OnReady:     func() { close(ready) },
		SetLogLevel: level.SetLevel,
		LogRing:     ring,
	})
	if err != nil {
		return configError{err} // the state dir cannot be created
	}
	log.Info("starting", zap.String("version", version), zap.Int("cameras", len(cfg.Cameras)))
	warnConfigPerm(log, cfg) // perm.go
	tuneProcs(len(cfg.Cameras), log)
	tuneMemoryLimit(cfg.MemoryLimit, true, log)
	// A malformed systemd environment costs the notifications, not the agent.
	sd, err := newNotifier()
	if err != nil {
		log.Warn("systemd notify off", zap.Error(err))
	}
	watchdog, err := watchdogInterval()
	if err != nil {
		log.Warn("systemd watchdog off", zap.Error(err))
	}
	watcher := config.NewWatcher(*path, cfg, watchInterval)

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
			warnConfigPerm(o.Logger, u.Config) // perm.go
			if u.Err != nil {
				o.Agent.Refuse(u.Err)
			} else if o.Agent.Apply(u.Config) == nil { // Apply logs and records a refusal
				tuneProcs(len(u.Config.Cameras), o.Logger)
				tuneMemoryLimit(u.Config.MemoryLimit, false, o.Logger)
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
