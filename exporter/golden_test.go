package exporter

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenOp is one object operation as the engine reports it: the steps it runs and the
// event it commits.
type goldenOp struct {
	name string
	info provisioning.OperationInfo
	// noCycleIDs: link through the context's span instead of info's ids.
	noCycleIDs bool
	steps      []provisioning.Step
	ev         *provisioning.Event // nil: End(nil), no event
}

func goldenOps() []goldenOp {
	base := time.Date(2026, 11, 24, 9, 30, 1, 123456789, time.UTC)
	plus1 := time.FixedZone("CET", 3600)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	info := func(t connectors.ObjectType, src string) provisioning.OperationInfo {
		return provisioning.OperationInfo{JobID: "hr-to-app", CycleID: "cyc-1", ChangeID: "chg-" + src, CycleType: provisioning.CycleInitial,
			IdentityType: t, SourceID: src, Start: base}
	}
	allSteps := func(status provisioning.Result, details map[string]string) []provisioning.Step {
		var out []provisioning.Step
		for i, st := range provisioning.StepTypes {
			s := provisioning.Step{Name: "Entry" + string(st), ProvisioningStepType: st, Status: provisioning.ResultSuccess,
				Description: "step " + string(st) + " done", Start: at(i * 3), DurationInMilliseconds: 1.25 * float64(i+1)}
			if i == len(provisioning.StepTypes)-1 {
				s.Status, s.Details = status, details
			}
			out = append(out, s)
		}
		return out
	}
	event := func(src string, action provisioning.Action, status provisioning.Result, steps []provisioning.Step) *provisioning.Event {
		return &provisioning.Event{ID: "ev-" + src, ActivityDateTime: at(20), JobID: "hr-to-app", CycleID: "cyc-1", ChangeID: "chg-" + src,
			Action: action, Status: status, ProvisioningSteps: steps, ModifiedProperties: []provisioning.ModifiedProperty{},
			SourceIdentity: provisioning.Identity{ID: src, DisplayName: "Alice Archer", IdentityType: "User"},
			TargetIdentity: provisioning.Identity{ID: "6f1c2a4e", DisplayName: "alice@contoso.test", IdentityType: "User"},
			SourceSystem:   "HR", TargetSystem: "App",
			InitiatedBy:            provisioning.Initiator{ID: "svc", DisplayName: "provisiond", InitiatorType: "system"},
			DurationInMilliseconds: 17}
	}

	create := goldenOp{name: "create success", info: info(connectors.TypeUser, "E1001"), steps: allSteps(provisioning.ResultSuccess, nil)}
	create.ev = event("E1001", provisioning.ActionCreate, provisioning.ResultSuccess, create.steps)

	failSteps := allSteps(provisioning.ResultFailure, map[string]string{"SkipReason": "none", "password": "hunter2",
		"ApiToken": "abc", "Target": "App", "a": "1", "b": "2", "c": "3", "d": "4", "e": "5"})
	fail := goldenOp{name: "update failure with details", info: info(connectors.TypeUser, "E1002"), steps: failSteps}
	fail.ev = event("E1002", provisioning.ActionUpdate, provisioning.ResultFailure, failSteps)
	fail.ev.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: "SystemForCrossDomainIdentityManagementBadResponse",
		ErrorCategory: "NonServiceFailure", Reason: "the target answered 400", AdditionalDetails: "POST /Users",
		RecommendedAction: "fix the mapping"}
	fail.ev.ModifiedProperties = []provisioning.ModifiedProperty{{DisplayName: "displayName", OldValue: "Al", NewValue: "Alice"},
		{DisplayName: "userPassword", OldValue: "old", NewValue: "new"}, {DisplayName: "title", NewValue: "Engineer"}}
	fail.ev.TargetIdentity.ID = ""

	odd := goldenOp{name: "failure unbounded code", info: info(connectors.TypeUser, "E1003"),
		steps: []provisioning.Step{{Name: "EntryImportAdd", ProvisioningStepType: provisioning.StepImport, Status: provisioning.ResultFailure,
			Description: "boom", Start: at(1).In(plus1), DurationInMilliseconds: 0.5}}}
	odd.ev = event("E1003", provisioning.ActionCreate, provisioning.ResultFailure, odd.steps)
	odd.ev.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: "alice@contoso.test", Reason: "conflict"}
	odd.ev.ID = ""

	noCode := goldenOp{name: "failure without code", info: info(connectors.TypeUser, "E1004"), steps: allSteps(provisioning.ResultFailure, nil)}
	noCode.ev = event("E1004", provisioning.ActionCreate, provisioning.ResultFailure, noCode.steps)
	noCode.ev.ErrorInformation = &provisioning.ErrorInformation{Reason: "no userName"}
	noCode.info.CycleType = ""

	noInfo := goldenOp{name: "failure without error information", info: info(connectors.TypeUser, "E1005"), steps: allSteps(provisioning.ResultFailure, nil)}
	noInfo.ev = event("E1005", provisioning.ActionDelete, provisioning.ResultFailure, noInfo.steps)

	group := goldenOp{name: "group warning linked through context", info: info(connectors.TypeGroup, "G1"), noCycleIDs: true,
		steps: []provisioning.Step{{Name: "EntrySynchronizationScoping", ProvisioningStepType: provisioning.StepScoping,
			Status: provisioning.ResultWarning, Start: at(2), DurationInMilliseconds: 3}}}
	group.ev = event("G1", provisioning.ActionUpdate, provisioning.ResultWarning, group.steps)
	group.ev.SourceIdentity.IdentityType = "Group"

	skip := goldenOp{name: "skipped other type no steps", info: info("device", "D1")}
	skip.ev = event("D1", provisioning.ActionOther, provisioning.ResultSkipped, []provisioning.Step{})
	skip.ev.SourceIdentity.IdentityType = "device"
	skip.ev.JobID = "" // the observer falls back to the job's id

	noEvent := goldenOp{name: "ended without event", info: info(connectors.TypeUser, "E1006"),
		steps: []provisioning.Step{{Name: "EntryImport", ProvisioningStepType: provisioning.StepImport, Status: provisioning.ResultSuccess}}}

	return []goldenOp{create, fail, odd, noCode, noInfo, group, skip, noEvent}
}

