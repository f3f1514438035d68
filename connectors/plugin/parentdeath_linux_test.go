package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fake daemon is this test binary re-executed: it opens a plugin, writes the plugin's
// pid to a file and waits to be killed.
const (
	fakeDaemonEnv = "PROVISIOND_TEST_FAKE_DAEMON" // "pdeathsig" or "poll"
	fakePluginEnv = "PROVISIOND_TEST_FAKE_DAEMON_PLUGIN"
	fakePidEnv    = "PROVISIOND_TEST_FAKE_DAEMON_PIDFILE"
)

func init() { runFakeDaemon = fakeDaemon }

func fakeDaemon() {
	if os.Getenv(fakeDaemonEnv) == "poll" {
		noParentDeathSignal = true // only the SDK's parent watch is left
	}
	c, err := Open(context.Background(), Config{Path: os.Getenv(fakePluginEnv), Logger: slog.New(slog.DiscardHandler),
		Env: []string{"OTEL_TRACES_EXPORTER=none"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake daemon:", err)
		os.Exit(1)
	}
	pidFile := os.Getenv(fakePidEnv)
	if err := os.WriteFile(pidFile+".tmp", []byte(strconv.Itoa(c.Pid())), 0o644); err != nil {
		os.Exit(1)
	}
	_ = os.Rename(pidFile+".tmp", pidFile)
	// Busy goroutines, so that the runtime has several threads when it dies.
	for range 4 {
		go func() {
			for {
				time.Sleep(time.Millisecond)
			}
		}()
	}
	select {}
}

// TestNoOrphanAfterDaemonKill: after kill -9 of the daemon, its plugin does not live on.
// This process becomes a child subreaper, so the orphaned plugin is re-parented to it and
// its end can be observed (and reaped) exactly: by SIGKILL from the parent-death signal,
// or, with that signal off, by exit status 2 from the SDK's parent watch.
func TestNoOrphanAfterDaemonKill(t *testing.T) {
	bin := binPath(t, "testplugin")
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Skipf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	for _, mode := range []string{"pdeathsig", "poll"} {
		t.Run(mode, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "plugin.pid")
			daemon := exec.Command(os.Args[0], "-test.run=^$")
			daemon.Env = append(os.Environ(), fakeDaemonEnv+"="+mode, fakePluginEnv+"="+bin, fakePidEnv+"="+pidFile)
			daemon.Stderr = os.Stderr
			if err := daemon.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- daemon.Wait() }()
			var pid int
			waitFor(t, "the plugin's pid", 30*time.Second, func() bool {
				b, err := os.ReadFile(pidFile)
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				return err == nil && pid > 0
			})
			if err := syscall.Kill(pid, 0); err != nil {
				t.Fatalf("plugin %d not running: %v", pid, err)
			}
			if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-exited
			reaped := make(chan syscall.WaitStatus, 1)
			go func() {
				var ws syscall.WaitStatus
				for {
					_, err := syscall.Wait4(pid, &ws, 0, nil)
					if err != syscall.EINTR {
						break
					}
				}
				reaped <- ws
			}()
			select {
			case ws := <-reaped:
				switch mode {
				case "pdeathsig":
					if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
						t.Errorf("plugin ended with %v, want killed by SIGKILL (parent-death signal)", describe(ws))
					}
				case "poll":
					if !ws.Exited() || ws.ExitStatus() != 2 {
						t.Errorf("plugin ended with %v, want exit status 2 (the SDK's parent watch)", describe(ws))
					}
				}
			case <-time.After(15 * time.Second):
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("plugin %d still alive 15s after kill -9 of its daemon", pid)
			}
		})
	}
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}
