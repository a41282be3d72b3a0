package cloudsim

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testJPEG = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 0xFF, 0xD9}
	testMP4  = []byte{0, 0, 0, 16, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 0, 0, 0, 8, 'm', 'd', 'a', 't'}
)

// askUpload sends get_direct_upload_url from the raw agent and returns the
// direct_upload_url, acknowledged with done status.
func askUpload(t *testing.T, a *rawAgent, msgid *int, req map[string]any, status string) map[string]any {
	t.Helper()
	m := map[string]any{"cmd": "get_direct_upload_url", "msgid": *msgid, "cam_id": 310042}
	for k, v := range req {
		m[k] = v
	}
	id := *msgid
	a.send(m)
	*msgid++
	g := a.recv()
	if g["cmd"] != "direct_upload_url" || g["refid"] != float64(id) || g["orig_cmd"] != "get_direct_upload_url" || g["cam_id"] != float64(310042) {
		t.Fatalf("answer %v", g)
	}
	a.send(map[string]any{"cmd": "done", "msgid": *msgid, "refid": g["msgid"], "orig_cmd": "direct_upload_url", "cam_id": 310042, "status": status})
	*msgid++
	return g
}

func ctxTest(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recordReq(size int) map[string]any {
	return map[string]any{"category": "record", "type": "mp4", "stream_id": "Main", "file_time": "20240314T092643.512", "duration": 15000, "size": size}
}

// put PUTs body to a granted URL with the granted headers, changed by mod.
func put(t *testing.T, g map[string]any, body []byte, mod func(*http.Request)) int {
	t.Helper()
	u, _ := g["url"].(string)
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hs, _ := g["headers"].(map[string]any)
	for k, v := range hs {
		if k != "Content-Length" {
			req.Header.Set(k, v.(string))
		}
	}
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDirectUploadStrict: the grant carries what docs/protocol.md#direct-upload
// says, and the PUT endpoint refuses, as a violation and with an object
// store's status, everything an agent must not do.
func TestDirectUploadStrict(t *testing.T) {
	s := newTestServer(t, Options{Uploads: true})
	a, msgid := readyAgent(t, s)

	g := askUpload(t, a, &msgid, recordReq(len(testMP4)), "OK")
	hs, _ := g["headers"].(map[string]any)
	exp, _ := g["expire"].(string)
	et, err := time.Parse("20060102T150405.000", exp)
	if g["status"] != "OK" || g["category"] != "record" || !strings.HasPrefix(g["url"].(string), s.UploadURI()+directPrefix) ||
		hs["Content-Type"] != "video/mp4" || hs["Content-Length"] != strconv.Itoa(len(testMP4)) || !packedTime.MatchString(exp) || err != nil || time.Until(et) < 9*time.Minute {
		t.Fatalf("grant %v", g)
	}

	for _, c := range []struct {
		name   string
		body   []byte
		mod    func(*http.Request)
		status int
		what   string
	}{
		{"POST", testMP4, func(r *http.Request) { r.Method = http.MethodPost }, 405, "method POST"},
		{"content type changed", testMP4, func(r *http.Request) { r.Header.Set("Content-Type", "application/octet-stream") }, 403, "header Content-Type"},
		{"content type missing", testMP4, func(r *http.Request) { r.Header.Del("Content-Type") }, 403, "header Content-Type"},
		{"signature changed", testMP4, func(r *http.Request) { r.URL.RawQuery = "X-Sig=0" }, 403, "query"},
		{"unknown path", testMP4, func(r *http.Request) { r.URL.Path += "x" }, 404, "never granted"},
		{"shorter than granted", testMP4[:len(testMP4)-1], nil, 400, "Content-Length"},
		{"chunked", testMP4, func(r *http.Request) { r.ContentLength = -1 }, 411, "without Content-Length"},
		{"not an mp4", append([]byte{0, 0, 0, 16, 'm', 'o', 'o', 'v'}, testMP4[8:]...), nil, 400, "ftyp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(s.Violations())
			if st := put(t, g, c.body, c.mod); st != c.status {
				t.Errorf("status %d, want %d", st, c.status)
			}
			v := s.Violations()
			if len(v) != n+1 || !strings.Contains(v[n], c.what) {
				t.Errorf("violations %q, want one about %q", v[n:], c.what)
			}
		})
	}
	if len(s.Puts()) != 0 {
		t.Fatalf("refused PUTs recorded: %+v", s.Puts())
	}

	if st := put(t, g, testMP4, nil); st != 200 {
		t.Fatalf("good PUT answered %d (%q)", st, s.Violations())
	}
	ru := s.RecordUploads("Main")
	if len(ru) != 1 || ru[0].Duration != 15*time.Second || ru[0].Size != int64(len(testMP4)) || !bytes.Equal(ru[0].Body, testMP4) ||
		!ru[0].FileTime.Equal(time.Date(2024, 3, 14, 9, 26, 43, 512e6, time.UTC)) || len(s.RecordUploads("Sub")) != 0 {
		t.Errorf("record uploads %+v", ru)
	}
	p := s.Puts()
	if len(p) != 1 || p[0].Category != "record" || p[0].StreamID != "Main" || p[0].Duration != 15000 || !bytes.Equal(p[0].Body, testMP4) ||
		!p[0].FileTime.Equal(time.Date(2024, 3, 14, 9, 26, 43, 512e6, time.UTC)) {
		t.Errorf("puts %+v", p)
	}
	n := len(s.Violations())
	if st := put(t, g, testMP4, nil); st != 409 || len(s.Violations()) != n+1 {
		t.Errorf("second PUT: %d, violations %q", st, s.Violations()[n:])
	}

	// A snapshot that is not a JPEG; then a URL used after its expire.
	snap := askUpload(t, a, &msgid, map[string]any{"category": "snapshot", "type": "jpg", "file_time": "20240314T093500.000", "size": len(testJPEG), "width": 1280, "height": 720}, "OK")
	n = len(s.Violations())
	if st := put(t, snap, append([]byte{0x89, 'P', 'N'}, testJPEG[3:]...), nil); st != 400 || len(s.Violations()) != n+1 {
		t.Errorf("PNG as snapshot: %d, violations %q", st, s.Violations()[n:])
	}
	s.ExpireGrants(-time.Second)
	late := askUpload(t, a, &msgid, recordReq(len(testMP4)), "OK")
	n = len(s.Violations())
	if st := put(t, late, testMP4, nil); st != 403 || len(s.Violations()) != n+1 || !strings.Contains(s.Violations()[n], "expire") {
		t.Errorf("PUT after expire: %d, violations %q", st, s.Violations()[n:])
	}
}

// TestDirectUploadRequestChecks: a get_direct_upload_url that breaks the
// field rules is a violation and gets report_problem; a done that does not
// fit the grant is a violation too.
func TestDirectUploadRequestChecks(t *testing.T) {
	s := newTestServer(t, Options{Uploads: true})
	a, msgid := readyAgent(t, s)
	for _, c := range []struct {
		name string
		mod  func(map[string]any)
	}{
		{"no duration", func(m map[string]any) { delete(m, "duration") }},
		{"no stream", func(m map[string]any) { delete(m, "stream_id") }},
		{"record as jpg", func(m map[string]any) { m["type"] = "jpg" }},
		{"two fractional digits", func(m map[string]any) { m["file_time"] = "20240314T092643.51" }},
		{"size zero", func(m map[string]any) { m["size"] = 0 }},
		{"record longer than 10 minutes", func(m map[string]any) { m["duration"] = 600001 }},
		{"record in the future", func(m map[string]any) {
			m["file_time"] = time.Now().Add(time.Minute).UTC().Format("20060102T150405.000")
		}},
		{"snapshot without width", func(m map[string]any) { m["category"], m["type"] = "snapshot", "jpg" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := recordReq(10)
			req["cmd"], req["msgid"], req["cam_id"] = "get_direct_upload_url", msgid, 310042
			c.mod(req)
			n := len(s.Violations())
			a.send(req)
			rp := a.recv()
			if rp["cmd"] != "report_problem" || rp["refid"] != float64(msgid) || rp["orig_cmd"] != "get_direct_upload_url" || rp["reason"] == "" {
				t.Errorf("answer %v, want report_problem", rp)
			}
			msgid++
			if v := s.Violations(); len(v) != n+1 {
				t.Errorf("violations %q", v[n:])
			}
		})
	}

	s.RefuseUploads("record")
	n := len(s.Violations())
	g := askUpload(t, a, &msgid, recordReq(10), "OK")
	if g["status"] != "ERROR" || g["url"] != nil {
		t.Errorf("refused grant %v", g)
	}
	if err := s.Wait(ctxTest(t), func() bool { return len(s.Violations()) > n }); err != nil {
		t.Fatal("done OK to a refused grant was no violation")
	}
	gs := s.Grants()
	if len(gs) != 1 || gs[0].Done != "OK" || gs[0].Status != "ERROR" || gs[0].Categories[0] != "record" {
		t.Errorf("grants %+v", gs)
	}
}
