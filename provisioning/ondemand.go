package provisioning

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/provisiond/provisiond/connectors"
)

// ErrUnknownObject: the source has no object with the requested id.
var ErrUnknownObject = errors.New("unknown source object")

// OnDemandRequest asks to provision one user, or one group with all its members.
type OnDemandRequest struct {
	ObjectType connectors.ObjectType `json:"objectType"`
	SourceID   string                `json:"sourceId"`
}

// OnDemandResult is what provision on demand did: one event per object (members first,
// then the group), each with its steps and trace id.
type OnDemandResult struct {
	Result Result  `json:"result"`
	Cycle  Cycle   `json:"cycle"`
	Events []Event `json:"events"`
}

// ProvisionOnDemand provisions one object now, synchronously, outside the cycle (Entra's
// provisionOnDemand, without its five-member cap). Deprovisions apply at once: the
// deletion breaker guards cycles, not a single admin request.
func (e *Engine) ProvisionOnDemand(ctx context.Context, id string, req OnDemandRequest, actor string) (*OnDemandResult, error) {
	j, err := e.job(id)
	if err != nil {
		return nil, err
	}
	if !j.held() {
		r, err := e.leases.forward(ctx, Command{JobID: id, Action: CommandProvisionOnDemand, Actor: actor, OnDemand: &req})
		if err != nil {
			return nil, err
		}
		return r.OnDemand, nil
	}
	return e.provisionOnDemand(ctx, j, req, actor)
}

func (e *Engine) provisionOnDemand(ctx context.Context, j *jobRun, req OnDemandRequest, actor string) (*OnDemandResult, error) {
	id := j.job.ID
	if req.ObjectType == "" {
		req.ObjectType = connectors.TypeUser
	}
	if !req.ObjectType.Valid() {
		return nil, invalidf("objectType %q: want User or Group", req.ObjectType)
	}
	if req.SourceID == "" {
		return nil, invalidf("sourceId is required")
	}
	if req.ObjectType == connectors.TypeGroup && j.groups == nil {
		return nil, invalidf("job %s does not provision groups", id)
	}
	obj, err := j.src.Get(ctx, req.ObjectType, req.SourceID)
	if err != nil {
		if connectors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s %q is not in the source", ErrUnknownObject, req.ObjectType, req.SourceID)
		}
		return nil, fmt.Errorf("reading %s %q from the source: %w", req.ObjectType, req.SourceID, err)
	}
	now := e.now()
	c := Cycle{CycleID: uuid.NewString(), JobID: id, Type: CycleOnDemand, TimeBegan: now, State: CycleRunning}
	cctx, span := e.rec.StartCycle(ctx, &j.job, c)
	c.TraceID, c.SpanID = span.TraceID(), span.SpanID()
	initiator := Initiator{ID: actor, DisplayName: actor, InitiatorType: "user"}
	newPipeline := func() *pipeline {
		return &pipeline{j: j, ctx: cctx, cycleID: c.CycleID, cycleType: CycleOnDemand, traceID: c.TraceID, spanID: c.SpanID,
			initiator: &initiator, links: map[connectors.ObjectType]map[string]*Link{}}
	}
	res := &OnDemandResult{Cycle: c}

	j.chunkMu.Lock()
	defer j.chunkMu.Unlock()
	j.inflight.Wait() // a cycle's batch in flight is durable before we read links
	if err := j.tgt.Test(cctx); err != nil {
		p := newPipeline()
		o := p.newOp(obj.Type, obj.ID, obj.DisplayName())
		s := o.step(StepExport, "EntryTestConnection")
		s.done(ResultFailure, "Testing the connection to the target failed: "+connectors.AsError(err).Message, exportDetails(err))
		out := o.fail(ActionOther, item{change: connectors.Change{Kind: connectors.ChangeUpsert, Object: obj}}, err, false)
		return e.finishOnDemand(ctx, j, span, res, [][]outcome{{out}}, actor, req)
	}

	var batches [][]outcome
	if obj.Type == connectors.TypeGroup {
		members := stringList(obj.Attributes[connectors.AttrMembers])
		p := newPipeline()
		outs := make([]outcome, len(members))
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < min(j.job.Settings.Workers, max(len(members), 1)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					m, err := j.src.Get(cctx, connectors.TypeUser, members[i])
					if err != nil {
						o := p.newOp(connectors.TypeUser, members[i], members[i])
						o.importStep(item{change: connectors.Change{Object: connectors.Object{Type: connectors.TypeUser, ID: members[i]}}}, false)
						outs[i] = o.fail(ActionOther, item{}, err, false)
						continue
					}
					outs[i] = p.process(item{change: connectors.Change{Kind: connectors.ChangeUpsert, Object: m}})
				}
			}()
		}
		for i := range members {
			next <- i
		}
		close(next)
		wg.Wait()
		// Members commit first, so the group's membership resolves against their links.
		if err := e.commitOnDemand(ctx, j, res, outs); err != nil {
			span.End(res.Cycle)
			return nil, err
		}
	}
	p := newPipeline()
	out := p.process(item{change: connectors.Change{Kind: connectors.ChangeUpsert, Object: obj}})
	batches = append(batches, []outcome{out})
	return e.finishOnDemand(ctx, j, span, res, batches, actor, req)
}

