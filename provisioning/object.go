package provisioning

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning/mapping"
)

// counters are one outcome's contribution to the cycle's counts.
type counters struct {
	imported, entitled, exports, exported, escrowed, failed, skipped, held, queued, refFailed, succeeded int64
}

// outcome is what processing one item produced: its event and the state to commit.
type outcome struct {
	ev           *Event
	link         *Link
	linkDelete   *LinkKey
	escrow       *Escrow
	escrowDelete *LinkKey
	refs         []PendingRef
	refDeletes   []PendingRefKey
	staged       *StagedOp
	stagedDelete *LinkKey
	n            counters
	fatal        *fatalError
}

// addTo adds the outcome's state changes (not its event or counts) to a batch.
func (o *outcome) addTo(b *Batch) {
	if o.link != nil {
		b.Links = append(b.Links, *o.link)
	}
	if o.linkDelete != nil {
		b.LinkDeletes = append(b.LinkDeletes, *o.linkDelete)
	}
	if o.escrow != nil {
		b.Escrows = append(b.Escrows, *o.escrow)
	}
	if o.escrowDelete != nil {
		b.EscrowDeletes = append(b.EscrowDeletes, *o.escrowDelete)
	}
	b.PendingRefs = append(b.PendingRefs, o.refs...)
	b.PendingRefDeletes = append(b.PendingRefDeletes, o.refDeletes...)
	if o.staged != nil {
		b.Staged = append(b.Staged, *o.staged)
	}
	if o.stagedDelete != nil {
		b.StagedDeletes = append(b.StagedDeletes, *o.stagedDelete)
	}
}

// pipeline processes the items of one chunk.
type pipeline struct {
	j         *jobRun
	cr        *cycleRun // nil for provision on demand
	ctx       context.Context
	cycleID   string
	cycleType CycleType
	traceID   string
	spanID    string
	initiator *Initiator

	mu      sync.Mutex
	links   map[connectors.ObjectType]map[string]*Link       // nil entry: known not linked
	targets map[connectors.ObjectType]map[string]*LinkTarget // references' targets; nil entry: not linked
	inChunk map[string]*chunkSlot                            // the chunk's users, by source ID (nil on demand)
}

// prefetch loads the links of the chunk's objects, and the link targets of the objects
// they reference (manager, members): a reference needs only the target object, not the
// exported attributes a full link decodes.
func (p *pipeline) prefetch(items []item) error {
	p.links = map[connectors.ObjectType]map[string]*Link{}
	p.targets = map[connectors.ObjectType]map[string]*LinkTarget{}
	objs := idSet{}
	refs := idSet{}
	userRefs := refSourceAttrs(p.j.job.Users)
	for _, it := range items {
		switch {
		case it.staged != nil:
			objs.add(it.staged.Type, it.staged.SourceID)
		case it.ref != nil:
			objs.add(it.ref.Type, it.ref.SourceID)
			if it.ref.RefSourceID != "" {
				refs.add(connectors.TypeUser, it.ref.RefSourceID)
			}
		default:
			o := it.change.Object
			objs.add(o.Type, o.ID)
			if o.Type == connectors.TypeUser {
				for _, a := range userRefs {
					if v, ok := o.Attributes[a].(string); ok {
						refs.add(connectors.TypeUser, v)
					}
				}
			}
			if o.Type == connectors.TypeGroup {
				for _, m := range stringList(o.Attributes[connectors.AttrMembers]) {
					refs.add(connectors.TypeUser, m)
				}
			}
		}
	}
	for t, list := range objs.ids {
		m := make(map[string]*Link, len(list))
		for len(list) > 0 {
			n := min(len(list), 900)
			got, err := p.j.e.store.GetLinks(p.ctx, p.j.job.ID, t, list[:n])
			if err != nil {
				return fmt.Errorf("load links: %w", err)
			}
			for _, id := range list[:n] {
				if p.cr != nil {
					if l, ok := p.cr.overlayLink(t, id); ok {
						m[id] = l
						continue
					}
				}
				if l, ok := got[id]; ok {
					l := l
					m[id] = &l
				} else {
					m[id] = nil
				}
			}
			list = list[n:]
		}
		p.links[t] = m
	}
	for t, list := range refs.ids {
		m := make(map[string]*LinkTarget, len(list))
		var load []string
		for _, id := range list {
			if _, ok := objs.set[t][id]; ok {
				continue // its full link is loaded
			}
			if p.cr != nil {
				if l, ok := p.cr.overlayLink(t, id); ok {
					m[id] = targetOf(l)
					continue
				}
			}
			load = append(load, id)
		}
		for len(load) > 0 {
			n := min(len(load), 900)
			got, err := p.j.e.store.LinkTargets(p.ctx, p.j.job.ID, t, load[:n])
			if err != nil {
				return fmt.Errorf("load link targets: %w", err)
			}
			for _, id := range load[:n] {
				if lt, ok := got[id]; ok {
					m[id] = &lt
				} else {
					m[id] = nil
				}
			}
			load = load[n:]
		}
		p.targets[t] = m
	}
	return nil
}

// chunkSlot is a user being processed in the chunk, for the references to it from later
// items (see pipeline.target).
type chunkSlot struct {
	seq  int
	done chan struct{} // closed when its processing has finished
	// changed: its processing linked (link) or unlinked (link nil) it; otherwise its
	// link is as loaded.
	changed bool
	link    *Link
}

// trackUsers notes the chunk's user upserts for references to them from later items.
func (p *pipeline) trackUsers(items []item) {
	p.inChunk = map[string]*chunkSlot{}
	for i := range items {
		it := &items[i]
		it.seq = i
		o := it.change.Object
		if it.escrow != nil || it.ref != nil || it.staged != nil || it.change.Kind != connectors.ChangeUpsert || o.Type != connectors.TypeUser {
			continue
		}
		if _, dup := p.inChunk[o.ID]; !dup {
			p.inChunk[o.ID] = &chunkSlot{seq: i, done: make(chan struct{})}
		}
	}
}

// finished publishes a processed user's link to the items waiting for it.
func (p *pipeline) finished(it item, out *outcome) {
	s := p.inChunk[it.change.Object.ID]
	if s == nil || s.seq != it.seq {
		return
	}
	switch {
	case out.link != nil:
		s.changed, s.link = true, out.link
	case out.linkDelete != nil:
		s.changed = true
	}
	close(s.done)
}

// idSet collects IDs by type, each once, in the order first added.
type idSet struct {
	ids map[connectors.ObjectType][]string
	set map[connectors.ObjectType]map[string]struct{}
}

func (s *idSet) add(t connectors.ObjectType, id string) {
	if id == "" {
		return
	}
	if s.set == nil {
		s.ids, s.set = map[connectors.ObjectType][]string{}, map[connectors.ObjectType]map[string]struct{}{}
	}
	if s.set[t] == nil {
		s.set[t] = map[string]struct{}{}
	}
	if _, dup := s.set[t][id]; !dup {
		s.set[t][id] = struct{}{}
		s.ids[t] = append(s.ids[t], id)
	}
}

