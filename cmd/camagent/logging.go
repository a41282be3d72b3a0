package main

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camagent/camagent/agent"
)

// encoderConfig is the JSON line format of every camagent log.
func encoderConfig() zapcore.EncoderConfig {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return enc
}

// newLogger builds a logger writing JSON lines to w from level up.
func newLogger(w io.Writer, level zapcore.LevelEnabler) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(encoderConfig()), zapcore.Lock(zapcore.AddSync(w)), level))
}

// newRingLogger is newLogger teed into a new log ring, which the agent
// uploads from on cam_get_log. The ring keeps the same lines, and info
// lines even when w gets only warnings: a log fetched to diagnose a camera
// needs its context.
func newRingLogger(w io.Writer, level zapcore.LevelEnabler) (*zap.Logger, *agent.LogRing) {
	ring := agent.NewLogRing(0, 0)
	enc := zapcore.NewJSONEncoder(encoderConfig())
	core := zapcore.NewTee(
		zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level),
		ring.Core(enc, ringLevel{level}),
	)
	return zap.New(core), ring
}

// ringLevel enables info and above, and whatever stderr's level enables
// below that (debug, after a reload to log.level: debug).
type ringLevel struct{ stderr zapcore.LevelEnabler }

func (l ringLevel) Enabled(lv zapcore.Level) bool {
	return lv >= zapcore.InfoLevel || l.stderr.Enabled(lv)
}
