package agent

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/netutil"
)

// serverLimits bound what one client can hold of the status server: a
// client that sends slowly or not at all is cut off, and connections past
// maxConns wait in the kernel's backlog. Zero fields take the defaults.
type serverLimits struct {
	maxConns int
	// readHeader bounds the request line and headers, read covers the
	// body too (an event is at most maxEventBody).
	readHeader, read time.Duration
	// write covers the handler and the response: a snapshot waits for the
	// camera (onvif.timeout, 10 s by default) before it is written.
	write time.Duration
	idle  time.Duration
}

const (
	defaultMaxConns   = 64
	defaultReadHeader = 5 * time.Second
	defaultRead       = 30 * time.Second
	defaultWrite      = 60 * time.Second
	defaultIdle       = 2 * time.Minute
	// maxHeaderBytes leaves room for the cookies a browser sends to every
	// port of the host, and refuses megabytes of headers.
	maxHeaderBytes = 64 << 10
)

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (l serverLimits) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(l.readHeader, defaultReadHeader),
		ReadTimeout:       orDefault(l.read, defaultRead),
		WriteTimeout:      orDefault(l.write, defaultWrite),
		IdleTimeout:       orDefault(l.idle, defaultIdle),
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

func (l serverLimits) limit(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, orDefault(l.maxConns, defaultMaxConns))
}

// certCache holds the status server's certificate with the PEM it came
// from, so a handshake reparses only files that changed.
type certCache struct {
	mu        sync.Mutex
	cert, key []byte
	parsed    *tls.Certificate
	// bad is the cert+key PEM last refused, logged once.
	bad []byte
}

// getCertificate reads http.tls_cert and http.tls_key on every handshake:
// a renewed certificate (certbot, a reload pointing to other files) is
// served from the next connection on, no restart needed. A pair that does
// not load keeps the previous certificate, with one warning.
func (a *Agent) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	h := a.httpConfig()
	certPEM, err1 := os.ReadFile(h.TLSCert)
	keyPEM, err2 := os.ReadFile(h.TLSKey)
	c := &a.certs
	c.mu.Lock()
	defer c.mu.Unlock()
	err := errors.Join(err1, err2)
	if err == nil && c.parsed != nil && bytes.Equal(certPEM, c.cert) && bytes.Equal(keyPEM, c.key) {
		return c.parsed, nil
	}
	if err == nil {
		var cert tls.Certificate
		if cert, err = tls.X509KeyPair(certPEM, keyPEM); err == nil {
			c.cert, c.key, c.parsed, c.bad = certPEM, keyPEM, &cert, nil
			return c.parsed, nil
		}
	}
	if id := append(append([]byte(err.Error()), certPEM...), keyPEM...); !bytes.Equal(id, c.bad) {
		c.bad = id
		a.log.Warn("status server certificate does not load; the last good one stays", zap.String("tls_cert", h.TLSCert), zap.Error(err))
	}
	if c.parsed == nil {
		return nil, err
	}
	return c.parsed, nil
}
