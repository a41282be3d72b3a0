package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
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
