package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/file/hrgen"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/postgres"
	"github.com/provisiond/provisiond/store/sqlite"
)

type benchOptions struct {
	users, groups, workers, batch, conc int
	replay                              bool
	keep                                bool
	jsonOut                             bool
	cpuProfile                          string
	// store is "sqlite" (a file in the temporary directory) or "postgres" (a schema of
	// its own in the database dsn names, dropped afterwards).
	store, dsn string
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure an initial cycle (file source → SCIM server in another process over loopback) next to a bare replay of the same HTTP requests",
		Long: `bench generates an HR export of --users users, starts the embedded SCIM server in a child
process (provisiond scim-server) on a loopback port, runs one initial cycle with the SQLite
store (--store postgres: PostgreSQL, in a schema of its own), and records every HTTP request the SCIM connector sent. It then restarts the SCIM
server empty and replays the same requests with bare net/http at the same concurrency. It
prints users/s, the ratio engine/replay and this process's peak RSS.`,
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
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	f.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the engine run to this file")
	f.StringVar(&o.store, "store", "sqlite", "store: sqlite, or postgres (in a schema of its own, dropped afterwards)")
	f.StringVar(&o.dsn, "dsn", "", "PostgreSQL connection string for --store postgres (default: $"+envBenchDSN+"; prefer the variable: a command line is visible to other users)")
	return cmd
}

// envBenchDSN is the variable bench --store postgres reads the DSN from.
const envBenchDSN = "PROVISIOND_BENCH_DSN"

// BenchResult is what bench measured.
type BenchResult struct {
	Users          int     `json:"users"`
	Objects        int64   `json:"objects"`
	Requests       int     `json:"requests"`
	EngineSeconds  float64 `json:"engineSeconds"`
	UsersPerSecond float64 `json:"usersPerSecond"`
	ReplaySeconds  float64 `json:"replaySeconds,omitempty"`
	Ratio          float64 `json:"ratioEngineToReplay,omitempty"`
	PeakRSSMiB     float64 `json:"peakRssMiB"`
	CycleState     string  `json:"cycleState"`
	Exported       int64   `json:"exported"`
	Failed         int64   `json:"failed"`
	GOMAXPROCS     int     `json:"gomaxprocs"`
	Telemetry      string  `json:"telemetry"`
	Store          string  `json:"store"`
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

	srv, err := startSCIMChild(ctx)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	rec := &recorder{base: tr, on: o.replay}
	st, closeStore, err := openBenchStore(ctx, o, dir)
	if err != nil {
		srv.stop()
		return err
	}
	src, err := file.New(file.Config{Users: hr, Groups: hr, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		srv.stop()
		return err
	}
	telemetryMode := demoTelemetryDefaults()
	tel, err := setupTelemetry(ctx, newLogger(os.Stderr, "warn"))
	if err != nil {
		srv.stop()
		return err
	}
	defer tel.close()
	tgt, err := scim.New(ctx, scim.Config{BaseURL: srv.url, Auth: scim.AuthConfig{Type: "bearer", Token: srv.token},
		HTTPClient: tel.HTTPClient(&http.Client{Transport: rec, Timeout: 60 * time.Second}), MaxRequestsPerSecond: 1e6})
	if err != nil {
		srv.stop()
		return err
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
		srv.stop()
		return err
	}
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	start := time.Now()
	c, err := eng.RunCycle(ctx, "bench")
	elapsed := time.Since(start)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	closeStore()
	srv.stop()
	if err != nil {
		return err
	}
	res := BenchResult{Store: o.store, Users: o.users, Objects: c.CountImported, EngineSeconds: elapsed.Seconds(), UsersPerSecond: float64(o.users) / elapsed.Seconds(),
		PeakRSSMiB: peakRSSMiB(), CycleState: string(c.State), Exported: c.CountExported, Failed: c.CountFailed, GOMAXPROCS: runtime.GOMAXPROCS(0), Requests: len(rec.reqs), Telemetry: telemetryMode}

	if o.replay {
		srv2, err := startSCIMChild(ctx)
		if err != nil {
			return err
		}
		d, err := replay(ctx, srv2, rec.reqs, o.conc)
		srv2.stop()
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
	fmt.Fprintf(out, "engine:        %.2fs  %.0f users/s  (%d HTTP requests, GOMAXPROCS %d)\n", res.EngineSeconds, res.UsersPerSecond, res.Requests, res.GOMAXPROCS)
	if o.replay {
		fmt.Fprintf(out, "bare replay:   %.2fs  (same requests, net/http, concurrency %d)\n", res.ReplaySeconds, o.conc)
		fmt.Fprintf(out, "ratio:         %.2fx engine / bare replay\n", res.Ratio)
	}
	fmt.Fprintf(out, "peak RSS:      %.0f MiB (this process; the SCIM server runs in its own)\n", res.PeakRSSMiB)
	fmt.Fprintf(out, "telemetry:     %s\n", res.Telemetry)
	fmt.Fprintf(out, "store:         %s\n", res.Store)
	return nil
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

func startSCIMChild(ctx context.Context) (*scimChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	tok := randomToken()
	cmd := exec.CommandContext(ctx, exe, "scim-server", "--addr", addr, "--deterministic-ids")
	cmd.Env = append(os.Environ(), "PROVISIOND_SCIM_TOKEN="+tok)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &scimChild{cmd: cmd, url: "http://" + addr + "/scim/v2", token: tok}
	for i := 0; i < 200; i++ {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return c, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	c.stop()
	return nil, fmt.Errorf("the SCIM server child did not listen on %s", addr)
}

func (c *scimChild) stop() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// recorded is one HTTP request the connector sent.
type recorded struct {
	method, path string
	body         []byte
}

// recorder is an http.RoundTripper that records requests.
type recorder struct {
	base http.RoundTripper
	on   bool
	mu   sync.Mutex
	reqs []recorded
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.on {
		var body []byte
		if req.Body != nil && req.GetBody != nil {
			if rc, err := req.GetBody(); err == nil {
				body, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{method: req.Method, path: req.URL.RequestURI(), body: body})
		r.mu.Unlock()
	}
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
