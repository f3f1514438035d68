package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/datasource/pkg/framecheck"
	"github.com/provisiond/provisiond/provisioning"
)

// alertQuery is a query as an alert rule sends it: the raw model JSON (no frontend, no
// DataQuery.QueryType), the rule's relative range, and the FromAlert header.
func alertQuery(raw string, now time.Time) backend.DataQuery {
	return backend.DataQuery{RefID: "A", JSON: json.RawMessage(raw), Interval: time.Minute, MaxDataPoints: 43200,
		TimeRange: backend.TimeRange{From: now.Add(-10 * time.Minute), To: now}}
}

func alertData(t *testing.T, d *Datasource, raw string) data.Frames {
	t.Helper()
	resp, err := d.QueryData(context.Background(), &backend.QueryDataRequest{
		Headers:       map[string]string{backend.FromAlertHeaderName: "true"},
		PluginContext: backend.PluginContext{PluginID: ID}, // User is nil for alert queries
		Queries:       []backend.DataQuery{alertQuery(raw, time.Now())}})
	if err != nil {
		t.Fatal(err)
	}
	return mustFrames(t, resp.Responses["A"])
}

// numbers are the values of numeric-multi frames by their label sets.
func numbers(t *testing.T, frames data.Frames) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, f := range frames {
		for _, fld := range f.Fields {
			if fld.Type().Numeric() {
				v, _ := fld.FloatAt(0)
				out[fld.Labels.String()] = v
			}
		}
	}
	return out
}

