package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/camagent/camagent/config"
)

// access is who may use an endpoint.
type access int

const (
	// accessProbe: /healthz and /readyz, open to all; container health
	// checks and Kubernetes probes send no credentials.
	accessProbe access = iota
	// accessPage: the status page, its JSON and snapshots. Locked when
	// credentials are configured or the listener is not loopback, unless
	// http.insecure_open.
	accessPage
	// accessMetrics: /metrics, like a page unless http.metrics_open.
	accessMetrics
	// accessWrite: endpoints that change something; locked wherever the
	// agent listens unless http.open_write, so that no web page in a
	// browser on the gateway can use them.
	accessWrite
)

// accessOf classifies a request by the mux pattern it matches; paths that
// match none are pages (their 404 says nothing before the login).
func accessOf(pattern string) access {
	switch pattern {
	case "GET /healthz", "GET /readyz":
		return accessProbe
	case "GET /metrics":
		return accessMetrics
	case "POST /api/v1/cameras/{name}/events":
		return accessWrite
	}
	return accessPage
}

// locked reports whether an endpoint of kind k asks for credentials under
// h when served on a loopback (local) listener or not.
func locked(k access, h config.HTTP, local bool) bool {
	switch k {
	case accessProbe:
		return false
	case accessWrite:
		return !h.OpenWrite
	case accessMetrics:
		if h.MetricsOpen {
			return false
		}
	}
	return h.HasCredentials() || !h.InsecureOpen && !local
}

// isLocal reports whether addr answers this machine only: a loopback TCP
// address or a unix socket. A wildcard (":8089", "0.0.0.0") is not.
func isLocal(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return !ok || tcp.IP.IsLoopback()
}

// login is the credentials an endpoint asks for.
type login struct {
	user, password, hash string
}

// loginOf is the configured login, or the generated password when the
// config names none ("" password and hash: nobody gets in).
func loginOf(h config.HTTP, generated string) login {
	if h.HasCredentials() {
		return login{user: h.Username, password: h.Password.Reveal(), hash: h.PasswordHash.Reveal()}
	}
	return login{user: h.User(), password: generated}
}

// withAuth lets each request through by its endpoint's access rule (see
// locked). It reads the running config on every request, so a reload
// that sets, changes or drops the credentials applies at once. Write
// endpoints refuse cross-origin browser requests first, whoever asks.
func (a *Agent) withAuth(mux *http.ServeMux) http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		k := accessOf(pattern)
		if k == accessWrite {
			if err := csrf.Check(r); err != nil {
				jsonError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
				return
			}
		}
		h, generated, local := a.accessConfig()
		if !locked(k, h, local) {
			mux.ServeHTTP(w, r)
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok {
			unauthorized(w)
			return
		}
		from := clientAddr(r)
		if wait, ok := a.logins.allow(from); !ok {
			a.logins.limited.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			http.Error(w, "too many failed logins from your address; try again later", http.StatusTooManyRequests)
			return
		}
		if !a.check(loginOf(h, generated), user, pass) {
			if first, n := a.logins.fail(from); first {
				a.log.Warn("failed status page logins: refusing this address for a while",
					zap.String("from", from), zap.Int("failures", n))
			}
			unauthorized(w)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="camagent", charset="UTF-8"`)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// clientAddr is the address failed logins are counted against.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// check reports whether user and pass match l. Comparing digests keeps the
// comparison constant-time whatever the lengths.
func (a *Agent) check(l login, user, pass string) bool {
	wantUser, gotUser := sha256.Sum256([]byte(l.user)), sha256.Sum256([]byte(user))
	userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) == 1
	var passOK bool
	switch {
	case l.hash != "":
		passOK = a.bcrypt.check(l.hash, pass)
	case l.password != "":
		want, got := sha256.Sum256([]byte(l.password)), sha256.Sum256([]byte(pass))
		passOK = subtle.ConstantTimeCompare(got[:], want[:]) == 1
	}
	return userOK && passOK
}

// bcryptCache remembers the last password bcrypt accepted, as a digest with
// the hash, so the status page refreshing every few seconds costs one
// bcrypt per login instead of one per request.
type bcryptCache struct {
	mu sync.Mutex
	ok [sha256.Size]byte // of hash + password; zero before the first
}

func (c *bcryptCache) check(hash, pass string) bool {
	key := sha256.Sum256([]byte(hash + "\x00" + pass))
	c.mu.Lock()
	hit := subtle.ConstantTimeCompare(key[:], c.ok[:]) == 1
	c.mu.Unlock()
	if hit {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) != nil {
		return false
	}
	c.mu.Lock()
	c.ok = key
	c.mu.Unlock()
	return true
}

// accessConfig is what withAuth decides by: the running http section, the
// generated password and whether the listener is loopback.
func (a *Agent) accessConfig() (config.HTTP, string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.HTTP, a.generated, a.served == nil || isLocal(a.served)
}

// logAccess logs, at start and after a reload that changes the answer,
// who may use the status server: what a person setting it up must know.
func (a *Agent) logAccess(addr net.Addr, h config.HTTP, stateDir string) {
	local := isLocal(addr)
	switch {
	case h.InsecureOpen && !local:
		a.log.Warn("status page open to the network without a password (http.insecure_open)", zap.Stringer("listen", addr))
	case !h.HasCredentials() && locked(accessPage, h, local):
		a.log.Info("status page asks for the generated password", zap.Stringer("listen", addr),
			zap.String("user", h.User()), zap.String("password_file", GeneratedPasswordFile(stateDir)))
	case !h.HasCredentials() && locked(accessWrite, h, local):
		a.log.Info("local event input asks for the generated password", zap.Stringer("listen", addr),
			zap.String("user", h.User()), zap.String("password_file", GeneratedPasswordFile(stateDir)))
	}
}

// DescribeAccess says, one line each, who may use which endpoints of the
// status server cfg configures, for `camagent check`.
func DescribeAccess(cfg *config.Config) []string {
	h := cfg.HTTP
	host, _, _ := net.SplitHostPort(h.Listen)
	ip := net.ParseIP(host)
	local := host == "localhost" || ip != nil && ip.IsLoopback()
	scheme := "http"
	if h.TLSCert != "" {
		scheme = "https"
	}
	generated := GeneratedPasswordFile(cfg.StateDir)
	rule := func(k access) string {
		switch {
		case !locked(k, h, local) && k == accessWrite:
			return "open (http.open_write), to JSON POSTs from no other web origin"
		case !locked(k, h, local) && h.InsecureOpen:
			return "open to everyone who can reach it (http.insecure_open)"
		case !locked(k, h, local) && k == accessMetrics && h.MetricsOpen:
			return "open (http.metrics_open)"
		case !locked(k, h, local):
			return "open to this machine only (loopback)"
		case h.HasCredentials():
			return "asks for user " + h.Username + " and the configured password"
		}
		return "asks for user " + h.User() + " and the generated password"
	}
	lines := []string{
		"status server " + scheme + "://" + h.Listen,
		"  status page, status.json, snapshots: " + rule(accessPage),
		"  /metrics: " + rule(accessMetrics),
		"  event input (POST /api/v1/cameras/NAME/events): " + rule(accessWrite),
		"  /healthz, /readyz: open",
	}
	if !h.HasCredentials() {
		lines = append(lines, "  the generated password is in "+generated+" (made at first start, 0600;"+
			" read it with: sudo cat "+generated+"); set http.username and http.password or http.password_hash to choose your own")
	}
	return lines
}
