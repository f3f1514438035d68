package memory_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
)

var ctx = context.Background()

func user(id, name string, extra ...any) connectors.Object {
	a := connectors.Attributes{"displayName": name}
	for i := 0; i+1 < len(extra); i += 2 {
		a[extra[i].(string)] = extra[i+1]
	}
	return connectors.Object{Type: connectors.TypeUser, ID: id, Attributes: a}
}

func read(t *testing.T, s *memory.Source, typ connectors.ObjectType, wm string) ([]string, connectors.ReadResult) {
	t.Helper()
	var out []string
	res, err := s.Read(ctx, connectors.ReadRequest{Type: typ, Watermark: wm}, func(c connectors.Change) error {
		if c.Kind == connectors.ChangeDelete {
			out = append(out, fmt.Sprintf("-%s(%s)", c.Object.ID, c.Object.DisplayName()))
		} else {
			out = append(out, "+"+c.Object.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, res
}

func TestSourceReads(t *testing.T) {
	s := memory.NewSource()
	s.Put(user("c", "Carol"))
	s.Put(user("a", "Alice"))
	s.Put(user("b", "Bob"))
	s.Put(connectors.Object{Type: connectors.TypeGroup, ID: "g", Attributes: connectors.Attributes{"members": []string{"a"}}})

	got, full := read(t, s, connectors.TypeUser, "")
	if !slices.Equal(got, []string{"+a", "+b", "+c"}) || !full.Full || full.Watermark != "4" {
		t.Fatalf("full read %v %+v", got, full)
	}
	if n, _ := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser}); n != 3 {
		t.Errorf("Estimate(full) = %d", n)
	}

	s.Put(user("d", "Dan"))
	s.Put(user("b", "Robert"))
	s.Delete(connectors.TypeUser, "c")
	s.Delete(connectors.TypeUser, "nobody") // no change
	s.Put(user("e", "Eve"))
	s.Delete(connectors.TypeUser, "e") // added and deleted since: reported as deleted
	s.Delete(connectors.TypeUser, "a")
	s.Put(user("a", "Alice again")) // deleted and re-created: an upsert
	if s.Watermark() != "11" {
		t.Fatalf("version %s", s.Watermark())
	}
	want := []string{"+a", "+b", "+d", "-c(Carol)", "-e(Eve)"}
	if n, _ := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: full.Watermark}); n != int64(len(want)) {
		t.Errorf("Estimate = %d", n)
	}
	got, inc := read(t, s, connectors.TypeUser, full.Watermark)
	if !slices.Equal(got, want) || inc.Full || inc.Watermark != "11" {
		t.Fatalf("incremental read %v %+v, want %v", got, inc, want)
	}
	// The same watermark again gives the same changes (crash resume).
	if again, res := read(t, s, connectors.TypeUser, full.Watermark); !slices.Equal(again, got) || res != inc {
		t.Fatalf("again: %v", again)
	}
	if got, res := read(t, s, connectors.TypeUser, inc.Watermark); len(got) != 0 || res.Full {
		t.Fatalf("nothing changed: %v %+v", got, res)
	}
	// A delete that a read already saw is not reported again.
	s.Delete(connectors.TypeUser, "d")
	seen := s.Watermark()
	if got, _ := read(t, s, connectors.TypeUser, seen); len(got) != 0 {
		t.Fatalf("Read(%s) after the delete at %s: %v", seen, seen, got)
	}
	s.Put(user("d", "Dan"))
	// Groups are read separately.
	if got, _ := read(t, s, connectors.TypeGroup, full.Watermark); len(got) != 0 {
		t.Fatalf("groups %v", got)
	}
	// Unknown watermarks mean a full read.
	for _, wm := range []string{"999", "x", "-1"} {
		if got, res := read(t, s, connectors.TypeUser, wm); !res.Full || !slices.Equal(got, []string{"+a", "+b", "+d"}) {
			t.Errorf("Read(%q) = %v %+v", wm, got, res)
		}
	}
	if _, err := s.Read(ctx, connectors.ReadRequest{Type: "Device"}, func(connectors.Change) error { return nil }); connectors.ClassOf(err) != connectors.ClassInvalid {
		t.Errorf("Read(Device) = %v", err)
	}
}

