// Package apitest starts a real provisiond stack on loopback for tests of the API's
// clients (the CLI, the Grafana datasource, the dashboards): generated HR exports as
// sources, one embedded SCIM server per job as targets, a SQLite store, the engine and
// the API server with reader and admin tokens. Cycles run when the test asks (no
// background scheduler), so what the API serves is deterministic in shape.
package apitest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/provisiond/provisiond/api"
	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/file/hrgen"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/internal/demo"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
)

// Tokens of every stack.
const (
	ReaderToken = "reader-token-for-tests"
	AdminToken  = "admin-token-for-tests"
)

// Options size the stack.
type Options struct {
	// Jobs are the job ids (default "demo" and "sales"); each gets its own HR export
	// (seed = Seed + index) and SCIM server.
	Jobs []string
	// Users and Groups per job (default 200 and 10).
	Users, Groups int
	Seed          int64
	// ErrorRate is the fraction of SCIM requests answered 500 (default 0: the stack's
	// failures come from the generated data).
	ErrorRate float64
	// Recorder records spans (default none: events carry derived trace ids).
	Recorder provisioning.Recorder
	// Workers per job (default 1: objects are processed in source order, so the events,
	// their statuses and counts are the same on every run, which golden files need).
	Workers int
	// Initial runs each job's initial cycle before Start returns (default true via
	// NoInitial false).
	NoInitial bool
}

// Stack is a running provisiond.
type Stack struct {
	// URL is the API's base URL ("http://127.0.0.1:PORT").
	URL    string
	Engine *provisioning.Engine
	Store  *sqlite.Store
	// SCIM holds each job's embedded SCIM server (inject faults with SetFaults).
	SCIM map[string]*scimserver.Server
	// HR holds each job's generated data; Churn advances it.
	HR  map[string]*hrgen.Dataset
	Dir string

	hrPath map[string]string
	day    map[string]int
}

// Start starts a stack and stops it when the test ends.
func Start(tb testing.TB, o Options) *Stack {
	tb.Helper()
	if len(o.Jobs) == 0 {
		o.Jobs = []string{"demo", "sales"}
	}
	if o.Users == 0 {
		o.Users = 200
	}
	if o.Groups == 0 {
		o.Groups = 10
	}
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "provisiond.db"))
	if err != nil {
		tb.Fatalf("apitest: open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	eng := provisioning.New(provisioning.Options{Store: st, Logger: log, Recorder: o.Recorder})
	s := &Stack{Engine: eng, Store: st, SCIM: map[string]*scimserver.Server{}, HR: map[string]*hrgen.Dataset{},
		Dir: dir, hrPath: map[string]string{}, day: map[string]int{}}
	for i, id := range o.Jobs {
		data := hrgen.Generate(hrgen.Options{Seed: o.Seed + int64(i) + 1, Users: o.Users, Groups: o.Groups})
		hrPath := filepath.Join(dir, id, "export.json")
		if err := os.MkdirAll(filepath.Dir(hrPath), 0o750); err != nil {
			tb.Fatalf("apitest: %v", err)
		}
		if err := data.WriteJSON(hrPath); err != nil {
			tb.Fatalf("apitest: write HR export: %v", err)
		}
		s.HR[id], s.hrPath[id] = data, hrPath
		token := "scim-token-" + id
		ss, err := scimserver.New(scimserver.Options{Token: token, Logger: log})
		if err != nil {
			tb.Fatalf("apitest: scim server: %v", err)
		}
		ss.SetFaults(scimserver.Faults{ErrorRate: o.ErrorRate})
		s.SCIM[id] = ss
		scimURL := serve(tb, ss.Handler()) + "/scim/v2"
		src, err := file.New(file.Config{Users: hrPath, Groups: hrPath, StateDir: filepath.Join(dir, id, "state")})
		if err != nil {
			tb.Fatalf("apitest: file source: %v", err)
		}
		tb.Cleanup(func() { src.Close() })
		tgt, err := scim.New(ctx, scim.Config{BaseURL: scimURL, Auth: scim.AuthConfig{Type: "bearer", Token: token},
			MaxRequestsPerSecond: 1e6, MaxRetries: 1, Timeout: 10 * time.Second})
		if err != nil {
			tb.Fatalf("apitest: scim client: %v", err)
		}
		tb.Cleanup(func() { tgt.Close() })
		job := demo.Job(id, time.Hour)
		job.Name = fmt.Sprintf("HR to SCIM app (%s)", id)
		job.Settings.Workers = max(o.Workers, 1)
		job.Settings.EscrowRetryBase = provisioning.Duration(time.Millisecond)
		job.Settings.EscrowRetryMax = provisioning.Duration(time.Millisecond)
		if err := eng.AddJob(ctx, job, src, tgt); err != nil {
			tb.Fatalf("apitest: add job %s: %v", id, err)
		}
	}
	srv, err := api.New(api.Options{Engine: eng, Store: st, ReaderToken: ReaderToken, AdminToken: AdminToken,
		Logger: log, Version: "test"})
	if err != nil {
		tb.Fatalf("apitest: api: %v", err)
	}
	srv.SetReady(true)
	s.URL = serve(tb, srv.Handler())
	if !o.NoInitial {
		for _, id := range o.Jobs {
			s.Cycle(tb, id)
		}
	}
	return s
}

// Cycle runs one cycle of a job now and returns it.
func (s *Stack) Cycle(tb testing.TB, jobID string) provisioning.Cycle {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := s.Engine.RunCycle(ctx, jobID)
	if err != nil {
		tb.Fatalf("apitest: cycle of %s: %v", jobID, err)
	}
	return c
}

// Churn writes a generated day of hires, leavers and moves into a job's HR export and
// runs the incremental cycle that picks it up.
func (s *Stack) Churn(tb testing.TB, jobID string) provisioning.Cycle {
	tb.Helper()
	s.day[jobID]++
	s.HR[jobID].Step(s.day[jobID])
	if err := s.HR[jobID].WriteJSON(s.hrPath[jobID]); err != nil {
		tb.Fatalf("apitest: write HR export: %v", err)
	}
	return s.Cycle(tb, jobID)
}

// Quarantine makes a job's SCIM server refuse the job's credentials and runs a cycle:
// the job goes into quarantine (EncounteredQuarantineException, Unauthorized), as after
// a revoked token.
func (s *Stack) Quarantine(tb testing.TB, jobID string) provisioning.Status {
	tb.Helper()
	f := s.SCIM[jobID].Faults()
	f.Unauthorized = true
	s.SCIM[jobID].SetFaults(f)
	s.Churn(tb, jobID)
	st, err := s.Engine.Status(context.Background(), jobID)
	if err != nil {
		tb.Fatalf("apitest: status of %s: %v", jobID, err)
	}
	if st.Code != provisioning.StatusQuarantine {
		tb.Fatalf("apitest: job %s not quarantined after a credential failure: %s", jobID, st.Code)
	}
	return st
}

func serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("apitest: listen: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
