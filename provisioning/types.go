package provisioning

import (
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning/mapping"
)

// Job is one provisioning job: a source, a target, mappings, scoping, schedule, settings.
// Field names follow Entra's Graph API.
type Job struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// SourceSystem and TargetSystem are display names of the two systems.
	SourceSystem string `json:"sourceSystem"`
	TargetSystem string `json:"targetSystem"`
	// Users maps source users to target users; Groups, when set, maps groups.
	Users    mapping.ObjectMapping  `json:"users"`
	Groups   *mapping.ObjectMapping `json:"groups,omitempty"`
	Schedule Schedule               `json:"schedule"`
	Settings Settings               `json:"settings"`
}

// Schedule says when cycles run.
type Schedule struct {
	// Interval between the end of a cycle and the start of the next (Entra: 40 min).
	Interval Duration `json:"interval"`
	// Paused jobs do not run until started.
	Paused bool `json:"paused,omitempty"`
}

// DefaultInterval is Entra's cycle interval.
const DefaultInterval = 40 * time.Minute

// Settings tune a job; zero values take Entra's defaults (see Defaults).
type Settings struct {
	// SkipOutOfScopeDeletions: objects leaving scope are not disabled.
	SkipOutOfScopeDeletions bool `json:"skipOutOfScopeDeletions"`
	// DeletionThreshold: more deletes+disables than this in one cycle trips the breaker
	// (0 disables the absolute threshold).
	DeletionThreshold int `json:"deletionThreshold"`
	// DeletionThresholdPercent: more deletes+disables than this percentage of the
	// synchronized objects trips the breaker (0 disables it).
	DeletionThresholdPercent float64 `json:"deletionThresholdPercent"`
	// Quarantine thresholds (Entra: 5,000 base, >40 %, >40,000 total excluding reference
	// failures, 60,000 absolute).
	QuarantineBaseEscrows  int     `json:"quarantineBaseEscrows"`
	QuarantineProportion   float64 `json:"quarantineProportion"`
	QuarantineTotalEscrows int     `json:"quarantineTotalEscrows"`
	QuarantineAbsoluteCap  int     `json:"quarantineAbsoluteCap"`
	// QuarantineBackoff lists the delays of the first retries after quarantine (Entra:
	// 6h, 12h, 24h); later retries repeat the last one.
	QuarantineBackoff []Duration `json:"quarantineBackoff"`
	// QuarantineMaxDuration: a job quarantined longer than this is paused (Entra: 28d).
	QuarantineMaxDuration Duration `json:"quarantineMaxDuration"`
	// EscrowRetryBase and EscrowRetryMax bound the backoff of object-level retries:
	// attempt n waits min(base·2^(n-1), max).
	EscrowRetryBase Duration `json:"escrowRetryBase"`
	EscrowRetryMax  Duration `json:"escrowRetryMax"`
	// EscrowMaxAge: an escrow older than this is dropped (Entra: 28 days).
	EscrowMaxAge Duration `json:"escrowMaxAge"`
	// Workers is the per-job worker pool size.
	Workers int `json:"workers"`
	// BatchSize is how many objects commit to the store in one transaction.
	BatchSize int `json:"batchSize"`
	// MaxRequestsPerSecond caps target operations per second (0: unlimited).
	MaxRequestsPerSecond float64 `json:"maxRequestsPerSecond"`
}

// Defaults returns s with zero fields replaced by Entra's defaults.
func (s Settings) Defaults() Settings {
	if s.QuarantineBaseEscrows == 0 {
		s.QuarantineBaseEscrows = 5000
	}
	if s.QuarantineProportion == 0 {
		s.QuarantineProportion = 0.40
	}
	if s.QuarantineTotalEscrows == 0 {
		s.QuarantineTotalEscrows = 40000
	}
	if s.QuarantineAbsoluteCap == 0 {
		s.QuarantineAbsoluteCap = 60000
	}
	if len(s.QuarantineBackoff) == 0 {
		s.QuarantineBackoff = []Duration{Duration(6 * time.Hour), Duration(12 * time.Hour), Duration(24 * time.Hour)}
	}
	if s.QuarantineMaxDuration == 0 {
		s.QuarantineMaxDuration = Duration(28 * 24 * time.Hour)
	}
	if s.EscrowRetryBase == 0 {
		s.EscrowRetryBase = Duration(DefaultInterval)
	}
	if s.EscrowRetryMax == 0 {
		s.EscrowRetryMax = Duration(24 * time.Hour)
	}
	if s.EscrowMaxAge == 0 {
		s.EscrowMaxAge = Duration(28 * 24 * time.Hour)
	}
	if s.Workers == 0 {
		s.Workers = 8
	}
	if s.BatchSize == 0 {
		s.BatchSize = 500
	}
	return s
}

