package ldap_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/ldap"
	"github.com/provisiond/provisiond/connectors/ldap/slapdtest"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/provisioning/mapping"
	"github.com/provisiond/provisiond/store/sqlite"
)

// events records the engine's provisioning events.
type events struct {
	provisioning.Observer
	mu  sync.Mutex
	evs []provisioning.Event
}

func (e *events) CycleStarted(context.Context, *provisioning.Job, provisioning.Cycle) {}
func (e *events) CycleEnded(context.Context, *provisioning.Job, provisioning.Cycle)   {}
func (e *events) StatusChanged(context.Context, *provisioning.Job, provisioning.StatusChange, provisioning.Status) {
}
func (e *events) AdminAction(context.Context, provisioning.AuditEntry) {}
func (e *events) Events(_ context.Context, _ *provisioning.Job, evs []provisioning.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, evs...)
	e.mu.Unlock()
}

func (e *events) take() []provisioning.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.evs
	e.evs = nil
	return out
}

func hrUser(id, userName, given, sur, manager string) connectors.Object {
	a := connectors.Attributes{"id": id, "userName": userName, "givenName": given, "surname": sur,
		"displayName": given + " " + sur, "mail": userName + "@example.org", "accountEnabled": true}
	if manager != "" {
		a["manager"] = manager
	}
	return connectors.Object{Type: connectors.TypeUser, ID: id, Attributes: a}
}

