package stats

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

func TestDivisions(t *testing.T) {
	for _, c := range []struct{ a, b, floor, ceil int64 }{
		{0, 60, 0, 0},
		{59, 60, 0, 1},
		{60, 60, 1, 1},
		{61, 60, 1, 2},
		{-1, 60, -1, 0},
		{-59, 60, -1, 0},
		{-60, 60, -1, -1},
		{-61, 60, -2, -1},
		{math.MinInt64, MinuteNanos, -153722868, -153722867},
		{math.MaxInt64, MinuteNanos, 153722867, 153722868},
	} {
		if got := FloorDiv(c.a, c.b); got != c.floor {
			t.Errorf("FloorDiv(%d, %d) = %d, want %d", c.a, c.b, got, c.floor)
		}
		if got := CeilDiv(c.a, c.b); got != c.ceil {
			t.Errorf("CeilDiv(%d, %d) = %d, want %d", c.a, c.b, got, c.ceil)
		}
	}
}

func TestMinutes(t *testing.T) {
	tm := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	m := Minute(tm.UnixNano())
	if got := MinuteTime(m); !got.Equal(tm.Truncate(time.Minute)) || got.Location() != time.UTC {
		t.Errorf("MinuteTime(Minute(%v)) = %v", tm, got)
	}
	if got := MinuteCeil(tm.UnixNano()); got != m+1 {
		t.Errorf("MinuteCeil of a time within a minute = %d, want %d", got, m+1)
	}
	if got := MinuteCeil(tm.Truncate(time.Minute).UnixNano()); got != m {
		t.Errorf("MinuteCeil of a whole minute = %d, want %d", got, m)
	}
	if MinuteStart(m) != tm.Truncate(time.Minute).UnixNano() {
		t.Errorf("MinuteStart(%d) = %d", m, MinuteStart(m))
	}
	if MinuteStart(math.MaxInt64/MinuteNanos+1) != math.MaxInt64 || MinuteStart(math.MinInt64/MinuteNanos-1) != math.MinInt64 {
		t.Errorf("MinuteStart does not saturate")
	}
}

func TestValidateStats(t *testing.T) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := provisioning.StatsQuery{From: from, To: from.Add(time.Hour), Interval: time.Minute, GroupBy: provisioning.GroupBys}
	if err := ValidateStats(ok); err != nil {
		t.Fatalf("valid query: %v", err)
	}
	for _, c := range []struct {
		name string
		f    func(q *provisioning.StatsQuery)
	}{
		{"no from", func(q *provisioning.StatsQuery) { q.From = time.Time{} }},
		{"to before from", func(q *provisioning.StatsQuery) { q.To = q.From.Add(-time.Second) }},
		{"interval 59s", func(q *provisioning.StatsQuery) { q.Interval = 59 * time.Second }},
		{"interval 61s", func(q *provisioning.StatsQuery) { q.Interval = 61 * time.Second }},
		{"group-by unknown", func(q *provisioning.StatsQuery) { q.GroupBy = []string{"nope"} }},
		{"group-by twice", func(q *provisioning.StatsQuery) { q.GroupBy = []string{"jobId", "jobId"} }},
	} {
		q := ok
		c.f(&q)
		if err := ValidateStats(q); !errors.Is(err, provisioning.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", c.name, err)
		}
	}
	for _, g := range provisioning.GroupBys {
		if Columns[g] == "" {
			t.Errorf("group-by %q has no column", g)
		}
	}
}

func TestContendersAndRank(t *testing.T) {
	counts := map[string]int64{"a": 9, "b": 5, "c": 5, "d": 5, "e": 1, "f": 0}
	for _, c := range []struct {
		limit int
		want  []string
	}{
		{1, []string{"a"}},
		{2, []string{"a", "b", "c", "d"}}, // the second place is a three-way tie
		{4, []string{"a", "b", "c", "d"}},
		{5, []string{"a", "b", "c", "d", "e"}},
		{50, []string{"a", "b", "c", "d", "e"}},
	} {
		if got := Contenders(counts, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("Contenders(limit %d) = %v, want %v", c.limit, got, c.want)
		}
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	errs := []provisioning.TopError{
		{ErrorCode: "b", Count: 5, LastSeen: t0},
		{ErrorCode: "c", Count: 5, LastSeen: t0.Add(time.Second)},
		{ErrorCode: "a", Count: 9, LastSeen: t0},
		{ErrorCode: "d", Count: 5, LastSeen: t0},
	}
	var got []string
	for _, e := range Rank(errs, 3) {
		got = append(got, e.ErrorCode)
	}
	if want := []string{"a", "c", "b"}; !slices.Equal(got, want) {
		t.Errorf("Rank = %v, want %v", got, want)
	}
}

func TestSummary(t *testing.T) {
	s := NewSummary()
	if s.SuccessRate != 1 || s.ByStatus == nil {
		t.Fatalf("NewSummary = %+v", s)
	}
	AddToSummary(&s, "create", "success", "User", 3)
	AddToSummary(&s, "update", "failure", "User", 1)
	AddToSummary(&s, "other", "skipped", "", 4)
	AddToSummary(&s, "other", "warning", "Group", 0) // nothing
	if s.Total != 8 || s.SuccessRate != 0.75 || s.ByIdentityType[""][provisioning.ResultSkipped] != 4 || len(s.ByIdentityType) != 2 {
		t.Errorf("summary = %+v", s)
	}
}