// StatusCode is a job's state (Graph synchronizationStatusCode).
type StatusCode string

// Status codes.
const (
	StatusNotConfigured StatusCode = "NotConfigured"
	StatusNotRun        StatusCode = "NotRun"
	StatusActive        StatusCode = "Active"
	StatusPaused        StatusCode = "Paused"
	StatusQuarantine    StatusCode = "Quarantine"
)

// StatusCodes lists every code (for state-set gauges).
var StatusCodes = []StatusCode{StatusNotConfigured, StatusNotRun, StatusActive, StatusPaused, StatusQuarantine}

// QuarantineReason is why a job is quarantined (Graph quarantineReason).
type QuarantineReason string

// Quarantine reasons.
const (
	ReasonBaseEscrowThreshold       QuarantineReason = "EncounteredBaseEscrowThreshold"
	ReasonTotalEscrowThreshold      QuarantineReason = "EncounteredTotalEscrowThreshold"
	ReasonEscrowProportionThreshold QuarantineReason = "EncounteredEscrowProportionThreshold"
	ReasonQuarantineException       QuarantineReason = "EncounteredQuarantineException"
	ReasonQuarantinedOnDemand       QuarantineReason = "QuarantinedOnDemand"
	ReasonTooManyDeletes            QuarantineReason = "TooManyDeletes"
)

// Status mirrors Graph's synchronizationStatus, plus what Entra does not tell.
type Status struct {
	Code                               StatusCode          `json:"code"`
	LastExecution                      *Cycle              `json:"lastExecution,omitempty"`
	LastSuccessfulExecution            *Cycle              `json:"lastSuccessfulExecution,omitempty"`
	LastSuccessfulExecutionWithExports *Cycle              `json:"lastSuccessfulExecutionWithExports,omitempty"`
	Progress                           *Progress           `json:"progress,omitempty"`
	Quarantine                         *Quarantine         `json:"quarantine,omitempty"`
	SteadyStateFirstAchievedTime       *time.Time          `json:"steadyStateFirstAchievedTime,omitempty"`
	SteadyStateLastAchievedTime        *time.Time          `json:"steadyStateLastAchievedTime,omitempty"`
	CountSuccessiveCompleteFailures    int64               `json:"countSuccessiveCompleteFailures"`
	EscrowsPruned                      bool                `json:"escrowsPruned"`
	SynchronizedEntryCountByType       map[string]int64    `json:"synchronizedEntryCountByType"`
	EscrowCount                        int64               `json:"escrowCount"`
	StagedDeleteCount                  int64               `json:"stagedDeleteCount"`
	InitialCycleCompleted              bool                `json:"initialCycleCompleted"`
	NextRun                            *time.Time          `json:"nextRun,omitempty"`
	LastError                          *SynchronizationErr `json:"lastError,omitempty"`
}

// Progress of the running (or last) cycle, counted in objects.
type Progress struct {
	CycleID                     string     `json:"cycleId"`
	CompletedUnits              int64      `json:"completedUnits"`
	TotalUnits                  int64      `json:"totalUnits"`
	Units                       string     `json:"units"`
	ProgressObservationDateTime time.Time  `json:"progressObservationDateTime"`
	ObjectsPerSecond            float64    `json:"objectsPerSecond"`
	EstimatedCompletionTime     *time.Time `json:"estimatedCompletionTime,omitempty"`
}

