package exporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/connectors/scim/scimserver"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/sqlite"
)

// memLogs is an in-memory log exporter.
type memLogs struct {
	mu   sync.Mutex
	recs []sdklog.Record
}

func (m *memLogs) Export(_ context.Context, rs []sdklog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		m.recs = append(m.recs, r.Clone())
	}
	return nil
}
func (m *memLogs) Shutdown(context.Context) error   { return nil }
func (m *memLogs) ForceFlush(context.Context) error { return nil }
func (m *memLogs) records() []sdklog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sdklog.Record(nil), m.recs...)
}

type harness struct {
	tel    *Telemetry
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	logs   *memLogs
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader(), logs: &memLogs{}}
	reg := promclient.NewRegistry()
	pe, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	h.tel, err = newTelemetry(providers{
		spanProc: sdktrace.NewSimpleSpanProcessor(h.spans),
		readers:  []sdkmetric.Reader{h.reader, pe}, prom: reg,
		logProc:   sdklog.NewSimpleProcessor(h.logs),
		snapEvery: time.Hour, pushMetrics: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.tel.Shutdown(context.Background()) })
	return h
}

func (h *harness) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

func findMetric(rm metricdata.ResourceMetrics, name string) *metricdata.Metrics {
	for _, sm := range rm.ScopeMetrics {
		for i := range sm.Metrics {
			if sm.Metrics[i].Name == name {
				return &sm.Metrics[i]
			}
		}
	}
	return nil
}

// captured records the events the engine committed.
type captured struct {
	provisioning.NopObserver
	mu     sync.Mutex
	events []provisioning.Event
}

func (c *captured) Events(_ context.Context, _ *provisioning.Job, evs []provisioning.Event) {
	c.mu.Lock()
	c.events = append(c.events, evs...)
	c.mu.Unlock()
}

func testJob() provisioning.Job {
	return provisioning.Job{
		ID: "hr-to-app", Name: "HR to app", SourceSystem: "HR", TargetSystem: "App",
		Schedule: provisioning.Schedule{Interval: provisioning.Duration(time.Hour)},
		Settings: provisioning.Settings{Workers: 2, BatchSize: 10},
		Users: mapping.ObjectMapping{
			Attributes: []mapping.AttributeMapping{
				{Type: mapping.Direct, Source: "userName", Target: "userName", MatchingPrecedence: 1, Required: true},
				{Type: mapping.Direct, Source: "displayName", Target: "displayName", Required: true},
				{Type: mapping.Direct, Source: "accountEnabled", Target: "active"},
			},
			Scoping: []mapping.ScopingFilter{{Name: "Employees", Clauses: []mapping.Clause{
				{Attribute: "employeeType", Operator: mapping.OpEquals, Value: "Employee"},
			}}},
		},
	}
}

// the identities of the test data: none may appear in a metric attribute.
var identities = []string{"E1001", "E1002", "E1003", "E1004", "alice@contoso.test", "bob@contoso.test", "carol@contoso.test", "Alice Archer", "Bob Baker", "Carol Cole"}

type world struct {
	eng  *provisioning.Engine
	cap  *captured
	scim *scim.Client
}

