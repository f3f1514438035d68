package ldap_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/ldap"
	"github.com/provisiond/provisiond/connectors/ldap/slapdtest"
)

func TestTargetUsers(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	c := newClient(t, config(srv))
	ctx := context.Background()
	if err := c.Test(ctx); err != nil {
		t.Fatalf("Test: %v", err)
	}

	t.Run("create", func(t *testing.T) {
		o, err := c.Create(ctx, connectors.TypeUser, person("ada", "givenName", "Ada", "telephoneNumber", []string{"+1 1", "+1 2"},
			"employeeNumber", int64(42), "displayName", ""))
		if err != nil {
			t.Fatal(err)
		}
		if o.ID != "uid=ada,"+slapdtest.PeopleDN {
			t.Errorf("ID %q", o.ID)
		}
		e := srv.Entry(conn, o.ID)
		if e == nil {
			t.Fatal("entry missing")
		}
		if got := e.GetAttributeValues("telephoneNumber"); !reflect.DeepEqual(got, []string{"+1 1", "+1 2"}) {
			t.Errorf("telephoneNumber %v", got)
		}
		if e.GetAttributeValue("employeeNumber") != "42" || e.GetAttributeValue("givenName") != "Ada" {
			t.Errorf("attributes %v", e.Attributes)
		}
		if e.GetAttributeValue("displayName") != "" {
			t.Error("an empty string was written")
		}
		if !slices.Contains(e.GetAttributeValues("objectClass"), "inetOrgPerson") {
			t.Errorf("objectClass %v", e.GetAttributeValues("objectClass"))
		}
		// The same DN again: a conflict naming the DN.
		_, err = c.Create(ctx, connectors.TypeUser, person("ada"))
		ce := connError(t, err, connectors.ClassConflict, ldap.CodeEntryConflict)
		if ce.Status != 68 || ce.Request != "add uid=ada,"+slapdtest.PeopleDN || !strings.Contains(ce.Message, "already exists") {
			t.Errorf("conflict %+v", ce)
		}
	})

	t.Run("create adds the naming value", func(t *testing.T) {
		cl := newClient(t, func() ldap.Config {
			cfg := config(srv)
			cfg.Users.DNTemplate = "cn={employeeNumber},ou=People,dc=example,dc=org"
			return cfg
		}())
		id := mustCreate(t, cl, connectors.TypeUser, connectors.Attributes{"uid": "num", "sn": "n", "employeeNumber": "E-1001"})
		if id != "cn=E-1001,"+slapdtest.PeopleDN || srv.Entry(conn, id).GetAttributeValue("cn") != "E-1001" {
			t.Errorf("id %s entry %v", id, srv.Entry(conn, id).Attributes)
		}
	})

	t.Run("find and get", func(t *testing.T) {
		mustCreate(t, c, connectors.TypeUser, person("bob", "departmentNumber", "42"))
		mustCreate(t, c, connectors.TypeUser, person("bea", "departmentNumber", "42"))
		found, err := c.Find(ctx, connectors.TypeUser, "uid", "bob")
		if err != nil || len(found) != 1 || found[0].ID != "uid=bob,"+slapdtest.PeopleDN {
			t.Fatalf("find bob: %v %v", found, err)
		}
		if found[0].Attributes["mail"] != "bob@example.org" || found[0].Attributes["userPassword"] != nil {
			t.Errorf("attributes %v", found[0].Attributes)
		}
		if found, err := c.Find(ctx, connectors.TypeUser, "departmentNumber", "42"); err != nil || len(found) != 2 {
			t.Errorf("two matches: %v %v", found, err)
		}
		if found, err := c.Find(ctx, connectors.TypeUser, "uid", "nobody"); err != nil || len(found) != 0 {
			t.Errorf("no match: %v %v", found, err)
		}
		if found, err := c.Find(ctx, connectors.TypeUser, "dn", "uid=bob,"+slapdtest.PeopleDN); err != nil || len(found) != 1 {
			t.Errorf("by dn: %v %v", found, err)
		}
		o, err := c.Get(ctx, connectors.TypeUser, "uid=bob,"+slapdtest.PeopleDN)
		if err != nil || o.Attributes["sn"] != "bob" {
			t.Fatalf("get: %v %v", o, err)
		}
		_, err = c.Get(ctx, connectors.TypeUser, "uid=nobody,"+slapdtest.PeopleDN)
		ce := connError(t, err, connectors.ClassNotFound, ldap.CodeInvalidAnchor)
		if ce.Request != "search uid=nobody,"+slapdtest.PeopleDN || ce.Status != 32 {
			t.Errorf("not found %+v", ce)
		}
		// An entry that is not of the type (the People OU) is not found either.
		_, err = c.Get(ctx, connectors.TypeUser, slapdtest.PeopleDN)
		connError(t, err, connectors.ClassNotFound, "")
		_, err = c.Get(ctx, connectors.TypeUser, "not a dn")
		connError(t, err, connectors.ClassInvalid, ldap.CodeInvalidDN)
	})

	t.Run("filter and DN injection are harmless", func(t *testing.T) {
		for _, v := range []string{"*", "bob)(uid=*", "*)(|(uid=*", `bob\2a`, "bo*", "\x00"} {
			found, err := c.Find(ctx, connectors.TypeUser, "uid", v)
			if err != nil || len(found) != 0 {
				t.Errorf("find %q: %v %v", v, found, err)
			}
		}
		// A value with DN syntax stays one RDN value under ou=People.
		for i, uid := range []string{"evil,ou=Groups", "x+cn=admin", `back\slash`, " lead#", "#hash", `"quoted"`, "semi;colon", "ü-ñ", "trail "} {
			id := mustCreate(t, c, connectors.TypeUser, person(uid, "mail", fmt.Sprintf("inj%d@example.org", i)))
			d, err := goldap.ParseDN(id)
			if err != nil || len(d.RDNs) != 4 || len(d.RDNs[0].Attributes) != 1 || d.RDNs[0].Attributes[0].Value != strings.TrimSpace(uid) && d.RDNs[0].Attributes[0].Value != uid {
				t.Errorf("uid %q: DN %q (%v)", uid, id, err)
			}
			if e := srv.Entry(conn, id, "uid"); e == nil || e.GetAttributeValue("uid") != uid {
				t.Errorf("uid %q: entry %v", uid, e)
			}
			found, err := c.Find(ctx, connectors.TypeUser, "uid", uid)
			if err != nil || len(found) != 1 || !sameDN(found[0].ID, id) {
				t.Errorf("find %q: %v %v", uid, found, err)
			}
		}
		if got := srv.Search(conn, slapdtest.GroupsDN, "(uid=*)"); len(got) != 0 {
			t.Errorf("entries escaped ou=People: %v", got)
		}
	})

	t.Run("update", func(t *testing.T) {
		id := mustCreate(t, c, connectors.TypeUser, person("cy", "telephoneNumber", "1", "title", "Dev"))
		err := c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{
			{Name: "mail", Op: connectors.ModReplace, Value: "cy@new.example.org"},
			{Name: "telephoneNumber", Op: connectors.ModReplace, Value: []any{"1", "2", "3"}},
			{Name: "title", Op: connectors.ModRemove},
			{Name: "description", Op: connectors.ModRemove},               // absent: fine
			{Name: "employeeType", Op: connectors.ModReplace, Value: nil}, // absent and nil: fine
		})
		if err != nil {
			t.Fatal(err)
		}
		e := srv.Entry(conn, id)
		if e.GetAttributeValue("mail") != "cy@new.example.org" || len(e.GetAttributeValues("telephoneNumber")) != 3 || e.GetAttributeValue("title") != "" {
			t.Errorf("after update %v", e.Attributes)
		}
		if err := c.Update(ctx, connectors.TypeUser, id, nil); err != nil {
			t.Error(err)
		}
		err = c.Update(ctx, connectors.TypeUser, "uid=ghost,"+slapdtest.PeopleDN, []connectors.Modification{{Name: "mail", Op: connectors.ModReplace, Value: "x"}})
		connError(t, err, connectors.ClassNotFound, ldap.CodeInvalidAnchor)
		err = c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "noSuchAttributeType", Op: connectors.ModReplace, Value: "x"}})
		connError(t, err, connectors.ClassInvalid, ldap.CodeSchemaAttributeMissing)
		err = c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "sn", Op: connectors.ModRemove}})
		connError(t, err, connectors.ClassInvalid, ldap.CodeObjectClassViolation)
		err = c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "bad name!", Op: connectors.ModReplace, Value: "x"}})
		connError(t, err, connectors.ClassInvalid, ldap.CodeSchemaAttributeMissing)
	})

	t.Run("rename", func(t *testing.T) {
		state := t.TempDir()
		cfg := config(srv)
		cfg.StateDir = state
		c := newClient(t, cfg)
		id := mustCreate(t, c, connectors.TypeUser, person("dee"))
		err := c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{
			{Name: "uid", Op: connectors.ModReplace, Value: "dee.new"},
			{Name: "mail", Op: connectors.ModReplace, Value: "dee.new@example.org"},
		})
		if err != nil {
			t.Fatal(err)
		}
		newDN := "uid=dee.new," + slapdtest.PeopleDN
		if srv.Entry(conn, id) != nil {
			t.Error("the old DN still exists")
		}
		e := srv.Entry(conn, newDN)
		if e == nil || !reflect.DeepEqual(e.GetAttributeValues("uid"), []string{"dee.new"}) || e.GetAttributeValue("mail") != "dee.new@example.org" {
			t.Fatalf("renamed entry %v", e)
		}
		// The engine keeps using the old DN: it reaches the entry.
		o, err := c.Get(ctx, connectors.TypeUser, id)
		if err != nil || !sameDN(o.ID, newDN) {
			t.Errorf("get by old DN: %v %v", o.ID, err)
		}
		if err := c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "title", Op: connectors.ModReplace, Value: "Boss"}}); err != nil {
			t.Error(err)
		}
		if srv.Entry(conn, newDN).GetAttributeValue("title") != "Boss" {
			t.Error("update by old DN did not reach the renamed entry")
		}
		// After a restart (a new client on the same state directory) too.
		restarted := newClient(t, cfg)
		if o, err := restarted.Get(ctx, connectors.TypeUser, id); err != nil || !sameDN(o.ID, newDN) {
			t.Errorf("get by old DN after a restart: %v %v", o.ID, err)
		}
		// Without the journal the old DN is gone.
		_, err = newClient(t, config(srv)).Get(ctx, connectors.TypeUser, id)
		connError(t, err, connectors.ClassNotFound, "")
		// Removing the naming attribute is refused.
		err = c.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "uid", Op: connectors.ModRemove}})
		connError(t, err, connectors.ClassInvalid, ldap.CodeObjectClassViolation)
	})

	t.Run("move", func(t *testing.T) {
		for _, ou := range []string{"Eng", "Ops"} {
			req := goldap.NewAddRequest("ou="+ou+","+slapdtest.PeopleDN, nil)
			req.Attribute("objectClass", []string{"organizationalUnit"})
			req.Attribute("ou", []string{ou})
			if err := conn.Add(req); err != nil {
				t.Fatal(err)
			}
		}
		cfg := config(srv)
		cfg.Users.DNTemplate = "uid={uid},ou={departmentNumber},ou=People,dc=example,dc=org"
		cl := newClient(t, cfg)
		id := mustCreate(t, cl, connectors.TypeUser, person("eve", "departmentNumber", "Eng"))
		if id != "uid=eve,ou=Eng,"+slapdtest.PeopleDN {
			t.Fatalf("id %s", id)
		}
		if err := cl.Update(ctx, connectors.TypeUser, id, []connectors.Modification{{Name: "departmentNumber", Op: connectors.ModReplace, Value: "Ops"}}); err != nil {
			t.Fatal(err)
		}
		if srv.Entry(conn, "uid=eve,ou=Ops,"+slapdtest.PeopleDN) == nil || srv.Entry(conn, id) != nil {
			t.Error("not moved to ou=Ops")
		}
	})

	t.Run("delete", func(t *testing.T) {
		id := mustCreate(t, c, connectors.TypeUser, person("fay"))
		if err := c.Delete(ctx, connectors.TypeUser, id); err != nil {
			t.Fatal(err)
		}
		if srv.Entry(conn, id) != nil {
			t.Error("still there")
		}
		if err := c.Delete(ctx, connectors.TypeUser, id); err != nil {
			t.Errorf("deleting a missing entry: %v", err)
		}
		err := c.Delete(ctx, connectors.TypeUser, slapdtest.Suffix)
		connError(t, err, connectors.ClassInvalid, ldap.CodeNotAllowedOnNonLeaf)
	})

	t.Run("list pages", func(t *testing.T) {
		for i := 0; i < 23; i++ {
			mustCreate(t, c, connectors.TypeUser, person(fmt.Sprintf("page%02d", i), "departmentNumber", "paged"))
		}
		var n int
		err := c.List(ctx, connectors.TypeUser, []string{"UID", "mail"}, func(o connectors.TargetObject) error {
			if strings.HasPrefix(o.ID, "uid=page") {
				n++
				// Only the attributes asked for, spelled as asked.
				if o.Attributes["mail"] == nil || o.Attributes["UID"] == nil || o.Attributes["uid"] != nil || o.Attributes["sn"] != nil {
					t.Errorf("listed attributes %v", o.Attributes)
				}
			}
			return nil
		})
		if err != nil || n != 23 {
			t.Errorf("listed %d (page size 5), err %v", n, err)
		}
		found, err := c.Find(ctx, connectors.TypeUser, "departmentNumber", "paged")
		if err != nil || len(found) != 23 {
			t.Errorf("find across pages: %d %v", len(found), err)
		}
		stop := fmt.Errorf("stop")
		n = 0
		err = c.List(ctx, connectors.TypeUser, nil, func(connectors.TargetObject) error {
			if n++; n == 7 {
				return stop
			}
			return nil
		})
		if err != stop {
			t.Errorf("emit error %v, want it returned as is", err)
		}
		// The abandoned paged search left the pooled connection usable.
		if _, err := c.Find(ctx, connectors.TypeUser, "uid", "page01"); err != nil {
			t.Error(err)
		}
	})
}

