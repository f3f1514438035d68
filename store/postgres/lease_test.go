package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

func heldIDs(c provisioning.LeaseClaim) []string {
	var out []string
	for _, l := range c.Held {
		out = append(out, l.JobID)
	}
	return out
}

func claim(t *testing.T, s *Store, replica string, jobs []string) provisioning.LeaseClaim {
	t.Helper()
	c, err := s.ClaimLeases(context.Background(), replica, jobs, time.Minute)
	if err != nil {
		t.Fatalf("ClaimLeases(%s): %v", replica, err)
	}
	return c
}

// expire makes every lease (and replica heartbeat) of replica lapse, as if it had stopped
// renewing a while ago.
func expire(t *testing.T, s *Store, replica string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.pool.Exec(ctx, `UPDATE job_leases SET expires = now() - interval '1 second' WHERE owner = $1`, replica); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE replicas SET expires = now() - interval '1 second' WHERE replica = $1`, replica); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseShares(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	jobs := []string{"j1", "j2", "j3", "j4", "j5"}

	// Alone, a replica takes every job.
	a := claim(t, s, "a", jobs)
	if !slices.Equal(heldIDs(a), jobs) || a.Share != 5 || a.Replicas != 1 {
		t.Fatalf("a alone: held %v, share %d of %d replicas", heldIDs(a), a.Share, a.Replicas)
	}
	for _, l := range a.Held {
		if l.Owner != "a" || l.Epoch != 1 || !l.Expires.After(time.Now().Add(-time.Minute)) {
			t.Errorf("lease %+v", l)
		}
	}
	// b joins: its share is 3 but every lease is held and live.
	b := claim(t, s, "b", jobs)
	if len(b.Held) != 0 || b.Share != 3 || b.Replicas != 2 {
		t.Fatalf("b joining: held %v, share %d of %d replicas", heldIDs(b), b.Share, b.Replicas)
	}
	// a renews all five (the engine then hands over what is beyond its share).
	a = claim(t, s, "a", jobs)
	if len(a.Held) != 5 || a.Share != 3 || a.Held[0].Epoch != 1 {
		t.Fatalf("a renewing: %+v", a)
	}
	if err := s.ReleaseLeases(ctx, "a", []string{"j4", "j5"}); err != nil {
		t.Fatal(err)
	}
	b = claim(t, s, "b", jobs)
	if !slices.Equal(heldIDs(b), []string{"j4", "j5"}) || b.Held[0].Epoch != 2 {
		t.Fatalf("b after a released two: %+v", b)
	}
	a = claim(t, s, "a", jobs)
	if !slices.Equal(heldIDs(a), []string{"j1", "j2", "j3"}) {
		t.Fatalf("a after releasing: %v", heldIDs(a))
	}
	leases, err := s.Leases(ctx)
	if err != nil || len(leases) != 5 {
		t.Fatalf("Leases: %v, %v", leases, err)
	}

	// a stops renewing: once its leases lapse, b takes them over (a new epoch each) and
	// counts a out.
	expire(t, s, "a")
	b = claim(t, s, "b", jobs)
	if !slices.Equal(heldIDs(b), jobs) || b.Replicas != 1 {
		t.Fatalf("b after a lapsed: %v of %d replicas", heldIDs(b), b.Replicas)
	}
	for _, l := range b.Held {
		if want := map[string]int64{"j1": 2, "j2": 2, "j3": 2, "j4": 2, "j5": 2}[l.JobID]; l.Epoch != want {
			t.Errorf("%s epoch %d, want %d", l.JobID, l.Epoch, want)
		}
	}
	// a comes back: it holds nothing, and its share is what b does not need.
	if a = claim(t, s, "a", jobs); len(a.Held) != 0 {
		t.Errorf("a after coming back holds %v", heldIDs(a))
	}
	// Shutdown: b releases everything and stops counting as live.
	if err := s.ReleaseLeases(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	a = claim(t, s, "a", jobs)
	if len(a.Held) != 5 || a.Replicas != 1 {
		t.Errorf("a after b shut down: %v of %d replicas", heldIDs(a), a.Replicas)
	}
	// Bad input.
	if _, err := s.ClaimLeases(ctx, "", jobs, time.Minute); err == nil {
		t.Errorf("ClaimLeases without a replica name succeeded")
	}
	if _, err := s.ClaimLeases(ctx, "a", jobs, 0); err == nil {
		t.Errorf("ClaimLeases with a zero TTL succeeded")
	}
}

func TestLeaseFencesCommits(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	jobs := []string{"j1"}
	la := claim(t, s, "a", jobs).Held[0]
	state := func(pos int64) *provisioning.JobState {
		return &provisioning.JobState{Checkpoint: &provisioning.Checkpoint{Position: pos}} // of the batch's job
	}
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j1", State: state(1), Lease: &la}); err != nil {
		t.Fatalf("commit under a's lease: %v", err)
	}
	// A lease of another job, owner or epoch does not pass.
	for _, bad := range []provisioning.Lease{
		{JobID: "j1", Owner: "b", Epoch: la.Epoch},
		{JobID: "j1", Owner: "a", Epoch: la.Epoch + 1},
		{JobID: "j2", Owner: "a", Epoch: la.Epoch},
	} {
		err := s.Commit(ctx, provisioning.Batch{JobID: bad.JobID, State: state(99), Lease: &bad})
		if !errors.Is(err, provisioning.ErrLeaseLost) {
			t.Errorf("commit under %+v: err = %v, want ErrLeaseLost", bad, err)
		}
	}

	// A commit that passed the check holds the lease row: a take-over skips it until the
	// commit ends, so it never interleaves with one.
	expire(t, s, "a")
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT provisiond_check_lease('j1', 'a', $1)`, la.Epoch); err != nil {
		t.Fatal(err)
	}
	if b := claim(t, s, "b", jobs); len(b.Held) != 0 {
		t.Errorf("b took over a lease while a's commit held it: %+v", b.Held)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b := claim(t, s, "b", jobs)
	if len(b.Held) != 1 || b.Held[0].Epoch != la.Epoch+1 {
		t.Fatalf("b after a's commit: %+v", b.Held)
	}
	// a's lease is gone: its commits fail, whole; b's pass.
	err = s.Commit(ctx, provisioning.Batch{JobID: "j1", State: state(2), Lease: &la,
		Events: []provisioning.Event{{ID: "late", JobID: "j1", Action: provisioning.ActionCreate, Status: provisioning.ResultSuccess}}})
	if !errors.Is(err, provisioning.ErrLeaseLost) {
		t.Fatalf("a's commit after the take-over: err = %v, want ErrLeaseLost", err)
	}
	if _, err := s.GetEvent(ctx, "late"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("the rejected batch's event is stored: %v", err)
	}
	if st, _ := s.LoadJobState(ctx, "j1"); st.Checkpoint.Position != 1 {
		t.Errorf("checkpoint %d after a rejected commit, want 1", st.Checkpoint.Position)
	}
	lb := b.Held[0]
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j1", State: state(3), Lease: &lb}); err != nil {
		t.Fatalf("commit under b's lease: %v", err)
	}
	// A released lease fences too.
	if err := s.ReleaseLeases(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, provisioning.Batch{JobID: "j1", State: state(4), Lease: &lb}); !errors.Is(err, provisioning.ErrLeaseLost) {
		t.Errorf("commit under a released lease: err = %v, want ErrLeaseLost", err)
	}
}

