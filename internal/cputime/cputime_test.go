package cputime

import (
	"runtime"
	"testing"
)

// TestProcess: CPU time is available on unix, never decreases, and grows with work.
func TestProcess(t *testing.T) {
	a, ok := Process()
	if !ok {
		if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
			t.Skip("no getrusage")
		}
		t.Fatal("Process not available")
	}
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	b, _ := Process()
	if b <= a || x == 0 {
		t.Errorf("CPU time %v then %v after a busy loop", a, b)
	}
}
