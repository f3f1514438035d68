package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/storetest"
)

// benchDir holds the benchmark databases of one test process (removed by TestMain).
var benchDir = sync.OnceValue(func() string {
	d, err := os.MkdirTemp("", "provisiond-sqlite-bench-")
	if err != nil {
		panic(err)
	}
	return d
})

var benchDirUsed bool

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDirUsed {
		os.RemoveAll(benchDir())
	}
	os.Exit(code)
}

func benchOpen(b *testing.B, name string) *Store {
	b.Helper()
	benchDirUsed = true
	s, err := Open(context.Background(), filepath.Join(benchDir(), name))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchBatch returns n events like the engine's: users drawn from a population of users,
// time-ordered event ids (the engine uses UUIDv7) and random change ids (UUIDv4), so that
// index inserts land where they would in production.
func benchBatch(r *rand.Rand, job string, seq, n, users int) []provisioning.Event {
	evs := make([]provisioning.Event, n)
	for i := range evs {
		k := seq + i
		evs[i] = storetest.SampleEvent(r, job, "cycle-x", fmt.Sprintf("0197%08x-%04x-7000-8000-000000000000", k>>16, k&0xffff), r.IntN(users),
			storetest.Base.Add(benchSpan+time.Duration(k)*time.Millisecond))
		evs[i].ChangeID = fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.Uint32()>>16, r.Uint32()>>20, r.Uint32()>>20, r.Uint64()>>16)
	}
	return evs
}