// targetOf is what a reference to l's source object resolves to (nil: not linked).
func targetOf(l *Link) *LinkTarget {
	if l == nil {
		return nil
	}
	return &LinkTarget{TargetID: l.TargetID, Disabled: l.Disabled}
}

// link returns the link of an object (nil when not linked), loading it if not prefetched.
func (p *pipeline) link(t connectors.ObjectType, id string) (*Link, error) {
	p.mu.Lock()
	if m := p.links[t]; m != nil {
		if l, ok := m[id]; ok {
			p.mu.Unlock()
			return l, nil
		}
	}
	p.mu.Unlock()
	if p.cr != nil {
		if l, ok := p.cr.overlayLink(t, id); ok {
			return l, nil
		}
	}
	got, err := p.j.e.store.GetLinks(p.ctx, p.j.job.ID, t, []string{id})
	if err != nil {
		return nil, err
	}
	var l *Link
	if v, ok := got[id]; ok {
		l = &v
	}
	p.mu.Lock()
	if p.links[t] == nil {
		p.links[t] = map[string]*Link{}
	}
	p.links[t][id] = l
	p.mu.Unlock()
	return l, nil
}

// target returns what a reference to an object resolves to (nil when it is not linked),
// for the item at position seq of the chunk. A user earlier in the same chunk is waited
// for, and resolves to the link its processing produced: a report sorted after its
// manager gets the manager on create even when both are in one chunk. Otherwise: from the
// object's full link when that is loaded, else its link target, loading it if not
// prefetched.
func (p *pipeline) target(t connectors.ObjectType, id string, seq int) (*LinkTarget, error) {
	if s := p.inChunk[id]; t == connectors.TypeUser && s != nil && s.seq < seq {
		// s was handed to a worker before this item (items go out in order), so it
		// finishes without waiting for this one.
		<-s.done
		if s.changed {
			return targetOf(s.link), nil
		}
	}
	p.mu.Lock()
	if l, ok := p.links[t][id]; ok {
		p.mu.Unlock()
		return targetOf(l), nil
	}
	if lt, ok := p.targets[t][id]; ok {
		p.mu.Unlock()
		return lt, nil
	}
	p.mu.Unlock()
	if p.cr != nil {
		if l, ok := p.cr.overlayLink(t, id); ok {
			return targetOf(l), nil
		}
	}
	got, err := p.j.e.store.LinkTargets(p.ctx, p.j.job.ID, t, []string{id})
	if err != nil {
		return nil, err
	}
	var lt *LinkTarget
	if v, ok := got[id]; ok {
		lt = &v
	}
	p.mu.Lock()
	if p.targets == nil {
		p.targets = map[connectors.ObjectType]map[string]*LinkTarget{}
	}
	if p.targets[t] == nil {
		p.targets[t] = map[string]*LinkTarget{}
	}
	p.targets[t][id] = lt
	p.mu.Unlock()
	return lt, nil
}

// refSourceAttrs lists the source attributes of Direct reference mappings.
func refSourceAttrs(m mapping.ObjectMapping) []string {
	var out []string
	for _, a := range m.Attributes {
		if a.Reference && a.Type == mapping.Direct && a.Source != "" {
			out = append(out, a.Source)
		}
	}
	return out
}

// op is one object operation in progress: its event, root span and steps.
type op struct {
	p     *pipeline
	ev    *Event
	ctx   context.Context
	span  OperationSpan
	start time.Time
	out   outcome
	// calls records the connector calls of the operation; each step takes its own.
	calls *connectors.CallLog
}

func (p *pipeline) newOp(t connectors.ObjectType, sourceID, display string) *op {
	e := p.j.e
	now := e.now()
	ev := &Event{
		ID: uuid.Must(uuid.NewV7()).String(), ActivityDateTime: now, JobID: p.j.job.ID, CycleID: p.cycleID,
		ChangeID: uuid.Must(uuid.NewV7()).String(), SourceSystem: p.j.job.SourceSystem, TargetSystem: p.j.job.TargetSystem,
		SourceIdentity: Identity{ID: sourceID, DisplayName: display, IdentityType: string(t)},
		TargetIdentity: Identity{IdentityType: string(t)},
		InitiatedBy:    e.service,
	}
	if p.initiator != nil {
		ev.InitiatedBy = *p.initiator
	}
	ctx, span := e.rec.StartOperation(p.ctx, OperationInfo{JobID: p.j.job.ID, CycleID: p.cycleID, ChangeID: ev.ChangeID,
		CycleType: p.cycleType, IdentityType: t, SourceID: sourceID, CycleTraceID: p.traceID, CycleSpanID: p.spanID, Start: now})
	ev.TraceID, ev.SpanID = span.TraceID(), span.SpanID()
	ctx, calls := connectors.WithCallLog(ctx)
	return &op{p: p, ev: ev, ctx: ctx, span: span, start: time.Now(), calls: calls}
}

// stepRun is a step in progress.
type stepRun struct {
	o     *op
	typ   StepType
	name  string
	start time.Time
	ctx   context.Context
	span  StepSpan
}

func (o *op) step(t StepType, name string) *stepRun {
	start := time.Now()
	ctx, span := o.p.j.e.rec.StartStep(o.ctx, t, name, start)
	return &stepRun{o: o, typ: t, name: name, start: start, ctx: ctx, span: span}
}

func (s *stepRun) done(status Result, desc string, details map[string]string) {
	st := Step{Name: s.name, ProvisioningStepType: s.typ, Status: status, Description: desc, Details: details,
		Start: s.start.UTC(), DurationInMilliseconds: float64(time.Since(s.start).Microseconds()) / 1000,
		SpanID: s.span.SpanID(), Calls: s.o.calls.Take()}
	s.o.ev.ProvisioningSteps = append(s.o.ev.ProvisioningSteps, st)
	s.span.End(st)
}

// finish completes the event and returns the outcome.
func (o *op) finish(action Action, status Result) outcome {
	sortSteps(o.ev.ProvisioningSteps)
	o.ev.Action = action
	o.ev.Status = status
	o.ev.DurationInMilliseconds = time.Since(o.start).Milliseconds()
	if o.ev.ModifiedProperties == nil {
		o.ev.ModifiedProperties = []ModifiedProperty{}
	}
	o.span.End(o.ev)
	o.out.ev = o.ev
	switch status {
	case ResultFailure:
		o.out.n.failed++
	case ResultSkipped:
		o.out.n.skipped++
	default:
		o.out.n.succeeded++
	}
	return o.out
}

