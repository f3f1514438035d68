// Package retention prunes provisioning events (and their statistics) older than the
// configured retention (config retention.events), in the background of the daemon.
//
// Each run calls QueryStore.PruneEvents with the cut-off now - keep, which deletes in
// small batches, each its own short transaction, so that the engine's commits wait at
// most one batch. A store error is logged and the run tried again at the next tick: the
// daemon never stops because retention failed.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/provisiond/provisiond/provisioning"
)

// Defaults.
const (
	// Every is how often the daemon prunes.
	Every = time.Hour
	// Batch is how many events one pruning transaction deletes: about 60 ms on a SQLite
	// store of 10 million events, the time of one of the engine's own commits, which is
	// the longest a commit waits for pruning.
	Batch = 500
)

// Run prunes the events older than keep from s at once and then every every, until ctx
// ends. keep <= 0 keeps events forever: Run logs that and returns. Each run logs how many
// events it deleted and how long it took; a failed run logs the error (with what it
// deleted before failing) and Run carries on.
func Run(ctx context.Context, s provisioning.QueryStore, keep, every time.Duration, log *slog.Logger) {
	r := &runner{store: s, keep: keep, every: every, log: log, now: time.Now}
	r.run(ctx)
}

// runner is Run with its clock replaceable (tests).
type runner struct {
	store       provisioning.QueryStore
	keep, every time.Duration
	log         *slog.Logger
	now         func() time.Time
}

func (r *runner) run(ctx context.Context) {
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.keep <= 0 {
		r.log.Info("event retention: events are kept forever (retention.events: 0)")
		return
	}
	if r.every <= 0 {
		r.every = Every
	}
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune runs one pruning pass.
func (r *runner) prune(ctx context.Context) {
	cut := r.now().Add(-r.keep).UTC()
	start := time.Now()
	n, err := r.store.PruneEvents(ctx, cut, Batch)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.log.Info("event retention: stopped", "pruned", n, "olderThan", cut, "took", took)
	case err != nil:
		r.log.Error("event retention: pruning failed; retrying at the next run", "error", err,
			"pruned", n, "olderThan", cut, "took", took, "next", r.every)
	default:
		r.log.Info("event retention: pruned events", "pruned", n, "olderThan", cut, "took", took)
	}
}
