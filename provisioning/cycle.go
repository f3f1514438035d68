package provisioning

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/provisiond/provisiond/connectors"
)

// Cycle phases, in order. A checkpoint records the phase and how many of its items have
// committed, so a restarted daemon resumes where it stopped.
const (
	phaseUsers       = "users"
	phaseGroups      = "groups"
	phaseEscrows     = "escrows"
	phaseReferences  = "references"
	phaseDeprovision = "deprovision"
)

var phases = []string{phaseUsers, phaseGroups, phaseEscrows, phaseReferences, phaseDeprovision}

// errSourceMoved: on resume, the source no longer emits the checkpoint's change at its
// position.
var errSourceMoved = errors.New("source changed since the checkpoint")

// errStopped ends a cycle early on pause, restart or shutdown (after its current batch).
var errStopped = errors.New("cycle stopped")

// cycleRun is the state of one running cycle.
type cycleRun struct {
	j         *jobRun
	c         Cycle
	cp        Checkpoint
	span      CycleSpan
	ctx       context.Context
	bulk      map[connectors.ObjectType]*bulkIndex // initial-cycle bulk matching
	fatal     *fatalError
	refFails  int64
	successes int64
	start     time.Time
	// quarantineRetry: the job was quarantined when this cycle began (it is the retry).
	quarantineRetry bool
	// quarantinedNow: this cycle (re)imposed a quarantine.
	quarantinedNow bool
	// inflight receives the result of the batch committing in the background.
	inflight  chan error
	commitErr error
	overlayMu sync.Mutex
	overlay   map[connectors.ObjectType]map[string]*Link
	// lease fences the cycle's commits (nil without a Leaser).
	lease *Lease
}

type fatalError struct {
	err    error
	object *Identity
}

// item is one unit of work of a phase.
type item struct {
	change connectors.Change
	escrow *Escrow     // set when retrying an escrow
	ref    *PendingRef // set when resolving a pending reference
	staged *StagedOp   // set when applying a staged deprovision
	seq    int         // position in its chunk
}

// RunCycle runs one cycle of a job now and returns it (tests, benchmarks and the CLI's
// one-shot mode). It waits for a cycle already running to finish first.
func (e *Engine) RunCycle(ctx context.Context, id string) (Cycle, error) {
	j, err := e.job(id)
	if err != nil {
		return Cycle{}, err
	}
	return j.runCycle(ctx, true)
}

