package plugin

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is hclog's trace level in slog terms.
const levelTrace = slog.LevelDebug - 4

// slogLogger is the hclog.Logger go-plugin gets: it turns go-plugin's own messages and the
// plugin's standard error lines (hclog JSON parsed by go-plugin, with their level, message,
// timestamp and fields) into slog records.
type slogLogger struct {
	l       *slog.Logger
	name    string
	implied []any
	// plugin is the name of the logger go-plugin writes the plugin's lines to (Named with
	// the runner's name); fromPlugin marks that logger.
	plugin     string
	fromPlugin bool
}

var _ hclog.Logger = (*slogLogger)(nil)

func newSlogLogger(l *slog.Logger, plugin string) *slogLogger {
	return &slogLogger{l: l, plugin: plugin}
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Log implements hclog.Logger. go-plugin's own messages are logged at debug level at most
// (the host logs the plugin's lifecycle itself); the plugin's lines keep their level. A
// "timestamp" field (the plugin's own time, which go-plugin
// adds to parsed lines) becomes the record's time; hclog's "@module" and "@caller" fields
// become "module" and "caller".
func (s *slogLogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if !s.fromPlugin && lv > slog.LevelDebug {
		lv = slog.LevelDebug
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lv) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:])
	r := slog.NewRecord(time.Now(), lv, msg, pcs[0])
	if !s.fromPlugin {
		r.AddAttrs(slog.String("logger", strings.TrimSuffix("go-plugin."+s.name, ".")))
	}
	add := func(kv []any) {
		for i := 0; i < len(kv); i += 2 {
			key, _ := kv[i].(string)
			if i+1 >= len(kv) {
				r.AddAttrs(slog.Any("EXTRA_VALUE_AT_END", kv[i]))
				break
			}
			v := kv[i+1]
			switch key {
			case "timestamp":
				if ts, ok := v.(string); ok {
					if t, err := time.Parse(hclog.TimeFormat, ts); err == nil {
						r.Time = t
						continue
					}
				}
			case "@module", "@caller":
				key = key[1:]
			}
			if key == "" {
				key = "!BADKEY"
			}
			r.AddAttrs(slog.Any(key, v))
		}
	}
	add(s.implied)
	add(args)
	_ = s.l.Handler().Handle(ctx, r)
}

func (s *slogLogger) Trace(msg string, args ...any) { s.Log(hclog.Trace, msg, args...) }
func (s *slogLogger) Debug(msg string, args ...any) { s.Log(hclog.Debug, msg, args...) }
func (s *slogLogger) Info(msg string, args ...any)  { s.Log(hclog.Info, msg, args...) }
func (s *slogLogger) Warn(msg string, args ...any)  { s.Log(hclog.Warn, msg, args...) }
func (s *slogLogger) Error(msg string, args ...any) { s.Log(hclog.Error, msg, args...) }

func (s *slogLogger) enabled(l slog.Level) bool { return s.l.Enabled(context.Background(), l) }

func (s *slogLogger) IsTrace() bool { return s.enabled(levelTrace) }
func (s *slogLogger) IsDebug() bool { return s.enabled(slog.LevelDebug) }
func (s *slogLogger) IsInfo() bool  { return s.enabled(slog.LevelInfo) }
func (s *slogLogger) IsWarn() bool  { return s.enabled(slog.LevelWarn) }
func (s *slogLogger) IsError() bool { return s.enabled(slog.LevelError) }

// ImpliedArgs implements hclog.Logger.
func (s *slogLogger) ImpliedArgs() []any { return s.implied }

// With implements hclog.Logger.
func (s *slogLogger) With(args ...any) hclog.Logger {
	c := *s
	c.implied = append(append([]any(nil), s.implied...), args...)
	return &c
}

// Name implements hclog.Logger.
func (s *slogLogger) Name() string { return s.name }

// Named implements hclog.Logger.
func (s *slogLogger) Named(name string) hclog.Logger {
	c := *s
	if s.name == "" && name == s.plugin {
		c.fromPlugin = true
	}
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

// ResetNamed implements hclog.Logger.
func (s *slogLogger) ResetNamed(name string) hclog.Logger {
	c := *s
	c.name = name
	return &c
}

// SetLevel implements hclog.Logger: the level is the slog handler's.
func (s *slogLogger) SetLevel(hclog.Level) {}

// GetLevel implements hclog.Logger: the lowest level the slog handler takes (go-plugin
// skips parsing lines below it).
func (s *slogLogger) GetLevel() hclog.Level {
	switch {
	case s.IsTrace():
		return hclog.Trace
	case s.IsDebug():
		return hclog.Debug
	case s.IsInfo():
		return hclog.Info
	case s.IsWarn():
		return hclog.Warn
	case s.IsError():
		return hclog.Error
	}
	return hclog.Off
}

// levelName is the hclog name of the lowest level the logger takes.
func (s *slogLogger) levelName() string {
	switch s.GetLevel() {
	case hclog.Trace:
		return "trace"
	case hclog.Debug:
		return "debug"
	case hclog.Info:
		return "info"
	case hclog.Warn:
		return "warn"
	}
	return "error"
}

// StandardLogger implements hclog.Logger.
func (s *slogLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(s.StandardWriter(opts), "", 0)
}

// StandardWriter implements hclog.Logger: each line at info (or the forced level).
func (s *slogLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return writerFunc(func(p []byte) (int, error) {
		for _, line := range strings.Split(string(bytes.TrimRight(p, "\n")), "\n") {
			s.Log(level, line)
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
