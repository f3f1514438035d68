package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

// TestFilesRoundTrip: what is written is what a new instance reads back, with its types.
func TestFilesRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "csv")
	tg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	attrs := connectors.Attributes{"userName": "Alice@example.com", "active": true, "employeeNumber": int64(7), "score": 2.5,
		"emails": []string{"a@x", "b@x"}, "manager": map[string]any{"value": "m-1"}, "name, \"quoted\"": "a,b\nc",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales"}
	u, err := tg.Create(ctx, connectors.TypeUser, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "alice@EXAMPLE.com"}); connectors.ClassOf(err) != connectors.ClassConflict {
		t.Fatalf("duplicate: %v", err)
	}
	g, err := tg.Create(ctx, connectors.TypeGroup, connectors.Attributes{"displayName": "G", "members": []string{u.ID}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Get(ctx, connectors.TypeUser, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Attributes, attrs) {
		t.Fatalf("read back %#v, want %#v", got.Attributes, attrs)
	}
	gg, _ := again.Get(ctx, connectors.TypeGroup, g.ID)
	if !reflect.DeepEqual(gg.Attributes["members"], []string{u.ID}) {
		t.Fatalf("members %#v", gg.Attributes["members"])
	}
	b, _ := os.ReadFile(filepath.Join(dir, "users.csv"))
	if !strings.HasPrefix(string(b), "id,") || !strings.Contains(string(b), "active:bool") || !strings.Contains(string(b), "employeeNumber:int") {
		t.Fatalf("users.csv:\n%s", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

// TestOperations: find, update, disable, membership and delete.
func TestOperations(t *testing.T) {
	ctx := context.Background()
	tg, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "a", "tags": []string{"x", "y"}, "n": int64(3)})
	b, _ := tg.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "b"})
	g, _ := tg.Create(ctx, connectors.TypeGroup, connectors.Attributes{"displayName": "g"})
	find := func(attr string, v any) int {
		objs, err := tg.Find(ctx, connectors.TypeUser, attr, v)
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	if find("USERNAME", "A") != 1 || find("tags", "y") != 1 || find("n", 3.0) != 1 || find("id", b.ID) != 1 || find("userName", "z") != 0 {
		t.Fatal("find")
	}
	if err := tg.Update(ctx, connectors.TypeUser, a.ID, []connectors.Modification{{Name: "tags", Op: connectors.ModRemove, Value: []string{"x"}},
		{Name: "n", Op: connectors.ModReplace, Value: nil}}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Update(ctx, connectors.TypeUser, b.ID, []connectors.Modification{{Name: "userName", Op: connectors.ModReplace, Value: "A"}}); connectors.ClassOf(err) != connectors.ClassConflict {
		t.Fatalf("conflicting update: %v", err)
	}
	if err := tg.Disable(ctx, connectors.TypeUser, a.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := tg.Get(ctx, connectors.TypeUser, a.ID)
	if !reflect.DeepEqual(got.Attributes, connectors.Attributes{"userName": "a", "tags": []string{"y"}, "active": false}) {
		t.Fatalf("after update and disable: %#v", got.Attributes)
	}
	if err := tg.AddMembers(ctx, g.ID, []string{a.ID, b.ID}); err != nil {
		t.Fatal(err)
	}
	if err := tg.AddMembers(ctx, g.ID, []string{"nobody"}); connectors.ClassOf(err) != connectors.ClassInvalid {
		t.Fatalf("unknown member: %v", err)
	}
	if err := tg.AddMembers(ctx, "nogroup", nil); !connectors.IsNotFound(err) {
		t.Fatalf("unknown group: %v", err)
	}
	if err := tg.RemoveMembers(ctx, g.ID, []string{a.ID}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Delete(ctx, connectors.TypeUser, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := tg.Delete(ctx, connectors.TypeUser, b.ID); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	gg, _ := tg.Get(ctx, connectors.TypeGroup, g.ID)
	if _, ok := gg.Attributes["members"]; ok {
		t.Fatalf("members after removing and deleting: %#v", gg.Attributes)
	}
	var listed []string
	_ = tg.List(ctx, connectors.TypeUser, []string{"userName"}, func(o connectors.TargetObject) error {
		listed = append(listed, o.Attributes["userName"].(string))
		return nil
	})
	if !reflect.DeepEqual(listed, []string{"a"}) {
		t.Fatalf("list: %v", listed)
	}
}

// TestUnwritableDirectory: Test reports a connection error.
func TestUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	tg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := tg.Test(context.Background()); connectors.ClassOf(err) != connectors.ClassConnection {
		t.Fatalf("got %v", err)
	}
}
