//go:build !unix

package cputime

import "time"

// Process returns ok false: getrusage is not available here.
func Process() (d time.Duration, ok bool) { return 0, false }
