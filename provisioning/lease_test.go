package provisioning_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/memory"
	"github.com/provisiond/provisiond/provisioning"
	"github.com/provisiond/provisiond/store/sqlite"
)

// memLeaser is an in-process provisioning.Leaser with the semantics of store/postgres'
// (which runs the same scenarios against PostgreSQL in its replica test): fair shares of
// live replicas, expiry, epochs, commands handed to the next holder. partition makes a
// replica's claims fail, as a replica cut off from the database would see.
type memLeaser struct {
	mu       sync.Mutex
	leases   map[string]*provisioning.Lease
	replicas map[string]time.Time
	down     map[string]bool
	cmds     []*memCmd
}

type memCmd struct {
	c       provisioning.Command
	takenBy string
	done    bool
	r       provisioning.CommandResult
}

func newMemLeaser() *memLeaser {
	return &memLeaser{leases: map[string]*provisioning.Lease{}, replicas: map[string]time.Time{}, down: map[string]bool{}}
}

func (m *memLeaser) partition(replica string, down bool) {
	m.mu.Lock()
	m.down[replica] = down
	m.mu.Unlock()
}

func (m *memLeaser) owner(job string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.leases[job]; l != nil {
		return l.Owner
	}
	return ""
}

func (m *memLeaser) ClaimLeases(_ context.Context, replica string, jobIDs []string, ttl time.Duration) (provisioning.LeaseClaim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down[replica] {
		return provisioning.LeaseClaim{}, errors.New("connection refused (partitioned)")
	}
	now := time.Now()
	m.replicas[replica] = now.Add(ttl)
	ids := slices.Sorted(slices.Values(jobIDs))
	var held []provisioning.Lease
	for _, id := range ids {
		if m.leases[id] == nil {
			m.leases[id] = &provisioning.Lease{JobID: id}
		}
		if l := m.leases[id]; l.Owner == replica {
			l.Expires = now.Add(ttl)
			held = append(held, *l)
		}
	}
	live := 0
	for _, exp := range m.replicas {
		if exp.After(now) {
			live++
		}
	}
	share := (len(ids) + live - 1) / live
	for _, id := range ids {
		if len(held) >= share {
			break
		}
		if l := m.leases[id]; l.Owner == "" || l.Expires.Before(now) {
			l.Owner, l.Epoch, l.Expires = replica, l.Epoch+1, now.Add(ttl)
			held = append(held, *l)
			for _, c := range m.cmds {
				if c.c.JobID == id && !c.done && c.takenBy != replica {
					c.takenBy = ""
				}
			}
		}
	}
	return provisioning.LeaseClaim{Held: held, Share: share, Replicas: live}, nil
}

func (m *memLeaser) ReleaseLeases(_ context.Context, replica string, jobIDs []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, l := range m.leases {
		if l.Owner == replica && (jobIDs == nil || slices.Contains(jobIDs, id)) {
			l.Owner, l.Expires = "", time.Time{}
		}
	}
	if jobIDs == nil {
		delete(m.replicas, replica)
	}
	return nil
}

func (m *memLeaser) SendCommand(_ context.Context, c provisioning.Command) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cmds = append(m.cmds, &memCmd{c: c})
	return nil
}

func (m *memLeaser) TakeCommands(_ context.Context, replica string) ([]provisioning.Command, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down[replica] {
		return nil, errors.New("connection refused (partitioned)")
	}
	var out []provisioning.Command
	for _, c := range m.cmds {
		if l := m.leases[c.c.JobID]; l != nil && l.Owner == replica && !c.done && c.takenBy == "" {
			c.takenBy = replica
			out = append(out, c.c)
		}
	}
	return out, nil
}

func (m *memLeaser) CompleteCommand(_ context.Context, id string, r provisioning.CommandResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.cmds {
		if c.c.ID == id {
			c.done, c.r = true, r
		}
	}
	return nil
}

func (m *memLeaser) CommandResult(_ context.Context, id string) (provisioning.CommandResult, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.cmds {
		if c.c.ID == id {
			return c.r, c.done, nil
		}
	}
	return provisioning.CommandResult{}, false, provisioning.ErrNotFound
}

// fencedStore checks Batch.Lease against the memLeaser atomically with the commit (under
// the leaser's lock, which take-overs also take), as store/postgres does in SQL.
type fencedStore struct {
	provisioning.Store
	l        *memLeaser
	rejected atomic.Int64
	// gate, when set, is called before each fenced commit (to hold one back).
	gate atomic.Pointer[func(provisioning.Batch)]
}

