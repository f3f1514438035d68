package exporter

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/provisiond/provisiond/provisioning"
)

// gauges publishes the engine's state through observable instruments. A background
// goroutine takes snapshots (Engine.Status, the targets' counters) every interval or when
// poked; the metric callbacks only load the last snapshot atomically.
type gauges struct {
	every time.Duration

	mu      sync.Mutex
	eng     *provisioning.Engine
	targets []*targetSrc
	started bool
	stopc   chan struct{}
	done    chan struct{}
	pokec   chan struct{}
	once    sync.Once

	snap atomic.Pointer[snapshot]
	// attrs caches each job's precomputed attribute sets (snapshot goroutine only).
	attrs map[string]*jobAttrs

	scope, escrow, held, progress, state, quarantine, throttled, requests metric.Int64Observable
	age, rate                                                             metric.Float64Observable
}

type targetSrc struct {
	job string
	c   Target
	set metric.ObserveOption
}

type snapshot struct {
	jobs    []jobSnap
	targets []targetSnap
}

type jobSnap struct {
	a                  *jobAttrs
	code               provisioning.StatusCode
	reason             provisioning.QuarantineReason
	escrows, held      int64
	completed, total   int64
	hasProgress        bool
	synced             []typeCount
	lastSuccess        time.Time
	hasLastSuccessTime bool
}

type typeCount struct {
	set metric.ObserveOption
	n   int64
}

type targetSnap struct {
	set                 metric.ObserveOption
	rate                float64
	requests, throttled int64
}

type jobAttrs struct {
	job              metric.ObserveOption
	completed, total metric.ObserveOption
	states           map[provisioning.StatusCode]metric.ObserveOption
	reasons          map[provisioning.QuarantineReason]metric.ObserveOption
	types            map[string]metric.ObserveOption
	id               string
	jobKV            attribute.KeyValue
	stateOrder       []provisioning.StatusCode
	reasonOrder      []provisioning.QuarantineReason
}

// QuarantineReasons lists every reason (state set of provisioning.job.quarantine).
var quarantineReasons = []provisioning.QuarantineReason{
	provisioning.ReasonBaseEscrowThreshold, provisioning.ReasonTotalEscrowThreshold,
	provisioning.ReasonEscrowProportionThreshold, provisioning.ReasonQuarantineException,
	provisioning.ReasonQuarantinedOnDemand, provisioning.ReasonTooManyDeletes,
}

func newJobAttrs(id string) *jobAttrs {
	kv := strKV(AttrJobID, id)
	a := &jobAttrs{id: id, jobKV: kv, job: metric.WithAttributeSet(attrSet(kv)),
		completed: metric.WithAttributeSet(attrSet(kv, strKV(AttrProgressKind, ProgressCompleted))),
		total:     metric.WithAttributeSet(attrSet(kv, strKV(AttrProgressKind, ProgressTotal))),
		states:    map[provisioning.StatusCode]metric.ObserveOption{},
		reasons:   map[provisioning.QuarantineReason]metric.ObserveOption{},
		types:     map[string]metric.ObserveOption{},
	}
	for _, c := range provisioning.StatusCodes {
		a.states[c] = metric.WithAttributeSet(attrSet(kv, strKV(AttrJobState, string(c))))
		a.stateOrder = append(a.stateOrder, c)
	}
	for _, r := range quarantineReasons {
		a.reasons[r] = metric.WithAttributeSet(attrSet(kv, strKV(AttrQuarantineReason, string(r))))
		a.reasonOrder = append(a.reasonOrder, r)
	}
	return a
}

func (a *jobAttrs) typeSet(t string) metric.ObserveOption {
	if s, ok := a.types[t]; ok {
		return s
	}
	s := metric.WithAttributeSet(attrSet(a.jobKV, strKV(AttrIdentityType, t)))
	a.types[t] = s
	return s
}

