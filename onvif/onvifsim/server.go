// Package onvifsim is an in-process ONVIF camera (device and media services)
// for tests and the demo. It speaks SOAP 1.2 over real HTTP and checks
// authentication as strictly as real cameras do: WS-UsernameToken digests
// must be correct, fresh against the device's own (possibly skewed) clock and
// never replayed, and HTTP digest can be demanded on top.
package onvifsim

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Paths the simulator serves.
const (
	DevicePath   = "/onvif/device_service"
	MediaPath    = "/onvif/media_service"
	SnapshotPath = "/onvif/snapshot.jpg"
)

// Namespaces the simulator checks requests against.
const (
	nsSOAP   = "http://www.w3.org/2003/05/soap-envelope"
	nsDevice = "http://www.onvif.org/ver10/device/wsdl"
	nsMedia  = "http://www.onvif.org/ver10/media/wsdl"
)

// createdWindow is how far a token's Created time may be from the device
// clock; real cameras allow a few seconds.
const createdWindow = 5 * time.Second

// digestRealm is the HTTP digest realm the simulator announces.
const digestRealm = "onvifsim"

// DeviceInfo is what GetDeviceInformation reports.
type DeviceInfo struct {
	Manufacturer    string
	Model           string
	FirmwareVersion string
	SerialNumber    string
	HardwareID      string
}

// Profile describes one media profile the simulated camera offers.
type Profile struct {
	Token       string
	Name        string
	Encoding    string // "H264" or "JPEG"
	Width       int
	Height      int
	FrameRate   int
	BitrateKbps int
	GOP         int
	H264Profile string
	// AudioEncoding is "G711", "AAC" or "" for a profile without audio.
	AudioEncoding string

	// Encoder settings (onvif-settings; see encoder.go). Quality defaults
	// to 4; RateControl "CBR" or "VBR" makes the camera report and accept
	// the ConstantBitRate attribute, "" leaves it out as most Media ver10
	// cameras do.
	Quality     float64
	RateControl string

	// BrokenStreamURI makes GetStreamUri fail for this profile, like
	// firmware whose secondary profiles are misconfigured.
	BrokenStreamURI bool
	// RTSPURL, when set, is this profile's stream URI instead of
	// Options.RTSPURL (a camera serves each profile on its own path).
	RTSPURL string
}

// Server is a running simulated ONVIF camera.
type Server struct {
	opts Options
	skew atomic.Int64 // device clock minus host clock, nanoseconds
	ln   net.Listener
	srv  *http.Server
	wg   sync.WaitGroup

	snapshotOnce sync.Once
	snapshot     []byte
	// snapshotFail makes the snapshot URI answer 503, as a camera whose
	// encoder is busy does.
	snapshotFail atomic.Bool

	mu           sync.Mutex
	requests     []string
	counts       map[string]int       // requests per SOAP action
	faults       map[string]int       // injected faults still due, per action
	seenNonces   map[string]time.Time // WS-Security nonces, by device time of use
	digestNonces map[string]bool

	ev eventsState // events, analytics, discovery and time (events.go)

	stoppedAt string // the address Stop closed, for Restart

	st settingsState // imaging, PTZ, encoders, audio, OSD (settings.go)
}

// New returns a Server; call Start to listen.
func New(opts Options) *Server {
	if opts.Profiles == nil {
		opts.Profiles = []Profile{
			{Token: "Profile_1", Name: "mainStream", Encoding: "H264", Width: 1920, Height: 1080,
				FrameRate: 25, BitrateKbps: 4096, GOP: 50, H264Profile: "Main", AudioEncoding: "G711"},
			{Token: "Profile_2", Name: "subStream", Encoding: "H264", Width: 640, Height: 360,
				FrameRate: 25, BitrateKbps: 512, GOP: 50, H264Profile: "Main"},
		}
	}
	d := &opts.DeviceInfo
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&d.Manufacturer, "Camagent")
	def(&d.Model, "SIM-1000")
	def(&d.FirmwareVersion, "1.0.0")
	def(&d.SerialNumber, "SIM0000001")
	def(&d.HardwareID, "SIMHW1")
	s := &Server{
		opts:         opts,
		seenNonces:   make(map[string]time.Time),
		digestNonces: make(map[string]bool),
		counts:       make(map[string]int),
		faults:       make(map[string]int),
	}
	s.skew.Store(int64(opts.ClockSkew))
	s.initSettings() // settings.go
	return s
}