// Quarantine says why and until when a job is quarantined. FailingRequest and
// FailingObject name the exact cause, which Entra does not.
type Quarantine struct {
	CurrentBegan   time.Time          `json:"currentBegan"`
	NextAttempt    time.Time          `json:"nextAttempt"`
	Reason         QuarantineReason   `json:"reason"`
	SeriesBegan    time.Time          `json:"seriesBegan"`
	SeriesCount    int64              `json:"seriesCount"`
	Error          SynchronizationErr `json:"error"`
	FailingRequest string             `json:"failingRequest,omitempty"`
	FailingObject  *Identity          `json:"failingObject,omitempty"`
}

// SynchronizationErr is Graph's synchronizationError.
type SynchronizationErr struct {
	Code              string `json:"code"`
	Message           string `json:"message"`
	TenantActionable  bool   `json:"tenantActionable"`
	RecommendedAction string `json:"recommendedAction,omitempty"`
}

// CycleType is the kind of cycle.
type CycleType string

// Cycle types.
const (
	CycleInitial     CycleType = "initial"
	CycleIncremental CycleType = "incremental"
	CycleOnDemand    CycleType = "onDemand"
)

// CycleState is the outcome of a cycle.
type CycleState string

// Cycle states.
const (
	CycleRunning          CycleState = "Running"
	CycleSucceeded        CycleState = "Succeeded"
	CycleFailed           CycleState = "Failed"
	CycleEntryLevelErrors CycleState = "EntryLevelErrors"
)

// Cycle is one run of a job (Graph synchronizationTaskExecution).
type Cycle struct {
	CycleID             string              `json:"cycleId"`
	JobID               string              `json:"jobId"`
	Type                CycleType           `json:"type"`
	TimeBegan           time.Time           `json:"timeBegan"`
	TimeEnded           *time.Time          `json:"timeEnded,omitempty"`
	State               CycleState          `json:"state"`
	CountImported       int64               `json:"countImported"`
	CountImportedDeltas int64               `json:"countImportedDeltas"`
	CountEntitled       int64               `json:"countEntitled"`
	CountExports        int64               `json:"countExports"`
	CountExported       int64               `json:"countExported"`
	CountEscrowed       int64               `json:"countEscrowed"`
	CountFailed         int64               `json:"countFailed"`
	CountSkipped        int64               `json:"countSkipped"`
	CountStaged         int64               `json:"countStaged"`
	Error               *SynchronizationErr `json:"error,omitempty"`
	TraceID             string              `json:"traceId,omitempty"`
	SpanID              string              `json:"spanId,omitempty"`
}

// Action is what the engine did to an object (provisioningAction).
type Action string

// Actions.
const (
	ActionCreate       Action = "create"
	ActionUpdate       Action = "update"
	ActionDelete       Action = "delete"
	ActionDisable      Action = "disable"
	ActionStagedDelete Action = "stagedDelete"
	ActionOther        Action = "other"
)

// Actions lists every action.
var Actions = []Action{ActionCreate, ActionUpdate, ActionDelete, ActionDisable, ActionStagedDelete, ActionOther}

// Result is the status of an event or a step (provisioningResult).
type Result string

// Results.
const (
	ResultSuccess Result = "success"
	ResultWarning Result = "warning"
	ResultFailure Result = "failure"
	ResultSkipped Result = "skipped"
)

// Results lists every result.
var Results = []Result{ResultSuccess, ResultWarning, ResultFailure, ResultSkipped}

// StepType is a provisioning step's type.
type StepType string

// Step types, in pipeline order.
const (
	StepImport              StepType = "import"
	StepScoping             StepType = "scoping"
	StepMatching            StepType = "matching"
	StepProcessing          StepType = "processing"
	StepReferenceResolution StepType = "referenceResolution"
	StepExport              StepType = "export"
)

// StepTypes lists the steps in order.
var StepTypes = []StepType{StepImport, StepScoping, StepMatching, StepProcessing, StepReferenceResolution, StepExport}

