// Package provisioning is provisiond's engine: jobs, cycles, the per-object pipeline
// (import → scoping → matching → processing → referenceResolution → export), escrow and
// retry, quarantine, the accidental-deletion breaker, provision on demand and the
// scheduler. It persists through the Store interface and reports through Observer and
// Recorder; it imports neither a database driver nor an OpenTelemetry SDK.
package provisioning

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning/mapping"
)

// Options configure an Engine.
type Options struct {
	Store    Store
	Observer Observer
	Recorder Recorder
	Logger   *slog.Logger
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
	// InitiatedBy names the service in events (default "provisiond").
	InitiatedBy string
	// Leaser, when set, makes this engine one replica of several sharing the store: it
	// runs the cycles of the jobs whose lease it holds, forwards admin actions on the
	// others to their holder, and reads their status from the store (see lease.go).
	// Without one the engine runs every job itself.
	Leaser Leaser
	// Replica names this engine among the replicas (default: host name, process id and a
	// random suffix). Replicas must have distinct names.
	Replica string
	// LeaseTTL is how long a lease lasts without renewal: a killed replica's jobs move to
	// another replica within about LeaseTTL (default DefaultLeaseTTL). Leases are renewed
	// every LeaseTTL/3.
	LeaseTTL time.Duration
	// CommandPoll is how often a replica looks for admin actions forwarded to it (default
	// DefaultCommandPoll).
	CommandPoll time.Duration
}

// Engine runs provisioning jobs.
type Engine struct {
	store    Store
	obs      Observer
	rec      Recorder
	log      *slog.Logger
	now      func() time.Time
	service  Initiator
	mu       sync.RWMutex
	jobs     map[string]*jobRun
	order    []string
	running  atomic.Bool
	runWG    sync.WaitGroup
	shutdown chan struct{}
	// leases is nil without a Leaser.
	leases *leaseManager
}

var randPool sync.Once

