package uplink_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink"
	"github.com/camagent/camagent/uplink/cloudsim"
	"go.uber.org/zap/zaptest"
)

// v148Link is the link of the docs/protocol.md#cam-update-preview vector v148 (hello v004 + cam_hello).
var v148Link = uplink.Link{CamID: 310042, SID: "Jv3kPq8ZtX", Path: "live/u7731m310077c310042_", UploadURI: "https://upload.vms.example.net"}

var v148Start = time.Date(2024, 3, 14, 9, 28, 0, 0, time.UTC)

var legacyURLCases = []struct {
	name      string
	base      string // Link.UploadURI
	path, sid string
	cat, typ  string
	ms        int64 // start, Unix milliseconds
	want      string
	err       string // substring; "" = success
}{
	{name: "vector v148 preview", base: v148Link.UploadURI, path: v148Link.Path, sid: v148Link.SID, cat: "preview", typ: "jpg", ms: v148Start.UnixMilli(),
		want: "https://upload.vms.example.net/live/u7731m310077c310042_?sid=Jv3kPq8ZtX&cat=preview&type=jpg&start=20240314T092800.000"},
	{name: "vector v182 log", base: v148Link.UploadURI, path: v148Link.Path, sid: v148Link.SID, cat: "log", typ: "txt", ms: 1710408413512,
		want: "https://upload.vms.example.net/live/u7731m310077c310042_?sid=Jv3kPq8ZtX&cat=log&type=txt&start=20240314T092653.512"},
	{name: "older server upload_url got http", base: "http://54.173.34.172:8080", path: "live/c1_", sid: "Zx81LmQa0p", cat: "log", typ: "txt", ms: 0,
		want: "http://54.173.34.172:8080/live/c1_?sid=Zx81LmQa0p&cat=log&type=txt&start=19700101T000000.000"},
	{name: "trailing slash base, leading slash path", base: "https://up.example.net/", path: "/live/c1_", sid: "s", cat: "preview", typ: "jpg", ms: 0,
		want: "https://up.example.net/live/c1_?sid=s&cat=preview&type=jpg&start=19700101T000000.000"},
	{name: "base with a path prefix", base: "https://up.example.net:8443/api", path: "live/c1_", sid: "s", cat: "preview", typ: "jpg", ms: 0,
		want: "https://up.example.net:8443/api/live/c1_?sid=s&cat=preview&type=jpg&start=19700101T000000.000"},
	{name: "sid escaped", base: "http://up", path: "p", sid: "a&b=c d", cat: "log", typ: "txt", ms: 0,
		want: "http://up/p?sid=a%26b%3Dc+d&cat=log&type=txt&start=19700101T000000.000"},
	{name: "no upload uri", base: "", path: "p", sid: "s", cat: "log", typ: "txt", err: "no upload uri"},
	{name: "scheme missing", base: "up.example.net:8080", path: "p", sid: "s", cat: "log", typ: "txt", err: "bad upload uri"},
	{name: "ftp scheme", base: "ftp://up.example.net", path: "p", sid: "s", cat: "log", typ: "txt", err: "bad upload uri"},
	{name: "base with query", base: "https://up.example.net/?x=1", path: "p", sid: "s", cat: "log", typ: "txt", err: "bad upload uri"},
	{name: "no path", base: "https://up.example.net", path: "", sid: "s", cat: "log", typ: "txt", err: "no path"},
	{name: "obsolete snapshot", base: "https://up", path: "p", sid: "s", cat: "snapshot", typ: "jpg", err: "unsupported"},
	{name: "preview as text", base: "https://up", path: "p", sid: "s", cat: "preview", typ: "txt", err: "unsupported"},
}

func TestLegacyUploadURL(t *testing.T) {
	for _, c := range legacyURLCases {
		t.Run(c.name, func(t *testing.T) {
			l := uplink.Link{UploadURI: c.base, Path: c.path, SID: c.sid}
			got, err := l.LegacyUploadURL(c.cat, c.typ, time.UnixMilli(c.ms))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %q, %v; want error with %q", got, err, c.err)
				}
				if c.base == "" && !errors.Is(err, uplink.ErrNoUploadURI) {
					t.Errorf("error %v is not ErrNoUploadURI", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, c.want)
			}
		})
	}
}

