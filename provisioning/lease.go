package provisioning

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ErrLeaseLost is returned (wrapped) by Store.Commit for a batch fenced by a lease the
// replica no longer holds, and by the engine for work on a job another replica runs.
var ErrLeaseLost = errors.New("job lease lost")

// Lease is a replica's right to run a job's cycles. At most one replica holds a job's
// lease at a time; it renews it periodically, and another replica may take it over once
// it has expired.
type Lease struct {
	JobID string `json:"jobId"`
	// Owner is the replica holding the lease.
	Owner string `json:"owner"`
	// Epoch grows each time the lease changes owner: it is the fencing token of the
	// owner's commits (Batch.Lease).
	Epoch int64 `json:"epoch"`
	// Expires is when the lease lapses unless renewed (the store's clock).
	Expires time.Time `json:"expires"`
}

// LeaseClaim is the outcome of Leaser.ClaimLeases.
type LeaseClaim struct {
	// Held are the leases the replica holds after the claim.
	Held []Lease
	// Share is the replica's fair share of the jobs: their number divided by the number
	// of live replicas, rounded up.
	Share int
	// Replicas is the number of live replicas, this one included.
	Replicas int
}

// Admin commands a replica forwards to the replica running the job.
const (
	CommandStart             = "start"
	CommandPause             = "pause"
	CommandSyncNow           = "syncNow"
	CommandRestart           = "restart"
	CommandQuarantine        = "quarantine"
	CommandProvisionOnDemand = "provisionOnDemand"
)

// Command is an admin action received by a replica that does not hold the job's lease,
// queued for the replica that does.
type Command struct {
	ID     string `json:"id"`
	JobID  string `json:"jobId"`
	Action string `json:"action"`
	Actor  string `json:"actor"`
	// ResetScope of a restart (ResetScope.String).
	ResetScope string `json:"resetScope,omitempty"`
	// Message of a quarantine.
	Message string `json:"message,omitempty"`
	// OnDemand is the request of a provisionOnDemand.
	OnDemand *OnDemandRequest `json:"onDemand,omitempty"`
	// From is the replica that received the request.
	From    string    `json:"from"`
	Created time.Time `json:"created"`
}

// Kinds of command errors (CommandResult.Kind): the error the engine returned, so that
// the replica that received the request answers as the owner would have.
const (
	KindUnknownJob    = "unknownJob"
	KindInvalid       = "invalid"
	KindConflict      = "conflict"
	KindUnknownObject = "unknownObject"
)

// CommandResult is what running a command gave.
type CommandResult struct {
	// Error is the error message ("" for success) and Kind its class (Kind* or "").
	Error string `json:"error,omitempty"`
	Kind  string `json:"kind,omitempty"`
	// OnDemand is the result of a provisionOnDemand.
	OnDemand *OnDemandResult `json:"onDemand,omitempty"`
	// By is the replica that ran the command.
	By string `json:"by"`
}

// Leaser coordinates the replicas of a deployment that share one store: it leases each job
// to exactly one replica, and carries admin commands from the replica that received them
// to the replica holding the job. store/postgres implements it. Without a Leaser
// (Options.Leaser nil, the SQLite store) the engine runs every job itself.
//
// Every method is safe for concurrent use. Times are the store's clock, so that replicas'
// clocks need not agree.
type Leaser interface {
	// ClaimLeases records that replica is alive, renews the leases it holds among jobIDs,
	// and takes those that no live replica holds (never leased, released, or expired) as
	// long as it holds fewer than its fair share of jobIDs. A lease lasts ttl unless
	// renewed. It returns the leases replica holds afterwards.
	ClaimLeases(ctx context.Context, replica string, jobIDs []string, ttl time.Duration) (LeaseClaim, error)
	// ReleaseLeases gives up the leases replica holds among jobIDs, so that another replica
	// can take them at once (at shutdown, or to hand over jobs beyond its share).
	ReleaseLeases(ctx context.Context, replica string, jobIDs []string) error
	// SendCommand queues a command for the replica holding the job's lease.
	SendCommand(ctx context.Context, c Command) error
	// TakeCommands returns the queued commands of the jobs whose lease replica holds,
	// oldest first, and marks them taken. Commands taken by a replica that lost the lease
	// before completing them are handed to the next holder.
	TakeCommands(ctx context.Context, replica string) ([]Command, error)
	// CompleteCommand records a command's result.
	CompleteCommand(ctx context.Context, id string, r CommandResult) error
	// CommandResult returns a command's result; done is false while it has not run.
	CommandResult(ctx context.Context, id string) (r CommandResult, done bool, err error)
}

