package uplink

import (
	"io"
	"slices"
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
// owner flushes even if more frames are waiting. It bounds the buffer each
// stream keeps (maxBatch or its largest frame, whichever is more) when a
// reader starts with a whole cached GOP or catches up on a backlog; a
// wake-up usually brings one video frame and a few audio frames, less.
const maxBatch = 64 << 10

// publishStreamID is the message stream of the publish: stream 1, the one
// gortmplib's client creates (it spells it 0x1000000 in big-endian order).
var publishStreamID = [4]byte{1, 0, 0, 0}

// chunkWriter frames RTMP messages into one reused buffer and writes
// everything buffered with a single write on flush: frames go out without
// the two per-frame copies gortmplib makes (once a fifth of the agent's CPU
// per stream), and the frames of one wake-up in one syscall.
type chunkWriter struct {
	w   io.Writer
	buf []byte // framed messages not yet written

	// The message being appended, between begin and end.
	start int // offset of its body in buf
	csid  byte
	ext   bool // extended timestamp, repeated in continuation chunks
	ts    uint32
}

// write appends message type typ at ts on chunk stream csid, its body
// being head followed by body.
func (c *chunkWriter) write(csid, typ byte, ts time.Duration, head, body []byte) {
	c.begin(csid, typ, ts, len(head)+len(body))
	c.buf = append(c.buf, head...)
	c.buf = append(c.buf, body...)
	c.end()
}

// writeAVCC appends a video message whose body is head followed by nalus
// in length-prefixed (AVCC/HVCC) form, without an intermediate copy.
func (c *chunkWriter) writeAVCC(csid, typ byte, ts time.Duration, head []byte, nalus [][]byte) {
	n := len(head)
	for _, b := range nalus {
		n += 4 + len(b)
	}
	c.begin(csid, typ, ts, n)
	c.buf = append(c.buf, head...)
	c.buf = appendAVCC(c.buf, nalus)
	c.end()
}

// begin appends the message's full (type 0) header, so nothing depends on
// what was written before on the chunk stream.
func (c *chunkWriter) begin(csid, typ byte, ts time.Duration, n int) {
	t := uint32(ts / time.Millisecond)
	c.csid, c.ts, c.ext = csid, t, t >= 0xFFFFFF
	t24 := min(t, 0xFFFFFF)
	c.buf = append(c.buf, csid,
		byte(t24>>16), byte(t24>>8), byte(t24),
		byte(n>>16), byte(n>>8), byte(n), typ)
	c.buf = append(c.buf, publishStreamID[:]...)
	if c.ext {
		c.buf = append(c.buf, byte(t>>24), byte(t>>16), byte(t>>8), byte(t))
	}
	c.start = len(c.buf)
}

// end splits the body appended since begin into chunks: a continuation
// (type 3) header before every rtmpChunkSize bytes after the first,
// repeating the extended timestamp when there is one, as librtmp and
// FFmpeg do. Bodies are moved in place, last chunk first.
func (c *chunkWriter) end() {
	n := len(c.buf) - c.start
	k := (n - 1) / rtmpChunkSize // continuation headers
	if k <= 0 {
		return
	}
	h := 1
	if c.ext {
		h = 5
	}
	c.buf = slices.Grow(c.buf, k*h)[:len(c.buf)+k*h]
	for i := k; i >= 1; i-- {
		src := c.start + i*rtmpChunkSize
		size := min(rtmpChunkSize, n-i*rtmpChunkSize)
		dst := src + i*h
		copy(c.buf[dst:dst+size], c.buf[src:src+size])
		hb := c.buf[dst-h : dst]
		hb[0] = 3<<6 | c.csid
		if c.ext {
			hb[1], hb[2], hb[3], hb[4] = byte(c.ts>>24), byte(c.ts>>16), byte(c.ts>>8), byte(c.ts)
		}
	}
}

// pending is the number of bytes buffered and not yet written.
func (c *chunkWriter) pending() int { return len(c.buf) }

// flush writes everything buffered with one write.
func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}
