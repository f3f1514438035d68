// Package connectors defines the connector SPI: the interfaces that sources and targets
// implement, and the plain data types that cross them. The types are plain data (strings,
// numbers, booleans, slices and maps of those) so that the out-of-process plugin boundary can
// carry them unchanged.
//
// The model follows ConnId: a source reads objects (full, or changes since an opaque
// watermark the source owns); a target tests its connection, finds objects by a matching
// attribute, creates, updates with a delta, disables, deletes and changes group membership.
// The engine, not the connector, owns matching policy, escrow and retry, the deletion
// threshold and the watermark store.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ObjectType is the kind of object a connector reads or writes.
type ObjectType string

// The object types provisiond provisions.
const (
	TypeUser  ObjectType = "User"
	TypeGroup ObjectType = "Group"
)

// Valid reports whether t is a known object type.
func (t ObjectType) Valid() bool { return t == TypeUser || t == TypeGroup }

// Attributes holds an object's attribute values by name. Values are plain data: string,
// bool, int64, float64, []string, []any or map[string]any (nested JSON). A missing key and a
// nil value both mean "no value".
//
// Names are connector specific. For SCIM targets they are SCIM attribute paths
// ("userName", "name.givenName", `emails[type eq "work"].value`, or fully qualified
// extension paths such as
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").
//
// Reference values (a user's manager, a group's members) are identifiers in the system that
// holds the object: in a source object, source IDs; in what the engine hands a target, target
// IDs.
type Attributes map[string]any

// Clone returns a shallow copy of a (slices are copied too).
func (a Attributes) Clone() Attributes {
	if a == nil {
		return nil
	}
	c := make(Attributes, len(a))
	for k, v := range a {
		switch s := v.(type) {
		case []string:
			c[k] = append([]string(nil), s...)
		case []any:
			c[k] = append([]any(nil), s...)
		default:
			c[k] = v
		}
	}
	return c
}

// Well-known source attribute names the engine understands.
const (
	// AttrMembers on a source group: []string of member source IDs.
	AttrMembers = "members"
	// AttrAccountEnabled on a source user: false means disabled in the source (the
	// engine disables the target account).
	AttrAccountEnabled = "accountEnabled"
	// AttrDisplayName is used for identities in events when present.
	AttrDisplayName = "displayName"
)

// Object is one entry read from a source.
type Object struct {
	Type ObjectType `json:"type"`
	// ID is the source anchor: stable and unique within the source for Type.
	ID         string     `json:"id"`
	Attributes Attributes `json:"attributes"`
}

// DisplayName returns the object's displayName attribute, or its ID.
func (o Object) DisplayName() string {
	if s, ok := o.Attributes[AttrDisplayName].(string); ok && s != "" {
		return s
	}
	return o.ID
}

// ChangeKind says what happened to a source object.
type ChangeKind string

// Change kinds.
const (
	// ChangeUpsert: the object exists (new or changed; a full read emits only upserts).
	ChangeUpsert ChangeKind = "upsert"
	// ChangeDelete: the object was hard-deleted in the source. Object carries at least
	// Type and ID.
	ChangeDelete ChangeKind = "delete"
)

// Change is one entry of a source read.
type Change struct {
	Kind   ChangeKind `json:"kind"`
	Object Object     `json:"object"`
}

// ReadRequest asks a source for objects of one type.
type ReadRequest struct {
	Type ObjectType `json:"type"`
	// Watermark is the value a previous Read returned for Type; empty means a full read.
	Watermark string `json:"watermark,omitempty"`
}

// ReadResult ends a read.
type ReadResult struct {
	// Watermark to pass to the next Read for the same type. The engine persists it only
	// after every change of this read has been applied.
	Watermark string `json:"watermark"`
	// Full is true when the source performed a full read (no watermark, or the watermark
	// was unknown or expired): the changes are then every object that exists.
	Full bool `json:"full"`
}

// Source reads users and groups from a system of record.
//
// Read must emit changes in an order that is deterministic for the same request and
// source content, so that the engine can resume a cycle from a checkpoint by position.
type Source interface {
	// Test checks connectivity and credentials.
	Test(ctx context.Context) error
	// Read emits every object (full read) or the changes since req.Watermark. If emit
	// returns an error, Read stops and returns it.
	Read(ctx context.Context, req ReadRequest, emit func(Change) error) (ReadResult, error)
	// Get reads one object by source ID; a missing object is an *Error of ClassNotFound.
	Get(ctx context.Context, typ ObjectType, id string) (Object, error)
	Close() error
}

// Estimator is implemented by sources that can tell, cheaply, how many changes a Read with
// the same request will emit (used for progress and ETA).
type Estimator interface {
	Estimate(ctx context.Context, req ReadRequest) (int64, error)
}

// TargetObject is an object as it exists in a target.
type TargetObject struct {
	ID         string     `json:"id"`
	Attributes Attributes `json:"attributes,omitempty"`
	// Version is the target's entity tag, when it has one.
	Version string `json:"version,omitempty"`
}

// ModOp is a modification operation.
type ModOp string

// Modification operations.
const (
	ModReplace ModOp = "replace"
	ModRemove  ModOp = "remove"
)

