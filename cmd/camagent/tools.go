package main

import (
	"context"
	"encoding/json"
	"errors"
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
	fs := newFlagSet("discover", "[flags]",
		"Find ONVIF cameras on the LAN by WS-Discovery and check each address they\n"+
			"announce: reachable, needs a login, or unreachable from here.")
	timeout := fs.Duration("timeout", 3*time.Second, "wait `duration` for answers")
	iface := fs.String("interface", "", "send the probe on network interface `name` (default: by routing table)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	addr := fs.String("addr", "", "ask one camera at `host:port` by unicast, where multicast is filtered")
	if err := fs.parse(args, stdout); err != nil {
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
	fs := newFlagSet("probe", "--onvif URL [--username NAME] [flags]",
		"Check one camera as the agent would use it (login, clock, profiles, stream, snapshot)\n"+
			"and say whether the agent can use it. Exit 0 when it can, 1 when not.")
	rawURL := fs.String("onvif", "", "camera ONVIF `URL` or address, e.g. http://192.168.1.64/onvif/device_service")
	user := fs.String("username", "", "camera user `name`")
	pass := fs.String("password", "", "camera `password` (default: $"+probePasswordEnv+", kept out of ps)")
	timeout := fs.Duration("timeout", agent.DefaultProbeTimeout, "give each step at most `duration`")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	verbose := fs.Bool("v", false, "log ONVIF details to stderr")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *rawURL == "" {
		return fs.mistake("--onvif URL is required")
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
