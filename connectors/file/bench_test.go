package file_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/file"
	"github.com/provisiond/provisiond/connectors/file/hrgen"
)

const benchUsers = 100_000

// benchData is a generated HR dataset of benchUsers users.
func benchData() *hrgen.Dataset {
	return hrgen.Generate(hrgen.Options{Seed: 42, Users: benchUsers, Groups: 100})
}

func writeExport(b *testing.B, d *hrgen.Dataset, path string) {
	b.Helper()
	var err error
	if filepath.Ext(path) == ".csv" {
		err = d.WriteCSV(path, "")
	} else {
		err = d.WriteJSON(path)
	}
	if err != nil {
		b.Fatal(err)
	}
}

func drain(b *testing.B, s *file.Source, req connectors.ReadRequest) (connectors.ReadResult, int) {
	b.Helper()
	n := 0
	res, err := s.Read(context.Background(), req, func(connectors.Change) error { n++; return nil })
	if err != nil {
		b.Fatal(err)
	}
	return res, n
}

func reportPerObject(b *testing.B, objects int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(objects), "ns/object")
	b.ReportMetric(float64(objects)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

// BenchmarkReadFull: a full read of 100k users from a file the source has not seen (so
// the file is indexed, the snapshot written, and every object parsed and emitted).
// "unsorted": the file is not in anchor order, so objects are read back one by one.
func BenchmarkReadFull(b *testing.B) {
	for _, tc := range []struct {
		name, file string
		shuffle    bool
	}{{"json", "users.json", false}, {"json-unsorted", "users.json", true}, {"csv", "users.csv", false}} {
		b.Run(tc.name, func(b *testing.B) {
			d := benchData()
			if tc.shuffle {
				r := rand.New(rand.NewPCG(1, 2))
				r.Shuffle(len(d.Users), func(i, j int) { d.Users[i], d.Users[j] = d.Users[j], d.Users[i] })
			}
			path := filepath.Join(b.TempDir(), tc.file)
			writeExport(b, d, path)
			b.ReportAllocs()
			for b.Loop() {
				s, err := file.New(file.Config{Users: path, StateDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				if _, n := drain(b, s, connectors.ReadRequest{Type: connectors.TypeUser}); n != benchUsers {
					b.Fatalf("read %d users", n)
				}
			}
			reportPerObject(b, benchUsers)
		})
	}
}

// BenchmarkReadIncremental: the export was rewritten with 1 % of the users changed (800
// changed, 100 deleted, 100 added); an incremental read indexes the new file, diffs it
// against the snapshot and emits the 1,000 changes. ns/object is per user in the file.
func BenchmarkReadIncremental(b *testing.B) {
	for _, name := range []string{"users.json", "users.csv"} {
		b.Run(filepath.Ext(name)[1:], func(b *testing.B) {
			d := benchData()
			path := filepath.Join(b.TempDir(), name)
			writeExport(b, d, path)
			state := b.TempDir()
			s, err := file.New(file.Config{Users: path, StateDir: state})
			if err != nil {
				b.Fatal(err)
			}
			base, _ := drain(b, s, connectors.ReadRequest{Type: connectors.TypeUser})
			kept := d.Users[:0]
			for i, u := range d.Users {
				switch {
				case i%1000 == 1:
					continue // deleted
				case i%125 == 0:
					u["jobTitle"] = u["jobTitle"].(string) + " II"
				}
				kept = append(kept, u)
			}
			d.Users = kept
			for i := range 100 {
				d.Users = append(d.Users, map[string]any{"id": fmt.Sprintf("N%05d", i), "displayName": "New Hire", "accountEnabled": true})
			}
			writeExport(b, d, path)
			var changes int
			b.ReportAllocs()
			for b.Loop() {
				// A new Source each time: the file is indexed as after a rewrite.
				s, err := file.New(file.Config{Users: path, StateDir: state})
				if err != nil {
					b.Fatal(err)
				}
				_, changes = drain(b, s, connectors.ReadRequest{Type: connectors.TypeUser, Watermark: base.Watermark})
			}
			if changes != 1000 {
				b.Fatalf("%d changes, want 1000", changes)
			}
			reportPerObject(b, benchUsers)
		})
	}
}

// BenchmarkGet: one object by anchor from an indexed file (provision on demand).
func BenchmarkGet(b *testing.B) {
	d := benchData()
	path := filepath.Join(b.TempDir(), "users.json")
	writeExport(b, d, path)
	s, err := file.New(file.Config{Users: path})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, connectors.TypeUser, "E000001"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = (i + 7919) % benchUsers
		if _, err := s.Get(ctx, connectors.TypeUser, d.Users[i]["id"].(string)); err != nil {
			b.Fatal(err)
		}
	}
}