// TestOperationTelemetryGolden drives the recorder and observer through the production
// batch processors and compares every emitted span, log record and metric point with
// testdata/operation.golden (go test ./exporter -run Golden -update rewrites it).
// It pins the exact shape of the per-operation telemetry: names, attribute keys, values
// and types, nesting, timestamps, links, severities and metric attribute sets.
func TestOperationTelemetryGolden(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	logs := &memLogs{}
	reader := sdkmetric.NewManualReader()
	tel, err := newTelemetry(providers{spanProc: newSpanBatcher(spans, defaultBatch), logProc: newLogBatcher(logs, defaultBatch),
		readers: []sdkmetric.Reader{reader}, snapEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	rec, obs := tel.Recorder(), tel.Observer()
	job := &provisioning.Job{ID: "hr-to-app"}
	ctx := context.Background()
	cycleStart := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	cctx, cspan := rec.StartCycle(ctx, job, provisioning.Cycle{CycleID: "cyc-1", Type: provisioning.CycleInitial, TimeBegan: cycleStart})

	var out []goldenCase
	for _, op := range goldenOps() {
		info := op.info
		if !op.noCycleIDs {
			info.CycleTraceID, info.CycleSpanID = cspan.TraceID(), cspan.SpanID()
		}
		octx, span := rec.StartOperation(cctx, info)
		for _, st := range op.steps {
			_, s := rec.StartStep(octx, st.ProvisioningStepType, st.Name, st.Start)
			if s.SpanID() == "" {
				t.Errorf("%s: step span without id", op.name)
			}
			s.End(st)
		}
		if op.ev == nil {
			span.End(nil)
		} else {
			ev := *op.ev
			ev.TraceID, ev.SpanID = span.TraceID(), span.SpanID()
			span.End(&ev)
			obs.Events(ctx, job, []provisioning.Event{ev})
		}
		if err := tel.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		stubs := spans.GetSpans()
		gc := goldenCase{Name: op.name, Lines: append(dumpSpans(t, stubs, cspan), dumpLogs(logs, stubs)...)}
		spans.Reset()
		logs.mu.Lock()
		logs.recs = nil
		logs.mu.Unlock()
		out = append(out, gc)
	}
	cspan.End(provisioning.Cycle{State: provisioning.CycleSucceeded})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range out {
		b.WriteString("== " + c.Name + "\n")
		for _, l := range c.Lines {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("== metrics\n")
	for _, l := range dumpMetrics(rm) {
		b.WriteString(l + "\n")
	}
	got := []byte(b.String())
	path := filepath.Join("testdata", "operation.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the emitted telemetry at line %d:\n got: %s\nwant: %s", path, i+1, g, w)
			}
		}
	}
}

type goldenCase struct {
	Name  string
	Lines []string
}

// goldenValue renders a value with its type; maps keep the order the value holds.
func goldenValue(v attribute.Value) string {
	switch v.Type() {
	case attribute.STRING:
		return "str:" + strconv.Quote(v.AsString())
	case attribute.INT64:
		return "int:" + strconv.FormatInt(v.AsInt64(), 10)
	case attribute.FLOAT64:
		return "double:" + strconv.FormatFloat(v.AsFloat64(), 'g', -1, 64)
	case attribute.BOOL:
		return "bool:" + strconv.FormatBool(v.AsBool())
	case attribute.SLICE:
		parts := []string{}
		for _, e := range v.AsSlice() {
			parts = append(parts, goldenValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case attribute.MAP:
		return "{" + goldenKVs(v.AsMap()) + "}"
	}
	return v.Type().String() + ":" + v.Emit()
}

func goldenKVs(kvs []attribute.KeyValue) string {
	parts := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+goldenValue(kv.Value))
	}
	return strings.Join(parts, " ")
}

// goldenTime is exact for the times the engine gives; "now" when the SDK took the clock.
func goldenTime(ts time.Time) string {
	lo, hi := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	if ts.Before(lo) || ts.After(hi) {
		return "now"
	}
	return ts.UTC().Format(time.RFC3339Nano)
}

// dumpSpans renders spans in end order, one attribute a line (span attributes sorted by
// key: their order carries no meaning and a step's details come from a map).
func dumpSpans(t *testing.T, stubs tracetest.SpanStubs, cycle provisioning.CycleSpan) []string {
	t.Helper()
	label := map[trace.SpanID]string{}
	for i, s := range stubs {
		label[s.SpanContext.SpanID()] = s.Name + "#" + strconv.Itoa(i)
	}
	cycleSID, _ := trace.SpanIDFromHex(cycle.SpanID())
	label[cycleSID] = "cycle"
	var out []string
	for i, s := range stubs {
		parent := "none"
		if s.Parent.IsValid() {
			parent = label[s.Parent.SpanID()]
			if s.Parent.TraceID() != s.SpanContext.TraceID() {
				parent += " (other trace)"
			}
		}
		if s.StartTime.After(s.EndTime) {
			t.Errorf("span %s ends before it starts", s.Name)
		}
		out = append(out, fmt.Sprintf("span #%d %q kind=%s parent=%s start=%s end=%s status=%s:%q dropped=%d",
			i, s.Name, s.SpanKind, parent, goldenTime(s.StartTime), goldenTime(s.EndTime), s.Status.Code, s.Status.Description,
			s.DroppedAttributes))
		for _, l := range s.Links {
			out = append(out, fmt.Sprintf("  link %s sampled=%v remote=%v %s", label[l.SpanContext.SpanID()],
				l.SpanContext.IsSampled(), l.SpanContext.IsRemote(), goldenKVs(l.Attributes)))
		}
		attrs := slices.Clone(s.Attributes)
		slices.SortStableFunc(attrs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
		for _, kv := range attrs {
			out = append(out, "  attr "+goldenKVs([]attribute.KeyValue{kv}))
		}
	}
	return out
}

// dumpLogs renders log records, attributes in the record's order.
func dumpLogs(m *memLogs, stubs tracetest.SpanStubs) []string {
	var out []string
	for _, r := range m.records() {
		trc := "none"
		for _, s := range stubs {
			if s.SpanContext.TraceID() == r.TraceID() && s.SpanContext.SpanID() == r.SpanID() {
				trc = s.Name + " flags=" + r.TraceFlags().String()
			}
		}
		out = append(out, fmt.Sprintf("log %q ts=%s observed=%v severity=%s/%q trace=%s dropped=%d", r.EventName(),
			goldenTime(r.Timestamp()), !r.ObservedTimestamp().IsZero(), r.Severity(), r.SeverityText(), trc, r.DroppedAttributes()))
		out = append(out, "  body "+goldenValue(r.Body()))
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Value.Type() == attribute.SLICE {
				out = append(out, "  attr "+string(kv.Key)+"=[")
				for _, e := range kv.Value.AsSlice() {
					out = append(out, "    "+goldenValue(e))
				}
				out = append(out, "  ]")
				return true
			}
			out = append(out, "  attr "+goldenKVs([]attribute.KeyValue{kv}))
			return true
		})
	}
	return out
}

// dumpMetrics renders every data point, sorted.
func dumpMetrics(rm metricdata.ResourceMetrics) []string {
	var out []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s %s {%s} value=%d exemplars=%v", m.Name, m.Unit,
						goldenKVs(dp.Attributes.ToSlice()), dp.Value, len(dp.Exemplars) > 0))
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s %s {%s} count=%d sum=%g exemplars=%v", m.Name, m.Unit,
						goldenKVs(dp.Attributes.ToSlice()), dp.Count, dp.Sum, len(dp.Exemplars) > 0))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
