package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
	"github.com/provisiond/provisiond/store/storetest"
)

// logBuffer collects JSON log records; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the records logged so far.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// waitFor polls until cond holds, failing the test after a bounded wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "provisiond.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// commitDays commits one event per hour for days days before now, of job j.
func commitDays(t *testing.T, s provisioning.Store, now time.Time, days int) []provisioning.Event {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var evs []provisioning.Event
	for h := range days * 24 {
		evs = append(evs, storetest.SampleEvent(r, "j", "c", fmt.Sprint("e", h), h, now.Add(-time.Duration(h)*time.Hour-time.Minute)))
	}
	if err := s.Commit(context.Background(), provisioning.Batch{JobID: "j", Events: evs}); err != nil {
		t.Fatal(err)
	}
	return evs
}

func count(t *testing.T, s provisioning.QueryStore) int64 {
	t.Helper()
	sum, err := s.Summary(context.Background(), provisioning.SummaryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.QueryEvents(context.Background(), provisioning.EventQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(evs)) != sum.Total {
		t.Fatalf("%d events but the statistics count %d", len(evs), sum.Total)
	}
	return sum.Total
}

// TestRun prunes at start and then at every tick, with a clock the test moves: each run
// deletes what fell out of the window since the last, and logs it.
func TestRun(t *testing.T) {
	s := openStore(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	commitDays(t, s, now, 10) // 240 events, one per hour, the newest a minute before now
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	logs := &logBuffer{}
	r := &runner{store: s, keep: 7 * 24 * time.Hour, every: 20 * time.Millisecond,
		log: slog.New(slog.NewJSONHandler(logs, nil)), now: func() time.Time { return time.Unix(0, clock.Load()) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx)
	}()
	pruned := func() []map[string]any {
		var out []map[string]any
		for _, rec := range logs.records(t) {
			if rec["msg"] == "event retention: pruned events" {
				out = append(out, rec)
			}
		}
		return out
	}
	// At start: everything older than 7 days (72 events: hours 168..239).
	waitFor(t, "the first run", func() bool { return len(pruned()) >= 1 })
	first := pruned()[0]
	if first["pruned"] != float64(72) || first["took"] == nil || first["olderThan"] != now.Add(-7*24*time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("first run logged %v, want 72 events pruned before %v", first, now.Add(-7*24*time.Hour))
	}
	if n := count(t, s); n != 168 {
		t.Errorf("after the first run: %d events, want 168", n)
	}
	// Move the clock a day: the next tick prunes 24 more.
	clock.Store(now.Add(24 * time.Hour).UnixNano())
	waitFor(t, "a run with the new time", func() bool { return count(t, s) == 144 })
	var sum float64
	for _, rec := range pruned() {
		sum += rec["pruned"].(float64)
	}
	if sum != 96 {
		t.Errorf("runs logged %v events pruned in all, want 96", sum)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	for _, rec := range logs.records(t) {
		if rec["level"] == "ERROR" {
			t.Errorf("error logged: %v", rec)
		}
	}
}

// TestRunKeepForever: retention 0 prunes nothing and returns at once.
func TestRunKeepForever(t *testing.T) {
	s := openStore(t)
	now := time.Now()
	commitDays(t, s, now, 60)
	logs := &logBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(context.Background(), s, 0, time.Millisecond, slog.New(slog.NewJSONHandler(logs, nil)))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run with retention 0 did not return")
	}
	if n := count(t, s); n != 60*24 {
		t.Errorf("%d events left, want all %d", n, 60*24)
	}
	if recs := logs.records(t); len(recs) != 1 || !strings.Contains(recs[0]["msg"].(string), "kept forever") {
		t.Errorf("logs = %v, want one line saying events are kept forever", recs)
	}
}

// failingStore is a real store whose first PruneEvents calls fail, as when the database is
// locked or the disk is full.
type failingStore struct {
	*sqlite.Store
	failures atomic.Int32
}

func (f *failingStore) PruneEvents(ctx context.Context, olderThan time.Time, batch int) (int64, error) {
	if f.failures.Add(-1) >= 0 {
		return 0, errors.New("database is locked")
	}
	return f.Store.PruneEvents(ctx, olderThan, batch)
}

// TestRunStoreError: a failing run is logged, Run keeps going and the next run prunes.
func TestRunStoreError(t *testing.T) {
	fs := &failingStore{Store: openStore(t)}
	fs.failures.Store(2)
	now := time.Now()
	commitDays(t, fs, now, 3)
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, fs, 24*time.Hour, 10*time.Millisecond, slog.New(slog.NewJSONHandler(logs, nil)))
	}()
	waitFor(t, "a successful run after the failures", func() bool { return count(t, fs) == 24 })
	cancel()
	<-done
	var errs, ok int
	for _, rec := range logs.records(t) {
		switch {
		case rec["level"] == "ERROR":
			errs++
			if !strings.Contains(fmt.Sprint(rec["error"]), "database is locked") {
				t.Errorf("error record without the error: %v", rec)
			}
		case rec["msg"] == "event retention: pruned events" && rec["pruned"] == float64(48):
			ok++
		}
	}
	if errs != 2 || ok != 1 {
		t.Errorf("%d errors and %d runs pruning 48 events logged, want 2 and 1:\n%v", errs, ok, logs.records(t))
	}
}

// TestRunCancelled: a context ending during a run stops it; Run returns without logging
// an error.
func TestRunCancelled(t *testing.T) {
	s := openStore(t)
	commitDays(t, s, time.Now(), 20)
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Run(ctx, s, time.Hour, time.Hour, slog.New(slog.NewJSONHandler(logs, nil)))
	for _, rec := range logs.records(t) {
		if rec["level"] == "ERROR" {
			t.Errorf("error logged for a cancelled run: %v", rec)
		}
	}
}
