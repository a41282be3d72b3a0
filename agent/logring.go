package agent

import (
	"sync"

	"go.uber.org/zap/zapcore"
)

// Defaults of NewLogRing: about a day of a quiet camera's lines, and
// small enough to upload as one cam_get_log answer (docs/protocol.md#cam-get-log).
const (
	DefaultLogRingLines = 2000
	DefaultLogRingBytes = 1 << 20
)

// LogRing keeps the most recent log lines in memory, bounded by a line
// count and a byte budget, whichever is reached first, so the cloud can
// fetch a camera's log from a device that keeps no log file. Lines enter
// through Core, teed with the stderr core, so they read exactly as on
// stderr. It is safe for concurrent use.
type LogRing struct {
	maxBytes int

	mu    sync.Mutex
	lines []ringLine // circular; its length is the line bound
	head  int        // index of the oldest line
	n     int        // lines held
	bytes int        // sum of the held lines' lengths
}

// ringLine is one encoded log line and the camera it belongs to ("" for
// agent-wide lines).
type ringLine struct {
	camera string
	text   []byte
}

// NewLogRing keeps up to maxLines lines and maxBytes bytes; values ≤ 0
// take the defaults.
func NewLogRing(maxLines, maxBytes int) *LogRing {
	if maxLines <= 0 {
		maxLines = DefaultLogRingLines
	}
	if maxBytes <= 0 {
		maxBytes = DefaultLogRingBytes
	}
	return &LogRing{maxBytes: maxBytes, lines: make([]ringLine, maxLines)}
}

// add copies line into the ring, evicting the oldest lines to make room.
// A line longer than the byte budget is cut to it.
func (r *LogRing) add(camera string, line []byte) {
	if len(line) > r.maxBytes {
		line = line[:r.maxBytes]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n == len(r.lines) || r.bytes+len(line) > r.maxBytes) {
		r.bytes -= len(r.lines[r.head].text)
		r.head = (r.head + 1) % len(r.lines)
		r.n--
	}
	slot := &r.lines[(r.head+r.n)%len(r.lines)]
	// Reuse the evicted line's buffer unless it is far too big: one huge
	// line must not pin its size in every slot it passes through.
	if c := cap(slot.text); c < len(line) || c > 4*len(line)+256 {
		slot.text = make([]byte, 0, len(line))
	}
	slot.text = append(slot.text[:0], line...)
	slot.camera = camera
	r.n++
	r.bytes += len(line)
}

// Text returns, oldest first, the lines of camera and the agent-wide lines
// (those without a camera field); other cameras' lines are left out.
func (r *LogRing) Text(camera string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]byte, 0, r.bytes)
	for i := range r.n {
		l := &r.lines[(r.head+i)%len(r.lines)]
		if l.camera == "" || l.camera == camera {
			out = append(out, l.text...)
		}
	}
	return out
}

// cameraKey is the field that names a line's camera; workers put it on
// every logger they hand out.
const cameraKey = "camera"

// Core returns a zapcore.Core that encodes entries with enc (use the same
// encoder config as the stderr core) and keeps those level enables.
func (r *LogRing) Core(enc zapcore.Encoder, level zapcore.LevelEnabler) zapcore.Core {
	return &ringCore{LevelEnabler: level, enc: enc, ring: r}
}

// ringCore writes encoded entries into a LogRing, remembering the camera
// field of its context so lines can be filtered per camera.
type ringCore struct {
	zapcore.LevelEnabler
	enc    zapcore.Encoder
	ring   *LogRing
	camera string
}

func cameraOf(f zapcore.Field) (string, bool) {
	if f.Key == cameraKey && f.Type == zapcore.StringType {
		return f.String, true
	}
	return "", false
}

// With implements zapcore.Core.
func (c *ringCore) With(fields []zapcore.Field) zapcore.Core {
	clone := &ringCore{LevelEnabler: c.LevelEnabler, enc: c.enc.Clone(), ring: c.ring, camera: c.camera}
	for _, f := range fields {
		f.AddTo(clone.enc)
		if cam, ok := cameraOf(f); ok {
			clone.camera = cam
		}
	}
	return clone
}

// Check implements zapcore.Core.
func (c *ringCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write implements zapcore.Core.
func (c *ringCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(ent, fields)
	if err != nil {
		return err
	}
	cam := c.camera
	for _, f := range fields {
		if v, ok := cameraOf(f); ok {
			cam = v
		}
	}
	c.ring.add(cam, buf.Bytes())
	buf.Free()
	return nil
}

// Sync implements zapcore.Core; the ring is memory only.
func (c *ringCore) Sync() error { return nil }
