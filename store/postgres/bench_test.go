package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/postgres/pgtest"
	"github.com/provisiond/provisiond/store/storetest"
)

// The benchmarks need PostgreSQL (PROVISIOND_POSTGRES=1). They run on the throwaway
// cluster, which has durability off; set PROVISIOND_POSTGRES_DSN to a server configured
// as in production to measure commits. The events store of BenchmarkQueryEvents
// (PROVISIOND_BENCH_EVENTS events, default a million) is then kept between runs in the
// schema provisiond_bench_events_<count> of that server's database (drop it to reclaim
// the space); on the throwaway cluster it is loaded by every run.

const (
	benchUsers  = 50_000
	benchSpan   = 30 * 24 * time.Hour
	benchCycles = 100
	benchPer    = 500
)

// benchSeq hands out event sequence numbers unique in the process.
var benchSeq atomic.Int64

func benchEventCount() int {
	if v, err := strconv.Atoi(os.Getenv("PROVISIOND_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// benchBatch returns n events like the engine's (the SQLite store's benchmark's): users
// drawn from a population, time-ordered event ids (UUIDv7-like) and random change ids.
func benchBatch(r *rand.Rand, job string, seq, n, users int) []provisioning.Event {
	evs := make([]provisioning.Event, n)
	for i := range evs {
		k := seq + i
		evs[i] = storetest.SampleEvent(r, job, "cycle-x", fmt.Sprintf("0197%08x-%04x-7000-8000-%012x", k>>16, k&0xffff, os.Getpid()), r.IntN(users),
			storetest.Base.Add(benchSpan+time.Duration(k)*time.Millisecond))
		evs[i].ChangeID = fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.Uint32()>>16, r.Uint32()>>20, r.Uint32()>>20, r.Uint64()>>16)
	}
	return evs
}

// engineBatch wraps events as the engine's cycle batches are: with their links, the
// cycle and the job state with its checkpoint.
func engineBatch(job string, evs []provisioning.Event, seq int) provisioning.Batch {
	b := provisioning.Batch{JobID: job, Events: evs, Links: make([]provisioning.Link, len(evs))}
	for i, e := range evs {
		b.Links[i] = storetest.SampleLink(job, connectors.TypeUser, e.SourceIdentity.ID, e.ActivityDateTime)
	}
	cy := provisioning.Cycle{CycleID: "cycle-x", Type: provisioning.CycleInitial, TimeBegan: storetest.Base, State: provisioning.CycleRunning, CountExported: int64(seq)}
	st := provisioning.JobState{Status: provisioning.Status{Code: provisioning.StatusActive},
		Checkpoint: &provisioning.Checkpoint{CycleID: "cycle-x", Phase: "users", Position: int64(seq)}, Updated: storetest.Base}
	b.Cycle, b.State = &cy, &st
	return b
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkCommit commits batches of 500 realistic events (~2 KB of JSON each): "events"
// alone and "engine" as the engine's cycle batches are (events, links, cycle, state),
// into a fresh store; "fenced" adds the lease check replicas commit with.
func BenchmarkCommit(b *testing.B) {
	for _, c := range []struct {
		name          string
		engine, fence bool
	}{{"fresh/events", false, false}, {"fresh/engine", true, false}, {"fresh/engine-fenced", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b)
			ctx := context.Background()
			var lease *provisioning.Lease
			if c.fence {
				cl, err := s.ClaimLeases(ctx, "bench", []string{"job-a"}, time.Hour)
				if err != nil || len(cl.Held) != 1 {
					b.Fatalf("claim: %v %v", cl, err)
				}
				lease = &cl.Held[0]
			}
			r := rand.New(rand.NewPCG(uint64(b.N), 2))
			seq := int(benchSeq.Add(int64(b.N*benchPer))) - b.N*benchPer
			var jsonBytes int
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				b.StopTimer()
				evs := benchBatch(r, "job-a", seq, benchPer, benchUsers)
				batch := provisioning.Batch{JobID: "job-a", Events: evs}
				if c.engine {
					batch = engineBatch("job-a", evs, seq)
				}
				batch.Lease = lease
				if n == 0 {
					js, _ := json.Marshal(evs[0])
					jsonBytes = len(js)
				}
				seq += benchPer
				b.StartTimer()
				if err := s.Commit(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchPer)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(jsonBytes), "B/event-json")
		})
	}
}

