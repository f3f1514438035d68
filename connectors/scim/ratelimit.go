package scim

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/provisiond/provisiond/connectors"
)

// aimd is the per-target adaptive limiter: additive increase, multiplicative decrease.
//
//   - It starts at max requests per second (a token bucket from x/time/rate, burst a tenth
//     of a second's worth).
//   - A 429 or 503 halves the rate (never below min) — once per "epoch": answers to requests
//     sent before the last decrease do not decrease it again, so a burst of concurrent 429s
//     counts as one congestion signal, as in TCP.
//   - A Retry-After sets a shared "not before" time: no request to the target leaves before it.
//   - After a window of successes sent at the current rate (max(10, rate) of them, about a
//     second's worth), the rate grows by step (max/10, at least 1) back toward max.
type aimd struct {
	lim      *rate.Limiter
	min, max float64

	epoch     atomic.Uint64 // bumped on every decrease
	notBefore atomic.Int64  // unix nanos; no request starts before
	successes atomic.Int64  // successes in the current epoch since the last change

	mu      sync.Mutex
	cur     float64
	curBits atomic.Uint64 // math.Float64bits(cur), for lock-free reads
	step    float64
	// window overrides the success window (tests); 0 means max(10, ceil(cur)).
	window int

	sleep func(context.Context, time.Duration) error
}

func newAIMD(min, max float64) *aimd {
	a := &aimd{min: min, max: max, cur: max, step: math.Max(1, max/10), sleep: sleepCtx}
	a.curBits.Store(math.Float64bits(max))
	a.lim = rate.NewLimiter(rate.Limit(max), burstFor(max))
	return a
}

func burstFor(r float64) int {
	b := int(math.Ceil(r / 10))
	if b < 1 {
		b = 1
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// wait blocks until a request may be sent; it returns the epoch the request is sent in.
func (a *aimd) wait(ctx context.Context) (uint64, error) {
	if nb := a.notBefore.Load(); nb != 0 {
		if d := time.Until(time.Unix(0, nb)); d > 0 {
			if err := a.sleep(ctx, d); err != nil {
				return 0, err
			}
		}
	}
	if err := a.lim.Wait(ctx); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return 0, cerr
		}
		// The wait would outlast the context's deadline.
		return 0, &connectors.Error{Class: connectors.ClassThrottled, Code: CodeTooManyRequests,
			Message: "client-side rate limit: the next request slot is beyond the operation's deadline"}
	}
	return a.epoch.Load(), nil
}

// throttled records a 429/503 for a request sent in epoch; retryAfter > 0 pauses every request.
func (a *aimd) throttled(epoch uint64, retryAfter time.Duration) {
	if retryAfter > 0 {
		until := time.Now().Add(retryAfter).UnixNano()
		for {
			old := a.notBefore.Load()
			if old >= until || a.notBefore.CompareAndSwap(old, until) {
				break
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.epoch.Load() != epoch {
		return // already slowed down for this burst
	}
	a.cur = math.Max(a.min, a.cur/2)
	a.apply()
	a.successes.Store(0)
	a.epoch.Add(1)
}

// succeeded records a success for a request sent in epoch.
func (a *aimd) succeeded(epoch uint64) {
	if a.epoch.Load() != epoch {
		return
	}
	cur := math.Float64frombits(a.curBits.Load())
	if cur >= a.max {
		return // the common case: running at full speed
	}
	w := a.window
	if w <= 0 {
		w = int(math.Max(10, math.Ceil(cur)))
	}
	if a.successes.Add(1) < int64(w) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.epoch.Load() != epoch || a.successes.Load() < int64(w) {
		return
	}
	a.cur = math.Min(a.max, a.cur+a.step)
	a.apply()
	a.successes.Store(0)
}

func (a *aimd) apply() {
	a.curBits.Store(math.Float64bits(a.cur))
	a.lim.SetLimit(rate.Limit(a.cur))
	a.lim.SetBurst(burstFor(a.cur))
}

func (a *aimd) rate() float64 { return math.Float64frombits(a.curBits.Load()) }
