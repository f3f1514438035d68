package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/provisiond/provisiond/api"
	"github.com/provisiond/provisiond/config"
	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/file/hrgen"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/internal/demo"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
)

// demoOptions are the demo's flags.
type demoOptions struct {
	users, groups int
	seed          int64
	interval      time.Duration
	addr          string
	dataDir       string
	noProgress    bool
	throttleRate  float64
	errorRate     float64
	cycles        int
	logLevel      string
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole system on this machine: a generated HR source, an embedded SCIM target, the store, the API and live cycles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.users, "users", 2000, "number of generated users")
	f.IntVar(&o.groups, "groups", 60, "number of generated groups")
	f.Int64Var(&o.seed, "seed", 1, "seed of the generated HR data (same seed, same data)")
	f.DurationVar(&o.interval, "interval", 30*time.Second, "interval between incremental cycles (each brings generated hires, leavers and moves)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "API listen address")
	f.StringVar(&o.dataDir, "data-dir", "", "data directory (default: a new temporary directory)")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress bar (log lines instead)")
	f.Float64Var(&o.throttleRate, "scim-throttle-rate", 0.0005, "fraction of SCIM requests the embedded target answers 429 (realistic throttling)")
	f.Float64Var(&o.errorRate, "scim-error-rate", 0.001, "fraction of SCIM requests the embedded target answers 500")
	f.IntVar(&o.cycles, "cycles", 0, "stop after this many incremental cycles (0: run until interrupted)")
	f.StringVar(&o.logLevel, "log-level", "warn", "log level of the daemon's own log lines: debug, info, warn, error")
	return cmd
}

// demoJob is the demo's job (internal/demo).
func demoJob(interval time.Duration) provisioning.Job { return demo.Job("demo", interval) }

func runDemo(ctx context.Context, o demoOptions, out io.Writer) error {
	if o.users < 1 || o.groups < 0 {
		return &exitError{code: 2, err: errors.New("--users must be at least 1 and --groups at least 0")}
	}
	if o.interval <= 0 {
		return &exitError{code: 2, err: errors.New("--interval must be positive")}
	}
	dir := o.dataDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "provisiond-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	log := newLogger(os.Stderr, o.logLevel)

	// API tokens: from the environment, or generated and printed.
	reader, admin := os.Getenv("PROVISIOND_READER_TOKEN"), os.Getenv("PROVISIOND_ADMIN_TOKEN")
	generated := false
	if reader == "" {
		reader, generated = randomToken(), true
	}
	if admin == "" {
		admin, generated = randomToken(), true
	}

	// The HR source: a generated export.
	hrPath := filepath.Join(dir, "hr", "export.json")
	if err := os.MkdirAll(filepath.Dir(hrPath), 0o750); err != nil {
		return err
	}
	data := hrgen.Generate(hrgen.Options{Seed: o.seed, Users: o.users, Groups: o.groups})
	if err := data.WriteJSON(hrPath); err != nil {
		return fmt.Errorf("write the HR export: %w", err)
	}

	// The target: the embedded SCIM server on a loopback port.
	scimToken := randomToken()
	ss, err := scimserver.New(scimserver.Options{Token: scimToken, Logger: log})
	if err != nil {
		return err
	}
	ss.SetFaults(scimserver.Faults{ThrottleRate: o.throttleRate, ErrorRate: o.errorRate, RetryAfter: time.Second})
	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	scimSrv := &http.Server{Handler: ss.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = scimSrv.Serve(sln) }()
	defer scimSrv.Close()
	scimURL := "http://" + sln.Addr().String() + "/scim/v2"

	st, err := sqlite.Open(ctx, filepath.Join(dir, "provisiond.db"))
	if err != nil {
		return err
	}
	src, err := file.New(file.Config{Users: hrPath, Groups: hrPath, StateDir: filepath.Join(dir, "state", "hr")})
	if err != nil {
		st.Close()
		return err
	}
	otlp := demoTelemetryDefaults()
	tel, err := setupTelemetry(ctx, log)
	if err != nil {
		st.Close()
		return err
	}
	hc, err := scim.NewHTTPClient(scim.TLSConfig{})
	if err != nil {
		st.Close()
		return err
	}
	tgt, err := scim.New(ctx, scim.Config{BaseURL: scimURL, Auth: scim.AuthConfig{Type: "bearer", Token: scimToken}, MaxRequestsPerSecond: 2000,
		HTTPClient: tel.HTTPClient(hc)})
	if err != nil {
		st.Close()
		_ = tel.close()
		return err
	}
	progress := &demoProgress{out: out, enabled: !o.noProgress}
	eng := provisioning.New(provisioning.Options{Store: st, Logger: tel.Logger(), Recorder: tel.Recorder(),
		Observer: provisioning.Observers{progress, tel.Observer()}})
	if err := eng.AddJob(ctx, demoJob(o.interval), src, tgt); err != nil {
		st.Close()
		_ = tel.close()
		return err
	}
	tel.ObserveJobs(eng)
	tel.ObserveTarget("demo", tgt)
	srv, err := api.New(api.Options{Engine: eng, Store: st, ReaderToken: reader, AdminToken: admin, Logger: log, Version: buildVersion(), Metrics: tel.MetricsHandler()})
	if err != nil {
		st.Close()
		_ = tel.close()
		return err
	}
	d := &daemon{log: log, store: st, engine: eng, api: srv, addr: o.addr, tel: tel, closers: []func() error{tel.close, src.Close, tgt.Close, st.Close},
		retention: config.DefaultEventRetention}
	if err := d.listen(); err != nil {
		d.close()
		return err
	}

	fmt.Fprintf(out, "provisiond demo %s\n", buildVersion())
	fmt.Fprintf(out, "  data directory  %s\n", dir)
	fmt.Fprintf(out, "  HR source       %s (%d users, %d groups, seed %d)\n", hrPath, o.users, o.groups, o.seed)
	fmt.Fprintf(out, "  SCIM target     %s (embedded; bearer token %s)\n", scimURL, scimToken)
	fmt.Fprintf(out, "  API             http://%s/api/v1/jobs/demo/status\n", d.listener.Addr())
	if generated {
		fmt.Fprintf(out, "  reader token    %s\n  admin token     %s\n", reader, admin)
		fmt.Fprintf(out, "  (set PROVISIOND_READER_TOKEN and PROVISIOND_ADMIN_TOKEN to choose them)\n")
	}
	fmt.Fprintf(out, "  telemetry       %s; metrics at http://%s/metrics\n", otlp, d.listener.Addr())
	fmt.Fprintf(out, "  try             curl -H 'Authorization: Bearer %s' http://%s/api/v1/jobs/demo/status\n\n", reader, d.listener.Addr())

	progress.start(eng, "demo")
	defer progress.stop()

	// Churn: every interval, a day of hires, leavers and moves lands in the HR export
	// before the next incremental cycle picks it up.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		step := 0
		for {
			select {
			case <-runCtx.Done():
				return
			case <-progress.cycleEnded:
			}
			if o.cycles > 0 && progress.incrementals() >= o.cycles {
				cancel()
				return
			}
			step++
			sum := data.Step(step)
			if err := data.WriteJSON(hrPath); err != nil {
				log.Error("write the HR export", "error", err)
				continue
			}
			progress.printf("HR export changed (day %d): %s; next cycle in %s\n", step, sum, o.interval)
		}
	}()
	err = d.run(runCtx)
	cancel()
	wg.Wait()
	return err
}

