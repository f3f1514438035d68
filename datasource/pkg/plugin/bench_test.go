package plugin

import (
	"context"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
)

// The benchmark measures QueryData's overhead over the API calls it makes: for each query
// type, BenchmarkOverhead/RawAPI_<type> makes the client calls QueryData makes and
// BenchmarkOverhead/QueryData_<type> runs the query (same stack, same data); the ratio of
// their ns/op is the overhead (docs/datasource.md lists the figures).

// benchQueries are the benchmarked queries.
var benchQueries = map[string]string{
	TypeStatus:         `{"queryType":"status"}`,
	TypeQuarantine:     `{"queryType":"quarantine"}`,
	TypeProgress:       `{"queryType":"progress"}`,
	TypeEventCounts:    `{"queryType":"eventCounts","groupBy":["status"]}`,
	TypeEvents:         `{"queryType":"events"}`,
	TypeTopErrors:      `{"queryType":"topErrors"}`,
	TypeCycles:         `{"queryType":"cycles","jobId":"demo"}`,
	TypeUserPath:       `{"queryType":"userPath","eventId":"EVENT"}`,
	TypeHistory:        `{"queryType":"history","identity":"E000001"}`,
	TypeJobs:           `{"queryType":"jobs"}`,
	TypeIdentities:     `{"queryType":"identities","query":"E0000"}`,
	TypeStatusChanges:  `{"queryType":"statusChanges"}`,
	TypeStatusTimeline: `{"queryType":"statusTimeline"}`,
	TypeProperties:     `{"queryType":"properties","identity":"E000001"}`,
}

type benchEnv struct {
	d       *Datasource
	c       *client.Client
	eventID string
	now     time.Time
}

func newBenchEnv(b *testing.B) *benchEnv {
	s := demoStack(b)
	c, err := client.New(s.URL, apitest.ReaderToken)
	if err != nil {
		b.Fatal(err)
	}
	p, err := c.IdentityHistory(context.Background(), "E000001", "demo", 1, "")
	if err != nil || len(p.Value) == 0 {
		b.Fatalf("history: %v", err)
	}
	return &benchEnv{d: newDatasource(b, s.URL, apitest.ReaderToken), c: c, eventID: p.Value[0].ID, now: time.Now()}
}

func (e *benchEnv) dataQuery(qt string) backend.DataQuery {
	raw := benchQueries[qt]
	if qt == TypeUserPath {
		raw = `{"queryType":"userPath","eventId":"` + e.eventID + `"}`
	}
	return dataQuery("A", raw, e.now)
}

// raw makes the API calls of a query type's QueryData.
func (e *benchEnv) raw(ctx context.Context, qt string) error {
	dq := e.dataQuery(qt)
	q, err := ParseQuery(dq)
	if err != nil {
		return err
	}
	from, to := dq.TimeRange.From, dq.TimeRange.To
	switch qt {
	case TypeStatus, TypeQuarantine, TypeJobs:
		_, err = e.c.Jobs(ctx)
	case TypeProgress:
		var jobs []client.Job
		if jobs, err = e.c.Jobs(ctx); err == nil {
			for _, j := range jobs {
				if _, err = e.c.Cycles(ctx, j.ID, q.Limit); err != nil {
					break
				}
			}
		}
	case TypeEventCounts:
		_, err = e.c.EventStats(ctx, client.StatsQuery{From: from, To: to, Interval: bucketInterval(q, dq), GroupBy: q.GroupBy})
	case TypeEvents:
		_, err = e.c.Logs(ctx, client.LogsQuery{From: from, To: to, Limit: q.Limit})
	case TypeTopErrors:
		_, err = e.c.TopErrors(ctx, client.Window{From: from, To: to, Limit: q.Limit})
	case TypeCycles:
		_, err = e.c.Cycles(ctx, q.JobID, q.Limit)
	case TypeUserPath:
		_, err = e.c.Trace(ctx, e.eventID)
	case TypeHistory:
		_, err = e.c.IdentityHistory(ctx, q.Identity, "", q.Limit, "")
	case TypeIdentities:
		_, err = e.c.SearchIdentities(ctx, q.Search, "", q.Limit)
	case TypeStatusChanges, TypeStatusTimeline:
		var jobs []client.Job
		if jobs, err = e.c.Jobs(ctx); err == nil {
			for _, j := range jobs {
				if _, err = e.c.JobHistory(ctx, j.ID, q.Limit); err != nil {
					break
				}
			}
		}
	case TypeProperties:
		_, err = e.c.IdentityHistory(ctx, q.Identity, "", q.Limit, "")
	}
	return err
}

// BenchmarkOverhead runs, for each query type on one stack, RawAPI_<type> (the client
// calls) right before QueryData_<type> (the query), so that both see the same load, and
// Interleaved_<type>, which alternates the two in every iteration (raw first, then the query
// first) and reports their ratio: on a shared machine the load changes between two
// sub-benchmarks, not within an iteration.
func BenchmarkOverhead(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	for _, qt := range QueryTypes {
		b.Run("Interleaved_"+qt, func(b *testing.B) {
			req := &backend.QueryDataRequest{PluginContext: backend.PluginContext{PluginID: ID},
				Queries: []backend.DataQuery{e.dataQuery(qt)}}
			var rawT, queryT time.Duration
			runRaw := func() {
				start := time.Now()
				if err := e.raw(ctx, qt); err != nil {
					b.Fatal(err)
				}
				rawT += time.Since(start)
			}
			runQuery := func() {
				start := time.Now()
				resp, err := e.d.QueryData(ctx, req)
				if err != nil || resp.Responses["A"].Error != nil {
					b.Fatal(err, resp.Responses["A"].Error)
				}
				queryT += time.Since(start)
			}
			n := 0
			for b.Loop() {
				if n%2 == 0 {
					runRaw()
					runQuery()
				} else {
					runQuery()
					runRaw()
				}
				n++
			}
			b.ReportMetric(float64(rawT.Nanoseconds())/float64(n), "raw-ns/op")
			b.ReportMetric(float64(queryT.Nanoseconds())/float64(n), "querydata-ns/op")
			b.ReportMetric(float64(queryT)/float64(rawT), "ratio")
		})
		b.Run("RawAPI_"+qt, func(b *testing.B) {
			for b.Loop() {
				if err := e.raw(ctx, qt); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("QueryData_"+qt, func(b *testing.B) {
			req := &backend.QueryDataRequest{PluginContext: backend.PluginContext{PluginID: ID},
				Queries: []backend.DataQuery{e.dataQuery(qt)}}
			for b.Loop() {
				resp, err := e.d.QueryData(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if r := resp.Responses["A"]; r.Error != nil {
					b.Fatal(r.Error)
				}
			}
		})
	}
}