func TestCommands(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	claim(t, s, "a", []string{"j1"})
	claim(t, s, "b", []string{"j2"}) // b's share: j2 (j1 is a's)
	cmd := provisioning.Command{ID: "c1", JobID: "j1", Action: provisioning.CommandPause, Actor: "admin", From: "b"}
	if err := s.SendCommand(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if err := s.SendCommand(ctx, provisioning.Command{ID: "c2", JobID: "j1", Action: provisioning.CommandStart, Actor: "admin", From: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SendCommand(ctx, cmd); err == nil {
		t.Errorf("a command id sent twice was accepted")
	}
	if _, done, err := s.CommandResult(ctx, "c1"); err != nil || done {
		t.Errorf("CommandResult of a queued command: done %v, %v", done, err)
	}
	if _, _, err := s.CommandResult(ctx, "nope"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("CommandResult of an unknown command: %v", err)
	}
	// Only the holder of j1 gets them, in order, once.
	if got, err := s.TakeCommands(ctx, "b"); err != nil || len(got) != 0 {
		t.Errorf("b took %v (%v)", got, err)
	}
	got, err := s.TakeCommands(ctx, "a")
	if err != nil || len(got) != 2 || got[0].ID != "c1" || got[1].ID != "c2" || got[0].Action != provisioning.CommandPause || got[0].Actor != "admin" {
		t.Fatalf("a took %+v (%v)", got, err)
	}
	if again, err := s.TakeCommands(ctx, "a"); err != nil || len(again) != 0 {
		t.Errorf("a took %v again (%v)", again, err)
	}
	if err := s.CompleteCommand(ctx, "c1", provisioning.CommandResult{By: "a", Error: "conflict: paused", Kind: provisioning.KindConflict}); err != nil {
		t.Fatal(err)
	}
	r, done, err := s.CommandResult(ctx, "c1")
	if err != nil || !done || r.By != "a" || r.Kind != provisioning.KindConflict {
		t.Errorf("CommandResult c1 = %+v, %v, %v", r, done, err)
	}
	// a dies with c2 taken but not run: whoever takes j1 over gets it.
	expire(t, s, "a")
	if b := claim(t, s, "b", []string{"j1", "j2"}); len(b.Held) != 2 {
		t.Fatalf("b did not take j1 over: %+v", b.Held)
	}
	got, err = s.TakeCommands(ctx, "b")
	if err != nil || len(got) != 1 || got[0].ID != "c2" {
		t.Fatalf("b took %+v after the take-over (%v), want c2", got, err)
	}
	// Completed commands are cleaned up after an hour.
	if _, err := s.pool.Exec(ctx, `UPDATE job_commands SET done = now() - interval '2 hours' WHERE id = 'c1'`); err != nil {
		t.Fatal(err)
	}
	claim(t, s, "b", []string{"j1", "j2"})
	if _, _, err := s.CommandResult(ctx, "c1"); !errors.Is(err, provisioning.ErrNotFound) {
		t.Errorf("a command completed two hours ago: %v", err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM job_commands`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d commands left (%v), want c2", n, err)
	}
}