// Start listens on Options.Addr, by default 127.0.0.1 on a free port (after
// Stop, on the address Stop closed), and serves in the background.
func (s *Server) Start() error {
	addr := cmp.Or(s.opts.Addr, "127.0.0.1:0")
	if s.stoppedAt != "" {
		addr = s.stoppedAt
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("onvifsim: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(DevicePath, s.handleSOAP)
	if !s.opts.Media2Only { // media2.go
		mux.HandleFunc(MediaPath, s.handleSOAP)
	} else {
		mux.HandleFunc(Media2Path, s.handleSOAP)
	}
	mux.HandleFunc(SnapshotPath, s.handleSnapshot)
	mux.HandleFunc(PTZPath, s.handleSOAP)     // settings.go
	mux.HandleFunc(ImagingPath, s.handleSOAP) // settings.go
	mux.HandleFunc(DeadPath, s.handleDead)    // quirks.go
	if err := s.startEvents(mux); err != nil {
		ln.Close()
		return err
	}
	s.ln = ln
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.srv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln) // returns ErrServerClosed after Close
	}()
	return nil
}

// URL returns the device service URL; valid after Start.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + DevicePath }

// Addr returns the host:port the simulator listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for it.
func (s *Server) Close() {
	if s.srv == nil {
		return
	}
	s.closeEvents()
	_ = s.srv.Close()
	s.wg.Wait()
	s.srv = nil
}

// Stop is the camera switched off: its port refuses, open connections
// are cut and its event subscriptions are forgotten. Restart brings it
// back on the same address.
func (s *Server) Stop() {
	s.stoppedAt = s.ln.Addr().String()
	s.Close()
	s.DropSubscriptions()
}

// Restart serves again on the address Stop closed, as the camera after its
// reboot; settings made before the Stop are kept.
func (s *Server) Restart() error {
	e := s.lockEvents()
	e.done = make(chan struct{})
	e.mu.Unlock()
	return s.Start()
}

// Requests returns the SOAP actions seen so far, in order, including rejected ones.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Count returns how many requests for a SOAP action (GetNode,
// ContinuousMove, …) arrived so far, including rejected ones.
func (s *Server) Count(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[action]
}

// FaultNext makes the next request for action fail with a SOAP fault
// (Sender, ter:InvalidArgVal/ter:NoEntity), as a camera does whose
// configuration changed under a client that cached it.
func (s *Server) FaultNext(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[action]++
}

// Now returns the device clock.
func (s *Server) Now() time.Time { return time.Now().Add(time.Duration(s.skew.Load())) }

// SetClockSkew moves the device clock, like an NTP sync or a reboot that
// loses the time.
func (s *Server) SetClockSkew(d time.Duration) { s.skew.Store(int64(d)) }

// advertisedBase is the scheme://host:port put in service addresses.
func (s *Server) advertisedBase() string {
	if s.opts.AdvertiseAddr != "" {
		return "http://" + s.opts.AdvertiseAddr
	}
	return "http://" + s.ln.Addr().String()
}

// request is a SOAP request, decoded by local names.
type request struct {
	XMLName xml.Name
	Header  struct {
		Token *struct {
			Username string `xml:"Username"`
			Password struct {
				Type  string `xml:"Type,attr"`
				Value string `xml:",chardata"`
			} `xml:"Password"`
			Nonce struct {
				EncodingType string `xml:"EncodingType,attr"`
				Value        string `xml:",chardata"`
			} `xml:"Nonce"`
			Created string `xml:"Created"`
		} `xml:"Security>UsernameToken"`
	} `xml:"Header"`
	Body struct {
		Action action `xml:",any"`
	} `xml:"Body"`
}

// action is the body element: its name plus every argument we answer to.
type action struct {
	XMLName            xml.Name
	ProfileToken       *string `xml:"ProfileToken"`
	ConfigurationToken *string `xml:"ConfigurationToken"`
	Stream             string  `xml:"StreamSetup>Stream"`
	Protocol           string  `xml:"StreamSetup>Transport>Protocol"`
}

