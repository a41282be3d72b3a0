package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
)

// consoleCore writes log entries as lines for a person at a terminal,
// between the demo's own lines:
//
//	13:52:15 warn  lobby: camera clock is off; set onvif.clock_sync to correct it (max_clock_skew=30 skew=5400.02)
//
// The camera leads the message; the other fields follow as key=value.
// camagent itself logs JSON for journald and log shippers; a newcomer
// watching the demo should not have to read JSON.
type consoleCore struct {
	zapcore.LevelEnabler
	out    *lockedWriter
	fields []zapcore.Field
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newConsoleCore(w io.Writer, level zapcore.LevelEnabler) zapcore.Core {
	return &consoleCore{LevelEnabler: level, out: &lockedWriter{w: w}}
}

func (c *consoleCore) With(fields []zapcore.Field) zapcore.Core {
	return &consoleCore{LevelEnabler: c.LevelEnabler, out: c.out, fields: append(slices.Clip(c.fields), fields...)}
}

func (c *consoleCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *consoleCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-5s ", e.Time.Format("15:04:05"), e.Level)
	if cam, ok := enc.Fields["camera"]; ok {
		fmt.Fprintf(&b, "%v: ", cam)
		delete(enc.Fields, "camera")
	}
	b.WriteString(e.Message)
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		// zap adds an errorVerbose twin to errors that format verbosely.
		if !strings.HasSuffix(k, "Verbose") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for i, k := range keys {
		sep := " "
		if i == 0 {
			sep = " ("
		}
		b.WriteString(sep + k + "=" + consoleValue(enc.Fields[k]))
	}
	if len(keys) > 0 {
		b.WriteString(")")
	}
	b.WriteString("\n")
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	_, err := io.WriteString(c.out.w, b.String())
	return err
}

func (c *consoleCore) Sync() error { return nil }

// consoleValue shows a field value briefly: durations as 1h30m0s, floats
// to six digits, strings quoted only when they contain spaces.
func consoleValue(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" || strings.ContainsAny(v, " \t\"") {
			return strconv.Quote(v)
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', 6, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', 6, 32)
	case time.Time:
		return v.Format(time.RFC3339)
	default:
		return fmt.Sprint(v)
	}
}
