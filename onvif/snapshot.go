package onvif

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Snapshot fetches a JPEG from uri (as SnapshotURI returned it) with the
// camera's credentials: HTTP digest when the camera challenges for it, Basic
// only when that is all it offers. Errors wrap ErrUnauthorized when the
// camera refuses the credentials, ErrUnreachable when it cannot be reached
// and ErrUnsupported when it has no such picture (HTTP 404).
func (c *Client) Snapshot(ctx context.Context, uri string) ([]byte, error) {
	const op = "get snapshot"
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.getSnapshot(ctx, uri, "")
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w", op, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && c.username != "" {
		// Snapshot servers are often separate from the SOAP service and have
		// their own nonces, so answer this challenge rather than reuse one.
		authz, aerr := c.snapshotAuthorization(resp.Header.Values("WWW-Authenticate"), resp.Request)
		discardResponse(resp)
		if aerr != nil {
			return nil, fmt.Errorf("onvif: %s: %w: %w", op, ErrUnauthorized, aerr)
		}
		if resp, err = c.getSnapshot(ctx, uri, authz); err != nil {
			return nil, fmt.Errorf("onvif: %s: %w", op, err)
		}
	}
	defer discardResponse(resp)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("onvif: %s: %w: http %d", op, ErrUnauthorized, resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("onvif: %s: http %d: %w", op, resp.StatusCode, ErrUnsupported)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("onvif: %s: http %d", op, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: %w: read: %w", op, ErrUnreachable, err)
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("onvif: %s: picture larger than %d bytes", op, maxResponseBytes)
	}
	return data, nil
}

// getSnapshot sends one GET with an optional Authorization header.
func (c *Client) getSnapshot(ctx context.Context, uri, authz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	// Credentials some cameras embed in the URI would go out as Basic
	// before any challenge; the client's own credentials answer instead.
	req.URL.User = nil
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := context.Cause(ctx); ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
			return nil, ctxErr
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return resp, nil
}

// snapshotAuthorization answers a 401 challenge to req: digest when offered,
// otherwise Basic when offered.
func (c *Client) snapshotAuthorization(challenges []string, req *http.Request) (string, error) {
	ch, err := parseDigestChallenge(challenges)
	if err == nil {
		return ch.authorization(req.Method, req.URL.RequestURI(), c.username, c.password, 1, randomHex(8)), nil
	}
	if !errors.Is(err, errNoDigest) {
		return "", err
	}
	for _, h := range challenges {
		for _, v := range splitChallenges(h) {
			scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
			if strings.EqualFold(scheme, "Basic") {
				r := http.Request{Header: http.Header{}}
				r.SetBasicAuth(c.username, c.password)
				return r.Header.Get("Authorization"), nil
			}
		}
	}
	return "", errors.New("no digest or basic challenge")
}

// discardResponse discards what is left of a response so the connection can be reused.
func discardResponse(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
}
