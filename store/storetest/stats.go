package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// The query-side contract (provisioning.QueryStore), beyond what the interface documents:
//
//   - Statistics have minute granularity: a window [From, To) counts the events of every
//     whole minute (UTC, since the Unix epoch) it touches, From rounded down and To up to
//     a whole minute. TopErrors' LastSeen and Sample come from the same widened window.
//   - EventStats buckets start at multiples of Interval since the Unix epoch (UTC), with
//     Time in UTC; a bucket at an edge of the window counts only the window's minutes.
//     Buckets are ordered by time, then by their label values byte-wise in the order of
//     GroupBy. Labels is empty without GroupBy; an absent error code or identity type is
//     the label "". The identity type is the source identity's (the target's when the
//     source has none), as in QueryEvents.
//   - Invalid input returns an error wrapping provisioning.ErrInvalidRequest: for
//     EventStats a missing From or To, From not before To, an Interval that is not a whole
//     number of minutes (at least one), an unknown or repeated GroupBy; for TopErrors and
//     Summary, From not before To when both are set.
//   - TopErrors counts failed events (status failure) that have an error code. Ties of
//     count are broken by LastSeen (latest first), then by error code; Sample is the
//     latest such event (of equal times, the greatest id), returned whole.
//   - Summary's maps are never nil; events without an identity type count under "" in
//     ByIdentityType.
//   - PruneEvents removes the pruned events from every statistic, exactly: afterwards the
//     statistics equal those of the remaining events. A failed Commit adds nothing to them.

// minuteOf is the Unix minute of t (floor).
func minuteOf(t time.Time) int64 {
	s := t.Unix()
	if s >= 0 {
		return s / 60
	}
	return (s+1)/60 - 1
}

// ceilMinuteOf is t rounded up to a whole Unix minute.
func ceilMinuteOf(t time.Time) int64 {
	m := minuteOf(t)
	if !time.Unix(m*60, 0).Equal(t) {
		m++
	}
	return m
}

// inWindow reports whether t falls in [from, to) widened to whole minutes (zero: unbounded).
func inWindow(t, from, to time.Time) bool {
	m := minuteOf(t)
	return (from.IsZero() || m >= minuteOf(from)) && (to.IsZero() || m < ceilMinuteOf(to))
}

func identityTypeOf(e provisioning.Event) string {
	if e.SourceIdentity.IdentityType != "" {
		return e.SourceIdentity.IdentityType
	}
	return e.TargetIdentity.IdentityType
}

func errorCodeOf(e provisioning.Event) string {
	if e.ErrorInformation == nil {
		return ""
	}
	return e.ErrorInformation.ErrorCode
}

// label returns an event's value of a group-by dimension.
func label(e provisioning.Event, g string) string {
	switch g {
	case provisioning.GroupByAction:
		return string(e.Action)
	case provisioning.GroupByStatus:
		return string(e.Status)
	case provisioning.GroupByErrorCode:
		return errorCodeOf(e)
	case provisioning.GroupByJobID:
		return e.JobID
	case provisioning.GroupByIdentityType:
		return identityTypeOf(e)
	}
	panic("unknown group-by " + g)
}

