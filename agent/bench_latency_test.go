//go:build bench

package agent

// Added latency per video frame: how long a frame takes from the simulated
// camera to the ingest through the agent (or an ffmpeg relay). A tap, a
// TCP proxy between the camera and its client, notes when the last RTP
// packet of each video frame left the camera; the ingest notes when the
// RTMP message of that frame was read whole. Both stamps come from this
// process's clock. A frame is recognised on both sides by its size (the
// bytes of its NAL units, 4-byte length-prefixed as RTMP carries them):
// the ingest frame is the last same-sized frame the tap saw before it, at
// most a second earlier. Key frames are left out (they may carry parameter
// sets on one side only). The figure includes the tap's own forwarding
// and the ingest's parsing, alike for the agent and ffmpeg.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/cloudsim"
)

// benchVideoPT is rtspsim's RTP payload type for H.264.
const benchVideoPT = 96

// tapFrame is one video frame the tap forwarded.
type tapFrame struct {
	size int
	at   time.Time
}

// rtspTap forwards RTSP over TCP (interleaved RTP) from one camera and
// remembers when the recent video frames passed.
type rtspTap struct {
	ln     net.Listener
	target string
	// media counts the RTP payload bytes (video and audio) forwarded: the
	// media bytes a recorder's disk writes are compared with.
	media atomic.Int64

	mu     sync.Mutex
	frames [128]tapFrame // ring of the latest frames
	next   int
	wg     sync.WaitGroup
	conns  map[net.Conn]struct{}
	closed bool
}

func startTap(t *testing.T, target string) *rtspTap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &rtspTap{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	tp.wg.Go(tp.accept)
	t.Cleanup(tp.close)
	return tp
}

func (tp *rtspTap) addr() string { return tp.ln.Addr().String() }

func (tp *rtspTap) close() {
	tp.ln.Close()
	tp.mu.Lock()
	tp.closed = true
	for c := range tp.conns {
		c.Close()
	}
	tp.mu.Unlock()
	tp.wg.Wait()
}

func (tp *rtspTap) track(c net.Conn) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.closed {
		c.Close()
		return false
	}
	tp.conns[c] = struct{}{}
	return true
}

func (tp *rtspTap) accept() {
	for {
		client, err := tp.ln.Accept()
		if err != nil {
			return
		}
		cam, err := net.Dial("tcp", tp.target)
		if err != nil {
			client.Close()
			continue
		}
		if !tp.track(client) || !tp.track(cam) {
			client.Close()
			cam.Close()
			return
		}
		tp.wg.Go(func() {
			_, _ = io.Copy(cam, client)
			cam.Close()
		})
		tp.wg.Go(func() {
			_ = tp.forward(client, cam)
			client.Close()
		})
	}
}

// forward copies the camera's side message by message, RTSP responses and
// interleaved packets, noting each video frame as its last packet passes.
func (tp *rtspTap) forward(client, cam net.Conn) error {
	r := bufio.NewReaderSize(cam, 64<<10)
	tr := textproto.NewReader(r)
	buf := make([]byte, 0, 64<<10)
	size := 0 // AVCC bytes of the frame being received
	for {
		b, err := r.Peek(1)
		if err != nil {
			return err
		}
		if b[0] != '$' {
			// An RTSP response (or request): header lines, then the body.
			buf = buf[:0]
			var n int
			for {
				line, err := tr.ReadLine()
				if err != nil {
					return err
				}
				buf = append(append(buf, line...), "\r\n"...)
				if line == "" {
					break
				}
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
					n, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return err
			}
			if _, err := client.Write(append(buf, body...)); err != nil {
				return err
			}
			continue
		}
		var h [4]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(h[2:]))
		buf = append(buf[:0], h[:]...)
		buf = slices.Grow(buf, n)[:4+n]
		if _, err := io.ReadFull(r, buf[4:]); err != nil {
			return err
		}
		at := time.Now()
		if pkt := buf[4:]; h[1]%2 == 0 && len(pkt) >= 12 {
			tp.media.Add(int64(len(rtpPayload(pkt))))
		}
		if pkt := buf[4:]; h[1]%2 == 0 && len(pkt) >= 12 && pkt[1]&0x7f == benchVideoPT {
			size += avccBytes(rtpPayload(pkt))
			if pkt[1]&0x80 != 0 { // marker: the frame's last packet
				tp.note(size, at)
				size = 0
			}
		}
		if _, err := client.Write(buf); err != nil {
			return err
		}
	}
}