// fail records a failure; retryable ones (and quarantine exceptions) go to escrow.
func (o *op) fail(action Action, it item, err error, isRef bool) outcome {
	info := errorInfo(err)
	o.ev.ErrorInformation = info
	ce := connectors.AsError(err)
	p := o.p
	j := p.j
	if isQuarantineException(err) && p.cr != nil {
		ident := o.ev.SourceIdentity
		o.out.fatal = &fatalError{err: err, object: &ident}
	}
	retry := ce.Class.Retryable() || isQuarantineException(err)
	key := LinkKey{JobID: j.job.ID, Type: it.change.Object.Type, SourceID: it.change.Object.ID}
	if isRef {
		o.out.n.refFailed++
	} else if p.cr != nil && retry && it.change.Object.ID != "" {
		now := j.e.now()
		esc := Escrow{JobID: j.job.ID, Type: key.Type, SourceID: key.SourceID, Change: it.change, Attempts: 1,
			FirstFailure: now, ErrorCode: info.ErrorCode, Reason: info.Reason}
		if it.escrow != nil {
			esc.Attempts = it.escrow.Attempts + 1
			esc.FirstFailure = it.escrow.FirstFailure
		}
		s := j.job.Settings
		if now.Sub(esc.FirstFailure) > s.EscrowMaxAge.D() {
			o.out.escrowDelete = &key
			info.AdditionalDetails = strings.TrimPrefix(info.AdditionalDetails+"; retries stopped: failing since "+esc.FirstFailure.Format(time.RFC3339), "; ")
		} else {
			backoff := s.EscrowRetryBase.D() << min(esc.Attempts-1, 20)
			if backoff > s.EscrowRetryMax.D() || backoff <= 0 {
				backoff = s.EscrowRetryMax.D()
			}
			if ce.RetryAfter > backoff {
				backoff = ce.RetryAfter
			}
			esc.NextAttempt = now.Add(backoff)
			o.out.escrow = &esc
			o.out.escrowDelete = nil
			o.out.n.escrowed++
			info.AdditionalDetails = strings.TrimPrefix(fmt.Sprintf("%s; attempt %d, next attempt %s", info.AdditionalDetails, esc.Attempts, esc.NextAttempt.UTC().Format(time.RFC3339)), "; ")
		}
	} else if it.escrow != nil {
		o.out.escrowDelete = &key // a terminal error is not retried
	}
	return o.finish(action, ResultFailure)
}

// process runs one item through the pipeline.
func (p *pipeline) process(it item) outcome {
	switch {
	case it.staged != nil:
		return p.processStaged(it)
	case it.ref != nil:
		return p.processRef(it)
	case it.change.Kind == connectors.ChangeDelete:
		return p.processDelete(it)
	default:
		return p.processUpsert(it)
	}
}

func changeKind(it item, linked bool) string {
	switch {
	case it.change.Kind == connectors.ChangeDelete:
		return "Delete"
	case linked:
		return "Update"
	default:
		return "Add"
	}
}

// importStep records the import step.
func (o *op) importStep(it item, linked bool) {
	obj := it.change.Object
	s := o.step(StepImport, "EntryImport"+changeKind(it, linked))
	details := make(map[string]string, len(obj.Attributes)+2)
	for k, v := range obj.Attributes {
		details[k] = valueString(v)
	}
	desc := fmt.Sprintf("Received %s '%s' change of type (%s) from %s", obj.Type, obj.DisplayName(), changeKind(it, linked), o.p.j.job.SourceSystem)
	if it.escrow != nil {
		details["RetryCount"] = fmt.Sprint(it.escrow.Attempts)
		details["FirstFailure"] = it.escrow.FirstFailure.UTC().Format(time.RFC3339)
		desc = "We are retrying an operation that previously failed (attempt " + fmt.Sprint(it.escrow.Attempts+1) + "). " + desc
	}
	s.done(ResultSuccess, desc, details)
	o.out.n.imported++
}

func (p *pipeline) compiled(t connectors.ObjectType) *mapping.Compiled {
	if t == connectors.TypeGroup {
		return p.j.groups
	}
	return p.j.users
}

