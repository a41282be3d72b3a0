package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"
)

// Class is an item's priority; a lower value is delivered first and
// evicted last.
type Class int

// The classes in priority order (docs/protocol.md#uploads).
const (
	// ClassEvent is a cam_event, possibly with its snapshot.
	ClassEvent Class = iota
	// ClassClip is a chunk of an event clip.
	ClassClip
	// ClassPreview is a preview picture.
	ClassPreview
	// ClassOther is everything else (logs, metadata).
	ClassOther

	numClasses = iota
)

// Classes lists every class in priority order, for metrics and status pages.
var Classes = [numClasses]Class{ClassEvent, ClassClip, ClassPreview, ClassOther}

var classNames = [numClasses]string{"event", "clip", "preview", "other"}

// String returns the class's metric label: event, clip, preview or other.
func (c Class) String() string {
	if c.valid() {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

func (c Class) valid() bool { return c >= 0 && c < numClasses }

// Item is one queued upload. The payload lives on disk beside it.
type Item struct {
	// ID is assigned by Put; IDs sort in creation order.
	ID    string
	Class Class
	// Created is when the thing happened (event time, chunk start): it
	// orders items within a class and drives MaxAge.
	Created time.Time
	// Meta is the caller's description (the cam_event body, the chunk's
	// stream and times), opaque to the spool.
	Meta []byte
	// Size is the payload's length in bytes; 0 means no payload.
	Size int64
}

// metaVersion is the journal record's format; a record of another version
// is corrupt to this code.
const metaVersion = 1

// record is the JSON body of an item's journal file.
type record struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Class   Class     `json:"class"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
	// Sum is the CRC-32C of the payload, checked as it is read for delivery.
	Sum  uint32 `json:"sum"`
	Meta []byte `json:"meta,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a journal record or payload that fails its checks.
var errCorrupt = errors.New("corrupt")

// encodeMeta writes a record as one checksum line ("crc32c-hex\n") followed
// by its JSON, so a torn or bit-flipped file is told apart from a valid one.
func encodeMeta(r record) []byte {
	body, err := json.Marshal(r)
	if err != nil {
		// Every field of record marshals; only an impossible time can fail.
		panic(fmt.Sprintf("spool: encode record: %v", err))
	}
	out := make([]byte, 0, len(body)+10)
	out = fmt.Appendf(out, "%08x\n", crc32.Checksum(body, castagnoli))
	return append(out, body...)
}

// decodeMeta parses and checks a journal file.
func decodeMeta(b []byte) (record, error) {
	var r record
	head, body, ok := bytes.Cut(b, []byte{'\n'})
	if !ok || len(head) != 8 {
		return r, fmt.Errorf("%w: no checksum line", errCorrupt)
	}
	want, err := strconv.ParseUint(string(head), 16, 32)
	if err != nil {
		return r, fmt.Errorf("%w: checksum line %q", errCorrupt, head)
	}
	if got := crc32.Checksum(body, castagnoli); uint64(got) != want {
		return r, fmt.Errorf("%w: checksum %08x, want %08x", errCorrupt, got, want)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	switch {
	case r.V != metaVersion:
		return r, fmt.Errorf("%w: version %d", errCorrupt, r.V)
	case !validID(r.ID):
		return r, fmt.Errorf("%w: id %q", errCorrupt, r.ID)
	case !r.Class.valid():
		return r, fmt.Errorf("%w: class %d", errCorrupt, r.Class)
	case r.Created.IsZero():
		return r, fmt.Errorf("%w: no created time", errCorrupt)
	case r.Size < 0:
		return r, fmt.Errorf("%w: size %d", errCorrupt, r.Size)
	case r.Size == 0 && r.Sum != 0:
		return r, fmt.Errorf("%w: checksum without payload", errCorrupt)
	}
	return r, nil
}

// An ID is 16 lower-case hex digits: a nanosecond stamp made unique and
// increasing per spool, so names sort in creation order.
const idLen = 16

func formatID(n uint64) string { return fmt.Sprintf("%016x", n) }

func parseID(s string) (uint64, bool) {
	if !validID(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 64)
	return n, err == nil
}

func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// File names inside a spool directory. Payload and record are written
// under tmpSuffix and renamed; the record last, so its presence means the
// item is complete.
const (
	metaSuffix = ".meta"
	dataSuffix = ".data"
	tmpSuffix  = ".tmp"
)
