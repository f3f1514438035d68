// Package testconn is the connector the plugin tests serve both in process and through a
// plugin (internal/testplugin), so that every SPI call can be compared: memory connectors
// seeded with objects holding every kind of attribute value, failures on demand with every
// error shape, a connector call recorded per operation, a span per Create and log records
// on Test.
//
// Failures: a value "fail:<what>" in the attributes of a Create, the attribute/value of a
// Find, a modification's value, a member ID, or an object ID (Get, Disable, Enable, Delete)
// makes the operation fail; <what> is an error class (a *connectors.Error with every field
// set), "plain" (errors.New), "wrapped-<class>" (fmt.Errorf with %w), "deadline" (wraps
// context.DeadlineExceeded), "sleep" (waits for ctx and returns its error), "panic", or
// "exit" (the process exits with status 3: a crash).
package testconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
)

// Classes are every error class.
var Classes = []connectors.ErrorClass{connectors.ClassRetryable, connectors.ClassThrottled, connectors.ClassUnauthorized,
	connectors.ClassForbidden, connectors.ClassConnection, connectors.ClassConflict, connectors.ClassNotFound,
	connectors.ClassPrecondition, connectors.ClassInvalid}

// ClassError is the error of class c, every field set.
func ClassError(c connectors.ErrorClass) *connectors.Error {
	return &connectors.Error{Class: c, Code: "Code" + string(c), Message: "failure of class " + string(c),
		Status: 400 + len(c), Detail: "detail: " + string(c), RetryAfter: 1500 * time.Millisecond,
		Request: "POST /test/" + string(c), Response: `{"error":"` + string(c) + `"}`}
}

// Exit ends the process (the "exit" failure).
var Exit = os.Exit

// Failure returns the error "fail:<what>" asks for (nil if v is not such a value).
func Failure(ctx context.Context, v any) error {
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, "fail:") {
		return nil
	}
	what := strings.TrimPrefix(s, "fail:")
	switch {
	case what == "plain":
		return errors.New("plain failure text")
	case strings.HasPrefix(what, "wrapped-"):
		return fmt.Errorf("while testing: %w", ClassError(connectors.ErrorClass(strings.TrimPrefix(what, "wrapped-"))))
	case what == "deadline":
		return fmt.Errorf("upstream timed out: %w", context.DeadlineExceeded)
	case what == "sleep":
		<-ctx.Done()
		return ctx.Err()
	case what == "panic":
		panic("testconn: panic on demand")
	case what == "exit":
		Exit(3)
	}
	return ClassError(connectors.ErrorClass(what))
}

