package cloudsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Upload is one POST the legacy upload endpoint (docs/protocol.md#legacy-upload) accepted.
type Upload struct {
	Cat, Type string
	// Path is the URL path without the leading slash: cam_hello.path, plus
	// the stream id for prerecord.
	Path string
	SID  string
	// Start is the start= packed-time, parsed.
	Start       time.Time
	ContentType string
	Body        []byte
}

// maxUploadBody bounds one legacy upload; previews and logs are far smaller.
const maxUploadBody = 16 << 20

// legacyKinds are the cat/type pairs of docs/protocol.md#legacy-upload.
var legacyKinds = map[string]string{"preview": "jpg", "log": "txt", "snapshot": "jpg", "prerecord": "mp4"}

// UploadURI is the base URL of this server's legacy upload endpoint
// (served when Options.Uploads is set).
func (s *Server) UploadURI() string {
	if s.opts.TLS {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// FailUploads makes the upload endpoint answer every further upload with
// status (after the usual checks); 0 restores normal service.
func (s *Server) FailUploads(status int) {
	s.mu.Lock()
	s.uploadFail = status
	s.mu.Unlock()
}

// HoldUploads makes uploads that pass the checks wait, before they are
// recorded and answered, until release is called, so tests can see an
// agent with an upload in flight (see UploadsHeld).
func (s *Server) HoldUploads() (release func()) {
	hold := make(chan struct{})
	s.mu.Lock()
	s.uploadHold = hold
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.uploadHold = nil
			s.mu.Unlock()
			close(hold)
		})
	}
}

// UploadsHeld is the number of uploads waiting for HoldUploads' release.
func (s *Server) UploadsHeld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploadsHeld
}

// Uploads returns every accepted legacy upload, in arrival order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// WaitUpload waits for an accepted upload of category cat that no earlier
// WaitUpload returned, and returns it; uploads of cat are handed out in
// arrival order.
func (s *Server) WaitUpload(ctx context.Context, cat string) (Upload, error) {
	var got Upload
	err := s.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := range s.uploads {
			if s.uploads[i].Cat == cat && !s.uploadTaken[i] {
				if s.uploadTaken == nil {
					s.uploadTaken = map[int]bool{}
				}
				s.uploadTaken[i] = true
				got = s.uploads[i]
				return true
			}
		}
		return false
	})
	return got, err
}

// liveSID reports whether sid is the session id of a live connection.
func (s *Server) liveSID(sid string) bool {
	for _, c := range s.live() {
		c.mu.Lock()
		ok := c.sid != "" && c.sid == sid
		c.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// serveUpload is the strict legacy upload endpoint: POST
// /{path}[{stream_id}]?sid=&cat=&type=&start=[&length=] with the raw
// file as body. What a real cloud would refuse is answered 4xx and
// recorded as a violation.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	reject := func(code int, format string, a ...any) {
		s.violation("legacy upload: "+format, a...)
		http.Error(w, fmt.Sprintf(format, a...), code)
	}
	if r.Method != http.MethodPost {
		reject(http.StatusMethodNotAllowed, "method %s, want POST", r.Method)
		return
	}
	q := r.URL.Query()
	for k, v := range q {
		if len(v) != 1 {
			reject(http.StatusBadRequest, "query parameter %s given %d times", k, len(v))
			return
		}
	}
	cat, typ := q.Get("cat"), q.Get("type")
	want, known := legacyKinds[cat]
	if !known || typ != want {
		reject(http.StatusBadRequest, "unknown cat %q type %q", cat, typ)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case cat == "prerecord":
		stream, ok := strings.CutPrefix(path, s.opts.Path)
		if !ok || stream == "" || strings.Contains(stream, "/") {
			reject(http.StatusNotFound, "prerecord path %q is not %s{stream_id}", path, s.opts.Path)
			return
		}
		if n, err := strconv.ParseInt(q.Get("length"), 10, 64); err != nil || n <= 0 {
			reject(http.StatusBadRequest, "prerecord length %q is not a positive integer (ms)", q.Get("length"))
			return
		}
	case path != s.opts.Path:
		reject(http.StatusNotFound, "path %q, want cam_hello.path %q", path, s.opts.Path)
		return
	case q.Has("length"):
		reject(http.StatusBadRequest, "length on a %s upload", cat)
		return
	}
	sid := q.Get("sid")
	if !s.liveSID(sid) {
		reject(http.StatusForbidden, "sid %q is not the session id of a live connection", sid)
		return
	}
	startRaw := q.Get("start")
	if !packedTime.MatchString(startRaw) {
		reject(http.StatusBadRequest, "start %q is not packed-time YYYYMMDDThhmmss.mmm", startRaw)
		return
	}
	start, err := time.Parse("20060102T150405.000", startRaw)
	if err != nil {
		reject(http.StatusBadRequest, "start %q: %v", startRaw, err)
		return
	}
	ctype := r.Header.Get("Content-Type")
	if ctype != "" {
		mt, _, err := mime.ParseMediaType(ctype)
		if err != nil {
			reject(http.StatusBadRequest, "content type %q: %v", ctype, err)
			return
		}
		// docs/protocol.md#legacy-upload: the body is the raw file, never a form.
		if strings.HasPrefix(mt, "multipart/") || mt == "application/x-www-form-urlencoded" {
			reject(http.StatusUnsupportedMediaType, "%s body, want the raw file", mt)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUploadBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reject(http.StatusRequestEntityTooLarge, "body over %d bytes", maxUploadBody)
			return
		}
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if typ == "jpg" && !bytes.HasPrefix(body, []byte{0xFF, 0xD8}) {
		reject(http.StatusBadRequest, "%s body is not a JPEG", cat)
		return
	}
	s.mu.Lock()
	if !s.waitHold(r, s.uploadHold, &s.uploadsHeld) {
		s.mu.Unlock()
		return
	}
	fail := s.uploadFail
	if fail == 0 {
		s.uploads = append(s.uploads, Upload{Cat: cat, Type: typ, Path: path, SID: sid, Start: start, ContentType: ctype, Body: body})
		s.notifyLocked()
	}
	s.mu.Unlock()
	if fail != 0 {
		http.Error(w, "upload refused (simulated)", fail)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// waitHold holds an upload that passed the checks while hold is set
// (HoldUploads, HoldPuts), counting it in held. It is called and returns
// with s.mu held; false: the agent gave up meanwhile and nothing arrived.
func (s *Server) waitHold(r *http.Request, hold chan struct{}, held *int) bool {
	if hold == nil {
		return true
	}
	*held++
	s.notifyLocked()
	s.mu.Unlock()
	gone := false
	select {
	case <-hold:
	case <-r.Context().Done():
		gone = true
	}
	s.mu.Lock()
	*held--
	s.notifyLocked()
	return !gone
}
