package cloudsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Put is one direct-upload PUT (docs/protocol.md#direct-upload) the server accepted.
type Put struct {
	Category string // record, snapshot or file_meta
	Path     string // URL path of the granted target
	StreamID string // record only
	// FileTime is file_time of get_direct_upload_url, or the image_time of
	// an event snapshot.
	FileTime    time.Time
	Duration    int64 // ms, record only
	Size        int64
	ContentType string
	Body        []byte
	// EventTime is the time of the cam_event whose attachment this is.
	EventTime time.Time
	EventID   int64
	Received  time.Time
}

// Grant is one direct_upload_url the server sent and how the agent
// answered it.
type Grant struct {
	RefID   int64  // the agent message it answers
	OrigCmd string // cam_event or get_direct_upload_url
	// Categories of the entries, the main one first.
	Categories []string
	Status     string // the main entry's status
	Done       string // status of the agent's done; "" until it arrived
}

// defaultGrantTTL is how long a granted URL stays valid.
const defaultGrantTTL = 10 * time.Minute

// directPrefix starts the path of every granted PUT URL.
const directPrefix = "/direct/"

// directState is the server's direct-upload bookkeeping, under Server.mu.
type directState struct {
	targets  map[string]*target // by URL path
	grants   []*grantRec
	puts     []Put
	taken    map[int]bool // indexes WaitPut returned
	eventID  int64
	refuse   map[string]bool
	withhold bool
	withheld int    // requests left unanswered while withhold was on
	problem  string // ReportUploadProblem
	ttl      time.Duration
	fail     int
	failed   int // PUTs answered with fail
	hold     chan struct{}
	held     int
}

// grantRec is one direct_upload_url sent, for Grants and the done check.
type grantRec struct {
	Grant
	mainOK bool
	sent   time.Time
}

// target is one granted URL.
type target struct {
	category, typ string
	sig           string
	streamID      string
	fileTime      time.Time
	duration      int64
	size          int64
	contentType   string
	headers       map[string]string // as granted
	expire        time.Time
	eventTime     time.Time
	eventID       int64
	used          bool
}

// RefuseUploads makes the server refuse further grants for the given
// categories (status ERROR, no url); no arguments restores normal service.
func (s *Server) RefuseUploads(categories ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.direct.refuse = map[string]bool{}
	for _, c := range categories {
		s.direct.refuse[c] = true
	}
}

// FailedPuts is how many PUTs FailPuts made fail.
func (s *Server) FailedPuts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.direct.failed
}

// WithholdGrants makes the server send no direct_upload_url at all while on.
func (s *Server) WithholdGrants(on bool) {
	s.mu.Lock()
	s.direct.withhold = on
	s.mu.Unlock()
}

// Withheld is how many upload requests went unanswered under
// WithholdGrants. A request counts once the server decided to withhold
// it, so turning WithholdGrants off after that cannot grant it.
func (s *Server) Withheld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.direct.withheld
}

// ReportUploadProblem makes the server answer further upload requests with
// report_problem carrying reason instead of a grant; "" restores grants.
func (s *Server) ReportUploadProblem(reason string) {
	s.mu.Lock()
	s.direct.problem = reason
	s.mu.Unlock()
}

// ExpireGrants sets how long URLs granted from now on stay valid: 0 is
// the default 10 min, a negative d grants URLs that have already expired.
func (s *Server) ExpireGrants(d time.Duration) {
	s.mu.Lock()
	s.direct.ttl = d
	s.mu.Unlock()
}

// FailPuts makes the PUT endpoint answer every further PUT that passes the
// checks with status; 0 restores normal service.
func (s *Server) FailPuts(status int) {
	s.mu.Lock()
	s.direct.fail = status
	s.mu.Unlock()
}

// HoldPuts makes PUTs that pass the checks wait, before they are recorded
// and answered, until release is called (see PutsHeld).
func (s *Server) HoldPuts() (release func()) {
	hold := make(chan struct{})
	s.mu.Lock()
	s.direct.hold = hold
	s.mu.Unlock()
	done := false
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !done {
			done = true
			s.direct.hold = nil
			close(hold)
		}
	}
}

// PutsHeld is the number of PUTs waiting for HoldPuts' release.
func (s *Server) PutsHeld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.direct.held
}

// Puts returns every accepted direct-upload PUT, in arrival order.
func (s *Server) Puts() []Put {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.direct.puts)
}

