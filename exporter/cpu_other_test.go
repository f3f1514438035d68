//go:build !unix

package exporter

import "time"

// processCPU is not available here: benchmarks report no cpu-ns/op.
func processCPU() (time.Duration, bool) { return 0, false }
