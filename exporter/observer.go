package exporter

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"

	"github.com/provisiond/provisiond/provisioning"
)

// observer implements provisioning.Observer: operation and cycle metrics, and one log
// record per event, cycle boundary, status change and admin action. Every call does a
// constant amount of non-blocking work (metric updates; log records go to the batch
// processor's bounded queue).
type observer struct {
	t      *Telemetry
	logger otellog.Logger
	inst   *instruments
}

const redacted = "[redacted]"

// sensitive reports whether a property or detail name may hold a secret.
func sensitive(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token") ||
		strings.Contains(n, "credential")
}

// eventContext returns ctx carrying the operation's span context (from the ids stored in
// the event), so metric exemplars and log records point at the operation's trace.
func eventContext(ctx context.Context, traceID, spanID string) context.Context {
	if traceID == "" {
		return trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	}
	sc := remoteSpanContext(traceID, spanID)
	return trace.ContextWithSpanContext(ctx, sc)
}

func (o *observer) CycleStarted(ctx context.Context, job *provisioning.Job, c provisioning.Cycle) {
	if !o.t.logging {
		return
	}
	var r otellog.Record
	r.SetEventName(EventCycleStarted)
	r.SetTimestamp(c.TimeBegan)
	r.SetSeverity(otellog.SeverityInfo)
	r.SetSeverityText("INFO")
	r.SetBody(attribute.StringValue(string(c.Type) + " cycle started"))
	r.AddAttributes(attribute.String(AttrJobID, job.ID), attribute.String(AttrCycleID, c.CycleID),
		attribute.String(AttrCycleType, string(c.Type)))
	o.logger.Emit(eventContext(ctx, c.TraceID, c.SpanID), r)
}

func (o *observer) CycleEnded(ctx context.Context, job *provisioning.Job, c provisioning.Cycle) {
	cctx := eventContext(ctx, c.TraceID, c.SpanID)
	set := o.inst.cycleSet(cycleKey{job: job.ID, typ: c.Type, state: c.State})
	o.inst.cycles.Add(cctx, 1, set)
	if c.TimeEnded != nil {
		o.inst.cycleDur.Record(cctx, c.TimeEnded.Sub(c.TimeBegan).Seconds(), set)
	}
	if !o.t.logging {
		return
	}
	var r otellog.Record
	r.SetEventName(EventCycleEnded)
	if c.TimeEnded != nil {
		r.SetTimestamp(*c.TimeEnded)
	}
	sev, text := otellog.SeverityInfo, "INFO"
	switch c.State {
	case provisioning.CycleFailed:
		sev, text = otellog.SeverityError, "ERROR"
	case provisioning.CycleEntryLevelErrors:
		sev, text = otellog.SeverityWarn, "WARN"
	}
	r.SetSeverity(sev)
	r.SetSeverityText(text)
	r.SetBody(attribute.StringValue(string(c.Type) + " cycle ended: " + string(c.State)))
	r.AddAttributes(attribute.String(AttrJobID, job.ID), attribute.String(AttrCycleID, c.CycleID),
		attribute.String(AttrCycleType, string(c.Type)), attribute.String(AttrCycleState, string(c.State)),
		attribute.Int64(AttrCountImported, c.CountImported), attribute.Int64(AttrCountImportedDeltas, c.CountImportedDeltas),
		attribute.Int64(AttrCountEntitled, c.CountEntitled), attribute.Int64(AttrCountExports, c.CountExports),
		attribute.Int64(AttrCountExported, c.CountExported), attribute.Int64(AttrCountEscrowed, c.CountEscrowed),
		attribute.Int64(AttrCountFailed, c.CountFailed), attribute.Int64(AttrCountSkipped, c.CountSkipped),
		attribute.Int64(AttrCountStaged, c.CountStaged))
	if c.Error != nil {
		r.AddAttributes(attribute.String(AttrErrorCode, c.Error.Code), attribute.String(AttrErrorReason, c.Error.Message))
	}
	o.logger.Emit(cctx, r)
}

func (o *observer) Events(ctx context.Context, job *provisioning.Job, events []provisioning.Event) {
	for i := range events {
		o.event(ctx, job, &events[i])
	}
}

