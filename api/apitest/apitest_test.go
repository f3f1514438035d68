package apitest_test

import (
	"context"
	"testing"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

func TestStack(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Users: 60, Groups: 4})
	c, err := client.New(s.URL, apitest.ReaderToken)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || !jobs[0].Status.InitialCycleCompleted {
		t.Fatalf("jobs = %d, first initial cycle completed = %v", len(jobs), jobs[0].Status.InitialCycleCompleted)
	}
	// Every created user's event records the HTTP calls of its steps, and its trace
	// nests them beneath the steps.
	evs, err := s.Store.QueryEvents(context.Background(), provisioning.EventQuery{JobID: "demo", Action: provisioning.ActionCreate, Status: provisioning.ResultSuccess, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("created events: %v %d", err, len(evs))
	}
	spans := provisioning.OperationTrace(evs[0], "provisiond")
	var calls, steps int
	parents := map[string]bool{}
	for _, sp := range spans {
		parents[sp.SpanID] = true
		switch sp.Kind {
		case "client":
			calls++
		case "internal":
			if sp.ParentSpanID != "" {
				steps++
			}
		}
	}
	for _, sp := range spans[1:] {
		if !parents[sp.ParentSpanID] {
			t.Errorf("span %s (%s) has an unknown parent %s", sp.Name, sp.SpanID, sp.ParentSpanID)
		}
	}
	if calls == 0 || steps < 4 || len(spans[0].TraceID) != 32 {
		t.Fatalf("trace of a create: %d steps, %d calls, trace id %q", steps, calls, spans[0].TraceID)
	}

	st := s.Quarantine(t, "sales")
	if st.Quarantine == nil || st.Quarantine.Error.Code == "" {
		t.Fatalf("quarantine = %+v", st.Quarantine)
	}
	if other, _ := s.Engine.Status(context.Background(), "demo"); other.Code == provisioning.StatusQuarantine {
		t.Fatal("the healthy job is quarantined too")
	}
}