// BenchmarkCommitParallel commits engine batches of 500 events for four jobs from four
// goroutines: PostgreSQL commits them concurrently (row locks only where they meet).
func BenchmarkCommitParallel(b *testing.B) {
	s := benchStore(b)
	b.SetParallelism(max(1, 4/runtime.GOMAXPROCS(0)))
	var jobs atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		job := fmt.Sprint("job-", jobs.Add(1))
		r := rand.New(rand.NewPCG(uint64(benchSeq.Add(1)), 3))
		for pb.Next() {
			seq := int(benchSeq.Add(benchPer)) - benchPer
			if err := s.Commit(context.Background(), engineBatch(job, benchBatch(r, job, seq, benchPer, benchUsers), seq)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchPer)/b.Elapsed().Seconds(), "events/s")
}

// benchEvent is event i of total over 30 days: two jobs (one with a tenth of the users),
// 100 cycles, create/update/delete, 4 % failures with three error codes, 1 % skips; one
// user (user000007) has 0.5 % of the events.
func benchEvent(r *rand.Rand, i, total int) provisioning.Event {
	user := r.IntN(benchUsers)
	if r.IntN(200) == 0 {
		user = 7 // one user with a long history: changed all the time
	}
	t := storetest.Base.Add(time.Duration(int64(benchSpan) / int64(total) * int64(i)))
	cycle := i * benchCycles / total
	job := "job-a"
	if user%10 == 0 {
		job = "job-b"
	}
	e := storetest.SampleEvent(r, job, fmt.Sprintf("cycle-%03d", cycle), fmt.Sprintf("ev-%09d", i), user, t)
	e.ChangeID = fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.Uint32()>>16, r.Uint32()>>20, r.Uint32()>>20, r.Uint64()>>16)
	e.Action = provisioning.Actions[r.IntN(3)]
	switch x := r.IntN(100); {
	case x < 4:
		e.Status = provisioning.ResultFailure
		e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: []string{"EntryConflict", "TooManyRequests", "InvalidAnchor"}[x%3], Reason: "failed"}
	case x < 5:
		e.Status = provisioning.ResultSkipped
		e.ErrorInformation = nil
	default:
		e.Status = provisioning.ResultSuccess
		e.ErrorInformation = nil
	}
	return e
}

