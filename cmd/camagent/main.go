// Command camagent connects ONVIF/RTSP IP cameras to a VXG-compatible cloud.
//
//	camagent run --config /etc/camagent/camagent.yaml   the daemon
//	camagent check --config FILE                         validate a config file
//	camagent demo [--duration D] [--http ADDR]           simulated camera + cloud + agent
//	camagent discover [--timeout D] [--interface IF] [--json]  find ONVIF cameras on the LAN
//	camagent probe --onvif URL [--username U] [--json]   check one camera (password: --password or $CAMAGENT_PROBE_PASSWORD)
//	camagent version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "camagent:", err)
		os.Exit(1)
	}
}

const usage = `usage: camagent <command> [flags]

commands:
  run     --config FILE              run the agent
  check   --config FILE              validate a config file and exit
  demo    [--duration D] [--http ADDR]  simulated camera + cloud + agent on loopback
  discover [--timeout 3s] [--interface IF] [--json]
                                     find ONVIF cameras on the LAN and check their addresses
  probe   --onvif URL --username U [--password P] [--timeout 5s] [--json]
                                     check one camera and say whether the agent can use it
                                     (password also from $CAMAGENT_PROBE_PASSWORD); exit 1 if not
  version                            print version`

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
		return runDemo(ctx, args, stdout, stderr)
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

func loadConfig(name string, args []string) (*config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "/etc/camagent/camagent.yaml", "config file")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return config.Load(*path)
}

func runCheck(args []string, stdout io.Writer) error {
	cfg, err := loadConfig("check", args)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config ok: %d camera(s)\n", len(cfg.Cameras))
	return nil
}

func runAgent(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := loadConfig("run", args)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log.Level.ZapLevel())
	defer log.Sync() //nolint:errcheck // stderr sync fails on terminals
	log.Info("starting", zap.String("version", version), zap.Int("cameras", len(cfg.Cameras)))
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
	a, err := agent.New(agent.Options{Config: cfg, Logger: log, Version: version, OnReady: func() { close(ready) }})
	if err != nil {
		return err
	}
	if sd == nil {
		return a.Run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		runSystemd(ctx, systemdOptions{
			Notifier: sd,
			Watchdog: watchdog,
			Ready:    ready,
			Cameras:  func() (int, int) { return camerasReady(a.Status()) },
			Logger:   log.Named("systemd"),
		})
	})
	err = a.Run(ctx)
	cancel()
	wg.Wait()
	return err
}

// camerasReady counts the cameras whose cloud session is ready.
func camerasReady(st agent.Status) (ready, total int) {
	for _, c := range st.Cameras {
		if c.Cloud == uplink.StateReady.String() {
			ready++
		}
	}
	return ready, len(st.Cameras)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	duration := fs.Duration("duration", 0, "stop after this long (0 = until Ctrl-C)")
	httpAddr := fs.String("http", "127.0.0.1:8089", "status page listen address")
	verbose := fs.Bool("v", false, "log at debug level")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level := zapcore.WarnLevel
	if *verbose {
		level = zapcore.DebugLevel
	}
	log := newLogger(stderr, level)
	defer log.Sync() //nolint:errcheck // stderr sync fails on terminals
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	return agent.RunDemo(ctx, agent.DemoOptions{
		HTTPListen: *httpAddr,
		Logger:     log,
		Out:        stdout,
		Version:    version,
		Tick:       time.Second,
	})
}

func newLogger(w io.Writer, level zapcore.Level) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core)
}