func (j *jobRun) runCycle(ctx context.Context, explicit bool) (Cycle, error) {
	j.cycleMu.Lock()
	defer j.cycleMu.Unlock()
	e := j.e
	if err := j.adoptLeaseLocked(ctx); err != nil {
		return Cycle{}, err
	}
	j.mu.Lock()
	if !j.lease.held {
		j.mu.Unlock()
		return Cycle{}, fmt.Errorf("%w: job %s runs on another replica", ErrLeaseLost, j.job.ID)
	}
	if j.state.Paused && !explicit {
		j.mu.Unlock()
		return Cycle{}, errStopped
	}
	j.stopCycle.Store(false)
	st := j.state
	lease := j.lease.current
	j.running = true // from here on the job is not handed over as idle
	j.mu.Unlock()

	now := e.now()
	cr := &cycleRun{j: j, start: now, bulk: map[connectors.ObjectType]*bulkIndex{}, lease: lease}
	cr.quarantineRetry = st.Status.Code == StatusQuarantine
	resumed := false
	if cp := st.Checkpoint; cp != nil {
		if c, err := e.store.GetCycle(ctx, j.job.ID, cp.CycleID); err == nil && c.State == CycleRunning {
			cr.c, cr.cp, resumed = c, *cp, true
		}
	}
	if !resumed {
		typ := CycleIncremental
		if !st.Status.InitialCycleCompleted || len(st.Watermarks) == 0 {
			typ = CycleInitial
		}
		cr.c = Cycle{CycleID: uuid.NewString(), JobID: j.job.ID, Type: typ, TimeBegan: now, State: CycleRunning}
		cr.cp = Checkpoint{CycleID: cr.c.CycleID, Type: typ, Phase: phaseUsers}
	}
	if cr.cp.Watermarks == nil {
		cr.cp.Watermarks = map[connectors.ObjectType]string{}
	}
	if cr.cp.Full == nil {
		cr.cp.Full = map[connectors.ObjectType]bool{}
	}
	cctx, span := e.rec.StartCycle(ctx, &j.job, cr.c)
	cr.span, cr.ctx = span, cctx
	cr.c.TraceID, cr.c.SpanID = span.TraceID(), span.SpanID()

	j.mu.Lock()
	j.running = true
	j.progress = Progress{CycleID: cr.c.CycleID, Units: "objects", ProgressObservationDateTime: now}
	cpy := cr.cp
	j.state.Checkpoint = &cpy
	if j.state.Status.Code == StatusNotConfigured || j.state.Status.Code == "" {
		j.state.Status.Code = StatusNotRun
	}
	stNow := j.state
	j.mu.Unlock()
	c := cr.c
	if err := e.store.Commit(ctx, Batch{JobID: j.job.ID, Cycle: &c, State: &stNow, Lease: lease}); err != nil {
		span.End(cr.c)
		j.mu.Lock()
		j.running = false
		j.progress = Progress{}
		j.mu.Unlock()
		return cr.c, fmt.Errorf("begin cycle: %w", err)
	}
	e.obs.CycleStarted(cctx, &j.job, cr.c)
	e.log.Info("cycle started", "job", j.job.ID, "cycle", cr.c.CycleID, "type", cr.c.Type, "resumed", resumed, "phase", cr.cp.Phase, "position", cr.cp.Position)

	err := cr.run()
	return cr.finish(err)
}

func (j *jobRun) setRunning(b bool) {
	j.mu.Lock()
	j.running = b
	j.mu.Unlock()
}

func (cr *cycleRun) run() error {
	j := cr.j
	// Test the connection first, as Entra does: credentials or connectivity failing means
	// quarantine at once, with the exact failing request.
	if err := j.tgt.Test(cr.ctx); err != nil {
		if isQuarantineException(err) {
			cr.fatal = &fatalError{err: err}
			return nil
		}
		return fmt.Errorf("target connection test: %w", err)
	}
	if err := j.src.Test(cr.ctx); err != nil {
		return &sourceError{err}
	}
	start := 0
	for i, p := range phases {
		if p == cr.cp.Phase {
			start = i
		}
	}
	for _, p := range phases[start:] {
		if cr.cp.Phase != p {
			cr.cp.Phase, cr.cp.Position, cr.cp.LastID = p, 0, ""
		}
		var err error
		switch p {
		case phaseUsers:
			err = cr.readPhase(connectors.TypeUser)
		case phaseGroups:
			if j.groups != nil {
				err = cr.readPhase(connectors.TypeGroup)
			}
		case phaseEscrows:
			err = cr.escrowPhase()
		case phaseReferences:
			err = cr.referencePhase()
		case phaseDeprovision:
			err = cr.deprovisionPhase()
		}
		if err != nil {
			return err
		}
		if cr.fatal != nil {
			return nil
		}
	}
	return nil
}

type sourceError struct{ err error }

func (s *sourceError) Error() string { return "source: " + s.err.Error() }
func (s *sourceError) Unwrap() error { return s.err }

