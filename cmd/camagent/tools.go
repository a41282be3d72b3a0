package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camagent/camagent/agent"
)

// probePasswordEnv is where probe takes the password from when --password is
// not given, so it stays out of the process list and shell history.
const probePasswordEnv = "CAMAGENT_PROBE_PASSWORD"

// errNotUsable makes probe exit non-zero; the verdict saying why is already
// on stdout.
var errNotUsable = errors.New("camera not usable")

// runDiscover is `camagent discover`: find ONVIF cameras on the LAN.
func runDiscover(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("discover", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for answers")
	iface := fs.String("interface", "", "network interface to probe on (default: by routing table)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	// Not in the usage text: tests point it at a simulator, and it can
	// probe one camera by unicast when multicast is filtered.
	addr := fs.String("addr", "", "WS-Discovery target host:port instead of the multicast group")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cams, err := agent.Discover(ctx, agent.DiscoverOptions{Interface: *iface, Timeout: *timeout, Addr: *addr})
	if err != nil {
		return err
	}
	if *asJSON {
		if cams == nil {
			cams = []agent.FoundCamera{} // "[]", not "null", for scripts
		}
		return writeJSON(stdout, cams)
	}
	return agent.WriteDiscoverTable(stdout, cams)
}

// runProbe is `camagent probe`: the camera doctor. It fails (exit 1) when
// the camera cannot be used.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	rawURL := fs.String("onvif", "", "camera ONVIF URL, e.g. http://192.168.1.64/onvif/device_service")
	user := fs.String("username", "", "camera user name")
	pass := fs.String("password", "", "camera password (default: $"+probePasswordEnv+")")
	timeout := fs.Duration("timeout", agent.DefaultProbeTimeout, "time limit for each step")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	verbose := fs.Bool("v", false, "log ONVIF details to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rawURL == "" {
		return fmt.Errorf("%w: probe: --onvif URL is required", errUsage)
	}
	password := *pass
	if password == "" {
		password = os.Getenv(probePasswordEnv)
	}
	log := zap.NewNop()
	if *verbose {
		log = newLogger(stderr, zapcore.DebugLevel)
		defer log.Sync() //nolint:errcheck // stderr sync fails on terminals
	}
	r, err := agent.Probe(ctx, agent.ProbeOptions{URL: *rawURL, Username: *user, Password: password, Timeout: *timeout, Logger: log})
	if err != nil {
		return err
	}
	if *asJSON {
		err = writeJSON(stdout, r)
	} else {
		err = r.WriteText(stdout)
	}
	if err != nil {
		return fmt.Errorf("probe: write report: %w", err)
	}
	if !r.Usable {
		return errNotUsable
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
