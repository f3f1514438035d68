package provisioning

import (
	"context"
	"fmt"
)

// quarantine imposes (or re-imposes) a quarantine. A quarantine that lasted longer than
// QuarantineMaxDuration pauses the job instead (Entra disables it after four weeks).
func (cr *cycleRun) quarantine(reason QuarantineReason, serr SynchronizationErr, failingRequest string, obj *Identity) {
	j := cr.j
	e := j.e
	now := e.now()
	j.mu.Lock()
	defer j.mu.Unlock()
	s := &j.state.Status
	var q Quarantine
	if s.Code == StatusQuarantine && s.Quarantine != nil {
		q = *s.Quarantine
		q.SeriesCount++
	} else {
		q = Quarantine{SeriesBegan: now}
	}
	q.CurrentBegan = now
	q.Reason = reason
	q.Error = serr
	q.FailingRequest = failingRequest
	q.FailingObject = obj
	backoff := j.job.Settings.QuarantineBackoff
	idx := int(min(q.SeriesCount, int64(len(backoff)-1)))
	q.NextAttempt = now.Add(backoff[idx].D())
	s.Quarantine = &q
	s.Code = StatusQuarantine
	cr.quarantinedNow = true
	if max := j.job.Settings.QuarantineMaxDuration.D(); max > 0 && now.Sub(q.SeriesBegan) > max {
		j.state.Paused = true
		s.Code = StatusPaused
		s.Quarantine.Error.Message = fmt.Sprintf("quarantined since %s (longer than %s): the job was paused; fix the cause and start it. Last error: %s",
			q.SeriesBegan.Format("2006-01-02T15:04:05Z07:00"), max, serr.Message)
	}
	e.log.Warn("job quarantined", "job", j.job.ID, "reason", reason, "code", serr.Code, "request", failingRequest, "nextAttempt", q.NextAttempt)
}

// evaluateEscrowThresholds applies Entra's escrow thresholds to the cycle's failures:
//   - failures including reference failures ≥ QuarantineAbsoluteCap (60,000) →
//     EncounteredTotalEscrowThreshold;
//   - otherwise, with at least QuarantineBaseEscrows (5,000) failures excluding reference
//     failures: more than QuarantineProportion (40 %) of the cycle's operations failing →
//     EncounteredEscrowProportionThreshold, or more than QuarantineTotalEscrows (40,000)
//     failures → EncounteredBaseEscrowThreshold.
//
// During an initial cycle the escrows are pruned instead (escrowsPruned) and the job pauses
// for the admin to clean up, as Entra does.
func (cr *cycleRun) evaluateEscrowThresholds() {
	j := cr.j
	s := j.job.Settings
	all := cr.c.CountFailed
	nonRef := all - cr.refFails
	var reason QuarantineReason
	var msg string
	switch {
	case all >= int64(s.QuarantineAbsoluteCap):
		reason = ReasonTotalEscrowThreshold
		msg = fmt.Sprintf("%d operations failed in this cycle (reference failures included), at or above the absolute cap of %d", all, s.QuarantineAbsoluteCap)
	case nonRef >= int64(s.QuarantineBaseEscrows):
		ratio := float64(nonRef) / float64(nonRef+cr.successes)
		if ratio > s.QuarantineProportion {
			reason = ReasonEscrowProportionThreshold
			msg = fmt.Sprintf("%d of %d operations (%.1f%%) failed in this cycle, more than %.0f%% (reference failures excluded)", nonRef, nonRef+cr.successes, ratio*100, s.QuarantineProportion*100)
		} else if nonRef > int64(s.QuarantineTotalEscrows) {
			reason = ReasonBaseEscrowThreshold
			msg = fmt.Sprintf("%d operations failed in this cycle, more than %d (reference failures excluded)", nonRef, s.QuarantineTotalEscrows)
		}
	}
	if reason == "" {
		return
	}
	if cr.c.Type == CycleInitial {
		ctx := context.WithoutCancel(cr.ctx)
		if err := j.e.store.ClearEscrows(ctx, j.job.ID); err != nil {
			j.e.log.Error("prune escrows", "job", j.job.ID, "error", err)
		}
		j.mu.Lock()
		j.state.Status.EscrowsPruned = true
		j.state.Paused = true
		j.state.Status.Code = StatusPaused
		j.state.Status.LastError = &SynchronizationErr{Code: string(reason), Message: msg + "; the initial cycle pruned its escrows and the job is paused: fix the errors (see the provisioning logs) and start the job", TenantActionable: true}
		j.mu.Unlock()
		return
	}
	cr.quarantine(reason, SynchronizationErr{Code: string(reason), Message: msg, TenantActionable: true,
		RecommendedAction: "Look at the top errors of this job in the provisioning logs, fix their cause, then start the job (or wait for the next retry)."}, "", nil)
}
