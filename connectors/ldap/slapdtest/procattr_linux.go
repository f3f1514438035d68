package slapdtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// procAttr kills slapd when the test process dies, so that no server outlives its test.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// Freeze stops slapd (SIGSTOP): connections stay open and requests hang, as with an
// overloaded server. thaw resumes it; cleanup resumes it too.
func (s *Server) Freeze() (thaw func()) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatal("slapd is not running")
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	thaw = func() { _ = cmd.Process.Signal(syscall.SIGCONT) }
	s.t.Cleanup(thaw)
	// The signal is delivered asynchronously: wait (at most 5s) until every thread stopped.
	deadline := time.Now().Add(5 * time.Second)
	for !stopped(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			s.t.Fatal("slapd did not stop within 5s of SIGSTOP")
		}
		time.Sleep(time.Millisecond)
	}
	return thaw
}

// stopped reports whether every thread of process pid is in the stopped state.
func stopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			return false
		}
		// pid (comm) state ...: the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' && b[i+2] != 't' {
			return false
		}
	}
	return true
}