func newWorld(t *testing.T, h *harness) *world {
	t.Helper()
	ctx := context.Background()
	ss, err := scimserver.New(scimserver.Options{Token: "t0k3n"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ss.Handler())
	t.Cleanup(ts.Close)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src := memory.NewSource()
	put := func(id, user, name, typ string) {
		attrs := connectors.Attributes{"employeeType": typ, "accountEnabled": true, "displayName": name}
		if user != "" {
			attrs["userName"] = user
		}
		src.Put(connectors.Object{Type: connectors.TypeUser, ID: id, Attributes: attrs})
	}
	put("E1001", "alice@contoso.test", "Alice Archer", "Employee")
	put("E1002", "bob@contoso.test", "Bob Baker", "Employee")
	put("E1003", "carol@contoso.test", "Carol Cole", "Contractor") // out of scope: skipped
	put("E1004", "", "Dan NoName", "Employee")                     // no userName: failure
	tgt, err := scim.New(ctx, scim.Config{BaseURL: ts.URL + "/scim/v2", Auth: scim.AuthConfig{Type: "bearer", Token: "t0k3n"},
		HTTPClient: h.tel.HTTPClient(&http.Client{})})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{cap: &captured{}, scim: tgt}
	w.eng = provisioning.New(provisioning.Options{Store: st, Recorder: h.tel.Recorder(),
		Observer: provisioning.Observers{h.tel.Observer(), w.cap}})
	if err := w.eng.AddJob(ctx, testJob(), src, tgt); err != nil {
		t.Fatal(err)
	}
	return w
}

func attrOf(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestCycleTraceMetricsLogsShapes(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	ctx := context.Background()
	c, err := w.eng.RunCycle(ctx, "hr-to-app")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.tel.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	spans := h.spans.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}

	// The cycle: its own trace.
	var cycle *tracetest.SpanStub
	for i := range spans {
		if spans[i].Name == SpanCycle {
			cycle = &spans[i]
		}
	}
	if cycle == nil {
		t.Fatalf("no %q span among %d", SpanCycle, len(spans))
	}
	if cycle.Parent.IsValid() {
		t.Errorf("cycle span has a parent")
	}
	if c.TraceID != cycle.SpanContext.TraceID().String() || c.SpanID != cycle.SpanContext.SpanID().String() {
		t.Errorf("cycle ids %s/%s, span %s", c.TraceID, c.SpanID, cycle.SpanContext.TraceID())
	}
	for key, want := range map[string]string{AttrJobID: "hr-to-app", AttrCycleID: c.CycleID, AttrCycleType: "initial", AttrCycleState: string(c.State)} {
		if v, ok := attrOf(cycle.Attributes, key); !ok || v.AsString() != want {
			t.Errorf("cycle span %s = %v, want %q", key, v.Emit(), want)
		}
	}
	if v, _ := attrOf(cycle.Attributes, AttrCountImported); v.AsInt64() != c.CountImported || c.CountImported != 4 {
		t.Errorf("cycle span imported = %d, cycle %d", v.AsInt64(), c.CountImported)
	}

	// The events: one per user, each with its operation's trace.
	w.cap.mu.Lock()
	events := append([]provisioning.Event(nil), w.cap.events...)
	w.cap.mu.Unlock()
	if len(events) != 4 {
		t.Fatalf("%d events, want 4", len(events))
	}
	var failed, created, skipped int
	for _, ev := range events {
		tid, _ := trace.TraceIDFromHex(ev.TraceID)
		sid, _ := trace.SpanIDFromHex(ev.SpanID)
		root, ok := byID[sid]
		if !ok || root.SpanContext.TraceID() != tid {
			t.Fatalf("event %s: no span %s/%s", ev.SourceIdentity.ID, ev.TraceID, ev.SpanID)
		}
		if root.Name != SpanProvisionUser || root.Parent.IsValid() {
			t.Errorf("operation span %q parent %v: want a root %q", root.Name, root.Parent.SpanID(), SpanProvisionUser)
		}
		if tid == cycle.SpanContext.TraceID() {
			t.Errorf("operation shares the cycle's trace")
		}
		if len(root.Links) != 1 || root.Links[0].SpanContext.SpanID() != cycle.SpanContext.SpanID() ||
			root.Links[0].SpanContext.TraceID() != cycle.SpanContext.TraceID() {
			t.Errorf("operation links %+v, want the cycle span", root.Links)
		} else if v, _ := attrOf(root.Links[0].Attributes, AttrLinkReason); v.AsString() != LinkScheduledBy {
			t.Errorf("link reason %q", v.AsString())
		}
		want := map[string]string{AttrJobID: "hr-to-app", AttrCycleID: c.CycleID, AttrChangeID: ev.ChangeID,
			AttrAction: string(ev.Action), AttrStatus: string(ev.Status), AttrSourceID: ev.SourceIdentity.ID, AttrIdentityType: "User"}
		if ev.TargetIdentity.ID != "" {
			want[AttrTargetID] = ev.TargetIdentity.ID
		}
		for k, v := range want {
			if got, ok := attrOf(root.Attributes, k); !ok || got.AsString() != v {
				t.Errorf("operation %s: %s = %q, want %q", ev.SourceIdentity.ID, k, got.AsString(), v)
			}
		}
		// Step spans: one child per step of the event, with its status.
		var steps []tracetest.SpanStub
		for _, s := range spans {
			if s.Parent.SpanID() == sid && s.SpanContext.TraceID() == tid {
				steps = append(steps, s)
			}
		}
		if len(steps) != len(ev.ProvisioningSteps) {
			t.Errorf("operation %s: %d step spans, %d steps", ev.SourceIdentity.ID, len(steps), len(ev.ProvisioningSteps))
		}
		for _, st := range ev.ProvisioningSteps {
			i := slices.IndexFunc(steps, func(s tracetest.SpanStub) bool {
				v, _ := attrOf(s.Attributes, AttrStepName)
				return s.Name == string(st.ProvisioningStepType) && v.AsString() == st.Name
			})
			if i < 0 {
				t.Errorf("operation %s: no span for step %s/%s", ev.SourceIdentity.ID, st.ProvisioningStepType, st.Name)
				continue
			}
			if v, _ := attrOf(steps[i].Attributes, AttrStepStatus); v.AsString() != string(st.Status) {
				t.Errorf("step %s status %q, want %q", st.Name, v.AsString(), st.Status)
			}
			for k, dv := range st.Details {
				if v, _ := attrOf(steps[i].Attributes, AttrStepDetailPrefix+k); v.AsString() != dv {
					t.Errorf("step %s detail %s = %q, want %q", st.Name, k, v.AsString(), dv)
				}
			}
			if st.ProvisioningStepType == provisioning.StepExport && ev.Action == provisioning.ActionCreate {
				// The SCIM client's HTTP spans are beneath export.
				var http []string
				for _, s := range spans {
					if s.Parent.SpanID() == steps[i].SpanContext.SpanID() {
						http = append(http, s.Name)
						if s.SpanKind != trace.SpanKindClient {
							t.Errorf("HTTP span kind %v", s.SpanKind)
						}
					}
				}
				if !slices.Contains(http, "HTTP POST") {
					t.Errorf("export of %s: HTTP spans %v, want HTTP POST", ev.SourceIdentity.ID, http)
				}
			}
		}
		switch ev.Status {
		case provisioning.ResultFailure:
			failed++
			if root.Status.Code != codes.Error {
				t.Errorf("failed operation status %v", root.Status)
			}
			if v, ok := attrOf(root.Attributes, AttrErrorType); !ok || v.AsString() == "" {
				t.Errorf("failed operation without error.type")
			}
			if v, _ := attrOf(root.Attributes, AttrErrorCode); v.AsString() != ev.ErrorInformation.ErrorCode {
				t.Errorf("error code %q, want %q", v.AsString(), ev.ErrorInformation.ErrorCode)
			}
		case provisioning.ResultSkipped:
			skipped++
		case provisioning.ResultSuccess:
			if ev.Action == provisioning.ActionCreate {
				created++
			}
			if root.Status.Code == codes.Error {
				t.Errorf("successful operation with error status")
			}
		}
	}
	if failed != 1 || created != 2 || skipped != 1 {
		t.Errorf("failed %d created %d skipped %d, want 1 2 1", failed, created, skipped)
	}
	// No id in any span name.
	for _, s := range spans {
		for _, id := range append(identities, c.CycleID) {
			if strings.Contains(s.Name, id) {
				t.Errorf("span name %q contains %q", s.Name, id)
			}
		}
	}

	// Metrics: operations by bounded attributes, with exemplars from the operation spans.
	rm := h.collect(t)
	ops := findMetric(rm, MetricOperations)
	if ops == nil {
		t.Fatalf("no %s", MetricOperations)
	}
	sum := ops.Data.(metricdata.Sum[int64])
	var total int64
	traceIDs := map[string]bool{}
	for _, ev := range events {
		traceIDs[ev.TraceID] = true
	}
	exemplars := 0
	for _, dp := range sum.DataPoints {
		total += dp.Value
		for _, ex := range dp.Exemplars {
			exemplars++
			if !traceIDs[trace.TraceID(ex.TraceID).String()] {
				t.Errorf("exemplar trace %x is not an operation's", ex.TraceID)
			}
		}
		if st, _ := dp.Attributes.Value(AttrStatus); st.AsString() == "failure" {
			if et, ok := dp.Attributes.Value(AttrErrorType); !ok || et.AsString() == "" {
				t.Errorf("failure data point without error.type: %v", dp.Attributes)
			}
		}
	}
	if total != 4 || exemplars == 0 {
		t.Errorf("operations total %d (want 4), %d exemplars", total, exemplars)
	}
	hist := findMetric(rm, MetricOperationDuration).Data.(metricdata.Histogram[float64])
	var count uint64
	for _, dp := range hist.DataPoints {
		count += dp.Count
	}
	if count != 4 {
		t.Errorf("operation.duration count %d", count)
	}
	if m := findMetric(rm, MetricCycleDuration); m == nil || len(m.Data.(metricdata.Histogram[float64]).DataPoints) != 1 {
		t.Errorf("cycle.duration: %+v", m)
	}
	if m := findMetric(rm, MetricObjectsSynced); m == nil || m.Data.(metricdata.Sum[int64]).DataPoints[0].Value != 2 {
		t.Errorf("objects.synchronized: %+v", m)
	}
	assertNoIdentityInMetrics(t, rm, append(identities, c.CycleID))

	// Logs: one provisioning.event per event, trace context attached, every field.
	var evLogs []sdklog.Record
	names := map[string]int{}
	for _, r := range h.logs.records() {
		names[r.EventName()]++
		if r.EventName() == EventProvisioning {
			evLogs = append(evLogs, r)
		}
	}
	if len(evLogs) != len(events) || names[EventCycleStarted] != 1 || names[EventCycleEnded] != 1 {
		t.Fatalf("log event names %v, want %d %s", names, len(events), EventProvisioning)
	}
	for _, r := range evLogs {
		attrs := map[string]attribute.Value{}
		r.WalkAttributes(func(kv attribute.KeyValue) bool { attrs[string(kv.Key)] = kv.Value; return true })
		id := attrs[AttrEventID].AsString()
		i := slices.IndexFunc(events, func(e provisioning.Event) bool { return e.ID == id })
		if i < 0 {
			t.Fatalf("log record for unknown event %q", id)
		}
		ev := events[i]
		if r.TraceID().String() != ev.TraceID || r.SpanID().String() != ev.SpanID {
			t.Errorf("log trace %s/%s, event %s/%s", r.TraceID(), r.SpanID(), ev.TraceID, ev.SpanID)
		}
		for _, k := range []string{AttrJobID, AttrCycleID, AttrChangeID, AttrAction, AttrStatus, AttrSourceID, AttrSourceName,
			AttrTargetID, AttrSourceSystem, AttrTargetSystem, AttrInitiatorID, AttrInitiatorType, AttrDuration, AttrSteps, AttrModified} {
			if _, ok := attrs[k]; !ok {
				t.Errorf("event log without %s", k)
			}
		}
		if steps := attrs[AttrSteps].AsSlice(); len(steps) != len(ev.ProvisioningSteps) || steps[0].Type() != attribute.MAP {
			t.Errorf("steps attribute %v", attrs[AttrSteps].Emit())
		}
		wantSev := "INFO"
		switch ev.Status {
		case provisioning.ResultFailure:
			wantSev = "ERROR"
			if attrs[AttrErrorCode].AsString() == "" {
				t.Errorf("failure log without error code")
			}
		case provisioning.ResultWarning:
			wantSev = "WARN"
		}
		if r.SeverityText() != wantSev {
			t.Errorf("severity %s for %s", r.SeverityText(), ev.Status)
		}
	}

	// /metrics serves the same instruments in Prometheus form.
	rec := httptest.NewRecorder()
	h.tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"provisioning_operations_total", "provisioning_operation_duration_seconds_bucket", "http_client_request_duration_seconds"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// assertNoIdentityInMetrics fails when any metric attribute value is an identity.
func assertNoIdentityInMetrics(t *testing.T, rm metricdata.ResourceMetrics, ids []string) {
	t.Helper()
	check := func(metric string, set attribute.Set) {
		for _, kv := range set.ToSlice() {
			for _, id := range ids {
				if strings.Contains(kv.Value.Emit(), id) {
					t.Errorf("metric %s attribute %s=%q carries an identity", metric, kv.Key, kv.Value.Emit())
				}
			}
			switch string(kv.Key) {
			case AttrSourceID, AttrTargetID, AttrSourceName, AttrTargetName, AttrCycleID, AttrChangeID, AttrEventID:
				t.Errorf("metric %s has the identity attribute %s", metric, kv.Key)
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					check(m.Name, dp.Attributes)
				}
			case metricdata.Sum[float64]:
				for _, dp := range d.DataPoints {
					check(m.Name, dp.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					check(m.Name, dp.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					check(m.Name, dp.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					check(m.Name, dp.Attributes)
				}
			}
		}
	}
}

func TestJobGaugesAndTarget(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	ctx := context.Background()
	if _, err := w.eng.RunCycle(ctx, "hr-to-app"); err != nil {
		t.Fatal(err)
	}
	h.tel.ObserveJobs(w.eng)
	h.tel.ObserveTarget("hr-to-app", w.scim)
	h.tel.gauges.stop() // the snapshot goroutine has taken one snapshot or none: take it here
	h.tel.gauges.refresh()
	rm := h.collect(t)
	state := findMetric(rm, MetricJobState)
	if state == nil {
		t.Fatal("no job state")
	}
	ones, zeros := 0, 0
	for _, dp := range state.Data.(metricdata.Gauge[int64]).DataPoints {
		v, _ := dp.Attributes.Value(AttrJobState)
		switch {
		case dp.Value == 1 && v.AsString() == string(provisioning.StatusActive):
			ones++
		case dp.Value == 0:
			zeros++
		default:
			t.Errorf("job state %s = %d", v.AsString(), dp.Value)
		}
	}
	if ones != 1 || zeros != len(provisioning.StatusCodes)-1 {
		t.Errorf("state set: %d ones, %d zeros", ones, zeros)
	}
	q := findMetric(rm, MetricQuarantine).Data.(metricdata.Gauge[int64])
	if len(q.DataPoints) != len(quarantineReasons) {
		t.Errorf("quarantine reasons %d", len(q.DataPoints))
	}
	for _, dp := range q.DataPoints {
		if dp.Value != 0 {
			t.Errorf("not quarantined but %v = 1", dp.Attributes)
		}
	}
	scope := findMetric(rm, MetricScopeCount).Data.(metricdata.Sum[int64])
	if len(scope.DataPoints) != 1 || scope.DataPoints[0].Value != 2 {
		t.Errorf("scope count %+v", scope.DataPoints)
	}
	if v, _ := scope.DataPoints[0].Attributes.Value(AttrIdentityType); v.AsString() != "User" {
		t.Errorf("scope identity type %q", v.AsString())
	}
	st, _ := w.eng.Status(ctx, "hr-to-app")
	age := findMetric(rm, MetricLastSuccessAge)
	switch {
	case st.LastSuccessfulExecution != nil && (age == nil || age.Data.(metricdata.Gauge[float64]).DataPoints[0].Value < 0):
		t.Errorf("last success age %+v", age)
	case st.LastSuccessfulExecution == nil && age != nil && len(age.Data.(metricdata.Gauge[float64]).DataPoints) > 0:
		t.Errorf("last success age reported without a successful cycle")
	}
	for _, name := range []string{MetricEscrowSize, MetricDeletionHeld, MetricTargetThrottled, MetricTargetRequests, MetricTargetRequestRate, MetricCycleProgress} {
		if findMetric(rm, name) == nil {
			t.Errorf("no %s", name)
		}
	}
	req := findMetric(rm, MetricTargetRequests).Data.(metricdata.Sum[int64]).DataPoints[0].Value
	if req != w.scim.Stats().Requests || req == 0 {
		t.Errorf("target requests %d, client %d", req, w.scim.Stats().Requests)
	}
	assertNoIdentityInMetrics(t, rm, identities)
}

func TestStatusChangeAndAdminLogs(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	ctx := context.Background()
	if _, err := w.eng.RunCycle(ctx, "hr-to-app"); err != nil {
		t.Fatal(err)
	}
	if err := w.eng.Quarantine(ctx, "hr-to-app", "admin@contoso.test", "maintenance"); err != nil {
		t.Fatal(err)
	}
	names := map[string]sdklog.Record{}
	for _, r := range h.logs.records() {
		names[r.EventName()] = r
	}
	q, ok := names[EventQuarantine]
	if !ok {
		t.Fatalf("no %s among %v", EventQuarantine, names)
	}
	got := map[string]string{}
	q.WalkAttributes(func(kv attribute.KeyValue) bool { got[string(kv.Key)] = kv.Value.Emit(); return true })
	if got[AttrJobState] != "Quarantine" || got[AttrQuarantineReason] != string(provisioning.ReasonQuarantinedOnDemand) {
		t.Errorf("quarantine log %v", got)
	}
	if _, ok := names[EventAdminAction]; !ok {
		t.Errorf("no %s", EventAdminAction)
	}
}

func TestErrorTypeIsBounded(t *testing.T) {
	var i instruments
	for _, c := range []struct{ in, want string }{
		{"SystemForCrossDomainIdentityManagementBadResponse", "SystemForCrossDomainIdentityManagementBadResponse"},
		{"uniqueness", "uniqueness"},
		{"alice@contoso.test", ErrorTypeOther},
		{"6f1c2a4e-9b0d-4c1e-8f3a-2d5b7c9e1f00", ErrorTypeOther},
		{"E1001", ErrorTypeOther},
		{"User alice not found", ErrorTypeOther},
		{strings.Repeat("a", 65), ErrorTypeOther},
	} {
		if got := i.errorType(c.in); got != c.want {
			t.Errorf("errorType(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for n := 0; n < maxErrorTypes*2; n++ {
		i.errorType("Code" + strings.Repeat("x", n%60) + string(rune('a'+n%26)))
	}
	if i.errCount > maxErrorTypes {
		t.Errorf("%d distinct error types", i.errCount)
	}
}

type slowSpans struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (s *slowSpans) ExportSpans(_ context.Context, sp []sdktrace.ReadOnlySpan) error {
	<-s.release
	s.mu.Lock()
	s.n += len(sp)
	s.mu.Unlock()
	return nil
}
func (s *slowSpans) Shutdown(context.Context) error { return nil }

func TestBatcherNeverBlocksAndCountsDrops(t *testing.T) {
	exp := &slowSpans{release: make(chan struct{})}
	sb := newSpanBatcher(exp, batchConfig{queueSize: 4, maxBatch: 2, interval: time.Hour, timeout: time.Second})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sb))
	tr := tp.Tracer("t")
	start := time.Now()
	for range 100 {
		_, s := tr.Start(context.Background(), "x")
		s.End()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ending 100 spans took %s with a stuck exporter", d)
	}
	if sb.b.dropped.Load() < 90 {
		t.Errorf("dropped %d, want ≥ 90", sb.b.dropped.Load())
	}
	close(exp.release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := int64(exp.n) + sb.b.dropped.Load(); got != 100 {
		t.Errorf("exported %d + dropped %d = %d, want 100", exp.n, sb.b.dropped.Load(), got)
	}
}

func TestSetupNoneAndResource(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	t.Setenv("OTEL_SERVICE_NAME", "provisiond-test")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci")
	tel, err := Setup(context.Background(), Options{ServiceVersion: "1.2.3", InstanceID: "i-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if _, ok := tel.Recorder().(provisioning.NopRecorder); !ok {
		t.Errorf("traces none: recorder %T", tel.Recorder())
	}
	base := &http.Client{}
	if tel.HTTPClient(base) != base {
		t.Errorf("none: the HTTP client is wrapped")
	}
	if tel.logging || tel.tracing || tel.pushMetrics {
		t.Errorf("none: logging %v tracing %v push %v", tel.logging, tel.tracing, tel.pushMetrics)
	}
	want := map[string]string{AttrServiceName: "provisiond-test", AttrServiceVersion: "1.2.3", AttrServiceInstanceID: "i-1", "deployment.environment.name": "ci"}
	for k, v := range want {
		if got, ok := tel.res.Set().Value(attribute.Key(k)); !ok || got.AsString() != v {
			t.Errorf("resource %s = %q, want %q", k, got.AsString(), v)
		}
	}
	// /metrics is served whatever the OTLP settings.
	tel.Observer().Events(context.Background(), &provisioning.Job{ID: "j"}, []provisioning.Event{{JobID: "j", Action: "create", Status: "success",
		SourceIdentity: provisioning.Identity{ID: "E1", IdentityType: "User"}}})
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `provisioning_operations_total{`) {
		t.Errorf("/metrics: %s", rec.Body.String())
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestHTTPClientSpanNames(t *testing.T) {
	h := newHarness(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Traceparent") == "" {
			t.Errorf("no traceparent propagated")
		}
	}))
	defer ts.Close()
	c := h.tel.HTTPClient(&http.Client{})
	ctx, sp := h.tel.rec.tracer.Start(context.Background(), "export")
	// The connector records the call; the telemetry transport gives it its client span.
	ctx, calls := connectors.WithCallLog(ctx)
	cctx, pc := connectors.StartCall(ctx, "PATCH", "/scim/v2/Users/6f1c2a4e-9b0d-4c1e-8f3a-2d5b7c9e1f00")
	req, _ := http.NewRequestWithContext(cctx, "PATCH", ts.URL+"/scim/v2/Users/6f1c2a4e-9b0d-4c1e-8f3a-2d5b7c9e1f00", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pc.End(resp.StatusCode, nil)
	sp.End()
	var names []string
	var httpSpan string
	for _, s := range h.spans.GetSpans() {
		names = append(names, s.Name)
		if s.Name == "HTTP PATCH" {
			httpSpan = s.SpanContext.SpanID().String()
		}
	}
	if !slices.Contains(names, "HTTP PATCH") {
		t.Errorf("span names %v", names)
	}
	if got := calls.Take(); len(got) != 1 || got[0].SpanID != httpSpan || got[0].Status != 200 {
		t.Errorf("recorded call %+v, want span %s", got, httpSpan)
	}
}

// TestSensitive: names holding a secret word in any case are redacted; others are not.
func TestSensitive(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "userPassword": true, "PASSWORD": true, "clientSecret": true, "accessToken": true,
		"TokenType": true, "credentials": true, "x-Credential-y": true, "pässword": false, "PÄSSWORD_token": true,
		"givenName": false, "": false, "passwor": false, "tok": false, "secre t": false, "İpassword": true,
	} {
		if got := sensitive(name); got != want {
			t.Errorf("sensitive(%q) = %v, want %v", name, got, want)
		}
	}
}