// WaitPut waits for an accepted PUT that match accepts (nil: any) and no
// earlier WaitPut returned; PUTs are handed out in arrival order.
func (s *Server) WaitPut(ctx context.Context, match func(Put) bool) (Put, error) {
	var got Put
	err := s.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, p := range s.direct.puts {
			if !s.direct.taken[i] && (match == nil || match(p)) {
				if s.direct.taken == nil {
					s.direct.taken = map[int]bool{}
				}
				s.direct.taken[i] = true
				got = p
				return true
			}
		}
		return false
	})
	return got, err
}

// Grants returns every direct_upload_url sent, in order, with the agent's
// done status as far as it arrived.
func (s *Server) Grants() []Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Grant, len(s.direct.grants))
	for i, g := range s.direct.grants {
		out[i] = g.Grant
		out[i].Categories = slices.Clone(g.Categories)
	}
	return out
}

// uploadRequest answers a cam_event with attachments or a
// get_direct_upload_url (docs/protocol.md#direct-upload) after the
// message's checks; it runs on the connection's reader goroutine.
func (c *simConn) uploadRequest(cmd string, id int64, m map[string]any) {
	s := c.s
	var want []*target
	switch cmd {
	case "cam_event":
		if !s.opts.Uploads {
			return // as before direct uploads were simulated
		}
		want = eventAttachments(m)
	case "get_direct_upload_url":
		t, err := directRequest(m)
		if err != nil {
			s.violation("get_direct_upload_url: %v", err)
			c.reportProblem(id, cmd, err.Error())
			return
		}
		want = []*target{t}
	}
	if len(want) == 0 {
		return
	}
	s.mu.Lock()
	withhold, problem := s.direct.withhold, s.direct.problem
	if withhold {
		s.direct.withheld++
		s.notifyLocked()
	}
	s.mu.Unlock()
	switch {
	case withhold:
		return
	case problem != "":
		c.reportProblem(id, cmd, problem)
		return
	case !s.opts.Uploads:
		c.reportProblem(id, cmd, "uploads are not served")
		return
	}
	c.grant(cmd, id, want)
}

func (c *simConn) reportProblem(refid int64, cmd, reason string) {
	c.send(map[string]any{"cmd": "report_problem", "refid": refid, "orig_cmd": cmd, "cam_id": c.camID},
		map[string]any{"reason": reason}, nil)
}

// eventAttachments are the uploads a cam_event announces: a complete
// snapshot_info (an incomplete one means the obsolete POST) and a
// file_meta_info with a size.
func eventAttachments(m map[string]any) []*target {
	var out []*target
	n, _ := m["time"].(json.Number)
	sec, _ := n.Float64()
	evTime := time.UnixMilli(int64(math.Round(sec * 1000))).UTC()
	if si, ok := m["snapshot_info"].(map[string]any); ok {
		w, err1 := intField(si, "width", true)
		h, err2 := intField(si, "height", true)
		size, err3 := intField(si, "size", true)
		it, _ := si["image_time"].(string)
		ft, err4 := time.Parse("20060102T150405.000", it)
		if err1 == nil && err2 == nil && err3 == nil && err4 == nil && packedTime.MatchString(it) && w > 0 && h > 0 && size > 0 {
			out = append(out, &target{category: "snapshot", typ: "jpg", size: size, fileTime: ft, eventTime: evTime, contentType: "image/jpeg"})
		}
	}
	if fm, ok := m["file_meta_info"].(map[string]any); ok {
		if size, err := intField(fm, "size", true); err == nil && size > 0 {
			out = append(out, &target{category: "file_meta", size: size, eventTime: evTime, contentType: "application/octet-stream"})
		}
	}
	return out
}

