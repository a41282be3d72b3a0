// Command camagent-demo runs the agent against two simulated cameras and
// a simulated cloud on loopback, for a machine with neither:
//
//	camagent-demo [--duration D] [--http ADDR] [--motion-every D] [-v]
//
// It prints what the cloud sees (the cameras registering, live video
// arriving once a second, motion events) and the agent's warnings, all as
// lines for a person, and serves the agent's status page on ADDR. It is a
// binary of its own so that the daemon, camagent, links no simulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camagent/camagent/agent"
	"github.com/camagent/camagent/demo"
)

// Set by the Makefile through -ldflags, as for camagent.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

// errUsage marks command-line mistakes: exit code 2 instead of 1.
var errUsage = errors.New("usage")

const usage = `usage: camagent-demo [--duration D] [--http ADDR] [--motion-every D] [-v] [--version]

Runs camagent against two simulated cameras and a simulated cloud on loopback.
  --duration D       stop after D (default: until Ctrl-C)
  --http ADDR        status page listen address (default 127.0.0.1:8089)
  --motion-every D   how often the fixed camera sees motion (default 20s)
  -v                 log at debug level (default: warnings)
  --version          print version`

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
		fmt.Fprintln(os.Stderr, "camagent-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	duration := fs.Duration("duration", 0, "")
	httpAddr := fs.String("http", "127.0.0.1:8089", "")
	motionEvery := fs.Duration("motion-every", 20*time.Second, "")
	verbose := fs.Bool("v", false, "")
	showVersion := fs.Bool("version", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, usage)
			return nil
		}
		return fmt.Errorf("%w: %v\n%s", errUsage, err, usage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q\n%s", errUsage, fs.Arg(0), usage)
	}
	if *duration < 0 || *motionEvery <= 0 {
		return fmt.Errorf("%w: --duration must not be negative, --motion-every must be positive\n%s", errUsage, usage)
	}
	if *showVersion {
		fmt.Fprintf(stdout, "camagent-demo %s (commit %s, built %s)\n", version, commit, date)
		return nil
	}
	level := zapcore.WarnLevel
	if *verbose {
		level = zapcore.DebugLevel
	}
	log, ring := newLogger(stderr, level)
	return demo.Run(ctx, demo.Options{
		HTTPListen:  *httpAddr,
		Logger:      log,
		Out:         stdout,
		Version:     version,
		Tick:        time.Second,
		Duration:    *duration,
		MotionEvery: *motionEvery,
		LogRing:     ring,
	})
}

// newLogger writes log lines for a terminal to w from level up and keeps
// info and up in a log ring as JSON, as `camagent run` does, so the agent
// answers cam_get_log as it would in the field.
func newLogger(w io.Writer, level zapcore.Level) (*zap.Logger, *agent.LogRing) {
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	ring := agent.NewLogRing(0, 0)
	core := zapcore.NewTee(
		newConsoleCore(w, level),
		ring.Core(zapcore.NewJSONEncoder(ec), min(level, zapcore.InfoLevel)),
	)
	return zap.New(core), ring
}