// failAny looks for a failure value in attrs (values, list elements) and ids.
func failAny(ctx context.Context, attrs connectors.Attributes, ids ...string) error {
	for _, id := range ids {
		if err := Failure(ctx, id); err != nil {
			return err
		}
	}
	for k, v := range attrs {
		if err := Failure(ctx, k); err != nil {
			return err
		}
		switch x := v.(type) {
		case []string:
			for _, e := range x {
				if err := Failure(ctx, e); err != nil {
					return err
				}
			}
		default:
			if err := Failure(ctx, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Values holds one attribute of every kind of value that may cross the boundary.
func Values() connectors.Attributes {
	loc := time.FixedZone("UTC+2", 2*3600)
	return connectors.Attributes{
		"string": "Zoë O'Brien — 東京", "empty": "", "true": true, "false": false,
		"int64": int64(42), "int64max": int64(math.MaxInt64), "int64neg": int64(-7),
		"float": 2.5, "floatWhole": 2.0, "floatInf": math.Inf(-1),
		"strings": []string{"a", "b"}, "stringsEmpty": []string{}, "stringsNil": []string(nil),
		"list": []any{"a", int64(1), 1.5, true, nil, []string{"x"}, map[string]any{"k": "v"}}, "listEmpty": []any{}, "listNil": []any(nil),
		"listOfStrings": []any{"a", "b"},
		"map":           map[string]any{"a": int64(1), "b": map[string]any{"c": []any{"d"}}, "n": nil}, "mapEmpty": map[string]any{}, "mapNil": map[string]any(nil),
		"attrs": connectors.Attributes{"x": "y"},
		"nil":   nil,
		"int":   7, "int8": int8(-8), "int16": int16(16), "int32": int32(-32),
		"uint": uint(1), "uint8": uint8(8), "uint16": uint16(16), "uint32": uint32(32), "uint64": uint64(math.MaxUint64),
		"float32":    float32(1.25),
		"jsonNumber": json.Number("12345678901234567890"),
		"timeUTC":    time.Date(2026, 11, 24, 8, 30, 0, 123456789, time.UTC),
		"timeZone":   time.Date(2026, 11, 24, 10, 30, 0, 0, loc),
	}
}

// Objects are the source's objects: users (one with every kind of value) and groups.
func Objects() []connectors.Object {
	var out []connectors.Object
	v := Values()
	v["userName"] = "values@example.com"
	out = append(out, connectors.Object{Type: connectors.TypeUser, ID: "u-values", Attributes: v})
	for i := 1; i <= 300; i++ {
		id := fmt.Sprintf("u-%03d", i)
		out = append(out, connectors.Object{Type: connectors.TypeUser, ID: id, Attributes: connectors.Attributes{
			"userName": id + "@example.com", "displayName": "User " + id, "active": i%7 != 0, "employeeNumber": int64(i)}})
	}
	out = append(out, connectors.Object{Type: connectors.TypeGroup, ID: "g-1", Attributes: connectors.Attributes{
		"displayName": "Group one", "members": []string{"u-001", "u-002"}}})
	return out
}

// Source is a memory source seeded with Objects; Get of a "fail:…" ID and Read with a
// "fail:…" watermark fail.
type Source struct{ *memory.Source }

// NewSource returns the source.
func NewSource() *Source {
	s := &Source{memory.NewSource()}
	for _, o := range Objects() {
		s.Put(o)
	}
	return s
}

// Get implements connectors.Source.
func (s *Source) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.Object, error) {
	if err := Failure(ctx, id); err != nil {
		return connectors.Object{}, err
	}
	return s.Source.Get(ctx, typ, id)
}

// Read implements connectors.Source; a "fail:…" watermark fails after the first change.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Change) error) (connectors.ReadResult, error) {
	if strings.HasPrefix(req.Watermark, "fail:") {
		n := 0
		_, err := s.Source.Read(ctx, connectors.ReadRequest{Type: req.Type}, func(c connectors.Change) error {
			if n++; n > 1 {
				return Failure(ctx, req.Watermark)
			}
			return emit(c)
		})
		return connectors.ReadResult{}, err
	}
	return s.Source.Read(ctx, req, emit)
}

// Target is a memory target (userName and displayName unique) that fails on demand,
// records a connector call per operation, makes a span per Create and logs on Test.
type Target struct {
	*memory.Target
	log *slog.Logger
}

// NewTarget returns the target; log receives Test's records.
func NewTarget(log *slog.Logger) *Target {
	t := &Target{Target: memory.NewTarget(), log: log}
	t.SetUnique(connectors.TypeUser, "userName")
	t.SetUnique(connectors.TypeGroup, "displayName")
	return t
}

var (
	_ connectors.Lister  = (*Target)(nil)
	_ connectors.Enabler = (*Target)(nil)
)

// call records a connector call (as an HTTP connector would) and returns the operation's
// failure, if asked for.
func call(ctx context.Context, op, id string, attrs connectors.Attributes, extra ...string) (context.Context, func(error) error) {
	ctx, pc := connectors.StartCall(ctx, "POST", "/test/"+op)
	if err := failAny(ctx, attrs, append([]string{id}, extra...)...); err != nil {
		pc.End(500, nil)
		return ctx, func(error) error { return err }
	}
	return ctx, func(err error) error {
		st := 200
		if err != nil {
			st = 400
		}
		pc.End(st, nil)
		return err
	}
}

// Test implements connectors.Target: it logs a record at each level.
func (t *Target) Test(ctx context.Context) error {
	t.log.Debug("target test starting", "step", int64(1))
	t.log.Info("target test", "user", "alice", "attempt", int64(2))
	t.log.Warn("target test warning", "reason", "just testing", "nested", map[string]any{"k": "v"})
	ctx, end := call(ctx, "test", "", nil)
	return end(t.Target.Test(ctx))
}

// Find implements connectors.Target.
func (t *Target) Find(ctx context.Context, typ connectors.ObjectType, attr string, value any) ([]connectors.TargetObject, error) {
	ctx, end := call(ctx, "find", "", connectors.Attributes{attr: value})
	if err := end(nil); err != nil {
		return nil, err
	}
	return t.Target.Find(ctx, typ, attr, value)
}

// Get implements connectors.Target.
func (t *Target) Get(ctx context.Context, typ connectors.ObjectType, id string) (connectors.TargetObject, error) {
	ctx, end := call(ctx, "get", id, nil)
	o, err := t.Target.Get(ctx, typ, id)
	return o, end(err)
}

// Create implements connectors.Target, inside a span "testconn create".
func (t *Target) Create(ctx context.Context, typ connectors.ObjectType, attrs connectors.Attributes) (connectors.TargetObject, error) {
	ctx, span := otel.Tracer("testconn").Start(ctx, "testconn create")
	defer span.End()
	ctx, end := call(ctx, "create", "", attrs)
	if err := end(nil); err != nil {
		return connectors.TargetObject{}, err
	}
	return t.Target.Create(ctx, typ, attrs)
}

// Update implements connectors.Target.
func (t *Target) Update(ctx context.Context, typ connectors.ObjectType, id string, mods []connectors.Modification) error {
	a := connectors.Attributes{}
	for _, m := range mods {
		a[m.Name] = m.Value
	}
	ctx, end := call(ctx, "update", id, a)
	return end(t.Target.Update(ctx, typ, id, mods))
}

// Disable implements connectors.Target.
func (t *Target) Disable(ctx context.Context, typ connectors.ObjectType, id string) error {
	ctx, end := call(ctx, "disable", id, nil)
	return end(t.Target.Disable(ctx, typ, id))
}

// Enable implements connectors.Enabler.
func (t *Target) Enable(ctx context.Context, typ connectors.ObjectType, id string) error {
	ctx, end := call(ctx, "enable", id, nil)
	return end(t.Target.Enable(ctx, typ, id))
}

// Delete implements connectors.Target.
func (t *Target) Delete(ctx context.Context, typ connectors.ObjectType, id string) error {
	ctx, end := call(ctx, "delete", id, nil)
	return end(t.Target.Delete(ctx, typ, id))
}

// AddMembers implements connectors.Target.
func (t *Target) AddMembers(ctx context.Context, groupID string, memberIDs []string) error {
	ctx, end := call(ctx, "addMembers", groupID, nil, memberIDs...)
	return end(t.Target.AddMembers(ctx, groupID, memberIDs))
}

// RemoveMembers implements connectors.Target.
func (t *Target) RemoveMembers(ctx context.Context, groupID string, memberIDs []string) error {
	ctx, end := call(ctx, "removeMembers", groupID, nil, memberIDs...)
	return end(t.Target.RemoveMembers(ctx, groupID, memberIDs))
}

// List implements connectors.Lister.
func (t *Target) List(ctx context.Context, typ connectors.ObjectType, attrs []string, emit func(connectors.TargetObject) error) error {
	ctx, end := call(ctx, "list", "", nil, attrs...)
	return end(t.Target.List(ctx, typ, attrs, emit))
}
