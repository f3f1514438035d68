package provisioning_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/sqlite"
)

// clock is a settable clock for the engine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recObserver records what the engine reports.
type recObserver struct {
	mu      sync.Mutex
	events  []provisioning.Event
	cycles  []provisioning.Cycle
	changes []provisioning.StatusChange
	audit   []provisioning.AuditEntry
}

func (r *recObserver) CycleStarted(context.Context, *provisioning.Job, provisioning.Cycle) {}
func (r *recObserver) CycleEnded(_ context.Context, _ *provisioning.Job, c provisioning.Cycle) {
	r.mu.Lock()
	r.cycles = append(r.cycles, c)
	r.mu.Unlock()
}
func (r *recObserver) Events(_ context.Context, _ *provisioning.Job, ev []provisioning.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev...)
	r.mu.Unlock()
}
func (r *recObserver) StatusChanged(_ context.Context, _ *provisioning.Job, ch provisioning.StatusChange, _ provisioning.Status) {
	r.mu.Lock()
	r.changes = append(r.changes, ch)
	r.mu.Unlock()
}
func (r *recObserver) AdminAction(_ context.Context, e provisioning.AuditEntry) {
	r.mu.Lock()
	r.audit = append(r.audit, e)
	r.mu.Unlock()
}

// take returns and forgets the recorded events.
func (r *recObserver) take() []provisioning.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"

func testJob() provisioning.Job {
	return provisioning.Job{
		ID: "j1", Name: "test", SourceSystem: "HR", TargetSystem: "App",
		Settings: provisioning.Settings{Workers: 4, BatchSize: 7, EscrowRetryBase: provisioning.Duration(time.Hour)},
		Users: mapping.ObjectMapping{
			Attributes: []mapping.AttributeMapping{
				{Type: mapping.Direct, Source: "userName", Target: "userName", MatchingPrecedence: 1, Required: true},
				{Type: mapping.Direct, Source: "id", Target: "externalId", MatchingPrecedence: 2},
				{Type: mapping.Expression, Expression: `Join(" ", [givenName], [surname])`, Target: "displayName"},
				{Type: mapping.Direct, Source: "department", Target: ent + "department"},
				{Type: mapping.Constant, Value: "en-US", Target: "preferredLanguage", Apply: mapping.OnCreate},
				{Type: mapping.Direct, Source: "manager", Target: ent + "manager", Reference: true},
			},
			Scoping: []mapping.ScopingFilter{{Name: "Employees", Clauses: []mapping.Clause{{Attribute: "employeeType", Operator: mapping.OpEquals, Value: "Employee"}}}},
		},
		Groups: &mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "displayName", Target: "displayName", MatchingPrecedence: 1},
			{Type: mapping.Direct, Source: "members", Target: "members", Reference: true},
		}},
	}
}

func user(id, first, last, dept, manager string) connectors.Object {
	a := connectors.Attributes{"id": id, "userName": strings.ToLower(first + "." + last + "@example.com"), "givenName": first, "surname": last,
		"displayName": first + " " + last, "department": dept, "employeeType": "Employee", "accountEnabled": true}
	if manager != "" {
		a["manager"] = manager
	}
	return connectors.Object{Type: connectors.TypeUser, ID: id, Attributes: a}
}

func group(id, name string, members ...string) connectors.Object {
	return connectors.Object{Type: connectors.TypeGroup, ID: id, Attributes: connectors.Attributes{"id": id, "displayName": name, "members": members}}
}

type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock
	src   *memory.Source
	tgt   *memory.Target
	store *sqlite.Store
	eng   *provisioning.Engine
	obs   *recObserver
	job   provisioning.Job
	dir   string
}

func newEnv(t *testing.T, job provisioning.Job) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, ctx: ctx, clk: &clock{t: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)}, src: memory.NewSource(), tgt: memory.NewTarget(),
		store: st, obs: &recObserver{}, job: job, dir: dir}
	e.tgt.SetUnique(connectors.TypeUser, "userName")
	e.tgt.SetUnique(connectors.TypeGroup, "displayName")
	e.start()
	return e
}

// start (re)creates the engine over the same store, as a restarted daemon would.
func (e *env) start() {
	e.eng = provisioning.New(provisioning.Options{Store: e.store, Observer: e.obs, Now: e.clk.Now})
	if err := e.eng.AddJob(e.ctx, e.job, e.src, e.tgt); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) cycle() provisioning.Cycle {
	e.t.Helper()
	c, err := e.eng.RunCycle(e.ctx, e.job.ID)
	if err != nil {
		e.t.Fatalf("cycle: %v", err)
	}
	return c
}

func (e *env) status() provisioning.Status {
	s, err := e.eng.Status(e.ctx, e.job.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// targetUser returns the target user with the given userName.
func (e *env) targetUser(userName string) (connectors.TargetObject, bool) {
	for _, o := range e.tgt.Objects(connectors.TypeUser) {
		if o.Attributes["userName"] == userName {
			return o, true
		}
	}
	return connectors.TargetObject{}, false
}

func (e *env) link(t connectors.ObjectType, id string) (provisioning.Link, bool) {
	m, err := e.store.GetLinks(e.ctx, e.job.ID, t, []string{id})
	if err != nil {
		e.t.Fatal(err)
	}
	l, ok := m[id]
	return l, ok
}

// eventsFor returns the events of one source object, oldest first.
func eventsFor(evs []provisioning.Event, sourceID string) []provisioning.Event {
	var out []provisioning.Event
	for _, ev := range evs {
		if ev.SourceIdentity.ID == sourceID {
			out = append(out, ev)
		}
	}
	return out
}

func stepOf(ev provisioning.Event, t provisioning.StepType) (provisioning.Step, bool) {
	for _, s := range ev.ProvisioningSteps {
		if s.ProvisioningStepType == t {
			return s, true
		}
	}
	return provisioning.Step{}, false
}

func mustOne(t *testing.T, evs []provisioning.Event, id string) provisioning.Event {
	t.Helper()
	got := eventsFor(evs, id)
	if len(got) != 1 {
		t.Fatalf("events for %s: got %d, want 1: %+v", id, len(got), summarize(got))
	}
	return got[0]
}

func summarize(evs []provisioning.Event) []string {
	var s []string
	for _, ev := range evs {
		code := ""
		if ev.ErrorInformation != nil {
			code = " " + ev.ErrorInformation.ErrorCode + ": " + ev.ErrorInformation.Reason
		}
		s = append(s, fmt.Sprintf("%s %s/%s%s", ev.SourceIdentity.ID, ev.Action, ev.Status, code))
	}
	return s
}

func errUnauthorized() error {
	return &connectors.Error{Class: connectors.ClassUnauthorized, Code: "Unauthorized", Status: 401, Message: "invalid bearer token", Request: "GET /scim/v2/Users"}
}

func errRetryable() error {
	return &connectors.Error{Class: connectors.ClassRetryable, Code: "InternalServerError", Status: 500, Message: "boom", Request: "POST /scim/v2/Users"}
}

func provisioningMappingTitle() mapping.AttributeMapping {
	return mapping.AttributeMapping{Type: mapping.Direct, Source: "jobTitle", Target: "title"}
}