// processUpsert: an object exists in the source; create, update, disable or skip it.
func (p *pipeline) processUpsert(it item) outcome {
	j := p.j
	obj := it.change.Object
	o := p.newOp(obj.Type, obj.ID, obj.DisplayName())
	link, err := p.link(obj.Type, obj.ID)
	if err != nil {
		o.importStep(it, false)
		return o.fail(ActionOther, it, err, false)
	}
	o.importStep(it, link != nil)
	if link != nil {
		o.ev.TargetIdentity.ID = link.TargetID
		o.ev.TargetIdentity.DisplayName = link.DisplayName
	}
	key := LinkKey{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID}
	if it.escrow != nil {
		o.out.escrowDelete = &key // replaced by a new escrow if it fails again
	}
	if obj.ID == "" {
		o.ev.ErrorInformation = engineError(CodeImportSkipped, "the source object has no identifier (anchor)")
		return o.finish(ActionOther, ResultFailure)
	}
	cm := p.compiled(obj.Type)
	if cm == nil {
		s := o.step(StepScoping, "EntrySynchronizationScoping")
		s.done(ResultSkipped, fmt.Sprintf("%s objects are not provisioned by this job (no %s mapping)", obj.Type, strings.ToLower(string(obj.Type))), map[string]string{"SkipReason": "NotEffectivelyEntitled"})
		return o.finish(ActionOther, ResultSkipped)
	}

	// Scoping.
	s := o.step(StepScoping, "EntrySynchronizationScoping")
	sr := cm.Scope(obj.Attributes)
	details := map[string]string{}
	for k, v := range sr.Details {
		details[k] = v
	}
	active := true
	if v, ok := obj.Attributes[connectors.AttrAccountEnabled]; ok && obj.Type == connectors.TypeUser {
		active = truthy(v)
	}
	details["IsActive"] = boolString(active)
	entitled := sr.InScope && active
	details["IsEffectivelyEntitledForProvisioning"] = boolString(entitled)
	desc := sr.Description
	if !active {
		desc = fmt.Sprintf("%s '%s' is disabled in the source (accountEnabled is false). %s", obj.Type, obj.DisplayName(), desc)
	}
	if !entitled {
		s.done(ResultSuccess, desc, details)
		return p.outOfScope(o, it, link, !active)
	}
	s.done(ResultSuccess, desc, details)
	o.out.n.entitled++
	if it.escrow == nil {
		o.out.stagedDelete = &key // back in scope: a held deprovision no longer applies
	}

	// Matching.
	ms := o.step(StepMatching, "EntryMatch")
	var existing *connectors.TargetObject
	creating := false
	if link != nil {
		ms.done(ResultSuccess, fmt.Sprintf("%s '%s' is linked to target object %s (connector data store)", obj.Type, obj.DisplayName(), link.TargetID),
			map[string]string{"MatchedBy": "ConnectorDataStore", "TargetId": link.TargetID})
	} else {
		mv, err := cm.MatchingValues(ms.ctx, obj.Attributes)
		if err != nil {
			ms.done(ResultFailure, "evaluating the matching attributes failed: "+err.Error(), nil)
			o.ev.ErrorInformation = engineError(CodeExpressionError, err.Error())
			return o.finish(ActionOther, ResultFailure)
		}
		if len(mv) == 0 {
			ms.done(ResultFailure, "the source object has no value for any matching attribute", nil)
			o.ev.ErrorInformation = engineError(CodeImportSkipped, fmt.Sprintf("%s '%s' has no value for any matching attribute, so it cannot be matched or created", obj.Type, obj.DisplayName()))
			return o.finish(ActionOther, ResultFailure)
		}
		var tried []string
		for _, m := range mv {
			found, err := p.find(ms.ctx, obj.Type, m.Target, m.Value)
			if err != nil {
				ms.done(ResultFailure, fmt.Sprintf("looking up %s eq %q in the target failed", m.Target, valueString(m.Value)), nil)
				return o.fail(ActionOther, it, err, false)
			}
			tried = append(tried, fmt.Sprintf("%s eq %q: %d", m.Target, valueString(m.Value), len(found)))
			if len(found) > 1 {
				ids := make([]string, len(found))
				for i, f := range found {
					ids[i] = f.ID
				}
				ms.done(ResultFailure, fmt.Sprintf("%d target objects match %s eq %q", len(found), m.Target, valueString(m.Value)), map[string]string{"MatchingAttribute": m.Target, "TargetIds": strings.Join(ids, ",")})
				o.ev.ErrorInformation = engineError(CodeDuplicateTargetEntries, fmt.Sprintf("%d target objects (%s) match %s eq %q; provisiond never picks one", len(found), strings.Join(ids, ", "), m.Target, valueString(m.Value)))
				return o.finish(ActionOther, ResultFailure)
			}
			if len(found) == 1 {
				f := found[0]
				// A target object already linked to another source object is not this
				// object's to take over (two source objects share a matching value).
				others, err := j.e.store.LinksByTarget(ms.ctx, j.job.ID, obj.Type, f.ID)
				if err != nil {
					ms.done(ResultFailure, "reading the connector data store failed", nil)
					return o.fail(ActionOther, it, err, false)
				}
				if owner := otherOwner(others, obj.ID); owner != "" {
					ms.done(ResultFailure, fmt.Sprintf("Target object %s matches %s eq %q but is already linked to source object %s", f.ID, m.Target, valueString(m.Value), owner),
						map[string]string{"MatchingAttribute": m.Target, "TargetId": f.ID, "LinkedSourceId": owner})
					o.ev.ErrorInformation = engineError(CodeDuplicateSourceEntries, fmt.Sprintf("%s '%s' (%s) and source object %s both match target object %s by %s eq %q; provisiond never lets one take over the other's account", obj.Type, obj.DisplayName(), obj.ID, owner, f.ID, m.Target, valueString(m.Value)))
					return o.finish(ActionOther, ResultFailure)
				}
				if f.Attributes == nil || len(f.Attributes) <= 2 {
					// The listing carried only the matching attributes: read the object for the diff.
					full, err := j.tgt.Get(ms.ctx, obj.Type, f.ID)
					if err != nil {
						ms.done(ResultFailure, "reading the matched target object "+f.ID+" failed", nil)
						return o.fail(ActionOther, it, err, false)
					}
					f = full
				}
				existing = &f
				ms.done(ResultSuccess, fmt.Sprintf("Matched target object %s by %s eq %q", f.ID, m.Target, valueString(m.Value)),
					map[string]string{"MatchedBy": m.Target, "MatchingValue": valueString(m.Value), "TargetId": f.ID, "Lookups": strings.Join(tried, "; ")})
				break
			}
		}
		if existing == nil {
			creating = true
			ms.done(ResultSuccess, fmt.Sprintf("No matching %s was found in the target; it will be created", obj.Type),
				map[string]string{"MatchedBy": "", "Lookups": strings.Join(tried, "; ")})
		}
		o.ev.TargetIdentity.ID = ""
		if existing != nil {
			o.ev.TargetIdentity.ID = existing.ID
		}
	}

	// Processing: map the attributes and decide.
	ps := o.step(StepProcessing, "EntrySynchronization")
	res, err := cm.Map(ps.ctx, obj.Attributes, creating, targetEnv{p: p, typ: obj.Type})
	if err != nil {
		ps.name = "EntrySynchronizationError"
		ps.done(ResultFailure, "mapping the attributes failed: "+err.Error(), nil)
		o.ev.ErrorInformation = engineError(CodeExpressionError, err.Error())
		return o.finish(ActionOther, ResultFailure)
	}
	attrs := res.Attributes
	if attrs == nil {
		attrs = connectors.Attributes{}
	}
	display := targetDisplay(attrs, obj)
	o.ev.TargetIdentity.DisplayName = display
	var missing []string
	for _, t := range j.required[obj.Type] {
		if v, ok := attrs[t]; ok && v != nil && v != "" {
			continue
		}
		if link != nil {
			if v, ok := link.Exported[t]; ok && v != nil && v != "" {
				continue // a value exported earlier stays (nulls do not flow)
			}
		}
		missing = append(missing, t)
	}
	if len(missing) > 0 {
		ps.name = "EntrySynchronizationError"
		ps.done(ResultFailure, fmt.Sprintf("required target attribute(s) %s have no value", strings.Join(missing, ", ")), map[string]string{"MissingAttributes": strings.Join(missing, ",")})
		o.ev.ErrorInformation = engineError(CodeMandatoryFieldsMissing, fmt.Sprintf("%s '%s' has no value for the required target attribute(s) %s", obj.Type, obj.DisplayName(), strings.Join(missing, ", ")))
		return o.finish(ActionOther, ResultFailure)
	}

	// Reference resolution (manager, members).
	var members []string
	var unresolved []string
	rs := o.step(StepReferenceResolution, "EntryReferenceResolution")
	rdetails := map[string]string{}
	for _, attr := range sortedKeys(res.References) {
		refs := res.References[attr]
		if obj.Type == connectors.TypeGroup && attr == connectors.AttrMembers {
			for _, r := range refs {
				l, err := p.target(connectors.TypeUser, r, it.seq)
				if err != nil {
					rs.done(ResultFailure, "loading member links failed", nil)
					return o.fail(ActionOther, it, err, true)
				}
				if l != nil && !l.Disabled {
					members = append(members, l.TargetID)
				} else if l == nil {
					unresolved = append(unresolved, r)
				}
			}
			sort.Strings(members)
			rdetails["Members"] = fmt.Sprint(len(refs))
			rdetails["MembersResolved"] = fmt.Sprint(len(members))
			if len(unresolved) > 0 {
				o.out.refs = append(o.out.refs, PendingRef{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID, Attribute: attr, Created: j.e.now()})
				rdetails["MembersUnresolved"] = strings.Join(firstN(unresolved, 20), ",")
			}
			continue
		}
		if len(refs) == 0 {
			continue
		}
		l, err := p.target(connectors.TypeUser, refs[0], it.seq)
		if err != nil {
			rs.done(ResultFailure, "loading reference links failed", nil)
			return o.fail(ActionOther, it, err, true)
		}
		if l != nil {
			attrs[attr] = l.TargetID
			rdetails[attr] = refs[0] + " → " + l.TargetID
			o.out.refDeletes = append(o.out.refDeletes, PendingRefKey{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID, Attribute: attr})
		} else {
			unresolved = append(unresolved, refs[0])
			rdetails[attr] = refs[0] + " → (not provisioned yet)"
			o.out.refs = append(o.out.refs, PendingRef{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID, Attribute: attr, RefSourceID: refs[0], Created: j.e.now()})
			if link != nil {
				if v, ok := link.Exported[attr]; ok {
					attrs[attr] = v // keep the previously resolved value
				}
			}
		}
	}
	if len(res.References) > 0 {
		if len(unresolved) > 0 {
			rs.done(ResultWarning, fmt.Sprintf("%d reference(s) point to objects not provisioned yet; they are resolved once those objects are", len(unresolved)), rdetails)
		} else {
			rs.done(ResultSuccess, "References resolved", rdetails)
		}
	}

	hash := attrHash(attrs, members)
	var old connectors.Attributes
	if link != nil {
		old = link.Exported
	} else if existing != nil {
		old = existing.Attributes
	}
	enable := link != nil && link.Disabled
	if link != nil && link.Hash == hash && !enable {
		ps.name = "EntrySynchronizationSkip"
		ps.done(ResultSkipped, fmt.Sprintf("%s '%s' is already in sync with the target", obj.Type, obj.DisplayName()), map[string]string{"SkipReason": "RedundantExport"})
		if it.escrow != nil {
			o.out.escrowDelete = &key
		}
		return o.finish(ActionOther, ResultSkipped)
	}
	var mods []connectors.Modification
	if !creating {
		skip := j.onCreate[obj.Type]
		mods, o.ev.ModifiedProperties = diffAttrs(old, attrs, skip)
	} else {
		_, o.ev.ModifiedProperties = diffAttrs(nil, attrs, nil)
	}
	var addM, remM []string
	if obj.Type == connectors.TypeGroup {
		var oldM []string
		if link != nil {
			oldM = link.Members
		}
		addM, remM = setDiff(oldM, members)
		if len(addM)+len(remM) > 0 {
			o.ev.ModifiedProperties = append(o.ev.ModifiedProperties, ModifiedProperty{DisplayName: "members",
				OldValue: fmt.Sprintf("%d members", len(oldM)), NewValue: fmt.Sprintf("%d members (+%d, -%d)", len(members), len(addM), len(remM))})
		}
	}
	action := ActionUpdate
	switch {
	case creating:
		action = ActionCreate
		ps.name = "EntrySynchronizationAdd"
		ps.done(ResultSuccess, fmt.Sprintf("%s '%s' will be created in the target", obj.Type, obj.DisplayName()), map[string]string{"Attributes": fmt.Sprint(len(attrs))})
	case len(mods) == 0 && len(addM)+len(remM) == 0 && !enable:
		ps.name = "EntrySynchronizationSkip"
		ps.done(ResultSkipped, fmt.Sprintf("%s '%s' matches the target; nothing to change", obj.Type, obj.DisplayName()), map[string]string{"SkipReason": "RedundantExport"})
		o.out.link = p.newLink(obj, existingID(link, existing), display, hash, mergeAttrs(old, attrs), members, false)
		return o.finish(ActionOther, ResultSkipped)
	default:
		ps.name = "EntrySynchronizationUpdate"
		d := map[string]string{"ChangedAttributes": fmt.Sprint(len(mods))}
		if enable {
			d["Reenable"] = "True"
		}
		ps.done(ResultSuccess, fmt.Sprintf("%s '%s' will be updated: %d attribute(s) changed", obj.Type, obj.DisplayName(), len(mods)), d)
	}

	// Export.
	es := o.step(StepExport, exportName(action))
	o.out.n.exports++
	targetID := existingID(link, existing)
	var req string
	if creating {
		if err := p.wait(es.ctx); err != nil {
			es.done(ResultFailure, err.Error(), nil)
			return o.fail(action, it, err, false)
		}
		created, err := j.tgt.Create(es.ctx, obj.Type, attrs)
		if err != nil {
			es.done(ResultFailure, fmt.Sprintf("creating %s '%s' failed: %s", obj.Type, obj.DisplayName(), connectors.AsError(err).Message), exportDetails(err))
			return o.fail(action, it, err, false)
		}
		targetID = created.ID
		req = "create"
	} else {
		if len(mods) > 0 {
			if err := p.wait(es.ctx); err != nil {
				es.done(ResultFailure, err.Error(), nil)
				return o.fail(action, it, err, false)
			}
			if err := j.tgt.Update(es.ctx, obj.Type, targetID, mods); err != nil {
				es.done(ResultFailure, fmt.Sprintf("updating %s '%s' failed: %s", obj.Type, obj.DisplayName(), connectors.AsError(err).Message), exportDetails(err))
				if connectors.IsNotFound(err) && link != nil {
					o.out.linkDelete = &key // gone from the target: re-match on the retry
				}
				return o.fail(action, it, err, false)
			}
		}
		if enable && !hasMod(mods, "active") {
			if en, ok := j.tgt.(connectors.Enabler); ok {
				if err := en.Enable(es.ctx, obj.Type, targetID); err != nil {
					es.done(ResultFailure, "re-enabling failed: "+connectors.AsError(err).Message, exportDetails(err))
					return o.fail(action, it, err, false)
				}
			}
			o.ev.ModifiedProperties = append(o.ev.ModifiedProperties, ModifiedProperty{DisplayName: "active", OldValue: "false", NewValue: "true"})
		}
		req = "update"
	}
	o.ev.TargetIdentity.ID = targetID
	if len(addM) > 0 {
		if err := j.tgt.AddMembers(es.ctx, targetID, addM); err != nil {
			es.done(ResultFailure, fmt.Sprintf("adding %d member(s) failed: %s", len(addM), connectors.AsError(err).Message), exportDetails(err))
			o.out.link = p.newLink(obj, targetID, display, "", mergeAttrs(old, attrs), linkMembers(link), false)
			o.out.refs = append(o.out.refs, PendingRef{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID, Attribute: connectors.AttrMembers, Created: j.e.now()})
			return o.fail(action, it, err, true)
		}
	}
	if len(remM) > 0 {
		if err := j.tgt.RemoveMembers(es.ctx, targetID, remM); err != nil {
			es.done(ResultFailure, fmt.Sprintf("removing %d member(s) failed: %s", len(remM), connectors.AsError(err).Message), exportDetails(err))
			o.out.link = p.newLink(obj, targetID, display, "", mergeAttrs(old, attrs), union(linkMembers(link), addM), false)
			o.out.refs = append(o.out.refs, PendingRef{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID, Attribute: connectors.AttrMembers, Created: j.e.now()})
			return o.fail(action, it, err, true)
		}
	}
	o.out.n.exported++
	ed := map[string]string{"ReportableIdentifier": display, "TargetId": targetID}
	if len(addM)+len(remM) > 0 {
		ed["MembersAdded"], ed["MembersRemoved"] = fmt.Sprint(len(addM)), fmt.Sprint(len(remM))
	}
	es.done(ResultSuccess, fmt.Sprintf("%s '%s' was %sd in the target (id %s)", obj.Type, obj.DisplayName(), req, targetID), ed)
	o.out.link = p.newLink(obj, targetID, display, hash, mergeAttrs(old, attrs), members, false)
	status := ResultSuccess
	if len(unresolved) > 0 {
		status = ResultWarning
	}
	return o.finish(action, status)
}

