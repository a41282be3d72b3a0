package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"time"
)

// PutUpload uploads size bytes of body to t (docs/protocol.md#direct-upload):
// an HTTP PUT to t.URL with every header of t.Headers, and a Content-Length
// of size, which must equal the one the cloud granted. Any 2xx is success
// (docs/protocol.md#q13); another status is an *UploadStatusError. A target
// whose Expire has passed is not tried (ErrUploadExpired). client comes
// from NewUploadClient; its timeout bounds the upload.
func PutUpload(ctx context.Context, client *http.Client, t UploadTarget, body io.Reader, size int64) error {
	if !t.Expire.IsZero() && !time.Now().Before(t.Expire) {
		return fmt.Errorf("direct upload %s: %w at %s", t.Category, ErrUploadExpired, FormatPackedTime(t.Expire))
	}
	if size < 0 {
		return fmt.Errorf("direct upload %s: negative size %d", t.Category, size)
	}
	if size == 0 {
		body = http.NoBody // else the transport would send it chunked
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.URL, body)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is a credential: never in errors
		}
		return fmt.Errorf("direct upload %s: %w", t.Category, err)
	}
	req.ContentLength = size
	for k, v := range t.Headers {
		switch textproto.CanonicalMIMEHeaderKey(k) {
		case "Content-Length":
			// The transport writes it from ContentLength; it must be the size granted.
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n != size {
				return fmt.Errorf("direct upload %s: granted Content-Length %q, file has %d bytes", t.Category, v, size)
			}
		case "Host":
			req.Host = v
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("direct upload %s to %s: %w", t.Category, req.URL.Host, err)
	}
	// Drain a little so the connection can be reused; the body says nothing we use.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &UploadStatusError{Cat: t.Category, Status: resp.StatusCode, Direct: true}
	}
	return nil
}
