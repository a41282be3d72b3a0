package uplink

import (
	"io"
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

// publishStreamID is the message stream of the publish: stream 1, the one
// gortmplib's client creates (it spells it 0x1000000 in big-endian order).
var publishStreamID = [4]byte{1, 0, 0, 0}

// chunkWriter writes one RTMP message per call with a single write from a
// reused buffer: frames go out without the two per-frame copies gortmplib
// makes, which were a fifth of the agent's CPU per stream.
type chunkWriter struct {
	w   io.Writer
	buf []byte
}

// write sends message type typ at ts on chunk stream csid, its body being
// head followed by body. Every message starts with a full (type 0) header,
// so nothing depends on what was written before; continuation chunks
// (type 3) repeat the extended timestamp when there is one, as librtmp and
// FFmpeg do.
func (c *chunkWriter) write(csid, typ byte, ts time.Duration, head, body []byte) error {
	n := len(head) + len(body)
	t := uint32(ts / time.Millisecond)
	ext := t >= 0xFFFFFF
	t24 := min(t, 0xFFFFFF)
	b := append(c.buf[:0], csid,
		byte(t24>>16), byte(t24>>8), byte(t24),
		byte(n>>16), byte(n>>8), byte(n), typ)
	b = append(b, publishStreamID[:]...)
	if ext {
		b = append(b, byte(t>>24), byte(t>>16), byte(t>>8), byte(t))
	}
	written := 0
	for _, part := range [2][]byte{head, body} {
		for len(part) > 0 {
			if written > 0 && written%rtmpChunkSize == 0 {
				b = append(b, 3<<6|csid)
				if ext {
					b = append(b, byte(t>>24), byte(t>>16), byte(t>>8), byte(t))
				}
			}
			k := min(len(part), rtmpChunkSize-written%rtmpChunkSize)
			b = append(b, part[:k]...)
			part = part[k:]
			written += k
		}
	}
	c.buf = b
	_, err := c.w.Write(b)
	return err
}