func (o *observer) event(ctx context.Context, job *provisioning.Job, ev *provisioning.Event) {
	ectx := eventContext(ctx, ev.TraceID, ev.SpanID)
	errType := ""
	if ev.Status == provisioning.ResultFailure {
		errType = ErrorTypeOther
		if ev.ErrorInformation != nil && ev.ErrorInformation.ErrorCode != "" {
			errType = o.inst.errorType(ev.ErrorInformation.ErrorCode)
		}
	}
	jobID := ev.JobID
	if jobID == "" && job != nil {
		jobID = job.ID
	}
	set := o.inst.opSet(opKey{job: jobID, identity: ev.SourceIdentity.IdentityType, action: ev.Action, status: ev.Status, errType: errType})
	o.inst.operations.Add(ectx, 1, set)
	o.inst.opDuration.Record(ectx, float64(ev.DurationInMilliseconds)/1000, set)
	if ev.Status == provisioning.ResultSuccess {
		switch ev.Action {
		case provisioning.ActionCreate, provisioning.ActionUpdate, provisioning.ActionDisable, provisioning.ActionDelete:
			o.inst.synced.Add(ectx, 1, set)
		}
	}
	if o.t.logging {
		o.logger.Emit(ectx, eventRecord(jobID, ev))
	}
}

func severity(r provisioning.Result) (otellog.Severity, string) {
	switch r {
	case provisioning.ResultFailure:
		return otellog.SeverityError, "ERROR"
	case provisioning.ResultWarning:
		return otellog.SeverityWarn, "WARN"
	}
	return otellog.SeverityInfo, "INFO"
}

// eventRecord is the log record of an event: every field of the event as an attribute,
// steps and modified properties as structured values.
func eventRecord(jobID string, ev *provisioning.Event) otellog.Record {
	var r otellog.Record
	r.SetEventName(EventProvisioning)
	r.SetTimestamp(ev.ActivityDateTime)
	r.SetObservedTimestamp(time.Now())
	sev, text := severity(ev.Status)
	r.SetSeverity(sev)
	r.SetSeverityText(text)
	body := string(ev.Action) + " " + ev.SourceIdentity.IdentityType + " " + string(ev.Status)
	if ev.ErrorInformation != nil && ev.ErrorInformation.Reason != "" {
		body += ": " + ev.ErrorInformation.Reason
	}
	r.SetBody(attribute.StringValue(body))
	attrs := make([]attribute.KeyValue, 0, 26)
	attrs = append(attrs,
		attribute.String(AttrEventID, ev.ID),
		attribute.String(AttrJobID, jobID),
		attribute.String(AttrCycleID, ev.CycleID),
		attribute.String(AttrChangeID, ev.ChangeID),
		attribute.String(AttrAction, string(ev.Action)),
		attribute.String(AttrStatus, string(ev.Status)),
		attribute.String(AttrIdentityType, ev.SourceIdentity.IdentityType),
		attribute.String(AttrSourceID, ev.SourceIdentity.ID),
		attribute.String(AttrSourceName, ev.SourceIdentity.DisplayName),
		attribute.String(AttrTargetID, ev.TargetIdentity.ID),
		attribute.String(AttrTargetName, ev.TargetIdentity.DisplayName),
		attribute.String(AttrSourceSystem, ev.SourceSystem),
		attribute.String(AttrTargetSystem, ev.TargetSystem),
		attribute.String(AttrInitiatorID, ev.InitiatedBy.ID),
		attribute.String(AttrInitiatorName, ev.InitiatedBy.DisplayName),
		attribute.String(AttrInitiatorType, ev.InitiatedBy.InitiatorType),
		attribute.Int64(AttrDuration, ev.DurationInMilliseconds),
	)
	if ei := ev.ErrorInformation; ei != nil {
		attrs = append(attrs,
			attribute.String(AttrErrorCode, ei.ErrorCode),
			attribute.String(AttrErrorCategory, ei.ErrorCategory),
			attribute.String(AttrErrorReason, ei.Reason),
			attribute.String(AttrErrorDetails, ei.AdditionalDetails),
			attribute.String(AttrErrorAction, ei.RecommendedAction),
		)
		if ev.Status == provisioning.ResultFailure {
			attrs = append(attrs, attribute.String(AttrErrorType, boundedOr(ei.ErrorCode)))
		}
	}
	steps := make([]attribute.Value, len(ev.ProvisioningSteps))
	for i, s := range ev.ProvisioningSteps {
		kv := make([]attribute.KeyValue, 0, 7)
		kv = append(kv,
			attribute.String("name", s.Name),
			attribute.String("provisioningStepType", string(s.ProvisioningStepType)),
			attribute.String("status", string(s.Status)),
			attribute.String("description", s.Description),
			attribute.String("start", s.Start.Format(time.RFC3339Nano)),
			attribute.Float64("durationInMilliseconds", s.DurationInMilliseconds))
		if len(s.Details) > 0 {
			d := make([]attribute.KeyValue, 0, len(s.Details))
			for k, v := range s.Details {
				if sensitive(k) {
					v = redacted
				}
				d = append(d, attribute.String(k, v))
			}
			kv = append(kv, attribute.Map("details", d...))
		}
		steps[i] = attribute.MapValue(kv...)
	}
	attrs = append(attrs, attribute.Slice(AttrSteps, steps...))
	mods := make([]attribute.Value, len(ev.ModifiedProperties))
	for i, m := range ev.ModifiedProperties {
		oldV, newV := m.OldValue, m.NewValue
		if sensitive(m.DisplayName) {
			oldV, newV = redacted, redacted
		}
		mods[i] = attribute.MapValue(attribute.String("displayName", m.DisplayName),
			attribute.String("oldValue", oldV), attribute.String("newValue", newV))
	}
	attrs = append(attrs, attribute.Slice(AttrModified, mods...))
	r.AddAttributes(attrs...)
	return r
}

