package exporter

// Every span name, attribute key, metric name, unit and event name provisiond emits. They
// are listed in docs/telemetry.md; TestNamesMatchDocs fails when the two disagree.
//
// Our own names live in the provisioning.* namespace; standard semantic-convention keys
// (semconv v1.43.0) are used where they exist (error.type, service.*; the HTTP client
// spans and metrics come from otelhttp with its own semconv names).

// ScopeName is the instrumentation scope of the tracer, meter and logger.
const ScopeName = "github.com/provisiond/provisiond/exporter"

// Span names. Never an id in a span name.
const (
	SpanCycle          = "provisioning cycle"
	SpanProvisionUser  = "provision user"
	SpanProvisionGroup = "provision group"
	// SpanProvisionOther is the root span of an operation on another object type.
	SpanProvisionOther = "provision object"
	// Step spans are named after the step type: import, scoping, matching, processing,
	// referenceResolution, export (provisioning.StepTypes).
)

// Attribute keys (spans and logs; the bounded ones also on metrics).
const (
	AttrJobID           = "provisioning.job.id"
	AttrCycleID         = "provisioning.cycle.id"
	AttrCycleType       = "provisioning.cycle.type"
	AttrCycleState      = "provisioning.cycle.state"
	AttrChangeID        = "provisioning.change.id"
	AttrEventID         = "provisioning.event.id"
	AttrAction          = "provisioning.action"
	AttrStatus          = "provisioning.status"
	AttrIdentityType    = "provisioning.identity.type"
	AttrSourceID        = "provisioning.source.id"
	AttrSourceName      = "provisioning.source.display_name"
	AttrTargetID        = "provisioning.target.id"
	AttrTargetName      = "provisioning.target.display_name"
	AttrSourceSystem    = "provisioning.source.system"
	AttrTargetSystem    = "provisioning.target.system"
	AttrInitiatorID     = "provisioning.initiator.id"
	AttrInitiatorName   = "provisioning.initiator.display_name"
	AttrInitiatorType   = "provisioning.initiator.type"
	AttrDuration        = "provisioning.duration_ms"
	AttrErrorCode       = "provisioning.error.code"
	AttrErrorCategory   = "provisioning.error.category"
	AttrErrorReason     = "provisioning.error.reason"
	AttrErrorDetails    = "provisioning.error.additional_details"
	AttrErrorAction     = "provisioning.error.recommended_action"
	AttrSteps           = "provisioning.steps"
	AttrModified        = "provisioning.modified_properties"
	AttrStepType        = "provisioning.step.type"
	AttrStepName        = "provisioning.step.name"
	AttrStepStatus      = "provisioning.step.status"
	AttrStepDescription = "provisioning.step.description"
	// AttrStepDetailPrefix prefixes each key of a step's details on its span
	// ("provisioning.step.detail.SkipReason").
	AttrStepDetailPrefix = "provisioning.step.detail."
	AttrLinkReason       = "provisioning.link.reason"
	// Cycle counts (cycle span and cycle log attributes).
	AttrCountImported       = "provisioning.cycle.count.imported"
	AttrCountImportedDeltas = "provisioning.cycle.count.imported_deltas"
	AttrCountEntitled       = "provisioning.cycle.count.entitled"
	AttrCountExports        = "provisioning.cycle.count.exports"
	AttrCountExported       = "provisioning.cycle.count.exported"
	AttrCountEscrowed       = "provisioning.cycle.count.escrowed"
	AttrCountFailed         = "provisioning.cycle.count.failed"
	AttrCountSkipped        = "provisioning.cycle.count.skipped"
	AttrCountStaged         = "provisioning.cycle.count.staged"
	// Job state and quarantine.
	AttrJobState         = "provisioning.job.state"
	AttrOldJobState      = "provisioning.job.previous_state"
	AttrQuarantineReason = "provisioning.quarantine.reason"
	AttrMessage          = "provisioning.message"
	AttrNextAttempt      = "provisioning.quarantine.next_attempt"
	AttrFailingRequest   = "provisioning.quarantine.failing_request"
	// Admin actions.
	AttrAdminAction  = "provisioning.admin.action"
	AttrAdminActor   = "provisioning.admin.actor"
	AttrAdminResult  = "provisioning.admin.result"
	AttrAdminDetails = "provisioning.admin.details"
	AttrAuditID      = "provisioning.audit.id"
	// Progress gauge attribute.
	AttrProgressKind = "provisioning.progress.kind"

	// Standard semantic-convention keys.
	AttrErrorType         = "error.type"          // semconv ErrorTypeKey (stable)
	AttrServiceName       = "service.name"        // semconv ServiceNameKey
	AttrServiceVersion    = "service.version"     // semconv ServiceVersionKey
	AttrServiceInstanceID = "service.instance.id" // semconv ServiceInstanceIDKey
)

// Log event names.
const (
	EventProvisioning = "provisioning.event"
	EventCycleStarted = "provisioning.cycle.started"
	EventCycleEnded   = "provisioning.cycle.ended"
	EventStatusChange = "provisioning.job.status_changed"
	EventQuarantine   = "provisioning.job.quarantined"
	EventAdminAction  = "provisioning.admin.action"
)

// Metric names (OpenTelemetry names; Prometheus translates dots to underscores, adds the
// unit and _total for counters).
const (
	MetricOperations         = "provisioning.operations"
	MetricOperationDuration  = "provisioning.operation.duration"
	MetricCycleDuration      = "provisioning.cycle.duration"
	MetricCycles             = "provisioning.cycles"
	MetricScopeCount         = "provisioning.scope.count"
	MetricObjectsSynced      = "provisioning.objects.synchronized"
	MetricEscrowSize         = "provisioning.escrow.size"
	MetricCycleProgress      = "provisioning.cycle.progress"
	MetricJobState           = "provisioning.job.state"
	MetricQuarantine         = "provisioning.job.quarantine"
	MetricLastSuccessAge     = "provisioning.cycle.last_success.age"
	MetricTargetThrottled    = "provisioning.target.throttled"
	MetricTargetRequests     = "provisioning.target.requests"
	MetricTargetRequestRate  = "provisioning.target.request.rate"
	MetricDeletionHeld       = "provisioning.deletion.held"
	MetricTelemetryDropped   = "provisioning.telemetry.dropped"
	MetricTelemetryExportErr = "provisioning.telemetry.export.errors"
)

// Units (UCUM).
const (
	UnitOperation = "{operation}"
	UnitSeconds   = "s"
	UnitCycle     = "{cycle}"
	UnitObject    = "{object}"
	UnitEscrow    = "{escrow}"
	UnitOne       = "1"
	UnitResponse  = "{response}"
	UnitRequest   = "{request}"
	UnitRate      = "{request}/s"
	UnitItem      = "{item}"
)

// Values of AttrLinkReason, AttrProgressKind and the signal attribute of
// MetricTelemetryDropped.
const (
	LinkScheduledBy   = "scheduled_by"
	ProgressCompleted = "completed"
	ProgressTotal     = "total"
	AttrSignal        = "provisioning.telemetry.signal"
	SignalSpans       = "spans"
	SignalLogs        = "logs"
	// ErrorTypeOther is error.type when an error code is not a bounded identifier.
	ErrorTypeOther = "_OTHER"
)
