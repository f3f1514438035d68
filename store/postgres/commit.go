package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/internal/codec"
	"github.com/provisiond/provisiond/store/internal/stats"
)

// ErrInvalidBatch is returned by Commit for a batch that cannot be stored as given (a record
// of another job than the batch's, a state without a job id, text PostgreSQL cannot hold).
// Nothing of it is committed.
var ErrInvalidBatch = errors.New("invalid batch")

// sqlLeaseLost is the SQLSTATE provisiond_check_lease raises.
const sqlLeaseLost = "PV001"

// upsertSQL returns an INSERT of the rows of parallel arrays (one per column, typed as
// types says) that updates the other columns of a row whose keys exist; with no keys, a
// plain INSERT. The text is the same for any number of rows.
func upsertSQL(table string, cols, types, keys []string) string {
	params := make([]string, len(cols))
	for i := range cols {
		params[i] = fmt.Sprintf("$%d::%s[]", i+1, types[i])
	}
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") SELECT * FROM unnest(" + strings.Join(params, ", ") + ")"
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

// deleteSQL returns a DELETE of the rows whose keys are given as parallel text arrays.
func deleteSQL(table string, keys []string) string {
	params := make([]string, len(keys))
	conds := make([]string, len(keys))
	for i, k := range keys {
		params[i] = fmt.Sprintf("$%d::text[]", i+1)
		conds[i] = "t." + k + " = d." + k
	}
	return "DELETE FROM " + table + " t USING unnest(" + strings.Join(params, ", ") + ") AS d(" + strings.Join(keys, ", ") +
		") WHERE " + strings.Join(conds, " AND ")
}

// appendSQL returns an INSERT of parallel arrays in array order (the identity column
// seq follows it: of equal times, the later record is the one appended last).
func appendSQL(table string, cols, types []string) string {
	params := make([]string, len(cols))
	for i := range cols {
		params[i] = fmt.Sprintf("$%d::%s[]", i+1, types[i])
	}
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(cols, ", ") +
		" FROM unnest(" + strings.Join(params, ", ") + ") WITH ORDINALITY AS u(" + strings.Join(cols, ", ") + ", ord) ORDER BY ord"
}

// Column lists and their array types.
var (
	stateCols   = []string{"job_id", "status_code", "updated", "state"}
	cycleCols   = []string{"job_id", "cycle_id", "type", "began", "ended", "state", "trace_id", "cycle"}
	linkCols    = []string{"job_id", "type", "source_id", "target_id", "display_name", "hash", "exported", "members", "disabled", "updated"}
	linkTypes   = []string{"text", "text", "text", "text", "text", "text", "text", "text", "boolean", "bigint"}
	escrowCols  = []string{"job_id", "type", "source_id", "next_attempt", "first_failure", "attempts", "error_code", "reference", "escrow"}
	escrowTypes = []string{"text", "text", "text", "bigint", "bigint", "bigint", "text", "boolean", "text"}
	refCols     = []string{"job_id", "type", "source_id", "attribute", "ref_source_id", "created"}
	refTypes    = []string{"text", "text", "text", "text", "text", "bigint"}
	stagedCols  = []string{"job_id", "type", "source_id", "target_id", "action", "cycle_id", "created", "op"}
	stagedTypes = []string{"text", "text", "text", "text", "text", "text", "bigint", "text"}
	eventCols   = []string{"id", "job_id", "cycle_id", "change_id", "time", "action", "status", "error_code", "identity_type",
		"source_id", "source_display_name", "source_name_lc", "target_id", "target_display_name", "target_name_lc",
		"trace_id", "duration_ms", "event"}
	eventTypes = []string{"text", "text", "text", "text", "bigint", "text", "text", "text", "text",
		"text", "text", "text", "text", "text", "text", "text", "bigint", "text"}
	statCols     = []string{"minute", "job_id", "identity_type", "action", "status", "error_code", "count"}
	statTypes    = []string{"bigint", "text", "text", "text", "text", "text", "bigint"}
	historyCols  = []string{"job_id", "time", "old_code", "new_code", "reason", "change"}
	historyTypes = []string{"text", "bigint", "text", "text", "text", "text"}
	auditCols    = []string{"id", "time", "job_id", "actor", "action", "result", "entry"}
	auditTypes   = []string{"text", "bigint", "text", "text", "text", "text", "text"}
)

// The statements Commit runs (constant texts: pgx prepares each once per connection).
var (
	qCheckLease = `SELECT provisiond_check_lease($1, $2, $3)`
	qState      = `INSERT INTO job_state (job_id, status_code, updated, state) VALUES ($1, $2, $3, $4)
		ON CONFLICT (job_id) DO UPDATE SET status_code = excluded.status_code, updated = excluded.updated, state = excluded.state`
	qCycle = `INSERT INTO cycles (job_id, cycle_id, type, began, ended, state, trace_id, cycle) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (job_id, cycle_id) DO UPDATE SET type = excluded.type, began = excluded.began, ended = excluded.ended,
		state = excluded.state, trace_id = excluded.trace_id, cycle = excluded.cycle`
	qLinks     = upsertSQL("links", linkCols, linkTypes, []string{"job_id", "type", "source_id"})
	qLinkDel   = deleteSQL("links", []string{"job_id", "type", "source_id"})
	qEscrows   = upsertSQL("escrows", escrowCols, escrowTypes, []string{"job_id", "type", "source_id"})
	qEscrowDel = deleteSQL("escrows", []string{"job_id", "type", "source_id"})
	qRefs      = upsertSQL("pending_refs", refCols, refTypes, []string{"job_id", "type", "source_id", "attribute"})
	qRefDel    = deleteSQL("pending_refs", []string{"job_id", "type", "source_id", "attribute"})
	qStaged    = upsertSQL("staged_ops", stagedCols, stagedTypes, []string{"job_id", "type", "source_id"})
	qStagedDel = deleteSQL("staged_ops", []string{"job_id", "type", "source_id"})
	qEvents    = upsertSQL("events", eventCols, eventTypes, nil)
	qStats     = upsertSQL("event_stats", statCols, statTypes, nil) + ` ON CONFLICT (minute, job_id, identity_type, action, status, error_code) DO UPDATE SET count = event_stats.count + excluded.count`
	qHistory   = appendSQL("job_history", historyCols, historyTypes)
	qAudit     = appendSQL("audit", auditCols, auditTypes)
)

// nz maps "" to NULL (optional indexed columns are NULL rather than empty).
func nz(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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

// storable reports whether PostgreSQL text can hold s: valid UTF-8 without NUL.
func storable(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// checkText returns an ErrInvalidBatch error for the first value PostgreSQL text cannot
// hold. (JSON columns never hit this: encoding/json escapes NUL and invalid UTF-8.)
func checkText(what string, values ...string) error {
	for _, v := range values {
		if !storable(v) {
			return fmt.Errorf("%w: %s: %q: PostgreSQL text cannot hold NUL characters or invalid UTF-8", ErrInvalidBatch, what, v)
		}
	}
	return nil
}

// keyed dedupes records by key, the last one winning, keeping first-seen order (an
// upsert may not touch a row twice in one statement).
func keyed[T any, K comparable](recs []T, key func(*T) K) []T {
	if len(recs) < 2 {
		return recs
	}
	last := make(map[K]int, len(recs))
	for i := range recs {
		last[key(&recs[i])] = i
	}
	if len(last) == len(recs) {
		return recs
	}
	out := make([]T, 0, len(last))
	for i := range recs {
		if last[key(&recs[i])] == i {
			out = append(out, recs[i])
		}
	}
	return out
}

// batchSQL is a batch turned into statements, built before a connection is taken so that
// concurrent committers encode JSON in parallel.
type batchSQL struct {
	stmts []stmt
}

type stmt struct {
	name string
	sql  string
	args []any
}

func (b *batchSQL) add(name, sql string, args ...any) {
	b.stmts = append(b.stmts, stmt{name, sql, args})
}

func encodeBatch(b *provisioning.Batch) (*batchSQL, error) {
	out := &batchSQL{}
	if l := b.Lease; l != nil {
		job, err := jobOf(b.JobID, l.JobID, "a lease")
		if err != nil {
			return nil, err
		}
		out.add("lease", qCheckLease, job, l.Owner, l.Epoch)
	}
	if b.State != nil {
		st := *b.State
		var err error
		if st.JobID, err = jobOf(b.JobID, st.JobID, "a state"); err != nil {
			return nil, err
		}
		if err := checkText("state job id", st.JobID); err != nil {
			return nil, err
		}
		js, err := codec.Marshal(&st)
		if err != nil {
			return nil, fmt.Errorf("encode state: %w", err)
		}
		out.add("state", qState, st.JobID, string(st.Status.Code), codec.Nanos(st.Updated), js)
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
		if err := checkText("cycle", c.JobID, c.CycleID, string(c.Type), string(c.State), c.TraceID); err != nil {
			return nil, err
		}
		js, err := codec.Marshal(&c)
		if err != nil {
			return nil, fmt.Errorf("encode cycle: %w", err)
		}
		var ended *int64
		if c.TimeEnded != nil {
			n := codec.Nanos(*c.TimeEnded)
			ended = &n
		}
		out.add("cycle", qCycle, c.JobID, c.CycleID, string(c.Type), codec.Nanos(c.TimeBegan), ended, string(c.State), nz(c.TraceID), js)
	}
	if err := encodeLinks(out, b); err != nil {
		return nil, err
	}
	if err := encodeKeys(out, "link deletes", qLinkDel, b.JobID, b.LinkDeletes, "a link delete"); err != nil {
		return nil, err
	}
	if err := encodeEscrows(out, b); err != nil {
		return nil, err
	}
	if err := encodeKeys(out, "escrow deletes", qEscrowDel, b.JobID, b.EscrowDeletes, "an escrow delete"); err != nil {
		return nil, err
	}
	if err := encodeRefs(out, b); err != nil {
		return nil, err
	}
	if err := encodeStaged(out, b); err != nil {
		return nil, err
	}
	if err := encodeKeys(out, "staged deletes", qStagedDel, b.JobID, b.StagedDeletes, "a staged delete"); err != nil {
		return nil, err
	}
	if err := encodeEvents(out, b.JobID, b.Events); err != nil {
		return nil, err
	}
	if err := encodeHistory(out, b); err != nil {
		return nil, err
	}
	if err := encodeAudit(out, b); err != nil {
		return nil, err
	}
	return out, nil
}

func encodeLinks(out *batchSQL, b *provisioning.Batch) error {
	if len(b.Links) == 0 {
		return nil
	}
	links := make([]provisioning.Link, len(b.Links))
	copy(links, b.Links)
	for i := range links {
		job, err := jobOf(b.JobID, links[i].JobID, "a link")
		if err != nil {
			return err
		}
		links[i].JobID = job
	}
	links = keyed(links, func(l *provisioning.Link) [3]string { return [3]string{l.JobID, string(l.Type), l.SourceID} })
	n := len(links)
	jobs, types, srcs, tgts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	names, hashes := make([]string, n), make([]string, n)
	exported, members := make([]*string, n), make([]*string, n)
	disabled, updated := make([]bool, n), make([]int64, n)
	err := parallel(n, func(i int) error {
		l := &links[i]
		if err := checkText("link", l.JobID, string(l.Type), l.SourceID, l.TargetID, l.DisplayName, l.Hash); err != nil {
			return err
		}
		jobs[i], types[i], srcs[i], tgts[i], names[i], hashes[i] = l.JobID, string(l.Type), l.SourceID, l.TargetID, l.DisplayName, l.Hash
		if l.Exported != nil {
			js, err := codec.Marshal(l.Exported)
			if err != nil {
				return fmt.Errorf("encode link %s/%s: %w", l.Type, l.SourceID, err)
			}
			exported[i] = &js
		}
		if l.Members != nil {
			js, err := codec.Marshal(l.Members)
			if err != nil {
				return fmt.Errorf("encode link %s/%s members: %w", l.Type, l.SourceID, err)
			}
			members[i] = &js
		}
		disabled[i], updated[i] = l.Disabled, codec.Nanos(l.Updated)
		return nil
	})
	if err != nil {
		return err
	}
	out.add("links", qLinks, jobs, types, srcs, tgts, names, hashes, exported, members, disabled, updated)
	return nil
}

func encodeKeys(out *batchSQL, name, sql, batchJob string, keys []provisioning.LinkKey, what string) error {
	if len(keys) == 0 {
		return nil
	}
	jobs, types, srcs := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		job, err := jobOf(batchJob, k.JobID, what)
		if err != nil {
			return err
		}
		if err := checkText(what, job, string(k.Type), k.SourceID); err != nil {
			return err
		}
		jobs[i], types[i], srcs[i] = job, string(k.Type), k.SourceID
	}
	out.add(name, sql, jobs, types, srcs)
	return nil
}

func encodeEscrows(out *batchSQL, b *provisioning.Batch) error {
	if len(b.Escrows) == 0 {
		return nil
	}
	escrows := slices.Clone(b.Escrows)
	for i := range escrows {
		job, err := jobOf(b.JobID, escrows[i].JobID, "an escrow")
		if err != nil {
			return err
		}
		escrows[i].JobID = job
	}
	escrows = keyed(escrows, func(x *provisioning.Escrow) [3]string { return [3]string{x.JobID, string(x.Type), x.SourceID} })
	n := len(escrows)
	jobs, types, srcs := make([]string, n), make([]string, n), make([]string, n)
	next, first, attempts := make([]int64, n), make([]int64, n), make([]int64, n)
	codes, refs, js := make([]string, n), make([]bool, n), make([]string, n)
	for i := range escrows {
		x := &escrows[i]
		if err := checkText("escrow", x.JobID, string(x.Type), x.SourceID, x.ErrorCode); err != nil {
			return err
		}
		j, err := codec.Marshal(x)
		if err != nil {
			return fmt.Errorf("encode escrow %s/%s: %w", x.Type, x.SourceID, err)
		}
		jobs[i], types[i], srcs[i] = x.JobID, string(x.Type), x.SourceID
		next[i], first[i], attempts[i] = codec.Nanos(x.NextAttempt), codec.Nanos(x.FirstFailure), int64(x.Attempts)
		codes[i], refs[i], js[i] = x.ErrorCode, x.Reference, j
	}
	out.add("escrows", qEscrows, jobs, types, srcs, next, first, attempts, codes, refs, js)
	return nil
}

func encodeRefs(out *batchSQL, b *provisioning.Batch) error {
	if len(b.PendingRefs) > 0 {
		refs := slices.Clone(b.PendingRefs)
		for i := range refs {
			job, err := jobOf(b.JobID, refs[i].JobID, "a pending reference")
			if err != nil {
				return err
			}
			refs[i].JobID = job
		}
		refs = keyed(refs, func(r *provisioning.PendingRef) [4]string {
			return [4]string{r.JobID, string(r.Type), r.SourceID, r.Attribute}
		})
		n := len(refs)
		jobs, types, srcs, attrs, targets := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created := make([]int64, n)
		for i, r := range refs {
			if err := checkText("pending reference", r.JobID, string(r.Type), r.SourceID, r.Attribute, r.RefSourceID); err != nil {
				return err
			}
			jobs[i], types[i], srcs[i], attrs[i], targets[i], created[i] = r.JobID, string(r.Type), r.SourceID, r.Attribute, r.RefSourceID, codec.Nanos(r.Created)
		}
		out.add("pending references", qRefs, jobs, types, srcs, attrs, targets, created)
	}
	if len(b.PendingRefDeletes) > 0 {
		n := len(b.PendingRefDeletes)
		jobs, types, srcs, attrs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, k := range b.PendingRefDeletes {
			job, err := jobOf(b.JobID, k.JobID, "a pending reference delete")
			if err != nil {
				return err
			}
			if err := checkText("pending reference delete", job, string(k.Type), k.SourceID, k.Attribute); err != nil {
				return err
			}
			jobs[i], types[i], srcs[i], attrs[i] = job, string(k.Type), k.SourceID, k.Attribute
		}
		out.add("pending reference deletes", qRefDel, jobs, types, srcs, attrs)
	}
	return nil
}

func encodeStaged(out *batchSQL, b *provisioning.Batch) error {
	if len(b.Staged) == 0 {
		return nil
	}
	staged := slices.Clone(b.Staged)
	for i := range staged {
		job, err := jobOf(b.JobID, staged[i].JobID, "a staged operation")
		if err != nil {
			return err
		}
		staged[i].JobID = job
	}
	staged = keyed(staged, func(x *provisioning.StagedOp) [3]string { return [3]string{x.JobID, string(x.Type), x.SourceID} })
	n := len(staged)
	jobs, types, srcs, tgts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	actions, cycles, created, js := make([]string, n), make([]string, n), make([]int64, n), make([]string, n)
	for i := range staged {
		x := &staged[i]
		if err := checkText("staged operation", x.JobID, string(x.Type), x.SourceID, x.TargetID, string(x.Action), x.CycleID); err != nil {
			return err
		}
		j, err := codec.Marshal(x)
		if err != nil {
			return fmt.Errorf("encode staged %s/%s: %w", x.Type, x.SourceID, err)
		}
		jobs[i], types[i], srcs[i], tgts[i] = x.JobID, string(x.Type), x.SourceID, x.TargetID
		actions[i], cycles[i], created[i], js[i] = string(x.Action), x.CycleID, codec.Nanos(x.Created), j
	}
	out.add("staged operations", qStaged, jobs, types, srcs, tgts, actions, cycles, created, js)
	return nil
}

// eventArrays holds the column arrays of a batch's events.
type eventArrays struct {
	id, job                               []string
	cycleN, changeN                       []*string
	time                                  []int64
	action, status                        []string
	errorCode, identityType               []*string
	srcID, srcName, srcLC, tgtID, tgtName []*string
	tgtLC, traceID                        []*string
	duration                              []int64
	event                                 []string
	keys                                  []stats.Key
}

func encodeEvents(out *batchSQL, batchJob string, events []provisioning.Event) error {
	n := len(events)
	if n == 0 {
		return nil
	}
	a := eventArrays{
		id: make([]string, n), job: make([]string, n), cycleN: make([]*string, n), changeN: make([]*string, n),
		time: make([]int64, n), action: make([]string, n), status: make([]string, n),
		errorCode: make([]*string, n), identityType: make([]*string, n),
		srcID: make([]*string, n), srcName: make([]*string, n), srcLC: make([]*string, n),
		tgtID: make([]*string, n), tgtName: make([]*string, n), tgtLC: make([]*string, n),
		traceID: make([]*string, n), duration: make([]int64, n), event: make([]string, n), keys: make([]stats.Key, n),
	}
	err := parallel(n, func(i int) error {
		ev := events[i] // a copy: the caller's event is not modified
		var err error
		if ev.JobID, err = jobOf(batchJob, ev.JobID, "an event"); err != nil {
			return err
		}
		if ev.ID == "" {
			return fmt.Errorf("%w: an event without an id", ErrInvalidBatch)
		}
		var errorCode string
		if ev.ErrorInformation != nil {
			errorCode = ev.ErrorInformation.ErrorCode
		}
		identityType := ev.SourceIdentity.IdentityType
		if identityType == "" {
			identityType = ev.TargetIdentity.IdentityType
		}
		if err := checkText("event "+ev.ID, ev.ID, ev.JobID, ev.CycleID, ev.ChangeID, string(ev.Action), string(ev.Status),
			errorCode, identityType, ev.SourceIdentity.ID, ev.SourceIdentity.DisplayName,
			ev.TargetIdentity.ID, ev.TargetIdentity.DisplayName, ev.TraceID); err != nil {
			return err
		}
		js, err := codec.MarshalEvent(&ev) // the bytes codec.Marshal writes, without reflection
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
		srcLC := codec.Lower(ev.SourceIdentity.DisplayName)
		tgtLC := codec.Lower(ev.TargetIdentity.DisplayName)
		if tgtLC == srcLC {
			tgtLC = "" // one index entry is enough; queries match source_name_lc first
		}
		t := codec.Nanos(ev.ActivityDateTime)
		a.id[i], a.job[i], a.cycleN[i], a.changeN[i] = ev.ID, ev.JobID, nz(ev.CycleID), nz(ev.ChangeID)
		a.time[i], a.action[i], a.status[i] = t, string(ev.Action), string(ev.Status)
		a.errorCode[i], a.identityType[i] = nz(errorCode), nz(identityType)
		a.srcID[i], a.srcName[i], a.srcLC[i] = nz(ev.SourceIdentity.ID), nz(ev.SourceIdentity.DisplayName), nz(srcLC)
		a.tgtID[i], a.tgtName[i], a.tgtLC[i] = nz(ev.TargetIdentity.ID), nz(ev.TargetIdentity.DisplayName), nz(tgtLC)
		a.traceID[i], a.duration[i], a.event[i] = nz(ev.TraceID), ev.DurationInMilliseconds, js
		a.keys[i] = stats.Key{Minute: stats.Minute(t), JobID: ev.JobID, IdentityType: identityType,
			Action: string(ev.Action), Status: string(ev.Status), ErrorCode: errorCode}
		return nil
	})
	if err != nil {
		return err
	}
	out.add("events", qEvents, a.id, a.job, a.cycleN, a.changeN, a.time, a.action, a.status, a.errorCode, a.identityType,
		a.srcID, a.srcName, a.srcLC, a.tgtID, a.tgtName, a.tgtLC, a.traceID, a.duration, a.event)

	counter := stats.Counter{}
	for _, k := range a.keys {
		counter.Add(k)
	}
	counts := counter.Sorted() // key order: concurrent committers lock rollup rows in one order
	m := len(counts)
	minute, job, typ, action, status, code, count := make([]int64, m), make([]string, m), make([]string, m),
		make([]string, m), make([]string, m), make([]string, m), make([]int64, m)
	for i, c := range counts {
		minute[i], job[i], typ[i], action[i], status[i], code[i], count[i] = c.Minute, c.JobID, c.IdentityType, c.Action, c.Status, c.ErrorCode, c.N
	}
	out.add("event statistics", qStats, minute, job, typ, action, status, code, count)
	return nil
}

func encodeHistory(out *batchSQL, b *provisioning.Batch) error {
	n := len(b.History)
	if n == 0 {
		return nil
	}
	jobs, times, olds, news := make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	reasons, js := make([]*string, n), make([]string, n)
	for i := range b.History {
		h := b.History[i]
		var err error
		if h.JobID, err = jobOf(b.JobID, h.JobID, "a status change"); err != nil {
			return err
		}
		if err := checkText("status change", h.JobID, string(h.OldCode), string(h.NewCode), string(h.Reason)); err != nil {
			return err
		}
		j, err := codec.Marshal(&h)
		if err != nil {
			return fmt.Errorf("encode status change: %w", err)
		}
		jobs[i], times[i], olds[i], news[i], reasons[i], js[i] = h.JobID, codec.Nanos(h.Time), string(h.OldCode), string(h.NewCode), nz(string(h.Reason)), j
	}
	out.add("history", qHistory, jobs, times, olds, news, reasons, js)
	return nil
}

func encodeAudit(out *batchSQL, b *provisioning.Batch) error {
	n := len(b.Audit)
	if n == 0 {
		return nil
	}
	ids, times, jobs := make([]*string, n), make([]int64, n), make([]*string, n)
	actors, actions, results, js := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i := range b.Audit {
		a := &b.Audit[i] // audit entries keep their own job id ("" for none)
		if err := checkText("audit entry", a.ID, a.JobID, a.Actor, a.Action, a.Result); err != nil {
			return err
		}
		j, err := codec.Marshal(a)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		ids[i], times[i], jobs[i] = nz(a.ID), codec.Nanos(a.Time), nz(a.JobID)
		actors[i], actions[i], results[i], js[i] = a.Actor, a.Action, a.Result, j
	}
	out.add("audit", qAudit, ids, times, jobs, actors, actions, results, js)
	return nil
}

// parallel runs fn(0..n-1) on up to GOMAXPROCS goroutines (JSON encoding is the part of
// a commit that can use the other cores) and returns the errors joined.
func parallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n/minPerWorker, 8)
	if workers <= 1 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// minPerWorker: below this many records, a goroutine costs more than it saves.
const minPerWorker = 64

// Commit applies a batch in one transaction: the statements (lease check, state, cycle,
// links, link deletes, escrows, escrow deletes, pending references and their deletes,
// staged operations and their deletes, events and their statistics, history, audit) go
// to the server in one pipelined round trip, then COMMIT in a second. A cancelled context
// aborts the transaction until COMMIT is sent; after that Commit waits for its outcome,
// so that an error always means that nothing was committed. A batch fenced by a lease
// this replica no longer holds fails with provisioning.ErrLeaseLost.
func (s *Store) Commit(ctx context.Context, b provisioning.Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store/postgres: commit: %w", err)
	}
	enc, err := encodeBatch(&b)
	if err != nil {
		return fmt.Errorf("store/postgres: commit: %w", err)
	}
	if len(enc.stmts) == 0 {
		return nil
	}
	if err := s.exec(ctx, enc); err != nil {
		return fmt.Errorf("store/postgres: commit: %w", err)
	}
	return nil
}

