package exporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/internal/cputime"
	"github.com/provisiond/provisiond/provisioning"
)

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// otlpSink is a loopback OTLP/HTTP receiver that reads and discards every request body and
// answers 200 with an empty protobuf message (a full success).
func otlpSink(b *testing.B) (url string, requests *atomic.Int64) {
	b.Helper()
	requests = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		requests.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	return srv.URL, requests
}

// benchProviders builds the providers of a mode: "full" (the production batch processors,
// exporters that discard), "none" (OTEL_TRACES_EXPORTER=OTEL_LOGS_EXPORTER=none) or
// "full-otlp" (the OTLP/HTTP protobuf exporters autoexport picks by default, sending to a
// loopback sink). Metrics go to a manual reader in every mode: their per-operation cost is
// the aggregation; their export is periodic and does not grow with operations.
func benchProviders(b *testing.B, mode string) (providers, func() int64) {
	b.Helper()
	p := providers{readers: []sdkmetric.Reader{sdkmetric.NewManualReader()}, snapEvery: time.Hour}
	requests := func() int64 { return 0 }
	switch mode {
	case "full":
		p.spanProc = newSpanBatcher(discardSpans{}, defaultBatch)
		p.logProc = newLogBatcher(discardLogs{}, defaultBatch)
	case "full-otlp":
		url, n := otlpSink(b)
		requests = n.Load
		b.Setenv("OTEL_TRACES_EXPORTER", "otlp")
		b.Setenv("OTEL_LOGS_EXPORTER", "otlp")
		b.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
		b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
		ctx := context.Background()
		se, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			b.Fatal(err)
		}
		le, err := autoexport.NewLogExporter(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.spanProc = newSpanBatcher(se, defaultBatch)
		p.logProc = newLogBatcher(le, defaultBatch)
	}
	return p, requests
}

// flushEvery bounds the operations between two flushes in full-otlp mode: a benchmark
// produces operations far faster than the engine (~230 µs of CPU each), so without a pause
// the queues would overflow and dropped items would make export look cheaper than it is.
const flushEvery = 256

// BenchmarkOperationTelemetry is the telemetry cost of one object operation as the engine
// drives it: the root span with its link, six step spans, the final attributes, then the
// observer's metrics (counter, histogram, exemplars) and the event's log record — through
// the real batch processors. "full" discards what the processors export, "none" is
// OTEL_TRACES_EXPORTER=OTEL_LOGS_EXPORTER=none (metrics only), and "full-otlp" also pays
// for the OTLP protobuf encoding and the HTTP requests.
//
// Besides ns/op (wall time of the calling goroutine, inflated on a busy machine) it reports
// cpu-ns/op: the process's user+system CPU time over the loop and a final flush, which
// includes the export goroutines and the garbage collector — the figure to compare with
// the engine's own ~230 µs per user. In full-otlp it includes the loopback sink's reading
// of the requests (an upper bound of provisiond's share).
func BenchmarkOperationTelemetry(b *testing.B) {
	for _, mode := range []string{"full", "none", "full-otlp"} {
		b.Run(mode, func(b *testing.B) {
			p, requests := benchProviders(b, mode)
			tel, err := newTelemetry(p)
			if err != nil {
				b.Fatal(err)
			}
			defer tel.Shutdown(context.Background())
			rec, obs := tel.Recorder(), tel.Observer()
			job := &provisioning.Job{ID: "bench"}
			cctx, cspan := rec.StartCycle(context.Background(), job, provisioning.Cycle{CycleID: "c", Type: provisioning.CycleInitial, TimeBegan: time.Now()})
			info := provisioning.OperationInfo{JobID: "bench", CycleID: "c", ChangeID: "0190b1a2-0000-7000-8000-000000000001", CycleType: provisioning.CycleInitial,
				IdentityType: connectors.TypeUser, SourceID: "E000001", CycleTraceID: cspan.TraceID(), CycleSpanID: cspan.SpanID()}
			flush := func() {
				if err := tel.ForceFlush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			flush()
			cpu0, cpuOK := cputime.Process()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx, op := rec.StartOperation(cctx, info)
				ev := provisioning.Event{ID: "0190b1a2-0000-7000-8000-000000000002", JobID: "bench", CycleID: "c", ChangeID: info.ChangeID,
					SourceIdentity: provisioning.Identity{ID: "E000001", DisplayName: "Alice Archer", IdentityType: "User"},
					TargetIdentity: provisioning.Identity{ID: "6f1c2a4e", IdentityType: "User"}, TraceID: op.TraceID(), SpanID: op.SpanID(),
					ProvisioningSteps: make([]provisioning.Step, 0, 6), ModifiedProperties: []provisioning.ModifiedProperty{}}
				for _, st := range provisioning.StepTypes {
					now := time.Now()
					_, s := rec.StartStep(ctx, st, "Entry"+string(st), now)
					step := provisioning.Step{Name: "Entry" + string(st), ProvisioningStepType: st, Status: provisioning.ResultSuccess,
						Description: "done", Start: now, DurationInMilliseconds: 0.01}
					s.End(step)
					ev.ProvisioningSteps = append(ev.ProvisioningSteps, step)
				}
				ev.Action, ev.Status, ev.DurationInMilliseconds = provisioning.ActionCreate, provisioning.ResultSuccess, 3
				op.End(&ev)
				obs.Events(context.Background(), job, []provisioning.Event{ev})
				if mode == "full-otlp" && i%flushEvery == flushEvery-1 {
					flush()
				}
			}
			flush()
			b.StopTimer()
			if cpu1, ok := cputime.Process(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
			if tel.spans != nil {
				if d := tel.spans.b.dropped.Load() + tel.logs.b.dropped.Load(); d > 0 {
					b.Errorf("%d spans and log records dropped: the figures would be too low", d)
				}
				if f := tel.spans.b.failed.Load() + tel.logs.b.failed.Load(); f > 0 {
					b.Errorf("%d spans and log records failed to export", f)
				}
			}
			if mode == "full-otlp" && requests() == 0 {
				b.Errorf("the OTLP sink received nothing")
			}
		})
	}
}