// sortSteps puts steps in pipeline order (reference resolution is recorded while the
// processing decision is still open).
func sortSteps(steps []Step) {
	sort.SliceStable(steps, func(a, b int) bool {
		return stepRank(steps[a].ProvisioningStepType) < stepRank(steps[b].ProvisioningStepType)
	})
}

func stepRank(t StepType) int {
	for i, x := range StepTypes {
		if x == t {
			return i
		}
	}
	return len(StepTypes)
}

func hasMod(mods []connectors.Modification, name string) bool {
	for _, m := range mods {
		if m.Name == name {
			return true
		}
	}
	return false
}

func existingID(l *Link, t *connectors.TargetObject) string {
	if l != nil {
		return l.TargetID
	}
	if t != nil {
		return t.ID
	}
	return ""
}

func linkMembers(l *Link) []string {
	if l == nil {
		return nil
	}
	return l.Members
}

func exportName(a Action) string {
	switch a {
	case ActionCreate:
		return "EntryExportAdd"
	case ActionDelete:
		return "EntryExportDelete"
	case ActionDisable:
		return "EntryExportDisable"
	default:
		return "EntryExportUpdate"
	}
}

func exportDetails(err error) map[string]string {
	ce := connectors.AsError(err)
	d := map[string]string{"ErrorClass": string(ce.Class)}
	if ce.Request != "" {
		d["Request"] = ce.Request
	}
	if ce.Status != 0 {
		d["StatusCode"] = fmt.Sprint(ce.Status)
	}
	if ce.Detail != "" {
		d["Detail"] = ce.Detail
	}
	if ce.RetryAfter > 0 {
		d["RetryAfter"] = ce.RetryAfter.String()
	}
	return d
}