// Lease defaults.
const (
	// DefaultLeaseTTL is how long a lease lasts without renewal (Options.LeaseTTL).
	DefaultLeaseTTL = 15 * time.Second
	// DefaultCommandPoll is how often a replica looks for forwarded admin actions.
	DefaultCommandPoll = 500 * time.Millisecond
	// commandTimeout bounds how long a replica waits for the holder of a job to run a
	// forwarded admin action; onDemandTimeout, a provision on demand.
	commandTimeout  = 30 * time.Second
	onDemandTimeout = 5 * time.Minute
	// resultPoll is how often a forwarding replica looks for the result.
	resultPoll = 50 * time.Millisecond
	// joinDelay is how long a starting replica waits between announcing itself and taking
	// its share of the jobs.
	joinDelay = time.Second
)

// leaseState is a replica's hold on a job (jobRun.lease, guarded by jobRun.mu). Without a
// Leaser, held is always true and current nil.
type leaseState struct {
	// held: this replica runs the job's cycles, fenced by current.
	held    bool
	current *Lease
	// pending is a lease granted but not yet taken up: the job's loop reloads the job's
	// state from the store (another replica may have run it) before holding it.
	pending *Lease
	// deadline is when the lease lapses unless renewed, on this replica's clock (at the
	// latest LeaseTTL after the claim that renewed it began: never after the store's).
	deadline time.Time
}

// held reports whether this replica runs the job.
func (j *jobRun) held() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lease.held
}

// currentLease is the lease fencing the job's commits (nil without a Leaser).
func (j *jobRun) currentLease() *Lease {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lease.current
}

// storedStatus is the status of a job another replica runs, as it last committed it;
// ok is false for a job never committed.
func (j *jobRun) storedStatus(ctx context.Context) (s Status, ok bool, err error) {
	st, err := j.e.store.LoadJobState(ctx, j.job.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Status{}, false, nil
	case err != nil:
		return Status{}, false, err
	}
	if st.Status.SynchronizedEntryCountByType == nil {
		st.Status.SynchronizedEntryCountByType = map[string]int64{}
	}
	return st.Status, true, nil
}

// adoptLease takes up a pending lease: see adoptLeaseLocked.
func (j *jobRun) adoptLease(ctx context.Context) error {
	if j.e.leases == nil {
		return nil
	}
	j.cycleMu.Lock()
	defer j.cycleMu.Unlock()
	return j.adoptLeaseLocked(ctx)
}

// adoptLeaseLocked takes up a pending lease, with cycleMu held (no cycle of the job runs
// here): it reloads the job's state from the store, which the previous holder wrote, and
// holds the job from then on.
func (j *jobRun) adoptLeaseLocked(ctx context.Context) error {
	j.mu.Lock()
	p := j.lease.pending
	j.mu.Unlock()
	if p == nil {
		return nil
	}
	st, err := j.loadState(ctx)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lease.pending != p {
		return nil // lost or granted anew meanwhile: the next wake takes it up
	}
	j.state = st
	j.lease.current, j.lease.pending, j.lease.held = p, nil, true
	j.e.log.Info("job lease acquired: this replica runs the job", "job", j.job.ID, "replica", p.Owner, "epoch", p.Epoch)
	return nil
}

