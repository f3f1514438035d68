package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

// Base is the reference time of the fixtures: microsecond precision and UTC, the precision
// every store must keep.
var Base = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// at returns Base plus d, truncated to the microsecond.
func at(d time.Duration) time.Time { return Base.Add(d).Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

var stepNames = []struct {
	typ  provisioning.StepType
	name string
	desc string
}{
	{provisioning.StepImport, "EntryImportAdd", "Received %s (Add)"},
	{provisioning.StepScoping, "EntrySynchronizationScoping", "%s is in scope"},
	{provisioning.StepMatching, "EntryExportLookup", "No match for %s"},
	{provisioning.StepProcessing, "EntrySynchronizationAdd", "%s will be created"},
	{provisioning.StepReferenceResolution, "EntryReferenceResolution", "Resolved %s"},
	{provisioning.StepExport, "EntryExportAdd", "%s was created"},
}

// SampleEvent returns a realistic event (six steps, details on the import and export steps,
// modified properties, identities, trace context; about 2 KB of JSON) for user n of a job, at time t. Failure
// events (r decides) carry error information.
func SampleEvent(r *rand.Rand, jobID, cycleID, id string, n int, t time.Time) provisioning.Event {
	user := fmt.Sprintf("user%06d", n)
	display := fmt.Sprintf("User %06d", n)
	upn := user + "@contoso.example"
	status := provisioning.ResultSuccess
	var errInfo *provisioning.ErrorInformation
	if r.IntN(20) == 0 {
		status = provisioning.ResultFailure
		errInfo = &provisioning.ErrorInformation{
			ErrorCode:         "EntryConflict",
			ErrorCategory:     "NonServiceFailure",
			Reason:            "The user could not be created: a user with userName '" + upn + "' already exists.",
			AdditionalDetails: "POST /scim/v2/Users -> 409 uniqueness",
			RecommendedAction: "Update the matching attribute or remove the conflicting user.",
		}
	}
	steps := make([]provisioning.Step, len(stepNames))
	start := t.Add(-120 * time.Millisecond)
	for i, s := range stepNames {
		steps[i] = provisioning.Step{
			Name:                 s.name,
			ProvisioningStepType: s.typ,
			Status:               provisioning.ResultSuccess,
			Description:          fmt.Sprintf(s.desc, user),
			Start:                start,
			// Durations are multiples of 1/8 ms so that they round-trip exactly as JSON.
			DurationInMilliseconds: float64(r.IntN(400)) / 8,
		}
		start = start.Add(20 * time.Millisecond)
	}
	steps[0].Details = map[string]string{"SourceAnchor": user}
	steps[len(steps)-1].Details = map[string]string{"TargetAnchor": fmt.Sprintf("005Dn%09dIAA", n)}
	steps[len(steps)-1].Status = status
	return provisioning.Event{
		ID:                id,
		ActivityDateTime:  t,
		JobID:             jobID,
		CycleID:           cycleID,
		ChangeID:          fmt.Sprintf("%s-%s-%d", cycleID, user, n),
		Action:            provisioning.ActionCreate,
		Status:            status,
		ErrorInformation:  errInfo,
		ProvisioningSteps: steps,
		ModifiedProperties: []provisioning.ModifiedProperty{
			{DisplayName: "userName", NewValue: upn},
			{DisplayName: "displayName", NewValue: display},
		},
		SourceIdentity:         provisioning.Identity{ID: user, DisplayName: display, IdentityType: "User"},
		TargetIdentity:         provisioning.Identity{ID: fmt.Sprintf("005Dn%09dIAA", n), DisplayName: display, IdentityType: "User"},
		SourceSystem:           "Workday HR",
		TargetSystem:           "Salesforce",
		InitiatedBy:            provisioning.Initiator{ID: "provisiond", DisplayName: "provisiond", InitiatorType: "system"},
		DurationInMilliseconds: 120,
		TraceID:                fmt.Sprintf("%032x", r.Uint64()),
		SpanID:                 fmt.Sprintf("%016x", r.Uint64()),
	}
}

// SampleLink returns a realistic link for source ID sourceID.
func SampleLink(jobID string, typ connectors.ObjectType, sourceID string, t time.Time) provisioning.Link {
	return provisioning.Link{
		JobID:       jobID,
		Type:        typ,
		SourceID:    sourceID,
		TargetID:    "t-" + sourceID,
		DisplayName: "Name of " + sourceID,
		Hash:        fmt.Sprintf("%x", len(sourceID)*7919),
		Exported: connectors.Attributes{
			"userName":    sourceID + "@contoso.example",
			"active":      true,
			"name":        map[string]any{"givenName": "Given", "familyName": sourceID},
			"emails":      []any{map[string]any{"type": "work", "value": sourceID + "@contoso.example", "primary": true}},
			"employeeNum": int64(len(sourceID)),
		},
		Updated: t,
	}
}

// fullLink is a link whose Exported holds every plain value type (nested JSON included).
func fullLink(jobID string, typ connectors.ObjectType, sourceID string, t time.Time) provisioning.Link {
	return provisioning.Link{
		JobID:       jobID,
		Type:        typ,
		SourceID:    sourceID,
		TargetID:    "8f2c-" + sourceID,
		DisplayName: "Zoë <" + sourceID + "> & \"friends\"",
		Hash:        "sha256:9f86d081884c7d659a2feaa0c55ad015",
		Exported: connectors.Attributes{
			"userName":  sourceID + "@contoso.example",
			"active":    false,
			"count":     int64(9007199254740993), // beyond float64's exact integers
			"negative":  int64(-42),
			"ratio":     0.25,
			"nothing":   nil,
			"groups":    []string{"a", "b", "ü"},
			"mixed":     []any{"x", int64(1), 1.5, true, nil, map[string]any{"k": "v"}},
			"emptyList": []any{},
			"emptyObj":  map[string]any{},
			"html":      "<b>&amp;</b>",
			"unicode":   "日本語 \u2028 \x01",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": map[string]any{
				"value": "mgr-1",
				"nested": map[string]any{
					"deep":  []any{map[string]any{"n": int64(3), "s": []string{"p", "q"}}},
					"float": 3.5,
				},
			},
		},
		Members:  []string{"m-1", "m-2", "m-3"},
		Disabled: true,
		Updated:  t,
	}
}