func TestSourceCopiesAndGet(t *testing.T) {
	s := memory.NewSource()
	attrs := connectors.Attributes{"displayName": "Alice", "tags": []string{"x"}}
	s.Put(connectors.Object{Type: connectors.TypeUser, ID: "a", Attributes: attrs})
	attrs["displayName"] = "changed"
	attrs["tags"].([]string)[0] = "changed"
	got, err := s.Get(ctx, connectors.TypeUser, "a")
	if err != nil || got.DisplayName() != "Alice" || got.Attributes["tags"].([]string)[0] != "x" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	got.Attributes["displayName"] = "mutated"
	s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(c connectors.Change) error {
		c.Object.Attributes["displayName"] = "mutated too"
		return nil
	})
	if again, _ := s.Get(ctx, connectors.TypeUser, "a"); again.DisplayName() != "Alice" {
		t.Fatalf("stored object changed by a caller: %+v", again)
	}
	if _, err := s.Get(ctx, connectors.TypeUser, "zz"); !connectors.IsNotFound(err) {
		t.Fatalf("Get(zz) = %v", err)
	}
	if _, err := s.Get(ctx, connectors.TypeGroup, "a"); !connectors.IsNotFound(err) {
		t.Fatalf("Get(group a) = %v", err)
	}
}

func TestSourceErrorsAndStops(t *testing.T) {
	s := memory.NewSource()
	for i := range 20 {
		s.Put(user(fmt.Sprintf("u%02d", i), "x"))
	}
	boom := &connectors.Error{Class: connectors.ClassConnection, Message: "down"}
	s.SetError(boom)
	if err := s.Test(ctx); err != boom {
		t.Errorf("Test = %v", err)
	}
	if _, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error { return nil }); err != boom {
		t.Errorf("Read = %v", err)
	}
	if _, err := s.Get(ctx, connectors.TypeUser, "u01"); err != boom {
		t.Errorf("Get = %v", err)
	}
	if _, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser}); err != boom {
		t.Errorf("Estimate = %v", err)
	}
	s.SetError(nil)
	if err := s.Test(ctx); err != nil {
		t.Errorf("Test = %v", err)
	}
	stop := errors.New("stop")
	n := 0
	if _, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	}); err != stop || n != 5 {
		t.Errorf("Read = %v after %d", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	n = 0
	if _, err := s.Read(cctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(connectors.Change) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	}); !errors.Is(err, context.Canceled) || n != 3 {
		t.Errorf("Read = %v after %d", err, n)
	}
	// emit may call back into the source.
	if _, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser}, func(c connectors.Change) error {
		s.Put(user(c.Object.ID+"x", "y"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestSourcePutWithoutID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Put without an ID did not panic")
		}
	}()
	memory.NewSource().Put(connectors.Object{Type: connectors.TypeUser})
}

