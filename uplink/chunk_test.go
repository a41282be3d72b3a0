package uplink

import (
	"bytes"
	"encoding/hex"
	"io"
	"net"
	"testing"
	"time"
)

func TestChunkWriter(t *testing.T) {
	var out countingWriter
	c := newChunkWriter(&out)

	// A small message: one type-0 chunk.
	c.write(videoFrameCSID, 9, 1234*time.Millisecond, []byte{0x17, 1, 0, 0, 0}, []byte{0xAA, 0xBB})
	if out.Len() != 0 {
		t.Fatalf("%d bytes written before flush, want none", out.Len())
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	want := "07" + "0004d2" + "000007" + "09" + "01000000" + "1701000000" + "aabb"
	if got := hex.EncodeToString(out.Bytes()); got != want {
		t.Errorf("small message\n got %s\nwant %s", got, want)
	}

	// A message over the chunk size with an extended timestamp: type-3
	// continuation carrying the extended timestamp again.
	out.Reset()
	body := bytes.Repeat([]byte{0x55}, rtmpChunkSize+3)
	ts := 0x01000000 * time.Millisecond
	c.write(audioFrameCSID, 8, ts, []byte{0xAF, 1}, body)
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	hdr := hex.EncodeToString(b[:16])
	if want := "05" + "ffffff" + "010005" + "08" + "01000000" + "01000000"; hdr != want {
		t.Errorf("type-0 header %s, want %s", hdr, want)
	}
	cont := 16 + rtmpChunkSize
	if got := hex.EncodeToString(b[cont : cont+5]); got != "c501000000" {
		t.Errorf("continuation header %s, want c5 + extended timestamp", got)
	}
	if len(b) != 16+rtmpChunkSize+5+5 {
		t.Errorf("%d bytes written, want %d", len(b), 16+rtmpChunkSize+5+5)
	}
}

// TestChunkWriterAVCCBatch: video frames written straight from their NAL
// units (several chunks, with and without extended timestamps) and an
// audio frame come out byte for byte as a plain chunker makes them from
// the AVCC body, all in one write.
func TestChunkWriterAVCCBatch(t *testing.T) {
	big := make([]byte, 2*rtmpChunkSize+1000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	nalus := [][]byte{{0x67, 1, 2}, {0x68, 3}, big, {0x65, 9}}
	head := []byte{0x17, 1, 0, 0, 0}
	var out countingWriter
	c := newChunkWriter(&out)
	var want []byte
	for _, ts := range []time.Duration{40 * time.Millisecond, 0x01000001 * time.Millisecond} {
		c.writeAVCC(videoFrameCSID, 9, ts, head, nalus)
		want = append(want, refChunks(videoFrameCSID, 9, ts, append(append([]byte(nil), head...), appendAVCC(nil, nalus)...))...)
	}
	c.write(audioFrameCSID, 8, 60*time.Millisecond, []byte{0xAF, 1}, []byte{1, 2, 3})
	want = append(want, refChunks(audioFrameCSID, 8, 60*time.Millisecond, []byte{0xAF, 1, 1, 2, 3})...)
	if c.pending() != len(want) {
		t.Errorf("pending %d bytes, want %d", c.pending(), len(want))
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	if out.writes != 1 {
		t.Errorf("%d writes, want 1", out.writes)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("batch differs from the reference chunking (%d vs %d bytes)", out.Len(), len(want))
	}
	if c.pending() != 0 {
		t.Errorf("%d bytes pending after flush", c.pending())
	}
}

// TestChunkWriterTCP: on a TCP connection the writer sends the frames
// from where they are with one vector write: the bytes a server reads are
// the reference chunking, and steady-state frames allocate nothing.
func TestChunkWriterTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	c := newChunkWriter(client)
	if !c.vector {
		t.Fatal("no vector writes on a *net.TCPConn")
	}

	big := make([]byte, 2*rtmpChunkSize+1000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	nalus := [][]byte{{0x67, 1, 2}, {0x68, 3}, big, {0x65, 9}}
	head := []byte{0x17, 1, 0, 0, 0}
	var want []byte
	for _, ts := range []time.Duration{40 * time.Millisecond, 0x01000001 * time.Millisecond} {
		c.writeAVCC(videoFrameCSID, 9, ts, head, nalus)
		want = append(want, refChunks(videoFrameCSID, 9, ts, append(append([]byte(nil), head...), appendAVCC(nil, nalus)...))...)
	}
	c.write(audioFrameCSID, 8, 60*time.Millisecond, []byte{0xAF, 1}, []byte{1, 2, 3})
	want = append(want, refChunks(audioFrameCSID, 8, 60*time.Millisecond, []byte{0xAF, 1, 1, 2, 3})...)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(want))
		_, _ = io.ReadFull(server, b)
		got <- b
	}()
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("bytes on the wire differ from the reference chunking")
	}

	go func() { _, _ = io.Copy(io.Discard, server) }()
	frame := [][]byte{make([]byte, 20000)}
	audioHead, audio := []byte{0xAF, 1}, []byte{1, 2, 3}
	var ts time.Duration
	allocs := testing.AllocsPerRun(50, func() {
		ts += 40 * time.Millisecond
		c.writeAVCC(videoFrameCSID, 9, ts, head, frame)
		c.write(audioFrameCSID, 8, ts, audioHead, audio)
		if err := c.flush(); err != nil {
			t.Error(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame", allocs)
	}
}

// refChunks is the straightforward chunking of one message, as a receiver
// expects it.
func refChunks(csid, typ byte, ts time.Duration, body []byte) []byte {
	t := uint32(ts / time.Millisecond)
	ext := t >= 0xFFFFFF
	t24 := min(t, 0xFFFFFF)
	n := len(body)
	b := []byte{csid, byte(t24 >> 16), byte(t24 >> 8), byte(t24), byte(n >> 16), byte(n >> 8), byte(n), typ, 1, 0, 0, 0}
	extTS := []byte{byte(t >> 24), byte(t >> 16), byte(t >> 8), byte(t)}
	if ext {
		b = append(b, extTS...)
	}
	for i := 0; i < n; i += rtmpChunkSize {
		if i > 0 {
			b = append(b, 3<<6|csid)
			if ext {
				b = append(b, extTS...)
			}
		}
		b = append(b, body[i:min(n, i+rtmpChunkSize)]...)
	}
	return b
}

// countingWriter is a bytes.Buffer that counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func BenchmarkChunkWriter(b *testing.B) {
	c := newChunkWriter(discard{})
	head := []byte{0x17, 1, 0, 0, 0}
	nalus := [][]byte{make([]byte, 20000)}
	b.ReportAllocs()
	for i := range b.N {
		c.writeAVCC(videoFrameCSID, 9, time.Duration(i)*40*time.Millisecond, head, nalus)
		if err := c.flush(); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// appendAVCC appends nalus in length-prefixed (AVCC/HVCC) form with 4-byte
// lengths: the body a video message carries.
func appendAVCC(buf []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		l := len(n)
		buf = append(buf, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
		buf = append(buf, n...)
	}
	return buf
}
