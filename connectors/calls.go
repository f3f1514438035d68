package connectors

import (
	"context"
	"sync"
	"time"
)

// Call is one request a connector made to its system on behalf of an object operation
// (an HTTP request, an LDAP operation), as recorded in the operation's event so that the
// operation's path can be shown down to the wire. It never holds credentials or bodies.
type Call struct {
	// Method is the HTTP method or the LDAP operation ("POST", "modify").
	Method string `json:"method"`
	// Target is what the call addressed: the URL path and query ("/scim/v2/Users?filter=…")
	// or an LDAP DN.
	Target string `json:"target"`
	// Status is the HTTP status or LDAP result code; 0 when no answer came.
	Status int `json:"status"`
	// Error is the transport error when no answer came.
	Error string    `json:"error,omitempty"`
	Start time.Time `json:"start"`
	// DurationInMilliseconds is the call's duration (fractional milliseconds).
	DurationInMilliseconds float64 `json:"durationInMilliseconds"`
	// SpanID is the call's client span when telemetry recorded one (lowercase hex).
	SpanID string `json:"spanId,omitempty"`
}

// CallLog collects the calls of one object operation. Safe for concurrent use.
type CallLog struct {
	mu    sync.Mutex
	calls []Call
}

type callLogKey struct{}
type callKey struct{}

// WithCallLog returns a context whose connector calls are recorded in a new log.
func WithCallLog(ctx context.Context) (context.Context, *CallLog) {
	l := &CallLog{}
	return context.WithValue(ctx, callLogKey{}, l), l
}

// Take returns the calls recorded since the last Take and forgets them.
func (l *CallLog) Take() []Call {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// PendingCall is a call in flight (see StartCall).
type PendingCall struct {
	log  *CallLog
	call Call
}

// StartCall begins recording a call when ctx carries a call log: it returns a context to
// make the call with (telemetry finds the pending call in it and sets its span, see
// SetCallSpanID) and the pending call, which End completes. Without a log it returns ctx
// and nil, and End on nil does nothing, so connectors call it unconditionally.
func StartCall(ctx context.Context, method, target string) (context.Context, *PendingCall) {
	l, _ := ctx.Value(callLogKey{}).(*CallLog)
	if l == nil {
		return ctx, nil
	}
	p := &PendingCall{log: l, call: Call{Method: method, Target: target, Start: time.Now().UTC()}}
	return context.WithValue(ctx, callKey{}, p), p
}

// SetCallSpanID records the client span of the call in flight in ctx, if any (called by
// the telemetry transport beneath its span).
func SetCallSpanID(ctx context.Context, spanID string) {
	if p, _ := ctx.Value(callKey{}).(*PendingCall); p != nil {
		p.log.mu.Lock()
		p.call.SpanID = spanID
		p.log.mu.Unlock()
	}
}

// End completes the call with its status (0 and err for no answer) and records it.
func (p *PendingCall) End(status int, err error) {
	if p == nil {
		return
	}
	l := p.log
	l.mu.Lock()
	defer l.mu.Unlock()
	c := p.call
	c.Status = status
	if err != nil {
		c.Error = err.Error()
	}
	c.DurationInMilliseconds = float64(time.Since(c.Start).Microseconds()) / 1000
	l.calls = append(l.calls, c)
}

// RecordCalls adds calls that were made elsewhere (by an out-of-process plugin on behalf of
// this operation) to the call log ctx carries, if any.
func RecordCalls(ctx context.Context, calls []Call) {
	l, _ := ctx.Value(callLogKey{}).(*CallLog)
	if l == nil || len(calls) == 0 {
		return
	}
	l.mu.Lock()
	l.calls = append(l.calls, calls...)
	l.mu.Unlock()
}

// Recording reports whether ctx carries a call log (connector calls are being recorded).
func Recording(ctx context.Context) bool {
	l, _ := ctx.Value(callLogKey{}).(*CallLog)
	return l != nil
}
