package exporter

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
	bodies bodyCache
}

const redacted = "[redacted]"

// sensitive reports whether a property or detail name may hold a secret: it contains
// one of sensitiveWords, in any case. (Called for every detail of every step: ASCII names
// are matched without allocating.)
func sensitive(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			n := strings.ToLower(name)
			for _, w := range sensitiveWords {
				if strings.Contains(n, w) {
					return true
				}
			}
			return false
		}
	}
	for _, w := range sensitiveWords {
		if containsFoldASCII(name, w) {
			return true
		}
	}
	return false
}

var sensitiveWords = []string{"password", "secret", "token", "credential"}

// containsFoldASCII reports whether s contains the lowercase ASCII word w, ignoring case.
func containsFoldASCII(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
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
	o.inst.operations.Add(ectx, 1, set.add...)
	o.inst.opDuration.Record(ectx, float64(ev.DurationInMilliseconds)/1000, set.rec...)
	if ev.Status == provisioning.ResultSuccess {
		switch ev.Action {
		case provisioning.ActionCreate, provisioning.ActionUpdate, provisioning.ActionDisable, provisioning.ActionDelete:
			o.inst.synced.Add(ectx, 1, set.add...)
		}
	}
	if o.t.logging {
		o.logger.Emit(ectx, o.eventRecord(jobID, ev))
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

// Keys of the structured values in an event's log record, each list in key order: that
// is the order attribute.MapValue stores a map in, so its sort has nothing to move.
const (
	keyDescription  = "description"
	keyDetails      = "details"
	keyDuration     = "durationInMilliseconds"
	keyName         = "name"
	keyStepType     = "provisioningStepType"
	keyStart        = "start"
	keyStepStatus   = "status"
	keyDisplayName  = "displayName"
	keyNewValue     = "newValue"
	keyOldValue     = "oldValue"
	inlineSteps     = 8 // steps, and modified properties, built in stack arrays
	eventAttrsCount = 25
)

// eventBody is the body of an event's log record.
func (o *observer) eventBody(ev *provisioning.Event) string {
	if ev.ErrorInformation != nil && ev.ErrorInformation.Reason != "" {
		return string(ev.Action) + " " + ev.SourceIdentity.IdentityType + " " + string(ev.Status) + ": " + ev.ErrorInformation.Reason
	}
	return o.bodies.get(bodyKey{ev.Action, ev.SourceIdentity.IdentityType, ev.Status})
}

type bodyKey struct {
	action   provisioning.Action
	identity string
	status   provisioning.Result
}

// bodyCache holds the few distinct bodies of events without an error reason (action ×
// identity type × status), bounded like the metric attribute sets.
type bodyCache struct {
	m sync.Map // bodyKey → string
	n atomic.Int32
}

const maxBodies = 256

func (c *bodyCache) get(k bodyKey) string {
	if v, ok := c.m.Load(k); ok {
		return v.(string)
	}
	b := string(k.action) + " " + k.identity + " " + string(k.status)
	if c.n.Add(1) <= maxBodies {
		c.m.Store(k, b)
	}
	return b
}

// eventRecord is the log record of an event: every field of the event as an attribute,
// steps and modified properties as structured values.
//
// It is built for the per-operation path: attributes in stack arrays, one string for all
// the steps' start times, map keys already in the order MapValue keeps them, the body of
// the common events cached.
func (o *observer) eventRecord(jobID string, ev *provisioning.Event) otellog.Record {
	var r otellog.Record
	r.SetEventName(EventProvisioning)
	r.SetTimestamp(ev.ActivityDateTime)
	r.SetObservedTimestamp(time.Now())
	sev, text := severity(ev.Status)
	r.SetSeverity(sev)
	r.SetSeverityText(text)
	r.SetBody(attribute.StringValue(o.eventBody(ev)))

	var attrsBuf [eventAttrsCount]attribute.KeyValue
	attrs := append(attrsBuf[:0],
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
	attrs = append(attrs, attribute.KeyValue{Key: AttrSteps, Value: stepsValue(ev.ProvisioningSteps)},
		attribute.KeyValue{Key: AttrModified, Value: modifiedValue(ev.ModifiedProperties)})
	r.AddAttributes(attrs...)
	return r
}

// stepsValue returns the steps as a slice of maps (the steps' JSON field names as keys).
func stepsValue(steps []provisioning.Step) attribute.Value {
	var (
		valBuf [inlineSteps]attribute.Value
		endBuf [inlineSteps]int
		tsBuf  [inlineSteps * len("2006-01-02T15:04:05.999999999-07:00")]byte
	)
	vals, ends := valBuf[:0], endBuf[:0]
	if len(steps) > inlineSteps {
		vals, ends = make([]attribute.Value, 0, len(steps)), make([]int, 0, len(steps))
	}
	// One string for all the start times: each step's is a substring of it.
	ts := tsBuf[:0]
	for i := range steps {
		ts = steps[i].Start.AppendFormat(ts, time.RFC3339Nano)
		ends = append(ends, len(ts))
	}
	starts := string(ts)
	from := 0
	for i := range steps {
		s := &steps[i]
		var kvBuf [7]attribute.KeyValue
		kv := append(kvBuf[:0], attribute.String(keyDescription, s.Description))
		if len(s.Details) > 0 {
			kv = append(kv, attribute.Map(keyDetails, detailValues(s.Details)...))
		}
		kv = append(kv,
			attribute.Float64(keyDuration, s.DurationInMilliseconds),
			attribute.String(keyName, s.Name),
			attribute.String(keyStepType, string(s.ProvisioningStepType)),
			attribute.String(keyStart, starts[from:ends[i]]),
			attribute.String(keyStepStatus, string(s.Status)))
		from = ends[i]
		vals = append(vals, attribute.MapValue(kv...))
	}
	return attribute.SliceValue(vals...)
}

// detailValues returns a step's details, the sensitive ones redacted.
func detailValues(details map[string]string) []attribute.KeyValue {
	d := make([]attribute.KeyValue, 0, len(details))
	for k, v := range details {
		if sensitive(k) {
			v = redacted
		}
		d = append(d, attribute.String(k, v))
	}
	return d
}

// modifiedValue returns the modified properties as a slice of maps, the sensitive ones
// redacted.
func modifiedValue(mods []provisioning.ModifiedProperty) attribute.Value {
	var buf [inlineSteps]attribute.Value
	vals := buf[:0]
	if len(mods) > inlineSteps {
		vals = make([]attribute.Value, 0, len(mods))
	}
	for i := range mods {
		m := &mods[i]
		oldV, newV := m.OldValue, m.NewValue
		if sensitive(m.DisplayName) {
			oldV, newV = redacted, redacted
		}
		vals = append(vals, attribute.MapValue(attribute.String(keyDisplayName, m.DisplayName),
			attribute.String(keyNewValue, newV), attribute.String(keyOldValue, oldV)))
	}
	return attribute.SliceValue(vals...)
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