// New returns an engine.
func New(o Options) *Engine {
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Recorder == nil {
		o.Recorder = NopRecorder{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InitiatedBy == "" {
		o.InitiatedBy = "provisiond"
	}
	randPool.Do(uuid.EnableRandPool) // once: engines (replicas in tests) may share a process
	e := &Engine{
		store: o.Store, obs: o.Observer, rec: o.Recorder, log: o.Logger, now: o.Now,
		service:  Initiator{ID: o.InitiatedBy, DisplayName: o.InitiatedBy + " provisioning service", InitiatorType: "system"},
		jobs:     map[string]*jobRun{},
		shutdown: make(chan struct{}),
	}
	if o.Leaser != nil {
		e.leases = newLeaseManager(e, o)
	}
	return e
}

// jobRun is a job's runtime state.
type jobRun struct {
	e        *Engine
	job      Job
	src      connectors.Source
	tgt      connectors.Target
	users    *mapping.Compiled
	groups   *mapping.Compiled
	onCreate map[connectors.ObjectType]map[string]bool
	required map[connectors.ObjectType][]string
	limiter  *rate.Limiter

	// chunkMu serializes object processing between a cycle's chunks and on-demand requests.
	chunkMu sync.Mutex
	// inflight counts batches committing in the background.
	inflight sync.WaitGroup
	// cycleMu is held while a cycle runs.
	cycleMu sync.Mutex

	mu       sync.Mutex // guards state, progress
	state    JobState
	progress Progress
	running  bool
	cycle    *Cycle

	trigger   chan struct{}
	stopCycle atomic.Bool // pause or restart requested: stop after the current chunk

	// lease is this replica's hold on the job (guarded by mu); wake tells the job's loop
	// that it changed.
	lease leaseState
	wake  chan struct{}
}

// AddJob registers a job with its connectors. It loads the job's state from the store and
// validates the mappings.
func (e *Engine) AddJob(ctx context.Context, job Job, src connectors.Source, tgt connectors.Target) error {
	if job.ID == "" {
		return invalidf("job id is empty")
	}
	if job.Schedule.Interval <= 0 {
		job.Schedule.Interval = Duration(DefaultInterval)
	}
	job.Settings = job.Settings.Defaults()
	users, err := mapping.Compile(job.Users)
	if err != nil {
		return fmt.Errorf("job %s: users mapping: %w", job.ID, err)
	}
	var groups *mapping.Compiled
	if job.Groups != nil {
		if groups, err = mapping.Compile(*job.Groups); err != nil {
			return fmt.Errorf("job %s: groups mapping: %w", job.ID, err)
		}
	}
	j := &jobRun{e: e, job: job, src: src, tgt: tgt, users: users, groups: groups, trigger: make(chan struct{}, 1),
		onCreate: map[connectors.ObjectType]map[string]bool{connectors.TypeUser: onCreateSet(job.Users)},
		wake:     make(chan struct{}, 1), lease: leaseState{held: e.leases == nil}}
	j.required = map[connectors.ObjectType][]string{connectors.TypeUser: requiredSet(job.Users)}
	if job.Groups != nil {
		j.onCreate[connectors.TypeGroup] = onCreateSet(*job.Groups)
		j.required[connectors.TypeGroup] = requiredSet(*job.Groups)
	}
	if r := job.Settings.MaxRequestsPerSecond; r > 0 {
		burst := int(r)
		if burst < 1 {
			burst = 1
		}
		j.limiter = rate.NewLimiter(rate.Limit(r), burst)
	}
	st, err := j.loadState(ctx)
	if err != nil {
		return err
	}
	j.state = st
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.jobs[job.ID]; dup {
		return invalidf("job %q is defined twice", job.ID)
	}
	e.jobs[job.ID] = j
	e.order = append(e.order, job.ID)
	if e.running.Load() {
		e.runWG.Add(1)
		go j.loop(e.shutdown)
	}
	return nil
}

// loadState reads the job's state from the store (a new state for a job never seen) and
// applies the configuration: a change to mappings or scoping starts a new initial cycle.
func (j *jobRun) loadState(ctx context.Context) (JobState, error) {
	e, job := j.e, j.job
	st, err := e.store.LoadJobState(ctx, job.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		st = JobState{JobID: job.ID, Status: Status{Code: StatusNotRun}, Paused: job.Schedule.Paused}
		if st.Paused {
			st.Status.Code = StatusPaused
		}
	case err != nil:
		return st, fmt.Errorf("job %s: load state: %w", job.ID, err)
	}
	// A change to mappings or scoping starts a new initial cycle (as Entra does).
	hash := configHash(job)
	if st.ConfigHash != hash {
		if st.ConfigHash != "" {
			e.log.Info("mappings or scoping changed: next cycle is an initial cycle", "job", job.ID)
			st.Watermarks = nil
			st.Checkpoint = nil
		}
		st.ConfigHash = hash
	}
	if st.Status.SynchronizedEntryCountByType == nil {
		st.Status.SynchronizedEntryCountByType = map[string]int64{}
	}
	st.Status.Progress = nil // live progress is the running cycle's (replicas store theirs)
	return st, nil
}

func onCreateSet(m mapping.ObjectMapping) map[string]bool {
	s := map[string]bool{}
	for _, a := range m.Attributes {
		if a.Apply == mapping.OnCreate {
			s[a.Target] = true
		}
	}
	return s
}

func requiredSet(m mapping.ObjectMapping) []string {
	var out []string
	for _, a := range m.Attributes {
		if a.Required && !a.Reference {
			out = append(out, a.Target)
		}
	}
	return out
}

func configHash(job Job) string {
	b, _ := json.Marshal(struct {
		U mapping.ObjectMapping
		G *mapping.ObjectMapping
	}{job.Users, job.Groups})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

func (e *Engine) job(id string) (*jobRun, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	j, ok := e.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	return j, nil
}

// Jobs returns the registered jobs in registration order.
func (e *Engine) Jobs() []Job {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Job, 0, len(e.order))
	for _, id := range e.order {
		out = append(out, e.jobs[id].job)
	}
	return out
}

// Job returns one job.
func (e *Engine) Job(id string) (Job, error) {
	j, err := e.job(id)
	if err != nil {
		return Job{}, err
	}
	return j.job, nil
}

// Status returns a job's status with live progress. With a Leaser, the status of a job
// another replica runs is what that replica last committed (progress as of its last batch).
func (e *Engine) Status(ctx context.Context, id string) (Status, error) {
	j, err := e.job(id)
	if err != nil {
		return Status{}, err
	}
	if !j.held() {
		if s, ok, err := j.storedStatus(ctx); ok || err != nil {
			return s, err
		}
	}
	return j.status(), nil
}

func (j *jobRun) status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.state.Status
	if j.progress.CycleID != "" {
		p := j.progress
		s.Progress = &p
	}
	s.SynchronizedEntryCountByType = make(map[string]int64, len(j.state.Status.SynchronizedEntryCountByType))
	for k, v := range j.state.Status.SynchronizedEntryCountByType {
		s.SynchronizedEntryCountByType[k] = v
	}
	return s
}

// Run starts every job's scheduler and blocks until ctx is done; then it stops the
// schedulers, letting each running cycle commit the batch in flight, and returns.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("engine already running")
	}
	if e.leases != nil {
		e.leases.start()
	}
	e.mu.RLock()
	for _, id := range e.order {
		e.runWG.Add(1)
		go e.jobs[id].loop(e.shutdown)
	}
	e.mu.RUnlock()
	<-ctx.Done()
	close(e.shutdown)
	e.mu.RLock()
	for _, j := range e.jobs {
		j.stopCycle.Store(true)
	}
	e.mu.RUnlock()
	e.runWG.Wait()
	if e.leases != nil {
		// The cycles have committed their checkpoints: hand the jobs over at once.
		e.leases.stop()
	}
	return nil
}