// TestEngineCycles runs provisioning.Engine from a memory source to slapd: an initial cycle,
// then an incremental one with an update, a rename, a disable and membership changes, each
// verified by searching the directory.
func TestEngineCycles(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tgt := newClient(t, config(srv))

	src := memory.NewSource()
	src.Put(hrUser("E1", "ada", "Ada", "Lovelace", "E9"))
	src.Put(hrUser("E2", "alan", "Alan", "Turing", "E9"))
	src.Put(hrUser("E3", "carl", "Carl", "Friedrich", ""))
	src.Put(hrUser("E9", "grace", "Grace", "Hopper", ""))
	src.Put(connectors.Object{Type: connectors.TypeGroup, ID: "G1", Attributes: connectors.Attributes{
		"id": "G1", "displayName": "Engineering", "members": []string{"E1", "E2", "E9"}}})

	job := provisioning.Job{
		ID: "ldap", Name: "HR to LDAP", SourceSystem: "HR", TargetSystem: "LDAP",
		Settings: provisioning.Settings{Workers: 4, BatchSize: 3, EscrowRetryBase: provisioning.Duration(time.Hour)},
		Users: mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "userName", Target: "uid", MatchingPrecedence: 1, Required: true},
			{Type: mapping.Direct, Source: "displayName", Target: "cn"},
			{Type: mapping.Direct, Source: "surname", Target: "sn"},
			{Type: mapping.Direct, Source: "givenName", Target: "givenName"},
			{Type: mapping.Direct, Source: "mail", Target: "mail"},
			{Type: mapping.Direct, Source: "id", Target: "employeeNumber"},
			{Type: mapping.Direct, Source: "manager", Target: "manager", Reference: true},
		}},
		Groups: &mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "displayName", Target: "cn", MatchingPrecedence: 1},
			{Type: mapping.Direct, Source: "members", Target: "members", Reference: true},
		}},
	}
	obs := &events{}
	eng := provisioning.New(provisioning.Options{Store: st, Observer: obs})
	if err := eng.AddJob(ctx, job, src, tgt); err != nil {
		t.Fatal(err)
	}
	run := func(want provisioning.CycleType) provisioning.Cycle {
		t.Helper()
		c, err := eng.RunCycle(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Type != want || c.State != provisioning.CycleSucceeded {
			t.Fatalf("cycle %s %s, want %s Succeeded (error %+v)", c.Type, c.State, want, c.Error)
		}
		for _, ev := range obs.take() {
			if ev.Status == provisioning.ResultFailure {
				t.Errorf("event %s %s: %+v", ev.SourceIdentity.ID, ev.Action, ev.ErrorInformation)
			}
		}
		return c
	}
	dn := func(uid string) string { return "uid=" + uid + "," + slapdtest.PeopleDN }
	group := "cn=Engineering," + slapdtest.GroupsDN
	checkMembers := func(want ...string) {
		t.Helper()
		got := members(t, srv, conn, group, "member")
		if !slices.Equal(got, lower(want...)) {
			t.Errorf("members %v, want %v", got, lower(want...))
		}
	}

	c1 := run(provisioning.CycleInitial)
	if c1.CountExported < 5 {
		t.Errorf("exported %d", c1.CountExported)
	}
	ada := srv.Entry(conn, dn("ada"))
	if ada == nil || ada.GetAttributeValue("cn") != "Ada Lovelace" || ada.GetAttributeValue("employeeNumber") != "E1" ||
		!strings.EqualFold(ada.GetAttributeValue("manager"), dn("grace")) {
		t.Fatalf("ada %v", ada)
	}
	checkMembers(dn("ada"), dn("alan"), dn("grace"))
	// An export step records its LDAP calls.
	if got := len(srv.Search(conn, slapdtest.PeopleDN, "(objectClass=inetOrgPerson)")); got != 4 {
		t.Errorf("%d users in the directory", got)
	}

	// Source changes: Ada's mail, Grace's userName (a rename), Alan disabled, Ada out of the
	// group, a new user Dan in it.
	a := hrUser("E1", "ada", "Ada", "Lovelace", "E9")
	a.Attributes["mail"] = "ada.lovelace@example.org"
	src.Put(a)
	src.Put(hrUser("E9", "grace.hopper", "Grace", "Hopper", ""))
	alan := hrUser("E2", "alan", "Alan", "Turing", "E9")
	alan.Attributes["accountEnabled"] = false
	src.Put(alan)
	src.Put(hrUser("E4", "dan", "Dan", "Brown", "E9"))
	src.Put(connectors.Object{Type: connectors.TypeGroup, ID: "G1", Attributes: connectors.Attributes{
		"id": "G1", "displayName": "Engineering", "members": []string{"E2", "E4", "E9"}}})

	run(provisioning.CycleIncremental)
	if got := srv.Entry(conn, dn("ada")).GetAttributeValue("mail"); got != "ada.lovelace@example.org" {
		t.Errorf("ada mail %q", got)
	}
	if srv.Entry(conn, dn("grace")) != nil || srv.Entry(conn, dn("grace.hopper")) == nil {
		t.Error("grace was not renamed to uid=grace.hopper")
	}
	if got := srv.Entry(conn, dn("alan"), "pwdAccountLockedTime").GetAttributeValue("pwdAccountLockedTime"); got != "000001010000Z" {
		t.Errorf("alan not disabled: pwdAccountLockedTime %q", got)
	}
	// Dan's manager is Grace's new DN (refint rewrote the others).
	if got := srv.Entry(conn, dn("dan"), "manager").GetAttributeValue("manager"); !strings.EqualFold(got, dn("grace.hopper")) {
		t.Errorf("dan's manager %q", got)
	}
	// Ada left, Dan joined, Grace was renamed. (Alan stays a member: the engine applies
	// disables after the group phase, once the deletion threshold is checked.)
	checkMembers(dn("alan"), dn("dan"), dn("grace.hopper"))
	if got := srv.Search(conn, slapdtest.GroupsDN, "(member="+dn("grace.hopper")+")"); len(got) != 1 {
		t.Errorf("search by member: %v", got)
	}

	// Alan comes back: re-enabled (the Enabler) and a member again.
	alan.Attributes["accountEnabled"] = true
	src.Put(alan)
	src.Put(connectors.Object{Type: connectors.TypeGroup, ID: "G1", Attributes: connectors.Attributes{
		"id": "G1", "displayName": "Engineering", "members": []string{"E2", "E4", "E9", "E3"}}})
	run(provisioning.CycleIncremental)
	if got := srv.Entry(conn, dn("alan"), "pwdAccountLockedTime").GetAttributeValue("pwdAccountLockedTime"); got != "" {
		t.Errorf("alan still locked: %q", got)
	}
	checkMembers(dn("alan"), dn("carl"), dn("dan"), dn("grace.hopper"))

	// The event of an export carries its LDAP calls.
	src.Put(hrUser("E3", "carl", "Carl", "Gauss", ""))
	if _, err := eng.RunCycle(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, ev := range obs.take() {
		if ev.SourceIdentity.ID != "E3" {
			continue
		}
		for _, s := range ev.ProvisioningSteps {
			for _, c := range s.Calls {
				calls = append(calls, fmt.Sprintf("%s %s %s %d", s.ProvisioningStepType, c.Method, c.Target, c.Status))
			}
		}
	}
	if want := "export modify " + dn("carl") + " 0"; !slices.Contains(calls, want) {
		t.Errorf("calls of E3's update %v, want %q", calls, want)
	}
	if got := srv.Entry(conn, dn("carl"), "sn").GetAttributeValue("sn"); got != "Gauss" {
		t.Errorf("carl sn %q", got)
	}
}

// TestEngineSource runs the engine from slapd (the LDAP source) to a memory target: an
// initial cycle and an incremental one that sees a change and a delete (syncrepl).
func TestEngineSource(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	ctx := context.Background()
	_, users, _, _ := directory(t, srv, conn)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src, err := ldap.NewSource(config(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tgt := memory.NewTarget()
	job := provisioning.Job{
		ID: "from-ldap", SourceSystem: "LDAP", TargetSystem: "App",
		Settings: provisioning.Settings{Workers: 2, BatchSize: 4, EscrowRetryBase: provisioning.Duration(time.Hour)},
		Users: mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "uid", Target: "userName", MatchingPrecedence: 1, Required: true},
			{Type: mapping.Direct, Source: "mail", Target: "mail"},
			{Type: mapping.Direct, Source: "manager", Target: "manager", Reference: true},
		}},
		Groups: &mapping.ObjectMapping{Attributes: []mapping.AttributeMapping{
			{Type: mapping.Direct, Source: "cn", Target: "displayName", MatchingPrecedence: 1},
			{Type: mapping.Direct, Source: "members", Target: "members", Reference: true},
		}},
	}
	eng := provisioning.New(provisioning.Options{Store: st, Observer: &events{}})
	if err := eng.AddJob(ctx, job, src, tgt); err != nil {
		t.Fatal(err)
	}
	c, err := eng.RunCycle(ctx, job.ID)
	if err != nil || c.State != provisioning.CycleSucceeded {
		t.Fatalf("initial cycle %+v %v", c, err)
	}
	byName := func() map[string]connectors.TargetObject {
		m := map[string]connectors.TargetObject{}
		for _, o := range tgt.Objects(connectors.TypeUser) {
			m[o.Attributes["userName"].(string)] = o
		}
		return m
	}
	u := byName()
	// 13 enabled users (the locked one is disabled in the source, so never created).
	if len(u) != 13 || u["u01"].Attributes["manager"] != u["boss"].ID {
		t.Fatalf("%d users; u01 %v boss %v", len(u), u["u01"], u["boss"])
	}
	g := tgt.Objects(connectors.TypeGroup)
	if len(g) != 1 || len(tgt.Members(g[0].ID)) != 3 {
		t.Errorf("groups %v", g)
	}
	modify := goldap.NewModifyRequest(users[2], nil)
	modify.Replace("mail", []string{"u02@new.example.org"})
	if err := conn.Modify(modify); err != nil {
		t.Fatal(err)
	}
	if err := conn.Del(goldap.NewDelRequest(users[3], nil)); err != nil {
		t.Fatal(err)
	}
	c, err = eng.RunCycle(ctx, job.ID)
	if err != nil || c.Type != provisioning.CycleIncremental || c.State != provisioning.CycleSucceeded {
		t.Fatalf("incremental cycle %+v %v", c, err)
	}
	u = byName()
	if u["u02"].Attributes["mail"] != "u02@new.example.org" {
		t.Errorf("u02 %v", u["u02"].Attributes)
	}
	if o, ok := u["u03"]; ok {
		t.Errorf("u03 was deleted in LDAP but is still in the target: %v", o.Attributes)
	}
}
