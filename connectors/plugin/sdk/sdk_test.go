package sdk

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// TestLogFormat: records are hclog JSON lines that go-plugin's host parses (level names,
// message, timestamp layout), with the attributes as fields.
func TestLogFormat(t *testing.T) {
	cases := []struct {
		level slog.Level
		want  string
	}{{levelTrace, "trace"}, {slog.LevelDebug, "debug"}, {slog.LevelInfo, "info"}, {slog.LevelWarn, "warn"}, {slog.LevelError, "error"}}
	for _, tc := range cases {
		var buf bytes.Buffer
		slog.New(newHandler(&buf, levelTrace)).Log(t.Context(), tc.level, "hello", "user", "alice", "n", 2, slog.Group("g", "k", "v"))
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v: %s", tc.want, err, buf.Bytes())
		}
		if m["@level"] != tc.want || m["@message"] != "hello" || m["user"] != "alice" || m["n"] != float64(2) {
			t.Errorf("%s: %v", tc.want, m)
		}
		if g, _ := m["g"].(map[string]any); g["k"] != "v" {
			t.Errorf("group: %v", m["g"])
		}
		if _, err := time.Parse(hclogTime, m["@timestamp"].(string)); err != nil {
			t.Errorf("timestamp %v: %v", m["@timestamp"], err)
		}
	}
	var buf bytes.Buffer
	slog.New(newHandler(&buf, slog.LevelWarn)).Info("below the level")
	if buf.Len() != 0 {
		t.Errorf("a record below the level was written: %s", buf.Bytes())
	}
}

func TestLevelFromEnv(t *testing.T) {
	for env, want := range map[string]slog.Level{"trace": levelTrace, "DEBUG": slog.LevelDebug, "": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		t.Setenv("PROVISIOND_PLUGIN_LOG_LEVEL", env)
		if got := levelFromEnv(); got != want {
			t.Errorf("%q: %v, want %v", env, got, want)
		}
	}
}
