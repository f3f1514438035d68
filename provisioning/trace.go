package provisioning

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// TraceSpan is one span of an object operation's trace, as the query API serves it
// (GET /api/v1/provisioningLogs/{id}/trace) and a trace view draws it.
type TraceSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId,omitempty"`
	// Name is the operation ("provision user"), the step type ("export") or the call
	// ("HTTP POST").
	Name    string `json:"name"`
	Service string `json:"service"`
	// Kind is "internal" for the operation and its steps, "client" for calls.
	Kind                   string    `json:"kind"`
	Start                  time.Time `json:"start"`
	DurationInMilliseconds float64   `json:"durationInMilliseconds"`
	// Status is "ok", "error" or "unset".
	Status        string            `json:"status"`
	StatusMessage string            `json:"statusMessage,omitempty"`
	Attributes    map[string]string `json:"attributes,omitempty"`
}

// OperationTrace returns the spans of an event's operation: the operation, a span per
// step beneath it and the step's calls beneath the step, in start order. Span ids are
// the ones telemetry recorded; where it recorded none (telemetry off), they are derived
// from the event id, so the same event always gives the same trace.
func OperationTrace(ev Event, service string) []TraceSpan {
	traceID := ev.TraceID
	if traceID == "" {
		traceID = derivedID(ev.ID, "trace", 16)
	}
	rootID := ev.SpanID
	if rootID == "" {
		rootID = derivedID(ev.ID, "root", 8)
	}
	start := ev.ActivityDateTime.UTC()
	end := start.Add(time.Duration(ev.DurationInMilliseconds) * time.Millisecond)
	for _, st := range ev.ProvisioningSteps {
		if !st.Start.IsZero() && st.Start.Before(start) {
			start = st.Start.UTC()
		}
		if e := st.Start.Add(msDuration(st.DurationInMilliseconds)); e.After(end) {
			end = e
		}
	}
	name := "provision " + strings.ToLower(ev.SourceIdentity.IdentityType)
	if ev.SourceIdentity.IdentityType == "" {
		name = "provision object"
	}
	root := TraceSpan{TraceID: traceID, SpanID: rootID, Name: name, Service: service, Kind: "internal",
		Start: start, DurationInMilliseconds: float64(end.Sub(start).Microseconds()) / 1000,
		Status: spanStatus(ev.Status), Attributes: map[string]string{
			"provisioning.job.id": ev.JobID, "provisioning.cycle.id": ev.CycleID, "provisioning.change.id": ev.ChangeID,
			"provisioning.event.id": ev.ID, "provisioning.action": string(ev.Action), "provisioning.status": string(ev.Status),
			"provisioning.identity.type": ev.SourceIdentity.IdentityType,
			"provisioning.source.id":     ev.SourceIdentity.ID, "provisioning.source.display_name": ev.SourceIdentity.DisplayName,
			"provisioning.target.id": ev.TargetIdentity.ID,
		}}
	if ei := ev.ErrorInformation; ei != nil {
		root.StatusMessage = ei.Reason
		root.Attributes["error.type"] = ei.ErrorCode
		root.Attributes["provisioning.error.code"] = ei.ErrorCode
		root.Attributes["provisioning.error.category"] = ei.ErrorCategory
		if ei.RecommendedAction != "" {
			root.Attributes["provisioning.error.recommended_action"] = ei.RecommendedAction
		}
	}
	for k, v := range root.Attributes {
		if v == "" {
			delete(root.Attributes, k)
		}
	}
	spans := []TraceSpan{root}
	for i, st := range ev.ProvisioningSteps {
		id := st.SpanID
		if id == "" {
			id = derivedID(ev.ID, "step"+strconv.Itoa(i), 8)
		}
		attrs := map[string]string{"provisioning.step.type": string(st.ProvisioningStepType),
			"provisioning.step.name": st.Name, "provisioning.step.status": string(st.Status)}
		if st.Description != "" {
			attrs["provisioning.step.description"] = st.Description
		}
		for k, v := range st.Details {
			attrs["provisioning.step.detail."+k] = v
		}
		s := TraceSpan{TraceID: traceID, SpanID: id, ParentSpanID: rootID, Name: string(st.ProvisioningStepType),
			Service: service, Kind: "internal", Start: st.Start.UTC(), DurationInMilliseconds: st.DurationInMilliseconds,
			Status: spanStatus(st.Status), Attributes: attrs}
		if st.Status == ResultFailure {
			s.StatusMessage = st.Description
		}
		spans = append(spans, s)
		for k, c := range st.Calls {
			cid := c.SpanID
			if cid == "" {
				cid = derivedID(ev.ID, "step"+strconv.Itoa(i)+"call"+strconv.Itoa(k), 8)
			}
			cs := TraceSpan{TraceID: traceID, SpanID: cid, ParentSpanID: id, Name: "HTTP " + c.Method,
				Service: service, Kind: "client", Start: c.Start.UTC(), DurationInMilliseconds: c.DurationInMilliseconds,
				Status: "unset", Attributes: map[string]string{"http.request.method": c.Method}}
			if path, query, ok := strings.Cut(c.Target, "?"); ok {
				cs.Attributes["url.path"], cs.Attributes["url.query"] = path, query
			} else {
				cs.Attributes["url.path"] = c.Target
			}
			if c.Status > 0 {
				cs.Attributes["http.response.status_code"] = strconv.Itoa(c.Status)
			}
			if c.Status >= 400 || c.Error != "" {
				cs.Status = "error"
				cs.StatusMessage = c.Error
				if c.Status > 0 {
					cs.Attributes["error.type"] = strconv.Itoa(c.Status)
				}
			}
			spans = append(spans, cs)
		}
	}
	return spans
}

func spanStatus(r Result) string {
	switch r {
	case ResultFailure:
		return "error"
	case ResultSuccess:
		return "ok"
	}
	return "unset"
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// derivedID is a stable hex id of n bytes for an event's span that telemetry did not record.
func derivedID(eventID, part string, n int) string {
	h := sha256.Sum256([]byte(eventID + "/" + part))
	return hex.EncodeToString(h[:n])
}
