package exporter

import (
	"context"
	"testing"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// BenchmarkOperationTelemetry is the telemetry cost of one object operation as the engine
// drives it: the root span with its link, six step spans, the final attributes, then the
// observer's metrics (counter, histogram, exemplars) and the event's log record — through
// the real batch processors (exporters discard).
func BenchmarkOperationTelemetry(b *testing.B) {
	for _, mode := range []string{"full", "none"} {
		b.Run(mode, func(b *testing.B) {
			p := providers{readers: []sdkmetric.Reader{sdkmetric.NewManualReader()}, snapEvery: time.Hour}
			if mode == "full" {
				p.spanProc = newSpanBatcher(discardSpans{}, defaultBatch)
				p.logProc = newLogBatcher(discardLogs{}, defaultBatch)
			}
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
			}
		})
	}
}
