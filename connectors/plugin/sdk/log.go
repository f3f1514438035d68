package sdk

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
)

// stderr is the process's standard error as it was at start: go-plugin's Serve replaces
// os.Stderr later, and the host reads log lines from this one.
var stderr io.Writer = os.Stderr

// hclogTime is the timestamp layout go-plugin's host parses.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// levelTrace is hclog's trace level in slog terms.
const levelTrace = slog.LevelDebug - 4

var (
	loggerOnce sync.Once
	logger     *slog.Logger
)

// Logger returns the plugin's logger. Its records go to provisiond's log as structured
// records, with their level and attributes: they are written as JSON lines on the
// process's original standard error, which the host reads. A plugin must never write to
// standard output (it carries the handshake) and should not print to standard error
// either: plain lines reach the host's log at debug level only.
//
// The level is the host's (PROVISIOND_PLUGIN_LOG_LEVEL), info by default.
func Logger() *slog.Logger {
	loggerOnce.Do(func() {
		logger = slog.New(newHandler(stderr, levelFromEnv()))
	})
	return logger
}

func levelFromEnv() slog.Level {
	switch strings.ToLower(os.Getenv(wire.EnvLogLevel)) {
	case "trace":
		return levelTrace
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// newHandler returns a slog handler writing hclog's JSON format (@level, @message,
// @timestamp, then the attributes; groups become nested objects).
func newHandler(w io.Writer, level slog.Level) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return a
		}
		switch a.Key {
		case slog.TimeKey:
			return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
		case slog.LevelKey:
			return slog.String("@level", levelName(a.Value.Any().(slog.Level)))
		case slog.MessageKey:
			return slog.String("@message", a.Value.String())
		}
		return a
	}})
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// hclogLevel is the go-plugin server logger's level for a slog level.
func hclogLevel(l slog.Level) hclog.Level {
	return hclog.LevelFromString(levelName(l))
}