func (f *fencedStore) Commit(ctx context.Context, b provisioning.Batch) error {
	if b.Lease == nil {
		return f.Store.Commit(ctx, b)
	}
	if g := f.gate.Load(); g != nil {
		(*g)(b)
	}
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if cur := f.l.leases[b.Lease.JobID]; cur == nil || cur.Owner != b.Lease.Owner || cur.Epoch != b.Lease.Epoch {
		f.rejected.Add(1)
		return fmt.Errorf("%w: job %s is no longer leased to %s (epoch %d)", provisioning.ErrLeaseLost, b.Lease.JobID, b.Lease.Owner, b.Lease.Epoch)
	}
	return f.Store.Commit(ctx, b)
}

// replicaEnv is several engines (replicas) sharing one store, leaser, sources and targets.
type replicaEnv struct {
	t       *testing.T
	ctx     context.Context
	leaser  *memLeaser
	store   *fencedStore
	srcs    map[string]*memory.Source
	tgts    map[string]*memory.Target
	jobs    []provisioning.Job
	ttl     time.Duration
	engines map[string]*replica
}

type replica struct {
	name   string
	eng    *provisioning.Engine
	obs    *recObserver
	cancel context.CancelFunc
	done   chan struct{}
}

func newReplicaEnv(t *testing.T, jobs, users int, ttl time.Duration) *replicaEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := newMemLeaser()
	e := &replicaEnv{t: t, ctx: ctx, leaser: l, store: &fencedStore{Store: st, l: l}, ttl: ttl,
		srcs: map[string]*memory.Source{}, tgts: map[string]*memory.Target{}, engines: map[string]*replica{}}
	for j := range jobs {
		job := testJob()
		job.ID = fmt.Sprintf("job-%d", j)
		job.Settings.BatchSize = 10
		src, tgt := memory.NewSource(), memory.NewTarget()
		tgt.SetUnique(connectors.TypeUser, "userName")
		tgt.SetUnique(connectors.TypeGroup, "displayName")
		for i := range users {
			src.Put(user(fmt.Sprintf("E%04d", i), "First", fmt.Sprintf("Last%04d", i), "Eng", ""))
		}
		e.srcs[job.ID], e.tgts[job.ID] = src, tgt
		e.jobs = append(e.jobs, job)
	}
	return e
}

