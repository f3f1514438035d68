package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
)

func TestCursorRoundTripAndMisuse(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	base := queryKey{Scope: "logs", Query: provisioning.EventQuery{JobID: "demo", Status: provisioning.ResultFailure}}
	pos := provisioning.EventPosition{Time: at, ID: "01a20ffc-26d8-7acc-bf15-76c5ee4991ae"}
	c := encodeCursor(base, pos)
	got, err := decodeCursor(base, c)
	if err != nil || !got.Time.Equal(pos.Time) || got.ID != pos.ID {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	// A before-epoch time and an id with any bytes survive too.
	odd := provisioning.EventPosition{Time: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), ID: "a\x00'\"é"}
	if got, err := decodeCursor(base, encodeCursor(base, odd)); err != nil || !got.Time.Equal(odd.Time) || got.ID != odd.ID {
		t.Errorf("odd position: %v %+v", err, got)
	}
	// Every other query, one difference at a time, rejects the cursor.
	others := map[string]func(*queryKey){
		"scope":          func(k *queryKey) { k.Scope = "history\x00x" },
		"jobId":          func(k *queryKey) { k.Query.JobID = "sales" },
		"cycleId":        func(k *queryKey) { k.Query.CycleID = "c" },
		"changeId":       func(k *queryKey) { k.Query.ChangeID = "c" },
		"identity":       func(k *queryKey) { k.Query.Identity = "E1" },
		"identityMatch":  func(k *queryKey) { k.Query.IdentityPrefix = true },
		"identityType":   func(k *queryKey) { k.Query.IdentityType = "User" },
		"action":         func(k *queryKey) { k.Query.Action = provisioning.ActionCreate },
		"status":         func(k *queryKey) { k.Query.Status = provisioning.ResultSuccess },
		"errorCode":      func(k *queryKey) { k.Query.ErrorCode = "X" },
		"from":           func(k *queryKey) { k.Query.From = at },
		"to":             func(k *queryKey) { k.Query.To = at },
		"since":          func(k *queryKey) { k.Since = time.Hour },
		"order":          func(k *queryKey) { k.Query.Ascending = true },
		"field boundary": func(k *queryKey) { k.Query.JobID, k.Query.CycleID = "dem", "o" },
	}
	for name, change := range others {
		k := base
		change(&k)
		if _, err := decodeCursor(k, c); err == nil || !strings.Contains(err.Error(), "another query") {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	// The limit and the page's own position are not part of the query.
	k := base
	k.Query.Limit, k.Query.After = 7, &pos
	if _, err := decodeCursor(k, c); err != nil {
		t.Errorf("another limit: %v", err)
	}
	// since identifies the query, not the moving from it yields.
	s1 := queryKey{Scope: "logs", Query: provisioning.EventQuery{From: at}, Since: time.Hour}
	s2 := queryKey{Scope: "logs", Query: provisioning.EventQuery{From: at.Add(time.Minute)}, Since: time.Hour}
	if _, err := decodeCursor(s2, encodeCursor(s1, pos)); err != nil {
		t.Errorf("since with a later now: %v", err)
	}
	// Any single changed character is caught.
	for i := range c {
		for _, ch := range []byte("AQw_-9") {
			if c[i] == ch {
				continue
			}
			b := []byte(c)
			b[i] = ch
			if _, err := decodeCursor(base, string(b)); err == nil {
				t.Fatalf("cursor with byte %d changed to %q accepted", i, ch)
			}
		}
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "plain": "plain", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", " =1": " =1", "a=b": "a=b", "'=x": "'=x", "É": "É",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuckets(t *testing.T) {
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		from, to time.Time
		iv       time.Duration
		want     int64
	}{
		{day, day.Add(time.Hour), time.Hour, 1},
		{day, day.Add(time.Hour + 1), time.Hour, 2},
		{day.Add(time.Minute), day.Add(time.Hour), time.Hour, 1},
		{day.Add(59 * time.Minute), day.Add(61 * time.Minute), time.Hour, 2},
		{day, day, time.Hour, 0},
		{day, day.Add(24 * time.Hour), time.Minute, 1440},
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 30, 0, 0, time.UTC), time.Hour, 2},
	} {
		if got := buckets(c.from, c.to, c.iv); got != c.want {
			t.Errorf("buckets(%s, %s, %s) = %d, want %d", c.from, c.to, c.iv, got, c.want)
		}
	}
}

// failingStore is the real SQLite store with a fault injected: QueryEvents fails from
// its n-th call on.
type failingStore struct {
	provisioning.Store
	calls, failFrom int64
}

func (f *failingStore) QueryEvents(ctx context.Context, q provisioning.EventQuery) ([]provisioning.Event, error) {
	if atomic.AddInt64(&f.calls, 1) >= f.failFrom {
		return nil, errors.New("disk I/O error")
	}
	return f.Store.QueryEvents(ctx, q)
}

// TestStreamFailure: a store failure before the first byte is a JSON 500; after it, the
// transfer is cut so that the client cannot take a partial export for a complete one.
func TestStreamFailure(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Now().UTC().Add(-time.Hour)
	var evs []provisioning.Event
	for i := range 2500 {
		evs = append(evs, provisioning.Event{ID: fmt.Sprintf("ev-%05d", i), ActivityDateTime: at.Add(time.Duration(i) * time.Millisecond),
			JobID: "j", CycleID: "c", ChangeID: fmt.Sprintf("ch-%d", i), Action: provisioning.ActionCreate, Status: provisioning.ResultSuccess,
			ProvisioningSteps: []provisioning.Step{}, ModifiedProperties: []provisioning.ModifiedProperty{}})
	}
	if err := st.Commit(ctx, provisioning.Batch{JobID: "j", Events: evs}); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"ndjson", "csv"} {
		for _, c := range []struct {
			failFrom   int64
			wantStatus int
		}{{1, 500}, {2, 200}, {3, 200}} {
			fs := &failingStore{Store: st, failFrom: c.failFrom}
			s, err := New(Options{Store: fs, ReaderToken: "r", AdminToken: "a"})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(s.Handler())
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1/provisioningLogs?format="+format, nil)
			req.Header.Set("Authorization", "Bearer r")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			ts.Close()
			if resp.StatusCode != c.wantStatus {
				t.Errorf("%s, failing from call %d: status %d, want %d", format, c.failFrom, resp.StatusCode, c.wantStatus)
				continue
			}
			if c.wantStatus == 500 {
				if !strings.Contains(string(body), `"InternalError"`) {
					t.Errorf("%s: error body %s", format, body)
				}
				continue
			}
			if !errors.Is(readErr, io.ErrUnexpectedEOF) {
				t.Errorf("%s, failing from call %d: read %d bytes, error %v; want a truncated transfer", format, c.failFrom, len(body), readErr)
			}
		}
	}
}