func (e *Engine) commitOnDemand(ctx context.Context, j *jobRun, res *OnDemandResult, outs []outcome) error {
	b := Batch{JobID: j.job.ID}
	var events []Event
	for _, o := range outs {
		if o.ev != nil {
			events = append(events, *o.ev)
			res.Cycle.CountImported++
			switch o.ev.Status {
			case ResultFailure:
				res.Cycle.CountFailed++
			case ResultSkipped:
				res.Cycle.CountSkipped++
			}
		}
		res.Cycle.CountEntitled += o.n.entitled
		res.Cycle.CountExports += o.n.exports
		res.Cycle.CountExported += o.n.exported
		o.addTo(&b)
	}
	b.Events = events
	c := res.Cycle
	b.Cycle = &c
	b.Lease = j.currentLease()
	if err := e.store.Commit(context.WithoutCancel(ctx), b); err != nil {
		return err
	}
	res.Events = append(res.Events, events...)
	if len(events) > 0 {
		e.obs.Events(ctx, &j.job, events)
	}
	return nil
}

func (e *Engine) finishOnDemand(ctx context.Context, j *jobRun, span CycleSpan, res *OnDemandResult, batches [][]outcome, actor string, req OnDemandRequest) (*OnDemandResult, error) {
	for _, outs := range batches {
		if err := e.commitOnDemand(ctx, j, res, outs); err != nil {
			span.End(res.Cycle)
			return nil, err
		}
	}
	now := e.now()
	res.Cycle.TimeEnded = &now
	res.Cycle.State = CycleSucceeded
	if res.Cycle.CountFailed > 0 {
		res.Cycle.State = CycleEntryLevelErrors
	}
	res.Result = ResultSuccess
	if n := len(res.Events); n > 0 {
		// The overall result is the requested object's (the last event).
		res.Result = res.Events[n-1].Status
		for _, ev := range res.Events {
			if ev.Status == ResultFailure {
				res.Result = ResultFailure
			}
		}
	}
	c := res.Cycle
	audit := AuditEntry{ID: uuid.NewString(), Time: now, Actor: actor, Action: "provisionOnDemand", JobID: j.job.ID,
		Details: map[string]string{"objectType": string(req.ObjectType), "sourceId": req.SourceID, "cycleId": c.CycleID}, Result: string(res.Result), TraceID: c.TraceID}
	if err := e.store.Commit(context.WithoutCancel(ctx), Batch{JobID: j.job.ID, Cycle: &c, Audit: []AuditEntry{audit}, Lease: j.currentLease()}); err != nil {
		span.End(c)
		return nil, err
	}
	span.End(c)
	e.obs.CycleEnded(ctx, &j.job, c)
	e.obs.AdminAction(ctx, audit)
	return res, nil
}
