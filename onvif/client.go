package onvif

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// actionSystemDateAndTime is never retried after a clock resync, which would
// recurse.
const actionSystemDateAndTime = nsDevice + "/GetSystemDateAndTime"

// DefaultTimeout bounds each ONVIF call when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxResponseBytes bounds how much of a response is read; real responses are
// a few tens of kilobytes.
const maxResponseBytes = 4 << 20

// Options configures a Client.
type Options struct {
	// URL is the device service URL, e.g. http://192.168.1.64/onvif/device_service.
	// Credentials in the URL are used when Username is empty.
	URL string
	// Username and Password authenticate with WS-UsernameToken and, when the
	// camera asks for it, HTTP digest.
	Username string
	Password string
	// HTTPClient is optional; by default a client with Timeout is used.
	HTTPClient *http.Client
	// Timeout bounds every call; DefaultTimeout when zero.
	Timeout time.Duration
	// Logger is optional; nothing is logged when nil.
	Logger *zap.Logger
}

// Services holds the service addresses in use after Connect, already
// corrected to the configured host when the camera advertised another one.
// Empty means the camera does not offer that service.
type Services struct {
	Device  string
	Media   string
	Media2  string
	PTZ     string
	Events  string
	Imaging string
	// Analytics is the ver20 analytics service (cell motion engine).
	Analytics string
}

// Client talks to one ONVIF camera. It is safe for concurrent use.
type Client struct {
	url      *url.URL
	username string
	password string
	http     *http.Client
	timeout  time.Duration
	log      *zap.Logger

	offset atomic.Int64 // camera clock minus local clock, nanoseconds

	mu          sync.Mutex
	services    Services
	connected   bool
	rewriteSeen bool
	digest      *digestChallenge
	digestNC    uint32
	// digestOnly remembers that the camera refuses WS-Security headers;
	// accepted is the mode of the last authenticated call that worked.
	digestOnly bool
	accepted   AuthMode
	// broken maps service addresses that did not answer while the device
	// service did to why; alive holds the service addresses that answered
	// (a transient failure there condemns nothing). Both reset by Connect.
	broken map[string]error
	alive  map[string]bool
}

// New validates opts and returns a Client. It does not contact the camera;
// call Connect first.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("onvif: parse url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("onvif: url scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("onvif: url has no host")
	}
	c := &Client{
		username: opts.Username,
		password: opts.Password,
		timeout:  opts.Timeout,
		http:     opts.HTTPClient,
		log:      opts.Logger,
	}
	if u.User != nil && c.username == "" {
		c.username = u.User.Username()
		c.password, _ = u.User.Password()
	}
	u.User = nil
	if u.Path == "" {
		u.Path = "/onvif/device_service"
	}
	c.url = u
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: c.timeout}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.services.Device = u.String()
	return c, nil
}

// ProbeTimeout bounds Probe's TCP connect.
const ProbeTimeout = time.Second