func TestTargetCRUD(t *testing.T) {
	tg := memory.NewTarget()
	alice, err := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "Alice@X", "emails": []string{"a@x", "alice@x"}, "n": int64(7)})
	if err != nil || alice.ID != "t-1" || alice.Attributes["userName"] != "Alice@X" || alice.Version == "" {
		t.Fatalf("Create = %+v, %v", alice, err)
	}
	bob, _ := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "bob@x"})
	for _, tc := range []struct {
		attr  string
		value any
		want  []string
	}{
		{"userName", "alice@x", []string{"t-1"}},
		{"USERNAME", "ALICE@X", []string{"t-1"}},
		{"emails", "ALICE@x", []string{"t-1"}},
		{"n", 7, []string{"t-1"}},
		{"n", 7.0, []string{"t-1"}},
		{"n", "7", nil},
		{"id", "t-2", []string{"t-2"}},
		{"userName", "nobody", nil},
		{"missing", "x", nil},
	} {
		found, err := tg.Find(ctx, connectors.TypeUser, tc.attr, tc.value)
		var ids []string
		for _, o := range found {
			ids = append(ids, o.ID)
		}
		if err != nil || !slices.Equal(ids, tc.want) {
			t.Errorf("Find(%s, %v) = %v, %v; want %v", tc.attr, tc.value, ids, err, tc.want)
		}
	}
	if err := tg.Update(ctx, connectors.TypeUser, bob.ID, []connectors.Modification{
		{Name: "displayName", Op: connectors.ModReplace, Value: "Bob"},
		{Name: "emails", Op: connectors.ModReplace, Value: []string{"b@x", "bob@x"}},
		{Name: "userName", Op: connectors.ModReplace, Value: nil},
	}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Update(ctx, connectors.TypeUser, bob.ID, []connectors.Modification{
		{Name: "emails", Op: connectors.ModRemove, Value: []string{"b@x"}},
		{Name: "nothing", Op: connectors.ModRemove},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := tg.Get(ctx, connectors.TypeUser, bob.ID)
	if want := (connectors.Attributes{"displayName": "Bob", "emails": []string{"bob@x"}}); err != nil || !reflect.DeepEqual(got.Attributes, want) || got.Version != `W/"3"` {
		t.Fatalf("after updates: %+v, %v", got, err)
	}
	if err := tg.Disable(ctx, connectors.TypeUser, bob.ID); err != nil {
		t.Fatal(err)
	}
	if o, _ := tg.Get(ctx, connectors.TypeUser, bob.ID); o.Attributes["active"] != false {
		t.Fatalf("disabled: %+v", o)
	}
	if err := tg.Enable(ctx, connectors.TypeUser, bob.ID); err != nil {
		t.Fatal(err)
	}
	if o, _ := tg.Get(ctx, connectors.TypeUser, bob.ID); o.Attributes["active"] != true {
		t.Fatalf("enabled: %+v", o)
	}
	for _, err := range []error{
		tg.Update(ctx, connectors.TypeUser, "t-99", nil),
		tg.Disable(ctx, connectors.TypeUser, "t-99"),
		tg.Enable(ctx, connectors.TypeGroup, "t-1"),
		func() error { _, err := tg.Get(ctx, connectors.TypeUser, "t-99"); return err }(),
	} {
		var ce *connectors.Error
		if !errors.As(err, &ce) || ce.Class != connectors.ClassNotFound || ce.Status != 404 {
			t.Errorf("missing object: %v", err)
		}
	}
	if err := tg.Update(ctx, connectors.TypeUser, bob.ID, []connectors.Modification{{Name: "x", Op: "add", Value: 1}}); connectors.ClassOf(err) != connectors.ClassInvalid {
		t.Errorf("unknown op: %v", err)
	}
	if err := tg.Delete(ctx, connectors.TypeUser, alice.ID); err != nil {
		t.Fatal(err)
	}
	if err := tg.Delete(ctx, connectors.TypeUser, alice.ID); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	if objs := tg.Objects(connectors.TypeUser); len(objs) != 1 || objs[0].ID != bob.ID {
		t.Fatalf("Objects = %+v", objs)
	}
	// Objects are copies.
	tg.Objects(connectors.TypeUser)[0].Attributes["displayName"] = "x"
	if o, _ := tg.Get(ctx, connectors.TypeUser, bob.ID); o.Attributes["displayName"] != "Bob" {
		t.Fatal("Objects returned the stored map")
	}
}

func TestTargetUnique(t *testing.T) {
	tg := memory.NewTarget()
	tg.SetUnique(connectors.TypeUser, "userName")
	a, _ := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "jo@x"})
	_, err := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "JO@x"})
	var ce *connectors.Error
	if !errors.As(err, &ce) || ce.Class != connectors.ClassConflict || ce.Code != "EntryConflict" || ce.Status != 409 {
		t.Fatalf("duplicate create: %v", err)
	}
	b, err := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "other@x"})
	if err != nil {
		t.Fatal(err)
	}
	err = tg.Update(ctx, connectors.TypeUser, b.ID, []connectors.Modification{
		{Name: "displayName", Op: connectors.ModReplace, Value: "B"},
		{Name: "userName", Op: connectors.ModReplace, Value: "Jo@X"},
	})
	if !errors.As(err, &ce) || ce.Class != connectors.ClassConflict || ce.Status != 409 {
		t.Fatalf("duplicate update: %v", err)
	}
	if o, _ := tg.Get(ctx, connectors.TypeUser, b.ID); o.Attributes["displayName"] != nil {
		t.Fatal("a failed update was partly applied")
	}
	// Updating an object to its own value, or groups with the same value, is fine.
	if err := tg.Update(ctx, connectors.TypeUser, a.ID, []connectors.Modification{{Name: "userName", Op: connectors.ModReplace, Value: "JO@X"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Create(ctx, connectors.TypeGroup, connectors.Attributes{"userName": "jo@x"}); err != nil {
		t.Fatal(err)
	}
	if len(tg.Objects(connectors.TypeUser)) != 2 {
		t.Fatal("a conflicting create stored an object")
	}
}

func TestTargetMembership(t *testing.T) {
	tg := memory.NewTarget()
	u1, _ := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "a"})
	u2, _ := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "b"})
	g, err := tg.Create(ctx, connectors.TypeGroup, connectors.Attributes{"displayName": "G", "members": []string{u1.ID}})
	if err != nil || !slices.Equal(tg.Members(g.ID), []string{u1.ID}) {
		t.Fatalf("create with members: %+v %v", g, err)
	}
	if err := tg.AddMembers(ctx, g.ID, []string{u2.ID, u1.ID}); err != nil {
		t.Fatal(err)
	}
	if got := tg.Members(g.ID); !slices.Equal(got, []string{"t-1", "t-2"}) {
		t.Fatalf("members %v", got)
	}
	if o, _ := tg.Get(ctx, connectors.TypeGroup, g.ID); !reflect.DeepEqual(o.Attributes["members"], []string{"t-1", "t-2"}) {
		t.Fatalf("group %+v", o)
	}
	if err := tg.AddMembers(ctx, g.ID, []string{"t-404"}); connectors.ClassOf(err) != connectors.ClassInvalid {
		t.Fatalf("unknown member: %v", err)
	}
	if err := tg.AddMembers(ctx, "t-404", []string{u1.ID}); !connectors.IsNotFound(err) {
		t.Fatalf("unknown group: %v", err)
	}
	if err := tg.RemoveMembers(ctx, g.ID, []string{u1.ID, "t-77"}); err != nil {
		t.Fatal(err)
	}
	if got := tg.Members(g.ID); !slices.Equal(got, []string{"t-2"}) {
		t.Fatalf("members %v", got)
	}
	if err := tg.Update(ctx, connectors.TypeGroup, g.ID, []connectors.Modification{{Name: "members", Op: connectors.ModReplace, Value: []string{u1.ID}}}); err != nil {
		t.Fatal(err)
	}
	if got := tg.Members(g.ID); !slices.Equal(got, []string{"t-1"}) {
		t.Fatalf("members after replace %v", got)
	}
	// A deleted user leaves its groups.
	tg.Delete(ctx, connectors.TypeUser, u1.ID)
	if got := tg.Members(g.ID); len(got) != 0 {
		t.Fatalf("members after delete %v", got)
	}
}

