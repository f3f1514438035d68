package api_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/provisiond/provisiond/api"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
)

// Streaming exports in bounded memory. The default suite streams 50,000 events (5,000
// with -short or -race); PROVISIOND_STREAM_1M=1 streams 1,000,000 (a few minutes on two
// cores).

// exportServer is an API server on loopback over a fresh SQLite store of n generated
// events.
func exportServer(tb testing.TB, n int) (*client.Client, string) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "export.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	fillEvents(tb, st, n)
	srv, err := api.New(api.Options{Store: st, ReaderToken: "reader", AdminToken: "admin"})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	c, err := client.New(ts.URL, "reader", client.WithHTTPClient(ts.Client()))
	if err != nil {
		tb.Fatal(err)
	}
	return c, ts.URL
}

// fillEvents commits n realistic events (six steps with details, two modified
// properties, one in fifty a failure: about 2.6 KB of JSON each), 5,000 to a transaction.
func fillEvents(tb testing.TB, st *sqlite.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	start := time.Now().UTC().Add(-time.Duration(n) * time.Millisecond)
	const batch = 5000
	began := time.Now()
	evs := make([]provisioning.Event, 0, batch)
	for i := range n {
		evs = append(evs, genEvent(i, start.Add(time.Duration(i)*time.Millisecond)))
		if len(evs) == batch || i == n-1 {
			if err := st.Commit(ctx, provisioning.Batch{JobID: "bulk", Events: evs}); err != nil {
				tb.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	tb.Logf("committed %d events in %s (%.0f events/s)", n, time.Since(began).Round(time.Millisecond), float64(n)/time.Since(began).Seconds())
}

func genEvent(i int, at time.Time) provisioning.Event {
	src := fmt.Sprintf("E%07d", i%200000)
	name := fmt.Sprintf("User %d", i%200000)
	tgt := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
	status, action := provisioning.ResultSuccess, provisioning.ActionUpdate
	var ei *provisioning.ErrorInformation
	switch {
	case i%50 == 0:
		status = provisioning.ResultFailure
		ei = &provisioning.ErrorInformation{ErrorCode: "EntryConflict", ErrorCategory: "nonServiceFailure",
			Reason: "=the target already has an object with userName " + src, RecommendedAction: "Remove the duplicate"}
	case i%7 == 0:
		action = provisioning.ActionCreate
	}
	steps := make([]provisioning.Step, 0, 6)
	for k, typ := range provisioning.StepTypes {
		st := provisioning.Step{Name: "Entry" + string(typ), ProvisioningStepType: typ, Status: provisioning.ResultSuccess,
			Description: fmt.Sprintf("User '%s' %s step", name, typ), Start: at.Add(time.Duration(k) * time.Microsecond),
			DurationInMilliseconds: 0.05, Details: map[string]string{"displayName": name, "TargetId": tgt}}
		if typ == provisioning.StepExport {
			st.Status = status
		}
		steps = append(steps, st)
	}
	return provisioning.Event{
		ID: fmt.Sprintf("%08d-0000-7000-8000-%012d", i, i), ActivityDateTime: at, JobID: "bulk", CycleID: "cycle-" + strconv.Itoa(i/10000),
		ChangeID: fmt.Sprintf("change-%d", i), Action: action, Status: status, ErrorInformation: ei, ProvisioningSteps: steps,
		ModifiedProperties: []provisioning.ModifiedProperty{{DisplayName: "title", OldValue: "Engineer", NewValue: "Staff engineer"},
			{DisplayName: "department", OldValue: "R&D", NewValue: "Engineering"}},
		SourceIdentity: provisioning.Identity{ID: src, DisplayName: name, IdentityType: "User"},
		TargetIdentity: provisioning.Identity{ID: tgt, DisplayName: name, IdentityType: "User"},
		SourceSystem:   "Contoso HR", TargetSystem: "Contoso SCIM app",
		InitiatedBy:            provisioning.Initiator{ID: "provisiond", DisplayName: "provisiond provisioning service", InitiatorType: "system"},
		DurationInMilliseconds: 3, TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1),
	}
}

// heapWatch samples the heap in use (server and client share the process).
type heapWatch struct {
	peak, base uint64
	ms         runtime.MemStats
}

func newHeapWatch() *heapWatch {
	runtime.GC()
	h := &heapWatch{}
	runtime.ReadMemStats(&h.ms)
	h.base = h.ms.HeapInuse
	return h
}

func (h *heapWatch) sample() {
	runtime.ReadMemStats(&h.ms)
	h.peak = max(h.peak, h.ms.HeapInuse)
}

// maxStreamHeap bounds the heap in use while streaming, whatever the export's size.
const maxStreamHeap = 64 << 20

func TestStreamBoundedMemory(t *testing.T) {
	n := 50000
	if os.Getenv("PROVISIOND_STREAM_1M") == "1" {
		n = 1000000
	}
	if (testing.Short() || raceEnabled) && n < 1000000 {
		n = 5000
	}
	c, _ := exportServer(t, n)
	ctx := context.Background()

	t.Run("ndjson", func(t *testing.T) {
		h := newHeapWatch()
		var count int
		var last time.Time
		began := time.Now()
		err := c.StreamLogs(ctx, client.LogsQuery{JobID: "bulk", Ascending: true}, func(ev provisioning.Event) error {
			if ev.ActivityDateTime.Before(last) {
				return fmt.Errorf("event %d out of order", count)
			}
			last = ev.ActivityDateTime
			if count++; count%5000 == 0 {
				h.sample()
			}
			return nil
		})
		elapsed := time.Since(began)
		h.sample()
		if err != nil || count != n {
			t.Fatalf("streamed %d of %d events: %v", count, n, err)
		}
		t.Logf("NDJSON: %d events in %s: %.0f events/s; heap in use %.1f MiB before, %.1f MiB peak",
			n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), mib(h.base), mib(h.peak))
		if h.peak > maxStreamHeap {
			t.Errorf("heap in use reached %.1f MiB streaming %d events; want under %d MiB", mib(h.peak), n, maxStreamHeap>>20)
		}
	})

	for _, table := range []string{"events", "steps"} {
		t.Run("csv "+table, func(t *testing.T) {
			h := newHeapWatch()
			pr, pw := io.Pipe()
			errc := make(chan error, 1)
			began := time.Now()
			go func() {
				err := c.ExportLogs(ctx, client.LogsQuery{JobID: "bulk"}, table, pw)
				pw.CloseWithError(err)
				errc <- err
			}()
			r := csv.NewReader(bufio.NewReaderSize(pr, 64<<10))
			r.ReuseRecord = true
			rows := 0
			for {
				rec, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if rows == 0 && rec[0] != map[string]string{"events": "id", "steps": "changeId"}[table] {
					t.Fatalf("header %v", rec)
				}
				if rows++; rows%20000 == 0 {
					h.sample()
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(began)
			h.sample()
			want := n
			if table == "steps" {
				want = 6 * n
			}
			if rows != want+1 {
				t.Fatalf("%d rows, want %d and a header", rows-1, want)
			}
			t.Logf("CSV %s: %d events (%d rows) in %s: %.0f events/s; heap in use %.1f MiB before, %.1f MiB peak",
				table, n, rows-1, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), mib(h.base), mib(h.peak))
			if h.peak > maxStreamHeap {
				t.Errorf("heap in use reached %.1f MiB; want under %d MiB", mib(h.peak), maxStreamHeap>>20)
			}
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkExport measures export throughput through HTTP on loopback, client included
// (events/s), over 20,000 stored events.
func BenchmarkExport(b *testing.B) {
	const n = 20000
	c, base := exportServer(b, n)
	ctx := context.Background()
	b.Run("ndjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			count := 0
			if err := c.StreamLogs(ctx, client.LogsQuery{JobID: "bulk"}, func(provisioning.Event) error { count++; return nil }); err != nil || count != n {
				b.Fatalf("%d events: %v", count, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	// The server alone: the stream read as bytes, not decoded.
	b.Run("ndjson_bytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/provisioningLogs?format=ndjson&jobId=bulk", nil)
			req.Header.Set("Authorization", "Bearer reader")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%d %v", resp.StatusCode, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, table := range []string{"events", "steps", "modifiedProperties"} {
		b.Run("csv_"+table, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.ExportLogs(ctx, client.LogsQuery{JobID: "bulk"}, table, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
