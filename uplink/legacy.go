package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Commands served through the legacy upload endpoint (docs/protocol.md#cam-update-preview, #cam-get-log).
const (
	CmdCamUpdatePreview = "cam_update_preview"
	CmdCamGetLog        = "cam_get_log"
)

// Legacy upload categories and their media types (docs/protocol.md#legacy-upload). The obsolete
// snapshot and prerecord categories are not offered: events upload through
// direct_upload_url instead.
const (
	LegacyPreview = "preview" // with LegacyJPEG: the channel thumbnail
	LegacyLog     = "log"     // with LegacyText: the device log
	LegacyJPEG    = "jpg"
	LegacyText    = "txt"
)

// LegacyUploadTimeout bounds one legacy upload when the caller's context has
// no deadline: a preview or a log is small, and a stalled upload must not
// pin its goroutine.
const LegacyUploadTimeout = time.Minute

// ErrNoUploadURI means the cloud named no legacy upload base on this
// connection (neither hello.upload_uri nor hello.upload_url).
var ErrNoUploadURI = errors.New("cloud sent no upload uri")

// UploadStatusError is an upload (a legacy POST or a direct-upload PUT)
// the server answered with a non-2xx HTTP status.
type UploadStatusError struct {
	Cat    string // legacy cat or direct-upload category
	Status int    // HTTP status code
	Direct bool   // a PutUpload, not a PostLegacy
}

func (e *UploadStatusError) Error() string {
	kind := "legacy"
	if e.Direct {
		kind = "direct"
	}
	return fmt.Sprintf("%s upload %s: http %d %s", kind, e.Cat, e.Status, http.StatusText(e.Status))
}

// legacyContentType is the Content-Type docs/protocol.md#legacy-upload recommends for a media
// type LegacyUploadURL accepted.
func legacyContentType(typ string) string {
	if typ == LegacyJPEG {
		return "image/jpeg"
	}
	return "text/plain; charset=utf-8"
}

// LegacyUploadURL builds the POST target of docs/protocol.md#legacy-upload for cat/typ captured at
// start: {base}/{path}?sid=…&cat=…&type=…&start=<packed-time>, with base
// the upload URI of hello and path the cam_hello path.
func (l Link) LegacyUploadURL(cat, typ string, start time.Time) (string, error) {
	switch {
	case cat == LegacyPreview && typ == LegacyJPEG, cat == LegacyLog && typ == LegacyText:
	default:
		return "", fmt.Errorf("legacy upload: unsupported cat %q type %q", cat, typ)
	}
	raw := strings.TrimRight(l.UploadURI, "/")
	if raw == "" {
		return "", ErrNoUploadURI
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("legacy upload: bad upload uri %q", l.UploadURI)
	}
	path := strings.TrimLeft(l.Path, "/")
	if path == "" {
		return "", errors.New("legacy upload: cloud sent no path")
	}
	u.Path = u.Path + "/" + path
	u.RawPath = ""
	// Spec order, so the URL reads like docs/protocol.md#cam-update-preview in logs and captures.
	u.RawQuery = "sid=" + url.QueryEscape(l.SID) + "&cat=" + cat + "&type=" + typ + "&start=" + FormatPackedTime(start)
	return u.String(), nil
}

// NewUploadClient is the HTTP client for uploads: it trusts what the
// camera channel trusts (roots, nil = system pool; verification is never
// off) and gives up after timeout (0 = LegacyUploadTimeout).
func NewUploadClient(roots *x509.CertPool, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = LegacyUploadTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// PostLegacy uploads body to the legacy endpoint of link (docs/protocol.md#legacy-upload) as the
// raw request body (no multipart) with the recommended Content-Type. Any
// 2xx is success (docs/protocol.md#q13); another status is an *UploadStatusError.
func PostLegacy(ctx context.Context, client *http.Client, link Link, cat, typ string, start time.Time, body io.Reader) error {
	target, err := link.LegacyUploadURL(cat, typ, start)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, LegacyUploadTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, body)
	if err != nil {
		return fmt.Errorf("legacy upload %s: %w", cat, err)
	}
	req.Header.Set("Content-Type", legacyContentType(typ))
	resp, err := client.Do(req)
	if err != nil {
		// The URL carries the session id: name the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("legacy upload %s to %s: %w", cat, req.URL.Host, err)
	}
	// Drain a little so the connection can be reused; the body says nothing we use.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &UploadStatusError{Cat: cat, Status: resp.StatusCode}
	}
	return nil
}
