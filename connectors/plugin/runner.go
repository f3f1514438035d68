package plugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-plugin/runner"
)

// procRunner is go-plugin's runner.Runner for one plugin process. It forks the process from
// a goroutine locked to its OS thread for the child's whole life: on Linux the child gets
// SIGKILL when that thread ends (Pdeathsig is tied to the forking thread, not the process),
// which happens only when the child has exited or the daemon dies, even by kill -9.
type procRunner struct {
	cmd  *exec.Cmd
	name string

	stdoutR, stderrR *os.File
	stdout           *lineTap

	pid     int
	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error
	closeR  sync.Once
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner prepares cmd (not started): its standard output and error go to pipes
// owned by the runner (closed once go-plugin has read them to the end).
func newProcRunner(cmd *exec.Cmd, name string) (*procRunner, error) {
	or, ow, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		or.Close()
		ow.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = ow, ew
	setParentDeathSignal(cmd)
	return &procRunner{cmd: cmd, name: name, stdoutR: or, stderrR: er, stdout: &lineTap{r: or}, done: make(chan struct{})}, nil
}

// Start implements runner.Runner: it forks on a locked OS thread that lives until the
// process has exited.
func (r *procRunner) Start(context.Context) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: when this goroutine returns, its thread exits with it (after the
		// child has exited), so no other goroutine can ever run on the parent thread.
		err := r.cmd.Start()
		// The write ends now belong to the child.
		r.cmd.Stdout.(*os.File).Close()
		r.cmd.Stderr.(*os.File).Close()
		if err != nil {
			close(r.done)
			started <- err
			return
		}
		r.pid = r.cmd.Process.Pid
		started <- nil
		r.waitErr = r.cmd.Wait()
		close(r.done)
	}()
	if err := <-started; err != nil {
		r.closeReaders()
		return err
	}
	return nil
}

// Wait implements runner.Runner.
func (r *procRunner) Wait(context.Context) error {
	<-r.done
	r.closeReaders()
	return r.waitErr
}

func (r *procRunner) closeReaders() {
	r.closeR.Do(func() {
		r.stdoutR.Close()
		r.stderrR.Close()
	})
}

// Kill implements runner.Runner.
func (r *procRunner) Kill(context.Context) error {
	select {
	case <-r.done:
		return nil
	default:
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// exited reports whether the process has exited.
func (r *procRunner) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Stdout implements runner.Runner (the handshake line is kept, see handshakeLine).
func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }

// Stderr implements runner.Runner.
func (r *procRunner) Stderr() io.ReadCloser { return r.stderrR }

// Name implements runner.Runner: the plugin's name.
func (r *procRunner) Name() string { return r.name }

// ID implements runner.Runner: the pid.
func (r *procRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

// Diagnose implements runner.Runner.
func (r *procRunner) Diagnose(context.Context) string {
	return fmt.Sprintf("Is %s a provisiond connector plugin built for this platform (%s/%s), executable, with its libraries?", r.cmd.Path, runtime.GOOS, runtime.GOARCH)
}

// PluginToHost implements runner.AddrTranslator (same host: unchanged).
func (r *procRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }

// HostToPlugin implements runner.AddrTranslator.
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

// handshakeLine returns the first line the plugin wrote on standard output (the go-plugin
// handshake), once read.
func (r *procRunner) handshakeLine() string { return r.stdout.firstLine() }

// lineTap reads through and keeps the first line.
type lineTap struct {
	r    io.ReadCloser
	mu   sync.Mutex
	buf  []byte
	done bool
}

func (t *lineTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.mu.Lock()
	if !t.done && n > 0 {
		t.buf = append(t.buf, p[:n]...)
		if i := strings.IndexByte(string(t.buf), '\n'); i >= 0 || len(t.buf) > 4096 {
			if i >= 0 {
				t.buf = t.buf[:i]
			}
			t.done = true
		}
	}
	t.mu.Unlock()
	return n, err
}

func (t *lineTap) Close() error { return t.r.Close() }

func (t *lineTap) firstLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// tail keeps the last bytes written to it (the plugin's standard error, for start errors).
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

// lastLines returns the last non-empty lines kept, joined with "; ".
func (t *tail) lastLines(n int) string {
	t.mu.Lock()
	s := string(t.buf)
	t.mu.Unlock()
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