// FuzzLegacyUploadURL checks that whatever the cloud sends as upload base,
// path and sid, a URL that is built reads back as the same values.
func FuzzLegacyUploadURL(f *testing.F) {
	for _, c := range legacyURLCases {
		f.Add(c.base, c.path, c.sid, c.ms)
	}
	f.Fuzz(func(t *testing.T, base, path, sid string, ms int64) {
		if ms < 0 || ms > 253402300799999 { // packed-time has four year digits
			return
		}
		start := time.UnixMilli(ms)
		l := uplink.Link{UploadURI: base, Path: path, SID: sid}
		got, err := l.LegacyUploadURL("log", "txt", start)
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("built %q, which does not parse: %v", got, err)
		}
		q := u.Query()
		if q.Get("sid") != sid || q.Get("cat") != "log" || q.Get("type") != "txt" || len(q) != 4 {
			t.Fatalf("query of %q reads back as %v", got, q)
		}
		if st, err := uplink.ParsePackedTime(q.Get("start")); err != nil || !st.Equal(start) {
			t.Fatalf("start %q reads back as %v, %v; want %v", q.Get("start"), st, err, start)
		}
		if want := "/" + strings.TrimLeft(path, "/"); !strings.HasSuffix(u.Path, want) {
			t.Fatalf("path of %q reads back as %q, want suffix %q", got, u.Path, want)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("scheme %q", u.Scheme)
		}
	})
}

// uploadSim is a simulated cloud serving the legacy upload endpoint; like
// newSim, but the test itself checks the violations it provokes.
func uploadSim(t *testing.T, opts cloudsim.Options) *cloudsim.Server {
	t.Helper()
	opts.Uploads = true
	opts.Logger = zaptest.NewLogger(t).Named("cloudsim")
	sim, err := cloudsim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

var jpeg = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 0xFF, 0xD9}

// TestPostLegacy uploads a preview and a log over TLS to the simulated
// cloud's endpoint, with the link the session built from hello and
// cam_hello, and sees a refused upload come back as its HTTP status.
func TestPostLegacy(t *testing.T) {
	sim := uploadSim(t, cloudsim.Options{TLS: true})
	a := startAgent(t, sim, nil)
	link := a.readyOn(t, sim)
	if link.UploadURI != sim.UploadURI() || !strings.HasPrefix(link.UploadURI, "https://") {
		t.Fatalf("link upload uri %q, want the sim's %q", link.UploadURI, sim.UploadURI())
	}
	client := uplink.NewUploadClient(sim.CertPool(), 5*time.Second)
	start := time.Date(2026, 11, 27, 6, 0, 1, 234_567_000, time.UTC)

	if err := uplink.PostLegacy(ctxT(t), client, link, uplink.LegacyPreview, uplink.LegacyJPEG, start, bytes.NewReader(jpeg)); err != nil {
		t.Fatalf("preview: %v", err)
	}
	up, err := sim.WaitUpload(ctxT(t), "preview")
	if err != nil {
		t.Fatal(err)
	}
	if up.Type != "jpg" || up.Path != link.Path || up.SID != link.SID || up.ContentType != "image/jpeg" ||
		!up.Start.Equal(start.Truncate(time.Millisecond)) || !bytes.Equal(up.Body, jpeg) {
		t.Errorf("preview arrived as %+v", up)
	}

	logText := "line one\nline two\n"
	if err := uplink.PostLegacy(ctxT(t), client, link, uplink.LegacyLog, uplink.LegacyText, start, strings.NewReader(logText)); err != nil {
		t.Fatalf("log: %v", err)
	}
	up, err = sim.WaitUpload(ctxT(t), "log")
	if err != nil {
		t.Fatal(err)
	}
	if up.Type != "txt" || !strings.HasPrefix(up.ContentType, "text/plain") || string(up.Body) != logText {
		t.Errorf("log arrived as %+v", up)
	}

	sim.FailUploads(http.StatusServiceUnavailable)
	err = uplink.PostLegacy(ctxT(t), client, link, uplink.LegacyLog, uplink.LegacyText, start, strings.NewReader(logText))
	var se *uplink.UploadStatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || se.Cat != "log" || !strings.Contains(err.Error(), "503") {
		t.Errorf("refused upload returned %v, want an UploadStatusError with 503", err)
	}
	sim.FailUploads(0)

	// An unknown server certificate is refused, as on the camera channel.
	err = uplink.PostLegacy(ctxT(t), uplink.NewUploadClient(nil, 5*time.Second), link, uplink.LegacyLog, uplink.LegacyText, start, strings.NewReader(logText))
	if err == nil || errors.As(err, &se) {
		t.Errorf("upload to an untrusted server: %v", err)
	}
	if strings.Contains(err.Error(), link.SID) {
		t.Errorf("error %q shows the session id", err)
	}

	// A stale sid is what a real cloud refuses: the status comes back typed.
	stale := link
	stale.SID = "not-the-sid"
	err = uplink.PostLegacy(ctxT(t), client, stale, uplink.LegacyLog, uplink.LegacyText, start, strings.NewReader(logText))
	if !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Errorf("upload with a stale sid returned %v, want 403", err)
	}
	if v := sim.Violations(); len(v) != 1 || !strings.Contains(v[0], "sid") {
		t.Errorf("violations %q, want exactly the stale sid", v)
	}
	if n := len(sim.Uploads()); n != 2 {
		t.Errorf("%d uploads recorded, want 2", n)
	}
}

