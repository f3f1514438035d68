package exporter

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

// recorder implements provisioning.Recorder with OpenTelemetry spans: a trace per cycle,
// and per object operation a new root span linked to the cycle span, with a child span
// per step (and otelhttp's client spans beneath the step that made the call).
type recorder struct {
	t      *Telemetry
	tracer trace.Tracer
}

var linkReason = attribute.String(AttrLinkReason, LinkScheduledBy)

type cycleSpan struct{ span trace.Span }

func (s cycleSpan) TraceID() string { return traceID(s.span) }
func (s cycleSpan) SpanID() string  { return spanID(s.span) }

func (s cycleSpan) End(c provisioning.Cycle) {
	s.span.SetAttributes(
		attribute.String(AttrCycleState, string(c.State)),
		attribute.Int64(AttrCountImported, c.CountImported),
		attribute.Int64(AttrCountImportedDeltas, c.CountImportedDeltas),
		attribute.Int64(AttrCountEntitled, c.CountEntitled),
		attribute.Int64(AttrCountExports, c.CountExports),
		attribute.Int64(AttrCountExported, c.CountExported),
		attribute.Int64(AttrCountEscrowed, c.CountEscrowed),
		attribute.Int64(AttrCountFailed, c.CountFailed),
		attribute.Int64(AttrCountSkipped, c.CountSkipped),
		attribute.Int64(AttrCountStaged, c.CountStaged),
	)
	if c.State == provisioning.CycleFailed {
		code := "CycleFailed"
		msg := ""
		if c.Error != nil {
			code, msg = c.Error.Code, c.Error.Message
		}
		s.span.SetAttributes(attribute.String(AttrErrorType, boundedOr(code)), attribute.String(AttrErrorCode, code))
		s.span.SetStatus(codes.Error, msg)
	}
	if c.TimeEnded != nil {
		s.span.End(trace.WithTimestamp(*c.TimeEnded))
		return
	}
	s.span.End()
}

func (r *recorder) StartCycle(ctx context.Context, job *provisioning.Job, c provisioning.Cycle) (context.Context, provisioning.CycleSpan) {
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String(AttrJobID, job.ID), attribute.String(AttrCycleID, c.CycleID),
			attribute.String(AttrCycleType, string(c.Type)))}
	if !c.TimeBegan.IsZero() {
		opts = append(opts, trace.WithTimestamp(c.TimeBegan))
	}
	ctx, span := r.tracer.Start(ctx, SpanCycle, opts...)
	return ctx, cycleSpan{span}
}

// Start options shared by every call (read-only; the SDK does not retain them). The span
// kind is given explicitly although internal is the default.
var (
	internalKind = trace.WithSpanKind(trace.SpanKindInternal)
	rootOpts     = []trace.SpanStartOption{trace.WithNewRoot(), internalKind}
	stepOpts     = []trace.SpanStartOption{internalKind}
	linkAttrs    = []attribute.KeyValue{linkReason}
)

// maxInlineSteps is how many step spans an operation holds without a further allocation
// (one per step type; more is rare: a retried export, for instance).
const maxInlineSteps = 6

// opSpan is an operation's root span. It is also the context the operation's steps start
// from (the tracer's context plus itself as a value), so that StartStep finds its step
// slots without another allocation.
//
// The operation's attributes are set when the span ends, in one call: a span is exported
// only once it has ended, so what leaves the process is the same, and the SDK grows the
// span's attribute slice once instead of copying start options into it. Only a sampler
// or an OnStart processor could tell the difference; the samplers OTEL_TRACES_SAMPLER
// selects look at the trace id and the parent only, and spanBatcher ignores OnStart.
type opSpan struct {
	context.Context
	span trace.Span
	r    *recorder
	info provisioning.OperationInfo

	nsteps atomic.Int32
	steps  [maxInlineSteps]stepSpan
}

// opSpanKey is the context key under which an operation's context holds its *opSpan.
type opSpanKey struct{}

// Value returns the operation itself for opSpanKey, else what the tracer's context holds.
func (s *opSpan) Value(key any) any {
	if key == (opSpanKey{}) {
		return s
	}
	return s.Context.Value(key)
}

func (s *opSpan) TraceID() string { return traceID(s.span) }
func (s *opSpan) SpanID() string  { return spanID(s.span) }

// startAttrs appends the attributes known when the operation started.
func (s *opSpan) startAttrs(kv []attribute.KeyValue) []attribute.KeyValue {
	kv = append(kv, attribute.String(AttrJobID, s.info.JobID), attribute.String(AttrCycleID, s.info.CycleID),
		attribute.String(AttrChangeID, s.info.ChangeID), attribute.String(AttrIdentityType, string(s.info.IdentityType)),
		attribute.String(AttrSourceID, s.info.SourceID))
	if s.info.CycleType != "" {
		kv = append(kv, attribute.String(AttrCycleType, string(s.info.CycleType)))
	}
	return kv
}

