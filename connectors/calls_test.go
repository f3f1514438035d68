package connectors

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestCallLog(t *testing.T) {
	// Without a log nothing is recorded and nothing panics.
	ctx, pc := StartCall(context.Background(), "GET", "/Users")
	if pc != nil || ctx != context.Background() {
		t.Fatal("StartCall without a log must return ctx and nil")
	}
	pc.End(200, nil)
	SetCallSpanID(ctx, "00f067aa0ba902b7")

	ctx, log := WithCallLog(context.Background())
	cctx, pc := StartCall(ctx, "POST", "/scim/v2/Users")
	SetCallSpanID(cctx, "00f067aa0ba902b7")
	pc.End(201, nil)
	_, pc = StartCall(ctx, "GET", "/scim/v2/Users?filter=x")
	pc.End(0, errors.New("connection refused"))
	calls := log.Take()
	if len(calls) != 2 {
		t.Fatalf("calls = %d, want 2", len(calls))
	}
	if c := calls[0]; c.Method != "POST" || c.Status != 201 || c.SpanID != "00f067aa0ba902b7" || c.Start.IsZero() || c.Error != "" {
		t.Errorf("first call = %+v", c)
	}
	if c := calls[1]; c.Status != 0 || c.Error != "connection refused" || c.SpanID != "" {
		t.Errorf("second call = %+v", c)
	}
	if len(log.Take()) != 0 {
		t.Error("Take must forget what it returned")
	}

	// Concurrent calls of one operation are all recorded.
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, pc := StartCall(ctx, "GET", "/x")
			pc.End(200, nil)
		}()
	}
	wg.Wait()
	if n := len(log.Take()); n != 50 {
		t.Fatalf("concurrent calls recorded = %d, want 50", n)
	}
}