// TestPostLegacyOlderServer follows hello.upload_url (no scheme, docs/protocol.md#q21).
func TestPostLegacyOlderServer(t *testing.T) {
	sim := uploadSim(t, cloudsim.Options{UploadNoScheme: true})
	a := startAgent(t, sim, nil)
	link := a.readyOn(t, sim)
	if link.UploadURI != "http://"+sim.Addr() {
		t.Fatalf("link upload uri %q from upload_url %s", link.UploadURI, sim.Addr())
	}
	if err := uplink.PostLegacy(ctxT(t), uplink.NewUploadClient(nil, 5*time.Second), link, uplink.LegacyPreview, uplink.LegacyJPEG, time.Now(), bytes.NewReader(jpeg)); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.WaitUpload(ctxT(t), "preview"); err != nil {
		t.Fatal(err)
	}
	if v := sim.Violations(); len(v) > 0 {
		t.Errorf("violations %q", v)
	}
}

// TestCloudsimRejectsBadUploads sends the endpoint what a real cloud
// refuses; each is answered 4xx, recorded as a violation, never stored.
func TestCloudsimRejectsBadUploads(t *testing.T) {
	sim := uploadSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	link := a.readyOn(t, sim)
	good, err := link.LegacyUploadURL("preview", "jpg", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	with := func(k, v string) string {
		u, _ := url.Parse(good)
		q := u.Query()
		q.Set(k, v)
		u.RawQuery = q.Encode()
		return u.String()
	}
	base := strings.TrimSuffix(good[:strings.Index(good, "?")], link.Path)
	cases := []struct {
		name, method, url, ctype string
		body                     []byte
		code                     int
	}{
		{"wrong sid", "POST", with("sid", "nope"), "image/jpeg", jpeg, 403},
		{"missing sid", "POST", strings.Replace(good, "sid="+url.QueryEscape(link.SID)+"&", "", 1), "image/jpeg", jpeg, 403},
		{"unknown path", "POST", base + "live/other_?" + strings.SplitN(good, "?", 2)[1], "image/jpeg", jpeg, 404},
		{"unknown cat", "POST", with("cat", "thumbnail"), "image/jpeg", jpeg, 400},
		{"cat type mismatch", "POST", with("type", "png"), "image/jpeg", jpeg, 400},
		{"six fraction digits", "POST", with("start", "20240314T092800.000000"), "image/jpeg", jpeg, 400},
		{"no fraction", "POST", with("start", "20240314T092800"), "image/jpeg", jpeg, 400},
		{"not a date", "POST", with("start", "20241314T092800.000"), "image/jpeg", jpeg, 400},
		{"sid twice", "POST", good + "&sid=" + url.QueryEscape(link.SID), "image/jpeg", jpeg, 400},
		{"length on preview", "POST", good + "&length=1000", "image/jpeg", jpeg, 400},
		{"GET", "GET", good, "", nil, 405},
		{"PUT", "PUT", good, "image/jpeg", jpeg, 405},
		{"multipart", "POST", good, "multipart/form-data; boundary=x", []byte("--x\r\n\r\n--x--\r\n"), 415},
		{"form", "POST", good, "application/x-www-form-urlencoded", []byte("image=abc"), 415},
		{"preview not a JPEG", "POST", good, "image/jpeg", []byte("<html>"), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(sim.Violations())
			req, err := http.NewRequestWithContext(ctxT(t), c.method, c.url, bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Errorf("status %d, want %d", resp.StatusCode, c.code)
			}
			if v := sim.Violations(); len(v) != before+1 {
				t.Errorf("violations %q, want one more than %d", v, before)
			}
		})
	}
	if n := len(sim.Uploads()); n != 0 {
		t.Errorf("%d bad uploads were stored", n)
	}
	// The good request itself is accepted.
	req, _ := http.NewRequestWithContext(ctxT(t), "POST", good, bytes.NewReader(jpeg))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(sim.Uploads()) != 1 {
		t.Errorf("good upload: status %d, %d stored", resp.StatusCode, len(sim.Uploads()))
	}
}

// TestWaitUploadHandsOutEachOnce: two previews, two waits, two different uploads.
func TestWaitUploadHandsOutEachOnce(t *testing.T) {
	sim := uploadSim(t, cloudsim.Options{})
	a := startAgent(t, sim, nil)
	link := a.readyOn(t, sim)
	client := uplink.NewUploadClient(nil, 5*time.Second)
	t1, t2 := time.UnixMilli(1000), time.UnixMilli(2000)
	for _, at := range []time.Time{t1, t2} {
		if err := uplink.PostLegacy(ctxT(t), client, link, uplink.LegacyPreview, uplink.LegacyJPEG, at, bytes.NewReader(jpeg)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []time.Time{t1, t2} {
		up, err := sim.WaitUpload(ctxT(t), "preview")
		if err != nil || !up.Start.Equal(want) {
			t.Errorf("got %v, %v; want the upload of %v", up.Start, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if up, err := sim.WaitUpload(ctx, "preview"); err == nil {
		t.Errorf("a third wait returned %+v", up)
	}
}
