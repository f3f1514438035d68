package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/stats"
)

// ErrInvalidBatch is returned by Commit for a batch that cannot be stored as given (a record
// of another job than the batch's, a state without a job id). Nothing of it is committed.
var ErrInvalidBatch = errors.New("invalid batch")

// insertSQL returns an INSERT of rows rows into table; with keys, an upsert that updates
// the other columns of an existing row (in place: unlike INSERT OR REPLACE, the indexes of
// unchanged columns are not touched). verb is "INSERT" or "INSERT OR ROLLBACK".
func insertSQL(verb, table string, cols, keys []string, rows int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	q := verb + " INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ")
	if len(keys) > 0 {
		var set []string
		for _, c := range cols {
			if !slices.Contains(keys, c) {
				set = append(set, c+" = excluded."+c)
			}
		}
		q += " ON CONFLICT (" + strings.Join(keys, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
	}
	return q
}

// rowInsert inserts rows of a fixed column list, several rows per statement: multi-row
// VALUES lists cut the per-statement overhead that dominates bulk inserts. The statements
// are INSERT OR ROLLBACK: a failing row rolls back the whole transaction (which Commit does
// on any error anyway), so for plain inserts SQLite keeps no statement journal (a copy of
// every page a statement changes, to undo it alone). Upserts still keep one.
type rowInsert struct {
	table      string
	cols, keys []string
	chunk      int       // rows per statement of many
	one        *sql.Stmt // one row
	many       *sql.Stmt // chunk rows
}

func (r *rowInsert) sql(rows int) string {
	return insertSQL("INSERT OR ROLLBACK", r.table, r.cols, r.keys, rows)
}

func (r *rowInsert) prepare(ctx context.Context, db *sql.DB) (err error) {
	if r.one, err = db.PrepareContext(ctx, r.sql(1)); err != nil {
		return err
	}
	r.many, err = db.PrepareContext(ctx, r.sql(r.chunk))
	return err
}

// exec inserts len(args)/r.cols rows; args holds them one after the other.
func (r *rowInsert) exec(ctx context.Context, tx *sql.Tx, args []any) error {
	if len(args) == 0 {
		return nil
	}
	cols := len(r.cols)
	if len(args)%cols != 0 {
		return fmt.Errorf("internal: %d arguments for %d columns", len(args), cols)
	}
	per := cols * r.chunk
	if len(args) >= per {
		many := tx.StmtContext(ctx, r.many)
		for len(args) >= per {
			if _, err := many.ExecContext(ctx, args[:per]...); err != nil {
				return err
			}
			args = args[per:]
		}
	}
	if len(args) > 0 {
		one := tx.StmtContext(ctx, r.one)
		for len(args) > 0 {
			if _, err := one.ExecContext(ctx, args[:cols]...); err != nil {
				return err
			}
			args = args[cols:]
		}
	}
	return nil
}

// writeStmts are the statements Commit runs, prepared once on the writer connection
// (database/sql reuses them inside each transaction on that connection).
type writeStmts struct {
	state, cycle                *sql.Stmt
	links, events               *rowInsert
	linkDel                     *sql.Stmt
	escrow, escrowDel           *sql.Stmt
	ref, refDel                 *sql.Stmt
	staged, stagedDel           *sql.Stmt
	history, audit              *sql.Stmt
	all                         []*sql.Stmt
	clearLinks, clearEscrows    *sql.Stmt
	clearStaged, pruneEventsOld *sql.Stmt
	statsAdd, statsSub          *sql.Stmt
	statsDelZero                *sql.Stmt
}

// qPruneEvents deletes one batch of the oldest events, returning what the rollup counts
// of each (the columns of statsColumns, in order).
const qPruneEvents = `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE time < ? ORDER BY time LIMIT ?)
	RETURNING time, job_id, identity_type, action, status, error_code`

