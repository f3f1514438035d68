//go:build !linux

package slapdtest

import "syscall"

// procAttr: only Linux can tie slapd's life to the test process; elsewhere cleanup kills it.
func procAttr() *syscall.SysProcAttr { return nil }

// Freeze is only available on Linux.
func (s *Server) Freeze() (thaw func()) {
	s.t.Skip("freezing slapd needs SIGSTOP (Linux)")
	return func() {}
}