func (p *pipeline) newLink(obj connectors.Object, targetID, display, hash string, exported connectors.Attributes, members []string, disabled bool) *Link {
	return &Link{JobID: p.j.job.ID, Type: obj.Type, SourceID: obj.ID, TargetID: targetID, DisplayName: display, Hash: hash,
		Exported: exported, Members: members, Disabled: disabled, Updated: p.j.e.now()}
}

// wait applies the job's request rate limit.
func (p *pipeline) wait(ctx context.Context) error {
	if p.j.limiter == nil {
		return nil
	}
	return p.j.limiter.Wait(ctx)
}

// otherOwner returns the source ID of a link that is not sourceID's ("" for none).
func otherOwner(links []Link, sourceID string) string {
	for _, l := range links {
		if l.SourceID != sourceID {
			return l.SourceID
		}
	}
	return ""
}

// find looks an object up by a matching attribute: in the initial cycle's bulk index when
// there is one, otherwise with a filtered query.
func (p *pipeline) find(ctx context.Context, t connectors.ObjectType, attr string, value any) ([]connectors.TargetObject, error) {
	if p.cr != nil {
		if bi := p.cr.bulk[t]; bi != nil {
			if m, ok := bi.byAttr[attr]; ok {
				ids := m[normValue(value)]
				out := make([]connectors.TargetObject, len(ids))
				for i, id := range ids {
					out[i] = connectors.TargetObject{ID: id}
				}
				return out, nil
			}
		}
	}
	if err := p.wait(ctx); err != nil {
		return nil, err
	}
	return p.j.tgt.Find(ctx, t, attr, value)
}

// targetEnv lets expressions (SelectUniqueValue) ask the target whether a value exists.
type targetEnv struct {
	p   *pipeline
	typ connectors.ObjectType
}

func (t targetEnv) Exists(ctx context.Context, attr string, value any) (bool, error) {
	found, err := t.p.j.tgt.Find(ctx, t.typ, attr, value)
	return len(found) > 0, err
}

// outOfScope handles an object that is not (or no longer) entitled: a linked object is
// disabled (users) or deleted (groups) through the deletion breaker; others are skipped.
func (p *pipeline) outOfScope(o *op, it item, link *Link, disabledInSource bool) outcome {
	j := p.j
	obj := it.change.Object
	key := LinkKey{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID}
	if it.escrow != nil {
		o.out.escrowDelete = &key
	}
	ps := o.step(StepProcessing, "EntrySynchronizationSkip")
	if link == nil {
		ps.done(ResultSkipped, fmt.Sprintf("%s '%s' is not in scope and was never provisioned: nothing to do", obj.Type, obj.DisplayName()), map[string]string{"SkipReason": "NotEffectivelyEntitled"})
		return o.finish(ActionOther, ResultSkipped)
	}
	if !disabledInSource && j.job.Settings.SkipOutOfScopeDeletions {
		ps.done(ResultSkipped, fmt.Sprintf("%s '%s' left the scope; skipOutOfScopeDeletions is set, so the target object is left as is", obj.Type, obj.DisplayName()), map[string]string{"SkipReason": "SkipOutOfScopeDeletions"})
		return o.finish(ActionOther, ResultSkipped)
	}
	action := ActionDisable
	if obj.Type == connectors.TypeGroup {
		action = ActionDelete
	}
	if action == ActionDisable && link.Disabled {
		ps.done(ResultSkipped, fmt.Sprintf("%s '%s' is already disabled in the target", obj.Type, obj.DisplayName()), map[string]string{"SkipReason": "RedundantExport"})
		return o.finish(ActionOther, ResultSkipped)
	}
	why := "left the provisioning scope"
	if disabledInSource {
		why = "is disabled in the source"
	}
	ps.name = "EntrySynchronization" + strings.ToUpper(string(action[:1])) + string(action[1:])
	ps.done(ResultSuccess, fmt.Sprintf("%s '%s' %s; it will be %sd in the target", obj.Type, obj.DisplayName(), why, action), map[string]string{"Reason": why})
	return p.deprovision(o, it, link, action)
}

// processDelete: the object was deleted in the source.
func (p *pipeline) processDelete(it item) outcome {
	obj := it.change.Object
	o := p.newOp(obj.Type, obj.ID, obj.DisplayName())
	link, err := p.link(obj.Type, obj.ID)
	o.importStep(it, link != nil)
	if err != nil {
		return o.fail(ActionDelete, it, err, false)
	}
	ps := o.step(StepProcessing, "EntrySynchronizationDelete")
	if link == nil {
		ps.name = "EntrySynchronizationSkip"
		ps.done(ResultSkipped, fmt.Sprintf("%s '%s' was deleted in the source but was never provisioned: nothing to do", obj.Type, obj.DisplayName()), map[string]string{"SkipReason": "NotProvisioned"})
		return o.finish(ActionOther, ResultSkipped)
	}
	o.ev.TargetIdentity.ID, o.ev.TargetIdentity.DisplayName = link.TargetID, link.DisplayName
	ps.done(ResultSuccess, fmt.Sprintf("%s '%s' was deleted in the source; it will be deleted in the target", obj.Type, obj.DisplayName()), nil)
	return p.deprovision(o, it, link, ActionDelete)
}

