// Command camagent-demo runs the agent against a simulated camera and a
// simulated cloud on loopback, for a machine with neither:
//
//	camagent-demo [--duration D] [--http ADDR] [-v]
//
// It prints one line a second with the frames and kbit/s arriving at the
// simulated cloud, and serves the agent's status page on ADDR. It is a
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

const usage = `usage: camagent-demo [--duration D] [--http ADDR] [-v] [--version]

Runs camagent against a simulated camera and cloud on loopback.
  --duration D   stop after D (default: until Ctrl-C)
  --http ADDR    status page listen address (default 127.0.0.1:8089)
  -v             log at debug level (default: warnings)
  --version      print version`

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
	if *showVersion {
		fmt.Fprintf(stdout, "camagent-demo %s (commit %s, built %s)\n", version, commit, date)
		return nil
	}
	level := zapcore.WarnLevel
	if *verbose {
		level = zapcore.DebugLevel
	}
	log, ring := newLogger(stderr, level)
	defer log.Sync() //nolint:errcheck // stderr sync fails on terminals
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	return demo.Run(ctx, demo.Options{
		HTTPListen: *httpAddr,
		Logger:     log,
		Out:        stdout,
		Version:    version,
		Tick:       time.Second,
		LogRing:    ring,
	})
}

// newLogger writes camagent's JSON log lines to w from level up and keeps
// info and up in a log ring, as `camagent run` does, so the agent answers
// cam_get_log as it would in the field.
func newLogger(w io.Writer, level zapcore.Level) (*zap.Logger, *agent.LogRing) {
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	ring := agent.NewLogRing(0, 0)
	core := zapcore.NewTee(
		zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level),
		ring.Core(enc, min(level, zapcore.InfoLevel)),
	)
	return zap.New(core), ring
}