// Probe says whether the camera's ONVIF port accepts a TCP connection: nil
// if it does, an error wrapping ErrUnreachable if not. It sends nothing,
// so a camera that is off or rebooting can be knocked at often and costs
// nothing.
func (c *Client) Probe(ctx context.Context) error {
	host := c.url.Host
	if c.url.Port() == "" {
		port := "80"
		if c.url.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(c.url.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return &unreachableError{fmt.Errorf("probe %s: %w", host, err)}
	}
	return conn.Close()
}

// Host returns the camera's host name or IP from the configured URL.
func (c *Client) Host() string { return c.url.Hostname() }

// ClockOffset returns the camera's clock minus the local clock, as measured by
// the last Connect.
func (c *Client) ClockOffset() time.Duration { return time.Duration(c.offset.Load()) }

// Services returns the service addresses learned by Connect.
func (c *Client) Services() Services {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.services
}

// Connect reads the camera's clock (so authentication works even when it is
// far off) and learns its service addresses. Call it before other operations
// and again after the camera reboots.
func (c *Client) Connect(ctx context.Context) error {
	if err := c.syncClock(ctx); err != nil {
		return err
	}
	svc, err := c.learnServices(ctx)
	if err != nil {
		return err
	}
	if svc.Media == "" && svc.Media2 == "" {
		return fmt.Errorf("onvif: connect: media service: %w", ErrUnsupported)
	}
	c.mu.Lock()
	svc.Device = c.fixAddr(svc.Device)
	if svc.Device == "" {
		svc.Device = c.url.String()
	}
	svc.Media = c.fixAddr(svc.Media)
	svc.Media2 = c.fixAddr(svc.Media2)
	svc.PTZ = c.fixAddr(svc.PTZ)
	svc.Events = c.fixAddr(svc.Events)
	svc.Imaging = c.fixAddr(svc.Imaging)
	svc.Analytics = c.fixAddr(svc.Analytics)
	c.services = svc
	c.connected = true
	c.broken, c.alive = nil, nil
	c.mu.Unlock()
	return nil
}

// syncClock measures the camera's clock offset with the unauthenticated
// GetSystemDateAndTime.
func (c *Client) syncClock(ctx context.Context) error {
	sent := time.Now()
	t, err := c.systemDateAndTime(ctx, false)
	if errors.Is(err, ErrUnauthorized) && c.username != "" {
		// A few cameras want credentials even for the clock, some with a
		// bare 401; that works when the clocks agree, or when a previous
		// offset is still right.
		sent = time.Now()
		t, err = c.systemDateAndTime(ctx, true)
	}
	if err != nil {
		if answered(err) && !errors.Is(err, ErrUnauthorized) {
			// Some firmware faults here; authentication may still work if
			// the clocks happen to agree, so carry on with no offset.
			c.log.Warn("camera clock unknown", zap.Error(err))
			c.offset.Store(0)
			return nil
		}
		return err
	}
	now := time.Now()
	mid := sent.Add(now.Sub(sent) / 2)
	// The camera reports whole seconds, truncated: on average the true time
	// is half a second later.
	off := t.Add(500 * time.Millisecond).Sub(mid)
	c.offset.Store(int64(off))
	if off > 5*time.Second || off < -5*time.Second {
		c.log.Debug("camera clock differs from local clock", zap.Duration("offset", off))
	}
	return nil
}

// fixAddr keeps an advertised service address unless it names another host or
// port than the configured URL (NAT, port forwarding, wrong firmware setting),
// in which case the configured scheme and host:port are used with the
// advertised path. The first rewrite is logged. c.mu must be held.
func (c *Client) fixAddr(addr string) string {
	addr = strings.TrimSpace(addr)
	if f := strings.Fields(addr); len(f) > 1 {
		addr = f[0]
	}
	if addr == "" {
		return ""
	}
	u, err := url.Parse(addr)
	if err != nil {
		return ""
	}
	if u.Host == "" {
		// A bare path: resolve against the configured URL.
		return c.url.ResolveReference(u).String()
	}
	if sameHostPort(u, c.url) {
		return u.String()
	}
	fixed := *u
	fixed.Scheme = c.url.Scheme
	fixed.Host = c.url.Host
	fixed.User = nil
	if !c.rewriteSeen {
		c.rewriteSeen = true
		c.log.Warn("camera advertises another address, using configured host",
			zap.String("advertised", u.Host), zap.String("using", c.url.Host))
	}
	return fixed.String()
}

func sameHostPort(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// endpoint returns a service address after Connect.
func (c *Client) endpoint(pick func(Services) string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected {
		return "", errors.New("not connected")
	}
	addr := pick(c.services)
	if addr == "" {
		return "", fmt.Errorf("service not offered: %w", ErrUnsupported)
	}
	if err := c.broken[addr]; err != nil {
		return "", err
	}
	return addr, nil
}

// call sends one SOAP request to endpoint and decodes the response element
// named want into out. op names the operation in errors. auth authenticates
// the call (see exchange).
func (c *Client) call(ctx context.Context, op, endpoint, action string, req any, auth bool, want string, out any) error {
	body, err := xml.Marshal(req)
	if err != nil {
		return fmt.Errorf("onvif: %s: marshal: %w", op, err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	data, err := c.exchange(cctx, op, endpoint, action, body, auth)
	if err == nil || answered(err) {
		c.noteAlive(endpoint)
	}
	if err != nil {
		return fmt.Errorf("onvif: %s: %w", op, c.checkService(ctx, endpoint, err))
	}
	if err := decodeResponse(data, want, out); err != nil {
		return fmt.Errorf("onvif: %s: %w", op, err)
	}
	return nil
}

// post performs the HTTP exchange, retrying once when the camera sends a
// (new or stale) HTTP digest challenge. It returns the body of a successful
// response; error responses become errors.
// digest says whether the request that got the answer carried HTTP digest.
func (c *Client) post(ctx context.Context, endpoint, action string, body []byte, wsse bool) (data []byte, digest bool, err error) {
	for attempt := 0; ; attempt++ {
		var tok *usernameToken
		if wsse {
			t, err := newUsernameToken(c.username, c.password, time.Now().Add(c.ClockOffset()))
			if err != nil {
				return nil, false, err
			}
			tok = &t
		}
		env := withExtraHeader(ctx, buildEnvelope(body, tok)) // WS-Addressing for subscriptions (events.go)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(env))
		if err != nil {
			return nil, false, fmt.Errorf("build request: %w", err)
		}
		req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+action+`"`)
		usedNonce := c.setDigest(req)
		digest = usedNonce != ""

		resp, err := c.http.Do(req)
		if err != nil {
			if ctxErr := context.Cause(ctx); ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
				return nil, digest, ctxErr // cancelled by the caller: not the camera's fault
			}
			return nil, digest, &unreachableError{err}
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		resp.Body.Close()
		if err != nil {
			return nil, digest, &unreachableError{fmt.Errorf("read response: %w", err)}
		}
		if resp.StatusCode == http.StatusUnauthorized {
			ch, cerr := parseDigestChallenge(resp.Header.Values("WWW-Authenticate"))
			if cerr == nil && attempt == 0 && c.username != "" && (usedNonce == "" || ch.Stale || ch.Nonce != usedNonce) {
				c.mu.Lock()
				c.digest, c.digestNC = &ch, 0
				c.mu.Unlock()
				continue
			}
			if errors.Is(cerr, errNoDigest) && usedNonce != "" {
				// Refused without a challenge: the camera no longer
				// takes digest (firmware changed); stop sending it.
				c.mu.Lock()
				c.digest = nil
				c.mu.Unlock()
			}
			if f := parseFault(data); f != nil {
				return nil, digest, fmt.Errorf("%w: %w", ErrUnauthorized, f)
			}
			if cerr != nil && !errors.Is(cerr, errNoDigest) {
				return nil, digest, fmt.Errorf("%w: http 401: %w", ErrUnauthorized, cerr)
			}
			return nil, digest, fmt.Errorf("%w: http 401", ErrUnauthorized)
		}
		if f := parseFault(data); f != nil {
			return nil, digest, f
		}
		if resp.StatusCode != http.StatusOK {
			return nil, digest, &HTTPError{Status: resp.StatusCode, Text: pageText(data)}
		}
		return data, digest, nil
	}
}

// setDigest adds a digest Authorization header when a challenge is known and
// returns the nonce used, or "".
func (c *Client) setDigest(req *http.Request) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.digest == nil || c.username == "" {
		return ""
	}
	c.digestNC++
	req.Header.Set("Authorization", c.digest.authorization(req.Method, req.URL.RequestURI(), c.username, c.password, c.digestNC, randomHex(8)))
	return c.digest.Nonce
}