// directRequest checks a get_direct_upload_url strictly.
func directRequest(m map[string]any) (*target, error) {
	t := &target{}
	t.category, _ = m["category"].(string)
	t.typ, _ = m["type"].(string)
	switch {
	case t.category == "record" && t.typ == "mp4":
		t.contentType = "video/mp4"
		t.streamID, _ = m["stream_id"].(string)
		if t.streamID == "" {
			return nil, fmt.Errorf("record without stream_id (%v)", m["stream_id"])
		}
		d, err := intField(m, "duration", true)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("record duration %v is not a positive integer (ms)", m["duration"])
		}
		if d > maxRecordMS {
			return nil, fmt.Errorf("record duration %d ms is longer than 10 minutes", d)
		}
		t.duration = d
		for _, k := range []string{"width", "height"} {
			if _, has := m[k]; has {
				return nil, fmt.Errorf("record with %s", k)
			}
		}
	case t.category == "snapshot" && t.typ == "jpg":
		t.contentType = "image/jpeg"
		for _, k := range []string{"width", "height"} {
			if v, err := intField(m, k, true); err != nil || v <= 0 {
				return nil, fmt.Errorf("snapshot %s %v is not a positive integer", k, m[k])
			}
		}
	default:
		return nil, fmt.Errorf("category %v with type %v (want record/mp4 or snapshot/jpg)", m["category"], m["type"])
	}
	ft, _ := m["file_time"].(string)
	if !packedTime.MatchString(ft) {
		return nil, fmt.Errorf("file_time %v is not packed-time YYYYMMDDThhmmss.mmm", m["file_time"])
	}
	var err error
	if t.fileTime, err = time.Parse("20060102T150405.000", ft); err != nil {
		return nil, fmt.Errorf("file_time %q: %v", ft, err)
	}
	if t.category == "record" && t.fileTime.After(time.Now().Add(maxFileTimeAhead)) {
		return nil, fmt.Errorf("record file_time %s is in the future", ft)
	}
	if t.size, err = intField(m, "size", true); err != nil || t.size <= 0 {
		return nil, fmt.Errorf("size %v is not a positive integer", m["size"])
	}
	return t, nil
}

// grant sends one direct_upload_url for the targets, the first as the main
// entry and the others in extra.
func (c *simConn) grant(cmd string, id int64, targets []*target) {
	s := c.s
	now := time.Now()
	base := s.UploadURI()
	rec := &grantRec{Grant: Grant{RefID: id, OrigCmd: cmd}, sent: now}
	var entries []map[string]any
	s.mu.Lock()
	ttl := s.direct.ttl
	if ttl == 0 {
		ttl = defaultGrantTTL
	}
	var eventID int64
	if cmd == "cam_event" {
		s.direct.eventID++
		eventID = 9912344 + s.direct.eventID
	}
	for _, t := range targets {
		e := map[string]any{"category": t.category}
		if s.direct.refuse[t.category] {
			e["status"] = "ERROR"
		} else {
			t.sig, t.expire, t.eventID = randHex(8), now.Add(ttl), eventID
			ext := t.typ
			if ext == "" {
				ext = "bin"
			}
			path := fmt.Sprintf("%s%d/%s/%s.%s", directPrefix, c.camID, randHex(6), t.fileTime.Format("20060102T150405.000"), ext)
			if s.direct.targets == nil {
				s.direct.targets = map[string]*target{}
			}
			s.direct.targets[path] = t
			e["status"] = "OK"
			e["url"] = base + path + "?X-Sig=" + t.sig
			t.headers = map[string]string{"Content-Type": t.contentType, "Content-Length": strconv.FormatInt(t.size, 10)}
			e["headers"] = t.headers
			e["expire"] = t.expire.UTC().Format("20060102T150405.000")
		}
		rec.Categories = append(rec.Categories, t.category)
		entries = append(entries, e)
	}
	rec.Status, _ = entries[0]["status"].(string)
	rec.mainOK = rec.Status == "OK"
	s.direct.grants = append(s.direct.grants, rec)
	s.notifyLocked()
	s.mu.Unlock()
	body := entries[0]
	if eventID != 0 {
		body["event_id"] = eventID
	}
	if len(entries) > 1 {
		body["extra"] = entries[1:]
	}
	c.send(map[string]any{"cmd": "direct_upload_url", "refid": id, "orig_cmd": cmd, "cam_id": c.camID}, body,
		&pending{cmd: "direct_upload_url", camID: c.camID, hasCam: true, body: rec})
}

// grantDone checks the agent's done for a direct_upload_url: OK for a
// usable main entry, MISSED_PARAM for a refused one (docs/protocol.md#direct-upload).
func (c *simConn) grantDone(p *pending, m map[string]any) {
	rec, ok := p.body.(*grantRec)
	if !ok {
		return
	}
	st, _ := m["status"].(string)
	s := c.s
	s.mu.Lock()
	rec.Done = st
	s.notifyLocked()
	s.mu.Unlock()
	want := "MISSED_PARAM"
	if rec.mainOK {
		want = "OK"
	}
	if st != want {
		s.violation("done for direct_upload_url (refid %d, %s): status %q, want %s", rec.RefID, rec.Status, st, want)
	}
}

