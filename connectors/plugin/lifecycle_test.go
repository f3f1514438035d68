package plugin

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// TestHandshakeErrors: every way a start fails says why, naming both protocol versions
// on a mismatch.
func TestHandshakeErrors(t *testing.T) {
	bin := binPath(t, "testplugin")
	dir := t.TempDir()
	script := filepath.Join(dir, "not-a-plugin")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello\necho 'something went wrong' >&2\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"protocol version", Config{Path: bin, Args: []string{"-protocol", "99"}},
			[]string{"protocol version 99", "speaks version 1"}},
		{"magic cookie", Config{Path: bin, Args: []string{"-cookie", "another-host"}},
			[]string{"did not complete the handshake", "is a provisiond connector plugin"}},
		{"not a plugin", Config{Path: script},
			// What it wrote instead of the handshake is named; its stderr ("something went
			// wrong") is added when it arrived first, which the OS does not promise.
			[]string{"did not complete the handshake", "hello"}},
		{"missing", Config{Path: filepath.Join(dir, "missing")}, []string{"no such file"}},
		{"checksum", Config{Path: bin, Checksum: make([]byte, 32)}, []string{"SHA-256", "not started"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = slog.New(slog.DiscardHandler)
			tc.cfg.StartTimeout = 10 * time.Second
			c, err := Open(context.Background(), tc.cfg)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestPluginLogs: the plugin's log records become host slog records with their level,
// message, fields and the plugin's name; a plain stderr line is kept at debug level.
func TestPluginLogs(t *testing.T) {
	sink := &logSink{min: levelTrace}
	c := open(t, "testplugin", Config{Name: "hr-plugin", Logger: slog.New(sink), Args: []string{"-stderr", "a plain line"}})
	tgt, _ := c.Target()
	if err := tgt.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	find := func(msg string) (slog.Record, map[string]any) {
		var found slog.Record
		waitFor(t, "log record "+msg, 5*time.Second, func() bool {
			for _, r := range sink.records() {
				if r.Message == msg {
					found = r
					return true
				}
			}
			return false
		})
		attrs := map[string]any{}
		found.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.Any()
			return true
		})
		return found, attrs
	}
	r, a := find("target test warning")
	if r.Level != slog.LevelWarn || a["plugin"] != "hr-plugin" || a["reason"] != "just testing" {
		t.Errorf("warning record: %v %v", r.Level, a)
	}
	if m, ok := a["nested"].(map[string]any); !ok || m["k"] != "v" {
		t.Errorf("nested field: %#v", a["nested"])
	}
	r, a = find("target test")
	if r.Level != slog.LevelInfo || a["user"] != "alice" || a["attempt"] != float64(2) || r.Time.IsZero() {
		t.Errorf("info record: %v %v %v", r.Level, r.Time, a)
	}
	r, _ = find("target test starting")
	if r.Level != slog.LevelDebug {
		t.Errorf("debug record at %v", r.Level)
	}
	r, a = find("a plain line")
	if r.Level != slog.LevelDebug || a["plugin"] != "hr-plugin" {
		t.Errorf("plain line: %v %v", r.Level, a)
	}
	r, _ = find("plugin started")
	if r.Level != slog.LevelInfo {
		t.Errorf("host record at %v", r.Level)
	}
}

// TestPluginEnvironment: the plugin gets the daemon's environment without the PROVISIOND_*
// variables (the API tokens), the host's log level (so that it does not write records the
// host drops), and Config.Env.
func TestPluginEnvironment(t *testing.T) {
	t.Setenv("PROVISIOND_ADMIN_TOKEN", "secret-admin-token")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
	c := &Conn{cfg: Config{Env: []string{"MY_PLUGIN_TOKEN=t0k3n"}},
		hlog: newSlogLogger(slog.New(&logSink{min: slog.LevelWarn}), "p")}
	env := strings.Join(c.env(), "\n") + "\n"
	for _, want := range []string{"PROVISIOND_PLUGIN_LOG_LEVEL=warn\n", "MY_PLUGIN_TOKEN=t0k3n\n", "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("environment lacks %q", want)
		}
	}
	if strings.Contains(env, "secret-admin-token") {
		t.Error("the daemon's API token reached the plugin's environment")
	}
}

// TestCrashAndRestart: a plugin that dies during a call fails that call with a connection
// error, fails calls while it is down, and is restarted with backoff.
func TestCrashAndRestart(t *testing.T) {
	sink := &logSink{min: slog.LevelInfo}
	c := open(t, "testplugin", Config{Logger: slog.New(sink), MinRestartDelay: 300 * time.Millisecond})
	tgt, _ := c.Target()
	pid := c.Pid()
	_, err := tgt.Create(context.Background(), connectors.TypeUser, connectors.Attributes{"userName": "fail:exit"})
	ce := connectors.AsError(err)
	if ce.Class != connectors.ClassConnection || ce.Code != "ConnectionFailed" || !strings.Contains(ce.Message, "exit status 3") ||
		ce.Request != "plugin testplugin Target.Create" {
		t.Fatalf("crash during the call: %#v", ce)
	}
	if err := tgt.Test(context.Background()); connectors.ClassOf(err) != connectors.ClassConnection || !strings.Contains(err.Error(), "being restarted") {
		t.Fatalf("while down: %v", err)
	}
	waitFor(t, "the restart", 10*time.Second, func() bool { return c.Pid() != 0 && c.Pid() != pid })
	if c.Pid() == pid || c.Restarts() != 1 {
		t.Fatalf("pid %d (was %d), restarts %d", c.Pid(), pid, c.Restarts())
	}
	if err := tgt.Test(context.Background()); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	// Killed from outside: detected by the process exit, restarted again.
	pid = c.Pid()
	if err := killPid(pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second restart", 10*time.Second, func() bool { return c.Pid() != 0 && c.Pid() != pid })
	if err := tgt.Test(context.Background()); err != nil {
		t.Fatalf("after the second restart: %v", err)
	}
	var down, restarted bool
	for _, r := range sink.records() {
		down = down || (r.Message == "plugin is down; restarting" && r.Level == slog.LevelError)
		restarted = restarted || r.Message == "plugin restarted"
	}
	if !down || !restarted {
		t.Errorf("lifecycle not logged (down %v, restarted %v)", down, restarted)
	}
}

// TestCallsRecorded: the connector calls the plugin made reach the caller's call log,
// with their timing, on success and on failure.
func TestCallsRecorded(t *testing.T) {
	c := open(t, "testplugin", Config{})
	tgt, _ := c.Target()
	ctx, log := connectors.WithCallLog(context.Background())
	before := time.Now().Add(-time.Second)
	if _, err := tgt.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "a"}); err != nil {
		t.Fatal(err)
	}
	_, _ = tgt.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "fail:conflict"})
	calls := log.Take()
	if len(calls) != 2 || calls[0].Method != "POST" || calls[0].Target != "/test/create" || calls[0].Status != 200 ||
		calls[1].Status != 500 || calls[0].Start.Before(before) || calls[0].DurationInMilliseconds < 0 {
		t.Fatalf("calls: %+v", calls)
	}
	// Without a call log, nothing is asked for.
	if _, err := tgt.Find(context.Background(), connectors.TypeUser, "userName", "a"); err != nil {
		t.Fatal(err)
	}
}
