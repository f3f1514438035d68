package provisioning

import (
	"context"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// Observer is told what the engine does, after it is durable. The telemetry exporter
// implements it (metrics and logs); so can tests. Calls come from engine goroutines and
// must not block: implementations hand work off or do it in constant time.
type Observer interface {
	// CycleStarted and CycleEnded bracket a cycle.
	CycleStarted(ctx context.Context, job *Job, c Cycle)
	CycleEnded(ctx context.Context, job *Job, c Cycle)
	// Events are called once a batch of events has committed.
	Events(ctx context.Context, job *Job, events []Event)
	// StatusChanged is called when a job's status code or quarantine changes.
	StatusChanged(ctx context.Context, job *Job, change StatusChange, status Status)
	// AdminAction is called for each audited admin action.
	AdminAction(ctx context.Context, entry AuditEntry)
}

// OperationInfo describes an object operation about to start.
type OperationInfo struct {
	JobID        string
	CycleID      string
	ChangeID     string
	CycleType    CycleType
	IdentityType connectors.ObjectType
	SourceID     string
	// CycleSpan is the cycle's span (trace id, span id) to link to; empty for none.
	CycleTraceID, CycleSpanID string
	Start                     time.Time
}

// Span is a started span handle.
type Span interface {
	// TraceID and SpanID in lowercase hex ("" when not recording).
	TraceID() string
	SpanID() string
}

// CycleSpan is a running cycle's span.
type CycleSpan interface {
	Span
	End(c Cycle)
}

// OperationSpan is a running object operation's root span.
type OperationSpan interface {
	Span
	End(ev *Event)
}

// StepSpan is a running step's span.
type StepSpan interface {
	// SpanID in lowercase hex ("" when not recording).
	SpanID() string
	End(step Step)
}

// Recorder starts spans for cycles, object operations and their steps. The telemetry
// exporter implements it with OpenTelemetry; the context it returns carries the span, so a
// connector's HTTP client spans nest beneath the step that made the call.
type Recorder interface {
	StartCycle(ctx context.Context, job *Job, c Cycle) (context.Context, CycleSpan)
	StartOperation(ctx context.Context, info OperationInfo) (context.Context, OperationSpan)
	StartStep(ctx context.Context, typ StepType, name string, start time.Time) (context.Context, StepSpan)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) CycleStarted(context.Context, *Job, Cycle)                 {}
func (NopObserver) CycleEnded(context.Context, *Job, Cycle)                   {}
func (NopObserver) Events(context.Context, *Job, []Event)                     {}
func (NopObserver) StatusChanged(context.Context, *Job, StatusChange, Status) {}
func (NopObserver) AdminAction(context.Context, AuditEntry)                   {}

// NopRecorder records nothing.
type NopRecorder struct{}

type nopSpan struct{}

func (nopSpan) TraceID() string { return "" }
func (nopSpan) SpanID() string  { return "" }
func (nopSpan) End(Cycle)       {}

type nopOpSpan struct{ nopSpan }

func (nopOpSpan) End(*Event) {}

type nopStepSpan struct{}

func (nopStepSpan) End(Step)       {}
func (nopStepSpan) SpanID() string { return "" }

func (NopRecorder) StartCycle(ctx context.Context, _ *Job, _ Cycle) (context.Context, CycleSpan) {
	return ctx, nopSpan{}
}
func (NopRecorder) StartOperation(ctx context.Context, _ OperationInfo) (context.Context, OperationSpan) {
	return ctx, nopOpSpan{}
}
func (NopRecorder) StartStep(ctx context.Context, _ StepType, _ string, _ time.Time) (context.Context, StepSpan) {
	return ctx, nopStepSpan{}
}

// Observers fans out to several observers.
type Observers []Observer

func (o Observers) CycleStarted(ctx context.Context, j *Job, c Cycle) {
	for _, x := range o {
		x.CycleStarted(ctx, j, c)
	}
}
func (o Observers) CycleEnded(ctx context.Context, j *Job, c Cycle) {
	for _, x := range o {
		x.CycleEnded(ctx, j, c)
	}
}
func (o Observers) Events(ctx context.Context, j *Job, ev []Event) {
	for _, x := range o {
		x.Events(ctx, j, ev)
	}
}
func (o Observers) StatusChanged(ctx context.Context, j *Job, ch StatusChange, s Status) {
	for _, x := range o {
		x.StatusChanged(ctx, j, ch, s)
	}
}
func (o Observers) AdminAction(ctx context.Context, e AuditEntry) {
	for _, x := range o {
		x.AdminAction(ctx, e)
	}
}
