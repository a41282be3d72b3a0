package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/camagent/camagent/onvif"
)

// DefaultCheckTimeout bounds the check of one discovered address when
// DiscoverOptions.CheckTimeout is zero: a camera on the LAN answers in
// milliseconds, and an installer is waiting.
const DefaultCheckTimeout = 3 * time.Second

// maxParallelChecks bounds how many addresses are checked at once, so a
// large site does not open hundreds of connections together.
const maxParallelChecks = 16

// DiscoverOptions configures Discover.
type DiscoverOptions struct {
	// Interface is the network interface to probe on; empty lets the
	// routing table choose.
	Interface string
	// Timeout is how long to listen for answers; onvif's default when zero.
	Timeout time.Duration
	// Addr overrides the WS-Discovery target (multicast by default), to
	// probe one host by unicast or a simulator in tests.
	Addr string
	// CheckTimeout bounds the check of each address; DefaultCheckTimeout
	// when zero.
	CheckTimeout time.Duration
}

// AddrStatus is what checking one advertised device address found.
type AddrStatus string

// Address statuses, from the unauthenticated GetSystemDateAndTime and
// service listing that onvif.Client.Connect performs.
const (
	// AddrOK: the address speaks ONVIF and lists its services without
	// credentials.
	AddrOK AddrStatus = "ok"
	// AddrLogin: the address speaks ONVIF and wants credentials, as
	// cameras normally do.
	AddrLogin AddrStatus = "needs-login"
	// AddrUnreachable: nothing answered at the address in time.
	AddrUnreachable AddrStatus = "unreachable"
	// AddrError: something answered, but not a usable ONVIF device service.
	AddrError AddrStatus = "error"
)

// FoundCamera is a camera that answered discovery, with each of its
// advertised addresses checked.
type FoundCamera struct {
	// Endpoint is the device's stable WS-Discovery identity (urn:uuid:…).
	Endpoint string `json:"endpoint"`
	// Name and Hardware are what the camera announces; empty if not.
	Name     string `json:"name,omitempty"`
	Hardware string `json:"hardware,omitempty"`
	// Addrs are its device service addresses (XAddrs), in announced order.
	Addrs []AddrCheck `json:"xaddrs"`
}

// AddrCheck is one device service address and whether it answers.
type AddrCheck struct {
	URL    string     `json:"url"`
	Status AddrStatus `json:"status"`
	// Detail explains an unreachable or error status.
	Detail string `json:"detail,omitempty"`
}

// Discover finds ONVIF cameras with a WS-Discovery probe and checks whether
// each advertised address answers ONVIF (an unauthenticated clock read plus
// service listing, with CheckTimeout). Cameras are listed in the order they
// answered.
func Discover(ctx context.Context, opts DiscoverOptions) ([]FoundCamera, error) {
	devs, err := onvif.Discover(ctx, onvif.DiscoverOptions{Interface: opts.Interface, Timeout: opts.Timeout, Addr: opts.Addr})
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	checkTimeout := opts.CheckTimeout
	if checkTimeout <= 0 {
		checkTimeout = DefaultCheckTimeout
	}
	out := make([]FoundCamera, len(devs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelChecks)
	for i, d := range devs {
		out[i] = FoundCamera{Endpoint: d.EndpointRef, Name: d.Name, Hardware: d.Hardware, Addrs: make([]AddrCheck, len(d.XAddrs))}
		for j, addr := range d.XAddrs {
			res := &out[i].Addrs[j]
			res.URL = addr
			g.Go(func() error {
				res.Status, res.Detail = checkAddr(gctx, addr, checkTimeout)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	return out, nil
}

// checkAddr tells whether addr answers as an ONVIF device service.
func checkAddr(ctx context.Context, addr string, timeout time.Duration) (AddrStatus, string) {
	c, err := onvif.New(onvif.Options{URL: addr, Timeout: timeout})
	if err != nil {
		return AddrError, err.Error()
	}
	err = c.Connect(ctx)
	switch {
	case err == nil:
		return AddrOK, ""
	case errors.Is(err, onvif.ErrUnauthorized):
		return AddrLogin, ""
	case errors.Is(err, onvif.ErrUnreachable):
		return AddrUnreachable, cause(err)
	}
	return AddrError, err.Error()
}

// cause shortens a network failure to what an installer acts on, e.g.
// "connection refused" or "no answer in time", instead of the whole chain.
func cause(err error) string {
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed without an answer"
	case errors.As(err, &op) && op.Err != nil:
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err.Error()
		}
		return op.Err.Error()
	}
	return err.Error()
}

// WriteDiscoverTable prints cameras as an aligned table for people, one row
// per address.
func WriteDiscoverTable(w io.Writer, cams []FoundCamera) error {
	if len(cams) == 0 {
		_, err := fmt.Fprintln(w, "no ONVIF cameras answered")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tNAME\tHARDWARE\tONVIF")
	for _, c := range cams {
		addrs := c.Addrs
		if len(addrs) == 0 {
			addrs = []AddrCheck{{URL: "(none announced)", Status: AddrError}}
		}
		for _, a := range addrs {
			status := string(a.Status)
			if a.Detail != "" {
				status += " (" + a.Detail + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.URL, orDash(c.Name), orDash(c.Hardware), status)
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
