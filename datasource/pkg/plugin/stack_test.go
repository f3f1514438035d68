package plugin

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/provisiond/provisiond/api/apitest"
)

// The tests run the datasource against a real provisiond stack on loopback (api/apitest:
// HR exports → embedded SCIM servers → SQLite → engine → API).

// testUID and testName identify the datasource in data links.
const (
	testUID  = "provisiond-test-uid"
	testName = "provisiond"
)

// demoStack starts the stack the golden files describe: jobs demo and sales (200 users,
// 10 groups each) after their initial cycles, an incremental cycle of demo's HR churn, and
// sales quarantined by a revoked SCIM token.
func demoStack(tb testing.TB) *apitest.Stack {
	tb.Helper()
	s := apitest.Start(tb, apitest.Options{})
	s.Churn(tb, "demo")
	s.Quarantine(tb, "sales")
	return s
}

// settingsFor are a Grafana datasource's instance settings for the stack.
func settingsFor(url, token string) backend.DataSourceInstanceSettings {
	raw, _ := json.Marshal(map[string]any{"apiUrl": url, "timeoutSeconds": 30})
	return backend.DataSourceInstanceSettings{ID: 1, UID: testUID, Name: testName, JSONData: raw,
		DecryptedSecureJSONData: map[string]string{"apiToken": token}, Updated: time.Unix(1700000000, 0)}
}

// newDatasource builds the datasource as Grafana's instance manager would.
func newDatasource(tb testing.TB, url, token string) *Datasource {
	tb.Helper()
	inst, err := NewInstance(context.Background(), settingsFor(url, token))
	if err != nil {
		tb.Fatal(err)
	}
	d := inst.(*Datasource)
	tb.Cleanup(d.Dispose)
	return d
}

// dataQuery is a query as Grafana sends it: queryType in the DataQuery (as Grafana's query
// service sets it from the JSON), the last hour as the range, a one-minute interval.
func dataQuery(refID, raw string, now time.Time) backend.DataQuery {
	var m struct {
		QueryType string `json:"queryType"`
	}
	_ = json.Unmarshal([]byte(raw), &m)
	return backend.DataQuery{RefID: refID, QueryType: m.QueryType, JSON: json.RawMessage(raw), Interval: time.Minute,
		MaxDataPoints: 1000, TimeRange: backend.TimeRange{From: now.Add(-time.Hour), To: now.Add(time.Minute)}}
}

// query runs one query through QueryData and returns its response.
func query(tb testing.TB, d *Datasource, dq backend.DataQuery) backend.DataResponse {
	tb.Helper()
	resp, err := d.QueryData(context.Background(), &backend.QueryDataRequest{
		PluginContext: backend.PluginContext{PluginID: ID}, Queries: []backend.DataQuery{dq}})
	if err != nil {
		tb.Fatal(err)
	}
	r, ok := resp.Responses[dq.RefID]
	if !ok {
		tb.Fatalf("no response for %s", dq.RefID)
	}
	return r
}

// mustFrames fails unless the response has no error.
func mustFrames(tb testing.TB, r backend.DataResponse) data.Frames {
	tb.Helper()
	if r.Error != nil {
		tb.Fatalf("query error (%s): %v", r.Status, r.Error)
	}
	return r.Frames
}