func TestTargetCallsAndFailures(t *testing.T) {
	tg := memory.NewTarget()
	u, _ := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "a"})
	g, _ := tg.Create(ctx, connectors.TypeGroup, connectors.Attributes{"displayName": "g"})
	tg.ResetCalls()

	throttled := &connectors.Error{Class: connectors.ClassThrottled, Code: "TooManyRequests", Status: 429}
	type hookCall struct {
		op    string
		typ   connectors.ObjectType
		id    string
		attrs connectors.Attributes
	}
	var mu sync.Mutex
	var seen []hookCall
	tg.FailWhen(func(op string, typ connectors.ObjectType, id string, attrs connectors.Attributes) error {
		mu.Lock()
		seen = append(seen, hookCall{op, typ, id, attrs})
		mu.Unlock()
		if op == "create" && attrs["userName"] == "bad" || op == "update" && attrs["department"] == "X" {
			return throttled
		}
		if op == "test" {
			// The hook may look at the target.
			_ = tg.Objects(connectors.TypeUser)
		}
		return nil
	})
	tg.Test(ctx)
	tg.Find(ctx, connectors.TypeUser, "userName", "a")
	tg.Get(ctx, connectors.TypeUser, u.ID)
	if _, err := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "bad"}); err != throttled {
		t.Fatalf("create: %v", err)
	}
	tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "ok"})
	if err := tg.Update(ctx, connectors.TypeUser, u.ID, []connectors.Modification{{Name: "department", Op: connectors.ModReplace, Value: "X"}}); err != throttled {
		t.Fatalf("update: %v", err)
	}
	tg.Update(ctx, connectors.TypeUser, u.ID, []connectors.Modification{{Name: "title", Op: connectors.ModRemove}})
	tg.Disable(ctx, connectors.TypeUser, u.ID)
	tg.AddMembers(ctx, g.ID, []string{u.ID})
	tg.RemoveMembers(ctx, g.ID, []string{u.ID})
	tg.List(ctx, connectors.TypeUser, []string{"userName"}, func(connectors.TargetObject) error { return nil })
	tg.Delete(ctx, connectors.TypeUser, u.ID)

	wantOps := []string{"test", "find", "get", "create", "create", "update", "update", "disable", "addMembers", "removeMembers", "list", "delete"}
	calls := tg.Calls()
	var ops []string
	for _, c := range calls {
		ops = append(ops, c.Op)
	}
	if !slices.Equal(ops, wantOps) {
		t.Fatalf("calls %v", ops)
	}
	if len(seen) != len(wantOps) {
		t.Fatalf("hook saw %d operations", len(seen))
	}
	for i, want := range []hookCall{
		{"test", "", "", nil},
		{"find", connectors.TypeUser, "", connectors.Attributes{"userName": "a"}},
		{"get", connectors.TypeUser, u.ID, nil},
		{"create", connectors.TypeUser, "", connectors.Attributes{"userName": "bad"}},
	} {
		if !reflect.DeepEqual(seen[i], want) {
			t.Errorf("hook call %d = %+v, want %+v", i, seen[i], want)
		}
	}
	if h := seen[6]; h.op != "update" || h.id != u.ID || !reflect.DeepEqual(h.attrs, connectors.Attributes{"title": nil}) {
		t.Errorf("update hook %+v", h)
	}
	if h := seen[8]; h.op != "addMembers" || h.typ != connectors.TypeGroup || h.id != g.ID || !reflect.DeepEqual(h.attrs["members"], []string{u.ID}) {
		t.Errorf("addMembers hook %+v", h)
	}
	if c := calls[3]; c.Err != throttled || c.Attrs["userName"] != "bad" {
		t.Errorf("failed create call %+v", c)
	}
	if c := calls[4]; c.Err != nil || c.Type != connectors.TypeUser {
		t.Errorf("create call %+v", c)
	}
	if c := calls[5]; c.ID != u.ID || len(c.Mods) != 1 || c.Mods[0].Value != "X" || c.Err != throttled {
		t.Errorf("update call %+v", c)
	}
	if c := calls[8]; !slices.Equal(c.Members, []string{u.ID}) || c.ID != g.ID {
		t.Errorf("addMembers call %+v", c)
	}
	// A failed operation changed nothing.
	if len(tg.Objects(connectors.TypeUser)) != 1 { // "ok"; u deleted, "bad" never created
		t.Errorf("objects %+v", tg.Objects(connectors.TypeUser))
	}
	tg.FailWhen(nil)
	tg.ResetCalls()
	if len(tg.Calls()) != 0 {
		t.Fatal("ResetCalls")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tg.Create(cctx, connectors.TypeUser, connectors.Attributes{"userName": "late"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled create: %v", err)
	}
	if calls := tg.Calls(); len(calls) != 1 || !errors.Is(calls[0].Err, context.Canceled) {
		t.Fatalf("calls %+v", calls)
	}
}

func TestTargetList(t *testing.T) {
	tg := memory.NewTarget()
	for i := range 12 {
		tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": fmt.Sprintf("u%d", i), "mail": "m"})
	}
	seeded := tg.Seed(connectors.TypeUser, connectors.Attributes{"userName": "existing"})
	var ids []string
	err := tg.List(ctx, connectors.TypeUser, []string{"USERNAME"}, func(o connectors.TargetObject) error {
		if len(o.Attributes) != 1 || o.Attributes["userName"] == nil {
			return fmt.Errorf("attributes %v", o.Attributes)
		}
		ids = append(ids, o.ID)
		return nil
	})
	if err != nil || len(ids) != 13 || ids[1] != "t-2" || ids[9] != "t-10" || ids[12] != seeded.ID {
		t.Fatalf("List = %v, %v", ids, err)
	}
	if len(tg.Calls()) != 13 { // 12 creates and the list; Seed is not a call
		t.Fatalf("%d calls", len(tg.Calls()))
	}
	stop := errors.New("stop")
	n := 0
	if err := tg.List(ctx, connectors.TypeUser, nil, func(o connectors.TargetObject) error {
		if n++; n == 2 {
			return stop
		}
		if o.Attributes["mail"] != "m" {
			return fmt.Errorf("all attributes expected: %v", o.Attributes)
		}
		return nil
	}); err != stop {
		t.Fatalf("List = %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := memory.NewSource()
	tg := memory.NewTarget()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				id := fmt.Sprintf("w%d-%d", w, i)
				s.Put(user(id, id))
				s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: "1"}, func(connectors.Change) error { return nil })
				o, err := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": id})
				if err != nil {
					t.Error(err)
					return
				}
				tg.Find(ctx, connectors.TypeUser, "userName", id)
				if i%2 == 0 {
					s.Delete(connectors.TypeUser, id)
					tg.Delete(ctx, connectors.TypeUser, o.ID)
				}
			}
		}()
	}
	wg.Wait()
	got, _ := read(t, s, connectors.TypeUser, "")
	if len(got) != 400 || len(tg.Objects(connectors.TypeUser)) != 400 || s.Watermark() != "1200" {
		t.Fatalf("%d source objects, %d target objects, version %s", len(got), len(tg.Objects(connectors.TypeUser)), s.Watermark())
	}
}