// ModelStats is the reference semantics of QueryStore.EventStats over a slice of events
// (for a valid query).
func ModelStats(all []provisioning.Event, q provisioning.StatsQuery) []provisioning.StatsBucket {
	k := int64(q.Interval / time.Minute)
	type key struct {
		bucket int64
		labels string // the label values joined by \x00
	}
	counts := map[key]int64{}
	for _, e := range all {
		if q.JobID != "" && e.JobID != q.JobID || q.Action != "" && e.Action != q.Action ||
			q.Status != "" && e.Status != q.Status || q.ErrorCode != "" && errorCodeOf(e) != q.ErrorCode ||
			q.IdentityType != "" && identityTypeOf(e) != q.IdentityType || !inWindow(e.ActivityDateTime, q.From, q.To) {
			continue
		}
		m := minuteOf(e.ActivityDateTime)
		b := m - ((m%k)+k)%k
		var ls []string
		for _, g := range q.GroupBy {
			ls = append(ls, label(e, g))
		}
		counts[key{b, strings.Join(ls, "\x00")}]++
	}
	var out []provisioning.StatsBucket
	for k, n := range counts {
		b := provisioning.StatsBucket{Time: time.Unix(k.bucket*60, 0).UTC(), Count: n}
		if len(q.GroupBy) > 0 {
			b.Labels = map[string]string{}
			for i, v := range strings.Split(k.labels, "\x00") {
				b.Labels[q.GroupBy[i]] = v
			}
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b provisioning.StatsBucket) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		for _, g := range q.GroupBy {
			if c := strings.Compare(a.Labels[g], b.Labels[g]); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// ModelTopErrors is the reference semantics of QueryStore.TopErrors over a slice of events.
func ModelTopErrors(all []provisioning.Event, q provisioning.TopErrorsQuery) []provisioning.TopError {
	byCode := map[string]*provisioning.TopError{}
	for _, e := range all {
		code := errorCodeOf(e)
		if e.Status != provisioning.ResultFailure || code == "" || q.JobID != "" && e.JobID != q.JobID ||
			!inWindow(e.ActivityDateTime, q.From, q.To) {
			continue
		}
		te := byCode[code]
		if te == nil {
			te = &provisioning.TopError{ErrorCode: code}
			byCode[code] = te
		}
		te.Count++
		if te.Count == 1 || compareEventPos(e.ActivityDateTime, e.ID, te.Sample.ActivityDateTime, te.Sample.ID) > 0 {
			te.Sample, te.LastSeen, te.ErrorCategory = e, e.ActivityDateTime, e.ErrorInformation.ErrorCategory
		}
	}
	var out []provisioning.TopError
	for _, te := range byCode {
		out = append(out, *te)
	}
	slices.SortFunc(out, func(a, b provisioning.TopError) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), b.LastSeen.Compare(a.LastSeen), strings.Compare(a.ErrorCode, b.ErrorCode))
	})
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// ModelSummary is the reference semantics of QueryStore.Summary over a slice of events.
func ModelSummary(all []provisioning.Event, q provisioning.SummaryQuery) provisioning.Summary {
	s := provisioning.Summary{ByStatus: map[provisioning.Result]int64{}, ByAction: map[provisioning.Action]int64{},
		ByIdentityType: map[string]map[provisioning.Result]int64{}}
	for _, e := range all {
		if q.JobID != "" && e.JobID != q.JobID || !inWindow(e.ActivityDateTime, q.From, q.To) {
			continue
		}
		s.Total++
		s.ByStatus[e.Status]++
		s.ByAction[e.Action]++
		typ := identityTypeOf(e)
		if s.ByIdentityType[typ] == nil {
			s.ByIdentityType[typ] = map[provisioning.Result]int64{}
		}
		s.ByIdentityType[typ][e.Status]++
	}
	ok := s.ByStatus[provisioning.ResultSuccess]
	tried := ok + s.ByStatus[provisioning.ResultWarning] + s.ByStatus[provisioning.ResultFailure]
	s.SuccessRate = 1
	if tried > 0 {
		s.SuccessRate = float64(ok) / float64(tried)
	}
	return s
}

type querySubtest struct {
	name string
	fn   func(t *testing.T, s provisioning.QueryStore)
}

// RunQueryStore runs the contract suite of provisioning.QueryStore: statistics, top errors,
// summary and pruning (see the comment at the top of stats.go for what it fixes beyond
// the interface). open returns a new, empty store for one subtest; RunQueryStore closes
// it when the subtest ends. The subtests run in parallel, each on its own store.
func RunQueryStore(t *testing.T, open func(t *testing.T) provisioning.QueryStore) {
	for _, tc := range []querySubtest{
		{"StatsGroupByAndFilters", testStatsGroupByAndFilters},
		{"StatsBuckets", testStatsBuckets},
		{"StatsInvalid", testStatsInvalid},
		{"StatsEmpty", testStatsEmpty},
		{"TopErrors", testTopErrors},
		{"TopErrorsRandom", testTopErrorsRandom},
		{"Summary", testSummary},
		{"PruneEventsAndStats", testPruneEventsAndStats},
		{"StatsFailedCommit", testStatsFailedCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// statsBase is a whole hour: the statistics tests place events relative to minute and
// hour boundaries.
var statsBase = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// errorCodes are the error codes of the statistics dataset; "entryConflict" sorts after
// "Unauthorized" byte-wise, but not in a case-insensitive collation.
var errorCodes = []string{"EntryConflict", "entryConflict", "TooManyRequests", "InvalidAnchor", "Unauthorized",
	"Timeout", "InternalServerError", "InsufficientRights", "MandatoryFieldsMissing", "PreconditionFailed",
	"ConnectionFailed", "UnprocessableEntity"}

// statsDataset is n events over three hours from statsBase: three jobs, users, groups and
// events without an identity type, every action and status; failures mostly with one of
// errorCodes (skewed, so that counts differ), some without a code, warnings with codes;
// microsecond times, some on minute boundaries, some shared by several events.
func statsDataset(r *rand.Rand, n int) []provisioning.Event {
	jobs := []string{"jA", "jB", "jC"}
	var out []provisioning.Event
	for i := range n {
		var t time.Time
		switch x := r.IntN(10); {
		case x == 0: // exactly on a minute
			t = statsBase.Add(time.Duration(r.IntN(180)) * time.Minute)
		case x == 1 && len(out) > 0: // the time of an earlier event
			t = out[r.IntN(len(out))].ActivityDateTime
		default:
			t = statsBase.Add(time.Duration(r.Int64N(int64(3 * time.Hour)))).Truncate(time.Microsecond)
		}
		e := provisioning.Event{
			ID:               fmt.Sprintf("st-%05d-%d", r.IntN(100000), i),
			ActivityDateTime: t,
			JobID:            jobs[r.IntN(len(jobs))],
			CycleID:          "c1",
			Action:           provisioning.Actions[r.IntN(len(provisioning.Actions))],
			Status:           provisioning.Results[r.IntN(len(provisioning.Results))],
			SourceIdentity:   provisioning.Identity{ID: fmt.Sprint("u", r.IntN(50)), DisplayName: "User", IdentityType: "User"},
		}
		switch r.IntN(8) {
		case 0:
			e.SourceIdentity.IdentityType = "Group"
		case 1: // the type comes from the target identity
			e.SourceIdentity = provisioning.Identity{}
			e.TargetIdentity = provisioning.Identity{ID: "t1", IdentityType: "Group"}
		case 2: // no type at all
			e.SourceIdentity.IdentityType = ""
		}
		switch e.Status {
		case provisioning.ResultFailure:
			if r.IntN(10) > 0 {
				code := errorCodes[min(r.IntN(len(errorCodes)), r.IntN(len(errorCodes)))] // skewed to the first codes
				e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: code, ErrorCategory: "Category of " + code,
					Reason: "reason " + e.ID}
			}
		case provisioning.ResultWarning:
			if r.IntN(2) == 0 {
				e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: "InvalidAnchor", Reason: "warning"}
			}
		}
		out = append(out, e)
	}
	return out
}

// commitMixed commits events in batches of random sizes, some of one job (Batch.JobID
// set), others of several, so that the rollup accumulates across batches.
func commitMixed(t *testing.T, s provisioning.Store, r *rand.Rand, events []provisioning.Event) {
	t.Helper()
	events = slices.Clone(events)
	for len(events) > 0 {
		n := min(1+r.IntN(80), len(events))
		b := provisioning.Batch{Events: events[:n]}
		if r.IntN(2) == 0 {
			// A batch of one job: its events, with JobID left for the batch to fill in.
			b = provisioning.Batch{JobID: events[0].JobID}
			var rest []provisioning.Event
			for _, e := range events[:n] {
				if e.JobID == b.JobID {
					e.JobID = ""
					b.Events = append(b.Events, e)
				} else {
					rest = append(rest, e)
				}
			}
			events = append(rest, events[n:]...)
		} else {
			events = events[n:]
		}
		if err := s.Commit(ctx, b); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
}

// checkStats compares EventStats with the model.
func checkStats(t *testing.T, s provisioning.QueryStore, all []provisioning.Event, name string, q provisioning.StatsQuery) []provisioning.StatsBucket {
	t.Helper()
	got, err := s.EventStats(ctx, q)
	if err != nil {
		t.Fatalf("%s: EventStats(%+v): %v", name, q, err)
	}
	want := ModelStats(all, q)
	if !statsEqual(got, want) {
		t.Errorf("%s: EventStats(%+v)\n got %s\nwant %s", name, q, formatBuckets(got), formatBuckets(want))
	}
	return got
}

func statsEqual(a, b []provisioning.StatsBucket) bool {
	return slices.EqualFunc(a, b, func(x, y provisioning.StatsBucket) bool {
		if !x.Time.Equal(y.Time) || x.Time.Location() != time.UTC || x.Count != y.Count || len(x.Labels) != len(y.Labels) {
			return false
		}
		for k, v := range y.Labels {
			if w, ok := x.Labels[k]; !ok || w != v {
				return false
			}
		}
		return true
	})
}

func formatBuckets(bs []provisioning.StatsBucket) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d buckets:", len(bs))
	for i, x := range bs {
		if i == 40 {
			b.WriteString(" ...")
			break
		}
		fmt.Fprintf(&b, " [%s %v %d]", x.Time.Format("15:04Z07:00"), x.Labels, x.Count)
	}
	return b.String()
}

func testStatsGroupByAndFilters(t *testing.T, s provisioning.QueryStore) {
	r := rand.New(rand.NewPCG(40, 41))
	all := statsDataset(r, 1500)
	commitMixed(t, s, r, all)
	from, to := statsBase, statsBase.Add(3*time.Hour)
	q := func(interval time.Duration, groupBy ...string) provisioning.StatsQuery {
		return provisioning.StatsQuery{From: from, To: to, Interval: interval, GroupBy: groupBy}
	}
	with := func(base provisioning.StatsQuery, f func(q *provisioning.StatsQuery)) provisioning.StatsQuery {
		f(&base)
		return base
	}
	cases := []struct {
		name string
		q    provisioning.StatsQuery
	}{
		{"no group-by", q(10 * time.Minute)},
		{"by action", q(30*time.Minute, provisioning.GroupByAction)},
		{"by status", q(30*time.Minute, provisioning.GroupByStatus)},
		{"by error code", q(30*time.Minute, provisioning.GroupByErrorCode)},
		{"by job", q(30*time.Minute, provisioning.GroupByJobID)},
		{"by identity type", q(30*time.Minute, provisioning.GroupByIdentityType)},
		{"by status and action", q(time.Hour, provisioning.GroupByStatus, provisioning.GroupByAction)},
		{"by error code, job and identity type", q(time.Hour, provisioning.GroupByErrorCode, provisioning.GroupByJobID, provisioning.GroupByIdentityType)},
		{"by every dimension", q(time.Hour, provisioning.GroupByJobID, provisioning.GroupByIdentityType, provisioning.GroupByAction,
			provisioning.GroupByStatus, provisioning.GroupByErrorCode)},
		{"by every dimension per minute", q(time.Minute, provisioning.GroupByIdentityType, provisioning.GroupByErrorCode,
			provisioning.GroupByStatus, provisioning.GroupByAction, provisioning.GroupByJobID)},
		{"job", with(q(15*time.Minute), func(q *provisioning.StatsQuery) { q.JobID = "jB" })},
		{"action", with(q(15*time.Minute, provisioning.GroupByStatus), func(q *provisioning.StatsQuery) { q.Action = provisioning.ActionDelete })},
		{"status", with(q(15*time.Minute, provisioning.GroupByErrorCode), func(q *provisioning.StatsQuery) { q.Status = provisioning.ResultFailure })},
		{"error code", with(q(15*time.Minute, provisioning.GroupByStatus), func(q *provisioning.StatsQuery) { q.ErrorCode = "InvalidAnchor" })},
		{"error code case-sensitive", with(q(15*time.Minute), func(q *provisioning.StatsQuery) { q.ErrorCode = "entryConflict" })},
		{"identity type group", with(q(15*time.Minute, provisioning.GroupByAction), func(q *provisioning.StatsQuery) { q.IdentityType = "Group" })},
		{"identity type user", with(q(15*time.Minute), func(q *provisioning.StatsQuery) { q.IdentityType = "User" })},
		{"every filter", with(q(20*time.Minute, provisioning.GroupByErrorCode), func(q *provisioning.StatsQuery) {
			q.JobID, q.Action, q.Status, q.IdentityType = "jA", provisioning.ActionCreate, provisioning.ResultFailure, "User"
		})},
		{"filter and group by the same dimension", with(q(time.Hour, provisioning.GroupByJobID), func(q *provisioning.StatsQuery) { q.JobID = "jC" })},
		{"no match", with(q(time.Hour), func(q *provisioning.StatsQuery) { q.JobID = "jZ" })},
		{"unknown error code", with(q(time.Hour), func(q *provisioning.StatsQuery) { q.ErrorCode = "' OR 1=1 --" })},
	}
	for _, tc := range cases {
		checkStats(t, s, all, tc.name, tc.q)
	}
	// The dataset exercises what the cases claim.
	for _, name := range []string{"job", "action", "status", "error code", "error code case-sensitive", "identity type group", "every filter"} {
		for _, tc := range cases {
			if tc.name == name && len(ModelStats(all, tc.q)) == 0 {
				t.Errorf("dataset: %q matches no event", name)
			}
		}
	}
	// Labels hold every group-by, with "" for an absent error code and identity type.
	got := must[[]provisioning.StatsBucket](t, "EventStats")(s.EventStats(ctx, q(3*time.Hour, provisioning.GroupByErrorCode, provisioning.GroupByIdentityType)))
	var noCode, noType bool
	for _, b := range got {
		noCode = noCode || b.Labels[provisioning.GroupByErrorCode] == ""
		noType = noType || b.Labels[provisioning.GroupByIdentityType] == ""
	}
	if !noCode || !noType {
		t.Errorf("no bucket labelled with an empty error code (%v) or identity type (%v)", noCode, noType)
	}

	// Random queries.
	for i := range 150 {
		var q provisioning.StatsQuery
		q.From = statsBase.Add(time.Duration(r.Int64N(int64(4*time.Hour))) - 30*time.Minute).Truncate(time.Duration(1+r.IntN(3)) * time.Microsecond)
		q.To = q.From.Add(time.Duration(1 + r.Int64N(int64(3*time.Hour)))).Truncate(time.Microsecond)
		if !q.To.After(q.From) {
			q.To = q.From.Add(time.Microsecond)
		}
		q.Interval = []time.Duration{time.Minute, 2 * time.Minute, 7 * time.Minute, 15 * time.Minute, time.Hour, 24 * time.Hour}[r.IntN(6)]
		for _, g := range r.Perm(len(provisioning.GroupBys))[:r.IntN(4)] {
			q.GroupBy = append(q.GroupBy, provisioning.GroupBys[g])
		}
		if r.IntN(3) == 0 {
			q.JobID = []string{"jA", "jB", "jC", "jZ"}[r.IntN(4)]
		}
		if r.IntN(4) == 0 {
			q.Action = provisioning.Actions[r.IntN(len(provisioning.Actions))]
		}
		if r.IntN(4) == 0 {
			q.Status = provisioning.Results[r.IntN(len(provisioning.Results))]
		}
		if r.IntN(5) == 0 {
			q.ErrorCode = errorCodes[r.IntN(len(errorCodes))]
		}
		if r.IntN(5) == 0 {
			q.IdentityType = []string{"User", "Group"}[r.IntN(2)]
		}
		checkStats(t, s, all, fmt.Sprint("random query ", i), q)
		if t.Failed() {
			return
		}
	}
}

func testStatsBuckets(t *testing.T, s provisioning.QueryStore) {
	r := rand.New(rand.NewPCG(42, 43))
	all := statsDataset(r, 800)
	// Events on both sides of the minutes the windows below start and end in.
	edge := func(id string, t time.Time) provisioning.Event {
		return provisioning.Event{ID: id, ActivityDateTime: t, JobID: "jA", Action: provisioning.ActionUpdate, Status: provisioning.ResultSuccess,
			SourceIdentity: provisioning.Identity{ID: "edge", IdentityType: "User"}}
	}
	m := statsBase.Add(61 * time.Minute) // 10:01
	all = append(all,
		edge("edge-1", m.Add(-time.Microsecond)), // 10:00:59.999999
		edge("edge-2", m),                        // 10:01:00
		edge("edge-3", m.Add(59*time.Second+999999*time.Microsecond)),
		edge("edge-4", m.Add(time.Minute)), // 10:02:00
	)
	commitMixed(t, s, r, all)
	ist := time.FixedZone("IST", 5*3600+1800)
	cases := []struct {
		name     string
		from, to time.Time
		interval time.Duration
		groupBy  []string
	}{
		{"whole range per minute", statsBase, statsBase.Add(3 * time.Hour), time.Minute, nil},
		{"7-minute buckets (not hour-aligned)", statsBase, statsBase.Add(3 * time.Hour), 7 * time.Minute, nil},
		{"13-minute buckets by status", statsBase.Add(-time.Hour), statsBase.Add(4 * time.Hour), 13 * time.Minute, []string{provisioning.GroupByStatus}},
		{"hours", statsBase.Add(-2 * time.Hour), statsBase.Add(5 * time.Hour), time.Hour, nil},
		{"90 minutes", statsBase, statsBase.Add(3 * time.Hour), 90 * time.Minute, []string{provisioning.GroupByJobID}},
		{"days", statsBase.Add(-48 * time.Hour), statsBase.Add(48 * time.Hour), 24 * time.Hour, []string{provisioning.GroupByAction}},
		{"a week", statsBase.Add(-30 * 24 * time.Hour), statsBase.Add(30 * 24 * time.Hour), 7 * 24 * time.Hour, nil},
		{"window inside a bucket", statsBase.Add(70 * time.Minute), statsBase.Add(80 * time.Minute), time.Hour, nil},
		{"aligned minute window", m, m.Add(time.Minute), time.Minute, nil},
		{"from mid-minute: widened down", m.Add(30 * time.Second), m.Add(time.Minute), time.Minute, nil},
		{"to mid-minute: widened up", m.Add(-time.Minute), m.Add(time.Microsecond), time.Minute, nil},
		{"within one minute", m.Add(10 * time.Second), m.Add(20 * time.Second), time.Minute, nil},
		{"from and to in another zone", statsBase.In(ist).Add(17 * time.Minute), statsBase.In(ist).Add(150 * time.Minute), 30 * time.Minute, nil},
		{"before the data", statsBase.Add(-10 * time.Hour), statsBase.Add(-5 * time.Hour), time.Hour, nil},
		{"after the data", statsBase.Add(5 * time.Hour), statsBase.Add(6 * time.Hour), time.Minute, nil},
		{"ends where the data starts", statsBase.Add(-time.Hour), statsBase, time.Minute, nil},
	}
	for _, c := range cases {
		q := provisioning.StatsQuery{From: c.from, To: c.to, Interval: c.interval, GroupBy: c.groupBy}
		got := checkStats(t, s, all, c.name, q)
		for i, b := range got {
			if b.Time.Location() != time.UTC || b.Time.Unix()%int64(c.interval/time.Second) != 0 || b.Time.Nanosecond() != 0 {
				t.Errorf("%s: bucket %d at %v: not UTC or not a multiple of %v since the epoch", c.name, i, b.Time, c.interval)
			}
			if b.Count <= 0 {
				t.Errorf("%s: bucket %d has count %d (empty buckets are absent)", c.name, i, b.Count)
			}
			if b.Time.Add(c.interval).Compare(c.from) <= 0 || !b.Time.Before(c.to) {
				t.Errorf("%s: bucket %d at %v outside the window", c.name, i, b.Time)
			}
		}
		switch c.name {
		case "before the data", "after the data", "ends where the data starts":
			if len(got) != 0 {
				t.Errorf("%s: %d buckets, want none", c.name, len(got))
			}
		case "within one minute":
			if len(got) != 1 || got[0].Count < 2 {
				t.Errorf("%s: %s, want the minute's events (edge-2 and edge-3 at least)", c.name, formatBuckets(got))
			}
		}
	}
}

func testStatsInvalid(t *testing.T, s provisioning.QueryStore) {
	commit(t, s, provisioning.Batch{Events: statsDataset(rand.New(rand.NewPCG(44, 45)), 50)})
	from, to := statsBase, statsBase.Add(time.Hour)
	ok := provisioning.StatsQuery{From: from, To: to, Interval: time.Minute}
	cases := []struct {
		name string
		f    func(q *provisioning.StatsQuery)
	}{
		{"no from", func(q *provisioning.StatsQuery) { q.From = time.Time{} }},
		{"no to", func(q *provisioning.StatsQuery) { q.To = time.Time{} }},
		{"from = to", func(q *provisioning.StatsQuery) { q.To = q.From }},
		{"from after to", func(q *provisioning.StatsQuery) { q.From, q.To = q.To, q.From }},
		{"no interval", func(q *provisioning.StatsQuery) { q.Interval = 0 }},
		{"negative interval", func(q *provisioning.StatsQuery) { q.Interval = -time.Minute }},
		{"interval under a minute", func(q *provisioning.StatsQuery) { q.Interval = 30 * time.Second }},
		{"interval not whole minutes", func(q *provisioning.StatsQuery) { q.Interval = 90 * time.Second }},
		{"interval off by a nanosecond", func(q *provisioning.StatsQuery) { q.Interval = time.Hour + 1 }},
		{"unknown group-by", func(q *provisioning.StatsQuery) { q.GroupBy = []string{"user"} }},
		{"group-by in the wrong case", func(q *provisioning.StatsQuery) { q.GroupBy = []string{"ErrorCode"} }},
		{"group-by repeated", func(q *provisioning.StatsQuery) { q.GroupBy = []string{"action", "status", "action"} }},
		{"group-by injection", func(q *provisioning.StatsQuery) { q.GroupBy = []string{"action; DROP TABLE events"} }},
	}
	for _, c := range cases {
		q := ok
		c.f(&q)
		if got, err := s.EventStats(ctx, q); !errors.Is(err, provisioning.ErrInvalidRequest) {
			t.Errorf("%s: EventStats = %v, %v; want an error wrapping ErrInvalidRequest", c.name, got, err)
		}
	}
	for _, w := range []struct {
		name     string
		from, to time.Time
	}{{"from = to", from, from}, {"from after to", to, from}} {
		if _, err := s.TopErrors(ctx, provisioning.TopErrorsQuery{From: w.from, To: w.to}); !errors.Is(err, provisioning.ErrInvalidRequest) {
			t.Errorf("TopErrors %s: err = %v, want ErrInvalidRequest", w.name, err)
		}
		if _, err := s.Summary(ctx, provisioning.SummaryQuery{From: w.from, To: w.to}); !errors.Is(err, provisioning.ErrInvalidRequest) {
			t.Errorf("Summary %s: err = %v, want ErrInvalidRequest", w.name, err)
		}
	}
	// The valid query works on the same store.
	if _, err := s.EventStats(ctx, ok); err != nil {
		t.Errorf("valid query: %v", err)
	}
}

func testStatsEmpty(t *testing.T, s provisioning.QueryStore) {
	q := provisioning.StatsQuery{From: statsBase, To: statsBase.Add(time.Hour), Interval: time.Minute, GroupBy: []string{provisioning.GroupByAction}}
	if got, err := s.EventStats(ctx, q); err != nil || len(got) != 0 {
		t.Errorf("EventStats of an empty store = %v, %v", got, err)
	}
	if got, err := s.TopErrors(ctx, provisioning.TopErrorsQuery{}); err != nil || len(got) != 0 {
		t.Errorf("TopErrors of an empty store = %v, %v", got, err)
	}
	sum, err := s.Summary(ctx, provisioning.SummaryQuery{})
	if err != nil {
		t.Fatalf("Summary: %v", err)
	}
	equal(t, "Summary of an empty store", sum, ModelSummary(nil, provisioning.SummaryQuery{}))
	if sum.ByStatus == nil || sum.ByAction == nil || sum.ByIdentityType == nil || sum.SuccessRate != 1 {
		t.Errorf("Summary of an empty store = %+v: want empty (not nil) maps and SuccessRate 1", sum)
	}
	// Events that tried nothing: SuccessRate is still 1.
	skipped := []provisioning.Event{
		{ID: "s1", ActivityDateTime: statsBase, JobID: "j", Action: provisioning.ActionOther, Status: provisioning.ResultSkipped},
		{ID: "s2", ActivityDateTime: statsBase, JobID: "j", Action: provisioning.ActionOther, Status: provisioning.ResultSkipped},
	}
	commit(t, s, provisioning.Batch{JobID: "j", Events: skipped})
	sum = must[provisioning.Summary](t, "Summary")(s.Summary(ctx, provisioning.SummaryQuery{}))
	equal(t, "Summary of skipped events", sum, ModelSummary(skipped, provisioning.SummaryQuery{}))
	if sum.SuccessRate != 1 || sum.Total != 2 {
		t.Errorf("Summary of skipped events: total %d, success rate %v; want 2, 1", sum.Total, sum.SuccessRate)
	}
	// Events without error codes are no top errors.
	if got, err := s.TopErrors(ctx, provisioning.TopErrorsQuery{}); err != nil || len(got) != 0 {
		t.Errorf("TopErrors without failures = %v, %v", got, err)
	}
}

// checkTopErrors compares TopErrors with the model, samples included.
func checkTopErrors(t *testing.T, s provisioning.QueryStore, all []provisioning.Event, name string, q provisioning.TopErrorsQuery) []provisioning.TopError {
	t.Helper()
	got, err := s.TopErrors(ctx, q)
	if err != nil {
		t.Fatalf("%s: TopErrors(%+v): %v", name, q, err)
	}
	want := ModelTopErrors(all, q)
	codes := func(tes []provisioning.TopError) []string {
		var out []string
		for _, te := range tes {
			out = append(out, fmt.Sprintf("%s=%d@%s/%s", te.ErrorCode, te.Count, te.LastSeen.Format("15:04:05.000000"), te.Sample.ID))
		}
		return out
	}
	if !slices.Equal(codes(got), codes(want)) {
		t.Errorf("%s: TopErrors(%+v)\n got %v\nwant %v", name, q, codes(got), codes(want))
		return got
	}
	for i := range got {
		if got[i].LastSeen.Location() != time.UTC {
			t.Errorf("%s: %s: LastSeen not in UTC", name, got[i].ErrorCode)
		}
		if !equal(t, name+": top error "+got[i].ErrorCode, got[i], want[i]) {
			break
		}
	}
	return got
}

func testTopErrors(t *testing.T, s provisioning.QueryStore) {
	fail := func(id, job, code string, d time.Duration) provisioning.Event {
		return provisioning.Event{ID: id, ActivityDateTime: statsBase.Add(d), JobID: job, CycleID: "c", Action: provisioning.ActionCreate,
			Status: provisioning.ResultFailure, SourceIdentity: provisioning.Identity{ID: "u-" + id, DisplayName: "User " + id, IdentityType: "User"},
			ErrorInformation: &provisioning.ErrorInformation{ErrorCode: code, ErrorCategory: "Cat-" + code, Reason: "why " + id}}
	}
	all := []provisioning.Event{
		// A: 4 failures, last at 50m. B: 3, last at 40m. C: 3, last at 45m (ties B, seen later).
		fail("a1", "j1", "A", 0), fail("a2", "j1", "A", 10*time.Minute), fail("a3", "j2", "A", 20*time.Minute), fail("a4", "j1", "A", 50*time.Minute),
		fail("b1", "j1", "B", 5*time.Minute), fail("b2", "j2", "B", 6*time.Minute), fail("b3", "j1", "B", 40*time.Minute),
		fail("c1", "j2", "C", 30*time.Minute), fail("c2", "j2", "C", 31*time.Minute), fail("c3", "j2", "C", 45*time.Minute),
		// D and E: 2 each, last seen at the same time: by code. E's latest two share a time:
		// the greater id is the sample.
		fail("d1", "j1", "D", time.Minute), fail("d2", "j1", "D", 35*time.Minute),
		fail("e-x", "j1", "E", 35*time.Minute), fail("e-y", "j1", "E", 35*time.Minute),
		// Not counted: warnings and skips with a code, a failure without one.
		{ID: "w1", ActivityDateTime: statsBase.Add(time.Minute), JobID: "j1", Action: provisioning.ActionUpdate, Status: provisioning.ResultWarning,
			ErrorInformation: &provisioning.ErrorInformation{ErrorCode: "W"}},
		{ID: "w2", ActivityDateTime: statsBase.Add(55 * time.Minute), JobID: "j1", Action: provisioning.ActionUpdate, Status: provisioning.ResultWarning,
			ErrorInformation: &provisioning.ErrorInformation{ErrorCode: "A"}}, // later than every failure of A
		{ID: "k1", ActivityDateTime: statsBase.Add(time.Minute), JobID: "j1", Action: provisioning.ActionUpdate, Status: provisioning.ResultSkipped,
			ErrorInformation: &provisioning.ErrorInformation{ErrorCode: "K"}},
		{ID: "n1", ActivityDateTime: statsBase.Add(time.Minute), JobID: "j1", Action: provisioning.ActionUpdate, Status: provisioning.ResultFailure},
		// Successes around.
		{ID: "ok1", ActivityDateTime: statsBase.Add(2 * time.Minute), JobID: "j1", Action: provisioning.ActionCreate, Status: provisioning.ResultSuccess},
	}
	all[len(all)-6].ErrorInformation.ErrorCategory = "" // an error without a category
	commitMixed(t, s, rand.New(rand.NewPCG(46, 47)), all)

	got := checkTopErrors(t, s, all, "all", provisioning.TopErrorsQuery{})
	var order []string
	for _, te := range got {
		order = append(order, te.ErrorCode)
	}
	if want := []string{"A", "C", "B", "D", "E"}; !slices.Equal(order, want) {
		t.Errorf("TopErrors order = %v, want %v (count, then last seen, then code)", order, want)
	}
	if len(got) == 5 && got[4].Sample.ID != "e-y" {
		t.Errorf("sample of E = %s, want e-y (same time as e-x, greater id)", got[4].Sample.ID)
	}
	cases := []struct {
		name string
		q    provisioning.TopErrorsQuery
	}{
		{"limit 2", provisioning.TopErrorsQuery{Limit: 2}},
		{"limit 3 (a tie at the cut)", provisioning.TopErrorsQuery{Limit: 3}},
		{"limit 1", provisioning.TopErrorsQuery{Limit: 1}},
		{"negative limit", provisioning.TopErrorsQuery{Limit: -1}},
		{"job j1", provisioning.TopErrorsQuery{JobID: "j1"}},
		{"job j2", provisioning.TopErrorsQuery{JobID: "j2"}},
		{"unknown job", provisioning.TopErrorsQuery{JobID: "j9"}},
		{"from", provisioning.TopErrorsQuery{From: statsBase.Add(30 * time.Minute)}},
		{"to", provisioning.TopErrorsQuery{To: statsBase.Add(30 * time.Minute)}},
		{"window", provisioning.TopErrorsQuery{From: statsBase.Add(5 * time.Minute), To: statsBase.Add(40 * time.Minute)}},
		{"window widened to minutes", provisioning.TopErrorsQuery{From: statsBase.Add(5*time.Minute + 30*time.Second), To: statsBase.Add(35*time.Minute + time.Second)}},
		{"window and job", provisioning.TopErrorsQuery{JobID: "j1", From: statsBase.Add(time.Minute), To: statsBase.Add(41 * time.Minute), Limit: 2}},
		{"empty window", provisioning.TopErrorsQuery{From: statsBase.Add(2 * time.Hour), To: statsBase.Add(3 * time.Hour)}},
	}
	for _, c := range cases {
		checkTopErrors(t, s, all, c.name, c.q)
	}
	// LastSeen honours the window: A's latest before 45m is a3 at 20m.
	got = checkTopErrors(t, s, all, "A before 45m", provisioning.TopErrorsQuery{To: statsBase.Add(45 * time.Minute)})
	for _, te := range got {
		if te.ErrorCode == "A" && (te.Sample.ID != "a3" || !te.LastSeen.Equal(statsBase.Add(20*time.Minute))) {
			t.Errorf("A before 45m: last seen %v (%s), want a3 at 20m", te.LastSeen, te.Sample.ID)
		}
	}
}

func testTopErrorsRandom(t *testing.T, s provisioning.QueryStore) {
	r := rand.New(rand.NewPCG(48, 49))
	all := statsDataset(r, 1200)
	commitMixed(t, s, r, all)
	if len(ModelTopErrors(all, provisioning.TopErrorsQuery{Limit: 100})) < 10 {
		t.Fatalf("dataset: too few error codes")
	}
	for i := range 60 {
		var q provisioning.TopErrorsQuery
		if r.IntN(2) == 0 {
			q.JobID = []string{"jA", "jB", "jC"}[r.IntN(3)]
		}
		if r.IntN(2) == 0 {
			q.From = statsBase.Add(time.Duration(r.Int64N(int64(3 * time.Hour)))).Truncate(time.Microsecond)
		}
		if r.IntN(2) == 0 {
			q.To = statsBase.Add(time.Duration(r.Int64N(int64(3 * time.Hour)))).Truncate(time.Microsecond)
			if !q.From.IsZero() && !q.From.Before(q.To) {
				q.From, q.To = q.To, q.From.Add(time.Second)
			}
		}
		q.Limit = []int{0, 1, 3, 5, 20}[r.IntN(5)]
		checkTopErrors(t, s, all, fmt.Sprint("random query ", i), q)
		if t.Failed() {
			return
		}
	}
}

func testSummary(t *testing.T, s provisioning.QueryStore) {
	r := rand.New(rand.NewPCG(50, 51))
	all := statsDataset(r, 1000)
	commitMixed(t, s, r, all)
	cases := []struct {
		name string
		q    provisioning.SummaryQuery
	}{
		{"everything", provisioning.SummaryQuery{}},
		{"job", provisioning.SummaryQuery{JobID: "jA"}},
		{"unknown job", provisioning.SummaryQuery{JobID: "jZ"}},
		{"from", provisioning.SummaryQuery{From: statsBase.Add(time.Hour)}},
		{"to", provisioning.SummaryQuery{To: statsBase.Add(time.Hour)}},
		{"window", provisioning.SummaryQuery{From: statsBase.Add(30 * time.Minute), To: statsBase.Add(90 * time.Minute)}},
		{"window widened to minutes", provisioning.SummaryQuery{From: statsBase.Add(30*time.Minute + 59*time.Second), To: statsBase.Add(90*time.Minute + time.Microsecond)}},
		{"job and window", provisioning.SummaryQuery{JobID: "jB", From: statsBase.Add(time.Hour), To: statsBase.Add(2 * time.Hour)}},
		{"empty window", provisioning.SummaryQuery{From: statsBase.Add(10 * time.Hour), To: statsBase.Add(11 * time.Hour)}},
	}
	for _, c := range cases {
		got, err := s.Summary(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: Summary: %v", c.name, err)
		}
		want := ModelSummary(all, c.q)
		equal(t, c.name+": Summary", got, want)
		if c.name == "everything" {
			if got.Total != int64(len(all)) || len(got.ByStatus) != 4 || len(got.ByAction) != len(provisioning.Actions) || len(got.ByIdentityType) != 3 {
				t.Errorf("dataset: summary %+v does not cover every status, action and identity type", got)
			}
			if got.SuccessRate <= 0 || got.SuccessRate >= 1 {
				t.Errorf("SuccessRate = %v", got.SuccessRate)
			}
		}
	}
}

// statsProbe is a set of statistics queries whose answers must always agree with the
// models over the events a store holds.
func statsProbe(t *testing.T, s provisioning.QueryStore, all []provisioning.Event, what string) {
	t.Helper()
	from, to := statsBase.Add(-time.Hour), statsBase.Add(4*time.Hour)
	checkStats(t, s, all, what+": per minute by everything", provisioning.StatsQuery{From: from, To: to, Interval: time.Minute,
		GroupBy: []string{provisioning.GroupByJobID, provisioning.GroupByIdentityType, provisioning.GroupByAction, provisioning.GroupByStatus, provisioning.GroupByErrorCode}})
	checkStats(t, s, all, what+": per 10 minutes", provisioning.StatsQuery{From: from, To: to, Interval: 10 * time.Minute})
	checkStats(t, s, all, what+": failures by code", provisioning.StatsQuery{From: from, To: to, Interval: time.Hour,
		Status: provisioning.ResultFailure, GroupBy: []string{provisioning.GroupByErrorCode}})
	checkTopErrors(t, s, all, what+": top errors", provisioning.TopErrorsQuery{Limit: 100})
	checkTopErrors(t, s, all, what+": top errors of jA", provisioning.TopErrorsQuery{JobID: "jA", Limit: 100})
	for _, q := range []provisioning.SummaryQuery{{}, {JobID: "jB"}, {From: statsBase.Add(time.Hour)}} {
		equal(t, fmt.Sprintf("%s: Summary(%+v)", what, q), must[provisioning.Summary](t, "Summary")(s.Summary(ctx, q)), ModelSummary(all, q))
	}
}

func testPruneEventsAndStats(t *testing.T, s provisioning.QueryStore) {
	r := rand.New(rand.NewPCG(52, 53))
	all := statsDataset(r, 1200)
	commitMixed(t, s, r, all)
	statsProbe(t, s, all, "before pruning")

	remaining := func(cut time.Time) (left []provisioning.Event) {
		for _, e := range all {
			if !e.ActivityDateTime.Before(cut) {
				left = append(left, e)
			}
		}
		return left
	}
	for _, c := range []struct {
		name  string
		cut   time.Time
		batch int
	}{
		{"before every event", statsBase.Add(-time.Hour), 10},
		{"mid-minute, small batches", statsBase.Add(37*time.Minute + 29*time.Second + 123*time.Microsecond), 7},
		{"on a minute with events on it", statsBase.Add(61 * time.Minute), 50},
		{"one microsecond later", statsBase.Add(61*time.Minute + time.Microsecond), 1},
		{"mid-minute, default batch", statsBase.Add(2*time.Hour + 30*time.Second), 0},
		{"again at the same time", statsBase.Add(2*time.Hour + 30*time.Second), 0},
		{"everything", statsBase.Add(5 * time.Hour), 100},
	} {
		left := remaining(c.cut)
		n, err := s.PruneEvents(ctx, c.cut, c.batch)
		if err != nil {
			t.Fatalf("%s: PruneEvents: %v", c.name, err)
		}
		if want := int64(len(all) - len(left)); n != want {
			t.Errorf("%s: PruneEvents deleted %d events, want %d", c.name, n, want)
		}
		all = left
		evs := must[[]provisioning.Event](t, "QueryEvents")(s.QueryEvents(ctx, provisioning.EventQuery{Limit: 10000, Ascending: true}))
		if len(evs) != len(all) {
			t.Fatalf("%s: %d events left, want %d", c.name, len(evs), len(all))
		}
		statsProbe(t, s, all, "after pruning "+c.name)
		if t.Failed() {
			return
		}
	}
	// Events committed after pruning count from zero again.
	more := statsDataset(rand.New(rand.NewPCG(54, 55)), 200)
	commitMixed(t, s, r, more)
	statsProbe(t, s, more, "new events after pruning everything")
}

func testStatsFailedCommit(t *testing.T, s provisioning.QueryStore) {
	r := rand.New(rand.NewPCG(56, 57))
	all := statsDataset(r, 300)
	commit(t, s, provisioning.Batch{Events: all})
	// A batch that fails on its last event (an id already stored) adds nothing.
	bad := statsDataset(rand.New(rand.NewPCG(58, 59)), 100)
	for i := range bad {
		bad[i].ID = "bad-" + bad[i].ID
	}
	bad = append(bad, all[0])
	if err := s.Commit(ctx, provisioning.Batch{Events: bad}); err == nil {
		t.Fatalf("Commit of an event id already stored succeeded")
	}
	statsProbe(t, s, all, "after a failed commit")
}
