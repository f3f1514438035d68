// Package cputime reads the process's CPU time, which benchmarks report beside wall time:
// on a shared machine wall time includes waiting for other processes, and work done on
// background goroutines (exporters, the garbage collector) shows only there.
package cputime