func (s *Server) handleSOAP(w http.ResponseWriter, r *http.Request) {
	if !s.checkDigest(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var req request
	if err := xml.Unmarshal(data, &req); err != nil || req.XMLName.Local != "Envelope" {
		writeFault(w, http.StatusBadRequest, "Sender", []string{"ter:WellFormed"}, "Malformed SOAP envelope")
		return
	}
	if req.XMLName.Space != nsSOAP {
		writeFault(w, http.StatusInternalServerError, "VersionMismatch", nil, "SOAP 1.2 envelope required")
		return
	}
	act := req.Body.Action
	s.mu.Lock()
	s.requests = append(s.requests, act.XMLName.Local)
	s.counts[act.XMLName.Local]++
	injected := s.faults[act.XMLName.Local] > 0
	if injected {
		s.faults[act.XMLName.Local]--
	}
	s.mu.Unlock()
	s.recordLast(act.XMLName.Local, data) // settings.go
	if s.refuseAuthQuirk(w, &req, data) { // quirks.go
		return
	}
	// Element order is checked as strictly as generated SOAP stacks do (order.go).
	if reason := checkOrder(data); reason != "" {
		writeFault(w, http.StatusBadRequest, "Sender", nil, reason)
		return
	}

	if act.XMLName.Local != "GetSystemDateAndTime" {
		if reason := s.checkToken(&req); reason != "" {
			s.writeNotAuthorized(w, reason) // quirks.go
			return
		}
	}
	for _, u := range s.opts.Unsupported {
		if u == act.XMLName.Local && s.opts.BareHTTPErrors {
			w.Header().Set("Content-Type", "text/html")
			http.Error(w, "<html><body>500 Internal Server Error</body></html>", http.StatusInternalServerError)
			return
		}
		if u == act.XMLName.Local {
			writeActionNotSupported(w)
			return
		}
	}
	if injected {
		writeFault(w, http.StatusBadRequest, "Sender", []string{"ter:InvalidArgVal", "ter:NoEntity"}, "injected fault")
		return
	}
	if s.encoderOptionsFault(w, act.XMLName.Local) { // encoder.go
		return
	}
	var handler func(action) (string, *fault)
	switch {
	case r.URL.Path == DevicePath && act.XMLName.Space == nsDevice:
		handler = s.deviceHandlers()[act.XMLName.Local]
	case r.URL.Path == MediaPath && act.XMLName.Space == nsMedia:
		handler = s.mediaHandlers()[act.XMLName.Local]
	}
	if handler == nil {
		handler = s.eventsHandler(r, act.XMLName, data) // events, analytics, time (events.go)
	}
	if handler == nil {
		handler = s.settingsHandler(r.URL.Path, act.XMLName, data) // imaging, PTZ, encoders, audio, OSD (settings.go)
	}
	if handler == nil {
		handler = s.media2Handler(r.URL.Path, act.XMLName, data) // media2.go
	}
	if handler == nil {
		writeActionNotSupported(w)
		return
	}
	body, f := handler(act)
	if f != nil {
		writeFault(w, http.StatusBadRequest, "Sender", f.subcodes, f.reason)
		return
	}
	writeEnvelope(w, http.StatusOK, body)
}

// checkToken verifies the WS-UsernameToken and returns why it is refused, or "".
func (s *Server) checkToken(req *request) string {
	if s.opts.Username == "" || s.opts.NoWSSecurity {
		return ""
	}
	t := req.Header.Token
	if t == nil {
		return "no UsernameToken"
	}
	if t.Username != s.opts.Username {
		return "unknown user"
	}
	if !strings.HasSuffix(t.Password.Type, "#PasswordDigest") {
		return "password type is not PasswordDigest"
	}
	if et := t.Nonce.EncodingType; et != "" && !strings.HasSuffix(et, "#Base64Binary") {
		return "nonce encoding not Base64Binary"
	}
	nonce, err := base64.StdEncoding.DecodeString(strings.TrimSpace(t.Nonce.Value))
	if err != nil || len(nonce) == 0 {
		return "bad nonce"
	}
	created, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(t.Created))
	if err != nil {
		return "bad Created"
	}
	now := s.Now()
	if d := created.Sub(now); d > createdWindow || d < -createdWindow {
		return "Created outside the device clock window"
	}
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(strings.TrimSpace(t.Created)))
	h.Write([]byte(s.opts.Password))
	if strings.TrimSpace(t.Password.Value) != base64.StdEncoding.EncodeToString(h.Sum(nil)) {
		return "wrong digest"
	}
	key := string(nonce)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.seenNonces[key]; seen {
		return "nonce reused"
	}
	// A nonce older than the window can never come back valid, so forget it.
	for k, at := range s.seenNonces {
		if now.Sub(at) > 2*createdWindow {
			delete(s.seenNonces, k)
		}
	}
	s.seenNonces[key] = now
	return ""
}

