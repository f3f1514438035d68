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
type batcher[T any] struct {
	queue    chan T
	export   func(context.Context, []T) error
	maxBatch int
	interval time.Duration
	timeout  time.Duration

	dropped   atomic.Int64
	failed    atomic.Int64
	flushReq  chan chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
}

type batchConfig struct {
	queueSize, maxBatch int
	interval, timeout   time.Duration
}

func newBatcher[T any](cfg batchConfig, export func(context.Context, []T) error) *batcher[T] {
	b := &batcher[T]{
		queue: make(chan T, cfg.queueSize), export: export, maxBatch: cfg.maxBatch,
		interval: cfg.interval, timeout: cfg.timeout,
		flushReq: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b
}

// add enqueues v without blocking; a full queue (or a stopped batcher) drops it.
func (b *batcher[T]) add(v T) {
	if b.closed.Load() {
		b.dropped.Add(1)
		return
	}
	select {
	case b.queue <- v:
	default:
		b.dropped.Add(1)
	}
}

func (b *batcher[T]) run() {
	defer close(b.done)
	batch := make([]T, 0, b.maxBatch)
	t := time.NewTimer(b.interval)
	defer t.Stop()
	send := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		if err := b.export(ctx, batch); err != nil {
			b.failed.Add(int64(len(batch)))
		}
		cancel()
		clear(batch)
		batch = batch[:0]
	}
	drain := func() {
		for {
			select {
			case v := <-b.queue:
				batch = append(batch, v)
				if len(batch) >= b.maxBatch {
					send()
				}
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case v := <-b.queue:
			batch = append(batch, v)
			if len(batch) >= b.maxBatch {
				send()
			}
		case <-t.C:
			send()
			t.Reset(b.interval)
		case reply := <-b.flushReq:
			drain()
			close(reply)
		case <-b.stop:
			drain()
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
		b.closed.Store(true)
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

// logBatcher is an sdklog.Processor over a batcher.
type logBatcher struct {
	b   *batcher[sdklog.Record]
	exp sdklog.Exporter
}

func newLogBatcher(exp sdklog.Exporter, cfg batchConfig) *logBatcher {
	return &logBatcher{exp: exp, b: newBatcher(cfg, exp.Export)}
}

func (l *logBatcher) OnEmit(_ context.Context, r *sdklog.Record) error {
	l.b.add(r.Clone())
	return nil
}
func (l *logBatcher) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (l *logBatcher) ForceFlush(ctx context.Context) error {
	return errors.Join(l.b.flush(ctx), l.exp.ForceFlush(ctx))
}
func (l *logBatcher) Shutdown(ctx context.Context) error {
	return errors.Join(l.b.shutdown(ctx), l.exp.ForceFlush(ctx), l.exp.Shutdown(ctx))
}