// deprovision queues a delete/disable for the breaker, or applies it at once on demand.
func (p *pipeline) deprovision(o *op, it item, link *Link, action Action) outcome {
	j := p.j
	obj := it.change.Object
	o.ev.TargetIdentity.ID, o.ev.TargetIdentity.DisplayName = link.TargetID, link.DisplayName
	if p.cr == nil {
		st := StagedOp{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID, TargetID: link.TargetID, Action: action}
		return p.applyDeprovision(o, st, link, it)
	}
	// Queued: the event completes when the deprovision phase applies or holds it.
	o.ev.Action = action
	o.span.End(o.ev)
	ev := *o.ev
	o.out.staged = &StagedOp{JobID: j.job.ID, Type: obj.Type, SourceID: obj.ID, TargetID: link.TargetID, Action: action,
		CycleID: p.cycleID, Event: ev, Created: j.e.now()}
	o.out.n.queued++
	return o.out
}

// processStaged applies a queued deprovision, or holds it (breaker tripped).
func (p *pipeline) processStaged(it item) outcome {
	j := p.j
	st := *it.staged
	j.mu.Lock()
	force := j.state.ForceDeletes
	j.mu.Unlock()
	held := it.staged.Event.Action == ActionStagedDelete
	holding := held && st.CycleID == p.cycleID
	ev := st.Event
	ev.ID = uuid.Must(uuid.NewV7()).String() // a new event for the same change
	ev.ProvisioningSteps = append([]Step(nil), ev.ProvisioningSteps...)
	ev.ActivityDateTime = j.e.now()
	ctx, span := j.e.rec.StartOperation(p.ctx, OperationInfo{JobID: j.job.ID, CycleID: p.cycleID, ChangeID: ev.ChangeID,
		CycleType: p.cycleType, IdentityType: st.Type, SourceID: st.SourceID, CycleTraceID: p.traceID, CycleSpanID: p.spanID, Start: ev.ActivityDateTime})
	if span.TraceID() != "" {
		ev.TraceID, ev.SpanID = span.TraceID(), span.SpanID()
	}
	ev.CycleID = p.cycleID
	ctx, calls := connectors.WithCallLog(ctx)
	o := &op{p: p, ev: &ev, ctx: ctx, span: span, start: time.Now(), calls: calls}
	key := LinkKey{JobID: j.job.ID, Type: st.Type, SourceID: st.SourceID}
	switch {
	case holding:
		// The breaker tripped in this cycle: hold it.
		s := o.step(StepExport, "EntryExportStaged")
		s.done(ResultSkipped, fmt.Sprintf("The %s of %s '%s' is held by the accidental-deletion breaker (this cycle exceeded the deletion threshold)", st.Action, st.Type, ev.SourceIdentity.DisplayName),
			map[string]string{"SkipReason": "DeletionThresholdExceeded", "StagedAction": string(st.Action)})
		st.Event = ev
		st.Event.Action = ActionStagedDelete
		st.CycleID = p.cycleID
		o.out.staged = &st
		o.out.n.held++
		return o.finish(ActionStagedDelete, ResultSkipped)
	case held && !force:
		// Held by an earlier cycle: still waiting for an admin decision.
		o.span.End(o.ev)
		return outcome{}
	}
	link, err := p.link(st.Type, st.SourceID)
	if err != nil {
		return o.fail(st.Action, item{change: connectors.Change{Object: connectors.Object{Type: st.Type, ID: st.SourceID}}}, err, false)
	}
	o.out.stagedDelete = &key
	if link == nil {
		s := o.step(StepExport, exportName(st.Action))
		s.done(ResultSkipped, "the object is no longer linked to a target object: nothing to do", map[string]string{"SkipReason": "NotProvisioned"})
		return o.finish(ActionOther, ResultSkipped)
	}
	return p.applyDeprovision(o, st, link, item{change: connectors.Change{Kind: connectors.ChangeDelete, Object: connectors.Object{Type: st.Type, ID: st.SourceID}}})
}

// applyDeprovision disables or deletes the target object.
func (p *pipeline) applyDeprovision(o *op, st StagedOp, link *Link, it item) outcome {
	j := p.j
	key := LinkKey{JobID: j.job.ID, Type: st.Type, SourceID: st.SourceID}
	es := o.step(StepExport, exportName(st.Action))
	o.out.n.exports++
	if err := p.wait(es.ctx); err != nil {
		es.done(ResultFailure, err.Error(), nil)
		return o.fail(st.Action, it, err, false)
	}
	var err error
	if st.Action == ActionDelete {
		err = j.tgt.Delete(es.ctx, st.Type, link.TargetID)
	} else {
		err = j.tgt.Disable(es.ctx, st.Type, link.TargetID)
	}
	if err != nil && !(st.Action == ActionDelete && connectors.IsNotFound(err)) {
		es.done(ResultFailure, fmt.Sprintf("%s of target object %s failed: %s", st.Action, link.TargetID, connectors.AsError(err).Message), exportDetails(err))
		if p.cr != nil && connectors.AsError(err).Class.Retryable() {
			// Keep it staged: the next cycle applies it again.
			o.out.stagedDelete = nil
			s := st
			s.Event = *o.ev
			o.out.staged = &s
		}
		return o.fail(st.Action, it, err, false)
	}
	o.out.n.exported++
	if st.Action == ActionDelete {
		o.out.linkDelete = &key
		o.out.escrowDelete = &key
		o.out.refDeletes = append(o.out.refDeletes, PendingRefKey{JobID: j.job.ID, Type: st.Type, SourceID: st.SourceID, Attribute: "manager"})
		o.ev.ModifiedProperties = []ModifiedProperty{}
	} else {
		l := *link
		l.Disabled = true
		l.Hash = ""
		l.Updated = j.e.now()
		if l.Exported != nil {
			l.Exported = l.Exported.Clone()
			if _, ok := l.Exported["active"]; ok {
				l.Exported["active"] = false
			}
		}
		o.out.link = &l
		o.ev.ModifiedProperties = []ModifiedProperty{{DisplayName: "active", OldValue: "true", NewValue: "false"}}
	}
	es.done(ResultSuccess, fmt.Sprintf("%s '%s' was %sd in the target (id %s)", st.Type, o.ev.SourceIdentity.DisplayName, st.Action, link.TargetID),
		map[string]string{"ReportableIdentifier": link.DisplayName, "TargetId": link.TargetID})
	return o.finish(st.Action, ResultSuccess)
}