func (j *jobRun) wakeUp() {
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// keepLease records that the store granted or renewed l until (locally) deadline.
func (j *jobRun) keepLease(l Lease, deadline time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.lease.held && j.lease.current.Epoch == l.Epoch,
		j.lease.pending != nil && j.lease.pending.Epoch == l.Epoch:
		j.lease.deadline = deadline
		return
	case j.lease.held:
		// A new epoch: the lease lapsed and was taken back. Commits fenced by the old one
		// fail; the running cycle stops and the job's state is reloaded.
		j.lease.held, j.lease.current = false, nil
		j.stopCycle.Store(true)
	}
	j.lease.pending, j.lease.deadline = &l, deadline
	j.wakeUp()
}

// loseLease records that this replica no longer holds the job: a running cycle stops at
// its next batch boundary (its commits are fenced: none passes once another replica holds
// the lease).
func (j *jobRun) loseLease(reason string) {
	j.mu.Lock()
	had := j.lease.held || j.lease.pending != nil
	j.lease = leaseState{}
	j.mu.Unlock()
	if had {
		j.stopCycle.Store(true)
		j.e.log.Warn("job lease lost: another replica may run the job", "job", j.job.ID, "reason", reason)
		j.wakeUp()
	}
}

// lapsed reports whether the lease this replica holds has run out without renewal.
func (j *jobRun) lapsed(now time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return (j.lease.held || j.lease.pending != nil) && now.After(j.lease.deadline)
}

// releaseIdle gives up the job if this replica holds it and no cycle is running.
func (j *jobRun) releaseIdle() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.lease.held || j.running {
		return false
	}
	j.lease = leaseState{}
	return true
}

// leaseManager is an engine's side of a Leaser: it claims and renews leases, gives up
// jobs beyond its fair share, runs the admin actions other replicas forward to it, and
// forwards those on jobs it does not hold.
type leaseManager struct {
	e       *Engine
	l       Leaser
	replica string
	ttl     time.Duration
	renew   time.Duration // how often leases are renewed (ttl/3)
	poll    time.Duration // how often commands are looked for

	qmu    sync.Mutex
	queue  []Command
	qready chan struct{}

	stopc chan struct{}
	wg    sync.WaitGroup
}

func newLeaseManager(e *Engine, o Options) *leaseManager {
	m := &leaseManager{e: e, l: o.Leaser, replica: o.Replica, ttl: o.LeaseTTL, poll: o.CommandPoll,
		qready: make(chan struct{}, 1), stopc: make(chan struct{})}
	if m.replica == "" {
		host, _ := os.Hostname()
		m.replica = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if m.ttl <= 0 {
		m.ttl = DefaultLeaseTTL
	}
	if m.poll <= 0 {
		m.poll = DefaultCommandPoll
	}
	m.renew = m.ttl / 3
	return m
}

// Replica is this engine's name among the replicas ("" without a Leaser).
func (e *Engine) Replica() string {
	if e.leases == nil {
		return ""
	}
	return e.leases.replica
}

// Holds reports whether this engine runs the job's cycles: always without a Leaser, and
// while it holds the job's lease with one.
func (e *Engine) Holds(id string) bool {
	j, err := e.job(id)
	return err == nil && j.held()
}

func (e *Engine) jobList() []*jobRun {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*jobRun, 0, len(e.order))
	for _, id := range e.order {
		out = append(out, e.jobs[id])
	}
	return out
}

func (m *leaseManager) start() {
	m.wg.Add(2)
	go m.loop()
	go m.execLoop()
}