// demoProgress shows the initial cycle as a progress bar in objects and prints one line
// per cycle.
type demoProgress struct {
	provisioning.NopObserver
	out        io.Writer
	enabled    bool
	mu         sync.Mutex
	bar        *progressbar.ProgressBar
	done       chan struct{}
	cycleEnded chan struct{}
	incr       int
}

func (p *demoProgress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.out, format, args...)
}

func (p *demoProgress) incrementals() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.incr
}

func (p *demoProgress) start(eng *provisioning.Engine, job string) {
	p.done = make(chan struct{})
	if p.cycleEnded == nil {
		p.cycleEnded = make(chan struct{}, 1)
	}
	if !p.enabled {
		return
	}
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			st, err := eng.Status(context.Background(), job)
			if err != nil || st.Progress == nil || st.Progress.TotalUnits == 0 {
				continue
			}
			p.mu.Lock()
			if p.bar == nil && st.Progress.CompletedUnits < st.Progress.TotalUnits {
				p.bar = progressbar.NewOptions64(st.Progress.TotalUnits,
					progressbar.OptionSetWriter(p.out), progressbar.OptionSetDescription("cycle"),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("objects"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth(), progressbar.OptionThrottle(100*time.Millisecond))
			}
			if p.bar != nil {
				p.bar.ChangeMax64(st.Progress.TotalUnits)
				_ = p.bar.Set64(st.Progress.CompletedUnits)
			}
			p.mu.Unlock()
		}
	}()
}

func (p *demoProgress) stop() {
	if p.done != nil {
		close(p.done)
	}
}

// CycleEnded prints the cycle's summary and lets the churn goroutine go on.
func (p *demoProgress) CycleEnded(_ context.Context, _ *provisioning.Job, c provisioning.Cycle) {
	p.mu.Lock()
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.out)
		p.bar = nil
	}
	if c.Type == provisioning.CycleIncremental {
		p.incr++
	}
	p.mu.Unlock()
	if c.Type == provisioning.CycleOnDemand {
		return
	}
	d := time.Duration(0)
	if c.TimeEnded != nil {
		d = c.TimeEnded.Sub(c.TimeBegan)
	}
	rate := 0.0
	if d > 0 {
		rate = float64(c.CountImported) / d.Seconds()
	}
	p.printf("%s cycle %s %s in %s: imported %d, in scope %d, exported %d/%d, failed %d, escrowed %d, skipped %d (%.0f objects/s)\n",
		c.Type, c.CycleID[:8], c.State, d.Round(time.Millisecond), c.CountImported, c.CountEntitled, c.CountExported, c.CountExports,
		c.CountFailed, c.CountEscrowed, c.CountSkipped, rate)
	select {
	case p.cycleEnded <- struct{}{}:
	default:
	}
}

// demoTelemetryDefaults: the demo must run with nothing installed, so unless the user
// configured OpenTelemetry (an exporter or an OTLP endpoint), it does not export OTLP to a
// collector that is not there; /metrics is served either way. It returns a description.
func demoTelemetryDefaults() string {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"} {
		if os.Getenv(k) != "" {
			return "as configured by the OTEL_* environment"
		}
	}
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"} {
		_ = os.Setenv(k, "none")
	}
	return "no OTLP export (set OTEL_EXPORTER_OTLP_ENDPOINT to send traces, metrics and logs)"
}
