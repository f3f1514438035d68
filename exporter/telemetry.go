// Package exporter is provisiond's OpenTelemetry exporter: provider set-up from the
// standard OTEL_* variables, the instrumentation that implements the engine's Recorder
// and Observer (spans, metrics, log records), the /metrics handler and the names (one
// file, names.go).
package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	otellog "go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/scim"
	"github.com/provisiond/provisiond/provisioning"
)

// Options configure Setup.
type Options struct {
	// ServiceVersion is the resource's service.version.
	ServiceVersion string
	// InstanceID is the resource's service.instance.id (default: a random UUID).
	InstanceID string
	// Logger is the local (stderr) logger; Logger() fans out to it and to OpenTelemetry.
	Logger *slog.Logger
}

// Batch sizing: thousands of operations per second, each with ~7 spans and 1 log record.
var defaultBatch = batchConfig{queueSize: 16384, maxBatch: 512, interval: time.Second, timeout: 30 * time.Second}

// Telemetry holds the providers and the instrumentation.
type Telemetry struct {
	res     *resource.Resource
	tp      trace.TracerProvider
	sdkTP   *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
	lp      otellog.LoggerProvider
	sdkLP   *sdklog.LoggerProvider
	spans   *spanBatcher
	logs    *logBatcher
	prom    *promclient.Registry
	local   *slog.Logger
	tracing bool
	logging bool
	// pushMetrics: a reader besides the Prometheus one (OTEL_METRICS_EXPORTER not none).
	pushMetrics bool
	inst        *instruments
	rec         *recorder
	obs         *observer
	gauges      *gauges
	shutOnce    sync.Once
	shutErr     error
}

// providers is what newTelemetry builds on (Setup: from OTEL_*; tests: in-memory).
type providers struct {
	res       *resource.Resource
	spanProc  sdktrace.SpanProcessor // nil: no tracing
	readers   []sdkmetric.Reader
	logProc   sdklog.Processor // nil: no logs
	prom      *promclient.Registry
	local     *slog.Logger
	snapEvery time.Duration
	// pushMetrics: readers holds more than the /metrics reader.
	pushMetrics bool
}

// Setup builds the providers from the standard OTEL_* variables (autoexport: otlp,
// console, none; prometheus for metrics), always adds a Prometheus reader for /metrics,
// sets the globals and returns the instrumentation.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	if o.InstanceID == "" {
		o.InstanceID = uuid.NewString()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName("provisiond"), semconv.ServiceVersion(o.ServiceVersion),
			semconv.ServiceInstanceID(o.InstanceID)),
		resource.WithFromEnv(), // last: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	p := providers{res: res, local: o.Logger, snapEvery: time.Second}
	var closers []func(context.Context) error
	fail := func(err error) (*Telemetry, error) {
		for _, c := range closers {
			_ = c(context.Background())
		}
		return nil, err
	}

	se, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return fail(fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err))
	}
	if !autoexport.IsNoneSpanExporter(se) {
		sb := newSpanBatcher(se, batchFromEnv(defaultBatch, "OTEL_BSP"))
		p.spanProc = sb
		closers = append(closers, sb.Shutdown)
	}
	mr, err := autoexport.NewMetricReader(ctx)
	if err != nil {
		return fail(fmt.Errorf("OTEL_METRICS_EXPORTER: %w", err))
	}
	if !autoexport.IsNoneMetricReader(mr) {
		p.pushMetrics = true
		p.readers = append(p.readers, mr)
		closers = append(closers, mr.Shutdown)
	}
	p.prom = promclient.NewRegistry()
	pe, err := otelprom.New(otelprom.WithRegisterer(p.prom))
	if err != nil {
		return fail(fmt.Errorf("prometheus exporter: %w", err))
	}
	p.readers = append(p.readers, pe)
	le, err := autoexport.NewLogExporter(ctx)
	if err != nil {
		return fail(fmt.Errorf("OTEL_LOGS_EXPORTER: %w", err))
	}
	if !autoexport.IsNoneLogExporter(le) {
		p.logProc = newLogBatcher(le, batchFromEnv(defaultBatch, "OTEL_BLRP"))
	}
	t, err := newTelemetry(p)
	if err != nil {
		return fail(err)
	}
	otel.SetTracerProvider(t.tp)
	otel.SetMeterProvider(t.mp)
	otel.SetLoggerProvider(t.lp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return t, nil
}