// stop ends the manager after the engine's job loops have stopped, and releases every
// lease so that the other replicas take the jobs over at once.
func (m *leaseManager) stop() {
	close(m.stopc)
	m.wg.Wait()
	for _, j := range m.e.jobList() {
		j.mu.Lock()
		j.lease = leaseState{}
		j.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.l.ReleaseLeases(ctx, m.replica, nil); err != nil {
		m.e.log.Warn("releasing job leases at shutdown (they expire on their own)", "replica", m.replica, "error", err)
	}
}

func (m *leaseManager) loop() {
	defer m.wg.Done()
	ctx := context.Background()
	// The first claim only announces this replica, so that replicas starting together
	// count each other before taking their shares of the jobs a moment later.
	m.claim(ctx, false)
	next := time.Now().Add(min(m.renew, joinDelay))
	t := time.NewTicker(min(m.poll, m.renew))
	defer t.Stop()
	for {
		select {
		case <-m.stopc:
			return
		case <-t.C:
		}
		if now := time.Now(); !now.Before(next) {
			m.claim(ctx, true)
			next = now.Add(m.renew)
		}
		m.takeCommands(ctx)
	}
}

// claim renews and takes leases (with jobs false, only announces the replica).
func (m *leaseManager) claim(ctx context.Context, jobs bool) {
	all := m.e.jobList()
	var ids []string
	if jobs {
		for _, j := range all {
			ids = append(ids, j.job.ID)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, m.renew)
	defer cancel()
	began := time.Now()
	claim, err := m.l.ClaimLeases(cctx, m.replica, ids, m.ttl)
	if err != nil {
		m.e.log.Warn("claiming job leases", "replica", m.replica, "error", err)
		now := time.Now()
		for _, j := range all {
			if j.lapsed(now) {
				j.loseLease("not renewed within the lease TTL: " + err.Error())
			}
		}
		return
	}
	if !jobs {
		return
	}
	deadline := began.Add(m.ttl)
	held := make(map[string]Lease, len(claim.Held))
	for _, l := range claim.Held {
		held[l.JobID] = l
	}
	for _, j := range all {
		if l, ok := held[j.job.ID]; ok {
			j.keepLease(l, deadline)
		} else {
			j.loseLease("held by another replica")
		}
	}
	// Beyond its fair share (another replica joined), a replica hands over idle jobs.
	var release []string
	for i := len(all) - 1; i >= 0 && len(claim.Held)-len(release) > claim.Share; i-- {
		if _, ok := held[all[i].job.ID]; ok && all[i].releaseIdle() {
			release = append(release, all[i].job.ID)
		}
	}
	if len(release) > 0 {
		m.e.log.Info("handing jobs over to other replicas (beyond this replica's share)", "replica", m.replica,
			"jobs", release, "share", claim.Share, "replicas", claim.Replicas)
		if err := m.l.ReleaseLeases(cctx, m.replica, release); err != nil {
			m.e.log.Warn("releasing job leases (they expire on their own)", "error", err)
		}
	}
}

// takeCommands queues for execution the commands forwarded to this replica.
func (m *leaseManager) takeCommands(ctx context.Context) {
	any := false
	for _, j := range m.e.jobList() {
		if j.held() {
			any = true
			break
		}
	}
	if !any {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, m.renew)
	defer cancel()
	cmds, err := m.l.TakeCommands(cctx, m.replica)
	if err != nil {
		m.e.log.Warn("taking forwarded admin actions", "replica", m.replica, "error", err)
		return
	}
	if len(cmds) == 0 {
		return
	}
	m.qmu.Lock()
	m.queue = append(m.queue, cmds...)
	m.qmu.Unlock()
	select {
	case m.qready <- struct{}{}:
	default:
	}
}

// execLoop runs forwarded commands one at a time, in the order they were sent.
func (m *leaseManager) execLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stopc:
			return
		case <-m.qready:
		}
		for {
			m.qmu.Lock()
			if len(m.queue) == 0 {
				m.qmu.Unlock()
				break
			}
			c := m.queue[0]
			m.queue = m.queue[1:]
			m.qmu.Unlock()
			m.exec(c)
		}
	}
}