// loop is a job's scheduler: it runs a cycle, waits the interval (or the quarantine's next
// attempt), and repeats; a trigger (sync now, start, restart) runs a cycle at once.
func (j *jobRun) loop(shutdown <-chan struct{}) {
	defer j.e.runWG.Done()
	for {
		if err := j.adoptLease(context.Background()); err != nil {
			j.e.log.Error("taking up a job's lease", "job", j.job.ID, "error", err)
		}
		wait := j.nextWait()
		j.mu.Lock()
		if wait >= 0 {
			next := j.e.now().Add(wait)
			j.state.Status.NextRun = &next
		} else {
			j.state.Status.NextRun = nil
		}
		j.mu.Unlock()
		var timer <-chan time.Time
		var t *time.Timer
		if wait >= 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		woken := false
		select {
		case <-shutdown:
		case <-j.trigger:
		case <-timer:
		case <-j.wake: // the lease changed: take it up and wait anew
			woken = true
		}
		if t != nil {
			t.Stop()
		}
		if woken {
			continue
		}
		select {
		case <-shutdown:
			return
		default:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-shutdown:
				j.stopCycle.Store(true)
			case <-ctx.Done():
			}
		}()
		if _, err := j.runCycle(ctx, false); err != nil && !errors.Is(err, errStopped) && !errors.Is(err, ErrLeaseLost) {
			j.e.log.Error("cycle failed", "job", j.job.ID, "error", err)
		}
		cancel()
	}
}

// nextWait returns how long to wait before the next cycle; -1 means "until triggered".
func (j *jobRun) nextWait() time.Duration {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.state
	now := j.e.now()
	switch {
	case !j.lease.held:
		return -1 // another replica runs it
	case st.Paused:
		return -1
	case st.Status.Code == StatusQuarantine && st.Status.Quarantine != nil:
		if st.Status.Quarantine.Reason == ReasonTooManyDeletes {
			return -1 // needs an admin decision: ForceDeletes, or a fix and a restart
		}
		return max(st.Status.Quarantine.NextAttempt.Sub(now), 0)
	case st.Checkpoint != nil:
		return 0 // resume an interrupted cycle at once
	case st.Status.LastExecution == nil || st.Status.LastExecution.TimeEnded == nil:
		return 0
	default:
		next := st.Status.LastExecution.TimeEnded.Add(j.job.Schedule.Interval.D())
		return max(next.Sub(now), 0)
	}
}

func (j *jobRun) kick() {
	select {
	case j.trigger <- struct{}{}:
	default:
	}
}

// SyncNow runs an incremental cycle of the job now (Entra cannot).
func (e *Engine) SyncNow(ctx context.Context, id, actor string) error {
	j, err := e.job(id)
	if err != nil {
		return err
	}
	if !j.held() {
		_, err := e.leases.forward(ctx, Command{JobID: id, Action: CommandSyncNow, Actor: actor})
		return err
	}
	return e.syncNow(ctx, j, actor)
}

func (e *Engine) syncNow(ctx context.Context, j *jobRun, actor string) error {
	id := j.job.ID
	j.mu.Lock()
	paused := j.state.Paused
	j.mu.Unlock()
	if paused {
		return fmt.Errorf("%w: job %s is paused; start it first", ErrConflict, id)
	}
	e.audit(ctx, actor, "syncNow", id, nil)
	j.kick()
	return nil
}

// Start resumes a paused job and clears a quarantine (Graph's start), then runs a cycle.
func (e *Engine) Start(ctx context.Context, id, actor string) error {
	j, err := e.job(id)
	if err != nil {
		return err
	}
	if !j.held() {
		_, err := e.leases.forward(ctx, Command{JobID: id, Action: CommandStart, Actor: actor})
		return err
	}
	return e.start(ctx, j, actor)
}