// BenchmarkCommit commits batches of 500 realistic events (six steps, ~2 KB of JSON each,
// for users drawn from 50,000): "events" alone and "engine" as the engine's cycle batches
// are (the events, their links, the cycle and the job state with its checkpoint); into a
// fresh store, and into the store of BenchmarkQueryEvents (a million events), where each
// event's index entries land on pages no other event of the batch touches.
func BenchmarkCommit(b *testing.B) {
	const per = 500
	for _, c := range []struct {
		name   string
		engine bool
		big    bool
	}{{"fresh/events", false, false}, {"fresh/engine", true, false}, {"1M/engine", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			var s *Store
			if c.big {
				var err error
				if s, err = eventsDB(); err != nil {
					b.Fatal(err)
				}
			} else {
				s = benchOpen(b, fmt.Sprintf("commit-%s-%d.db", strings.ReplaceAll(c.name, "/", "-"), benchSeq.Add(1)))
				defer s.Close()
			}
			ctx := context.Background()
			r := rand.New(rand.NewPCG(uint64(b.N), 2))
			var jsonBytes int
			// This run's sequence numbers (Add returns the end of the range it reserves).
			seq := int(benchSeq.Add(int64(b.N*per))) - b.N*per
			var cpu time.Duration // process CPU time spent in Commit
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				b.StopTimer()
				evs := benchBatch(r, "job-a", seq, per, benchUsers)
				batch := provisioning.Batch{JobID: "job-a", Events: evs}
				if c.engine {
					batch.Links = make([]provisioning.Link, per)
					for i, e := range evs {
						batch.Links[i] = storetest.SampleLink("job-a", connectors.TypeUser, e.SourceIdentity.ID, e.ActivityDateTime)
					}
					cy := provisioning.Cycle{CycleID: "cycle-x", Type: provisioning.CycleInitial, TimeBegan: storetest.Base, State: provisioning.CycleRunning, CountExported: int64(seq)}
					st := provisioning.JobState{Status: provisioning.Status{Code: provisioning.StatusActive},
						Checkpoint: &provisioning.Checkpoint{CycleID: "cycle-x", Phase: "import", Position: int64(seq)}, Updated: storetest.Base}
					batch.Cycle, batch.State = &cy, &st
				}
				if n == 0 {
					js, _ := json.Marshal(evs[0])
					jsonBytes = len(js)
				}
				seq += per
				c0 := processCPU()
				b.StartTimer()
				if err := s.Commit(ctx, batch); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += processCPU() - c0
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "events/s")
			// Events per CPU second spent in Commit (all threads): unlike wall time, it
			// holds on a machine shared with other work.
			b.ReportMetric(float64(b.N*per)/cpu.Seconds(), "events/cpu-s")
			b.ReportMetric(float64(jsonBytes), "B/event-json")
		})
	}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSeq hands out event sequence numbers unique in the process (ids must not repeat
// in the shared store).
var benchSeq atomic.Int64

// BenchmarkCommitParallel commits batches of 500 events for four jobs from two goroutines:
// JSON encoding runs in parallel, SQLite writes one transaction at a time.
func BenchmarkCommitParallel(b *testing.B) {
	const per = 500
	s := benchOpen(b, fmt.Sprintf("commit-parallel-%d.db", benchSeq.Add(1)))
	defer s.Close()
	b.SetParallelism(1)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(uint64(benchSeq.Add(1)), 3))
		for pb.Next() {
			seq := int(benchSeq.Add(per)) - per
			job := fmt.Sprint("job-", seq%4)
			if err := s.Commit(context.Background(), provisioning.Batch{JobID: job, Events: benchBatch(r, job, seq, per, benchUsers)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "events/s")
}

// linksDB is a store with 100,000 user links, built once per process.
var linksDB = sync.OnceValues(func() (*Store, error) {
	benchDirUsed = true
	s, err := Open(context.Background(), filepath.Join(benchDir(), "links.db"))
	if err != nil {
		return nil, err
	}
	for c := 0; c < 100_000; c += 5000 {
		var links []provisioning.Link
		for i := c; i < c+5000; i++ {
			links = append(links, storetest.SampleLink("job", connectors.TypeUser, fmt.Sprintf("user%06d", i), storetest.Base))
		}
		if err := s.Commit(context.Background(), provisioning.Batch{JobID: "job", Links: links}); err != nil {
			return nil, err
		}
	}
	return s, nil
})

// BenchmarkGetLinks looks up 500 random source IDs (450 linked, 50 not) among 100,000 links.
func BenchmarkGetLinks(b *testing.B) {
	s, err := linksDB()
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	ids := make([][]string, 64)
	for i := range ids {
		for j := range 500 {
			if j < 450 {
				ids[i] = append(ids[i], fmt.Sprintf("user%06d", r.IntN(100_000)))
			} else {
				ids[i] = append(ids[i], fmt.Sprintf("nobody%06d", r.IntN(100_000)))
			}
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		got, err := s.GetLinks(ctx, "job", connectors.TypeUser, ids[n%len(ids)])
		if err != nil || len(got) < 400 {
			b.Fatalf("GetLinks: %d links, %v", len(got), err)
		}
	}
}

// BenchmarkScanLinks streams all 100,000 links.
func BenchmarkScanLinks(b *testing.B) {
	s, err := linksDB()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		count := 0
		if err := s.ScanLinks(context.Background(), "job", connectors.TypeUser, func(provisioning.Link) error { count++; return nil }); err != nil || count != 100_000 {
			b.Fatalf("ScanLinks: %d, %v", count, err)
		}
	}
}

// The event store of BenchmarkQueryEvents: PROVISIOND_BENCH_EVENTS events (default one
// million) of 50,000 users over 30 days, in 100 cycles of two jobs; 4 % failures.
const (
	benchUsers  = 50_000
	benchSpan   = 30 * 24 * time.Hour
	benchCycles = 100
)

func benchEventCount() int {
	if v, err := strconv.Atoi(os.Getenv("PROVISIOND_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

func benchEvent(r *rand.Rand, i, total int) provisioning.Event {
	user := r.IntN(benchUsers)
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

// bulkLoadEvents fills the events table fast, for benchmarks: the secondary indexes are
// dropped, the events generated in parallel and committed through Commit in large
// batches (so with the store's own encoding and rollup counts), and the indexes built
// afterwards in one pass each.
func bulkLoadEvents(s *Store, total int, gen func(r *rand.Rand, i int) provisioning.Event) error {
	ctx := context.Background()
	var indexes []string
	rows, err := s.writer.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			return err
		}
		names, indexes = append(names, name), append(indexes, q)
	}
	rows.Close()
	for _, n := range names {
		if _, err := s.writer.ExecContext(ctx, `DROP INDEX `+n); err != nil {
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
	ahead := make(chan struct{}, 2*workers) // chunks generated but not committed yet
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
					evs = append(evs, gen(r, i))
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
			fmt.Fprintf(os.Stderr, "bulk load: %d events committed in %v\n", done, time.Since(start).Round(time.Second))
		}
	}
	for _, q := range indexes {
		t := time.Now()
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			return err
		}
		if total >= 2_000_000 {
			fmt.Fprintf(os.Stderr, "bulk load: %s in %v\n", q, time.Since(t).Round(time.Second))
		}
	}
	return nil
}

var eventsDB = sync.OnceValues(func() (*Store, error) {
	benchDirUsed = true
	s, err := Open(context.Background(), filepath.Join(benchDir(), "events.db"))
	if err != nil {
		return nil, err
	}
	total := benchEventCount()
	start := time.Now()
	if err := bulkLoadEvents(s, total, func(r *rand.Rand, i int) provisioning.Event { return benchEvent(r, i, total) }); err != nil {
		return nil, err
	}
	st, _ := os.Stat(s.Path())
	fmt.Fprintf(os.Stderr, "BenchmarkQueryEvents: loaded %d events (%d MB) in %v\n", total, st.Size()>>20, time.Since(start).Round(time.Second))
	return s, nil
})

// BenchmarkQueryEvents queries a store of a million events: one user's history (by id, by
// display name in another case, by prefixes matching 10 users, 100 users and everyone),
// filtered pages of a job, a page deep in the keyset order, a cycle's failures, a time
// window, a page of 1000, and one event by id.
func BenchmarkQueryEvents(b *testing.B) {
	s, err := eventsDB()
	if err != nil {
		b.Fatal(err)
	}
	total := benchEventCount()
	mid := storetest.Base.Add(benchSpan / 2)
	cases := []struct {
		name string
		q    provisioning.EventQuery
		min  int // events expected at least
	}{
		{"identity", provisioning.EventQuery{Identity: "user012345"}, 1},
		{"identity-job", provisioning.EventQuery{JobID: "job-a", Identity: "user012347"}, 1},
		{"display-name-any-case", provisioning.EventQuery{Identity: "USER 012345"}, 1},
		{"identity-prefix", provisioning.EventQuery{Identity: "user01234", IdentityPrefix: true}, 10},
		{"identity-prefix-2000-matches", provisioning.EventQuery{Identity: "user0123", IdentityPrefix: true}, 100},
		{"identity-prefix-broad", provisioning.EventQuery{Identity: "u", IdentityPrefix: true}, 100},
		{"job-newest-page", provisioning.EventQuery{JobID: "job-a"}, 100},
		{"job-failures-page", provisioning.EventQuery{JobID: "job-a", Status: provisioning.ResultFailure}, 100},
		{"job-page-after", provisioning.EventQuery{JobID: "job-a", After: &provisioning.EventPosition{Time: mid, ID: "ev-5"}}, 100},
		{"job-page-after-ascending", provisioning.EventQuery{JobID: "job-a", Ascending: true, After: &provisioning.EventPosition{Time: mid, ID: "ev-5"}}, 100},
		{"cycle-error-code", provisioning.EventQuery{CycleID: "cycle-050", ErrorCode: "EntryConflict"}, 10},
		{"time-window", provisioning.EventQuery{From: mid, To: mid.Add(time.Hour)}, 100},
		{"page-of-1000", provisioning.EventQuery{JobID: "job-a", Limit: 1000}, 1000},
	}
	if total < 1_000_000 {
		cases = cases[:0] // the expectations assume the full data set
	}
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for n := 0; n < b.N; n++ {
				evs, err := s.QueryEvents(ctx, c.q)
				if err != nil || len(evs) < c.min {
					b.Fatalf("%d events, %v", len(evs), err)
				}
			}
		})
	}
	b.Run("get-event", func(b *testing.B) {
		for n := 0; n < b.N; n++ {
			id := fmt.Sprintf("ev-%09d", (n*7919)%total)
			if e, err := s.GetEvent(ctx, id); err != nil || e.ID != id {
				b.Fatalf("GetEvent(%s): %v", id, err)
			}
		}
	})
}
