//go:build !unix

package main

import "time"

// processCPU is 0 where getrusage is not available: bench reports no CPU times there.
func processCPU() time.Duration { return 0 }