// start runs a replica (an engine with every job) until stop or the test's end.
func (e *replicaEnv) start(name string) *replica {
	e.t.Helper()
	r := &replica{name: name, obs: &recObserver{}, done: make(chan struct{})}
	r.eng = provisioning.New(provisioning.Options{Store: e.store, Observer: r.obs, Leaser: e.leaser, Replica: name,
		LeaseTTL: e.ttl, CommandPoll: 20 * time.Millisecond})
	for _, job := range e.jobs {
		if err := r.eng.AddJob(e.ctx, job, e.srcs[job.ID], e.tgts[job.ID]); err != nil {
			e.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	r.cancel = cancel
	go func() {
		defer close(r.done)
		_ = r.eng.Run(ctx)
	}()
	e.engines[name] = r
	e.t.Cleanup(r.stop)
	return r
}

// stop shuts the replica down gracefully (its cycles commit their checkpoints, its leases
// are released) and waits for it.
func (r *replica) stop() {
	r.cancel()
	<-r.done
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// synced reports whether a job's initial cycle has completed (per the store).
func (e *replicaEnv) synced(job string) bool {
	st, err := e.store.LoadJobState(e.ctx, job)
	return err == nil && st.Status.InitialCycleCompleted && st.Checkpoint == nil
}

// holders returns the replicas that hold a job.
func (e *replicaEnv) holders(job string) []string {
	var out []string
	for name, r := range e.engines {
		if r.eng.Holds(job) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// checkTargets checks that every job's target has each source user exactly once, created
// once, and linked once.
func (e *replicaEnv) checkTargets(users int) {
	e.t.Helper()
	for _, job := range e.jobs {
		tgt := e.tgts[job.ID]
		if n := len(tgt.Objects(connectors.TypeUser)); n != users {
			e.t.Errorf("%s: target has %d users, want %d", job.ID, n, users)
		}
		creates := 0
		for _, c := range tgt.Calls() {
			if c.Op == memory.OpCreate && c.Type == connectors.TypeUser && c.Err == nil {
				creates++
			}
		}
		if creates != users {
			e.t.Errorf("%s: %d successful creates, want %d (one per user)", job.ID, creates, users)
		}
		counts, err := e.store.CountLinks(e.ctx, job.ID)
		if err != nil || counts[connectors.TypeUser] != int64(users) {
			e.t.Errorf("%s: %v user links (%v), want %d", job.ID, counts, err, users)
		}
	}
}

// endedCycles counts the CycleEnded calls of every replica by cycle id.
func (e *replicaEnv) endedCycles() map[string]int {
	out := map[string]int{}
	for _, r := range e.engines {
		r.obs.mu.Lock()
		for _, c := range r.obs.cycles {
			out[c.CycleID]++
		}
		r.obs.mu.Unlock()
	}
	return out
}

func TestReplicasShareJobs(t *testing.T) {
	const jobs, users = 5, 40
	// A TTL long enough for claims queued behind commits (the leaser's lock fences them)
	// under the race detector: no lease lapses here.
	e := newReplicaEnv(t, jobs, users, 3*time.Second)
	for _, name := range []string{"r1", "r2", "r3"} {
		e.start(name)
	}
	waitFor(t, "every job's initial cycle", 30*time.Second, func() bool {
		for _, j := range e.jobs {
			if !e.synced(j.ID) {
				return false
			}
		}
		return true
	})
	// Each job is held by exactly one replica, and the jobs are spread: once the cycles are
	// idle no replica holds more than its share (5 jobs, 3 replicas: 2).
	waitFor(t, "each job held once, within shares", 10*time.Second, func() bool {
		per := map[string]int{}
		for _, j := range e.jobs {
			h := e.holders(j.ID)
			if len(h) != 1 {
				return false
			}
			per[h[0]]++
		}
		for _, n := range per {
			if n > 2 {
				return false
			}
		}
		return true
	})
	e.checkTargets(users)
	for id, n := range e.endedCycles() {
		if n != 1 {
			t.Errorf("cycle %s ended %d times", id, n)
		}
	}
	if n := e.store.rejected.Load(); n != 0 {
		t.Errorf("%d commits were rejected by the fence with no replica failing", n)
	}
}

func TestReplicaForwardsAdminActions(t *testing.T) {
	e := newReplicaEnv(t, 1, 20, 600*time.Millisecond)
	r1 := e.start("r1")
	job := e.jobs[0].ID
	waitFor(t, "the initial cycle", 20*time.Second, func() bool { return e.synced(job) && r1.eng.Holds(job) })
	r2 := e.start("r2")
	// r2 never gets the job (r1 holds it and it is r1's share); give it time to try.
	waitFor(t, "r2 to join", 5*time.Second, func() bool {
		e.leaser.mu.Lock()
		defer e.leaser.mu.Unlock()
		_, ok := e.leaser.replicas["r2"]
		return ok
	})
	if r2.eng.Holds(job) {
		t.Fatalf("r2 holds the job r1 runs")
	}
	ctx, actor := e.ctx, "admin@contoso"
	status := func(r *replica) provisioning.Status {
		s, err := r.eng.Status(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Status on the non-holder comes from the store: the same as the holder's.
	if got, want := status(r2), status(r1); got.Code != want.Code || !got.InitialCycleCompleted || got.LastExecution == nil ||
		got.LastExecution.CycleID != want.LastExecution.CycleID || got.SynchronizedEntryCountByType["User"] != 20 {
		t.Errorf("status on r2 %+v, on r1 %+v", got, want)
	}

	// Pause through r2: it takes effect on r1, and r2's status shows it.
	if err := r2.eng.Pause(ctx, job, actor); err != nil {
		t.Fatalf("Pause via r2: %v", err)
	}
	if c := status(r1).Code; c != provisioning.StatusPaused {
		t.Errorf("after Pause via r2, r1 says %s", c)
	}
	if c := status(r2).Code; c != provisioning.StatusPaused {
		t.Errorf("after Pause via r2, r2 says %s", c)
	}
	// An error on the holder comes back with its class.
	if err := r2.eng.SyncNow(ctx, job, actor); !errors.Is(err, provisioning.ErrConflict) {
		t.Errorf("SyncNow of a paused job via r2: err = %v, want ErrConflict", err)
	}
	if err := r2.eng.Start(ctx, job, actor); err != nil {
		t.Fatalf("Start via r2: %v", err)
	}
	if c := status(r2).Code; c != provisioning.StatusActive {
		t.Errorf("after Start via r2: %s", c)
	}
	// SyncNow through r2 runs a cycle on r1.
	cycles := func() int {
		cs, err := e.store.ListCycles(ctx, job, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	before := cycles()
	if err := r2.eng.SyncNow(ctx, job, actor); err != nil {
		t.Fatalf("SyncNow via r2: %v", err)
	}
	waitFor(t, "the cycle SyncNow started on r1", 10*time.Second, func() bool {
		return cycles() > before && e.synced(job) && status(r1).LastExecution.TimeEnded != nil
	})
	// Restart through r2 with a scope.
	if err := r2.eng.Restart(ctx, job, provisioning.ResetScope{Escrows: true}, actor); err != nil {
		t.Fatalf("Restart via r2: %v", err)
	}
	// Provision on demand through r2 returns r1's result.
	e.srcs[job].Put(user("E9999", "New", "Hire", "Eng", ""))
	res, err := r2.eng.ProvisionOnDemand(ctx, job, provisioning.OnDemandRequest{SourceID: "E9999"}, actor)
	if err != nil || res == nil || len(res.Events) != 1 || res.Events[0].Action != provisioning.ActionCreate {
		t.Fatalf("ProvisionOnDemand via r2 = %+v, %v", res, err)
	}
	if _, err := r2.eng.ProvisionOnDemand(ctx, job, provisioning.OnDemandRequest{SourceID: "nobody"}, actor); !errors.Is(err, provisioning.ErrUnknownObject) {
		t.Errorf("ProvisionOnDemand of an unknown object via r2: err = %v, want ErrUnknownObject", err)
	}
	if _, err := r2.eng.ProvisionOnDemand(ctx, job, provisioning.OnDemandRequest{ObjectType: "Printer", SourceID: "x"}, actor); !errors.Is(err, provisioning.ErrInvalidRequest) {
		t.Errorf("ProvisionOnDemand of an invalid type via r2: err = %v, want ErrInvalidRequest", err)
	}
	// Every action was audited once, by the holder.
	audit, err := e.store.Audit(ctx, job, 0)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range audit {
		count[a.Action]++
	}
	for _, a := range []string{"pause", "start", "syncNow", "restart", "provisionOnDemand"} {
		if count[a] != 1 {
			t.Errorf("audit: %d %q entries, want 1 (all: %v)", count[a], a, count)
		}
	}
	if r1.eng.Replica() != "r1" || r2.eng.Replica() != "r2" {
		t.Errorf("replica names %q, %q", r1.eng.Replica(), r2.eng.Replica())
	}
}

// blockTarget makes the nth user create of a target wait until release is closed (the
// other operations go through), and reports when it is waiting.
func blockTarget(tgt *memory.Target, n int64) (waiting, release chan struct{}) {
	waiting, release = make(chan struct{}), make(chan struct{})
	var creates atomic.Int64
	tgt.FailWhen(func(op string, typ connectors.ObjectType, _ string, _ connectors.Attributes) error {
		if op == memory.OpCreate && typ == connectors.TypeUser && creates.Add(1) == n {
			close(waiting)
			<-release
		}
		return nil
	})
	return waiting, release
}

// TestReplicaLosesLeaseMidCycle cuts the replica running a cycle off from the leaser
// while a batch is in flight (exported, not committed): its lease lapses, another replica
// takes the job over and resumes the cycle from the last committed checkpoint (matching
// what the first exported), and the old replica's late commit is rejected by the fence.
// Every user ends up created and linked once, and the cycle ends once.
func TestReplicaLosesLeaseMidCycle(t *testing.T) {
	const users = 120
	e := newReplicaEnv(t, 1, users, 400*time.Millisecond)
	job := e.jobs[0].ID
	// Hold back r1's fifth batch of events: its objects are exported, its commit waits.
	waiting, release := make(chan struct{}), make(chan struct{})
	var batches atomic.Int64
	gate := func(b provisioning.Batch) {
		if b.Lease.Owner == "r1" && len(b.Events) > 0 && batches.Add(1) == 5 {
			close(waiting)
			<-release
		}
	}
	e.store.gate.Store(&gate)
	r1 := e.start("r1")
	<-waiting // r1 is mid-cycle, with a batch in flight
	if !r1.eng.Holds(job) {
		t.Fatalf("r1 runs a cycle of a job it does not hold")
	}
	state, err := e.store.LoadJobState(e.ctx, job)
	if err != nil || state.Checkpoint == nil {
		t.Fatalf("no checkpoint mid-cycle: %+v, %v", state, err)
	}
	cycleID := state.Checkpoint.CycleID
	r2 := e.start("r2")
	e.leaser.partition("r1", true)
	waitFor(t, "r2 to take the job over", 10*time.Second, func() bool { return e.leaser.owner(job) == "r2" })
	waitFor(t, "r1 to notice", 10*time.Second, func() bool { return !r1.eng.Holds(job) })
	close(release) // r1's batch finishes now: its commit must be rejected
	waitFor(t, "the cycle to end on r2", 30*time.Second, func() bool { return e.synced(job) })
	waitFor(t, "r1's late commit to be rejected", 10*time.Second, func() bool { return e.store.rejected.Load() > 0 })

	e.checkTargets(users)
	c, err := e.store.GetCycle(e.ctx, job, cycleID)
	if err != nil || c.State != provisioning.CycleSucceeded || c.TimeEnded == nil {
		t.Errorf("cycle %s: %+v, %v; want it resumed and succeeded", cycleID, c, err)
	}
	ended := e.endedCycles()
	if ended[cycleID] != 1 {
		t.Errorf("cycle %s ended %d times, want once", cycleID, ended[cycleID])
	}
	r2.obs.mu.Lock()
	endedOnR2 := len(r2.obs.cycles) == 1 && r2.obs.cycles[0].CycleID == cycleID
	r2.obs.mu.Unlock()
	if !endedOnR2 {
		t.Errorf("the cycle did not end on r2")
	}
	// No event lost: every user has a successful event in the store.
	evs, err := e.store.QueryEvents(e.ctx, provisioning.EventQuery{JobID: job, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]bool{}
	for _, ev := range evs {
		if ev.Status != provisioning.ResultFailure {
			ok[ev.SourceIdentity.ID] = true
		}
	}
	for i := range users {
		if id := fmt.Sprintf("E%04d", i); !ok[id] {
			t.Errorf("user %s has no successful event", id)
		}
	}
}

// TestReplicaShutdownHandsOver stops the replica running a cycle gracefully: it commits
// its checkpoint and releases its leases, so another replica resumes the cycle at once,
// long before the lease would have expired.
func TestReplicaShutdownHandsOver(t *testing.T) {
	const users = 80
	e := newReplicaEnv(t, 1, users, time.Hour) // a lease that never expires in this test
	job := e.jobs[0].ID
	waiting, release := blockTarget(e.tgts[job], 30)
	r1 := e.start("r1")
	<-waiting
	stopped := make(chan struct{})
	go func() { r1.stop(); close(stopped) }()
	close(release)
	<-stopped
	if r1.eng.Holds(job) {
		t.Errorf("r1 still holds the job after shutting down")
	}
	if st, err := e.store.LoadJobState(e.ctx, job); err != nil || st.Checkpoint == nil || st.Checkpoint.Position == 0 {
		t.Fatalf("r1 stopped without a checkpoint: %+v, %v", st.Checkpoint, err)
	}
	// Without the release r2 would wait an hour for the lease to expire.
	e.start("r2")
	waitFor(t, "r2 to take over and finish the cycle", 20*time.Second, func() bool { return e.synced(job) })
	if o := e.leaser.owner(job); o != "r2" {
		t.Errorf("owner %q, want r2", o)
	}
	e.checkTargets(users)
	ended := e.endedCycles()
	if len(ended) != 1 {
		t.Errorf("cycles ended: %v, want one", ended)
	}
	for id, n := range ended {
		if n != 1 {
			t.Errorf("cycle %s ended %d times", id, n)
		}
	}
	if n := e.store.rejected.Load(); n != 0 {
		t.Errorf("%d commits rejected after a graceful hand-over", n)
	}
}

// TestNoLeaserHoldsEveryJob: without a Leaser an engine runs every job (the SQLite
// deployment), with no lease on its commits.
func TestNoLeaserHoldsEveryJob(t *testing.T) {
	e := newEnv(t, testJob())
	seed(e)
	if !e.eng.Holds(e.job.ID) || e.eng.Replica() != "" {
		t.Errorf("Holds = %v, Replica = %q", e.eng.Holds(e.job.ID), e.eng.Replica())
	}
	e.cycle()
	st, err := e.store.LoadJobState(e.ctx, e.job.ID)
	if err != nil || st.Status.Progress != nil {
		t.Errorf("stored state: progress %+v, %v", st.Status.Progress, err)
	}
}
