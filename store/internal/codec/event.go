package codec

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/internal/jsonenc"
	"github.com/provisiond/provisiond/provisioning"
)

// AppendEvent appends the JSON text of ev to dst and returns the extended slice: exactly
// the bytes Marshal(ev) returns, written without reflection (field order as declared,
// omitempty as tagged, Step.Details keys sorted, times and numbers formatted as
// encoding/json formats them, strings escaped as encoding/json escapes them without HTML
// escaping). Where encoding/json fails, so does AppendEvent: a time whose year is outside
// [0,9999] or whose zone offset is 24 hours or more, and a NaN or infinite float (the error
// is a *FieldError naming the field). On an error dst is returned unchanged (its length as
// passed). A nil ev is "null".
//
// The encoder is written against the declared fields of provisioning.Event and the types
// it holds (see eventFields); a test fails when one of them changes without it.
func AppendEvent(dst []byte, ev *provisioning.Event) ([]byte, error) {
	n0 := len(dst)
	b, err := appendEvent(dst, ev)
	if err != nil {
		return dst[:n0], err
	}
	return b, nil
}

// eventBufPool holds AppendEvent buffers for MarshalEvent.
var eventBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// MarshalEvent returns the JSON text of ev as a string, equal to Marshal(ev) (see
// AppendEvent) and several times faster.
func MarshalEvent(ev *provisioning.Event) (string, error) {
	bp := eventBufPool.Get().(*[]byte)
	b, err := appendEvent((*bp)[:0], ev)
	var s string
	if err == nil {
		s = string(b)
	}
	if cap(b) <= 1<<20 {
		*bp = b[:0]
		eventBufPool.Put(bp)
	}
	return s, err
}

// A FieldError says which field of an event could not be encoded, and why.
type FieldError struct {
	// Field is the field's JSON path in the event ("provisioningSteps[2].start").
	Field string
	// Err is the reason: a time out of RFC 3339's range, or ErrUnsupportedFloat.
	Err error
}

// Error returns "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *FieldError) Unwrap() error { return e.Err }