// Step is one step of an object's provisioning (provisioningStep).
type Step struct {
	Name                 string            `json:"name"`
	ProvisioningStepType StepType          `json:"provisioningStepType"`
	Status               Result            `json:"status"`
	Description          string            `json:"description"`
	Details              map[string]string `json:"details,omitempty"`
	Start                time.Time         `json:"start"`
	// DurationInMilliseconds is the step's duration (fractional milliseconds).
	DurationInMilliseconds float64 `json:"durationInMilliseconds"`
	// SpanID is the step's span when telemetry recorded one (lowercase hex).
	SpanID string `json:"spanId,omitempty"`
	// Calls are the requests the step made to the target (or source) system.
	Calls []connectors.Call `json:"calls,omitempty"`
}

// ModifiedProperty is one attribute change (modifiedProperty).
type ModifiedProperty struct {
	DisplayName string `json:"displayName"`
	OldValue    string `json:"oldValue"`
	NewValue    string `json:"newValue"`
}

// ErrorInformation explains a failure (provisioningErrorInfo).
type ErrorInformation struct {
	ErrorCode         string `json:"errorCode"`
	ErrorCategory     string `json:"errorCategory"`
	Reason            string `json:"reason"`
	AdditionalDetails string `json:"additionalDetails,omitempty"`
	RecommendedAction string `json:"recommendedAction,omitempty"`
}

// Identity names an object in a system (provisionedIdentity).
type Identity struct {
	ID           string `json:"id"`
	DisplayName  string `json:"displayName"`
	IdentityType string `json:"identityType"`
}

// Initiator says who caused an event.
type Initiator struct {
	ID            string `json:"id"`
	DisplayName   string `json:"displayName"`
	InitiatorType string `json:"initiatorType"` // user, application, system
}

// Event is the record of one object operation (provisioningObjectSummary).
type Event struct {
	ID                     string             `json:"id"`
	ActivityDateTime       time.Time          `json:"activityDateTime"`
	JobID                  string             `json:"jobId"`
	CycleID                string             `json:"cycleId"`
	ChangeID               string             `json:"changeId"`
	Action                 Action             `json:"action"`
	Status                 Result             `json:"status"`
	ErrorInformation       *ErrorInformation  `json:"errorInformation,omitempty"`
	ProvisioningSteps      []Step             `json:"provisioningSteps"`
	ModifiedProperties     []ModifiedProperty `json:"modifiedProperties"`
	SourceIdentity         Identity           `json:"sourceIdentity"`
	TargetIdentity         Identity           `json:"targetIdentity"`
	SourceSystem           string             `json:"sourceSystem"`
	TargetSystem           string             `json:"targetSystem"`
	InitiatedBy            Initiator          `json:"initiatedBy"`
	DurationInMilliseconds int64              `json:"durationInMilliseconds"`
	TraceID                string             `json:"traceId,omitempty"`
	SpanID                 string             `json:"spanId,omitempty"`
}

// LinkTarget is the part of a Link a reference to its source object resolves to.
type LinkTarget struct {
	TargetID string
	Disabled bool
}

// Link is a connector data store entry: a source object and its target object.
type Link struct {
	JobID    string                `json:"jobId"`
	Type     connectors.ObjectType `json:"type"`
	SourceID string                `json:"sourceId"`
	TargetID string                `json:"targetId"`
	// DisplayName of the object when it was last exported.
	DisplayName string `json:"displayName"`
	// Hash of the last exported attributes (a redundant export has the same hash).
	Hash string `json:"hash"`
	// Exported holds the last exported attribute values (old values for
	// modifiedProperties and deltas).
	Exported connectors.Attributes `json:"exported,omitempty"`
	// Members holds, for groups, the member target IDs last exported.
	Members []string `json:"members,omitempty"`
	// Disabled is true when the engine disabled the target object.
	Disabled bool      `json:"disabled"`
	Updated  time.Time `json:"updated"`
}