// checkDigest enforces HTTP digest (RFC 7616, MD5, qop=auth) when
// RequireDigest is set; it answers 401 itself and returns false on failure.
func (s *Server) checkDigest(w http.ResponseWriter, r *http.Request) bool {
	if !s.opts.RequireDigest && !(s.opts.NoWSSecurity && s.opts.Username != "") {
		return true
	}
	stale := false
	if p, ok := parseDigestAuthorization(r.Header.Get("Authorization")); ok {
		s.mu.Lock()
		known := s.digestNonces[p["nonce"]]
		s.mu.Unlock()
		if !known {
			stale = true
		} else if p["username"] == s.opts.Username && p["realm"] == digestRealm &&
			p["uri"] == r.URL.RequestURI() && p["qop"] == "auth" && p["nc"] != "" && p["cnonce"] != "" {
			ha1 := md5hex(s.opts.Username + ":" + digestRealm + ":" + s.opts.Password)
			ha2 := md5hex(r.Method + ":" + p["uri"])
			want := md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
			if p["response"] == want {
				return true
			}
		}
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	n := hex.EncodeToString(nonce)
	s.mu.Lock()
	if len(s.digestNonces) > 1000 {
		clear(s.digestNonces)
	}
	s.digestNonces[n] = true
	s.mu.Unlock()
	ch := fmt.Sprintf(`Digest realm="%s", qop="auth", nonce="%s", opaque="c0ffee", algorithm=MD5`, digestRealm, n)
	if stale {
		ch += ", stale=TRUE"
	}
	w.Header().Set("WWW-Authenticate", ch)
	http.Error(w, "unauthorized", http.StatusUnauthorized)
	return false
}

// parseDigestAuthorization parses `Digest k=v, k="v"`; enough for our own client
// and curl, not a general parser.
func parseDigestAuthorization(h string) (map[string]string, bool) {
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Digest") {
		return nil, false
	}
	p := make(map[string]string)
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(rest, " ,") {
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, false
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				return nil, false
			}
			p[k], rest = v[1:1+end], v[end+2:]
		} else {
			val, after, _ := strings.Cut(v, ",")
			p[k], rest = strings.TrimSpace(val), after
		}
	}
	return p, true
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// FailSnapshots makes the snapshot URI answer 503 Service Unavailable
// (on) or serve its picture again (off).
func (s *Server) FailSnapshots(on bool) { s.snapshotFail.Store(on) }

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if !s.checkDigest(w, r) {
		return
	}
	if s.snapshotFail.Load() {
		http.Error(w, "snapshot unavailable", http.StatusServiceUnavailable)
		return
	}
	s.snapshotOnce.Do(func() {
		if s.opts.SnapshotPNG {
			s.snapshot = makePNG()
		} else {
			s.snapshot = makeJPEG()
		}
	})
	if s.opts.SnapshotPNG {
		w.Header().Set("Content-Type", "image/png")
	} else {
		w.Header().Set("Content-Type", "image/jpeg")
	}
	_, _ = w.Write(s.snapshot)
}

// fault is a handler's refusal.
type fault struct {
	subcodes []string
	reason   string
}

func writeActionNotSupported(w http.ResponseWriter) {
	writeFault(w, http.StatusInternalServerError, "Receiver",
		[]string{"ter:ActionNotSupported"}, "Optional Action Not Implemented")
}

func writeFault(w http.ResponseWriter, status int, code string, subcodes []string, reason string) {
	var b strings.Builder
	b.WriteString(`<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:` + code + `</SOAP-ENV:Value>`)
	for _, sc := range subcodes {
		b.WriteString(`<SOAP-ENV:Subcode><SOAP-ENV:Value>` + sc + `</SOAP-ENV:Value>`)
	}
	for range subcodes {
		b.WriteString(`</SOAP-ENV:Subcode>`)
	}
	b.WriteString(`</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">` + esc(reason) +
		`</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>`)
	writeEnvelope(w, status, b.String())
}

func writeEnvelope(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<SOAP-ENV:Envelope xmlns:SOAP-ENV="`+nsSOAP+`" xmlns:tds="`+nsDevice+`" xmlns:trt="`+nsMedia+
		`" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error">`+
		`<SOAP-ENV:Body>`+body+`</SOAP-ENV:Body></SOAP-ENV:Envelope>`)
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
