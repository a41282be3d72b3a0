package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"

	"go.uber.org/zap"

	"github.com/camagent/camagent/config"
)

// withAuth asks for HTTP basic auth on every endpoint but /healthz when
// http.username is configured; a liveness probe reveals nothing and often
// cannot send credentials. It reads the running config on every request,
// so a reload that sets, changes or drops the credentials applies at once.
func (a *Agent) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := a.httpConfig()
		if h.Username == "" || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		// Comparing digests keeps the comparison constant-time whatever
		// the lengths.
		wantUser := sha256.Sum256([]byte(h.Username))
		wantPass := sha256.Sum256([]byte(h.Password.Reveal()))
		user, pass, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		if !ok || subtle.ConstantTimeCompare(gotUser[:], wantUser[:])&subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="camagent", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// openWithoutAuth reports whether the status page served at addr answers
// other machines without asking for credentials: a TCP address that is not
// loopback (a wildcard such as ":8089" included) and no http.username.
// The pages show camera addresses and can fetch snapshots.
func openWithoutAuth(addr net.Addr, h config.HTTP) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && !tcp.IP.IsLoopback() && h.Username == ""
}

// warnOpen logs, once per start or reload that leaves it so, that the
// status page is open to the network without basic auth.
func (a *Agent) warnOpen(addr net.Addr, h config.HTTP) {
	if openWithoutAuth(addr, h) {
		a.log.Warn("status page open to the network without basic auth; set http.username and http.password",
			zap.Stringer("listen", addr))
	}
}
