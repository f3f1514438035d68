package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/connectors"
)

// TestIndexCachedUntilFileChanges: Estimate, Read and many Gets parse the file once; a new
// file is parsed again.
func TestIndexCachedUntilFileChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "hr.json")
	var b strings.Builder
	b.WriteString(`{"users":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"u%03d"}`, i)
	}
	b.WriteString(`],"groups":[{"id":"g","members":["u001","u002"]}]}`)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Users: path, Groups: path, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	sl := s.slots[connectors.TypeUser]
	if s.slots[connectors.TypeGroup] != sl {
		t.Fatal("a combined file must be one slot")
	}
	if _, err := s.Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, connectors.ReadRequest{Type: connectors.TypeGroup}, func(connectors.Change) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := s.Get(ctx, connectors.TypeUser, fmt.Sprintf("u%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if sl.builds != 1 {
		t.Fatalf("file indexed %d times, want 1", sl.builds)
	}
	if err := os.WriteFile(path+".new", []byte(strings.Replace(b.String(), `"u001"`, `"u999"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, connectors.TypeUser, "u999"); err != nil {
		t.Fatal(err)
	}
	if sl.builds != 2 {
		t.Fatalf("file indexed %d times after a change, want 2", sl.builds)
	}
}
