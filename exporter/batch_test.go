package exporter

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// collect is an export function that records its batches.
type collect struct {
	mu      sync.Mutex
	batches [][]int
}

func (c *collect) export(_ context.Context, items []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, slices.Clone(items))
	return nil
}

func (c *collect) all() (items []int, largest int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.batches {
		items = append(items, b...)
		largest = max(largest, len(b))
	}
	return items, largest
}

// TestBatcherExportsInOrder: whatever the producers' rhythm, everything added before a
// flush is exported exactly once, in order, in batches of at most maxBatch.
func TestBatcherExportsInOrder(t *testing.T) {
	for _, c := range []struct {
		name            string
		cfg             batchConfig
		n, producers    int
		flushEvery      int
		wantFullBatches bool
	}{
		{"full batches", batchConfig{queueSize: 4096, maxBatch: 64, interval: time.Hour, timeout: time.Second}, 1000, 1, 0, true},
		{"flushes between", batchConfig{queueSize: 4096, maxBatch: 64, interval: time.Hour, timeout: time.Second}, 1000, 1, 100, false},
		{"timer only", batchConfig{queueSize: 4096, maxBatch: 512, interval: 5 * time.Millisecond, timeout: time.Second}, 300, 1, 0, false},
		{"queue smaller than a batch", batchConfig{queueSize: 8, maxBatch: 64, interval: time.Millisecond, timeout: time.Second}, 8, 1, 0, false},
		{"concurrent producers", batchConfig{queueSize: 1 << 14, maxBatch: 32, interval: time.Hour, timeout: time.Second}, 4000, 4, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			col := &collect{}
			b := newBatcher(c.cfg, col.export)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			per := c.n / c.producers
			for p := range c.producers {
				wg.Go(func() {
					for i := range per {
						b.add(p*per + i)
						if c.flushEvery > 0 && i%c.flushEvery == c.flushEvery-1 {
							if err := b.flush(ctx); err != nil {
								t.Error(err)
							}
						}
					}
				})
			}
			wg.Wait()
			if err := b.flush(ctx); err != nil {
				t.Fatal(err)
			}
			got, largest := col.all()
			if len(got) != c.n || b.dropped.Load() != 0 {
				t.Fatalf("exported %d, dropped %d, want %d and 0", len(got), b.dropped.Load(), c.n)
			}
			if largest > c.cfg.maxBatch {
				t.Errorf("a batch of %d, max %d", largest, c.cfg.maxBatch)
			}
			if c.wantFullBatches && largest != c.cfg.maxBatch {
				t.Errorf("largest batch %d, want full batches of %d", largest, c.cfg.maxBatch)
			}
			// Each producer's items in its order (one producer: all of them).
			for p := range c.producers {
				var mine []int
				for _, v := range got {
					if v/per == p {
						mine = append(mine, v)
					}
				}
				if !slices.IsSorted(mine) || len(mine) != per {
					t.Errorf("producer %d: %d items, in order %v", p, len(mine), slices.IsSorted(mine))
				}
			}
			if err := b.shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			b.add(-1)
			if b.dropped.Load() != 1 {
				t.Errorf("an item added after shutdown was not dropped")
			}
		})
	}
}

// mutator is a log processor registered after ours that rewrites every record, as a
// redacting processor may (the SDK allows it: the changes are for later processors).
type mutator struct{}

func (mutator) OnEmit(_ context.Context, r *sdklog.Record) error {
	r.SetAttributes(attribute.String("n", "mutated"))
	r.SetBody(attribute.StringValue("mutated"))
	return nil
}
func (mutator) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (mutator) Shutdown(context.Context) error                         { return nil }
func (mutator) ForceFlush(context.Context) error                       { return nil }

// TestLogBatcherKeepsRecordsIntact: the records the batcher exports are the ones emitted,
// whether it is the provider's only processor (it then queues the SDK's record itself) or
// other processors follow it (it queues a clone).
func TestLogBatcherKeepsRecordsIntact(t *testing.T) {
	for _, c := range []struct {
		name string
		sole bool
	}{{"sole processor", true}, {"followed by a mutating processor", false}} {
		t.Run(c.name, func(t *testing.T) {
			exp := &memLogs{}
			lb := newLogBatcher(exp, batchConfig{queueSize: 1024, maxBatch: 16, interval: time.Hour, timeout: time.Second})
			lb.sole = c.sole
			opts := []sdklog.LoggerProviderOption{sdklog.WithProcessor(lb), sdklog.WithAllowKeyDuplication()}
			if !c.sole {
				opts = append(opts, sdklog.WithProcessor(mutator{}))
			}
			lp := sdklog.NewLoggerProvider(opts...)
			logger := lp.Logger("test")
			const n = 100
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Go(func() {
					for i := range n / 2 {
						var r otellog.Record
						id := strconv.Itoa(g*n/2 + i)
						r.SetBody(attribute.StringValue("body " + id))
						r.AddAttributes(attribute.String("n", id), attribute.String("a", "1"), attribute.String("b", "2"),
							attribute.String("c", "3"), attribute.String("d", "4"), attribute.String("e", "5"),
							attribute.Slice("s", attribute.MapValue(attribute.String("x", id))))
						logger.Emit(context.Background(), r)
					}
				})
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := lp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, r := range exp.records() {
				var id, nested string
				r.WalkAttributes(func(kv attribute.KeyValue) bool {
					switch kv.Key {
					case "n":
						id = kv.Value.AsString()
					case "s":
						nested = kv.Value.AsSlice()[0].AsMap()[0].Value.AsString()
					}
					return true
				})
				if r.Body().AsString() != "body "+id || nested != id || r.AttributesLen() != 7 {
					t.Errorf("record %q: body %q, nested %q, %d attributes", id, r.Body().AsString(), nested, r.AttributesLen())
				}
				seen[id] = true
			}
			if len(seen) != n {
				t.Errorf("%d distinct records exported, want %d", len(seen), n)
			}
		})
	}
}
