package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/crypto/bcrypt"

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

// runHashPassword is `camagent hash-password`: print the bcrypt hash of a
// password for http.password_hash. The password comes from a terminal
// prompt without echo, asked twice, or else the first line of stdin; never
// from the command line, where ps and the shell history would keep it.
func runHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-password", "[--cost N] < password",
		"Print the bcrypt hash of a password for http.password_hash, in the format\n"+
			"htpasswd -B writes. It asks on the terminal without echo, or reads the first\n"+
			"line of stdin.")
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt `cost`, 4-31: each step doubles the time a check takes")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		return fs.mistake("--cost %d is not between %d and %d", *cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	var pass string
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		first, err := promptSilent(f, stderr, "password: ")
		if err != nil {
			return err
		}
		again, err := promptSilent(f, stderr, "again: ")
		if err != nil {
			return err
		}
		if first != again {
			return errors.New("hash-password: the passwords differ")
		}
		pass = first
	} else {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("hash-password: read stdin: %w", err)
		}
		pass = strings.TrimRight(line, "\r\n")
	}
	if pass == "" {
		return errors.New("hash-password: empty password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), *cost)
	if err != nil {
		return fmt.Errorf("hash-password: %w", err) // longer than bcrypt's 72 bytes
	}
	_, err = fmt.Fprintln(stdout, string(hash))
	return err
}

// isTerminal reports whether f is a terminal (Linux: TCGETS succeeds).
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// promptSilent writes prompt to out and reads one line from the terminal
// f with echo off, restoring the terminal after.
func promptSilent(f *os.File, out io.Writer, prompt string) (string, error) {
	var old syscall.Termios
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&old))); errno != 0 {
		return "", fmt.Errorf("hash-password: terminal: %w", errno)
	}
	quiet := old
	quiet.Lflag &^= syscall.ECHO
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCSETS, uintptr(unsafe.Pointer(&quiet))); errno != 0 {
		return "", fmt.Errorf("hash-password: terminal: %w", errno)
	}
	defer syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCSETS, uintptr(unsafe.Pointer(&old))) //nolint:errcheck // best effort
	fmt.Fprint(out, prompt)
	defer fmt.Fprintln(out)
	// One byte at a time: a buffered reader would swallow what follows.
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 && buf[0] != '\n' {
			b.WriteByte(buf[0])
			continue
		}
		if n == 1 || errors.Is(err, io.EOF) {
			return strings.TrimRight(b.String(), "\r"), nil
		}
		if err != nil {
			return "", fmt.Errorf("hash-password: read terminal: %w", err)
		}
	}
}
