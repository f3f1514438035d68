package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/file/hrgen"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/internal/cputime"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/postgres"
	"github.com/provisiond/provisiond/store/sqlite"
)

type benchOptions struct {
	users, groups, workers, batch, conc int
	replay                              bool
	telemetry                           bool
	keep                                bool
	jsonOut                             bool
	cpuProfile, telCPUProfile           string
	// store is "sqlite" (a file in the temporary directory) or "postgres" (a schema of
	// its own in the database dsn names, dropped afterwards).
	store, dsn string
	// latency is added by the SCIM server to every request (a remote application's round
	// trip), in both the cycle and the replay.
	latency time.Duration
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure an initial cycle (file source → SCIM server in another process over loopback) next to a bare replay of the same HTTP requests",
		Long: `bench generates an HR export of --users users, starts the embedded SCIM server in a child
process (provisiond scim-server) on a loopback port, runs one initial cycle with the SQLite
store (--store postgres: PostgreSQL, in a schema of its own), and records every HTTP request the
SCIM connector sent. It then restarts the SCIM server empty and replays the same requests with
bare net/http at the same concurrency. It prints users/s, the ratio engine/replay, the CPU time
each process used and this process's peak RSS.

With --telemetry it runs the same initial cycle a second time (fresh store, fresh SCIM server)
with full telemetry — traces, metrics and logs exported over OTLP/HTTP — and prints the ratio
of the two. The OTLP endpoint is $OTEL_EXPORTER_OTLP_ENDPOINT when set; otherwise a sink in a
child process (provisiond otlp-sink) that reads and discards what it receives, so the figure
is provisiond's own cost. The first run always has every OTEL_*_EXPORTER set to none.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd.Context(), o, cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	f.IntVar(&o.users, "users", 100000, "users in the generated HR export")
	f.IntVar(&o.groups, "groups", 0, "groups in the generated HR export")
	f.IntVar(&o.workers, "workers", 8, "engine workers per job")
	f.IntVar(&o.batch, "batch", 500, "objects per store batch")
	f.IntVar(&o.conc, "replay-concurrency", 0, "concurrency of the bare replay (default: --workers)")
	f.BoolVar(&o.replay, "replay", true, "record the requests and replay them bare (uses memory for the recording)")
	f.BoolVar(&o.telemetry, "telemetry", false, "run the cycle a second time with full OTLP telemetry and print the overhead")
	f.DurationVar(&o.latency, "target-latency", 0, "latency the SCIM server adds to every request, as a remote application would (e.g. 20ms; use more --workers with it)")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	f.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the engine run to this file")
	f.StringVar(&o.telCPUProfile, "telemetry-cpuprofile", "", "write a CPU profile of the --telemetry run to this file")
	f.StringVar(&o.store, "store", "sqlite", "store: sqlite, or postgres (in a schema of its own, dropped afterwards)")
	f.StringVar(&o.dsn, "dsn", "", "PostgreSQL connection string for --store postgres (default: $"+envBenchDSN+"; prefer the variable: a command line is visible to other users)")
	return cmd
}

// envBenchDSN is the variable bench --store postgres reads the DSN from.
const envBenchDSN = "PROVISIOND_BENCH_DSN"

// BenchResult is what bench measured. CPU times are user plus system seconds.
type BenchResult struct {
	Users    int   `json:"users"`
	Objects  int64 `json:"objects"`
	Requests int   `json:"requests"`
	// RequestsByMethod counts the requests by HTTP method (POST creates, PATCH
	// updates such as a manager set after its user was created).
	RequestsByMethod map[string]int `json:"requestsByMethod,omitempty"`
	EngineSeconds    float64        `json:"engineSeconds"`
	UsersPerSecond   float64        `json:"usersPerSecond"`
	// EngineCPUSeconds is this process's CPU time during the cycle; ServerCPUSeconds the
	// SCIM server's (its child process) over its whole life.
	EngineCPUSeconds float64 `json:"engineCpuSeconds"`
	ServerCPUSeconds float64 `json:"serverCpuSeconds"`
	ReplaySeconds    float64 `json:"replaySeconds,omitempty"`
	// ReplayCPUSeconds is the replaying client's CPU time, ReplayServerCPUSeconds the
	// SCIM server's during the replay.
	ReplayCPUSeconds       float64 `json:"replayCpuSeconds,omitempty"`
	ReplayServerCPUSeconds float64 `json:"replayServerCpuSeconds,omitempty"`
	Ratio                  float64 `json:"ratioEngineToReplay,omitempty"`
	PeakRSSMiB             float64 `json:"peakRssMiB"`
	CycleState             string  `json:"cycleState"`
	Exported               int64   `json:"exported"`
	Failed                 int64   `json:"failed"`
	GOMAXPROCS             int     `json:"gomaxprocs"`
	Telemetry              string  `json:"telemetry"`
	Store                  string  `json:"store"`
	// TargetLatencyMs is the latency the SCIM server added to every request.
	TargetLatencyMs float64 `json:"targetLatencyMs,omitempty"`
	// WithTelemetry is the second run of --telemetry.
	WithTelemetry *TelemetryRun `json:"withTelemetry,omitempty"`
}

// TelemetryRun is the cycle run again with full telemetry (bench --telemetry).
type TelemetryRun struct {
	Endpoint      string  `json:"endpoint"`
	EngineSeconds float64 `json:"engineSeconds"`
	// FlushSeconds is the time the final flush and shutdown of the exporters took after
	// the cycle; Ratio counts it.
	FlushSeconds     float64 `json:"flushSeconds"`
	EngineCPUSeconds float64 `json:"engineCpuSeconds"`
	UsersPerSecond   float64 `json:"usersPerSecond"`
	// Ratio is (cycle + flush) with telemetry over the cycle without.
	Ratio float64 `json:"ratioToNoTelemetry"`
	// CPURatio is the same for this process's CPU time.
	CPURatio float64 `json:"cpuRatioToNoTelemetry"`
	// SinkRequests and SinkBytes are what the built-in sink received (0 with an external
	// endpoint).
	SinkRequests int64  `json:"sinkRequests,omitempty"`
	SinkBytes    int64  `json:"sinkBytes,omitempty"`
	CycleState   string `json:"cycleState"`
	Exported     int64  `json:"exported"`
}

// cycleMeasure is one measured initial cycle.
type cycleMeasure struct {
	elapsed, flush, cpu, serverCPU time.Duration
	cycle                          provisioning.Cycle
	reqs                           []recorded     // the requests sent, when recorded
	byMethod                       map[string]int // requests sent, by method
}

func runBench(ctx context.Context, o benchOptions, out io.Writer) error {
	if o.users < 1 {
		return &exitError{code: 2, err: errors.New("--users must be at least 1")}
	}
	if o.conc == 0 {
		o.conc = o.workers
	}
	if o.dsn == "" {
		o.dsn = os.Getenv(envBenchDSN)
	}
	switch {
	case o.store != "sqlite" && o.store != "postgres":
		return &exitError{code: 2, err: fmt.Errorf("--store %q: want sqlite or postgres", o.store)}
	case o.store == "postgres" && o.dsn == "":
		return &exitError{code: 2, err: errors.New("--store postgres needs --dsn or " + envBenchDSN)}
	}
	dir, err := os.MkdirTemp("", "provisiond-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	hr := filepath.Join(dir, "hr.json")
	// Generate the export in a child process, so its memory does not count in this one's
	// peak RSS.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	gen := exec.CommandContext(ctx, exe, "generate-hr", "--users", strconv.Itoa(o.users), "--groups", strconv.Itoa(o.groups), "--seed", "42", "--out", hr)
	if b, err := gen.CombinedOutput(); err != nil {
		return fmt.Errorf("generate the HR export: %v: %s", err, b)
	}

	// The first run never exports telemetry, whatever the environment says.
	saved := map[string]string{}
	for _, k := range otelBenchVars {
		if v, ok := os.LookupEnv(k); ok {
			saved[k] = v
		}
	}
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"} {
		_ = os.Setenv(k, "none")
	}
	defer func() { // the OTEL_* environment is as it was after bench
		for _, k := range otelBenchVars {
			if v, ok := saved[k]; ok {
				_ = os.Setenv(k, v)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}()
	m, err := benchCycle(ctx, o, dir, hr, "run1", o.replay, o.cpuProfile)
	if err != nil {
		return err
	}
	c := m.cycle
	res := BenchResult{Store: o.store, Users: o.users, Objects: c.CountImported, EngineSeconds: m.elapsed.Seconds(), UsersPerSecond: float64(o.users) / m.elapsed.Seconds(),
		EngineCPUSeconds: m.cpu.Seconds(), ServerCPUSeconds: m.serverCPU.Seconds(),
		PeakRSSMiB: peakRSSMiB(), CycleState: string(c.State), Exported: c.CountExported, Failed: c.CountFailed, GOMAXPROCS: runtime.GOMAXPROCS(0), RequestsByMethod: m.byMethod,
		Telemetry: "none (OTEL_*_EXPORTER=none)", TargetLatencyMs: float64(o.latency) / float64(time.Millisecond)}
	for _, n := range m.byMethod {
		res.Requests += n
	}

	if o.telemetry {
		tr, err := benchTelemetry(ctx, o, dir, hr, saved, m)
		if err != nil {
			return err
		}
		res.WithTelemetry = tr
	}

	if o.replay {
		srv2, err := startSCIMChild(ctx, o.latency)
		if err != nil {
			return err
		}
		cpu0 := processCPU()
		d, err := replay(ctx, srv2, m.reqs, o.conc)
		res.ReplayCPUSeconds = (processCPU() - cpu0).Seconds()
		res.ReplayServerCPUSeconds = srv2.stop().Seconds()
		if err != nil {
			return err
		}
		res.ReplaySeconds = d.Seconds()
		res.Ratio = res.EngineSeconds / res.ReplaySeconds
	}
	if o.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(out, "initial cycle: %d users (%d objects imported, %d exported, %d failed, state %s)\n", res.Users, res.Objects, res.Exported, res.Failed, res.CycleState)
	fmt.Fprintf(out, "engine:        %.2fs  %.0f users/s  (%d HTTP requests%s, GOMAXPROCS %d)\n", res.EngineSeconds, res.UsersPerSecond, res.Requests, byMethod(res.RequestsByMethod), res.GOMAXPROCS)
	fmt.Fprintf(out, "  CPU:         provisiond %.2fs (%.0f µs/user), SCIM server %.2fs\n", res.EngineCPUSeconds, 1e6*res.EngineCPUSeconds/float64(res.Users), res.ServerCPUSeconds)
	if o.replay {
		fmt.Fprintf(out, "bare replay:   %.2fs  (same requests, net/http, concurrency %d)\n", res.ReplaySeconds, o.conc)
		fmt.Fprintf(out, "  CPU:         client %.2fs, SCIM server %.2fs\n", res.ReplayCPUSeconds, res.ReplayServerCPUSeconds)
		fmt.Fprintf(out, "ratio:         %.2fx engine / bare replay\n", res.Ratio)
	}
	if t := res.WithTelemetry; t != nil {
		fmt.Fprintf(out, "telemetry:     %.2fs + %.2fs flush  %.0f users/s  (OTLP/HTTP to %s)\n", t.EngineSeconds, t.FlushSeconds, t.UsersPerSecond, t.Endpoint)
		if t.SinkRequests > 0 {
			fmt.Fprintf(out, "  sink:        %d requests, %.1f MiB received\n", t.SinkRequests, float64(t.SinkBytes)/(1<<20))
		}
		fmt.Fprintf(out, "  CPU:         provisiond %.2fs (%.0f µs/user)\n", t.EngineCPUSeconds, 1e6*t.EngineCPUSeconds/float64(res.Users))
		fmt.Fprintf(out, "  overhead:    %.3fx time, %.3fx CPU (full telemetry / none)\n", t.Ratio, t.CPURatio)
	}
	fmt.Fprintf(out, "peak RSS:      %.0f MiB (this process; the SCIM server runs in its own)\n", res.PeakRSSMiB)
	fmt.Fprintf(out, "store:         %s\n", res.Store)
	if o.latency > 0 {
		fmt.Fprintf(out, "target:        %s added to every request\n", o.latency)
	}
	return nil
}

// byMethod spells request counts by method: ": 850 POST, 12 PATCH".
func byMethod(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	methods := make([]string, 0, len(m))
	for k := range m {
		methods = append(methods, k)
	}
	sort.Slice(methods, func(i, j int) bool {
		return m[methods[i]] > m[methods[j]] || m[methods[i]] == m[methods[j]] && methods[i] < methods[j]
	})
	parts := make([]string, len(methods))
	for i, k := range methods {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return ": " + strings.Join(parts, ", ")
}

// processCPU is this process's CPU time so far (0 where it cannot be read).
func processCPU() time.Duration {
	d, _ := cputime.Process()
	return d
}

// otelBenchVars are the OTEL_* variables bench sets for its runs (and restores).
var otelBenchVars = []string{"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"}

// benchTelemetry runs the cycle again with full OTLP export and compares it with base.
func benchTelemetry(ctx context.Context, o benchOptions, dir, hr string, saved map[string]string, base cycleMeasure) (*TelemetryRun, error) {
	endpoint := saved["OTEL_EXPORTER_OTLP_ENDPOINT"]
	var sink *otlpSinkChild
	if endpoint == "" {
		var err error
		if sink, err = startOTLPSink(ctx); err != nil {
			return nil, err
		}
		defer sink.stop()
		endpoint = sink.url
	}
	env := map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
	if p := saved["OTEL_EXPORTER_OTLP_PROTOCOL"]; p != "" && sink == nil {
		env["OTEL_EXPORTER_OTLP_PROTOCOL"] = p
	}
	for k, v := range env {
		_ = os.Setenv(k, v) // runBench restores them
	}
	m, err := benchCycle(ctx, o, dir, hr, "run2", false, o.telCPUProfile)
	if err != nil {
		return nil, err
	}
	t := &TelemetryRun{Endpoint: endpoint, EngineSeconds: m.elapsed.Seconds(), FlushSeconds: m.flush.Seconds(), EngineCPUSeconds: m.cpu.Seconds(),
		UsersPerSecond: float64(o.users) / m.elapsed.Seconds(), CycleState: string(m.cycle.State), Exported: m.cycle.CountExported,
		Ratio: (m.elapsed + m.flush).Seconds() / base.elapsed.Seconds(), CPURatio: m.cpu.Seconds() / base.cpu.Seconds()}
	if sink != nil {
		t.SinkRequests, t.SinkBytes = sink.counts()
		if t.SinkRequests == 0 {
			return nil, errors.New("the OTLP sink received nothing: telemetry was not exported")
		}
	}
	return t, nil
}

// benchCycle runs one initial cycle of the HR export into a fresh SCIM server child and a
// fresh store (named name under dir), with telemetry as the OTEL_* environment says. With
// record it keeps every HTTP request for the replay. Its CPU time includes the final
// flush of telemetry, measured apart as flush.
func benchCycle(ctx context.Context, o benchOptions, dir, hr, name string, record bool, cpuProfile string) (cycleMeasure, error) {
	var m cycleMeasure
	srv, err := startSCIMChild(ctx, o.latency)
	if err != nil {
		return m, err
	}
	defer func() {
		if srv != nil {
			srv.stop()
		}
	}()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	rec := &recorder{base: tr, on: record}
	sub := filepath.Join(dir, name)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return m, err
	}
	st, closeStore, err := openBenchStore(ctx, o, sub)
	if err != nil {
		return m, err
	}
	defer func() {
		if closeStore != nil {
			closeStore()
		}
	}()
	src, err := file.New(file.Config{Users: hr, Groups: hr, StateDir: filepath.Join(sub, "state")})
	if err != nil {
		return m, err
	}
	tel, err := setupTelemetry(ctx, newLogger(os.Stderr, "warn"))
	if err != nil {
		return m, err
	}
	telOpen := true
	defer func() {
		if telOpen {
			tel.close()
		}
	}()
	tgt, err := scim.New(ctx, scim.Config{BaseURL: srv.url, Auth: scim.AuthConfig{Type: "bearer", Token: srv.token},
		HTTPClient: tel.HTTPClient(&http.Client{Transport: rec, Timeout: 60 * time.Second}), MaxRequestsPerSecond: 1e6})
	if err != nil {
		return m, err
	}
	job := demoJob(time.Hour)
	job.ID = "bench"
	job.Settings.Workers, job.Settings.BatchSize = o.workers, o.batch
	job.Settings.DeletionThreshold = 0
	if o.groups == 0 {
		job.Groups = nil
	}
	eng := provisioning.New(provisioning.Options{Store: st, Recorder: tel.Recorder(), Observer: tel.Observer()})
	if err := eng.AddJob(ctx, job, src, tgt); err != nil {
		return m, err
	}
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return m, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return m, err
		}
	}
	cpu0 := processCPU()
	start := time.Now()
	c, err := eng.RunCycle(ctx, "bench")
	m.elapsed = time.Since(start)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return m, err
	}
	flushStart := time.Now()
	telOpen = false
	if err := tel.close(); err != nil {
		return m, fmt.Errorf("flush telemetry: %w", err)
	}
	m.flush = time.Since(flushStart)
	m.cpu = processCPU() - cpu0
	closeStore()
	closeStore = nil
	m.serverCPU = srv.stop()
	srv = nil
	m.cycle, m.reqs, m.byMethod = c, rec.reqs, rec.byMethod
	return m, nil
}

// openBenchStore opens a fresh store for bench: an SQLite file in dir, or a new schema of
// the PostgreSQL database o.dsn names. closeStore closes it (and drops the schema).
func openBenchStore(ctx context.Context, o benchOptions, dir string) (provisioning.Store, func(), error) {
	if o.store == "sqlite" {
		st, err := sqlite.Open(ctx, filepath.Join(dir, "p.db"))
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	}
	schema := "provisiond_bench_" + randomToken()[:12]
	st, drop, err := postgres.OpenSchema(ctx, o.dsn, schema)
	if err != nil {
		return nil, nil, err
	}
	return st, func() {
		st.Close()
		if err := drop(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop schema %s: %v\n", schema, err)
		}
	}, nil
}

// scimChild is the SCIM server running as `provisiond scim-server` in a child process.
type scimChild struct {
	cmd   *exec.Cmd
	url   string
	token string
}

// startSCIMChild starts the SCIM server child; a latency > 0 is set as its fault.
func startSCIMChild(ctx context.Context, latency time.Duration) (*scimChild, error) {
	tok := randomToken()
	cmd, addr, err := startChild(ctx, []string{"PROVISIOND_SCIM_TOKEN=" + tok}, "scim-server", "--deterministic-ids")
	if err != nil {
		return nil, fmt.Errorf("the SCIM server child: %w", err)
	}
	c := &scimChild{cmd: cmd, url: "http://" + addr + "/scim/v2", token: tok}
	if latency > 0 {
		if err := c.setLatency(ctx, latency); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

// setLatency sets the latency the server adds to every SCIM request (its faults).
func (c *scimChild) setLatency(ctx context.Context, d time.Duration) error {
	body, _ := json.Marshal(map[string]string{"latency": d.String()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimSuffix(c.url, "/scim/v2")+"/admin/faults", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("set the SCIM server's latency: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("set the SCIM server's latency: %s: %s", resp.Status, b)
	}
	return nil
}

// stop kills the child and returns the CPU time it used.
func (c *scimChild) stop() time.Duration {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	if ps := c.cmd.ProcessState; ps != nil {
		return ps.UserTime() + ps.SystemTime()
	}
	return 0
}

// recorded is one HTTP request the connector sent.
type recorded struct {
	method, path string
	body         []byte
}

// recorder is an http.RoundTripper that records requests.
type recorder struct {
	base     http.RoundTripper
	on       bool // keep the requests (for the replay); otherwise only count them
	mu       sync.Mutex
	reqs     []recorded
	byMethod map[string]int
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if r.on && req.Body != nil && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			body, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	r.mu.Lock()
	if r.byMethod == nil {
		r.byMethod = map[string]int{}
	}
	r.byMethod[req.Method]++
	if r.on {
		r.reqs = append(r.reqs, recorded{method: req.Method, path: req.URL.RequestURI(), body: body})
	}
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

// replay sends the recorded requests to a fresh server with bare net/http, in order, at
// the given concurrency (requests that depend on earlier ones — a manager reference after
// both users exist — come much later in the recording, as they did in the cycle).
func replay(ctx context.Context, srv *scimChild, reqs []recorded, conc int) (time.Duration, error) {
	base := strings.TrimSuffix(srv.url, "/scim/v2")
	rtr := http.DefaultTransport.(*http.Transport).Clone()
	rtr.MaxIdleConns, rtr.MaxIdleConnsPerHost = 256, 256
	client := &http.Client{Transport: rtr}
	next := make(chan int, conc*4)
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	auth := "Bearer " + srv.token
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := reqs[i]
				req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, bytes.NewReader(r.body))
				if err != nil {
					errMu.Lock()
					firstErr = err
					errMu.Unlock()
					continue
				}
				req.Header.Set("Authorization", auth)
				if r.body != nil {
					req.Header.Set("Content-Type", "application/scim+json")
				}
				resp, err := client.Do(req)
				if err != nil {
					errMu.Lock()
					firstErr = err
					errMu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	return time.Since(start), firstErr
}

// peakRSSMiB reads this process's peak resident set size (Linux), 0 elsewhere.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "VmHWM:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				kb, _ := strconv.ParseFloat(fields[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func newGenerateHRCmd() *cobra.Command {
	var users, groups int
	var seed int64
	var out string
	cmd := &cobra.Command{
		Use:    "generate-hr --out FILE",
		Short:  "Write a generated HR export (the demo's data) as JSON",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if users < 1 || groups < 0 || out == "" {
				return &exitError{code: 2, err: errors.New("--users ≥ 1, --groups ≥ 0 and --out are required")}
			}
			return hrgen.Generate(hrgen.Options{Seed: seed, Users: users, Groups: groups}).WriteJSON(out)
		},
	}
	cmd.Flags().IntVar(&users, "users", 2000, "users")
	cmd.Flags().IntVar(&groups, "groups", 60, "groups")
	cmd.Flags().Int64Var(&seed, "seed", 1, "seed")
	cmd.Flags().StringVar(&out, "out", "", "output file")
	return cmd
}