// readPhase reads a type's changes from the source (full or since the watermark) and
// processes them in batches. On a full read it then reconciles: linked objects the source
// no longer has are deprovisioned as deleted.
func (cr *cycleRun) readPhase(typ connectors.ObjectType) error {
	j := cr.j
	j.mu.Lock()
	wm := j.state.Watermarks[typ]
	j.mu.Unlock()
	if cr.c.Type == CycleInitial {
		wm = "" // an initial cycle reads everything, also when resumed
	}
	req := connectors.ReadRequest{Type: typ, Watermark: wm}
	if est, ok := j.src.(connectors.Estimator); ok {
		if n, err := est.Estimate(cr.ctx, req); err == nil {
			j.mu.Lock()
			j.progress.TotalUnits += n
			j.mu.Unlock()
		}
	}
	if cr.c.Type == CycleInitial {
		if err := cr.buildBulkIndex(typ); err != nil {
			return err
		}
		if cr.fatal != nil {
			return nil
		}
	}
	skip := cr.cp.Position
	if skip > 0 {
		j.mu.Lock()
		j.progress.CompletedUnits += skip
		j.mu.Unlock()
	}
	var pos int64
	// seen collects the IDs read; after a full read, linked objects not seen are gone.
	seen := map[string]struct{}{}
	// The source is read on its own goroutine, one chunk ahead of processing: parsing
	// the next chunk overlaps with exporting this one. Chunks are processed in order, so
	// checkpoints and the links a chunk sees (the one before it in flight) are as if read
	// in line.
	bs := j.job.Settings.BatchSize
	chunks := make(chan []item, 1)
	stop := make(chan struct{})
	send := func(c []item) error {
		select {
		case chunks <- c:
			return nil
		case <-stop:
			return errStopped
		}
	}
	read := func() (connectors.ReadResult, error) {
		chunk := make([]item, 0, bs)
		res, err := j.src.Read(cr.ctx, req, func(ch connectors.Change) error {
			if res0 := ch.Object.Type; res0 != "" && res0 != typ {
				return nil
			}
			ch.Object.Type = typ
			if ch.Kind != connectors.ChangeDelete {
				seen[ch.Object.ID] = struct{}{}
			}
			pos++
			if pos < skip {
				return nil
			}
			if pos == skip {
				// Resuming: the change at the checkpoint must be the one committed last;
				// otherwise the source changed since and positions no longer line up.
				if cr.cp.LastID != "" && ch.Object.ID != cr.cp.LastID {
					return errSourceMoved
				}
				return nil
			}
			chunk = append(chunk, item{change: ch})
			if len(chunk) >= bs {
				if err := send(chunk); err != nil {
					return err
				}
				chunk = make([]item, 0, bs)
			}
			return nil
		})
		if err == nil && len(chunk) > 0 {
			err = send(chunk)
		}
		return res, err
	}
	var res connectors.ReadResult
	var err error
	go func() {
		defer close(chunks)
		res, err = read()
		if errors.Is(err, errSourceMoved) {
			// Process the phase again from its start: what was exported before the
			// interruption comes out as redundant (already in sync), nothing is missed.
			// (No chunk was sent: the check comes before the first change after skip.)
			j.e.log.Warn("the source changed while the cycle was interrupted: reprocessing the phase from its start", "job", j.job.ID, "type", typ)
			j.mu.Lock()
			j.progress.CompletedUnits -= skip
			j.mu.Unlock()
			pos, skip, cr.cp.Position = 0, 0, 0
			clear(seen)
			res, err = read()
		}
	}()
	// procErr is the processing's own error (errStopped when asked to stop); once set,
	// the reader is stopped and the chunks it still sends are dropped.
	var procErr error
	for c := range chunks {
		if procErr != nil {
			continue
		}
		cr.cp.LastID = c[len(c)-1].change.Object.ID
		procErr = cr.processChunk(c, int64(len(c)))
		if procErr == nil && (cr.fatal != nil || j.stopCycle.Load()) {
			procErr = errStopped
		}
		if procErr != nil {
			close(stop)
		}
	}
	if procErr != nil {
		err = procErr
	}
	if errors.Is(err, errStopped) && cr.fatal != nil {
		return nil
	}
	if err != nil {
		if errors.Is(err, errStopped) || procErr != nil {
			return err
		}
		var ce *connectors.Error
		if errors.As(err, &ce) || !isEngineErr(err) {
			return &sourceError{err}
		}
		return err
	}
	if cr.fatal != nil {
		return nil
	}
	cr.cp.Watermarks[typ] = res.Watermark
	if res.Full {
		cr.cp.Full[typ] = true
	}
	if res.Full {
		// Reconcile: whatever is linked but no longer in the source was deleted there.
		var gone []item
		err := j.e.store.ScanLinkNames(cr.ctx, j.job.ID, typ, func(id, name string) error {
			if _, ok := seen[id]; !ok {
				gone = append(gone, item{change: connectors.Change{Kind: connectors.ChangeDelete,
					Object: connectors.Object{Type: typ, ID: id, Attributes: connectors.Attributes{connectors.AttrDisplayName: name}}}})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for len(gone) > 0 {
			n := min(len(gone), j.job.Settings.BatchSize)
			pos += int64(n)
			if pos > skip {
				cr.cp.LastID = gone[n-1].change.Object.ID
				if err := cr.processChunk(gone[:n], int64(n)); err != nil {
					return err
				}
			}
			gone = gone[n:]
		}
	}
	// Remember the watermark in the checkpoint now; the job state gets it when the cycle ends.
	return cr.commitCheckpoint()
}

func isEngineErr(err error) bool {
	return errors.Is(err, errStopped) || errors.Is(err, context.Canceled)
}

func (cr *cycleRun) commitCheckpoint() error {
	if err := cr.waitCommit(); err != nil {
		return err
	}
	j := cr.j
	j.mu.Lock()
	cp := cr.cp
	j.state.Checkpoint = &cp
	st := j.state
	j.mu.Unlock()
	c := cr.c
	return j.e.store.Commit(cr.ctx, Batch{JobID: j.job.ID, State: &st, Cycle: &c, Lease: cr.lease})
}

// drain processes the records fetch returns, in batches, paging with a cursor so that each
// record is read once, however many stay behind (unresolved references, held deletes).
func drain[T any](cr *cycleRun, fetch func(after *Cursor, limit int) ([]T, error), cursor func(T) Cursor, toItem func(T) item) error {
	bs := cr.j.job.Settings.BatchSize
	var after *Cursor
	// A record processed in this phase can come around again with a later time (an
	// escrow rescheduled during a quarantine retry): process each once.
	seen := map[Cursor]struct{}{}
	for {
		if err := cr.waitCommit(); err != nil {
			return err
		}
		recs, err := fetch(after, bs)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		c := cursor(recs[len(recs)-1])
		after = &c
		chunk := make([]item, 0, len(recs))
		for _, r := range recs {
			k := cursor(r)
			k.Time = time.Time{}
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
			chunk = append(chunk, toItem(r))
		}
		if len(chunk) == 0 {
			continue
		}
		if err := cr.processChunk(chunk, 0); err != nil {
			return err
		}
		if cr.fatal != nil {
			return nil
		}
		if cr.j.stopCycle.Load() {
			return errStopped
		}
	}
}

func escrowCursor(e Escrow) Cursor {
	return Cursor{Time: e.NextAttempt, Type: e.Type, SourceID: e.SourceID}
}

func stagedCursor(s StagedOp) Cursor {
	return Cursor{Time: s.Created, Type: s.Type, SourceID: s.SourceID}
}

// escrowPhase retries the escrows that are due (all of them when the job is quarantined:
// this cycle is the quarantine's retry).
func (cr *cycleRun) escrowPhase() error {
	j := cr.j
	bound := cr.start
	if cr.quarantineRetry {
		bound = cr.start.Add(100 * 365 * 24 * time.Hour)
	}
	return drain(cr, func(after *Cursor, limit int) ([]Escrow, error) {
		return j.e.store.DueEscrows(cr.ctx, j.job.ID, bound, after, limit)
	}, escrowCursor, func(e Escrow) item {
		e2 := e
		return item{change: e.Change, escrow: &e2}
	})
}

// referencePhase resolves the references that were pending.
func (cr *cycleRun) referencePhase() error {
	j := cr.j
	return drain(cr, func(after *Cursor, limit int) ([]PendingRef, error) {
		return j.e.store.PendingRefs(cr.ctx, j.job.ID, after, limit)
	}, func(r PendingRef) Cursor {
		return Cursor{Time: r.Created, Type: r.Type, SourceID: r.SourceID, Attribute: r.Attribute}
	}, func(r PendingRef) item {
		r2 := r
		return item{change: connectors.Change{Kind: connectors.ChangeUpsert, Object: connectors.Object{Type: r.Type, ID: r.SourceID}}, ref: &r2}
	})
}

// deprovisionPhase applies the deletes and disables this cycle queued, unless they trip
// the accidental-deletion breaker: then they are held (stagedDelete) and the job is
// quarantined with TooManyDeletes until an admin restarts it with ForceDeletes.
func (cr *cycleRun) deprovisionPhase() error {
	j := cr.j
	j.mu.Lock()
	force := j.state.ForceDeletes
	j.mu.Unlock()
	queued := cr.cp.Deprovisions
	if !force && queued > 0 && cr.breakerTrips(queued) {
		return cr.holdDeprovisions(queued)
	}
	err := drain(cr, func(after *Cursor, limit int) ([]StagedOp, error) {
		return j.e.store.StagedOps(cr.ctx, j.job.ID, after, limit)
	}, stagedCursor, func(s StagedOp) item {
		s2 := s
		return item{staged: &s2}
	})
	if err != nil {
		return err
	}
	if force {
		j.mu.Lock()
		j.state.ForceDeletes = false
		j.mu.Unlock()
	}
	return nil
}

func (cr *cycleRun) breakerTrips(n int64) bool {
	s := cr.j.job.Settings
	if s.DeletionThreshold > 0 && n > int64(s.DeletionThreshold) {
		return true
	}
	if s.DeletionThresholdPercent > 0 {
		counts, err := cr.j.e.store.CountLinks(cr.ctx, cr.j.job.ID)
		if err == nil {
			var total int64
			for _, v := range counts {
				total += v
			}
			if total > 0 && float64(n)*100/float64(total) > s.DeletionThresholdPercent {
				return true
			}
		}
	}
	return false
}

// holdDeprovisions turns this cycle's queued deprovisions into held ones and quarantines.
func (cr *cycleRun) holdDeprovisions(n int64) error {
	j := cr.j
	err := drain(cr, func(after *Cursor, limit int) ([]StagedOp, error) {
		return j.e.store.StagedOps(cr.ctx, j.job.ID, after, limit)
	}, stagedCursor, func(s StagedOp) item {
		s2 := s
		s2.Event.Action = ActionStagedDelete // marks it held
		return item{staged: &s2}
	})
	if err != nil {
		return err
	}
	s := j.job.Settings
	limit := fmt.Sprintf("%d", s.DeletionThreshold)
	if s.DeletionThresholdPercent > 0 {
		limit += fmt.Sprintf(" or %.1f%% of the synchronized objects", s.DeletionThresholdPercent)
	}
	cr.quarantine(ReasonTooManyDeletes, SynchronizationErr{
		Code:              string(ReasonTooManyDeletes),
		Message:           fmt.Sprintf("This cycle would delete or disable %d objects, more than the accidental-deletion threshold (%s); the operations are held as stagedDelete.", n, limit),
		TenantActionable:  true,
		RecommendedAction: "Review the staged deletes in the provisioning logs (action stagedDelete). If they are intended, restart the job with resetScope ForceDeletes; otherwise fix the source or scoping and restart with resetScope Watermark.",
	}, "", nil)
	return nil
}

// processChunk processes items concurrently and hands their results to the store as one
// batch. The batch commits in the background while the next chunk is processed (its links
// stay visible through the overlay until then); batches commit in order.
// advance is how much the phase's checkpoint position moves when it commits.
func (cr *cycleRun) processChunk(items []item, advance int64) error {
	j := cr.j
	j.chunkMu.Lock()
	defer j.chunkMu.Unlock()
	// In-flight work finishes even when the cycle is asked to stop: "the batch in
	// flight commits".
	ctx := context.WithoutCancel(cr.ctx)
	p := &pipeline{j: j, cr: cr, ctx: ctx, cycleID: cr.c.CycleID, cycleType: cr.c.Type, traceID: cr.c.TraceID, spanID: cr.c.SpanID}
	if err := p.prefetch(items); err != nil {
		return err
	}
	p.trackUsers(items)
	outs := make([]outcome, len(items))
	workers := min(j.job.Settings.Workers, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				outs[i] = p.process(items[i])
				p.finished(items[i], &outs[i])
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	// The previous batch must be durable before this one (checkpoints are ordered).
	if err := cr.waitCommit(); err != nil {
		return err
	}
	b, events := cr.prepare(outs, advance)
	overlay := map[connectors.ObjectType]map[string]*Link{}
	for i := range b.Links {
		l := &b.Links[i]
		if overlay[l.Type] == nil {
			overlay[l.Type] = map[string]*Link{}
		}
		overlay[l.Type][l.SourceID] = l
	}
	for _, k := range b.LinkDeletes {
		if overlay[k.Type] == nil {
			overlay[k.Type] = map[string]*Link{}
		}
		overlay[k.Type][k.SourceID] = nil
	}
	cr.overlayMu.Lock()
	cr.overlay = overlay
	cr.overlayMu.Unlock()
	done := make(chan error, 1)
	cr.inflight = done
	j.inflight.Add(1)
	go func() {
		defer j.inflight.Done()
		err := j.e.store.Commit(ctx, b)
		if err == nil && len(events) > 0 {
			j.e.obs.Events(cr.ctx, &j.job, events)
		}
		if err != nil {
			err = fmt.Errorf("commit batch: %w", err)
		}
		done <- err
	}()
	return nil
}

// waitCommit waits for the batch in flight, if any, and returns its error.
func (cr *cycleRun) waitCommit() error {
	if cr.inflight == nil {
		return nil
	}
	err := <-cr.inflight
	cr.inflight = nil
	if err != nil && cr.commitErr == nil {
		cr.commitErr = err
	}
	return cr.commitErr
}

// overlayLink returns a link of the batch in flight (ok false when it has none).
func (cr *cycleRun) overlayLink(t connectors.ObjectType, id string) (*Link, bool) {
	cr.overlayMu.Lock()
	defer cr.overlayMu.Unlock()
	l, ok := cr.overlay[t][id]
	return l, ok
}

// prepare turns outcomes into one store batch and updates counters and progress.
func (cr *cycleRun) prepare(outs []outcome, advance int64) (Batch, []Event) {
	j := cr.j
	e := j.e
	b := Batch{JobID: j.job.ID}
	var events []Event
	var fatal *fatalError
	for i := range outs {
		o := &outs[i]
		if o.ev != nil {
			events = append(events, *o.ev)
		}
		o.addTo(&b)
		c := &cr.c
		c.CountImported += o.n.imported
		if cr.c.Type == CycleIncremental {
			c.CountImportedDeltas += o.n.imported
		}
		c.CountEntitled += o.n.entitled
		c.CountExports += o.n.exports
		c.CountExported += o.n.exported
		c.CountEscrowed += o.n.escrowed
		c.CountFailed += o.n.failed
		c.CountSkipped += o.n.skipped
		c.CountStaged += o.n.held
		cr.cp.Deprovisions += o.n.queued
		cr.refFails += o.n.refFailed
		cr.successes += o.n.succeeded
		if o.fatal != nil && fatal == nil {
			fatal = o.fatal
		}
	}
	b.Events = events
	cr.cp.Position += advance
	j.mu.Lock()
	j.progress.CompletedUnits += advance // objects read; reference updates and retries are not units
	if j.progress.TotalUnits < j.progress.CompletedUnits {
		j.progress.TotalUnits = j.progress.CompletedUnits
	}
	now := e.now()
	j.progress.ProgressObservationDateTime = now
	if el := now.Sub(cr.start).Seconds(); el > 0 {
		j.progress.ObjectsPerSecond = float64(j.progress.CompletedUnits) / el
		if rest := j.progress.TotalUnits - j.progress.CompletedUnits; rest > 0 && j.progress.ObjectsPerSecond > 0 {
			eta := now.Add(time.Duration(float64(rest) / j.progress.ObjectsPerSecond * float64(time.Second)))
			j.progress.EstimatedCompletionTime = &eta
		} else {
			j.progress.EstimatedCompletionTime = nil
		}
	}
	cp := cr.cp
	j.state.Checkpoint = &cp
	st := cloneState(j.state) // the batch commits in the background: no shared maps
	j.mu.Unlock()
	c := cr.c
	b.Cycle = &c
	b.State = &st
	b.Lease = cr.lease
	if cr.lease != nil {
		// Other replicas show this job's status from the store: with its progress.
		p := j.progress
		st.Status.Progress = &p
	}
	if fatal != nil && cr.fatal == nil {
		cr.fatal = fatal
	}
	return b, events
}

// finish ends the cycle: quarantine evaluation, status, watermark, history, observers.
func (cr *cycleRun) finish(runErr error) (Cycle, error) {
	j := cr.j
	e := j.e
	if err := cr.waitCommit(); err != nil && runErr == nil {
		runErr = err
	}
	ctx := context.WithoutCancel(cr.ctx)
	defer j.setRunning(false)
	if errors.Is(runErr, ErrLeaseLost) {
		return cr.c, cr.leaseLost(runErr)
	}
	stopped := errors.Is(runErr, errStopped)
	now := e.now()
	j.mu.Lock()
	old := j.state.Status
	j.mu.Unlock()

	switch {
	case stopped:
		// Paused, restarting or shutting down: keep the checkpoint; the cycle resumes later.
		c := cr.c
		j.mu.Lock()
		cp := cr.cp
		j.state.Checkpoint = &cp
		st := j.state
		j.progress = Progress{}
		j.mu.Unlock()
		err := e.store.Commit(ctx, Batch{JobID: j.job.ID, Cycle: &c, State: &st, Lease: cr.lease})
		cr.span.End(cr.c)
		e.log.Info("cycle stopped; it resumes from its checkpoint", "job", j.job.ID, "cycle", c.CycleID, "phase", cr.cp.Phase, "position", cr.cp.Position)
		if err != nil {
			return c, err
		}
		return c, errStopped
	case cr.fatal != nil:
		ce := connectors.AsError(cr.fatal.err)
		code := ce.Code
		if code == "" {
			code = codeForClass(ce.Class)
		}
		cr.quarantine(ReasonQuarantineException, SynchronizationErr{Code: code, Message: cr.fatal.err.Error(), TenantActionable: true, RecommendedAction: RecommendedAction(code)}, ce.Request, cr.fatal.object)
		cr.c.State = CycleFailed
		cr.c.Error = &SynchronizationErr{Code: code, Message: cr.fatal.err.Error(), TenantActionable: true}
	case runErr != nil:
		cr.c.State = CycleFailed
		code := CodeInternalError
		var se *sourceError
		if errors.As(runErr, &se) {
			code = CodeSourceError
		}
		cr.c.Error = &SynchronizationErr{Code: code, Message: runErr.Error(), TenantActionable: code == CodeSourceError, RecommendedAction: RecommendedAction(code)}
	default:
		cr.evaluateEscrowThresholds()
		if cr.c.CountFailed > 0 {
			cr.c.State = CycleEntryLevelErrors
		} else {
			cr.c.State = CycleSucceeded
		}
	}
	ended := now
	cr.c.TimeEnded = &ended
	c := cr.c

	counts, cerr := e.store.CountLinks(ctx, j.job.ID)
	escrows, eerr := e.store.CountEscrows(ctx, j.job.ID)
	staged, serr := e.store.CountStaged(ctx, j.job.ID)

	j.mu.Lock()
	st := &j.state
	s := &st.Status
	s.LastExecution = &c
	if c.State == CycleFailed {
		s.CountSuccessiveCompleteFailures++
		s.LastError = c.Error
	} else {
		s.CountSuccessiveCompleteFailures = 0
		s.LastError = nil
		// The cycle completed: persist its watermarks and drop the checkpoint.
		if st.Watermarks == nil || cr.c.Type == CycleInitial {
			st.Watermarks = map[connectors.ObjectType]string{}
		}
		for t, w := range cr.cp.Watermarks {
			st.Watermarks[t] = w
		}
		st.Checkpoint = nil
		if c.Type == CycleInitial {
			s.InitialCycleCompleted = true
		}
		if c.State == CycleSucceeded {
			s.LastSuccessfulExecution = &c
			if c.CountExported > 0 {
				s.LastSuccessfulExecutionWithExports = &c
			}
		}
		if c.CountExports == 0 && c.CountFailed == 0 {
			t := now
			s.SteadyStateLastAchievedTime = &t
			if s.SteadyStateFirstAchievedTime == nil {
				s.SteadyStateFirstAchievedTime = &t
			}
		}
		// A cycle that ran without a quarantine condition releases the quarantine.
		if s.Code == StatusQuarantine && old.Code == StatusQuarantine && cr.fatal == nil && !cr.quarantinedNow && s.Quarantine != nil && s.Quarantine.Reason != ReasonQuarantinedOnDemand && (s.Quarantine.Reason != ReasonTooManyDeletes || staged == 0) {
			s.Quarantine = nil
			s.Code = StatusActive
		}
		if s.Code == StatusNotRun && s.InitialCycleCompleted {
			s.Code = StatusActive
		}
	}
	if c.State == CycleFailed && cr.fatal == nil {
		// A failed cycle (source unreadable, internal error) keeps its checkpoint so the
		// next attempt resumes.
		cp := cr.cp
		st.Checkpoint = &cp
	}
	if st.Paused {
		s.Code = StatusPaused
	}
	if cerr == nil {
		s.SynchronizedEntryCountByType = map[string]int64{}
		for t, n := range counts {
			s.SynchronizedEntryCountByType[string(t)] = n
		}
	}
	if eerr == nil {
		s.EscrowCount = escrows
	}
	if serr == nil {
		s.StagedDeleteCount = staged
	}
	st.Updated = now
	j.progress.EstimatedCompletionTime = nil
	final := *st
	status := final.Status
	j.mu.Unlock()

	b := Batch{JobID: j.job.ID, Cycle: &c, State: &final, Lease: cr.lease}
	change, changed := statusChange(j.job.ID, old, status, now, c.CycleID, "")
	if changed {
		b.History = append(b.History, change)
	}
	err := e.store.Commit(ctx, b)
	if errors.Is(err, ErrLeaseLost) {
		return c, cr.leaseLost(err)
	}
	cr.span.End(c)
	e.obs.CycleEnded(cr.ctx, &j.job, c)
	if changed {
		e.obs.StatusChanged(ctx, &j.job, change, status)
	}
	e.log.Info("cycle ended", "job", j.job.ID, "cycle", c.CycleID, "type", c.Type, "state", c.State,
		"imported", c.CountImported, "exported", c.CountExported, "failed", c.CountFailed, "escrowed", c.CountEscrowed,
		"duration", now.Sub(c.TimeBegan).Round(time.Millisecond))
	if err != nil {
		return c, err
	}
	if runErr != nil && !stopped {
		return c, runErr
	}
	return c, nil
}

// leaseLost ends a cycle whose job another replica has taken over (its commits failed
// the lease check): that replica resumes the cycle from the last committed checkpoint, so
// nothing more is committed here and the cycle does not end here.
func (cr *cycleRun) leaseLost(err error) error {
	j := cr.j
	j.mu.Lock()
	j.progress = Progress{}
	j.mu.Unlock()
	cr.span.End(cr.c)
	j.e.log.Warn("lease lost: the cycle stops here and resumes on the replica that took the job over",
		"job", j.job.ID, "cycle", cr.c.CycleID, "phase", cr.cp.Phase, "position", cr.cp.Position, "error", err)
	return err
}

// cloneState copies a job state deeply enough that the engine may go on changing its own.
func cloneState(st JobState) JobState {
	st.Watermarks = maps.Clone(st.Watermarks)
	st.Status.SynchronizedEntryCountByType = maps.Clone(st.Status.SynchronizedEntryCountByType)
	if st.Checkpoint != nil {
		cp := *st.Checkpoint
		cp.Watermarks = maps.Clone(cp.Watermarks)
		cp.Full = maps.Clone(cp.Full)
		st.Checkpoint = &cp
	}
	return st
}
