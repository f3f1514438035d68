package ldap_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/ldap"
	"github.com/provisiond/provisiond/connectors/ldap/slapdtest"
)

// readAll runs one read and returns its changes.
func readAll(t *testing.T, src *ldap.Source, typ connectors.ObjectType, wm string) ([]connectors.Change, connectors.ReadResult) {
	t.Helper()
	var out []connectors.Change
	res, err := src.Read(context.Background(), connectors.ReadRequest{Type: typ, Watermark: wm}, func(ch connectors.Change) error {
		out = append(out, ch)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s %q: %v", typ, wm, err)
	}
	return out, res
}

func byID(changes []connectors.Change) map[string]connectors.Change {
	m := map[string]connectors.Change{}
	for _, ch := range changes {
		m[ch.Object.ID] = ch
	}
	return m
}

func uuidOf(t *testing.T, srv *slapdtest.Server, conn *goldap.Conn, dn string) string {
	t.Helper()
	e := srv.Entry(conn, dn, "entryUUID")
	if e == nil {
		t.Fatalf("%s does not exist", dn)
	}
	return e.GetAttributeValue("entryUUID")
}

// directory seeds a boss, 12 reports (more than two pages of 5), a locked user and a group.
func directory(t *testing.T, srv *slapdtest.Server, conn *goldap.Conn) (boss string, users []string, locked, group string) {
	boss = srv.AddUser(conn, "boss", map[string][]string{"mail": {"boss@example.org"}, "userPassword": {"boss-pw"}})
	for i := 0; i < 12; i++ {
		users = append(users, srv.AddUser(conn, fmt.Sprintf("u%02d", i), map[string][]string{"manager": {boss}}))
	}
	locked = srv.AddUser(conn, "locked", nil)
	m := goldap.NewModifyRequest(locked, nil)
	m.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	group = "cn=staff," + slapdtest.GroupsDN
	req := goldap.NewAddRequest(group, nil)
	req.Attribute("objectClass", []string{"groupOfNames"})
	req.Attribute("cn", []string{"staff"})
	req.Attribute("member", []string{users[0], strings.ToUpper(users[1]), boss, slapdtest.Placeholder,
		"cn=outsider," + slapdtest.Suffix, "uid=ghost," + slapdtest.PeopleDN})
	if err := conn.Add(req); err != nil {
		t.Fatal(err)
	}
	return boss, users, locked, group
}

func TestSourceSyncrepl(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	boss, users, locked, group := directory(t, srv, conn)
	src, err := ldap.NewSource(config(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	if err := src.Test(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := src.Mode(ctx); err != nil || m != ldap.IncrementalSyncrepl {
		t.Fatalf("mode %q %v, want syncrepl (slapd has syncprov)", m, err)
	}

	changes, res := readAll(t, src, connectors.TypeUser, "")
	if !res.Full || !strings.HasPrefix(res.Watermark, "syncrepl:") {
		t.Fatalf("full read result %+v", res)
	}
	if len(changes) != 14 {
		t.Fatalf("%d users, want 14", len(changes))
	}
	m := byID(changes)
	bossID, u0 := uuidOf(t, srv, conn, boss), uuidOf(t, srv, conn, users[0])
	ada := m[u0].Object
	if ada.Type != connectors.TypeUser || ada.Attributes["uid"] != "u00" || ada.Attributes["dn"] != users[0] ||
		ada.Attributes["manager"] != bossID || ada.Attributes[connectors.AttrAccountEnabled] != true || ada.Attributes["entryUUID"] != u0 {
		t.Errorf("u00 %+v", ada)
	}
	if b := m[bossID].Object; b.Attributes["userPassword"] != nil || b.Attributes["manager"] != nil {
		t.Errorf("boss %+v", b.Attributes)
	}
	if l := m[uuidOf(t, srv, conn, locked)].Object; l.Attributes[connectors.AttrAccountEnabled] != false {
		t.Errorf("locked user %+v", l.Attributes)
	}
	// The same content reads in the same order (the engine resumes by position).
	again, _ := readAll(t, src, connectors.TypeUser, "")
	for i := range changes {
		if again[i].Object.ID != changes[i].Object.ID {
			t.Fatalf("order differs at %d", i)
		}
	}

	groups, gres := readAll(t, src, connectors.TypeGroup, "")
	if !gres.Full || len(groups) != 1 {
		t.Fatalf("groups %v %+v", groups, gres)
	}
	g := groups[0].Object
	want := []string{u0, uuidOf(t, srv, conn, users[1]), bossID}
	slices.Sort(want)
	got := slices.Clone(g.Attributes[connectors.AttrMembers].([]string))
	slices.Sort(got)
	if !reflect.DeepEqual(got, want) || g.Attributes["member"] != nil {
		t.Errorf("members %v, want %v (placeholder, non-users and missing users dropped); attributes %v", got, want, g.Attributes)
	}

	// Changes: a modify, an add, a delete, a rename.
	mod := goldap.NewModifyRequest(users[3], nil)
	mod.Replace("mail", []string{"u03@new.example.org"})
	if err := conn.Modify(mod); err != nil {
		t.Fatal(err)
	}
	added := srv.AddUser(conn, "u99", map[string][]string{"manager": {users[2]}})
	gone := uuidOf(t, srv, conn, users[4])
	if err := conn.Del(goldap.NewDelRequest(users[4], nil)); err != nil {
		t.Fatal(err)
	}
	if err := conn.ModifyDN(goldap.NewModifyDNRequest(users[5], "uid=u05b", true, "")); err != nil {
		t.Fatal(err)
	}
	inc, ires := readAll(t, src, connectors.TypeUser, res.Watermark)
	if ires.Full || ires.Watermark == res.Watermark || !strings.HasPrefix(ires.Watermark, "syncrepl:") {
		t.Fatalf("incremental result %+v", ires)
	}
	var kinds []string
	for _, ch := range inc {
		kinds = append(kinds, string(ch.Kind)+" "+fmt.Sprint(ch.Object.Attributes["uid"]))
	}
	wantKinds := []string{"upsert u03", "upsert u05b", "upsert u99", "delete <nil>"}
	if len(inc) != 4 || !slices.Equal(sortedPrefix(kinds, 3), sortedPrefix(wantKinds, 3)) || kinds[3] != wantKinds[3] || inc[3].Object.ID != gone {
		t.Errorf("incremental changes %v, want %v (delete of %s last)", kinds, wantKinds, gone)
	}
	for i := 1; i < 3; i++ {
		if inc[i-1].Object.ID > inc[i].Object.ID {
			t.Errorf("upserts not sorted by ID")
		}
	}
	if u99 := byID(inc)[uuidOf(t, srv, conn, added)].Object; u99.Attributes["manager"] != uuidOf(t, srv, conn, users[2]) {
		t.Errorf("u99 manager %v", u99.Attributes["manager"])
	}
	// Nothing changed since: no changes, same kind of watermark.
	idle, idleRes := readAll(t, src, connectors.TypeUser, ires.Watermark)
	if len(idle) != 0 || idleRes.Full {
		t.Errorf("idle read %v %+v", idle, idleRes)
	}
	// Group: a new member (the renamed user, named by its new DN).
	add := goldap.NewModifyRequest(group, nil)
	add.Add("member", []string{"uid=u05b," + slapdtest.PeopleDN})
	if err := conn.Modify(add); err != nil {
		t.Fatal(err)
	}
	ginc, _ := readAll(t, src, connectors.TypeGroup, gres.Watermark)
	if len(ginc) != 1 || !slices.Contains(ginc[0].Object.Attributes["members"].([]string), uuidOf(t, srv, conn, "uid=u05b,"+slapdtest.PeopleDN)) {
		t.Errorf("group incremental %v", ginc)
	}
	// An unusable watermark (expired cookie, another mode, garbage) means a full read.
	latest := ""
	for _, wm := range []string{"syncrepl:" + "cmlkPTAwMCxjc249MTk5OTAxMDEwMDAwMDAuMDAwMDAwWiMwMDAwMDAjMDAwIzAwMDAwMA", "timestamp:20200101000000Z", "syncrepl:!!", "junk"} {
		ch, r := readAll(t, src, connectors.TypeUser, wm)
		latest = r.Watermark
		if !r.Full || len(ch) != 14 || !strings.HasPrefix(r.Watermark, "syncrepl:") {
			t.Errorf("watermark %q: full=%v, %d changes, watermark %q", wm, r.Full, len(ch), r.Watermark)
		}
	}
	// A new process knows no IDs yet, so a refresh reporting deletes becomes a full read
	// (syncrepl does not say of which type a deleted entry was).
	fresh, err := ldap.NewSource(config(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if ch, r := readAll(t, fresh, connectors.TypeUser, latest); r.Full || len(ch) != 0 {
		t.Errorf("new process, nothing changed: full=%v %d changes", r.Full, len(ch))
	}
	if err := conn.Del(goldap.NewDelRequest(users[6], nil)); err != nil {
		t.Fatal(err)
	}
	if ch, r := readAll(t, fresh, connectors.TypeUser, latest); !r.Full || len(ch) != 13 {
		t.Errorf("new process, a delete: full=%v %d changes, want a full read of 13", r.Full, len(ch))
	}
	// Get by source ID.
	o, err := src.Get(ctx, connectors.TypeUser, u0)
	if err != nil || o.Attributes["uid"] != "u00" || o.Attributes["manager"] != bossID {
		t.Errorf("get %+v %v", o, err)
	}
	_, err = src.Get(ctx, connectors.TypeUser, gone)
	connError(t, err, connectors.ClassNotFound, "")
	_, err = src.Get(ctx, connectors.TypeUser, "x)(uid=*")
	connError(t, err, connectors.ClassNotFound, "")
}

func sortedPrefix(s []string, n int) []string {
	p := slices.Clone(s[:min(n, len(s))])
	slices.Sort(p)
	return p
}

// Without a session log, slapd answers a refresh with a present phase: deletes cannot be
// listed, so the read turns into a full read (the engine then reconciles deletes).
func TestSourceSyncreplPresentPhase(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{NoSessionLog: true})
	conn := srv.Conn()
	_, users, _, _ := directory(t, srv, conn)
	src, err := ldap.NewSource(config(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, res := readAll(t, src, connectors.TypeUser, "")
	if err := conn.Del(goldap.NewDelRequest(users[7], nil)); err != nil {
		t.Fatal(err)
	}
	ch, r := readAll(t, src, connectors.TypeUser, res.Watermark)
	if !r.Full || len(ch) != 13 {
		t.Errorf("after a delete: full=%v with %d users, want a full read of 13", r.Full, len(ch))
	}
}

func TestSourceTimestamp(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	_, users, _, group := directory(t, srv, conn)
	cfg := config(srv)
	cfg.Incremental = ldap.IncrementalTimestamp
	src, err := ldap.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	all, res := readAll(t, src, connectors.TypeUser, "")
	if !res.Full || len(all) != 14 || !strings.HasPrefix(res.Watermark, "timestamp:20") {
		t.Fatalf("full read: %d users, %+v", len(all), res)
	}
	mod := goldap.NewModifyRequest(users[3], nil)
	mod.Replace("mail", []string{"u03@new.example.org"})
	if err := conn.Modify(mod); err != nil {
		t.Fatal(err)
	}
	if err := conn.Del(goldap.NewDelRequest(users[4], nil)); err != nil {
		t.Fatal(err)
	}
	inc, ires := readAll(t, src, connectors.TypeUser, res.Watermark)
	if ires.Full {
		t.Error("a timestamp read cannot see deletes, so it is never Full")
	}
	m := byID(inc)
	u3 := m[uuidOf(t, srv, conn, users[3])]
	if u3.Kind != connectors.ChangeUpsert || u3.Object.Attributes["mail"] != "u03@new.example.org" {
		t.Errorf("modified user missing from %d changes", len(inc))
	}
	for _, ch := range inc {
		if ch.Kind == connectors.ChangeDelete {
			t.Errorf("a delete in a timestamp read: %v", ch)
		}
	}
	if ires.Watermark < res.Watermark {
		t.Errorf("watermark went back: %s < %s", ires.Watermark, res.Watermark)
	}
	// The ">=" filter is escaped: a hostile watermark is a full read, not a filter.
	ch, r := readAll(t, src, connectors.TypeUser, "timestamp:*)(uid=*")
	if !r.Full || len(ch) != 13 {
		t.Errorf("hostile watermark: full=%v %d", r.Full, len(ch))
	}
	g, _ := readAll(t, src, connectors.TypeGroup, "")
	if len(g) != 1 || g[0].Object.Attributes["dn"] != group {
		t.Errorf("groups %v", g)
	}
}

func TestSourceIDAttributes(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	boss, users, _, _ := directory(t, srv, conn)
	t.Run("dn", func(t *testing.T) {
		cfg := config(srv)
		cfg.IDAttribute = "dn"
		src, err := ldap.NewSource(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if m, _ := src.Mode(context.Background()); m != ldap.IncrementalTimestamp {
			t.Errorf("mode %s: syncrepl needs entryUUID IDs", m)
		}
		u, _ := readAll(t, src, connectors.TypeUser, "")
		if o := byID(u)[users[0]].Object; o.Attributes["manager"] != boss {
			t.Errorf("manager %v", o.Attributes["manager"])
		}
		g, _ := readAll(t, src, connectors.TypeGroup, "")
		got := slices.Clone(g[0].Object.Attributes["members"].([]string))
		slices.Sort(got)
		want := []string{boss, users[0], users[1]}
		slices.Sort(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("members %v, want %v", got, want)
		}
		if o, err := src.Get(context.Background(), connectors.TypeUser, users[2]); err != nil || o.ID != users[2] {
			t.Errorf("get %v %v", o.ID, err)
		}
	})
	t.Run("attribute", func(t *testing.T) {
		cfg := config(srv)
		cfg.IDAttribute = "uid"
		cfg.Incremental = ldap.IncrementalNone
		src, err := ldap.NewSource(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		u, res := readAll(t, src, connectors.TypeUser, "")
		if o := byID(u)["u00"].Object; o.Attributes["manager"] != "boss" || !res.Full || res.Watermark != "" {
			t.Errorf("u00 %v, result %+v", o.Attributes, res)
		}
		_, res = readAll(t, src, connectors.TypeUser, "anything")
		if !res.Full {
			t.Error("incremental none must read everything")
		}
	})
}