// bulkLoad fills the events table fast: the secondary indexes are dropped, the events
// generated in parallel and committed through Commit in batches of 10,000 (so with the
// store's own encoding and rollup counts), then the indexes are rebuilt and the table
// analysed.
func bulkLoad(s *Store, total int) error {
	ctx := context.Background()
	rows, err := s.pool.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
		AND tablename = 'events' AND indexname <> 'events_pkey'`)
	if err != nil {
		return err
	}
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return err
		}
		names, defs = append(names, n), append(defs, d)
	}
	rows.Close()
	for _, n := range names {
		if _, err := s.pool.Exec(ctx, `DROP INDEX `+pgx.Identifier{n}.Sanitize()); err != nil {
			return err
		}
	}
	const chunk = 10_000
	chunks := (total + chunk - 1) / chunk
	results := make([]chan []provisioning.Event, chunks)
	for i := range results {
		results[i] = make(chan []provisioning.Event, 1)
	}
	workers := runtime.GOMAXPROCS(0)
	ahead := make(chan struct{}, 2*workers)
	stop := make(chan struct{})
	defer close(stop)
	for w := range workers {
		go func() {
			for c := w; c < chunks; c += workers {
				select {
				case ahead <- struct{}{}:
				case <-stop:
					return
				}
				r := rand.New(rand.NewPCG(uint64(c), 42))
				evs := make([]provisioning.Event, 0, chunk)
				for i := c * chunk; i < min(total, (c+1)*chunk); i++ {
					evs = append(evs, benchEvent(r, i, total))
				}
				results[c] <- evs
			}
		}()
	}
	start := time.Now()
	for c := range chunks {
		evs := <-results[c]
		<-ahead
		if err := s.Commit(ctx, provisioning.Batch{Events: evs}); err != nil {
			return err
		}
		if done := (c + 1) * chunk; total >= 2_000_000 && done%1_000_000 == 0 {
			fmt.Fprintf(os.Stderr, "bulk load: %d events in %v\n", done, time.Since(start).Round(time.Second))
		}
	}
	if _, err := s.pool.Exec(ctx, `SET maintenance_work_mem = '512MB'`); err != nil {
		return err
	}
	for _, d := range defs {
		t := time.Now()
		if _, err := s.pool.Exec(ctx, d); err != nil {
			return err
		}
		if total >= 2_000_000 {
			fmt.Fprintf(os.Stderr, "bulk load: %s in %v\n", d, time.Since(t).Round(time.Second))
		}
	}
	return s.Analyze(ctx)
}

// openEventsStore returns the store of BenchmarkQueryEvents, loading it when needed.
func openEventsStore(b *testing.B) *Store {
	b.Helper()
	pgtest.Skip(b)
	ctx := context.Background()
	total := benchEventCount()
	if dsn := os.Getenv(pgtest.EnvDSN); dsn != "" {
		schema := fmt.Sprintf("provisiond_bench_events_%d", total)
		s, err := Open(ctx, withSearchPath(dsn, schema))
		if err == nil {
			var n int64
			if err := s.pool.QueryRow(ctx, `SELECT sum(count)::bigint FROM event_stats`).Scan(&n); err == nil && n == int64(total) {
				b.Cleanup(func() { s.Close() })
				return s
			}
			s.Close()
		}
		// Not there (or incomplete): load it afresh.
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		conn.Close(ctx)
		s, _, err = OpenSchema(ctx, dsn, schema)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		load(b, s, total)
		return s
	}
	s := benchStore(b)
	load(b, s, total)
	return s
}

func load(b *testing.B, s *Store, total int) {
	b.Helper()
	start := time.Now()
	if err := bulkLoad(s, total); err != nil {
		b.Fatal(err)
	}
	var size int64
	_ = s.pool.QueryRow(context.Background(), `SELECT pg_total_relation_size('events')`).Scan(&size)
	fmt.Fprintf(os.Stderr, "BenchmarkQueryEvents: loaded %d events (%d MB with indexes) in %v\n", total, size>>20, time.Since(start).Round(time.Second))
}

func withSearchPath(dsn, schema string) string {
	if strings.Contains(dsn, "://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=" + schema
	}
	return dsn + " search_path=" + schema
}

// BenchmarkQueryEvents queries a store of PROVISIOND_BENCH_EVENTS events (default a
// million) over 30 days: one user's history (by id, by display name in another case, by
// prefixes matching 10 users, 100 users and everyone), filtered pages of a job, pages
// deep in the keyset order, a cycle's failures, a time window, a page of 1000, one event
// by id; and the statistics of the last 24 hours (per 5 minutes by status, top errors,
// summary). Each reports its 95th percentile latency (p95-ms).
func BenchmarkQueryEvents(b *testing.B) {
	s := openEventsStore(b)
	total := benchEventCount()
	mid := storetest.Base.Add(benchSpan / 2)
	end := storetest.Base.Add(benchSpan)
	ctx := context.Background()
	type bench struct {
		name string
		run  func(n int) error
	}
	query := func(q provisioning.EventQuery, least int) func(int) error {
		return func(int) error {
			evs, err := s.QueryEvents(ctx, q)
			if err == nil && len(evs) < least && total >= 1_000_000 {
				err = fmt.Errorf("%d events, want at least %d", len(evs), least)
			}
			return err
		}
	}
	benches := []bench{
		{"identity", query(provisioning.EventQuery{Identity: "user012345"}, 1)},
		{"identity-job", query(provisioning.EventQuery{JobID: "job-a", Identity: "user012347"}, 1)},
		{"identity-long-history", query(provisioning.EventQuery{Identity: "user000007"}, 100)},
		{"identity-long-history-name-page-after", query(provisioning.EventQuery{Identity: "user 000007",
			After: &provisioning.EventPosition{Time: mid, ID: "ev-5"}}, 100)},
		{"display-name-any-case", query(provisioning.EventQuery{Identity: "USER 012345"}, 1)},
		{"identity-prefix", query(provisioning.EventQuery{Identity: "user01234", IdentityPrefix: true}, 10)},
		{"identity-prefix-2000-matches", query(provisioning.EventQuery{Identity: "user0123", IdentityPrefix: true}, 100)},
		{"identity-prefix-broad", query(provisioning.EventQuery{Identity: "u", IdentityPrefix: true}, 100)},
		{"job-newest-page", query(provisioning.EventQuery{JobID: "job-a"}, 100)},
		{"job-failures-page", query(provisioning.EventQuery{JobID: "job-a", Status: provisioning.ResultFailure}, 100)},
		{"job-error-code-page", query(provisioning.EventQuery{JobID: "job-b", ErrorCode: "InvalidAnchor"}, 100)},
		{"action-6h-window", query(provisioning.EventQuery{Action: provisioning.ActionDelete, From: mid, To: mid.Add(6 * time.Hour)}, 100)},
		{"job-page-after", query(provisioning.EventQuery{JobID: "job-a", After: &provisioning.EventPosition{Time: mid, ID: "ev-5"}}, 100)},
		{"job-page-after-ascending", query(provisioning.EventQuery{JobID: "job-a", Ascending: true, After: &provisioning.EventPosition{Time: mid, ID: "ev-5"}}, 100)},
		{"cycle-error-code", query(provisioning.EventQuery{CycleID: "cycle-050", ErrorCode: "EntryConflict"}, 10)},
		{"time-window", query(provisioning.EventQuery{From: mid, To: mid.Add(time.Hour)}, 100)},
		{"page-of-1000", query(provisioning.EventQuery{JobID: "job-a", Limit: 1000}, 1000)},
		{"get-event", func(n int) error {
			id := fmt.Sprintf("ev-%09d", (n*7919)%total)
			e, err := s.GetEvent(ctx, id)
			if err == nil && e.ID != id {
				err = fmt.Errorf("got %s", e.ID)
			}
			return err
		}},
		{"stats-24h-by-status", func(int) error {
			bs, err := s.EventStats(ctx, provisioning.StatsQuery{From: end.Add(-24 * time.Hour), To: end, Interval: 5 * time.Minute,
				GroupBy: []string{provisioning.GroupByStatus}})
			if err == nil && len(bs) == 0 {
				err = fmt.Errorf("no buckets")
			}
			return err
		}},
		{"stats-24h-by-everything", func(int) error {
			_, err := s.EventStats(ctx, provisioning.StatsQuery{From: end.Add(-24 * time.Hour), To: end, Interval: time.Hour,
				GroupBy: []string{provisioning.GroupByJobID, provisioning.GroupByAction, provisioning.GroupByStatus, provisioning.GroupByErrorCode}})
			return err
		}},
		{"top-errors-24h", func(int) error {
			_, err := s.TopErrors(ctx, provisioning.TopErrorsQuery{From: end.Add(-24 * time.Hour), To: end})
			return err
		}},
		{"summary-24h", func(int) error {
			_, err := s.Summary(ctx, provisioning.SummaryQuery{From: end.Add(-24 * time.Hour), To: end})
			return err
		}},
		{"summary-30d", func(int) error {
			_, err := s.Summary(ctx, provisioning.SummaryQuery{})
			return err
		}},
	}
	for _, c := range benches {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for n := 0; n < b.N; n++ {
				t := time.Now()
				if err := c.run(n); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}