// grantsUnanswered records a violation for each direct_upload_url the agent
// left without done for a few seconds before the connection ended.
func (c *simConn) grantsUnanswered() {
	var late []int64
	c.mu.Lock()
	for _, p := range c.pending {
		if rec, ok := p.body.(*grantRec); ok && time.Since(rec.sent) > 3*time.Second {
			late = append(late, rec.RefID)
		}
	}
	c.mu.Unlock()
	for _, id := range late {
		c.s.violation("direct_upload_url for msgid %d never answered with done", id)
	}
}

// servePut is the strict PUT endpoint of granted URLs, refusing with the
// status an object store would give what a real cloud would refuse; each
// refusal is an agent violation.
func (s *Server) servePut(w http.ResponseWriter, r *http.Request) {
	reject := func(code int, format string, a ...any) {
		s.violation("direct upload: "+format, a...)
		http.Error(w, fmt.Sprintf(format, a...), code)
	}
	if r.Method != http.MethodPut {
		reject(http.StatusMethodNotAllowed, "method %s, want PUT", r.Method)
		return
	}
	s.mu.Lock()
	t := s.direct.targets[r.URL.Path]
	var used bool
	if t != nil {
		used = t.used
	}
	s.mu.Unlock()
	switch {
	case t == nil:
		reject(http.StatusNotFound, "%s was never granted", r.URL.Path)
		return
	case r.URL.Query().Get("X-Sig") != t.sig || len(r.URL.Query()) != 1:
		reject(http.StatusForbidden, "query of %s is not the one granted", r.URL.Path)
		return
	case used:
		reject(http.StatusConflict, "%s PUT again after it succeeded", r.URL.Path)
		return
	case !time.Now().Before(t.expire):
		reject(http.StatusForbidden, "%s PUT after its expire %s", r.URL.Path, t.expire.UTC().Format("20060102T150405.000"))
		return
	case r.ContentLength < 0:
		reject(http.StatusLengthRequired, "%s PUT without Content-Length", r.URL.Path)
		return
	case r.ContentLength != t.size:
		reject(http.StatusBadRequest, "%s Content-Length %d, granted %d", r.URL.Path, r.ContentLength, t.size)
		return
	}
	for k, v := range t.headers {
		if k == "Content-Length" {
			continue // checked as r.ContentLength: net/http may drop the header
		}
		if got := r.Header.Values(k); len(got) != 1 || got[0] != v {
			// A signed header that differs breaks the signature.
			reject(http.StatusForbidden, "%s header %s %q, granted %q", r.URL.Path, k, got, v)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, t.size+1))
	if err != nil || int64(len(body)) != t.size {
		reject(http.StatusBadRequest, "%s body of %d bytes, granted %d (%v)", r.URL.Path, len(body), t.size, err)
		return
	}
	if err := checkMagic(t.typ, body); err != nil {
		reject(http.StatusBadRequest, "%s %s body: %v", r.URL.Path, t.category, err)
		return
	}
	s.mu.Lock()
	if !s.waitHold(r, s.direct.hold, &s.direct.held) {
		s.mu.Unlock()
		return
	}
	fail := s.direct.fail
	if fail != 0 {
		s.direct.failed++
		s.notifyLocked()
	}
	if fail == 0 {
		t.used = true
		s.direct.puts = append(s.direct.puts, Put{Category: t.category, Path: r.URL.Path, StreamID: t.streamID,
			FileTime: t.fileTime, Duration: t.duration, Size: t.size, ContentType: t.contentType, Body: body,
			EventTime: t.eventTime, EventID: t.eventID, Received: time.Now()})
		s.notifyLocked()
	}
	s.mu.Unlock()
	if fail != 0 {
		http.Error(w, "upload refused (simulated)", fail)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// checkMagic checks the start of an upload against its media type: a JPEG
// starts with SOI and a marker, an MP4 with an ISO-BMFF ftyp box.
func checkMagic(typ string, b []byte) error {
	switch typ {
	case "jpg":
		if !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) {
			return fmt.Errorf("not a JPEG (starts % x)", b[:min(len(b), 4)])
		}
	case "mp4":
		if len(b) < 8 || string(b[4:8]) != "ftyp" {
			return fmt.Errorf("no ftyp box first")
		}
		if n := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3]); n < 16 || n > int64(len(b)) {
			return fmt.Errorf("ftyp box size %d", n)
		}
	}
	return nil
}