func (e *Engine) start(ctx context.Context, j *jobRun, actor string) error {
	err := j.changeState(ctx, actor, "start", nil, func(st *JobState) {
		st.Paused = false
		if st.Status.Code == StatusQuarantine || st.Status.Code == StatusPaused {
			st.Status.Quarantine = nil
			st.Status.Code = j.activeCode(st)
		}
	})
	if err == nil {
		j.kick()
	}
	return err
}

// Pause stops the job after the current batch; its state is kept.
func (e *Engine) Pause(ctx context.Context, id, actor string) error {
	j, err := e.job(id)
	if err != nil {
		return err
	}
	if !j.held() {
		_, err := e.leases.forward(ctx, Command{JobID: id, Action: CommandPause, Actor: actor})
		return err
	}
	return e.pause(ctx, j, actor)
}

func (e *Engine) pause(ctx context.Context, j *jobRun, actor string) error {
	j.stopCycle.Store(true)
	return j.changeState(ctx, actor, "pause", nil, func(st *JobState) {
		st.Paused = true
		st.Status.Code = StatusPaused
	})
}

// ResetScope is a set of restart flags (Graph's resetScope).
type ResetScope struct {
	Escrows, Watermark, QuarantineState, ConnectorDataStore, ForceDeletes, Full bool
}

// ParseResetScope parses "Escrows,Watermark" (case-insensitive). Empty means Entra's
// portal restart: QuarantineState, Watermark, Escrows.
func ParseResetScope(s string) (ResetScope, error) {
	var r ResetScope
	s = strings.TrimSpace(s)
	if s == "" {
		return ResetScope{Escrows: true, Watermark: true, QuarantineState: true}, nil
	}
	for _, p := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "escrows":
			r.Escrows = true
		case "watermark":
			r.Watermark = true
		case "quarantinestate":
			r.QuarantineState = true
		case "connectordatastore":
			r.ConnectorDataStore = true
		case "forcedeletes":
			r.ForceDeletes = true
		case "full":
			r.Full = true
		case "none":
		default:
			return r, invalidf("unknown resetScope %q: want a comma-separated list of Escrows, Watermark, QuarantineState, ConnectorDataStore, ForceDeletes, Full", strings.TrimSpace(p))
		}
	}
	if r.Full {
		r.Escrows, r.Watermark, r.QuarantineState, r.ConnectorDataStore = true, true, true, true
	}
	return r, nil
}

func (r ResetScope) String() string {
	var p []string
	for _, f := range []struct {
		on   bool
		name string
	}{{r.Full, "Full"}, {r.Escrows && !r.Full, "Escrows"}, {r.Watermark && !r.Full, "Watermark"}, {r.QuarantineState && !r.Full, "QuarantineState"}, {r.ConnectorDataStore && !r.Full, "ConnectorDataStore"}, {r.ForceDeletes, "ForceDeletes"}} {
		if f.on {
			p = append(p, f.name)
		}
	}
	return strings.Join(p, ",")
}

// Restart resets the job's state as scope says and runs a cycle. A running cycle stops
// after its current batch first.
func (e *Engine) Restart(ctx context.Context, id string, scope ResetScope, actor string) error {
	j, err := e.job(id)
	if err != nil {
		return err
	}
	if !j.held() {
		_, err := e.leases.forward(ctx, Command{JobID: id, Action: CommandRestart, Actor: actor, ResetScope: scope.String()})
		return err
	}
	return e.restart(ctx, j, scope, actor)
}

func (e *Engine) restart(ctx context.Context, j *jobRun, scope ResetScope, actor string) error {
	id := j.job.ID
	j.stopCycle.Store(true)
	j.cycleMu.Lock() // wait for a running cycle to stop
	defer j.cycleMu.Unlock()
	j.stopCycle.Store(false)
	if scope.Escrows {
		if err := e.store.ClearEscrows(ctx, id); err != nil {
			return err
		}
	}
	if scope.ConnectorDataStore {
		if err := e.store.ClearLinks(ctx, id); err != nil {
			return err
		}
	}
	if (scope.Watermark || scope.ConnectorDataStore) && !scope.ForceDeletes {
		// Held deletes are re-evaluated by the full read that follows.
		if err := e.store.ClearStaged(ctx, id); err != nil {
			return err
		}
	}
	err := j.changeState(ctx, actor, "restart", map[string]string{"resetScope": scope.String()}, func(st *JobState) {
		if scope.Escrows {
			st.Status.EscrowsPruned = false
			st.Status.EscrowCount = 0
		}
		if scope.Watermark || scope.ConnectorDataStore {
			st.Watermarks = nil
			st.Checkpoint = nil
		}
		if scope.ConnectorDataStore {
			st.Status.SynchronizedEntryCountByType = map[string]int64{}
		}
		if scope.ForceDeletes {
			st.ForceDeletes = true
		}
		if scope.QuarantineState || scope.ForceDeletes && st.Status.Quarantine != nil && st.Status.Quarantine.Reason == ReasonTooManyDeletes {
			st.Status.Quarantine = nil
			if st.Status.Code == StatusQuarantine {
				st.Status.Code = j.activeCode(st)
			}
		}
		st.Paused = false
		if st.Status.Code == StatusPaused {
			st.Status.Code = j.activeCode(st)
		}
	})
	if err == nil {
		j.kick()
	}
	return err
}

