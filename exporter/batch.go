package exporter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// batcher is a bounded, never-blocking queue with one export goroutine. Unlike the SDK's
// batch processors it counts what it drops (a full queue drops the newest item), so the
// daemon can report lost telemetry as a metric.
//
// Adding an item takes an uncontended lock and an append: the export goroutine is woken
// only when a full batch is pending (or by its timer, a flush or shutdown), not once per
// item as a channel receive would. It then takes the whole pending buffer at once and
// hands the spare one back, so neither side copies items or allocates in steady state.
type batcher[T any] struct {
	export   func(context.Context, []T) error
	maxQueue int
	maxBatch int
	interval time.Duration
	timeout  time.Duration

	mu      sync.Mutex
	pending []T // in arrival order; at most maxQueue
	spare   []T // the export goroutine's other buffer (swapped with pending)
	closed  bool

	dropped   atomic.Int64
	failed    atomic.Int64
	kick      chan struct{} // a full batch is pending (buffered: one wake-up is enough)
	flushReq  chan chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type batchConfig struct {
	queueSize, maxBatch int
	interval, timeout   time.Duration
}

func newBatcher[T any](cfg batchConfig, export func(context.Context, []T) error) *batcher[T] {
	b := &batcher[T]{
		export: export, maxQueue: max(cfg.queueSize, 1), maxBatch: max(cfg.maxBatch, 1),
		interval: cfg.interval, timeout: cfg.timeout,
		kick: make(chan struct{}, 1), flushReq: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b
}

// add enqueues v without blocking; a full queue (or a stopped batcher) drops it.
func (b *batcher[T]) add(v T) {
	b.mu.Lock()
	if b.closed || len(b.pending) >= b.maxQueue {
		b.mu.Unlock()
		b.dropped.Add(1)
		return
	}
	b.pending = append(b.pending, v)
	full := len(b.pending) == b.maxBatch
	b.mu.Unlock()
	if full {
		select {
		case b.kick <- struct{}{}:
		default: // already signalled
		}
	}
}

// take swaps the pending buffer for the spare one and returns what was pending, or nil
// when fewer than least items are pending.
func (b *batcher[T]) take(least int) []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 || len(b.pending) < least {
		return nil
	}
	items := b.pending
	b.pending, b.spare = b.spare[:0], nil
	return items
}

// send exports items in batches of at most maxBatch, then keeps their buffer as the spare.
func (b *batcher[T]) send(items []T) {
	for rest := items; len(rest) > 0; {
		n := min(len(rest), b.maxBatch)
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		if err := b.export(ctx, rest[:n]); err != nil {
			b.failed.Add(int64(n))
		}
		cancel()
		rest = rest[n:]
	}
	clear(items) // let the exported items be collected
	b.mu.Lock()
	b.spare = items[:0]
	b.mu.Unlock()
}

func (b *batcher[T]) run() {
	defer close(b.done)
	t := time.NewTimer(b.interval)
	defer t.Stop()
	// full exports full batches for as long as there are some (the producers may have
	// queued more while the previous ones were exported).
	full := func() {
		for items := b.take(b.maxBatch); items != nil; items = b.take(b.maxBatch) {
			b.send(items)
		}
	}
	// all exports everything pending now.
	all := func() {
		if items := b.take(1); items != nil {
			b.send(items)
		}
	}
	for {
		select {
		case <-b.kick:
			full()
		case <-t.C:
			all()
			t.Reset(b.interval)
		case reply := <-b.flushReq:
			all()
			close(reply)
		case <-b.stop:
			all()
			return
		}
	}
}

// flush exports everything queued so far (bounded by ctx).
func (b *batcher[T]) flush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case b.flushReq <- reply:
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown drains the queue and stops the goroutine (bounded by ctx).
func (b *batcher[T]) shutdown(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.stop)
	})
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// spanBatcher is an sdktrace.SpanProcessor over a batcher.
type spanBatcher struct {
	b   *batcher[sdktrace.ReadOnlySpan]
	exp sdktrace.SpanExporter
}

func newSpanBatcher(exp sdktrace.SpanExporter, cfg batchConfig) *spanBatcher {
	return &spanBatcher{exp: exp, b: newBatcher(cfg, exp.ExportSpans)}
}

func (s *spanBatcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (s *spanBatcher) OnEnd(sp sdktrace.ReadOnlySpan) {
	if sp.SpanContext().IsSampled() {
		s.b.add(sp)
	}
}
func (s *spanBatcher) ForceFlush(ctx context.Context) error { return s.b.flush(ctx) }
func (s *spanBatcher) Shutdown(ctx context.Context) error {
	return errors.Join(s.b.shutdown(ctx), s.exp.Shutdown(ctx))
}

// logBatcher is an sdklog.Processor over a batcher. Its queue holds pointers: a queue of
// records by value would be a ~9 MB buffer (16384 records) that the garbage collector
// scans in full on every cycle.
type logBatcher struct {
	b   *batcher[*sdklog.Record]
	exp sdklog.Exporter
	// sole is set when no other processor is registered with the provider. The SDK builds
	// a fresh record for every Emit and nothing touches it after the last processor's
	// OnEmit returns, so a sole processor queues the record itself instead of a clone
	// (the clone exists to isolate a record from later processors' changes).
	sole bool
}

func newLogBatcher(exp sdklog.Exporter, cfg batchConfig) *logBatcher {
	var recs []sdklog.Record // the export goroutine's buffer (exporters do not retain it)
	return &logBatcher{exp: exp, b: newBatcher(cfg, func(ctx context.Context, batch []*sdklog.Record) error {
		for _, r := range batch {
			recs = append(recs, *r)
		}
		err := exp.Export(ctx, recs)
		clear(recs)
		recs = recs[:0]
		return err
	})}
}

func (l *logBatcher) OnEmit(_ context.Context, r *sdklog.Record) error {
	if !l.sole {
		c := r.Clone()
		r = &c
	}
	l.b.add(r)
	return nil
}
func (l *logBatcher) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (l *logBatcher) ForceFlush(ctx context.Context) error {
	return errors.Join(l.b.flush(ctx), l.exp.ForceFlush(ctx))
}
func (l *logBatcher) Shutdown(ctx context.Context) error {
	return errors.Join(l.b.shutdown(ctx), l.exp.ForceFlush(ctx), l.exp.Shutdown(ctx))
}
