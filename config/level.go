package config

import (
	"fmt"
	"strings"

	"go.uber.org/zap/zapcore"
)

// Level is the minimum log level (key log.level). The zero value is
// LevelInfo, the default.
type Level int8

// Log levels, in increasing severity.
const (
	LevelDebug Level = iota - 1
	LevelInfo
	LevelWarn
	LevelError
)

var levelNames = map[Level]string{LevelDebug: "debug", LevelInfo: "info", LevelWarn: "warn", LevelError: "error"}

// ParseLevel parses debug, info, warn or error (case-insensitive).
func ParseLevel(s string) (Level, error) {
	for l, name := range levelNames {
		if strings.EqualFold(s, name) {
			return l, nil
		}
	}
	return LevelInfo, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// String returns the config spelling of the level.
func (l Level) String() string {
	if name, ok := levelNames[l]; ok {
		return name
	}
	return fmt.Sprintf("Level(%d)", int8(l))
}

// ZapLevel converts to the zap level of the same name.
func (l Level) ZapLevel() zapcore.Level {
	switch l {
	case LevelDebug:
		return zapcore.DebugLevel
	case LevelWarn:
		return zapcore.WarnLevel
	case LevelError:
		return zapcore.ErrorLevel
	default:
		return zapcore.InfoLevel
	}
}

// MarshalText encodes the config spelling.
func (l Level) MarshalText() ([]byte, error) {
	if _, ok := levelNames[l]; !ok {
		return nil, fmt.Errorf("invalid log level %d", int8(l))
	}
	return []byte(l.String()), nil
}

// UnmarshalText parses the config spelling.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