func (tp *rtspTap) note(size int, at time.Time) {
	tp.mu.Lock()
	tp.frames[tp.next%len(tp.frames)] = tapFrame{size: size, at: at}
	tp.next++
	tp.mu.Unlock()
}

// sent is when the latest frame of size bytes passed the tap before at.
func (tp *rtspTap) sent(size int, at time.Time) (time.Time, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for i := 1; i <= len(tp.frames) && i <= tp.next; i++ {
		f := tp.frames[(tp.next-i)%len(tp.frames)]
		if at.Sub(f.at) > time.Second {
			break
		}
		if f.size == size && !f.at.After(at) {
			return f.at, true
		}
	}
	return time.Time{}, false
}

// rtpPayload strips the RTP header, CSRCs, extension and padding.
func rtpPayload(p []byte) []byte {
	n := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 && len(p) >= n+4 {
		n += 4 + 4*int(binary.BigEndian.Uint16(p[n+2:]))
	}
	if n > len(p) {
		return nil
	}
	end := len(p)
	if p[0]&0x20 != 0 && end > n {
		end -= int(p[end-1])
	}
	if end < n {
		return nil
	}
	return p[n:end]
}

// avccBytes is what one RTP H.264 payload (RFC 6184) adds to its access
// unit in length-prefixed form.
func avccBytes(p []byte) int {
	if len(p) < 1 {
		return 0
	}
	switch typ := p[0] & 0x1f; {
	case typ >= 1 && typ <= 23: // single NAL unit
		return 4 + len(p)
	case typ == 24: // STAP-A
		n := 0
		for q := p[1:]; len(q) >= 2; {
			l := int(binary.BigEndian.Uint16(q))
			q = q[min(2+l, len(q)):]
			n += 4 + l
		}
		return n
	case typ == 28 && len(p) >= 2: // FU-A
		if p[1]&0x80 != 0 { // start: length prefix and the NAL header
			return 4 + 1 + len(p) - 2
		}
		return len(p) - 2
	}
	return 0
}

// latencyProbe collects the added latency of each video frame reaching the
// ingest while on, per group of streams.
type latencyProbe struct {
	taps map[string]*rtspTap // by ingest stream name
	on   atomic.Bool

	mu        sync.Mutex
	latencies map[string][]time.Duration // by group
	unmatched map[string]int
	group     func(stream string) string
}

func newLatencyProbe(group func(stream string) string) *latencyProbe {
	return &latencyProbe{taps: map[string]*rtspTap{}, latencies: map[string][]time.Duration{},
		unmatched: map[string]int{}, group: group}
}

// onFrame is the ingest's OnFrame hook.
func (lp *latencyProbe) onFrame(stream string, f cloudsim.FrameRecord) {
	if !lp.on.Load() || !f.Video || f.Key {
		return
	}
	tp := lp.taps[stream]
	if tp == nil {
		return
	}
	sent, ok := tp.sent(f.Size, f.At)
	g := lp.group(stream)
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if !ok {
		lp.unmatched[g]++
		return
	}
	lp.latencies[g] = append(lp.latencies[g], f.At.Sub(sent))
}

// result is the p50 and p95 of a group's latencies and how many frames
// they cover and missed.
func (lp *latencyProbe) result(g string) (p50, p95 time.Duration, n, missed int, err error) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	ls := slices.Clone(lp.latencies[g])
	if len(ls) == 0 {
		return 0, 0, 0, lp.unmatched[g], errors.New("no frame matched")
	}
	slices.Sort(ls)
	q := func(p float64) time.Duration { return ls[min(len(ls)-1, int(p*float64(len(ls))))] }
	return q(0.5), q(0.95), len(ls), lp.unmatched[g], nil
}

func fmtLatency(p50, p95 time.Duration) string {
	return fmt.Sprintf("%.1f / %.1f", float64(p50.Microseconds())/1000, float64(p95.Microseconds())/1000)
}

// frameLatency is one group's added-latency figure for the table.
type frameLatency struct {
	p50, p95  time.Duration
	n, missed int
	err       error
}

func (b *benchRun) latency(g string) frameLatency {
	var l frameLatency
	l.p50, l.p95, l.n, l.missed, l.err = b.lat.result(g)
	if l.err != nil {
		b.t.Errorf("added latency of %s: %v (%d frames unmatched)", g, l.err, l.missed)
	}
	return l
}

func (l frameLatency) String() string {
	if l.err != nil {
		return "n/a"
	}
	return fmtLatency(l.p50, l.p95)
}

// count says how many frames the figure covers and how many found no match.
func (l frameLatency) count() string {
	return fmt.Sprintf("%d (%d unmatched)", l.n, l.missed)
}