// Rollup statements: add to a key's count (creating its row), subtract from it, and delete
// the rows of a minute range whose count reached zero.
const (
	qStatsAdd = `INSERT INTO event_stats (minute, job_id, identity_type, action, status, error_code, count)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (minute, job_id, identity_type, action, status, error_code) DO UPDATE SET count = count + excluded.count`
	qStatsSub = `UPDATE event_stats SET count = count - ?
	WHERE minute = ? AND job_id = ? AND identity_type = ? AND action = ? AND status = ? AND error_code = ?`
	qStatsDelZero = `DELETE FROM event_stats WHERE minute >= ? AND minute <= ? AND count <= 0`
)

// Column lists of the written tables, in the order of the encoded arguments.
var (
	stateCols    = []string{"job_id", "status_code", "updated", "state"}
	cycleCols    = []string{"job_id", "cycle_id", "type", "began", "ended", "state", "trace_id", "cycle"}
	linkColumns  = []string{"job_id", "type", "source_id", "target_id", "display_name", "hash", "exported", "members", "disabled", "updated"}
	escrowCols   = []string{"job_id", "type", "source_id", "next_attempt", "first_failure", "attempts", "error_code", "reference", "escrow"}
	refCols      = []string{"job_id", "type", "source_id", "attribute", "ref_source_id", "created"}
	stagedCols   = []string{"job_id", "type", "source_id", "target_id", "action", "cycle_id", "created", "op"}
	eventColumns = []string{"id", "job_id", "cycle_id", "change_id", "time", "action", "status", "error_code", "identity_type",
		"source_id", "source_display_name", "source_name_lc", "target_id", "target_display_name", "target_name_lc",
		"trace_id", "duration_ms", "event"}
)

var linkCols, eventCols = len(linkColumns), len(eventColumns)

// Positions in eventColumns of the columns the rollup counts by.
var (
	evTime         = slices.Index(eventColumns, "time")
	evJob          = slices.Index(eventColumns, "job_id")
	evIdentityType = slices.Index(eventColumns, "identity_type")
	evAction       = slices.Index(eventColumns, "action")
	evStatus       = slices.Index(eventColumns, "status")
	evErrorCode    = slices.Index(eventColumns, "error_code")
)

// rollupEvents counts encoded event rows (eventCols values each) by rollup key: from the
// stored column values themselves, so that the rollup always agrees with the events table.
func rollupEvents(args []any) []stats.Count {
	if len(args) == 0 {
		return nil
	}
	c := stats.Counter{}
	for row := args; len(row) >= eventCols; row = row[eventCols:] {
		c.Add(stats.Key{
			Minute:       stats.Minute(row[evTime].(int64)),
			JobID:        row[evJob].(string),
			IdentityType: text(row[evIdentityType]),
			Action:       row[evAction].(string),
			Status:       row[evStatus].(string),
			ErrorCode:    text(row[evErrorCode]),
		})
	}
	return c.Sorted()
}

// text is the string of an optional column value (nz's inverse): NULL is "".
func text(v any) string {
	s, _ := v.(string)
	return s
}

// addStats adds counts to the rollup (negated: subtracts them and deletes the rows that
// reach zero).
func (w *writeStmts) addStats(ctx context.Context, tx *sql.Tx, counts []stats.Count, negate bool) error {
	if len(counts) == 0 {
		return nil
	}
	if !negate {
		st := tx.StmtContext(ctx, w.statsAdd)
		for _, c := range counts {
			if _, err := st.ExecContext(ctx, c.Minute, c.JobID, c.IdentityType, c.Action, c.Status, c.ErrorCode, c.N); err != nil {
				return err
			}
		}
		return nil
	}
	st := tx.StmtContext(ctx, w.statsSub)
	lo, hi := counts[0].Minute, counts[0].Minute
	for _, c := range counts {
		if _, err := st.ExecContext(ctx, c.N, c.Minute, c.JobID, c.IdentityType, c.Action, c.Status, c.ErrorCode); err != nil {
			return err
		}
		lo, hi = min(lo, c.Minute), max(hi, c.Minute)
	}
	_, err := tx.StmtContext(ctx, w.statsDelZero).ExecContext(ctx, lo, hi)
	return err
}