// Quarantine puts a job in quarantine by an admin's decision (QuarantinedOnDemand).
func (e *Engine) Quarantine(ctx context.Context, id, actor, message string) error {
	j, err := e.job(id)
	if err != nil {
		return err
	}
	if !j.held() {
		_, err := e.leases.forward(ctx, Command{JobID: id, Action: CommandQuarantine, Actor: actor, Message: message})
		return err
	}
	return e.quarantine(ctx, j, actor, message)
}

func (e *Engine) quarantine(ctx context.Context, j *jobRun, actor, message string) error {
	j.stopCycle.Store(true)
	now := e.now()
	return j.changeState(ctx, actor, "quarantine", map[string]string{"message": message}, func(st *JobState) {
		q := &Quarantine{CurrentBegan: now, SeriesBegan: now, Reason: ReasonQuarantinedOnDemand,
			NextAttempt: now.Add(j.job.Settings.QuarantineBackoff[0].D()),
			Error:       SynchronizationErr{Code: string(ReasonQuarantinedOnDemand), Message: message, TenantActionable: true}}
		st.Status.Quarantine = q
		st.Status.Code = StatusQuarantine
	})
}

func (j *jobRun) activeCode(st *JobState) StatusCode {
	if st.Status.InitialCycleCompleted {
		return StatusActive
	}
	return StatusNotRun
}

// changeState applies fn to the job state and persists it with an audit entry and, when
// the status code or quarantine changed, a history entry.
func (j *jobRun) changeState(ctx context.Context, actor, action string, details map[string]string, fn func(*JobState)) error {
	e := j.e
	j.mu.Lock()
	old := j.state.Status
	st := j.state
	st.Status.SynchronizedEntryCountByType = j.state.Status.SynchronizedEntryCountByType
	fn(&st)
	st.Updated = e.now()
	entry := AuditEntry{ID: uuid.NewString(), Time: e.now(), Actor: actor, Action: action, JobID: j.job.ID, Details: details, Result: "success"}
	b := Batch{JobID: j.job.ID, State: &st, Audit: []AuditEntry{entry}, Lease: j.lease.current}
	change, changed := statusChange(j.job.ID, old, st.Status, e.now(), "", "admin action "+action+" by "+actor)
	if changed {
		b.History = append(b.History, change)
	}
	if err := e.store.Commit(ctx, b); err != nil {
		j.mu.Unlock()
		return err
	}
	j.state = st
	status := st.Status
	j.mu.Unlock()
	e.obs.AdminAction(ctx, entry)
	if changed {
		e.obs.StatusChanged(ctx, &j.job, change, status)
	}
	return nil
}

func (e *Engine) audit(ctx context.Context, actor, action, jobID string, details map[string]string) {
	entry := AuditEntry{ID: uuid.NewString(), Time: e.now(), Actor: actor, Action: action, JobID: jobID, Details: details, Result: "success"}
	if err := e.store.Commit(ctx, Batch{JobID: jobID, Audit: []AuditEntry{entry}}); err != nil {
		e.log.Error("audit", "error", err)
	}
	e.obs.AdminAction(ctx, entry)
}

// statusChange returns a history entry when the code or the quarantine changed.
func statusChange(jobID string, old, cur Status, now time.Time, cycleID, msg string) (StatusChange, bool) {
	oldReason, newReason := QuarantineReason(""), QuarantineReason("")
	if old.Quarantine != nil {
		oldReason = old.Quarantine.Reason
	}
	if cur.Quarantine != nil {
		newReason = cur.Quarantine.Reason
	}
	if old.Code == cur.Code && oldReason == newReason {
		return StatusChange{}, false
	}
	ch := StatusChange{JobID: jobID, Time: now, OldCode: old.Code, NewCode: cur.Code, Reason: newReason, Message: msg, CycleID: cycleID}
	if cur.Quarantine != nil {
		q := *cur.Quarantine
		ch.Quarantine = &q
		if msg == "" {
			ch.Message = q.Error.Message
		}
	}
	return ch, true
}

// sortedKeys returns a map's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
