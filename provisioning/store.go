package provisioning

import (
	"context"
	"errors"
	"time"

	"github.com/provisiond/provisiond/connectors"
)

// ErrNotFound is returned by Store reads of a missing record.
var ErrNotFound = errors.New("not found")

// Batch is a unit of work the engine commits atomically: the events of a batch of objects
// and every piece of state they describe. Either all of it is durable or none.
type Batch struct {
	JobID string
	// Events to append.
	Events []Event
	// Links to insert or replace (by JobID, Type, SourceID).
	Links []Link
	// LinkDeletes removes links (the source object was deleted and so was the target).
	LinkDeletes []LinkKey
	// Escrows to insert or replace; EscrowDeletes to remove (the object succeeded).
	Escrows       []Escrow
	EscrowDeletes []LinkKey
	// PendingRefs to insert or replace (by JobID, Type, SourceID, Attribute);
	// PendingRefDeletes to remove (resolved, or the referrer is gone).
	PendingRefs       []PendingRef
	PendingRefDeletes []PendingRefKey
	// Staged deletes/disables to insert (held by the breaker) or remove (applied).
	Staged        []StagedOp
	StagedDeletes []LinkKey
	// Cycle, when set, is inserted or replaced (by CycleID).
	Cycle *Cycle
	// State, when set, replaces the job's state.
	State *JobState
	// History entries to append.
	History []StatusChange
	// Audit entries to append.
	Audit []AuditEntry
	// Lease, when set, fences the batch: a store that implements Leaser commits it only
	// while that lease (job, owner and epoch) is still current, and otherwise commits
	// nothing and returns an error wrapping ErrLeaseLost. The engine sets it only when it
	// runs with a Leaser, so stores without leases never see one.
	Lease *Lease
}

// LinkKey identifies an object of a job.
type LinkKey struct {
	JobID    string
	Type     connectors.ObjectType
	SourceID string
}

// PendingRefKey identifies a pending reference.
type PendingRefKey struct {
	JobID     string
	Type      connectors.ObjectType
	SourceID  string
	Attribute string
}

// Cursor is a position in the ordering of escrows, pending references or staged
// operations: the time (NextAttempt or Created) and the key of the last record seen.
// Paging with it reads each record once, however many stay behind unresolved.
type Cursor struct {
	Time      time.Time
	Type      connectors.ObjectType
	SourceID  string
	Attribute string
}

// EventQuery selects events. Zero fields do not filter.
type EventQuery struct {
	JobID    string
	CycleID  string
	ChangeID string
	// Identity matches a source ID, a target ID or a display name (exact; with
	// IdentityPrefix, a prefix).
	Identity       string
	IdentityPrefix bool
	IdentityType   string
	Action         Action
	Status         Result
	ErrorCode      string
	From, To       time.Time
	// Ascending sorts oldest first; the default is newest first.
	Ascending bool
	// Limit caps the number of events (0: the store's default of 100).
	Limit int
	// After continues a previous query: events strictly after this position in the sort
	// order (the last event's activityDateTime and id).
	After *EventPosition
}

// EventPosition is a position in an event query's sort order.
type EventPosition struct {
	Time time.Time
	ID   string
}

// Store is the engine's durable state. Implementations: store/sqlite, store/postgres.
// Every method is safe for concurrent use.
type Store interface {
	// LoadJobState returns a job's state (ErrNotFound for a job never seen).
	LoadJobState(ctx context.Context, jobID string) (JobState, error)
	// ListJobStates returns the state of every job the store knows.
	ListJobStates(ctx context.Context) ([]JobState, error)
	// Commit applies a batch atomically.
	Commit(ctx context.Context, b Batch) error

	// GetLinks returns the links of the given source IDs (missing ones are absent).
	GetLinks(ctx context.Context, jobID string, typ connectors.ObjectType, sourceIDs []string) (map[string]Link, error)
	// LinkTargets returns what resolving a reference needs of the links of the given
	// source IDs — the target object and whether it is disabled — without the exported
	// attributes GetLinks decodes (missing ones are absent).
	LinkTargets(ctx context.Context, jobID string, typ connectors.ObjectType, sourceIDs []string) (map[string]LinkTarget, error)
	// LinksByTarget returns the links of a job and type whose target object is targetID
	// (normally none or one; more means two source objects claim one target object).
	LinksByTarget(ctx context.Context, jobID string, typ connectors.ObjectType, targetID string) ([]Link, error)
	// ScanLinks calls fn for every link of a job and type, in source ID order.
	ScanLinks(ctx context.Context, jobID string, typ connectors.ObjectType, fn func(Link) error) error
	// ScanLinkNames calls fn with the source ID and display name of every link of a job
	// and type, in source ID order: ScanLinks without the rest, for reconciliation.
	ScanLinkNames(ctx context.Context, jobID string, typ connectors.ObjectType, fn func(sourceID, displayName string) error) error
	// CountLinks counts links by object type.
	CountLinks(ctx context.Context, jobID string) (map[connectors.ObjectType]int64, error)
	// ClearLinks removes a job's connector data store (resetScope ConnectorDataStore).
	ClearLinks(ctx context.Context, jobID string) error

	// DueEscrows returns up to limit escrows with NextAttempt <= now, ordered by
	// (NextAttempt, Type, SourceID), strictly after the cursor when one is given.
	DueEscrows(ctx context.Context, jobID string, now time.Time, after *Cursor, limit int) ([]Escrow, error)
	// CountEscrows counts a job's escrows.
	CountEscrows(ctx context.Context, jobID string) (int64, error)
	// ClearEscrows removes a job's escrows (resetScope Escrows).
	ClearEscrows(ctx context.Context, jobID string) error

	// PendingRefs returns up to limit pending references of a job, ordered by (Created,
	// Type, SourceID, Attribute), strictly after the cursor when one is given.
	PendingRefs(ctx context.Context, jobID string, after *Cursor, limit int) ([]PendingRef, error)

	// StagedOps returns up to limit staged deletes/disables of a job, ordered by (Created,
	// Type, SourceID), strictly after the cursor when one is given.
	StagedOps(ctx context.Context, jobID string, after *Cursor, limit int) ([]StagedOp, error)
	// CountStaged counts a job's staged operations.
	CountStaged(ctx context.Context, jobID string) (int64, error)
	// ClearStaged drops a job's staged operations (they will be re-evaluated).
	ClearStaged(ctx context.Context, jobID string) error

	// GetCycle returns one cycle; ListCycles a job's cycles, newest first.
	GetCycle(ctx context.Context, jobID, cycleID string) (Cycle, error)
	ListCycles(ctx context.Context, jobID string, limit int) ([]Cycle, error)

	// GetEvent returns one event by id; QueryEvents selects events.
	GetEvent(ctx context.Context, id string) (Event, error)
	QueryEvents(ctx context.Context, q EventQuery) ([]Event, error)

	// History returns a job's status changes, newest first.
	History(ctx context.Context, jobID string, limit int) ([]StatusChange, error)
	// Audit returns admin actions, newest first (jobID "" for all).
	Audit(ctx context.Context, jobID string, limit int) ([]AuditEntry, error)

	Close() error
}
