package paging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
)

// table is a sorted list of keys queried the way the stores do.
func query(keys []string, calls *int) func(out []string, first bool, after string, limit int) ([]string, error) {
	return func(out []string, first bool, after string, limit int) ([]string, error) {
		*calls++
		i := 0
		if !first {
			i = sort.SearchStrings(keys, after)
			if i < len(keys) && keys[i] == after {
				i++
			}
		}
		for ; i < len(keys) && len(out) < limit; i++ {
			out = append(out, keys[i])
		}
		return out, nil
	}
}

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		n, limit, wantCalls int
	}{
		{0, 3, 1}, {1, 3, 1}, {3, 3, 2}, {7, 3, 3}, {9, 3, 4}, {10, 1, 11},
	} {
		t.Run(fmt.Sprintf("%d by %d", tc.n, tc.limit), func(t *testing.T) {
			var keys []string
			for i := range tc.n {
				keys = append(keys, fmt.Sprintf("k%03d", i))
			}
			calls := 0
			q := query(keys, &calls)
			var got []string
			err := Scan(context.Background(), tc.limit, func(s string) string { return s },
				func(out []string, first bool, after string) ([]string, error) { return q(out, first, after, tc.limit) },
				func(s string) error { got = append(got, s); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, keys) || calls != tc.wantCalls {
				t.Errorf("got %v in %d queries, want %v in %d", got, calls, keys, tc.wantCalls)
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	keys := []string{"a", "b", "c", "d"}
	calls := 0
	q := query(keys, &calls)
	stop := errors.New("stop")
	var got []string
	err := Scan(context.Background(), 2, func(s string) string { return s },
		func(out []string, first bool, after string) ([]string, error) { return q(out, first, after, 2) },
		func(s string) error {
			got = append(got, s)
			if s == "c" {
				return stop
			}
			return nil
		})
	if err != stop || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("fn error: err %v, got %v", err, got)
	}
	bad := errors.New("query failed")
	err = Scan(context.Background(), 2, func(s string) string { return s },
		func(out []string, first bool, after string) ([]string, error) {
			if !first {
				return nil, bad
			}
			return append(out, "a", "b"), nil
		}, func(string) error { return nil })
	if err != bad {
		t.Errorf("query error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Scan(ctx, 2, func(s string) string { return s },
		func(out []string, first bool, after string) ([]string, error) { return q(out, first, after, 2) },
		func(string) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