// Modification changes one attribute of a target object.
type Modification struct {
	Name  string `json:"name"`
	Op    ModOp  `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Target writes users and groups to a system.
type Target interface {
	// Test checks connectivity and credentials the way Entra does (for SCIM, a filtered
	// GET on a random value must answer an empty 200). A credential failure is an *Error of
	// ClassUnauthorized, an unreachable target ClassConnection.
	Test(ctx context.Context) error
	// Find returns the objects of typ whose attribute attr equals value (0, 1 or more).
	Find(ctx context.Context, typ ObjectType, attr string, value any) ([]TargetObject, error)
	// Get reads one object by target ID (ClassNotFound when missing).
	Get(ctx context.Context, typ ObjectType, id string) (TargetObject, error)
	// Create creates an object; for groups, members are added separately.
	Create(ctx context.Context, typ ObjectType, attrs Attributes) (TargetObject, error)
	// Update applies only the given modifications.
	Update(ctx context.Context, typ ObjectType, id string, mods []Modification) error
	// Disable makes an account inactive while keeping it readable.
	Disable(ctx context.Context, typ ObjectType, id string) error
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, typ ObjectType, id string) error
	// AddMembers and RemoveMembers change a group's membership by target IDs. The
	// connector batches them to respect the target's limits.
	AddMembers(ctx context.Context, groupID string, memberIDs []string) error
	RemoveMembers(ctx context.Context, groupID string, memberIDs []string) error
	Close() error
}

// Lister is implemented by targets that can list every object of a type in pages. The
// engine then matches an initial cycle in bulk (one paged listing instead of one filtered
// GET per object). attrs names the attributes to return (the matching attributes).
type Lister interface {
	List(ctx context.Context, typ ObjectType, attrs []string, emit func(TargetObject) error) error
}

// ErrorClass is the engine-facing classification of a connector error.
type ErrorClass string

// Error classes.
const (
	// ClassRetryable: transient (5xx, timeout, reset); retried later from escrow.
	ClassRetryable ErrorClass = "retryable"
	// ClassThrottled: the target asked us to slow down (429, 503 with Retry-After).
	ClassThrottled ErrorClass = "throttled"
	// ClassUnauthorized: credentials rejected (401, 403 on the connection test); the job
	// is quarantined at once.
	ClassUnauthorized ErrorClass = "unauthorized"
	// ClassForbidden: authenticated but not allowed to do this one operation.
	ClassForbidden ErrorClass = "forbidden"
	// ClassConnection: the target cannot be reached at all; the job is quarantined at once.
	ClassConnection ErrorClass = "connection"
	// ClassConflict: a uniqueness conflict (409).
	ClassConflict ErrorClass = "conflict"
	// ClassNotFound: the object does not exist (404).
	ClassNotFound ErrorClass = "notFound"
	// ClassPrecondition: an entity tag did not match (412).
	ClassPrecondition ErrorClass = "precondition"
	// ClassInvalid: the request was rejected as invalid (400 and kin); not retried.
	ClassInvalid ErrorClass = "invalid"
)

// Retryable reports whether errors of class c are worth retrying later.
func (c ErrorClass) Retryable() bool {
	switch c {
	case ClassRetryable, ClassThrottled, ClassPrecondition, ClassConnection:
		return true
	}
	return false
}

// Error is the error type connectors return. It carries the classification, Entra's error
// code, and the exact failing request (method and URL path, never credentials).
type Error struct {
	Class ErrorClass `json:"class"`
	// Code is Entra's error code (EntryConflict, TooManyRequests, Unauthorized,
	// InvalidAnchor, ...). Empty means the engine derives it from Class.
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	// Status is the protocol status (HTTP status code, LDAP result code), 0 if none.
	Status int `json:"status,omitempty"`
	// Detail is the target's own error detail (SCIM scimType and detail, LDAP diagnostic).
	Detail string `json:"detail,omitempty"`
	// RetryAfter is the delay the target asked for (ClassThrottled).
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// Request names the failing request, e.g. "POST /scim/v2/Users".
	Request string `json:"request,omitempty"`
	// Response is the start of the response body, with secrets never included.
	Response string `json:"response,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Class))
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	b.WriteString(": " + e.Message)
	if e.Request != "" {
		b.WriteString(" [" + e.Request)
		if e.Status != 0 {
			fmt.Fprintf(&b, " -> %d", e.Status)
		}
		b.WriteString("]")
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Errorf returns an *Error of class c.
func Errorf(c ErrorClass, format string, args ...any) *Error {
	return &Error{Class: c, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error; errors of other types are classified: context deadline
// → retryable (Timeout), cancellation stays as is (nil), anything else retryable.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Class: ClassRetryable, Code: "Timeout", Message: err.Error()}
	}
	return &Error{Class: ClassRetryable, Code: "InternalError", Message: err.Error()}
}

// ClassOf returns the class of err ("" for nil).
func ClassOf(err error) ErrorClass {
	if err == nil {
		return ""
	}
	return AsError(err).Class
}

// IsNotFound reports whether err is of ClassNotFound.
func IsNotFound(err error) bool { return ClassOf(err) == ClassNotFound }

// Enabler is implemented by targets that can re-enable an account the engine disabled
// (the object came back into scope or was re-enabled in the source).
type Enabler interface {
	Enable(ctx context.Context, typ ObjectType, id string) error
}
