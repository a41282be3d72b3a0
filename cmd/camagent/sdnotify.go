package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
)

// notifier sends sd_notify(3) state lines to systemd. A nil notifier (no
// $NOTIFY_SOCKET: not started by systemd, or Type=simple) does nothing.
type notifier struct {
	addr *net.UnixAddr
}

// newNotifier reads $NOTIFY_SOCKET: an absolute path, or "@name" for the
// Linux abstract namespace (Go's net package maps the leading '@' to the NUL
// byte the kernel expects). It returns nil when the variable is unset.
func newNotifier() (*notifier, error) {
	sock := os.Getenv("NOTIFY_SOCKET")
	switch {
	case sock == "":
		return nil, nil
	case strings.HasPrefix(sock, "/"), strings.HasPrefix(sock, "@") && len(sock) > 1:
		return &notifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}}, nil
	}
	return nil, fmt.Errorf("NOTIFY_SOCKET %q: want an absolute path or @abstract name", sock)
}

// notify sends one datagram holding state (newline-separated KEY=VALUE
// lines). It dials per message: messages are rare, and a fresh socket
// survives systemd re-executing itself.
func (n *notifier) notify(state string) error {
	if n == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which systemd wants
// with RELOADING=1 (MONOTONIC_USEC) to tell this reload from an earlier
// one. Go's time package does not expose that clock's value, and
// golang.org/x/sys is not a direct dependency, hence the raw syscall.
func monotonicUsec() int64 {
	const clockMonotonic = 1 // CLOCK_MONOTONIC in <linux/time.h>
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return ts.Nano() / 1000
}

// watchdogInterval returns how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, and only when $WATCHDOG_PID is unset or names this
// process (the variables may be inherited from a parent that owns them).
func watchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC %q: want a positive number of microseconds", usec)
	}
	return time.Duration(n) * time.Microsecond / 2, nil
}

// statusEvery is how often the STATUS line is refreshed when it changed.
const statusEvery = 5 * time.Second

// systemdOptions configures runSystemd.
type systemdOptions struct {
	Notifier *notifier
	// Watchdog is the WATCHDOG=1 period; 0 disables the watchdog.
	Watchdog time.Duration
	// Ready is closed once the agent serves.
	Ready <-chan struct{}
	// Status is the STATUS line's text: how many cameras have a ready
	// cloud session, and whether the newest config was refused. It reads
	// every worker's state, so a wedged worker also stops the watchdog.
	Status func() string
	Logger *zap.Logger
}

// runSystemd tells systemd READY=1 once the agent serves, then keeps STATUS
// current and pings the watchdog while the agent answers, and says
// STOPPING=1 when ctx ends. Send errors are logged, never fatal: the agent
// is more useful running than exiting over a lost notification.
func runSystemd(ctx context.Context, o systemdOptions) {
	send := func(state string) {
		if err := o.Notifier.notify(state); err != nil {
			o.Logger.Warn("systemd notify", zap.Error(err))
		}
	}
	defer send("STOPPING=1")
	select {
	case <-ctx.Done():
		return
	case <-o.Ready:
	}
	status := func() string { return "STATUS=" + o.Status() }
	last := status()
	send("READY=1\n" + last)

	var watchdog <-chan time.Time
	if o.Watchdog > 0 {
		t := time.NewTicker(o.Watchdog)
		defer t.Stop()
		watchdog = t.C
	}
	refresh := time.NewTicker(statusEvery)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-watchdog:
			// status() doubles as the health check: it answers only if
			// every worker can report.
			if s := status(); s != last {
				last = s
				send("WATCHDOG=1\n" + s)
			} else {
				send("WATCHDOG=1")
			}
		case <-refresh.C:
			if s := status(); s != last {
				last = s
				send(s)
			}
		}
	}
}
