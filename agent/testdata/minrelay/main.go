// Command minrelay is the floor the end-to-end benchmark measures camagent
// against (MINRELAY=1, agent/bench_minrelay_test.go): the least a Go
// process can do to relay RTSP/TCP cameras (H.264 + AAC) to RTMP without
// transcoding. One goroutine per camera reads interleaved RTP through one
// 64 KiB bufio buffer, reassembles each H.264 access unit into a reused
// buffer, takes AAC access units where they lie, and writes RTMP chunks
// into a 64 KiB bufio.Writer flushed whenever the camera's socket has
// nothing more buffered (one write per wake-up, as camagent batches).
// No GOP cache, no reconnects, no UDP, no per-frame allocations; any error
// ends the process. Not part of the product: build it by path,
//
//	go build -o minrelay ./agent/testdata/minrelay
//	minrelay -in rtsp://user:pass@host/stream -out rtmp://host/live/name [-in … -out …]
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
)

type urls []string

func (u *urls) String() string     { return strings.Join(*u, " ") }
func (u *urls) Set(s string) error { *u = append(*u, s); return nil }

func main() {
	var ins, outs urls
	flag.Var(&ins, "in", "RTSP URL of a camera (repeat; pairs with -out in order)")
	flag.Var(&outs, "out", "RTMP URL to publish the camera to, rtmp://host/app/name")
	flag.Parse()
	if len(ins) == 0 || len(ins) != len(outs) {
		log.Fatal("want as many -in as -out, at least one")
	}
	errc := make(chan error)
	for i := range ins {
		go func() { errc <- fmt.Errorf("%s: %w", outs[i], relay(ins[i], outs[i])) }()
	}
	log.Fatal(<-errc)
}

// Interleaved channels of the two tracks (SETUP asks for these).
const (
	videoChannel = 0
	audioChannel = 2
)

// RTMP chunk streams and the message stream of the publish (the one
// gortmplib's client creates, little-endian in the chunk header).
const (
	audioCSID      = 5
	videoCSID      = 7
	rtmpChunkSize  = 65536 // what gortmplib's client announces
	typeAudio      = 8
	typeVideo      = 9
	aacFrameLength = 1024
)

var publishStreamID = [4]byte{1, 0, 0, 0}

// aacRaw is the FLV audio tag head of an AAC frame (AAC, 44 kHz, 16 bit,
// stereo: the fixed flags FLV wants for AAC whatever the stream is).
var aacRaw = []byte{0xaf, 1}

func relay(in, out string) error {
	cam, err := dialRTSP(in)
	if err != nil {
		return err
	}
	tracks, err := cam.describe()
	if err != nil {
		return err
	}
	pub, err := dialRTMP(out)
	if err != nil {
		return err
	}
	r := &relayer{cam: cam, out: bufio.NewWriterSize(pub, 64<<10), tracks: tracks}
	r.video = make([]byte, 5, 512<<10)
	if err := cam.setupPlay(tracks); err != nil {
		return err
	}
	return r.run()
}

// rtspConn is the RTSP side: the handshake with gortsplib's base types,
// then interleaved packets read in place from br.
type rtspConn struct {
	conn    net.Conn
	br      *bufio.Reader
	url     *base.URL // without credentials
	user    string
	pass    string
	sender  *auth.Sender
	cseq    int
	session string
}

func dialRTSP(in string) (*rtspConn, error) {
	u, err := base.ParseURL(in)
	if err != nil {
		return nil, err
	}
	c := &rtspConn{url: u.CloneWithoutCredentials()}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(host, "554")
	}
	if c.conn, err = net.Dial("tcp", host); err != nil {
		return nil, err
	}
	c.br = bufio.NewReaderSize(c.conn, 64<<10)
	return c, nil
}

// do sends one request and reads its response, answering a 401 once.
func (c *rtspConn) do(method base.Method, u *base.URL, h base.Header) (*base.Response, error) {
	for attempt := 0; ; attempt++ {
		if h == nil {
			h = base.Header{}
		}
		c.cseq++
		h["CSeq"] = base.HeaderValue{strconv.Itoa(c.cseq)}
		if c.session != "" {
			h["Session"] = base.HeaderValue{c.session}
		}
		req := &base.Request{Method: method, URL: u, Header: h}
		if c.sender != nil {
			c.sender.AddAuthorization(req)
		}
		b, err := req.Marshal()
		if err != nil {
			return nil, err
		}
		if _, err := c.conn.Write(b); err != nil {
			return nil, err
		}
		var res base.Response
		if err := res.Unmarshal(c.br); err != nil {
			return nil, err
		}
		if res.StatusCode == base.StatusUnauthorized && attempt == 0 && c.user != "" {
			c.sender = &auth.Sender{WWWAuth: res.Header["WWW-Authenticate"], User: c.user, Pass: c.pass}
			if err := c.sender.Initialize(); err != nil {
				return nil, err
			}
			continue
		}
		if res.StatusCode != base.StatusOK {
			return nil, fmt.Errorf("%s: %d %s", method, res.StatusCode, res.StatusMessage)
		}
		return &res, nil
	}
}