// Escrow is a failed object operation waiting for a retry.
type Escrow struct {
	JobID    string                `json:"jobId"`
	Type     connectors.ObjectType `json:"type"`
	SourceID string                `json:"sourceId"`
	// Change is the source change to apply again.
	Change       connectors.Change `json:"change"`
	Attempts     int               `json:"attempts"`
	FirstFailure time.Time         `json:"firstFailure"`
	NextAttempt  time.Time         `json:"nextAttempt"`
	ErrorCode    string            `json:"errorCode"`
	Reason       string            `json:"reason"`
	// Reference is true when the failure was a reference (manager, member) update:
	// excluded from the escrow proportion and total thresholds.
	Reference bool `json:"reference"`
}

// PendingRef is a reference that could not be resolved yet (the referenced object had no
// target object when its referrer was exported).
type PendingRef struct {
	JobID    string                `json:"jobId"`
	Type     connectors.ObjectType `json:"type"`
	SourceID string                `json:"sourceId"`
	// Attribute is the target attribute ("urn:...:manager").
	Attribute string `json:"attribute"`
	// RefSourceID is the source ID of the referenced object.
	RefSourceID string    `json:"refSourceId"`
	Created     time.Time `json:"created"`
}

// StagedOp is a delete or disable held by the accidental-deletion breaker.
type StagedOp struct {
	JobID    string                `json:"jobId"`
	Type     connectors.ObjectType `json:"type"`
	SourceID string                `json:"sourceId"`
	TargetID string                `json:"targetId"`
	// Action is ActionDelete or ActionDisable.
	Action  Action    `json:"action"`
	CycleID string    `json:"cycleId"`
	Event   Event     `json:"event"`
	Created time.Time `json:"created"`
}

// Checkpoint is how far a running cycle got; a restarted daemon resumes from it.
type Checkpoint struct {
	CycleID string    `json:"cycleId"`
	Type    CycleType `json:"type"`
	// Phase is the phase that was running (see the engine's phases).
	Phase string `json:"phase"`
	// Position counts the changes of Phase already committed.
	Position int64 `json:"position"`
	// LastID is the source ID of the last change committed in a read phase (checked when
	// resuming, so a source that changed meanwhile is read again from the start).
	LastID string `json:"lastId,omitempty"`
	// Watermarks read so far in this cycle, by object type, to persist when it ends.
	Watermarks map[connectors.ObjectType]string `json:"watermarks,omitempty"`
	// Full records which types had a full read in this cycle.
	Full map[connectors.ObjectType]bool `json:"full,omitempty"`
	// Deprovisions counts the deletes and disables this cycle queued for the
	// accidental-deletion breaker.
	Deprovisions int64 `json:"deprovisions,omitempty"`
}

// JobState is what the store keeps of a job between cycles and restarts.
type JobState struct {
	JobID  string `json:"jobId"`
	Status Status `json:"status"`
	// Watermarks by object type (connectors.ReadResult.Watermark).
	Watermarks map[connectors.ObjectType]string `json:"watermarks,omitempty"`
	// ConfigHash of the job's mappings and scoping: a change starts a new initial cycle.
	ConfigHash string `json:"configHash"`
	// Checkpoint of the running cycle, nil between cycles.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Paused by an admin.
	Paused bool `json:"paused"`
	// ForceDeletes: the next cycle applies the staged deletes.
	ForceDeletes bool      `json:"forceDeletes"`
	Updated      time.Time `json:"updated"`
}

// StatusChange records a change of a job's status code or quarantine (job history).
type StatusChange struct {
	JobID      string           `json:"jobId"`
	Time       time.Time        `json:"time"`
	OldCode    StatusCode       `json:"oldCode"`
	NewCode    StatusCode       `json:"newCode"`
	Reason     QuarantineReason `json:"reason,omitempty"`
	Message    string           `json:"message,omitempty"`
	CycleID    string           `json:"cycleId,omitempty"`
	Quarantine *Quarantine      `json:"quarantine,omitempty"`
}

// AuditEntry records an admin action.
type AuditEntry struct {
	ID      string            `json:"id"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	JobID   string            `json:"jobId,omitempty"`
	Details map[string]string `json:"details,omitempty"`
	Result  string            `json:"result"`
	TraceID string            `json:"traceId,omitempty"`
}
