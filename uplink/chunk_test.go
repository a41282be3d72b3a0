package uplink

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"
)

func TestChunkWriter(t *testing.T) {
	var out bytes.Buffer
	c := chunkWriter{w: &out}

	// A small message: one type-0 chunk.
	if err := c.write(videoFrameCSID, 9, 1234*time.Millisecond, []byte{0x17, 1, 0, 0, 0}, []byte{0xAA, 0xBB}); err != nil {
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
	if err := c.write(audioFrameCSID, 8, ts, []byte{0xAF, 1}, body); err != nil {
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

func BenchmarkChunkWriter(b *testing.B) {
	c := chunkWriter{w: discard{}}
	head := []byte{0x17, 1, 0, 0, 0}
	body := make([]byte, 20000)
	b.ReportAllocs()
	for i := range b.N {
		if err := c.write(videoFrameCSID, 9, time.Duration(i)*40*time.Millisecond, head, body); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
