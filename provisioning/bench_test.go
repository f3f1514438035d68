package provisioning_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
)

// BenchmarkEngineObject measures the engine's own cost per object: an initial cycle of
// b.N users (scoping, matching, mapping, references, events, batched store commits)
// against the in-memory target, so no network is involved. ns/op and allocs/op are per
// user.
func BenchmarkEngineObject(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "p.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	src, tgt := memory.NewSource(), memory.NewTarget()
	for i := 0; i < b.N; i++ {
		mgr := ""
		if i%10 != 0 {
			mgr = fmt.Sprintf("E%07d", i-i%10)
		}
		u := user(fmt.Sprintf("E%07d", i), "First", fmt.Sprintf("Last%d", i), "Eng", mgr)
		src.Put(u)
	}
	job := testJob()
	job.Groups = nil
	job.Settings.BatchSize = 500
	job.Settings.Workers = 8
	eng := provisioning.New(provisioning.Options{Store: st})
	if err := eng.AddJob(ctx, job, src, tgt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c, err := eng.RunCycle(ctx, job.ID)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if int(c.CountExported) < b.N || len(tgt.Objects(connectors.TypeUser)) != b.N {
		b.Fatalf("exported %d of %d", c.CountExported, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
}
