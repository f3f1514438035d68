//go:build !unix

package scimserver

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