func TestTargetDisable(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	ctx := context.Background()
	cases := []struct {
		name    string
		disable ldap.DisableConfig
		extra   []any
		check   func(e *goldap.Entry, disabled bool) error
	}{
		{"ppolicy lock (default)", ldap.DisableConfig{}, nil, func(e *goldap.Entry, disabled bool) error {
			got := e.GetAttributeValue("pwdAccountLockedTime")
			if disabled && got != "000001010000Z" || !disabled && got != "" {
				return fmt.Errorf("pwdAccountLockedTime %q", got)
			}
			return nil
		}},
		{"custom attribute", ldap.DisableConfig{Attribute: "employeeStatus", Value: "disabled", EnableValue: "active"},
			[]any{"objectClass", []string{"provisiondTestUser"}}, func(e *goldap.Entry, disabled bool) error {
				want := map[bool]string{true: "disabled", false: "active"}[disabled]
				if got := e.GetAttributeValue("employeeStatus"); got != want {
					return fmt.Errorf("employeeStatus %q, want %q", got, want)
				}
				return nil
			}},
		{"userAccountControl", ldap.DisableConfig{Mode: ldap.DisableUserAccountControl},
			[]any{"objectClass", []string{"provisiondTestUser"}, "userAccountControl", "66048"}, func(e *goldap.Entry, disabled bool) error {
				want := map[bool]string{true: "66050", false: "66048"}[disabled] // NORMAL_ACCOUNT|DONT_EXPIRE_PASSWD, plus ACCOUNTDISABLE
				if got := e.GetAttributeValue("userAccountControl"); got != want {
					return fmt.Errorf("userAccountControl %q, want %q", got, want)
				}
				return nil
			}},
		{"delete", ldap.DisableConfig{Mode: ldap.DisableDelete}, nil, func(e *goldap.Entry, disabled bool) error {
			if disabled != (e == nil) {
				return fmt.Errorf("entry %v after disable=%v", e, disabled)
			}
			return nil
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(srv)
			cfg.Disable = tc.disable
			c := newClient(t, cfg)
			id := mustCreate(t, c, connectors.TypeUser, person(fmt.Sprintf("dis%d", i), tc.extra...))
			if err := c.Disable(ctx, connectors.TypeUser, id); err != nil {
				t.Fatal(err)
			}
			if err := tc.check(srv.Entry(conn, id), true); err != nil {
				t.Error("disabled:", err)
			}
			if err := c.Disable(ctx, connectors.TypeUser, id); err != nil && tc.disable.Mode != ldap.DisableDelete {
				t.Errorf("disabling twice: %v", err)
			}
			err := c.Enable(ctx, connectors.TypeUser, id)
			if tc.disable.Mode == ldap.DisableDelete {
				connError(t, err, connectors.ClassNotFound, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(srv.Entry(conn, id), false); err != nil {
				t.Error("enabled:", err)
			}
			if err := c.Enable(ctx, connectors.TypeUser, id); err != nil {
				t.Errorf("enabling twice: %v", err)
			}
		})
	}
	t.Run("groups", func(t *testing.T) {
		c := newClient(t, config(srv))
		g := mustCreate(t, c, connectors.TypeGroup, connectors.Attributes{"cn": "g-dis"})
		connError(t, c.Disable(ctx, connectors.TypeGroup, g), connectors.ClassInvalid, ldap.CodeNotImplemented)
	})
	t.Run("userAccountControl read-modify-write under concurrency", func(t *testing.T) {
		cfg := config(srv)
		cfg.Disable = ldap.DisableConfig{Mode: ldap.DisableUserAccountControl}
		c := newClient(t, cfg)
		id := mustCreate(t, c, connectors.TypeUser, person("uacrace", "objectClass", []string{"provisiondTestUser"}, "userAccountControl", "512"))
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- c.Disable(ctx, connectors.TypeUser, id)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := srv.Entry(conn, id).GetAttributeValues("userAccountControl"); !reflect.DeepEqual(got, []string{"514"}) {
			t.Errorf("userAccountControl %v", got)
		}
	})
}

func TestTargetGroups(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{})
	conn := srv.Conn()
	ctx := context.Background()
	for _, attr := range []string{ldap.MemberAttr, ldap.UniqueMemberAttr} {
		t.Run(attr, func(t *testing.T) {
			cfg := config(srv)
			cfg.MemberAttribute = attr
			cfg.MemberBatchSize = 2
			if attr == ldap.UniqueMemberAttr {
				cfg.Groups.ObjectClasses = []string{"groupOfUniqueNames"}
			}
			c := newClient(t, cfg)
			var u []string
			for i := 0; i < 5; i++ {
				u = append(u, mustCreate(t, c, connectors.TypeUser, person(fmt.Sprintf("%s-m%d", attr, i))))
			}
			g := mustCreate(t, c, connectors.TypeGroup, connectors.Attributes{"cn": attr + " team", "description": "d"})
			if g != "cn="+attr+" team,"+slapdtest.GroupsDN {
				t.Errorf("group DN %s", g)
			}
			// An empty groupOfNames holds the placeholder.
			if got := members(t, srv, conn, g, attr); !reflect.DeepEqual(got, lower(slapdtest.Placeholder)) {
				t.Fatalf("new group members %v", got)
			}
			o, err := c.Get(ctx, connectors.TypeGroup, g)
			if err != nil || !reflect.DeepEqual(o.Attributes[attr], []string{slapdtest.Placeholder}) {
				t.Errorf("get group %v %v", o, err)
			}
			// Add three (two batches); the placeholder goes.
			if err := c.AddMembers(ctx, g, u[:3]); err != nil {
				t.Fatal(err)
			}
			if got := members(t, srv, conn, g, attr); !reflect.DeepEqual(got, lower(u[:3]...)) {
				t.Errorf("after add %v", got)
			}
			// Already a member: fine; duplicates in the request too.
			if err := c.AddMembers(ctx, g, []string{u[1], u[3], u[3], u[2]}); err != nil {
				t.Fatal(err)
			}
			if got := members(t, srv, conn, g, attr); !reflect.DeepEqual(got, lower(u[:4]...)) {
				t.Errorf("after re-add %v", got)
			}
			// Not a member: fine.
			if err := c.RemoveMembers(ctx, g, []string{u[0], u[4]}); err != nil {
				t.Fatal(err)
			}
			if got := members(t, srv, conn, g, attr); !reflect.DeepEqual(got, lower(u[1:4]...)) {
				t.Errorf("after remove %v", got)
			}
			// Removing everyone leaves the placeholder.
			if err := c.RemoveMembers(ctx, g, u); err != nil {
				t.Fatal(err)
			}
			if got := members(t, srv, conn, g, attr); !reflect.DeepEqual(got, lower(slapdtest.Placeholder)) {
				t.Errorf("emptied group %v", got)
			}
			if err := c.RemoveMembers(ctx, g, u[:1]); err != nil {
				t.Errorf("removing from an empty group: %v", err)
			}
			if err := c.AddMembers(ctx, g, u[4:]); err != nil {
				t.Fatal(err)
			}
			if got := members(t, srv, conn, g, attr); !reflect.DeepEqual(got, lower(u[4])) {
				t.Errorf("refilled group %v", got)
			}
			found, err := c.Find(ctx, connectors.TypeGroup, "cn", attr+" team")
			if err != nil || len(found) != 1 || !sameDN(found[0].ID, g) {
				t.Errorf("find group %v %v", found, err)
			}
			// Users are not groups.
			if found, err := c.Find(ctx, connectors.TypeGroup, "cn", "Person "+attr+"-m0"); err != nil || len(found) != 0 {
				t.Errorf("a user found as a group: %v %v", found, err)
			}
			connError(t, c.AddMembers(ctx, "cn=missing,"+slapdtest.GroupsDN, u[:1]), connectors.ClassNotFound, "")
			connError(t, c.AddMembers(ctx, g, []string{"not a dn"}), connectors.ClassInvalid, ldap.CodeInvalidDN)
			if err := c.Delete(ctx, connectors.TypeGroup, g); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("member follows a rename", func(t *testing.T) {
		c := newClient(t, config(srv))
		u := mustCreate(t, c, connectors.TypeUser, person("ren-m"))
		g := mustCreate(t, c, connectors.TypeGroup, connectors.Attributes{"cn": "ren-g"})
		if err := c.AddMembers(ctx, g, []string{u}); err != nil {
			t.Fatal(err)
		}
		if err := c.Update(ctx, connectors.TypeUser, u, []connectors.Modification{{Name: "uid", Op: connectors.ModReplace, Value: "ren-m2"}}); err != nil {
			t.Fatal(err)
		}
		// refint rewrote the member value; removing by the old DN reaches the new one.
		if err := c.RemoveMembers(ctx, g, []string{u}); err != nil {
			t.Fatal(err)
		}
		if got := members(t, srv, conn, g, "member"); !reflect.DeepEqual(got, lower(slapdtest.Placeholder)) {
			t.Errorf("members %v", got)
		}
	})
	t.Run("no groups configured", func(t *testing.T) {
		cfg := config(srv)
		cfg.Groups = ldap.TypeConfig{}
		c := newClient(t, cfg)
		_, err := c.Create(ctx, connectors.TypeGroup, connectors.Attributes{"cn": "x"})
		connError(t, err, connectors.ClassInvalid, ldap.CodeBadRequest)
	})
}