// tracks is what the relay needs from the SDP.
type tracks struct {
	videoURL, audioURL *base.URL
	sps, pps           []byte
	aacConfig          []byte // AudioSpecificConfig; nil without audio
	audioRate          int
}

func (c *rtspConn) describe() (*tracks, error) {
	res, err := c.do(base.Describe, c.url, base.Header{"Accept": base.HeaderValue{"application/sdp"}})
	if err != nil {
		return nil, err
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(res.Body); err != nil {
		return nil, err
	}
	var desc description.Session
	if err := desc.Unmarshal(&sd); err != nil {
		return nil, err
	}
	cb := c.url
	if v := res.Header["Content-Base"]; len(v) == 1 {
		if cb, err = base.ParseURL(v[0]); err != nil {
			return nil, err
		}
	}
	var t tracks
	var h264 *format.H264
	vm := desc.FindFormat(&h264)
	if vm == nil || len(h264.SPS) < 4 || len(h264.PPS) == 0 {
		return nil, errors.New("no H.264 track with sprop-parameter-sets")
	}
	t.sps, t.pps = h264.SPS, h264.PPS
	if t.videoURL, err = vm.URL(cb); err != nil {
		return nil, err
	}
	var aac *format.MPEG4Audio
	if am := desc.FindFormat(&aac); am != nil {
		if aac.SizeLength != 13 || aac.IndexLength != 3 {
			return nil, fmt.Errorf("AAC sizelength %d indexlength %d, want 13 and 3", aac.SizeLength, aac.IndexLength)
		}
		if t.aacConfig, err = aac.Config.Marshal(); err != nil {
			return nil, err
		}
		t.audioRate = aac.Config.SampleRate
		if t.audioURL, err = am.URL(cb); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

func (c *rtspConn) setupPlay(t *tracks) error {
	setup := func(u *base.URL, ch int) error {
		res, err := c.do(base.Setup, u, base.Header{"Transport": base.HeaderValue{
			fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", ch, ch+1)}})
		if err != nil {
			return err
		}
		if v := res.Header["Session"]; len(v) == 1 && c.session == "" {
			c.session, _, _ = strings.Cut(v[0], ";")
		}
		return nil
	}
	if err := setup(t.videoURL, videoChannel); err != nil {
		return err
	}
	if t.audioURL != nil {
		if err := setup(t.audioURL, audioChannel); err != nil {
			return err
		}
	}
	_, err := c.do(base.Play, c.url, base.Header{"Range": base.HeaderValue{"npt=0.000-"}})
	return err
}

// dialRTMP connects and publishes with gortmplib's client, then hands over
// the bare connection: everything after is written by hand.
func dialRTMP(out string) (net.Conn, error) {
	u, err := url.Parse(out)
	if err != nil {
		return nil, err
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("%s: want rtmp://host/app/name", out)
	}
	c := &gortmplib.Client{URL: &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/" + app, Fragment: name}, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	// The server's acknowledgements (a few bytes per 2.5 MB) are never
	// read: the socket's buffer holds them for far longer than a bench.
	return c.NetConn(), nil
}

// relayer is one camera's whole state, owned by its goroutine.
type relayer struct {
	cam    *rtspConn
	out    *bufio.Writer
	tracks *tracks

	started bool // the first key frame and the sequence headers went out

	// The access unit being reassembled: a 5-byte FLV video tag head, then
	// the NAL units 4-byte length-prefixed.
	video    []byte
	videoTS  uint32 // its RTP timestamp
	nalStart int    // where the FU-A NAL unit being reassembled starts, -1 for none
	key      bool   // it holds an IDR slice

	// Per track: the RTP timestamp of the first frame sent, the last RTMP
	// timestamp sent (ms).
	videoBase, audioBase uint32
	audioStarted         bool
	lastVideo, lastAudio uint32

	head        [16]byte
	keepaliveAt time.Time
}

func (r *relayer) run() error {
	br := r.cam.br
	r.nalStart = -1
	r.keepaliveAt = time.Now().Add(20 * time.Second)
	for {
		if br.Buffered() == 0 {
			// About to block on the camera: send what this wake-up brought.
			if err := r.out.Flush(); err != nil {
				return err
			}
			if err := r.keepalive(); err != nil {
				return err
			}
		}
		h, err := br.Peek(4)
		if err != nil {
			return err
		}
		if h[0] != '$' {
			// A response to the keep-alive.
			var res base.Response
			if err := res.Unmarshal(br); err != nil {
				return err
			}
			continue
		}
		ch, n := h[1], int(binary.BigEndian.Uint16(h[2:]))
		if _, err := br.Discard(4); err != nil {
			return err
		}
		// n < 64 KiB, the reader's size: the packet is read in place.
		pkt, err := br.Peek(n)
		if err != nil {
			return err
		}
		switch ch {
		case videoChannel:
			err = r.videoPacket(pkt)
		case audioChannel:
			err = r.audioPacket(pkt)
		}
		if err != nil {
			return err
		}
		if _, err := br.Discard(n); err != nil {
			return err
		}
	}
}

// keepalive sends GET_PARAMETER every 20 s: the camera (gortsplib) drops a
// playing TCP session after 60 s without a request. The answer is read in
// the packet loop.
func (r *relayer) keepalive() error {
	now := time.Now()
	if now.Before(r.keepaliveAt) {
		return nil
	}
	r.keepaliveAt = now.Add(20 * time.Second)
	c := r.cam
	c.cseq++
	req := &base.Request{Method: base.GetParameter, URL: c.url, Header: base.Header{
		"CSeq": base.HeaderValue{strconv.Itoa(c.cseq)}, "Session": base.HeaderValue{c.session}}}
	if c.sender != nil {
		c.sender.AddAuthorization(req)
	}
	b, err := req.Marshal()
	if err != nil {
		return err
	}
	_, err = c.conn.Write(b)
	return err
}

// rtpPayload returns an RTP packet's payload, timestamp and marker bit.
func rtpPayload(p []byte) (payload []byte, ts uint32, marker bool, ok bool) {
	if len(p) < 12 || p[0]>>6 != 2 {
		return nil, 0, false, false
	}
	n := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 {
		if len(p) < n+4 {
			return nil, 0, false, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(p[n+2:]))
	}
	end := len(p)
	if p[0]&0x20 != 0 && end > 0 {
		end -= int(p[end-1])
	}
	if n > end {
		return nil, 0, false, false
	}
	return p[n:end], binary.BigEndian.Uint32(p[4:]), p[1]&0x80 != 0, true
}

// videoPacket adds an RTP H.264 payload (RFC 6184: single NAL unit,
// STAP-A, FU-A) to the access unit, which goes out at the marker bit or
// when a packet of the next one arrives first.
func (r *relayer) videoPacket(pkt []byte) error {
	p, ts, marker, ok := rtpPayload(pkt)
	if !ok || len(p) == 0 {
		return nil
	}
	if len(r.video) > 5 && ts != r.videoTS {
		if err := r.videoFrame(); err != nil {
			return err
		}
	}
	r.videoTS = ts
	switch typ := p[0] & 0x1f; {
	case typ >= 1 && typ <= 23:
		r.nal(p)
	case typ == 24: // STAP-A
		for q := p[1:]; len(q) >= 2; {
			l := int(binary.BigEndian.Uint16(q))
			if 2+l > len(q) {
				break
			}
			r.nal(q[2 : 2+l])
			q = q[2+l:]
		}
	case typ == 28 && len(p) >= 2: // FU-A
		start, end := p[1]&0x80 != 0, p[1]&0x40 != 0
		if start {
			r.nalStart = len(r.video)
			r.video = append(r.video, 0, 0, 0, 0, p[0]&0xe0|p[1]&0x1f)
			if p[1]&0x1f == 5 {
				r.key = true
			}
		}
		if r.nalStart < 0 { // lost the start: drop the fragment
			break
		}
		r.video = append(r.video, p[2:]...)
		if end {
			binary.BigEndian.PutUint32(r.video[r.nalStart:], uint32(len(r.video)-r.nalStart-4))
			r.nalStart = -1
		}
	}
	if marker {
		return r.videoFrame()
	}
	return nil
}

func (r *relayer) nal(n []byte) {
	if len(n) == 0 {
		return
	}
	if n[0]&0x1f == 5 {
		r.key = true
	}
	r.video = binary.BigEndian.AppendUint32(r.video, uint32(len(n)))
	r.video = append(r.video, n...)
}

// videoFrame sends the access unit (from the first key frame on, the
// sequence headers before it) and starts the next.
func (r *relayer) videoFrame() error {
	defer func() { r.video, r.key, r.nalStart = r.video[:5], false, -1 }()
	if r.nalStart >= 0 { // an FU-A without its end: drop the access unit
		return nil
	}
	if !r.started {
		if !r.key {
			return nil
		}
		if err := r.sequenceHeaders(); err != nil {
			return err
		}
		r.started, r.videoBase = true, r.videoTS
	}
	ts := max(uint32(uint64(r.videoTS-r.videoBase)*1000/90000), r.lastVideo)
	r.lastVideo = ts
	ft := byte(0x27)
	if r.key {
		ft = 0x17
	}
	r.video[0], r.video[1], r.video[2], r.video[3], r.video[4] = ft, 1, 0, 0, 0 // AVC NALU, composition time 0
	return r.message(videoCSID, typeVideo, ts, r.video, nil)
}

func (r *relayer) sequenceHeaders() error {
	sps, pps := r.tracks.sps, r.tracks.pps
	avc := []byte{0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	avc = binary.BigEndian.AppendUint16(avc, uint16(len(sps)))
	avc = append(avc, sps...)
	avc = append(avc, 1)
	avc = binary.BigEndian.AppendUint16(avc, uint16(len(pps)))
	avc = append(avc, pps...)
	if err := r.message(videoCSID, typeVideo, 0, avc, nil); err != nil {
		return err
	}
	if r.tracks.aacConfig == nil {
		return nil
	}
	return r.message(audioCSID, typeAudio, 0, []byte{0xaf, 0}, r.tracks.aacConfig)
}

// audioPacket sends each AAC access unit of an RTP payload (RFC 3640,
// AAC-hbr: 13-bit sizes, 3-bit indices) once video has started.
func (r *relayer) audioPacket(pkt []byte) error {
	p, ts, _, ok := rtpPayload(pkt)
	if !ok || !r.started || len(p) < 2 {
		return nil
	}
	hb := (int(binary.BigEndian.Uint16(p)) + 7) / 8
	if len(p) < 2+hb {
		return nil
	}
	heads, data := p[2:2+hb], p[2+hb:]
	if !r.audioStarted {
		r.audioStarted, r.audioBase = true, ts
	}
	for i := 0; i+1 < len(heads); i += 2 {
		size := int(binary.BigEndian.Uint16(heads[i:]) >> 3)
		if size > len(data) { // fragmented access unit: not sent
			return nil
		}
		at := ts + uint32(i/2*aacFrameLength)
		ms := max(uint32(uint64(at-r.audioBase)*1000/uint64(r.tracks.audioRate)), r.lastAudio)
		r.lastAudio = ms
		if err := r.message(audioCSID, typeAudio, ms, aacRaw, data[:size]); err != nil {
			return err
		}
		data = data[size:]
	}
	return nil
}

// message writes one RTMP message, head followed by body, with a full
// chunk header and a continuation header every rtmpChunkSize bytes.
func (r *relayer) message(csid, typ byte, ts uint32, head, body []byte) error {
	n := len(head) + len(body)
	t24 := min(ts, 0xffffff)
	h := append(r.head[:0], csid, byte(t24>>16), byte(t24>>8), byte(t24),
		byte(n>>16), byte(n>>8), byte(n), typ)
	h = append(h, publishStreamID[:]...)
	ext := ts >= 0xffffff
	if ext {
		h = binary.BigEndian.AppendUint32(h, ts)
	}
	if _, err := r.out.Write(h); err != nil {
		return err
	}
	left := rtmpChunkSize
	for _, b := range [2][]byte{head, body} {
		for len(b) > 0 {
			if left == 0 {
				c := append(r.head[:0], 3<<6|csid)
				if ext {
					c = binary.BigEndian.AppendUint32(c, ts)
				}
				if _, err := r.out.Write(c); err != nil {
					return err
				}
				left = rtmpChunkSize
			}
			k := min(len(b), left)
			if _, err := r.out.Write(b[:k]); err != nil {
				return err
			}
			b, left = b[k:], left-k
		}
	}
	return nil
}
