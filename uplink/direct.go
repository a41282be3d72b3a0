package uplink

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Commands of the direct-upload path (docs/protocol.md#direct-upload).
const (
	CmdGetDirectUploadURL = "get_direct_upload_url"
	CmdDirectUploadURL    = "direct_upload_url"
)

// Upload categories (docs/protocol.md#enums): what a direct-upload target is for.
const (
	CategoryRecord   = "record"    // an MP4 chunk of a recording
	CategorySnapshot = "snapshot"  // an event or periodic JPEG
	CategoryFileMeta = "file_meta" // a metadata blob attached to an event
)

// Upload media types of get_direct_upload_url (docs/protocol.md#enums).
const (
	UploadMP4  = "mp4"
	UploadJPEG = "jpg"
)

// Errors of Session.RequestUpload and PutUpload; each is wrapped with
// detail.
var (
	// ErrUploadRefused: the cloud answered direct_upload_url without a
	// usable entry (status not OK, no url or headers, bad values).
	ErrUploadRefused = errors.New("upload refused by cloud")
	// ErrUploadTimeout: no direct_upload_url within Timeouts.DirectUpload.
	ErrUploadTimeout = errors.New("no direct_upload_url in time")
	// ErrUploadProblem: the cloud sent report_problem for the request.
	ErrUploadProblem = errors.New("cloud reported a problem with the upload request")
	// ErrConnClosed: the connection ended while waiting for the answer.
	ErrConnClosed = errors.New("camera channel connection closed")
	// ErrUploadExpired: the target's expire time has passed; its URL must
	// not be used (docs/protocol.md#direct-upload).
	ErrUploadExpired = errors.New("upload url expired")
)

// GetDirectUploadURL is the body of get_direct_upload_url
// (docs/protocol.md#direct-upload), asking for one target: a record chunk
// (StreamID, Duration in ms) or a snapshot (Width, Height in px). Size is
// the exact byte size that will be PUT.
type GetDirectUploadURL struct {
	Category string     `json:"category"`
	Type     string     `json:"type"`
	StreamID string     `json:"stream_id,omitempty"`
	FileTime PackedTime `json:"file_time"`
	Duration int64      `json:"duration,omitempty"`
	Size     int64      `json:"size"`
	Width    int        `json:"width,omitempty"`
	Height   int        `json:"height,omitempty"`
}

func (*GetDirectUploadURL) required() []string {
	return []string{"cam_id", "category", "type", "file_time", "size"}
}

func (g *GetDirectUploadURL) validate() error {
	switch g.Category {
	case CategoryRecord:
		if g.Type != UploadMP4 {
			return invalid("type", "%q for a record, want %s", g.Type, UploadMP4)
		}
		if g.StreamID == "" {
			return missed("stream_id")
		}
		if g.Duration <= 0 {
			return invalid("duration", "%d ms is not positive", g.Duration)
		}
	case CategorySnapshot:
		if g.Type != UploadJPEG {
			return invalid("type", "%q for a snapshot, want %s", g.Type, UploadJPEG)
		}
		if g.Width <= 0 || g.Height <= 0 {
			return invalid("width/height", "%dx%d is not positive", g.Width, g.Height)
		}
	default:
		return invalid("category", "%q, want %s or %s", g.Category, CategoryRecord, CategorySnapshot)
	}
	if g.FileTime.IsZero() {
		return missed("file_time")
	}
	if g.Size <= 0 {
		return invalid("size", "%d is not positive", g.Size)
	}
	return nil
}

// UploadTarget is one usable entry of a direct_upload_url: PUT the file to
// URL with exactly Headers (PutUpload).
type UploadTarget struct {
	// Category is the attachment the entry is for; "" means the only
	// pending one (older servers).
	Category string
	URL      string
	Headers  map[string]string
	// Expire is when URL stops working; zero means the cloud named no time.
	Expire time.Time
	// EventID is the cloud's id of the event, 0 when not sent (informational).
	EventID int64
}

// UploadGrant is what one direct_upload_url granted: its usable entries,
// the main one first, then the usable extra ones in the cloud's order.
type UploadGrant struct {
	Targets []UploadTarget
}

// For returns the target for category. An entry without a category is for
// the only pending attachment, so it is returned for any category when it
// is the grant's only target.
func (g UploadGrant) For(category string) (UploadTarget, bool) {
	for _, t := range g.Targets {
		if t.Category == category {
			return t, true
		}
	}
	if len(g.Targets) == 1 && g.Targets[0].Category == "" {
		return g.Targets[0], true
	}
	return UploadTarget{}, false
}

// directAnswer is a decoded direct_upload_url: the usable targets, whether
// the main entry is one of them (it decides the done status), and why each
// unusable entry was dropped.
type directAnswer struct {
	grant   UploadGrant
	mainOK  bool
	refusal []string
}

// decodeDirectUploadURL reads a direct_upload_url (docs/protocol.md#direct-upload). A
// bad value makes only its entry unusable: the message is the cloud's and
// never fails as a whole.
func decodeDirectUploadURL(m *Message) directAnswer {
	var a directAnswer
	var eventID int64
	if err := m.int("event_id", &eventID); err != nil {
		eventID = 0 // informational only
	}
	main, why := uploadEntry(m.fields, m.Status, eventID)
	if why == "" {
		a.grant.Targets = append(a.grant.Targets, main)
		a.mainOK = true
	} else {
		a.refusal = append(a.refusal, "main: "+why)
	}
	raw, ok := m.present("extra")
	if !ok {
		return a
	}
	var extra []json.RawMessage
	if err := json.Unmarshal(raw, &extra); err != nil {
		a.refusal = append(a.refusal, "extra is not a list")
		return a
	}
	for i, e := range extra {
		var f map[string]json.RawMessage
		if err := json.Unmarshal(e, &f); err != nil || f == nil {
			a.refusal = append(a.refusal, fmt.Sprintf("extra[%d]: not an object", i))
			continue
		}
		var status string
		if v, ok := f["status"]; ok && json.Unmarshal(v, &status) != nil {
			status = ""
		}
		t, why := uploadEntry(f, status, eventID)
		if why != "" {
			a.refusal = append(a.refusal, fmt.Sprintf("extra[%d]: %s", i, why))
			continue
		}
		a.grant.Targets = append(a.grant.Targets, t)
	}
	return a
}

// uploadEntry reads one entry's category, url, headers, expire and
// event_id; why says what makes it unusable ("" = usable).
func uploadEntry(f map[string]json.RawMessage, status string, eventID int64) (t UploadTarget, why string) {
	present := func(k string) (json.RawMessage, bool) {
		v, ok := f[k]
		return v, ok && string(v) != "null"
	}
	if v, ok := present("category"); ok && json.Unmarshal(v, &t.Category) != nil {
		return t, "category is not a string"
	}
	if status != StatusOK {
		return t, fmt.Sprintf("status %q", status)
	}
	v, ok := present("url")
	if !ok {
		return t, "no url"
	}
	if json.Unmarshal(v, &t.URL) != nil {
		return t, "url is not a string"
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return t, "url is not an http(s) url" // the url is a credential: not quoted
	}
	v, ok = present("headers")
	if !ok {
		return t, "no headers"
	}
	if json.Unmarshal(v, &t.Headers) != nil {
		return t, "headers is not an object of strings"
	}
	seen := make(map[string]bool, len(t.Headers))
	for k, hv := range t.Headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !headerName(k) || !headerValue(hv) || seen[ck] {
			return t, fmt.Sprintf("header %q is invalid or repeated", k)
		}
		seen[ck] = true
	}
	if v, ok := present("expire"); ok {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return t, "expire is not a string"
		}
		if t.Expire, err = ParsePackedTime(s); err != nil {
			return t, "expire is not packed-time"
		}
	}
	t.EventID = eventID
	if v, ok := present("event_id"); ok {
		var id int64
		if json.Unmarshal(v, &id) == nil {
			t.EventID = id
		}
	}
	return t, ""
}

// headerName reports whether k is an RFC 9110 token, so net/http sends it.
func headerName(k string) bool {
	if k == "" {
		return false
	}
	for i := range len(k) {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// headerValue reports whether v has no control bytes but tab, so it cannot
// split the request.
func headerValue(v string) bool {
	for i := range len(v) {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