func fullCycle(jobID, cycleID string, began time.Time) provisioning.Cycle {
	return provisioning.Cycle{
		CycleID:             cycleID,
		JobID:               jobID,
		Type:                provisioning.CycleIncremental,
		TimeBegan:           began,
		State:               provisioning.CycleRunning,
		CountImported:       12,
		CountImportedDeltas: 3,
		CountEntitled:       11,
		CountExports:        10,
		CountExported:       9,
		CountEscrowed:       1,
		CountFailed:         1,
		CountSkipped:        2,
		CountStaged:         0,
		TraceID:             "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:              "00f067aa0ba902b7",
	}
}

func fullState(jobID string, t time.Time) provisioning.JobState {
	ended := t.Add(-time.Minute)
	last := fullCycle(jobID, "c-prev", t.Add(-time.Hour))
	last.TimeEnded = &ended
	last.State = provisioning.CycleEntryLevelErrors
	last.Error = &provisioning.SynchronizationErr{Code: "EntryConflict", Message: "1 conflict", TenantActionable: true}
	eta := t.Add(10 * time.Minute)
	steady := t.Add(-48 * time.Hour)
	next := t.Add(40 * time.Minute)
	return provisioning.JobState{
		JobID: jobID,
		Status: provisioning.Status{
			Code:                               provisioning.StatusQuarantine,
			LastExecution:                      &last,
			LastSuccessfulExecution:            &last,
			LastSuccessfulExecutionWithExports: &last,
			Progress: &provisioning.Progress{
				CycleID: "c-1", CompletedUnits: 50, TotalUnits: 100, Units: "objects",
				ProgressObservationDateTime: t, ObjectsPerSecond: 12.5, EstimatedCompletionTime: &eta,
			},
			Quarantine: &provisioning.Quarantine{
				CurrentBegan: t, NextAttempt: t.Add(6 * time.Hour), Reason: provisioning.ReasonBaseEscrowThreshold,
				SeriesBegan: t.Add(-time.Hour), SeriesCount: 2,
				Error:          provisioning.SynchronizationErr{Code: "Unauthorized", Message: "401", TenantActionable: true, RecommendedAction: "Fix the token"},
				FailingRequest: "POST /scim/v2/Users",
				FailingObject:  &provisioning.Identity{ID: "u1", DisplayName: "User One", IdentityType: "User"},
			},
			SteadyStateFirstAchievedTime:    &steady,
			SteadyStateLastAchievedTime:     &steady,
			CountSuccessiveCompleteFailures: 3,
			EscrowsPruned:                   true,
			SynchronizedEntryCountByType:    map[string]int64{"User": 1000, "Group": 20},
			EscrowCount:                     7,
			StagedDeleteCount:               2,
			InitialCycleCompleted:           true,
			NextRun:                         &next,
			LastError:                       &provisioning.SynchronizationErr{Code: "X", Message: "y"},
		},
		Watermarks: map[connectors.ObjectType]string{connectors.TypeUser: "wm-u", connectors.TypeGroup: "wm-g"},
		ConfigHash: "cfg-1",
		Checkpoint: &provisioning.Checkpoint{
			CycleID: "c-1", Type: provisioning.CycleIncremental, Phase: "import", Position: 500,
			Watermarks: map[connectors.ObjectType]string{connectors.TypeUser: "wm-u2"},
			Full:       map[connectors.ObjectType]bool{connectors.TypeUser: true},
		},
		Paused:       true,
		ForceDeletes: true,
		Updated:      t,
	}
}