func (s *opSpan) End(ev *provisioning.Event) {
	buf := getKVs()
	defer putKVs(buf)
	kv := s.startAttrs(buf.kv[:0])
	if ev == nil {
		s.span.SetAttributes(kv...)
		s.span.End()
		return
	}
	kv = append(kv, attribute.String(AttrAction, string(ev.Action)), attribute.String(AttrStatus, string(ev.Status)))
	if ev.TargetIdentity.ID != "" {
		kv = append(kv, attribute.String(AttrTargetID, ev.TargetIdentity.ID))
	}
	if ev.ID != "" {
		kv = append(kv, attribute.String(AttrEventID, ev.ID))
	}
	msg := ""
	if ei := ev.ErrorInformation; ei != nil && ei.ErrorCode != "" {
		kv = append(kv, attribute.String(AttrErrorCode, ei.ErrorCode))
		if ev.Status == provisioning.ResultFailure {
			kv = append(kv, attribute.String(AttrErrorType, s.r.t.inst.errorType(ei.ErrorCode)))
		}
		msg = ei.ErrorCode
	} else if ev.Status == provisioning.ResultFailure {
		kv = append(kv, attribute.String(AttrErrorType, ErrorTypeOther))
	}
	s.span.SetAttributes(kv...)
	if ev.Status == provisioning.ResultFailure {
		s.span.SetStatus(codes.Error, msg)
	}
	s.span.End()
}

func opSpanName(t connectors.ObjectType) string {
	switch t {
	case connectors.TypeUser:
		return SpanProvisionUser
	case connectors.TypeGroup:
		return SpanProvisionGroup
	}
	return SpanProvisionOther
}

func (r *recorder) StartOperation(ctx context.Context, info provisioning.OperationInfo) (context.Context, provisioning.OperationSpan) {
	// Link to the cycle span named by info (its context is usually also in ctx). Adding
	// the link right after the start is what the SDK does with WithLinks, minus copies.
	link := trace.Link{Attributes: linkAttrs}
	if info.CycleTraceID != "" {
		link.SpanContext = remoteSpanContext(info.CycleTraceID, info.CycleSpanID)
	} else {
		link.SpanContext = trace.SpanContextFromContext(ctx)
	}
	ctx, span := r.tracer.Start(ctx, opSpanName(info.IdentityType), rootOpts...)
	if link.SpanContext.IsValid() {
		span.AddLink(link)
	}
	s := &opSpan{Context: ctx, span: span, r: r, info: info}
	return s, s
}

// stepSpan is a step's span; its options live with it so that starting and ending it
// allocate nothing of ours.
type stepSpan struct {
	span  trace.Span
	typ   provisioning.StepType
	start [2]trace.SpanStartOption
	end   [1]trace.SpanEndOption
}

func (s *stepSpan) SpanID() string { return spanID(s.span) }

// End sets the step's attributes (its type too: see opSpan) and ends the span at the
// step's start plus its duration.
func (s *stepSpan) End(st provisioning.Step) {
	buf := getKVs()
	kv := append(buf.kv[:0], attribute.String(AttrStepType, string(s.typ)), attribute.String(AttrStepName, st.Name),
		attribute.String(AttrStepStatus, string(st.Status)))
	if st.Description != "" {
		kv = append(kv, attribute.String(AttrStepDescription, st.Description))
	}
	for k, v := range st.Details {
		if sensitive(k) {
			v = redacted
		}
		kv = append(kv, attribute.String(AttrStepDetailPrefix+k, v))
	}
	s.span.SetAttributes(kv...)
	putKVs(buf)
	if st.Status == provisioning.ResultFailure {
		s.span.SetStatus(codes.Error, st.Description)
	}
	if !st.Start.IsZero() {
		end := st.Start.Add(time.Duration(st.DurationInMilliseconds * float64(time.Millisecond)))
		s.end[0] = trace.WithTimestamp(end)
		s.span.End(s.end[:]...)
		return
	}
	s.span.End()
}

func (r *recorder) StartStep(ctx context.Context, typ provisioning.StepType, _ string, start time.Time) (context.Context, provisioning.StepSpan) {
	var s *stepSpan
	if op, ok := ctx.Value(opSpanKey{}).(*opSpan); ok {
		if i := op.nsteps.Add(1) - 1; i < maxInlineSteps {
			s = &op.steps[i]
		}
	}
	if s == nil {
		s = new(stepSpan)
	}
	s.typ = typ
	opts := stepOpts
	if !start.IsZero() {
		s.start = [2]trace.SpanStartOption{internalKind, trace.WithTimestamp(start)}
		opts = s.start[:]
	}
	ctx, s.span = r.tracer.Start(ctx, string(typ), opts...)
	return ctx, s
}

// kvBuf is scratch space for the attributes of one SetAttributes call (the SDK copies
// them), pooled because a slice passed through an interface method escapes.
type kvBuf struct{ kv [16]attribute.KeyValue }

var kvPool = sync.Pool{New: func() any { return new(kvBuf) }}

func getKVs() *kvBuf { return kvPool.Get().(*kvBuf) }

func putKVs(b *kvBuf) {
	clear(b.kv[:])
	kvPool.Put(b)
}

func traceID(s trace.Span) string {
	sc := s.SpanContext()
	if !s.IsRecording() || !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

func spanID(s trace.Span) string {
	sc := s.SpanContext()
	if !s.IsRecording() || !sc.IsValid() {
		return ""
	}
	return sc.SpanID().String()
}

// remoteSpanContext rebuilds a sampled span context from hex ids (an invalid one when
// they do not parse).
func remoteSpanContext(tid, sid string) trace.SpanContext {
	t, err := trace.TraceIDFromHex(tid)
	if err != nil {
		return trace.SpanContext{}
	}
	s, err := trace.SpanIDFromHex(sid)
	if err != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: t, SpanID: s, TraceFlags: trace.FlagsSampled, Remote: true})
}

// boundedOr returns code when it is a bounded identifier, else _OTHER.
func boundedOr(code string) string {
	if boundedCode(code) {
		return code
	}
	return ErrorTypeOther
}
