package uplink

import (
	"io"
	"net"
	"time"
)

// Media frames are written by chunkWriter on chunk streams of their own,
// beside the ones gortmplib uses for metadata and sequence headers (4 and
// 6): gortmplib compresses chunk headers against what it last wrote on a
// chunk stream, so no one else may write on its streams. Receivers
// reassemble messages per chunk stream and keep the order of the TCP stream.
const (
	audioFrameCSID = 5
	videoFrameCSID = 7
)

// rtmpChunkSize is what gortmplib's client announces with SetChunkSize
// before publishing; the server splits our messages at that size.
const rtmpChunkSize = 65536

// maxBatch is how many bytes of messages chunkWriter holds before its
// owner flushes even if more frames are waiting. It bounds one write (and,
// on connections without vector writes, the buffer each stream keeps) when
// a reader starts with a whole cached GOP or catches up on a backlog; a
// wake-up usually brings one video frame and a few audio frames, less.
const maxBatch = 64 << 10

// publishStreamID is the message stream of the publish: stream 1, the one
// gortmplib's client creates (it spells it 0x1000000 in big-endian order).
var publishStreamID = [4]byte{1, 0, 0, 0}

// chunkWriter frames RTMP messages and writes everything pending with a
// single write on flush: frames go out without the two per-frame copies
// gortmplib makes (once a fifth of the agent's CPU per stream), and the
// frames of one wake-up in one syscall. Headers go into one small reused
// buffer; frame bodies are referenced where they are (media units are
// immutable), so on a TCP connection flush is one writev and the frames
// are never copied in user space, and no stream keeps a buffer the size of
// its key frames. Other connections (TLS) get the pieces joined into one
// reused buffer first, so that a frame stays one record.
type chunkWriter struct {
	w io.Writer
	// vector: w is a *net.TCPConn, where net.Buffers is one writev.
	vector bool

	hdr []byte      // chunk headers, tag heads and NAL unit lengths of the pending messages
	vec net.Buffers // the pending bytes in order: slices of hdr and of frames
	// open is where in hdr the header piece that vec ends with starts, so
	// that adjacent header bytes stay one piece; -1 when vec ends with a body.
	open int
	n    int         // bytes pending
	out  net.Buffers // what WriteTo consumes; a field, so it does not escape per flush
	join []byte      // without vector: the pieces joined for one Write
	len4 [4]byte     // scratch for a NAL unit length
	head [16]byte    // scratch for a chunk header

	// The message being appended, between begin and the next begin.
	left int // body bytes left in the current chunk
	csid byte
	ext  bool // extended timestamp, repeated in continuation chunks
	ts   uint32
}

// newChunkWriter returns a chunkWriter writing to w.
func newChunkWriter(w io.Writer) chunkWriter {
	_, tcp := w.(*net.TCPConn)
	return chunkWriter{w: w, vector: tcp, open: -1}
}

// write appends message type typ at ts on chunk stream csid, its body
// being head followed by body.
func (c *chunkWriter) write(csid, typ byte, ts time.Duration, head, body []byte) {
	c.begin(csid, typ, ts, len(head)+len(body))
	c.putHeader(head)
	c.putBody(body)
}

// writeAVCC appends a video message whose body is head followed by nalus
// in length-prefixed (AVCC/HVCC) form, without copying the NAL units.
func (c *chunkWriter) writeAVCC(csid, typ byte, ts time.Duration, head []byte, nalus [][]byte) {
	n := len(head)
	for _, b := range nalus {
		n += 4 + len(b)
	}
	c.begin(csid, typ, ts, n)
	c.putHeader(head)
	for _, b := range nalus {
		l := len(b)
		c.len4 = [4]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)}
		c.putHeader(c.len4[:])
		c.putBody(b)
	}
}

// begin appends the message's full (type 0) header, so nothing depends on
// what was written before on the chunk stream.
func (c *chunkWriter) begin(csid, typ byte, ts time.Duration, n int) {
	t := uint32(ts / time.Millisecond)
	c.csid, c.ts, c.ext = csid, t, t >= 0xFFFFFF
	t24 := min(t, 0xFFFFFF)
	h := append(c.head[:0], csid,
		byte(t24>>16), byte(t24>>8), byte(t24),
		byte(n>>16), byte(n>>8), byte(n), typ)
	h = append(h, publishStreamID[:]...)
	if c.ext {
		h = append(h, byte(t>>24), byte(t>>16), byte(t>>8), byte(t))
	}
	c.addHeader(h)
	c.left = rtmpChunkSize
}

// putHeader appends body bytes that are copied (they live in scratch
// space), putBody body bytes that are referenced; both start a
// continuation chunk (type 3 header, repeating the extended timestamp as
// librtmp and FFmpeg do) after every rtmpChunkSize bytes of body.
func (c *chunkWriter) putHeader(b []byte) {
	for len(b) > 0 {
		k := c.room(len(b))
		c.addHeader(b[:k])
		b = b[k:]
	}
}

func (c *chunkWriter) putBody(b []byte) {
	for len(b) > 0 {
		k := c.room(len(b))
		c.vec = append(c.vec, b[:k])
		c.open = -1
		c.n += k
		b = b[k:]
	}
}

// room starts a continuation chunk when the current one is full and
// returns how many of n body bytes fit in it.
func (c *chunkWriter) room(n int) int {
	if c.left == 0 {
		h := append(c.head[:0], 3<<6|c.csid)
		if c.ext {
			h = append(h, byte(c.ts>>24), byte(c.ts>>16), byte(c.ts>>8), byte(c.ts))
		}
		c.addHeader(h)
		c.left = rtmpChunkSize
	}
	k := min(n, c.left)
	c.left -= k
	return k
}

// addHeader copies b into hdr and makes it part of the pending bytes,
// extending the last piece when that one ends where b went. A grown hdr
// leaves the earlier pieces in the old array, which stays valid.
func (c *chunkWriter) addHeader(b []byte) {
	start, oldCap := len(c.hdr), cap(c.hdr)
	c.hdr = append(c.hdr, b...)
	if c.open >= 0 && cap(c.hdr) == oldCap {
		c.vec[len(c.vec)-1] = c.hdr[c.open:]
	} else {
		c.open = start
		c.vec = append(c.vec, c.hdr[start:])
	}
	c.n += len(b)
}

// pending is the number of bytes not yet written.
func (c *chunkWriter) pending() int { return c.n }

// flush writes everything pending with one write and lets go of the
// frames it referenced.
func (c *chunkWriter) flush() error {
	if c.n == 0 {
		return nil
	}
	var err error
	if c.vector {
		c.out = c.vec
		_, err = c.out.WriteTo(c.w)
		c.out = nil
	} else {
		c.join = c.join[:0]
		for _, b := range c.vec {
			c.join = append(c.join, b...)
		}
		_, err = c.w.Write(c.join)
	}
	clear(c.vec)
	c.vec, c.hdr, c.open, c.n = c.vec[:0], c.hdr[:0], -1, 0
	return err
}
