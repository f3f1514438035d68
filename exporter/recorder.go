package exporter

import (
	"context"
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

type opSpan struct {
	span trace.Span
	r    *recorder
}

func (s *opSpan) TraceID() string { return traceID(s.span) }
func (s *opSpan) SpanID() string  { return spanID(s.span) }

func (s *opSpan) End(ev *provisioning.Event) {
	if ev == nil {
		s.span.End()
		return
	}
	var kv [6]attribute.KeyValue
	n := 0
	kv[n] = attribute.String(AttrAction, string(ev.Action))
	n++
	kv[n] = attribute.String(AttrStatus, string(ev.Status))
	n++
	if ev.TargetIdentity.ID != "" {
		kv[n] = attribute.String(AttrTargetID, ev.TargetIdentity.ID)
		n++
	}
	if ev.ID != "" {
		kv[n] = attribute.String(AttrEventID, ev.ID)
		n++
	}
	if ei := ev.ErrorInformation; ei != nil && ei.ErrorCode != "" {
		kv[n] = attribute.String(AttrErrorCode, ei.ErrorCode)
		n++
		if ev.Status == provisioning.ResultFailure {
			kv[n] = attribute.String(AttrErrorType, s.r.t.inst.errorType(ei.ErrorCode))
			n++
		}
	}
	s.span.SetAttributes(kv[:n]...)
	if ev.Status == provisioning.ResultFailure {
		msg := ""
		if ev.ErrorInformation != nil {
			msg = ev.ErrorInformation.ErrorCode
		}
		if ev.ErrorInformation == nil || ev.ErrorInformation.ErrorCode == "" {
			s.span.SetAttributes(attribute.String(AttrErrorType, ErrorTypeOther))
		}
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
	// Link to the cycle span named by info (its context is usually also in ctx).
	link := trace.Link{Attributes: []attribute.KeyValue{linkReason}}
	if info.CycleTraceID != "" {
		link.SpanContext = remoteSpanContext(info.CycleTraceID, info.CycleSpanID)
	} else {
		link.SpanContext = trace.SpanContextFromContext(ctx)
	}
	kv := make([]attribute.KeyValue, 0, 6)
	kv = append(kv, attribute.String(AttrJobID, info.JobID), attribute.String(AttrCycleID, info.CycleID),
		attribute.String(AttrChangeID, info.ChangeID), attribute.String(AttrIdentityType, string(info.IdentityType)),
		attribute.String(AttrSourceID, info.SourceID))
	if info.CycleType != "" {
		kv = append(kv, attribute.String(AttrCycleType, string(info.CycleType)))
	}
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(kv...)}
	if link.SpanContext.IsValid() {
		opts = append(opts, trace.WithLinks(link))
	}
	ctx, span := r.tracer.Start(ctx, opSpanName(info.IdentityType), opts...)
	return ctx, &opSpan{span: span, r: r}
}

type stepSpan struct{ span trace.Span }

func (s stepSpan) SpanID() string { return spanID(s.span) }

func (s stepSpan) End(st provisioning.Step) {
	var buf [8]attribute.KeyValue
	kv := append(buf[:0], attribute.String(AttrStepName, st.Name), attribute.String(AttrStepStatus, string(st.Status)))
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
	if st.Status == provisioning.ResultFailure {
		s.span.SetStatus(codes.Error, st.Description)
	}
	if !st.Start.IsZero() {
		end := st.Start.Add(time.Duration(st.DurationInMilliseconds * float64(time.Millisecond)))
		s.span.End(trace.WithTimestamp(end))
		return
	}
	s.span.End()
}

func (r *recorder) StartStep(ctx context.Context, typ provisioning.StepType, _ string, start time.Time) (context.Context, provisioning.StepSpan) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String(AttrStepType, string(typ)))}
	if !start.IsZero() {
		opts = append(opts, trace.WithTimestamp(start))
	}
	ctx, span := r.tracer.Start(ctx, string(typ), opts...)
	return ctx, stepSpan{span}
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
