package exporter

// Integration checks run by .ci/otel-e2e.sh (skipped by go test ./...):
//   PROVISIOND_OTEL_FILE: the collector file exporter's OTLP-JSON output of a demo run;
//   PROVISIOND_METRICS_FILE: a /metrics scrape of the running demo.

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type otlpAttr struct {
	Key   string    `json:"key"`
	Value otlpValue `json:"value"`
}

type otlpValue struct {
	StringValue *string `json:"stringValue"`
	IntValue    *string `json:"intValue"`
	ArrayValue  *struct {
		Values []otlpValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []otlpAttr `json:"values"`
	} `json:"kvlistValue"`
}

func attrStr(attrs []otlpAttr, key string) (string, bool) {
	for _, a := range attrs {
		if a.Key == key {
			if a.Value.StringValue != nil {
				return *a.Value.StringValue, true
			}
			if a.Value.IntValue != nil {
				return *a.Value.IntValue, true
			}
			return "", true
		}
	}
	return "", false
}

type otlpSpan struct {
	TraceID      string     `json:"traceId"`
	SpanID       string     `json:"spanId"`
	ParentSpanID string     `json:"parentSpanId"`
	Name         string     `json:"name"`
	Kind         int        `json:"kind"`
	Attributes   []otlpAttr `json:"attributes"`
	Links        []struct {
		TraceID    string     `json:"traceId"`
		SpanID     string     `json:"spanId"`
		Attributes []otlpAttr `json:"attributes"`
	} `json:"links"`
	Status struct {
		Code int `json:"code"`
	} `json:"status"`
}

type otlpDataPoint struct {
	Attributes []otlpAttr `json:"attributes"`
	AsInt      *string    `json:"asInt"`
	AsDouble   *float64   `json:"asDouble"`
	Exemplars  []struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	} `json:"exemplars"`
}

type otlpMetric struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	Sum  *struct {
		DataPoints []otlpDataPoint `json:"dataPoints"`
	} `json:"sum"`
	Gauge *struct {
		DataPoints []otlpDataPoint `json:"dataPoints"`
	} `json:"gauge"`
	Histogram *struct {
		DataPoints []otlpDataPoint `json:"dataPoints"`
	} `json:"histogram"`
}

func (m otlpMetric) points() []otlpDataPoint {
	switch {
	case m.Sum != nil:
		return m.Sum.DataPoints
	case m.Gauge != nil:
		return m.Gauge.DataPoints
	case m.Histogram != nil:
		return m.Histogram.DataPoints
	}
	return nil
}

type otlpLog struct {
	EventName    string     `json:"eventName"`
	TraceID      string     `json:"traceId"`
	SpanID       string     `json:"spanId"`
	SeverityText string     `json:"severityText"`
	Attributes   []otlpAttr `json:"attributes"`
}

type otlpResource struct {
	Attributes []otlpAttr `json:"attributes"`
}

