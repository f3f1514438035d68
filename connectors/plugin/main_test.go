package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests run real plugin processes: TestMain builds the plugins with the Go toolchain
// into a temporary directory (with -race when PROVISIOND_PLUGIN_RACE=1). Without a Go
// toolchain the tests that need them are skipped.
var (
	binDir   string
	buildErr error
	// plugin binaries by name
	bins = map[string]string{
		"testplugin": "./internal/testplugin",
		"csv":        "../../examples/csv-target-plugin",
		"scim":       "../../examples/scim-target-plugin",
	}
)

// runFakeDaemon is set on Linux (parentdeath_linux_test.go).
var runFakeDaemon func()

func TestMain(m *testing.M) {
	if os.Getenv("PROVISIOND_TEST_FAKE_DAEMON") != "" && runFakeDaemon != nil {
		runFakeDaemon()
		return
	}
	if os.Getenv(scimServerEnv) != "" {
		runSCIMServer()
		return
	}
	dir, err := os.MkdirTemp("", "provisiond-plugin-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	buildErr = buildPlugins(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildPlugins(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no Go toolchain on PATH to build the plugin binaries: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if os.Getenv("PROVISIOND_PLUGIN_RACE") == "1" {
		args = append(args, "-race")
	}
	var pkgs []string
	for _, p := range bins {
		pkgs = append(pkgs, p)
	}
	cmd := exec.Command(goBin, append(args, pkgs...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build of the plugins failed: %v\n%s", err, out)
	}
	return nil
}

// binPath returns the path of a built plugin, or fails/skips the test.
func binPath(t testing.TB, name string) string {
	t.Helper()
	if buildErr != nil {
		if strings.Contains(buildErr.Error(), "no Go toolchain") {
			t.Skip(buildErr)
		}
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, filepath.Base(bins[name]))
}

// logSink collects slog records.
type logSink struct {
	mu   sync.Mutex
	recs []slog.Record
	min  slog.Level
}

func (s *logSink) Enabled(_ context.Context, l slog.Level) bool { return l >= s.min }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, r.Clone())
	s.mu.Unlock()
	return nil
}
func (s *logSink) WithAttrs(as []slog.Attr) slog.Handler { return &attrsHandler{s, as} }
func (s *logSink) WithGroup(string) slog.Handler         { return s }

func (s *logSink) records() []slog.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slog.Record(nil), s.recs...)
}

type attrsHandler struct {
	*logSink
	as []slog.Attr
}

func (h *attrsHandler) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.as...)
	return h.logSink.Handle(ctx, r)
}
func (h *attrsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrsHandler{h.logSink, append(append([]slog.Attr(nil), h.as...), as...)}
}

// open starts a plugin for a test, closed at its end.
func open(t testing.TB, name string, cfg Config) *Conn {
	t.Helper()
	cfg.Path = binPath(t, name)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Env == nil {
		cfg.Env = []string{"OTEL_TRACES_EXPORTER=none"}
	}
	if cfg.MinRestartDelay == 0 {
		cfg.MinRestartDelay = 20 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitFor polls cond until it holds or the bounded wait ends.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killPid kills a process at once (SIGKILL on Unix).
func killPid(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