func (o *observer) StatusChanged(ctx context.Context, job *provisioning.Job, ch provisioning.StatusChange, st provisioning.Status) {
	o.t.gauges.poke()
	if !o.t.logging {
		return
	}
	var r otellog.Record
	quarantine := ch.NewCode == provisioning.StatusQuarantine || ch.OldCode == provisioning.StatusQuarantine
	name, sev, text := EventStatusChange, otellog.SeverityInfo, "INFO"
	if quarantine {
		name = EventQuarantine
		if ch.NewCode == provisioning.StatusQuarantine {
			sev, text = otellog.SeverityWarn, "WARN"
		}
	}
	r.SetEventName(name)
	r.SetTimestamp(ch.Time)
	r.SetSeverity(sev)
	r.SetSeverityText(text)
	body := "job status " + string(ch.OldCode) + " → " + string(ch.NewCode)
	if ch.Reason != "" {
		body += " (" + string(ch.Reason) + ")"
	}
	r.SetBody(attribute.StringValue(body))
	r.AddAttributes(attribute.String(AttrJobID, ch.JobID), attribute.String(AttrJobState, string(ch.NewCode)),
		attribute.String(AttrOldJobState, string(ch.OldCode)))
	if ch.CycleID != "" {
		r.AddAttributes(attribute.String(AttrCycleID, ch.CycleID))
	}
	if ch.Reason != "" {
		r.AddAttributes(attribute.String(AttrQuarantineReason, string(ch.Reason)))
	}
	if ch.Message != "" {
		r.AddAttributes(attribute.String(AttrMessage, ch.Message))
	}
	if q := ch.Quarantine; q != nil {
		r.AddAttributes(attribute.String(AttrNextAttempt, q.NextAttempt.UTC().Format(time.RFC3339)),
			attribute.String(AttrErrorCode, q.Error.Code), attribute.String(AttrErrorReason, q.Error.Message))
		if q.FailingRequest != "" {
			r.AddAttributes(attribute.String(AttrFailingRequest, q.FailingRequest))
		}
		if q.FailingObject != nil {
			r.AddAttributes(attribute.String(AttrSourceID, q.FailingObject.ID))
		}
	}
	o.logger.Emit(ctx, r)
}

func (o *observer) AdminAction(ctx context.Context, e provisioning.AuditEntry) {
	o.t.gauges.poke()
	if !o.t.logging {
		return
	}
	var r otellog.Record
	r.SetEventName(EventAdminAction)
	r.SetTimestamp(e.Time)
	r.SetSeverity(otellog.SeverityInfo)
	r.SetSeverityText("INFO")
	r.SetBody(attribute.StringValue("admin action " + e.Action + ": " + e.Result))
	r.AddAttributes(attribute.String(AttrAuditID, e.ID), attribute.String(AttrAdminAction, e.Action),
		attribute.String(AttrAdminActor, e.Actor), attribute.String(AttrAdminResult, e.Result))
	if e.JobID != "" {
		r.AddAttributes(attribute.String(AttrJobID, e.JobID))
	}
	if len(e.Details) > 0 {
		d := make([]attribute.KeyValue, 0, len(e.Details))
		for k, v := range e.Details {
			if sensitive(k) {
				v = redacted
			}
			d = append(d, attribute.String(k, v))
		}
		r.AddAttributes(attribute.Map(AttrAdminDetails, d...))
	}
	o.logger.Emit(ctx, r)
}