// exec runs a forwarded command as the engine's own method would and records its result.
// A command on a job this replica no longer holds is left to the job's next holder.
func (m *leaseManager) exec(c Command) {
	e := m.e
	ctx := context.Background()
	r := CommandResult{By: m.replica}
	j, err := e.job(c.JobID)
	if err == nil && !j.held() {
		return
	}
	if err == nil {
		switch c.Action {
		case CommandStart:
			err = e.start(ctx, j, c.Actor)
		case CommandPause:
			err = e.pause(ctx, j, c.Actor)
		case CommandSyncNow:
			err = e.syncNow(ctx, j, c.Actor)
		case CommandRestart:
			var scope ResetScope
			if scope, err = ParseResetScope(c.ResetScope); err == nil {
				err = e.restart(ctx, j, scope, c.Actor)
			}
		case CommandQuarantine:
			err = e.quarantine(ctx, j, c.Actor, c.Message)
		case CommandProvisionOnDemand:
			if c.OnDemand == nil {
				err = invalidf("provisionOnDemand without a request")
				break
			}
			r.OnDemand, err = e.provisionOnDemand(ctx, j, *c.OnDemand, c.Actor)
		default:
			err = invalidf("unknown admin action %q", c.Action)
		}
	}
	if err != nil {
		r.Error, r.Kind = err.Error(), kindOf(err)
	}
	e.log.Info("ran an admin action forwarded by another replica", "job", c.JobID, "action", c.Action,
		"actor", c.Actor, "from", c.From, "error", r.Error)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.l.CompleteCommand(cctx, c.ID, r); err != nil {
		e.log.Error("recording the result of a forwarded admin action", "job", c.JobID, "action", c.Action, "error", err)
	}
}

func kindOf(err error) string {
	switch {
	case errors.Is(err, ErrUnknownJob):
		return KindUnknownJob
	case errors.Is(err, ErrInvalidRequest):
		return KindInvalid
	case errors.Is(err, ErrConflict):
		return KindConflict
	case errors.Is(err, ErrUnknownObject):
		return KindUnknownObject
	}
	return ""
}

// remoteError is an error another replica returned, with its class.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// err is the error a command result carries (nil for success).
func (r CommandResult) err() error {
	if r.Error == "" {
		return nil
	}
	var kind error
	switch r.Kind {
	case KindUnknownJob:
		kind = ErrUnknownJob
	case KindInvalid:
		kind = ErrInvalidRequest
	case KindConflict:
		kind = ErrConflict
	case KindUnknownObject:
		kind = ErrUnknownObject
	}
	return &remoteError{msg: r.Error, kind: kind}
}

// forward sends an admin action on a job this replica does not hold to the replica that
// does, and waits for its result (at most commandTimeout, onDemandTimeout for a provision
// on demand, or until ctx ends). When the wait ends first the action stays queued: it runs
// once a replica holds the job.
func (m *leaseManager) forward(ctx context.Context, c Command) (CommandResult, error) {
	c.ID, c.From, c.Created = uuid.NewString(), m.replica, m.e.now()
	if c.Action == CommandRestart && c.ResetScope == "" {
		c.ResetScope = "none"
	}
	timeout := commandTimeout
	if c.Action == CommandProvisionOnDemand {
		timeout = onDemandTimeout
	}
	if err := m.l.SendCommand(ctx, c); err != nil {
		return CommandResult{}, fmt.Errorf("job %s runs on another replica; forwarding %s to it: %w", c.JobID, c.Action, err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(resultPoll)
	defer tick.Stop()
	for {
		r, done, err := m.l.CommandResult(ctx, c.ID)
		if err != nil {
			return r, fmt.Errorf("job %s: result of %s from the replica running it: %w", c.JobID, c.Action, err)
		}
		if done {
			return r, r.err()
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("job %s runs on another replica; waiting for it to run %s: %w", c.JobID, c.Action, ctx.Err())
		case <-deadline.C:
			return r, fmt.Errorf("job %s runs on another replica, which has not run %s within %v; the action stays queued and runs when a replica holds the job: %w",
				c.JobID, c.Action, timeout, context.DeadlineExceeded)
		case <-tick.C:
		}
	}
}