func newGauges(_ *instruments, every time.Duration) *gauges {
	g := &gauges{every: every, attrs: map[string]*jobAttrs{}, pokec: make(chan struct{}, 1),
		stopc: make(chan struct{}), done: make(chan struct{})}
	g.snap.Store(&snapshot{})
	return g
}

func (g *gauges) register(m metric.Meter) error {
	var err error
	i64 := func(dst *metric.Int64Observable, f func() (metric.Int64Observable, error)) {
		if err == nil {
			*dst, err = f()
		}
	}
	i64(&g.scope, func() (metric.Int64Observable, error) {
		return m.Int64ObservableUpDownCounter(MetricScopeCount, metric.WithUnit(UnitObject),
			metric.WithDescription("Users and groups in scope with a target object (synchronizedEntryCountByType), by identity type"))
	})
	i64(&g.escrow, func() (metric.Int64Observable, error) {
		return m.Int64ObservableUpDownCounter(MetricEscrowSize, metric.WithUnit(UnitEscrow),
			metric.WithDescription("Failed object operations waiting for a retry (escrows)"))
	})
	i64(&g.held, func() (metric.Int64Observable, error) {
		return m.Int64ObservableUpDownCounter(MetricDeletionHeld, metric.WithUnit(UnitObject),
			metric.WithDescription("Deletes and disables held by the accidental-deletion breaker"))
	})
	i64(&g.progress, func() (metric.Int64Observable, error) {
		return m.Int64ObservableGauge(MetricCycleProgress, metric.WithUnit(UnitObject),
			metric.WithDescription("Progress of the running (or last) cycle: completed and total objects"))
	})
	i64(&g.state, func() (metric.Int64Observable, error) {
		return m.Int64ObservableGauge(MetricJobState, metric.WithUnit(UnitOne),
			metric.WithDescription("Job status code as a state set: 1 for the current code, 0 for the others"))
	})
	i64(&g.quarantine, func() (metric.Int64Observable, error) {
		return m.Int64ObservableGauge(MetricQuarantine, metric.WithUnit(UnitOne),
			metric.WithDescription("Quarantine reason as a state set: 1 for the current reason while quarantined, 0 otherwise"))
	})
	i64(&g.throttled, func() (metric.Int64Observable, error) {
		return m.Int64ObservableCounter(MetricTargetThrottled, metric.WithUnit(UnitResponse),
			metric.WithDescription("Throttling answers (HTTP 429 and 503) from the target"))
	})
	i64(&g.requests, func() (metric.Int64Observable, error) {
		return m.Int64ObservableCounter(MetricTargetRequests, metric.WithUnit(UnitRequest),
			metric.WithDescription("HTTP requests sent to the target (retries included)"))
	})
	if err != nil {
		return err
	}
	if g.age, err = m.Float64ObservableGauge(MetricLastSuccessAge, metric.WithUnit(UnitSeconds),
		metric.WithDescription("Seconds since the end of the last successful cycle")); err != nil {
		return err
	}
	if g.rate, err = m.Float64ObservableGauge(MetricTargetRequestRate, metric.WithUnit(UnitRate),
		metric.WithDescription("The target client's current request rate limit (adaptive: it drops on throttling)")); err != nil {
		return err
	}
	_, err = m.RegisterCallback(g.observe, g.scope, g.escrow, g.held, g.progress, g.state, g.quarantine,
		g.throttled, g.requests, g.age, g.rate)
	return err
}