// processRef resolves a pending reference: a manager whose object now exists in the
// target, or a group whose members were not all provisioned (re-read and re-processed).
func (p *pipeline) processRef(it item) outcome {
	j := p.j
	r := *it.ref
	rkey := PendingRefKey{JobID: j.job.ID, Type: r.Type, SourceID: r.SourceID, Attribute: r.Attribute}
	expired := j.e.now().Sub(r.Created) > j.job.Settings.EscrowMaxAge.D()
	if r.Type == connectors.TypeGroup || r.RefSourceID == "" {
		obj, err := j.src.Get(p.ctx, r.Type, r.SourceID)
		if err != nil {
			if connectors.IsNotFound(err) || expired {
				return outcome{refDeletes: []PendingRefKey{rkey}}
			}
			return outcome{}
		}
		out := p.processUpsert(item{change: connectors.Change{Kind: connectors.ChangeUpsert, Object: obj}})
		if out.ev != nil && out.ev.Status == ResultSkipped {
			// Nothing changed: still unresolved; no event to avoid noise.
			keep := false
			for _, pr := range out.refs {
				if pr.Attribute == r.Attribute {
					keep = true
				}
			}
			out.ev = nil
			out.n = counters{}
			out.refs = nil
			if !keep || expired {
				out.refDeletes = append(out.refDeletes, rkey)
			}
			return out
		}
		resolved := true
		for i := range out.refs {
			if out.refs[i].Attribute == r.Attribute {
				out.refs[i].Created = r.Created // keep the age of the original
				resolved = false
			}
		}
		if resolved {
			out.refDeletes = append(out.refDeletes, rkey)
		}
		return out
	}
	link, err := p.link(r.Type, r.SourceID)
	if err != nil {
		return outcome{}
	}
	if link == nil {
		return outcome{refDeletes: []PendingRefKey{rkey}}
	}
	ref, err := p.target(connectors.TypeUser, r.RefSourceID, it.seq)
	if err != nil {
		return outcome{}
	}
	if ref == nil {
		if expired {
			return outcome{refDeletes: []PendingRefKey{rkey}}
		}
		return outcome{}
	}
	o := p.newOp(r.Type, r.SourceID, link.DisplayName)
	o.ev.TargetIdentity.ID, o.ev.TargetIdentity.DisplayName = link.TargetID, link.DisplayName
	rs := o.step(StepReferenceResolution, "EntryReferenceResolution")
	rs.done(ResultSuccess, fmt.Sprintf("The reference %s to '%s' can now be resolved: target id %s", r.Attribute, r.RefSourceID, ref.TargetID),
		map[string]string{r.Attribute: r.RefSourceID + " → " + ref.TargetID})
	es := o.step(StepExport, "EntryExportUpdate")
	o.out.n.exports++
	mods := []connectors.Modification{{Name: r.Attribute, Op: connectors.ModReplace, Value: ref.TargetID}}
	if err := p.wait(es.ctx); err == nil {
		err = j.tgt.Update(es.ctx, r.Type, link.TargetID, mods)
	}
	if err != nil {
		es.done(ResultFailure, "updating the reference failed: "+connectors.AsError(err).Message, exportDetails(err))
		out := o.fail(ActionUpdate, item{change: connectors.Change{Object: connectors.Object{Type: r.Type, ID: r.SourceID}}}, err, true)
		return out
	}
	old := ""
	if link.Exported != nil {
		old = valueString(link.Exported[r.Attribute])
	}
	o.ev.ModifiedProperties = []ModifiedProperty{{DisplayName: r.Attribute, OldValue: old, NewValue: ref.TargetID}}
	es.done(ResultSuccess, fmt.Sprintf("%s '%s' was updated in the target (id %s)", r.Type, link.DisplayName, link.TargetID), map[string]string{"TargetId": link.TargetID})
	o.out.n.exported++
	l := *link
	l.Exported = l.Exported.Clone()
	if l.Exported == nil {
		l.Exported = connectors.Attributes{}
	}
	l.Exported[r.Attribute] = ref.TargetID
	l.Hash = attrHash(l.Exported, l.Members)
	l.Updated = j.e.now()
	o.out.link = &l
	o.out.refDeletes = append(o.out.refDeletes, rkey)
	return o.finish(ActionUpdate, ResultSuccess)
}

// --- values ---

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return !strings.EqualFold(x, "false") && x != "0" && x != ""
	case nil:
		return true
	default:
		return valueString(v) != "0"
	}
}

func boolString(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// valueString renders a value for events (strings as is, others as JSON).
func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// canon is a value's canonical form for comparison (numbers of any Go type compare equal).
func canon(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func normValue(v any) string {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return strings.ToLower(canon(v))
}

func stringList(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	}
	return nil
}

// attrHash hashes the exported attributes and members (json.Marshal sorts map keys).
func attrHash(attrs connectors.Attributes, members []string) string {
	h := sha256.New()
	b, _ := json.Marshal(attrs)
	h.Write(b)
	for _, m := range members {
		h.Write([]byte{0})
		h.Write([]byte(m))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// diffAttrs returns the modifications turning old into cur (attributes absent from cur are
// left alone: null values do not flow, as in Entra) and the modified properties.
func diffAttrs(old, cur connectors.Attributes, skip map[string]bool) ([]connectors.Modification, []ModifiedProperty) {
	var mods []connectors.Modification
	props := []ModifiedProperty{}
	for _, k := range sortedKeys(cur) {
		if skip[k] {
			continue
		}
		nv := cur[k]
		ov, had := old[k]
		if had && canon(ov) == canon(nv) {
			continue
		}
		mods = append(mods, connectors.Modification{Name: k, Op: connectors.ModReplace, Value: nv})
		props = append(props, ModifiedProperty{DisplayName: k, OldValue: valueString(ov), NewValue: valueString(nv)})
	}
	return mods, props
}

func mergeAttrs(old, cur connectors.Attributes) connectors.Attributes {
	out := make(connectors.Attributes, len(old)+len(cur))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range cur {
		out[k] = v
	}
	return out
}

func targetDisplay(attrs connectors.Attributes, obj connectors.Object) string {
	for _, k := range []string{"displayName", "userName", "cn"} {
		if s, ok := attrs[k].(string); ok && s != "" {
			return s
		}
	}
	return obj.DisplayName()
}

func setDiff(old, cur []string) (add, remove []string) {
	o := make(map[string]struct{}, len(old))
	for _, s := range old {
		o[s] = struct{}{}
	}
	c := make(map[string]struct{}, len(cur))
	for _, s := range cur {
		c[s] = struct{}{}
		if _, ok := o[s]; !ok {
			add = append(add, s)
		}
	}
	for _, s := range old {
		if _, ok := c[s]; !ok {
			remove = append(remove, s)
		}
	}
	return add, remove
}

func union(a, b []string) []string {
	m := map[string]struct{}{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		if _, ok := m[s]; !ok {
			m[s] = struct{}{}
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
