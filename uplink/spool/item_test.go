package spool

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

var validRecord = record{V: metaVersion, ID: "17d3c2a1b0e4f001", Class: ClassClip,
	Created: time.Date(2024, 5, 31, 16, 18, 37, 250e6, time.UTC), Size: 1234, Sum: 0xdeadbeef,
	Meta: []byte(`{"stream":"main","duration":10}`)}

// sealed gives a JSON body its checksum line, so a case tests the check it
// names rather than the checksum.
func sealed(body string) []byte {
	return fmt.Appendf(nil, "%08x\n%s", crcOf([]byte(body)), body)
}

// metaCases are the decoder's named cases; they also seed FuzzDecodeMeta.
var metaCases = []struct {
	name string
	in   []byte
	ok   bool
}{
	{"valid", encodeMeta(validRecord), true},
	{"valid without payload", encodeMeta(record{V: 1, ID: "0000000000000001", Class: ClassEvent, Created: validRecord.Created}), true},
	{"empty", nil, false},
	{"no checksum line", []byte(`{"v":1}`), false},
	{"truncated", encodeMeta(validRecord)[:40], false},
	{"bit flip", func() []byte { b := encodeMeta(validRecord); b[20] ^= 1; return b }(), false},
	{"checksum not hex", append([]byte("zzzzzzzz\n"), `{}`...), false},
	{"short checksum", append([]byte("abc\n"), `{}`...), false},
	{"not json", sealed(`{"v":1,`), false},
	{"other version", sealed(`{"v":2,"id":"0000000000000001","class":0,"created":"2024-05-31T16:18:37Z","size":0,"sum":0}`), false},
	{"bad id", sealed(`{"v":1,"id":"../etc/passwd0000","class":0,"created":"2024-05-31T16:18:37Z","size":0,"sum":0}`), false},
	{"unknown class", sealed(`{"v":1,"id":"0000000000000001","class":4,"created":"2024-05-31T16:18:37Z","size":0,"sum":0}`), false},
	{"negative class", sealed(`{"v":1,"id":"0000000000000001","class":-1,"created":"2024-05-31T16:18:37Z","size":0,"sum":0}`), false},
	{"no created", sealed(`{"v":1,"id":"0000000000000001","class":0,"size":0,"sum":0}`), false},
	{"negative size", sealed(`{"v":1,"id":"0000000000000001","class":0,"created":"2024-05-31T16:18:37Z","size":-1,"sum":0}`), false},
	{"checksum without payload", sealed(`{"v":1,"id":"0000000000000001","class":0,"created":"2024-05-31T16:18:37Z","size":0,"sum":7}`), false},
	{"meta not base64", sealed(`{"v":1,"id":"0000000000000001","class":0,"created":"2024-05-31T16:18:37Z","size":0,"sum":0,"meta":"!"}`), false},
}

func TestDecodeMeta(t *testing.T) {
	for _, c := range metaCases {
		t.Run(c.name, func(t *testing.T) {
			r, err := decodeMeta(c.in)
			if c.ok != (err == nil) {
				t.Fatalf("decode: %v, want ok %v", err, c.ok)
			}
			if err != nil && !errors.Is(err, errCorrupt) {
				t.Errorf("error %v is not errCorrupt", err)
			}
			if c.name == "valid" && !sameRecord(r, validRecord) {
				t.Errorf("decoded %+v, want %+v", r, validRecord)
			}
		})
	}
}

func sameRecord(a, b record) bool {
	return a.V == b.V && a.ID == b.ID && a.Class == b.Class && a.Created.Equal(b.Created) &&
		a.Size == b.Size && a.Sum == b.Sum && bytes.Equal(a.Meta, b.Meta)
}

// Any input decodes without panicking, and what decodes re-encodes to a
// record that decodes the same.
func FuzzDecodeMeta(f *testing.F) {
	for _, c := range metaCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := decodeMeta(in)
		if err != nil {
			return
		}
		r2, err := decodeMeta(encodeMeta(r))
		if err != nil || !sameRecord(r, r2) {
			t.Fatalf("round trip of %+v: %+v, %v", r, r2, err)
		}
	})
}