// observe is the metric callback: it reads the last snapshot only.
func (g *gauges) observe(_ context.Context, o metric.Observer) error {
	s := g.snap.Load()
	now := time.Now()
	for i := range s.jobs {
		j := &s.jobs[i]
		for _, c := range j.a.stateOrder {
			v := int64(0)
			if c == j.code {
				v = 1
			}
			o.ObserveInt64(g.state, v, j.a.states[c])
		}
		for _, r := range j.a.reasonOrder {
			v := int64(0)
			if j.code == provisioning.StatusQuarantine && r == j.reason {
				v = 1
			}
			o.ObserveInt64(g.quarantine, v, j.a.reasons[r])
		}
		o.ObserveInt64(g.escrow, j.escrows, j.a.job)
		o.ObserveInt64(g.held, j.held, j.a.job)
		if j.hasProgress {
			o.ObserveInt64(g.progress, j.completed, j.a.completed)
			o.ObserveInt64(g.progress, j.total, j.a.total)
		}
		for _, t := range j.synced {
			o.ObserveInt64(g.scope, t.n, t.set)
		}
		if j.hasLastSuccessTime {
			o.ObserveFloat64(g.age, now.Sub(j.lastSuccess).Seconds(), j.a.job)
		}
	}
	for _, t := range s.targets {
		o.ObserveInt64(g.throttled, t.throttled, t.set)
		o.ObserveInt64(g.requests, t.requests, t.set)
		o.ObserveFloat64(g.rate, t.rate, t.set)
	}
	return nil
}

func (g *gauges) observeJobs(eng *provisioning.Engine) {
	g.mu.Lock()
	g.eng = eng
	g.mu.Unlock()
	g.start()
}

func (g *gauges) observeTarget(job string, c Target) {
	g.mu.Lock()
	g.targets = append(g.targets, &targetSrc{job: job, c: c, set: metric.WithAttributeSet(attrSet(strKV(AttrJobID, job)))})
	g.mu.Unlock()
	g.start()
}

func (g *gauges) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		g.poke()
		return
	}
	g.started = true
	go g.loop()
}

// poke asks for a fresh snapshot without waiting.
func (g *gauges) poke() {
	select {
	case g.pokec <- struct{}{}:
	default:
	}
}

func (g *gauges) stop() {
	g.once.Do(func() {
		close(g.stopc)
		g.mu.Lock()
		started := g.started
		g.mu.Unlock()
		if started {
			<-g.done
		}
	})
}

func (g *gauges) loop() {
	defer close(g.done)
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		g.refresh()
		select {
		case <-g.stopc:
			return
		case <-t.C:
		case <-g.pokec:
		}
	}
}

// refresh takes a snapshot and publishes it.
func (g *gauges) refresh() {
	g.mu.Lock()
	eng := g.eng
	targets := append([]*targetSrc(nil), g.targets...)
	g.mu.Unlock()
	s := &snapshot{}
	if eng != nil {
		for _, job := range eng.Jobs() {
			st, err := eng.Status(context.Background(), job.ID)
			if err != nil {
				continue
			}
			a := g.attrs[job.ID]
			if a == nil {
				a = newJobAttrs(job.ID)
				g.attrs[job.ID] = a
			}
			j := jobSnap{a: a, code: st.Code, escrows: st.EscrowCount, held: st.StagedDeleteCount}
			if st.Quarantine != nil {
				j.reason = st.Quarantine.Reason
			}
			if st.Progress != nil {
				j.hasProgress, j.completed, j.total = true, st.Progress.CompletedUnits, st.Progress.TotalUnits
			}
			if le := st.LastSuccessfulExecution; le != nil && le.TimeEnded != nil {
				j.lastSuccess, j.hasLastSuccessTime = *le.TimeEnded, true
			}
			types := make([]string, 0, len(st.SynchronizedEntryCountByType))
			for t := range st.SynchronizedEntryCountByType {
				types = append(types, t)
			}
			sort.Strings(types)
			for _, t := range types {
				j.synced = append(j.synced, typeCount{set: a.typeSet(t), n: st.SynchronizedEntryCountByType[t]})
			}
			s.jobs = append(s.jobs, j)
		}
	}
	for _, t := range targets {
		cs := t.c.Stats()
		s.targets = append(s.targets, targetSnap{set: t.set, rate: t.c.Rate(), requests: cs.Requests, throttled: cs.Throttled})
	}
	g.snap.Store(s)
}
