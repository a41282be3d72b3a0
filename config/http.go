package config

import (
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// DefaultHTTPUser is the user name of the password the agent generates
// when http.username is not set.
const DefaultHTTPUser = "admin"

// HTTP configures the local status server (status page, /status.json,
// snapshots, /metrics, /readyz, /healthz and the local event input).
//
// Without credentials the agent generates a password in state_dir (see
// agent.GeneratedPasswordFile) and asks for it on the event input always
// and on the pages when listen is not loopback.
type HTTP struct {
	Listen string `yaml:"listen"` // host:port; default 127.0.0.1:8089
	// Username, with Password or PasswordHash, is the basic-auth login of
	// every endpoint but /healthz and /readyz. Alone it names the user of
	// the generated password; "" means DefaultHTTPUser.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// PasswordHash is a bcrypt hash of the password ($2y$, $2a$, $2b$: what
	// `htpasswd -nB` and `camagent hash-password` print), instead of
	// Password, so the config file holds no password.
	PasswordHash Secret `yaml:"password_hash"`
	// InsecureOpen serves the pages to any address without credentials,
	// with a banner saying so. The event input still asks for them.
	InsecureOpen bool `yaml:"insecure_open"`
	// MetricsOpen serves /metrics without credentials, for a Prometheus
	// that scrapes without basic auth.
	MetricsOpen bool `yaml:"metrics_open"`
	// OpenWrite lets the event input take requests without credentials;
	// they must still be JSON POSTs from no other web origin.
	OpenWrite bool `yaml:"open_write"`
	// TLSCert and TLSKey are PEM files: set both to serve HTTPS. They are
	// read again when they change, without a restart.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// HasCredentials reports whether the config names a login of its own
// (else the agent uses the password it generates).
func (h HTTP) HasCredentials() bool {
	return h.Username != "" && (!h.Password.IsZero() || !h.PasswordHash.IsZero())
}

// User is the basic-auth user name: http.username or DefaultHTTPUser.
func (h HTTP) User() string {
	if h.Username == "" {
		return DefaultHTTPUser
	}
	return h.Username
}

// ValidPasswordHash reports whether hash is a bcrypt hash the agent can
// check a password against.
func ValidPasswordHash(hash string) bool {
	if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
		return false
	}
	_, err := bcrypt.Cost([]byte(hash))
	return err == nil && len(hash) == 60
}

// validateHTTP checks the http section.
func (c *Config) validateHTTP(bad func(path, format string, args ...any)) {
	h := c.HTTP
	if err := checkListen(h.Listen); err != nil {
		bad("http.listen", "%q must be host:port (e.g. 127.0.0.1:8089): %v", h.Listen, err)
	}
	if strings.Contains(h.Username, ":") {
		bad("http.username", "must not contain ':' (basic auth separates user and password with it)")
	}
	switch {
	case !h.Password.IsZero() && !h.PasswordHash.IsZero():
		bad("http.password_hash", "is set and so is http.password: set one of them")
	case h.Username == "" && !h.Password.IsZero():
		bad("http.password", "is set but http.username is not: basic auth needs both")
	case h.Username == "" && !h.PasswordHash.IsZero():
		bad("http.password_hash", "is set but http.username is not: basic auth needs both")
	case !h.PasswordHash.IsZero() && !ValidPasswordHash(h.PasswordHash.Reveal()):
		// Not quoted: a mistyped hash may be a password pasted in.
		bad("http.password_hash", "must be a bcrypt hash of 60 characters starting $2y$, $2a$ or $2b$ (what `camagent hash-password` or `htpasswd -nB USER` print)")
	}
	if h.InsecureOpen && h.HasCredentials() {
		bad("http.insecure_open", "is true but http.username has a password: the pages would ask for it anyway; drop one of them")
	}
	switch {
	case h.TLSCert != "" && h.TLSKey == "":
		bad("http.tls_key", "is required with http.tls_cert (the certificate's private key, PEM)")
	case h.TLSCert == "" && h.TLSKey != "":
		bad("http.tls_cert", "is required with http.tls_key (the certificate chain, PEM)")
	}
	for _, f := range [...]struct{ path, file string }{{"http.tls_cert", h.TLSCert}, {"http.tls_key", h.TLSKey}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				bad(f.path, "%v", err)
			}
		}
	}
}