func appendEvent(b []byte, ev *provisioning.Event) ([]byte, error) {
	if ev == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, ev.ID)
	b = append(b, `,"activityDateTime":`...)
	if b, err = appendTime(b, ev.ActivityDateTime); err != nil {
		return b, &FieldError{"activityDateTime", err}
	}
	b = append(b, `,"jobId":`...)
	b = jsonenc.AppendString(b, ev.JobID)
	b = append(b, `,"cycleId":`...)
	b = jsonenc.AppendString(b, ev.CycleID)
	b = append(b, `,"changeId":`...)
	b = jsonenc.AppendString(b, ev.ChangeID)
	b = append(b, `,"action":`...)
	b = jsonenc.AppendString(b, string(ev.Action))
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, string(ev.Status))
	if ei := ev.ErrorInformation; ei != nil { // omitempty: a nil pointer is left out
		b = append(b, `,"errorInformation":{"errorCode":`...)
		b = jsonenc.AppendString(b, ei.ErrorCode)
		b = append(b, `,"errorCategory":`...)
		b = jsonenc.AppendString(b, ei.ErrorCategory)
		b = append(b, `,"reason":`...)
		b = jsonenc.AppendString(b, ei.Reason)
		if ei.AdditionalDetails != "" {
			b = append(b, `,"additionalDetails":`...)
			b = jsonenc.AppendString(b, ei.AdditionalDetails)
		}
		if ei.RecommendedAction != "" {
			b = append(b, `,"recommendedAction":`...)
			b = jsonenc.AppendString(b, ei.RecommendedAction)
		}
		b = append(b, '}')
	}
	b = append(b, `,"provisioningSteps":`...)
	if ev.ProvisioningSteps == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range ev.ProvisioningSteps {
			if i > 0 {
				b = append(b, ',')
			}
			var field string
			if b, field, err = appendStep(b, &ev.ProvisioningSteps[i]); err != nil {
				return b, &FieldError{"provisioningSteps[" + strconv.Itoa(i) + "]." + field, err}
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"modifiedProperties":`...)
	if ev.ModifiedProperties == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range ev.ModifiedProperties {
			p := &ev.ModifiedProperties[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"displayName":`...)
			b = jsonenc.AppendString(b, p.DisplayName)
			b = append(b, `,"oldValue":`...)
			b = jsonenc.AppendString(b, p.OldValue)
			b = append(b, `,"newValue":`...)
			b = jsonenc.AppendString(b, p.NewValue)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"sourceIdentity":`...)
	b = appendIdentity(b, &ev.SourceIdentity)
	b = append(b, `,"targetIdentity":`...)
	b = appendIdentity(b, &ev.TargetIdentity)
	b = append(b, `,"sourceSystem":`...)
	b = jsonenc.AppendString(b, ev.SourceSystem)
	b = append(b, `,"targetSystem":`...)
	b = jsonenc.AppendString(b, ev.TargetSystem)
	b = append(b, `,"initiatedBy":{"id":`...)
	b = jsonenc.AppendString(b, ev.InitiatedBy.ID)
	b = append(b, `,"displayName":`...)
	b = jsonenc.AppendString(b, ev.InitiatedBy.DisplayName)
	b = append(b, `,"initiatorType":`...)
	b = jsonenc.AppendString(b, ev.InitiatedBy.InitiatorType)
	b = append(b, `},"durationInMilliseconds":`...)
	b = strconv.AppendInt(b, ev.DurationInMilliseconds, 10)
	if ev.TraceID != "" {
		b = append(b, `,"traceId":`...)
		b = jsonenc.AppendString(b, ev.TraceID)
	}
	if ev.SpanID != "" {
		b = append(b, `,"spanId":`...)
		b = jsonenc.AppendString(b, ev.SpanID)
	}
	return append(b, '}'), nil
}

func appendIdentity(b []byte, id *provisioning.Identity) []byte {
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, id.ID)
	b = append(b, `,"displayName":`...)
	b = jsonenc.AppendString(b, id.DisplayName)
	b = append(b, `,"identityType":`...)
	b = jsonenc.AppendString(b, id.IdentityType)
	return append(b, '}')
}

// appendStep appends a Step; on an error it names the failing field.
func appendStep(b []byte, st *provisioning.Step) ([]byte, string, error) {
	var err error
	b = append(b, `{"name":`...)
	b = jsonenc.AppendString(b, st.Name)
	b = append(b, `,"provisioningStepType":`...)
	b = jsonenc.AppendString(b, string(st.ProvisioningStepType))
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, string(st.Status))
	b = append(b, `,"description":`...)
	b = jsonenc.AppendString(b, st.Description)
	if len(st.Details) > 0 { // omitempty: a nil or empty map is left out
		b = append(b, `,"details":`...)
		b = appendStringMap(b, st.Details)
	}
	b = append(b, `,"start":`...)
	if b, err = appendTime(b, st.Start); err != nil {
		return b, "start", err
	}
	b = append(b, `,"durationInMilliseconds":`...)
	if b, err = appendFloat(b, st.DurationInMilliseconds); err != nil {
		return b, "durationInMilliseconds", err
	}
	if st.SpanID != "" {
		b = append(b, `,"spanId":`...)
		b = jsonenc.AppendString(b, st.SpanID)
	}
	if len(st.Calls) > 0 { // omitempty: a nil or empty slice is left out
		b = append(b, `,"calls":[`...)
		for i := range st.Calls {
			if i > 0 {
				b = append(b, ',')
			}
			var field string
			if b, field, err = appendCall(b, &st.Calls[i]); err != nil {
				return b, "calls[" + strconv.Itoa(i) + "]." + field, err
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), "", nil
}

// appendCall appends a connectors.Call; on an error it names the failing field.
func appendCall(b []byte, c *connectors.Call) ([]byte, string, error) {
	var err error
	b = append(b, `{"method":`...)
	b = jsonenc.AppendString(b, c.Method)
	b = append(b, `,"target":`...)
	b = jsonenc.AppendString(b, c.Target)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(c.Status), 10)
	if c.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonenc.AppendString(b, c.Error)
	}
	b = append(b, `,"start":`...)
	if b, err = appendTime(b, c.Start); err != nil {
		return b, "start", err
	}
	b = append(b, `,"durationInMilliseconds":`...)
	if b, err = appendFloat(b, c.DurationInMilliseconds); err != nil {
		return b, "durationInMilliseconds", err
	}
	if c.SpanID != "" {
		b = append(b, `,"spanId":`...)
		b = jsonenc.AppendString(b, c.SpanID)
	}
	return append(b, '}'), "", nil
}

// appendStringMap appends a map[string]string as encoding/json does: keys sorted by their
// bytes (before escaping). Maps of up to 64 entries sort on the stack.
func appendStringMap(b []byte, m map[string]string) []byte {
	type entry struct{ k, v string }
	var arr [64]entry
	entries := arr[:0]
	for k, v := range m {
		entries = append(entries, entry{k, v})
	}
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(x.k, y.k) })
	b = append(b, '{')
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, entries[i].k)
		b = append(b, ':')
		b = jsonenc.AppendString(b, entries[i].v)
	}
	return append(b, '}')
}

// appendTime appends t as time.Time.MarshalJSON does: a quoted RFC 3339 time with
// nanoseconds (trailing zeros trimmed), failing for a year outside [0,9999] or a zone
// offset of 24 hours or more.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	out, err := t.AppendText(b) // the strict RFC 3339 form MarshalJSON quotes
	if err != nil {
		return b[:len(b)-1], errors.New(strings.TrimPrefix(err.Error(), "Time.AppendText: "))
	}
	return append(out, '"'), nil
}

// ErrUnsupportedFloat is the error of a NaN or infinite float, which JSON cannot hold.
var ErrUnsupportedFloat = errors.New("unsupported value")

// appendFloat appends f as encoding/json's floatEncoder does for a float64: like
// ECMAScript's number to string conversion, the shortest representation in 'f' format
// unless the magnitude is below 1e-6 or at least 1e21, then 'e' format with the exponent
// not padded (1e-07 becomes 1e-7).
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("%w: %s", ErrUnsupportedFloat, strconv.FormatFloat(f, 'g', -1, 64))
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// eventFields declares, for every struct type AppendEvent encodes, the fields it was
// written against, in declaration order: "Name type json-tag". TestEventFieldsDeclared
// compares them with the types' actual fields, so that a field added, removed, retyped or
// retagged fails the test until AppendEvent is updated with it.
var eventFields = map[string][]string{
	"provisioning.Event": {
		"ID string id",
		"ActivityDateTime time.Time activityDateTime",
		"JobID string jobId",
		"CycleID string cycleId",
		"ChangeID string changeId",
		"Action provisioning.Action action",
		"Status provisioning.Result status",
		"ErrorInformation *provisioning.ErrorInformation errorInformation,omitempty",
		"ProvisioningSteps []provisioning.Step provisioningSteps",
		"ModifiedProperties []provisioning.ModifiedProperty modifiedProperties",
		"SourceIdentity provisioning.Identity sourceIdentity",
		"TargetIdentity provisioning.Identity targetIdentity",
		"SourceSystem string sourceSystem",
		"TargetSystem string targetSystem",
		"InitiatedBy provisioning.Initiator initiatedBy",
		"DurationInMilliseconds int64 durationInMilliseconds",
		"TraceID string traceId,omitempty",
		"SpanID string spanId,omitempty",
	},
	"provisioning.ErrorInformation": {
		"ErrorCode string errorCode",
		"ErrorCategory string errorCategory",
		"Reason string reason",
		"AdditionalDetails string additionalDetails,omitempty",
		"RecommendedAction string recommendedAction,omitempty",
	},
	"provisioning.Step": {
		"Name string name",
		"ProvisioningStepType provisioning.StepType provisioningStepType",
		"Status provisioning.Result status",
		"Description string description",
		"Details map[string]string details,omitempty",
		"Start time.Time start",
		"DurationInMilliseconds float64 durationInMilliseconds",
		"SpanID string spanId,omitempty",
		"Calls []connectors.Call calls,omitempty",
	},
	"provisioning.ModifiedProperty": {
		"DisplayName string displayName",
		"OldValue string oldValue",
		"NewValue string newValue",
	},
	"provisioning.Identity": {
		"ID string id",
		"DisplayName string displayName",
		"IdentityType string identityType",
	},
	"provisioning.Initiator": {
		"ID string id",
		"DisplayName string displayName",
		"InitiatorType string initiatorType",
	},
	"connectors.Call": {
		"Method string method",
		"Target string target",
		"Status int status",
		"Error string error,omitempty",
		"Start time.Time start",
		"DurationInMilliseconds float64 durationInMilliseconds",
		"SpanID string spanId,omitempty",
	},
}
