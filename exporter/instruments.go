package exporter

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/provisiond/provisiond/provisioning"
)

// instruments are the synchronous instruments and the cache of precomputed attribute sets.
type instruments struct {
	operations metric.Int64Counter
	opDuration metric.Float64Histogram
	cycleDur   metric.Float64Histogram
	cycles     metric.Int64Counter
	synced     metric.Int64Counter

	opSets    sync.Map // opKey → *opAttrs
	errTypes  sync.Map // raw error code → bounded error.type
	errCount  int
	errMu     sync.Mutex
	cycleSets sync.Map // cycleKey → metric.MeasurementOption
}

// maxErrorTypes bounds the distinct error.type values; later ones become _OTHER.
const maxErrorTypes = 64

func newInstruments(m metric.Meter) (*instruments, error) {
	var i instruments
	var err error
	if i.operations, err = m.Int64Counter(MetricOperations, metric.WithUnit(UnitOperation),
		metric.WithDescription("Object operations (provisioning events) by action, status and error type")); err != nil {
		return nil, err
	}
	if i.opDuration, err = m.Float64Histogram(MetricOperationDuration, metric.WithUnit(UnitSeconds),
		metric.WithDescription("Duration of an object operation"),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	if i.cycleDur, err = m.Float64Histogram(MetricCycleDuration, metric.WithUnit(UnitSeconds),
		metric.WithDescription("Duration of a provisioning cycle"),
		metric.WithExplicitBucketBoundaries(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)); err != nil {
		return nil, err
	}
	if i.cycles, err = m.Int64Counter(MetricCycles, metric.WithUnit(UnitCycle),
		metric.WithDescription("Cycles ended, by type and state")); err != nil {
		return nil, err
	}
	if i.synced, err = m.Int64Counter(MetricObjectsSynced, metric.WithUnit(UnitObject),
		metric.WithDescription("Objects written to the target (successful create, update, disable, delete)")); err != nil {
		return nil, err
	}
	return &i, nil
}

type opKey struct {
	job, identity string
	action        provisioning.Action
	status        provisioning.Result
	errType       string
}

// opAttrs are an operation's precomputed attribute set, already wrapped in the option
// slices the instruments take (passing a fresh one-element slice would allocate on every
// measurement).
type opAttrs struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// opSet returns the precomputed attribute set of an operation.
func (i *instruments) opSet(k opKey) *opAttrs {
	if v, ok := i.opSets.Load(k); ok {
		return v.(*opAttrs)
	}
	kv := []attribute.KeyValue{
		strKV(AttrJobID, k.job), strKV(AttrIdentityType, k.identity),
		strKV(AttrAction, string(k.action)), strKV(AttrStatus, string(k.status)),
	}
	if k.errType != "" {
		kv = append(kv, strKV(AttrErrorType, k.errType))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	v, _ := i.opSets.LoadOrStore(k, &opAttrs{add: []metric.AddOption{set}, rec: []metric.RecordOption{set}})
	return v.(*opAttrs)
}

type cycleKey struct {
	job   string
	typ   provisioning.CycleType
	state provisioning.CycleState
}

func (i *instruments) cycleSet(k cycleKey) metric.MeasurementOption {
	if v, ok := i.cycleSets.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := i.cycleSets.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
		strKV(AttrJobID, k.job), strKV(AttrCycleType, string(k.typ)), strKV(AttrCycleState, string(k.state)))))
	return v.(metric.MeasurementOption)
}

// errorType maps an error code to a bounded error.type: an identifier-like code (letters,
// digits, '_', '.', '-'; at most 64 characters; not a UUID- or e-mail-like value), and at
// most maxErrorTypes distinct ones; anything else is _OTHER. A raw message or an identity
// can therefore never become a metric attribute.
func (i *instruments) errorType(code string) string {
	if code == "" {
		return ""
	}
	if v, ok := i.errTypes.Load(code); ok {
		return v.(string)
	}
	if !boundedCode(code) {
		return ErrorTypeOther
	}
	i.errMu.Lock()
	defer i.errMu.Unlock()
	if v, ok := i.errTypes.Load(code); ok {
		return v.(string)
	}
	if i.errCount >= maxErrorTypes {
		return ErrorTypeOther // not cached: the cache stays bounded too
	}
	i.errCount++
	i.errTypes.Store(code, code)
	return code
}

func boundedCode(s string) bool {
	if len(s) > 64 {
		return false
	}
	letters := 0
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letters++
		case r >= '0' && r <= '9', r == '_', r == '.':
		default:
			return false // '@', '-', spaces, ... : not a code
		}
	}
	// A code is a word, not a number or a hex id.
	return letters*2 >= len(s)
}

func strKV(k, v string) attribute.KeyValue { return attribute.String(k, v) }

func attrSet(kv ...attribute.KeyValue) attribute.Set { return attribute.NewSet(kv...) }