func fullEscrow(jobID string, typ connectors.ObjectType, sourceID string, next time.Time) provisioning.Escrow {
	return provisioning.Escrow{
		JobID:    jobID,
		Type:     typ,
		SourceID: sourceID,
		Change: connectors.Change{Kind: connectors.ChangeUpsert, Object: connectors.Object{
			Type: typ, ID: sourceID,
			Attributes: connectors.Attributes{
				"displayName": "Escrowed " + sourceID, "accountEnabled": true, "level": int64(3),
				"members": []string{"a", "b"}, "address": map[string]any{"city": "Paris", "zip": int64(75001)},
			},
		}},
		Attempts:     2,
		FirstFailure: next.Add(-2 * time.Hour),
		NextAttempt:  next,
		ErrorCode:    "TooManyRequests",
		Reason:       "429 from target",
		Reference:    typ == connectors.TypeGroup,
	}
}

func fullStaged(jobID string, sourceID string, created time.Time) provisioning.StagedOp {
	r := rand.New(rand.NewPCG(uint64(len(sourceID)), 1))
	ev := SampleEvent(r, jobID, "c-1", "ev-staged-"+sourceID, 1, created)
	ev.Action = provisioning.ActionStagedDelete
	return provisioning.StagedOp{
		JobID: jobID, Type: connectors.TypeUser, SourceID: sourceID, TargetID: "t-" + sourceID,
		Action: provisioning.ActionDelete, CycleID: "c-1", Event: ev, Created: created,
	}
}

// equal fails the test if got and want differ (reflect.DeepEqual), showing both.
func equal(t *testing.T, what string, got, want any) bool {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return true
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	if string(g) == string(w) {
		t.Errorf("%s: values differ in Go types:\n got: %#v\nwant: %#v", what, got, want)
	} else {
		t.Errorf("%s:\n got: %s\nwant: %s", what, g, w)
	}
	return false
}
