package agent

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/demo/rig"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to
// cert.pem and key.pem in dir, replacing them atomically, and returns a
// pool trusting it alone.
func writeCert(t *testing.T, dir, name string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := writePrivate(filepath.Join(dir, file), pem.EncodeToMemory(block)); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// tlsGet fetches url over a new connection trusting pool only and returns
// the common name of the certificate the server showed.
func tlsGet(t *testing.T, url string, pool *x509.CertPool) (string, error) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return resp.TLS.PeerCertificates[0].Subject.CommonName, nil
}

// TestStatusTLS: with http.tls_cert and http.tls_key the status server
// speaks HTTPS only, serves a renewed certificate from the next connection
// on and the files a reload names.
func TestStatusTLS(t *testing.T) {
	dir := t.TempDir()
	first := writeCert(t, dir, "first")
	r, a, base, _ := runAgentWith(t, rig.Options{Config: func(cfg *config.Config) {
		cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	}}, nil, nil)
	waitReady(t, r)
	url := strings.Replace(base, "http://", "https://", 1) + "/healthz"
	if cn, err := tlsGet(t, url, first); err != nil || cn != "first" {
		t.Fatalf("https: %q %v", cn, err)
	}
	if resp, _ := (call{path: "/healthz"}).do(t, base); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain http to the https server: %s, want 400", resp.Status)
	}

	renewed := writeCert(t, dir, "renewed") // as certbot renews in place
	if cn, err := tlsGet(t, url, renewed); err != nil || cn != "renewed" {
		t.Errorf("after renewal: %q %v, want the renewed certificate", cn, err)
	}

	other := t.TempDir()
	moved := writeCert(t, other, "moved")
	cfg := *a.cfg
	cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = filepath.Join(other, "cert.pem"), filepath.Join(other, "key.pem")
	if err := a.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cn, err := tlsGet(t, url, moved); err != nil || cn != "moved" {
		t.Errorf("after a reload naming other files: %q %v", cn, err)
	}
	// A reload to a key that does not match is refused; the server keeps
	// its certificate.
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.HTTP.TLSCert, bad.HTTP.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := a.Apply(&bad); err == nil || !strings.Contains(err.Error(), "http.tls_cert") {
		t.Errorf("reload to a broken key: %v, want refused naming http.tls_cert", err)
	}
	if cn, err := tlsGet(t, url, moved); err != nil || cn != "moved" {
		t.Errorf("after a refused reload: %q %v", cn, err)
	}
}

// countingListener records the most connections open at once.
type countingListener struct {
	net.Listener
	mu        sync.Mutex
	open, max int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.max = max(l.max, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// TestSlowClients: clients that open connections and never finish their
// request, more of them than the server takes at once, are cut off; the
// server never holds more connections than its cap and still answers a
// proper request.
func TestSlowClients(t *testing.T) {
	var counted *countingListener
	const maxConns = 2
	r, _, base, _ := runAgentWith(t, rig.Options{}, func(ln net.Listener) net.Listener {
		counted = &countingListener{Listener: ln}
		return counted
	}, func(o *Options) { o.server = serverLimits{maxConns: maxConns, readHeader: 300 * time.Millisecond} })
	waitReady(t, r)
	var slow []net.Conn
	for range 2*maxConns + 1 {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /status.json HTTP/1.1\r\nHost: camagent\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	// Served once the slow ones ahead of it are cut off; it would wait
	// for ever without the header timeout.
	if resp, body := (call{path: "/healthz"}).do(t, base); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz behind slow clients: %s %s", resp.Status, body)
	}
	for i, c := range slow {
		// Only a guard against a hang: the server closes long before.
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		rest, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("slow client %d not cut off: %v (read %q)", i, err, rest)
		}
	}
	counted.mu.Lock()
	defer counted.mu.Unlock()
	if counted.max > maxConns {
		t.Errorf("%d connections open at once, cap %d", counted.max, maxConns)
	}
}

// handlerSeeds are requests FuzzHandler starts from: every endpoint, odd
// paths and queries, huge headers and bodies.
var handlerSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /status.json?x=%00&y HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /snapshot/demo.jpg HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /snapshot/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
	"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /readyz HTTP/1.0\r\n\r\n",
	"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n\r\n",
	"POST /api/v1/cameras/demo/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"event\":\"doorbell\"}",
	"POST /api/v1/cameras/demo/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=\"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"eve\r\n0\r\n\r\n",
	"POST /api/v1/cameras/%2e%2e/events HTTP/1.1\r\nHost: x\r\nOrigin: null\r\nSec-Fetch-Site: cross-site\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET //../status.json HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("a=b; ", 4000) + "\r\n\r\n",
	"POST /api/v1/cameras/demo/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 70000\r\n\r\n{\"event\":\"" + strings.Repeat("x", 70000-10),
}

// FuzzHandler drives the status server's handler with arbitrary requests,
// with and without the password: it must not panic nor fail with a 5xx
// other than 503 (a camera not giving a picture, an agent not ready).
func FuzzHandler(f *testing.F) {
	r, err := rig.Start(rig.Options{Config: func(cfg *config.Config) { cfg.Cameras[0].Events.Custom = []string{"doorbell"} }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(r.Close)
	cfg, err := r.Config(f.TempDir(), "0.0.0.0:8089", false)
	if err != nil {
		f.Fatal(err)
	}
	a, err := New(Options{Config: cfg, RootCAs: r.Roots, Version: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	a.served = &net.TCPAddr{IP: net.IPv4zero, Port: 8089} // locked pages
	h := a.handler()
	for _, s := range handlerSeeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, withPassword bool) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // the server answers 400 before any handler
		}
		req.RemoteAddr = "192.0.2.1:40000"
		if withPassword {
			req.SetBasicAuth("admin", a.generated)
		}
		a.logins.setRate(1<<30, time.Hour) // no input is refused for those before it
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d %s", req.Method, req.URL, w.Code, w.Body)
		}
	})
}