// TestAlertableFrames checks that the alert queries' frames pass the rules of server-side
// expressions, and carry the right numbers, for a healthy job and a quarantined one.
func TestAlertableFrames(t *testing.T) {
	s := apitest.Start(t, apitest.Options{}) // 200 users: some fail (error codes to group by)
	d := newDatasource(t, s.URL, apitest.ReaderToken)
	check := func(t *testing.T, raw string, kind data.FrameTypeKind) data.Frames {
		t.Helper()
		frames := alertData(t, d, raw)
		r, err := framecheck.Alertable(frames)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if !r.Dataplane || r.Kind != kind || r.NoData {
			t.Fatalf("%s: %+v, want dataplane %s with data", raw, r, kind)
		}
		return frames
	}
	metrics := func(t *testing.T, wantQuarantined map[string]float64) {
		for _, m := range Metrics {
			frames := check(t, fmt.Sprintf(`{"queryType":"quarantine","metric":%q}`, m), data.KindNumeric)
			if len(frames) != 2 {
				t.Fatalf("%s: %d frames, want one per job", m, len(frames))
			}
			if m == MetricQuarantined {
				if got := numbers(t, frames); fmt.Sprint(got) != fmt.Sprint(wantQuarantined) {
					t.Fatalf("quarantined = %v, want %v", got, wantQuarantined)
				}
			}
		}
		for _, raw := range []string{
			`{"queryType":"eventCounts"}`,
			`{"queryType":"eventCounts","groupBy":["jobId","status"],"interval":"1m"}`,
			`{"queryType":"eventCounts","status":"failure","groupBy":["errorCode"]}`,
			`{"queryType":"eventCounts","jobId":"sales","action":"delete","groupBy":["jobId","action"]}`,
		} {
			frames := check(t, raw, data.KindTimeSeries)
			for _, f := range frames {
				// Ten minutes from an unaligned start touch 11 one-minute buckets.
				if f.Rows() != 10 && f.Rows() != 11 {
					t.Fatalf("%s: %d buckets over 10 minutes, want 10 or 11 (zero-filled)", raw, f.Rows())
				}
			}
		}
		check(t, `{"queryType":"progress"}`, data.KindTimeSeries)
	}

	t.Run("healthy", func(t *testing.T) {
		metrics(t, map[string]float64{"job=demo, reason=": 0, "job=sales, reason=": 0})
	})

	st := s.Quarantine(t, "sales")
	t.Run("quarantined", func(t *testing.T) {
		metrics(t, map[string]float64{"job=demo, reason=": 0, "job=sales, reason=" + string(st.Quarantine.Reason): 1})
		got := numbers(t, alertData(t, d, `{"queryType":"quarantine","metric":"credentialFailure"}`))
		if got["job=sales, reason=EncounteredQuarantineException"] != 1 || got["job=demo, reason="] != 0 {
			t.Fatalf("credentialFailure = %v", got)
		}
		got = numbers(t, alertData(t, d, `{"queryType":"quarantine","metric":"successiveFailures","jobId":"sales"}`))
		if got["job=sales"] < 1 {
			t.Fatalf("successiveFailures = %v", got)
		}
	})

	t.Run("counts add up", func(t *testing.T) {
		// The zero-filled series hold every event of the window: their sum is the
		// summary's total.
		now := time.Now()
		frames := alertData(t, d, `{"queryType":"eventCounts","groupBy":["status"]}`)
		var sum float64
		for _, f := range frames {
			for i := 0; i < f.Rows(); i++ {
				v, _ := f.Fields[1].FloatAt(i)
				sum += v
			}
		}
		c, _ := client.New(s.URL, apitest.ReaderToken)
		from := bucketStart(now.Add(-10*time.Minute), time.Minute)
		sum2, err := c.Summary(context.Background(), client.Window{From: from, To: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if sum == 0 || int64(sum) != sum2.Total {
			t.Fatalf("eventCounts sum %v, summary total %d", sum, sum2.Total)
		}
	})
}

// TestLogsAndTraceFrames checks the logs frame of every kind of event and the trace of
// a failed, a created and a group event against the logs panel's and the trace view's
// needs.
func TestLogsAndTraceFrames(t *testing.T) {
	s := apitest.Start(t, apitest.Options{Users: 200})
	d := newDatasource(t, s.URL, apitest.ReaderToken)
	now := time.Now()
	for _, st := range provisioning.Results {
		raw := fmt.Sprintf(`{"queryType":"events","status":%q,"limit":1500}`, st)
		frames := mustFrames(t, query(t, d, dataQuery("A", raw, now)))
		if err := framecheck.ForPanel("logs", frames); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		f := frames[0]
		if st != provisioning.ResultSkipped && f.Rows() == 0 {
			t.Fatalf("no %s events", st)
		}
		for i := 0; i < min(f.Rows(), 5); i++ {
			if got, want := f.Fields[2].At(i), severity(st); got != want {
				t.Fatalf("%s event severity %v, want %s", st, got, want)
			}
			id := f.Fields[3].At(i).(string)
			trace := mustFrames(t, query(t, d, dataQuery("B", fmt.Sprintf(`{"queryType":"userPath","eventId":%q}`, id), now)))
			if err := framecheck.ForPanel("traces", trace); err != nil {
				t.Fatalf("trace of %s event %s: %v", st, id, err)
			}
			if st == provisioning.ResultFailure && trace[0].Fields[6].At(0).(int64) != 2 {
				t.Fatalf("a failed event's root span has status code %v", trace[0].Fields[6].At(0))
			}
		}
	}
	// The links go to this datasource's userPath query.
	f := mustFrames(t, query(t, d, dataQuery("A", `{"queryType":"events","limit":1}`, now)))[0]
	for _, name := range []string{"eventId", "traceId"} {
		fld, _ := f.FieldByName(name)
		if fld.Config == nil || len(fld.Config.Links) != 1 || fld.Config.Links[0].Internal == nil ||
			fld.Config.Links[0].Internal.DatasourceUID != testUID {
			t.Fatalf("field %s: links %+v", name, fld.Config)
		}
		q := fld.Config.Links[0].Internal.Query.(map[string]any)
		if q["queryType"] != TypeUserPath || q["eventId"] == "" {
			t.Fatalf("field %s links to %v", name, q)
		}
	}
}