func (w *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	var err error
	p := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		if err == nil {
			w.all = append(w.all, st)
		}
		return st
	}
	w.state = p(insertSQL("INSERT", "job_state", stateCols, []string{"job_id"}, 1))
	w.cycle = p(insertSQL("INSERT", "cycles", cycleCols, []string{"job_id", "cycle_id"}, 1))
	w.linkDel = p(`DELETE FROM links WHERE job_id = ? AND type = ? AND source_id = ?`)
	w.escrow = p(insertSQL("INSERT", "escrows", escrowCols, []string{"job_id", "type", "source_id"}, 1))
	w.escrowDel = p(`DELETE FROM escrows WHERE job_id = ? AND type = ? AND source_id = ?`)
	w.ref = p(insertSQL("INSERT", "pending_refs", refCols, []string{"job_id", "type", "source_id", "attribute"}, 1))
	w.refDel = p(`DELETE FROM pending_refs WHERE job_id = ? AND type = ? AND source_id = ? AND attribute = ?`)
	w.staged = p(insertSQL("INSERT", "staged_ops", stagedCols, []string{"job_id", "type", "source_id"}, 1))
	w.stagedDel = p(`DELETE FROM staged_ops WHERE job_id = ? AND type = ? AND source_id = ?`)
	w.history = p(`INSERT INTO job_history (job_id, time, old_code, new_code, reason, change) VALUES (?, ?, ?, ?, ?, ?)`)
	w.audit = p(`INSERT INTO audit (id, time, job_id, actor, action, result, entry) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	w.clearLinks = p(`DELETE FROM links WHERE job_id = ?`)
	w.clearEscrows = p(`DELETE FROM escrows WHERE job_id = ?`)
	w.clearStaged = p(`DELETE FROM staged_ops WHERE job_id = ?`)
	w.pruneEventsOld = p(qPruneEvents)
	w.statsAdd = p(qStatsAdd)
	w.statsSub = p(qStatsSub)
	w.statsDelZero = p(qStatsDelZero)
	if err != nil {
		w.close()
		return fmt.Errorf("store/sqlite: prepare: %w", err)
	}
	w.links = &rowInsert{table: "links", cols: linkColumns, keys: []string{"job_id", "type", "source_id"}, chunk: 50}
	w.events = &rowInsert{table: "events", cols: eventColumns, chunk: 50}
	for _, r := range []*rowInsert{w.links, w.events} {
		if err := r.prepare(ctx, db); err != nil {
			w.close()
			return fmt.Errorf("store/sqlite: prepare: %w", err)
		}
		w.all = append(w.all, r.one, r.many)
	}
	return nil
}

func (w *writeStmts) close() {
	for _, st := range w.all {
		if st != nil {
			st.Close()
		}
	}
	w.all = nil
}

// nz maps "" to NULL (optional indexed columns are NULL rather than empty).
func nz(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// encoded is a batch turned into statement arguments, done before taking the write lock
// so that concurrent committers encode JSON in parallel.
type encoded struct {
	state, cycle       []any
	links, linkDel     []any
	escrows, escrowDel []any
	refs, refDel       []any
	staged, stagedDel  []any
	events             []any
	stats              []stats.Count // the rollup counts of events
	history, audit     []any
}

// jobOf resolves the job id of a record in a batch: empty takes the batch's, and a
// different one is an error.
func jobOf(batchJob, recordJob, what string) (string, error) {
	if recordJob == "" {
		recordJob = batchJob
	}
	if batchJob != "" && recordJob != batchJob {
		return "", fmt.Errorf("%w: batch of job %q holds %s of job %q", ErrInvalidBatch, batchJob, what, recordJob)
	}
	if recordJob == "" {
		return "", fmt.Errorf("%w: %s without a job id", ErrInvalidBatch, what)
	}
	return recordJob, nil
}

func encodeBatch(b *provisioning.Batch) (*encoded, error) {
	e := &encoded{}
	if b.State != nil {
		st := *b.State
		var err error
		if st.JobID, err = jobOf(b.JobID, st.JobID, "a state"); err != nil {
			return nil, err
		}
		js, err := codec.Marshal(&st)
		if err != nil {
			return nil, fmt.Errorf("encode state: %w", err)
		}
		e.state = []any{st.JobID, string(st.Status.Code), codec.Nanos(st.Updated), js}
	}
	if b.Cycle != nil {
		c := *b.Cycle
		var err error
		if c.JobID, err = jobOf(b.JobID, c.JobID, "a cycle"); err != nil {
			return nil, err
		}
		if c.CycleID == "" {
			return nil, fmt.Errorf("%w: a cycle without a cycle id", ErrInvalidBatch)
		}
		js, err := codec.Marshal(&c)
		if err != nil {
			return nil, fmt.Errorf("encode cycle: %w", err)
		}
		var ended any
		if c.TimeEnded != nil {
			ended = codec.Nanos(*c.TimeEnded)
		}
		e.cycle = []any{c.JobID, c.CycleID, string(c.Type), codec.Nanos(c.TimeBegan), ended, string(c.State), nz(c.TraceID), js}
	}
	var err error
	e.links, err = encodeParallel(len(b.Links), linkCols, func(i int, out []any) ([]any, error) {
		l := &b.Links[i]
		job, err := jobOf(b.JobID, l.JobID, "a link")
		if err != nil {
			return nil, err
		}
		var exported, members any
		if l.Exported != nil {
			js, err := codec.Marshal(l.Exported)
			if err != nil {
				return nil, fmt.Errorf("encode link %s/%s: %w", l.Type, l.SourceID, err)
			}
			exported = js
		}
		if l.Members != nil {
			js, err := codec.Marshal(l.Members)
			if err != nil {
				return nil, err
			}
			members = js
		}
		return append(out, job, string(l.Type), l.SourceID, l.TargetID, l.DisplayName, l.Hash,
			exported, members, boolInt(l.Disabled), codec.Nanos(l.Updated)), nil
	})
	if err != nil {
		return nil, err
	}
	if e.linkDel, err = encodeKeys(b.JobID, b.LinkDeletes, "a link delete"); err != nil {
		return nil, err
	}
	for i := range b.Escrows {
		x := b.Escrows[i]
		if x.JobID, err = jobOf(b.JobID, x.JobID, "an escrow"); err != nil {
			return nil, err
		}
		js, err := codec.Marshal(&x)
		if err != nil {
			return nil, fmt.Errorf("encode escrow %s/%s: %w", x.Type, x.SourceID, err)
		}
		e.escrows = append(e.escrows, x.JobID, string(x.Type), x.SourceID, codec.Nanos(x.NextAttempt),
			codec.Nanos(x.FirstFailure), int64(x.Attempts), x.ErrorCode, boolInt(x.Reference), js)
	}
	if e.escrowDel, err = encodeKeys(b.JobID, b.EscrowDeletes, "an escrow delete"); err != nil {
		return nil, err
	}
	for _, r := range b.PendingRefs {
		job, err := jobOf(b.JobID, r.JobID, "a pending reference")
		if err != nil {
			return nil, err
		}
		e.refs = append(e.refs, job, string(r.Type), r.SourceID, r.Attribute, r.RefSourceID, codec.Nanos(r.Created))
	}
	for _, k := range b.PendingRefDeletes {
		job, err := jobOf(b.JobID, k.JobID, "a pending reference delete")
		if err != nil {
			return nil, err
		}
		e.refDel = append(e.refDel, job, string(k.Type), k.SourceID, k.Attribute)
	}
	for i := range b.Staged {
		x := b.Staged[i]
		if x.JobID, err = jobOf(b.JobID, x.JobID, "a staged operation"); err != nil {
			return nil, err
		}
		js, err := codec.Marshal(&x)
		if err != nil {
			return nil, fmt.Errorf("encode staged %s/%s: %w", x.Type, x.SourceID, err)
		}
		e.staged = append(e.staged, x.JobID, string(x.Type), x.SourceID, x.TargetID, string(x.Action), x.CycleID, codec.Nanos(x.Created), js)
	}
	if e.stagedDel, err = encodeKeys(b.JobID, b.StagedDeletes, "a staged delete"); err != nil {
		return nil, err
	}
	if e.events, err = encodeEvents(b.JobID, b.Events); err != nil {
		return nil, err
	}
	e.stats = rollupEvents(e.events)
	for i := range b.History {
		h := b.History[i]
		if h.JobID, err = jobOf(b.JobID, h.JobID, "a status change"); err != nil {
			return nil, err
		}
		js, err := codec.Marshal(&h)
		if err != nil {
			return nil, fmt.Errorf("encode status change: %w", err)
		}
		e.history = append(e.history, h.JobID, codec.Nanos(h.Time), string(h.OldCode), string(h.NewCode), nz(string(h.Reason)), js)
	}
	for i := range b.Audit {
		a := &b.Audit[i] // audit entries keep their own job id ("" for none)
		js, err := codec.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode audit entry: %w", err)
		}
		e.audit = append(e.audit, nz(a.ID), codec.Nanos(a.Time), nz(a.JobID), a.Actor, a.Action, a.Result, js)
	}
	return e, nil
}

// encodeEvents returns the column values of events.
func encodeEvents(batchJob string, events []provisioning.Event) ([]any, error) {
	return encodeParallel(len(events), eventCols, func(i int, out []any) ([]any, error) {
		ev := events[i] // a copy: the caller's event is not modified
		var err error
		if ev.JobID, err = jobOf(batchJob, ev.JobID, "an event"); err != nil {
			return nil, err
		}
		if ev.ID == "" {
			return nil, fmt.Errorf("%w: an event without an id", ErrInvalidBatch)
		}
		return appendEventArgs(out, &ev)
	})
}

// encodeParallel returns the cols column values of n records, which encode appends to out
// for record i. The records are encoded on up to GOMAXPROCS goroutines: SQLite writes one
// transaction at a time, so encoding (JSON, mostly) is the part of a commit that can use
// the other cores.
func encodeParallel(n, cols int, encode func(i int, out []any) ([]any, error)) ([]any, error) {
	if n == 0 {
		return nil, nil
	}
	args := make([]any, cols*n)
	run := func(lo, hi int) error {
		out := args[cols*lo : cols*lo] // appends fill args[cols*lo:cols*hi] in place
		for i := lo; i < hi; i++ {
			var err error
			if out, err = encode(i, out); err != nil {
				return err
			}
		}
		if len(out) != cols*(hi-lo) { // out must have filled exactly its own region of args
			return fmt.Errorf("internal: %d values for %d records of %d columns", len(out), hi-lo, cols)
		}
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), n/minEventsPerWorker, 8)
	if workers <= 1 {
		return args, run(0, n)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = run(lo, hi)
		}()
	}
	wg.Wait()
	return args, errors.Join(errs...)
}

// minEventsPerWorker: below this many records, a goroutine costs more than it saves.
const minEventsPerWorker = 64

func encodeKeys(batchJob string, keys []provisioning.LinkKey, what string) ([]any, error) {
	var out []any
	for _, k := range keys {
		job, err := jobOf(batchJob, k.JobID, what)
		if err != nil {
			return nil, err
		}
		out = append(out, job, string(k.Type), k.SourceID)
	}
	return out, nil
}

// appendEventArgs appends the eventCols column values of ev.
func appendEventArgs(args []any, ev *provisioning.Event) ([]any, error) {
	js, err := codec.MarshalEvent(ev) // the bytes codec.Marshal writes, without reflection
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	var errorCode string
	if ev.ErrorInformation != nil {
		errorCode = ev.ErrorInformation.ErrorCode
	}
	identityType := ev.SourceIdentity.IdentityType
	if identityType == "" {
		identityType = ev.TargetIdentity.IdentityType
	}
	srcLC := codec.Lower(ev.SourceIdentity.DisplayName)
	tgtLC := codec.Lower(ev.TargetIdentity.DisplayName)
	if tgtLC == srcLC {
		tgtLC = "" // one index entry is enough; queries match source_name_lc first
	}
	return append(args, ev.ID, ev.JobID, nz(ev.CycleID), nz(ev.ChangeID), codec.Nanos(ev.ActivityDateTime),
		string(ev.Action), string(ev.Status), nz(errorCode), nz(identityType),
		nz(ev.SourceIdentity.ID), nz(ev.SourceIdentity.DisplayName), nz(srcLC),
		nz(ev.TargetIdentity.ID), nz(ev.TargetIdentity.DisplayName), nz(tgtLC),
		nz(ev.TraceID), ev.DurationInMilliseconds, js), nil
}

// execEach runs st once per n-argument group of args.
func execEach(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args []any, n int) error {
	if len(args) == 0 {
		return nil
	}
	s := tx.StmtContext(ctx, st)
	for ; len(args) > 0; args = args[n:] {
		if _, err := s.ExecContext(ctx, args[:n]...); err != nil {
			return err
		}
	}
	return nil
}

// Commit applies a batch in one transaction, in this order: state, cycle, links, link
// deletes, escrows, escrow deletes, pending references and their deletes, staged
// operations and their deletes, events and their rollup counts, history, audit.
func (s *Store) Commit(ctx context.Context, b provisioning.Batch) error {
	e, err := encodeBatch(&b)
	if err != nil {
		return fmt.Errorf("store/sqlite: commit: %w", err)
	}
	if e.empty() {
		return ctx.Err()
	}
	w := &s.stmts
	err = s.write(ctx, func(tx *sql.Tx) error {
		steps := []struct {
			name string
			run  func() error
		}{
			{"state", func() error { return execEach(ctx, tx, w.state, e.state, len(stateCols)) }},
			{"cycle", func() error { return execEach(ctx, tx, w.cycle, e.cycle, len(cycleCols)) }},
			{"links", func() error { return w.links.exec(ctx, tx, e.links) }},
			{"link deletes", func() error { return execEach(ctx, tx, w.linkDel, e.linkDel, 3) }},
			{"escrows", func() error { return execEach(ctx, tx, w.escrow, e.escrows, len(escrowCols)) }},
			{"escrow deletes", func() error { return execEach(ctx, tx, w.escrowDel, e.escrowDel, 3) }},
			{"pending references", func() error { return execEach(ctx, tx, w.ref, e.refs, len(refCols)) }},
			{"pending reference deletes", func() error { return execEach(ctx, tx, w.refDel, e.refDel, 4) }},
			{"staged operations", func() error { return execEach(ctx, tx, w.staged, e.staged, len(stagedCols)) }},
			{"staged deletes", func() error { return execEach(ctx, tx, w.stagedDel, e.stagedDel, 3) }},
			{"events", func() error { return w.events.exec(ctx, tx, e.events) }},
			{"event statistics", func() error { return w.addStats(ctx, tx, e.stats, false) }},
			{"history", func() error { return execEach(ctx, tx, w.history, e.history, 6) }},
			{"audit", func() error { return execEach(ctx, tx, w.audit, e.audit, 7) }},
		}
		for _, st := range steps {
			if err := st.run(); err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store/sqlite: commit: %w", err)
	}
	s.ckpt.committed()
	return nil
}

func (e *encoded) empty() bool {
	return e.state == nil && e.cycle == nil && len(e.links) == 0 && len(e.linkDel) == 0 &&
		len(e.escrows) == 0 && len(e.escrowDel) == 0 && len(e.refs) == 0 && len(e.refDel) == 0 &&
		len(e.staged) == 0 && len(e.stagedDel) == 0 && len(e.events) == 0 &&
		len(e.history) == 0 && len(e.audit) == 0
}

func (s *Store) clear(ctx context.Context, st *sql.Stmt, what, jobID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, st).ExecContext(ctx, jobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store/sqlite: clear %s of job %q: %w", what, jobID, err)
	}
	return nil
}

// ClearLinks removes a job's links (its connector data store), in one transaction.
func (s *Store) ClearLinks(ctx context.Context, jobID string) error {
	return s.clear(ctx, s.stmts.clearLinks, "links", jobID)
}

// ClearEscrows removes a job's escrows.
func (s *Store) ClearEscrows(ctx context.Context, jobID string) error {
	return s.clear(ctx, s.stmts.clearEscrows, "escrows", jobID)
}

// ClearStaged removes a job's staged operations.
func (s *Store) ClearStaged(ctx context.Context, jobID string) error {
	return s.clear(ctx, s.stmts.clearStaged, "staged operations", jobID)
}
