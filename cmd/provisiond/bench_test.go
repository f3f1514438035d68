package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"
)

// envAsMain makes the test binary run main() instead of the tests: bench starts its
// children (generate-hr, scim-server, otlp-sink) as os.Executable(), which in a test is
// this binary.
const envAsMain = "PROVISIOND_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envAsMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBench runs the bench command end to end on a small export: an initial cycle into a
// SCIM server child, the replay, and the second run with telemetry exported to the OTLP
// sink child. It checks what bench reports, not how fast anything was.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Setenv(envAsMain, "1")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	var out bytes.Buffer
	o := benchOptions{users: 600, workers: 4, batch: 50, replay: true, telemetry: true, jsonOut: true, store: "sqlite"}
	if err := runBench(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	var r BenchResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if r.Users != 600 || r.Objects != 600 || r.Exported == 0 || r.CycleState == "" || r.Requests == 0 {
		t.Fatalf("result %+v", r)
	}
	if r.EngineSeconds <= 0 || r.ReplaySeconds <= 0 || r.Ratio <= 0 || r.EngineCPUSeconds <= 0 || r.ServerCPUSeconds <= 0 || r.ReplayServerCPUSeconds <= 0 {
		t.Errorf("missing timings: %+v", r)
	}
	// The file source emits managers before their reports: a manager is set on create, so
	// follow-up PATCHes (a manager set once it exists) stay rare — only where a level of
	// the tree starts inside the batch holding the managers' last users.
	if post, patch := r.RequestsByMethod["POST"], r.RequestsByMethod["PATCH"]; post == 0 || patch*20 > post {
		t.Errorf("requests by method %v: want POSTs and under 5%% PATCHes", r.RequestsByMethod)
	}
	tr := r.WithTelemetry
	if tr == nil {
		t.Fatal("no telemetry run")
	}
	if tr.SinkRequests == 0 || tr.SinkBytes == 0 || tr.Ratio <= 0 || tr.CPURatio <= 0 || tr.Exported != r.Exported || tr.CycleState != r.CycleState {
		t.Errorf("telemetry run %+v (first run exported %d, %s)", *tr, r.Exported, r.CycleState)
	}
	if v, ok := os.LookupEnv("OTEL_TRACES_EXPORTER"); ok && v != "none" {
		t.Errorf("OTEL_TRACES_EXPORTER left as %q", v)
	}
}

// TestBenchNoReplay: without the replay the requests are still counted (not kept).
func TestBenchNoReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Setenv(envAsMain, "1")
	var out bytes.Buffer
	o := benchOptions{users: 200, workers: 2, batch: 50, jsonOut: true, store: "sqlite"}
	if err := runBench(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	var r BenchResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	sum := 0
	for _, n := range r.RequestsByMethod {
		sum += n
	}
	if r.Requests == 0 || sum != r.Requests || r.RequestsByMethod["POST"] == 0 || r.ReplaySeconds != 0 {
		t.Errorf("requests %d, by method %v, replay %v s", r.Requests, r.RequestsByMethod, r.ReplaySeconds)
	}
}