// batchFromEnv applies the standard OTEL_BSP_* / OTEL_BLRP_* sizes over the defaults.
func batchFromEnv(c batchConfig, prefix string) batchConfig {
	num := func(name string) (int, bool) {
		var v int
		if s := os.Getenv(prefix + "_" + name); s != "" {
			if _, err := fmt.Sscan(s, &v); err == nil && v > 0 {
				return v, true
			}
		}
		return 0, false
	}
	if v, ok := num("MAX_QUEUE_SIZE"); ok {
		c.queueSize = v
	}
	if v, ok := num("MAX_EXPORT_BATCH_SIZE"); ok {
		c.maxBatch = v
	}
	if v, ok := num("SCHEDULE_DELAY"); ok {
		c.interval = time.Duration(v) * time.Millisecond
	}
	if v, ok := num("EXPORT_TIMEOUT"); ok {
		c.timeout = time.Duration(v) * time.Millisecond
	}
	return c
}

func newTelemetry(p providers) (*Telemetry, error) {
	if p.res == nil {
		p.res = resource.Default()
	}
	if p.local == nil {
		p.local = slog.New(slog.DiscardHandler)
	}
	if p.snapEvery <= 0 {
		p.snapEvery = time.Second
	}
	t := &Telemetry{res: p.res, prom: p.prom, local: p.local, pushMetrics: p.pushMetrics}
	if p.spanProc != nil {
		t.sdkTP = sdktrace.NewTracerProvider(sdktrace.WithResource(p.res), sdktrace.WithSpanProcessor(p.spanProc))
		t.tp, t.tracing = t.sdkTP, true
		if sb, ok := p.spanProc.(*spanBatcher); ok {
			t.spans = sb
		}
	} else {
		t.tp = tracenoop.NewTracerProvider()
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(p.res)}
	for _, r := range p.readers {
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	t.mp = sdkmetric.NewMeterProvider(mopts...)
	if p.logProc != nil {
		// Our records are built with unique keys: skip the SDK's per-record dedup pass. Their
		// values nest three levels at most (steps → step → details), far below the SDK's
		// default depth limit of 64, so the limit's walk through every nested value of
		// every record (reflection over each step map) is skipped too.
		t.sdkLP = sdklog.NewLoggerProvider(sdklog.WithResource(p.res), sdklog.WithProcessor(p.logProc),
			sdklog.WithAllowKeyDuplication(), sdklog.WithAttributeValueDepthLimit(-1))
		t.lp, t.logging = t.sdkLP, true
		if lb, ok := p.logProc.(*logBatcher); ok {
			t.logs = lb
			lb.sole = true // the provider's only processor
		}
	} else {
		t.lp = lognoop.NewLoggerProvider()
	}
	inst, err := newInstruments(t.mp.Meter(ScopeName))
	if err != nil {
		return nil, err
	}
	t.inst = inst
	if err := t.registerDropped(); err != nil {
		return nil, err
	}
	t.rec = &recorder{t: t, tracer: t.tp.Tracer(ScopeName)}
	t.obs = &observer{t: t, logger: t.lp.Logger(ScopeName), inst: inst}
	t.gauges = newGauges(inst, p.snapEvery)
	if err := t.gauges.register(t.mp.Meter(ScopeName)); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Telemetry) registerDropped() error {
	if t.spans == nil && t.logs == nil {
		return nil
	}
	m := t.mp.Meter(ScopeName)
	spansAttr := metric.WithAttributeSet(attrSet(strKV(AttrSignal, SignalSpans)))
	logsAttr := metric.WithAttributeSet(attrSet(strKV(AttrSignal, SignalLogs)))
	dropped, err := m.Int64ObservableCounter(MetricTelemetryDropped, metric.WithUnit(UnitItem),
		metric.WithDescription("Spans and log records dropped because the export queue was full"))
	if err != nil {
		return err
	}
	failed, err := m.Int64ObservableCounter(MetricTelemetryExportErr, metric.WithUnit(UnitItem),
		metric.WithDescription("Spans and log records whose export failed"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if t.spans != nil {
			o.ObserveInt64(dropped, t.spans.b.dropped.Load(), spansAttr)
			o.ObserveInt64(failed, t.spans.b.failed.Load(), spansAttr)
		}
		if t.logs != nil {
			o.ObserveInt64(dropped, t.logs.b.dropped.Load(), logsAttr)
			o.ObserveInt64(failed, t.logs.b.failed.Load(), logsAttr)
		}
		return nil
	}, dropped, failed)
	return err
}

// Recorder returns the engine's span recorder.
func (t *Telemetry) Recorder() provisioning.Recorder {
	if !t.tracing {
		return provisioning.NopRecorder{}
	}
	return t.rec
}

// Observer returns the engine's observer (metrics and log records).
func (t *Telemetry) Observer() provisioning.Observer { return t.obs }

// MetricsHandler serves the Prometheus exposition of every metric (/metrics).
func (t *Telemetry) MetricsHandler() http.Handler {
	if t.prom == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(t.prom, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// HTTPClient returns a copy of base whose transport makes client spans ("HTTP POST") and
// http.client.* metrics with otelhttp. With OTEL_TRACES_EXPORTER and
// OTEL_METRICS_EXPORTER both none it returns base itself (no cost).
func (t *Telemetry) HTTPClient(base *http.Client) *http.Client {
	if base == nil {
		base = &http.Client{}
	}
	if !t.tracing && !t.pushMetrics {
		return base
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = otelhttp.NewTransport(callSpanTransport{rt},
		otelhttp.WithTracerProvider(t.tp), otelhttp.WithMeterProvider(t.mp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }))
	return &c
}

// callSpanTransport runs beneath otelhttp's client span and records that span's id on
// the connector call in flight (connectors.StartCall), so that an event's calls point at
// their spans.
type callSpanTransport struct{ next http.RoundTripper }

func (t callSpanTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() && sc.IsSampled() {
		connectors.SetCallSpanID(r.Context(), sc.SpanID().String())
	}
	return t.next.RoundTrip(r)
}

// Logger returns a logger that writes to Options.Logger and, when logs are exported, to
// OpenTelemetry (otelslog; use the …Context methods for trace correlation).
func (t *Telemetry) Logger() *slog.Logger {
	if !t.logging {
		return t.local
	}
	return slog.New(slog.NewMultiHandler(t.local.Handler(),
		otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(t.lp))))
}

// ObserveJobs publishes the engine's job gauges (state, quarantine, progress, escrows,
// synchronized objects, held deletes, age of the last successful cycle). Snapshots are
// taken by a background goroutine; the metric callbacks only read them.
func (t *Telemetry) ObserveJobs(eng *provisioning.Engine) { t.gauges.observeJobs(eng) }

// Target is what ObserveTarget reads from a target connector (*scim.Client has it).
type Target interface {
	Rate() float64
	Stats() scim.ClientStats
}

// ObserveTarget publishes a target's throttling metrics (429/503 answers, requests, the
// current request rate) for a job.
func (t *Telemetry) ObserveTarget(jobID string, c Target) { t.gauges.observeTarget(jobID, c) }

// ForceFlush exports everything buffered (tests, --once runs).
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	var errs []error
	if t.sdkTP != nil {
		errs = append(errs, t.sdkTP.ForceFlush(ctx))
	}
	if t.sdkLP != nil {
		errs = append(errs, t.sdkLP.ForceFlush(ctx))
	}
	errs = append(errs, t.mp.ForceFlush(ctx))
	return errors.Join(errs...)
}

// Shutdown stops the snapshot goroutine, flushes and shuts the providers down within
// ctx's deadline. Call it after the engine has stopped.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutOnce.Do(func() {
		t.gauges.stop()
		var errs []error
		if t.sdkTP != nil {
			errs = append(errs, t.sdkTP.Shutdown(ctx))
		}
		if t.sdkLP != nil {
			errs = append(errs, t.sdkLP.Shutdown(ctx))
		}
		errs = append(errs, t.mp.Shutdown(ctx))
		t.shutErr = errors.Join(errs...)
	})
	return t.shutErr
}