// exec runs the statements in one transaction.
func (s *Store) exec(ctx context.Context, enc *batchSQL) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release() // destroys the connection if a transaction is still open
	batch := &pgx.Batch{}
	batch.BeginTx(pgx.TxOptions{})
	for _, st := range enc.stmts {
		batch.Queue(st.sql, st.args...)
	}
	br := conn.SendBatch(ctx, batch)
	tx := br.Tx()
	bg := context.WithoutCancel(ctx)
	if _, err := br.Exec(); err != nil { // BEGIN
		br.Close()
		return err
	}
	for _, st := range enc.stmts {
		if _, err := br.Exec(); err != nil {
			br.Close()
			_ = tx.Rollback(bg)
			return fmt.Errorf("%s: %w", st.name, mapError(err))
		}
	}
	if err := br.Close(); err != nil {
		_ = tx.Rollback(bg)
		return mapError(err)
	}
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback(bg)
		return err
	}
	return tx.Commit(bg)
}

// mapError turns a lease check failure into provisioning.ErrLeaseLost.
func mapError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == sqlLeaseLost {
		return fmt.Errorf("%w: %s", provisioning.ErrLeaseLost, pe.Message)
	}
	return err
}

func (s *Store) clear(ctx context.Context, table, what, jobID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE job_id = $1`, jobID)
	return wrap(err, "clear %s of job %q", what, jobID)
}

// ClearLinks removes a job's links (its connector data store), in one transaction.
func (s *Store) ClearLinks(ctx context.Context, jobID string) error {
	return s.clear(ctx, "links", "links", jobID)
}

// ClearEscrows removes a job's escrows.
func (s *Store) ClearEscrows(ctx context.Context, jobID string) error {
	return s.clear(ctx, "escrows", "escrows", jobID)
}

// ClearStaged removes a job's staged operations.
func (s *Store) ClearStaged(ctx context.Context, jobID string) error {
	return s.clear(ctx, "staged_ops", "staged operations", jobID)
}