type otlpLine struct {
	ResourceSpans []struct {
		Resource   otlpResource `json:"resource"`
		ScopeSpans []struct {
			Spans []otlpSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
	ResourceMetrics []struct {
		Resource     otlpResource `json:"resource"`
		ScopeMetrics []struct {
			Metrics []otlpMetric `json:"metrics"`
		} `json:"scopeMetrics"`
	} `json:"resourceMetrics"`
	ResourceLogs []struct {
		Resource  otlpResource `json:"resource"`
		ScopeLogs []struct {
			LogRecords []otlpLog `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
}

func TestCollectorFileOutput(t *testing.T) {
	path := os.Getenv("PROVISIOND_OTEL_FILE")
	if path == "" {
		t.Skip("PROVISIOND_OTEL_FILE not set (run by .ci/otel-e2e.sh)")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var spans []otlpSpan
	metrics := map[string][]otlpMetric{}
	var logs []otlpLog
	services := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	for sc.Scan() {
		var l otlpLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not OTLP-JSON: %v", err)
		}
		for _, rs := range l.ResourceSpans {
			s, _ := attrStr(rs.Resource.Attributes, AttrServiceName)
			services[s] = true
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		for _, rm := range l.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					metrics[m.Name] = append(metrics[m.Name], m)
				}
			}
		}
		for _, rl := range l.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				logs = append(logs, sl.LogRecords...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d spans, %d metrics, %d log records", len(spans), len(metrics), len(logs))
	if !services["provisiond"] {
		t.Errorf("service names %v", services)
	}

	// Traces.
	byID := map[string]otlpSpan{}
	cycles := map[string]bool{}
	for _, s := range spans {
		byID[s.SpanID] = s
		if s.Name == SpanCycle {
			cycles[s.SpanID] = true
			if v, _ := attrStr(s.Attributes, AttrJobID); v != "demo" {
				t.Errorf("cycle job %q", v)
			}
			for _, k := range []string{AttrCycleID, AttrCycleType, AttrCycleState, AttrCountImported} {
				if _, ok := attrStr(s.Attributes, k); !ok {
					t.Errorf("cycle span without %s", k)
				}
			}
		}
	}
	if len(cycles) < 2 {
		t.Errorf("%d cycle spans, want ≥ 2 (initial and incremental)", len(cycles))
	}
	ops := map[string]otlpSpan{}
	names := map[string]int{}
	for _, s := range spans {
		names[s.Name]++
		if s.Name != SpanProvisionUser && s.Name != SpanProvisionGroup {
			continue
		}
		ops[s.SpanID] = s
		if s.ParentSpanID != "" {
			t.Errorf("operation span with a parent")
		}
		if len(s.Links) != 1 || !cycles[s.Links[0].SpanID] {
			t.Errorf("operation span links %+v: want the cycle span", s.Links)
		}
		for _, k := range []string{AttrJobID, AttrCycleID, AttrChangeID, AttrAction, AttrStatus, AttrSourceID} {
			if _, ok := attrStr(s.Attributes, k); !ok {
				t.Errorf("operation span without %s", k)
			}
		}
	}
	if names[SpanProvisionUser] < 100 || names[SpanProvisionGroup] < 1 {
		t.Errorf("span names %v", names)
	}
	steps, httpUnderExport := 0, 0
	for _, s := range spans {
		if p, ok := ops[s.ParentSpanID]; ok && p.TraceID == s.TraceID {
			steps++
			if v, _ := attrStr(s.Attributes, AttrStepType); v != s.Name {
				t.Errorf("step span %q type %q", s.Name, v)
			}
		}
		if strings.HasPrefix(s.Name, "HTTP ") {
			if p, ok := byID[s.ParentSpanID]; ok && p.Name == "export" {
				httpUnderExport++
			}
		}
	}
	if steps < names[SpanProvisionUser] || httpUnderExport == 0 {
		t.Errorf("%d step spans, %d HTTP spans under export", steps, httpUnderExport)
	}
	if tid := os.Getenv("PROVISIOND_ONDEMAND_TRACE"); tid != "" {
		found := false
		for _, s := range ops {
			found = found || s.TraceID == tid
		}
		if !found {
			t.Errorf("the on-demand operation's trace %s is not in the output", tid)
		}
	}

	// Metrics.
	for _, name := range []string{MetricOperations, MetricOperationDuration, MetricCycleDuration, MetricJobState, MetricScopeCount,
		MetricEscrowSize, MetricCycleProgress, MetricTargetRequests, MetricTargetThrottled, MetricTargetRequestRate, MetricDeletionHeld, MetricQuarantine} {
		if len(metrics[name]) == 0 {
			t.Errorf("metric %s did not arrive", name)
		}
	}
	exemplars := 0
	for _, m := range metrics[MetricOperations] {
		if m.Unit != UnitOperation {
			t.Errorf("%s unit %q", m.Name, m.Unit)
		}
		for _, dp := range m.points() {
			for _, ex := range dp.Exemplars {
				if _, ok := ops[ex.SpanID]; ok {
					exemplars++
				}
			}
		}
	}
	if exemplars == 0 {
		t.Errorf("no exemplar of %s points at an operation span", MetricOperations)
	}
	active := false
	for _, m := range metrics[MetricJobState] {
		for _, dp := range m.points() {
			if v, _ := attrStr(dp.Attributes, AttrJobState); v == "Active" && dp.AsInt != nil && *dp.AsInt == "1" {
				active = true
			}
		}
	}
	if !active {
		t.Errorf("job state Active = 1 never reported")
	}
	for name, ms := range metrics {
		for _, m := range ms {
			for _, dp := range m.points() {
				for _, a := range dp.Attributes {
					switch a.Key {
					case AttrSourceID, AttrTargetID, AttrCycleID, AttrChangeID, AttrEventID, AttrSourceName, AttrTargetName:
						t.Fatalf("metric %s carries %s", name, a.Key)
					}
				}
			}
		}
	}

	// Logs.
	evLogs, withTrace := 0, 0
	eventNames := map[string]int{}
	traces := map[string]bool{}
	for _, s := range ops {
		traces[s.TraceID] = true
	}
	for _, l := range logs {
		eventNames[l.EventName]++
		if l.EventName != EventProvisioning {
			continue
		}
		evLogs++
		if traces[l.TraceID] && l.SpanID != "" {
			withTrace++
		}
		stepsFound := false
		for _, a := range l.Attributes {
			if a.Key == AttrSteps && a.Value.ArrayValue != nil && len(a.Value.ArrayValue.Values) > 0 && a.Value.ArrayValue.Values[0].KvlistValue != nil {
				stepsFound = true
			}
		}
		if !stepsFound {
			t.Fatalf("provisioning.event without structured steps: %+v", l.Attributes)
		}
	}
	if evLogs < names[SpanProvisionUser] || withTrace < evLogs*9/10 {
		t.Errorf("%d event log records (%d with an operation's trace) for %d user operations", evLogs, withTrace, names[SpanProvisionUser])
	}
	if eventNames[EventCycleEnded] < 2 || eventNames[EventAdminAction] < 1 {
		t.Errorf("log event names %v", eventNames)
	}
}

func TestPrometheusScrape(t *testing.T) {
	path := os.Getenv("PROVISIOND_METRICS_FILE")
	if path == "" {
		t.Skip("PROVISIOND_METRICS_FILE not set (run by .ci/otel-e2e.sh)")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, name := range []string{"provisioning_operations_total", "provisioning_operation_duration_seconds", "provisioning_job_state_ratio",
		"provisioning_scope_count", "provisioning_target_requests_total", "http_client_request_duration_seconds", "target_info"} {
		if _, ok := fams[name]; !ok {
			var have []string
			for n := range fams {
				have = append(have, n)
			}
			t.Errorf("/metrics lacks %s (has %v)", name, have)
		}
	}
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "provisioning_source_id", "provisioning_target_id", "provisioning_cycle_id", "provisioning_change_id":
					t.Errorf("%s has label %s", name, l.GetName())
				}
			}
		}
	}
}
