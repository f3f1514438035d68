package sdk

import (
	"context"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/stats"

	"github.com/provisiond/provisiond/connectors"
)

// connectorService prefixes the protocol's own RPCs (go-plugin's broker, controller, stdio
// and health services are not traced).
const connectorService = "/provisiond.connector.v1."

// setupTracing starts the OpenTelemetry SDK from the standard OTEL_* variables (autoexport:
// OTEL_TRACES_EXPORTER otlp by default, console or none; OTEL_EXPORTER_OTLP_*; OTEL_BSP_*;
// OTEL_TRACES_SAMPLER, parent-based by default) with service.name the plugin's name, and
// sets the global tracer provider and W3C propagator. The plugin inherits these variables
// from provisiond, so its spans go where provisiond's go, beneath the operation's span.
func setupTracing(ctx context.Context, name, version string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if !tracingEnabled() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return func(context.Context) error { return nil }, err
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return func(context.Context) error { return nil }, nil
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithFromEnv(),
		resource.WithAttributes(semconv.ServiceName(name), semconv.ServiceVersion(version)))
	if err != nil && res == nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// tracingEnabled reports whether the OTEL_* variables leave tracing on.
func tracingEnabled() bool {
	return !strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") && !strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none")
}

// grpcServerHandler traces the connector RPCs with the global provider and propagator.
func grpcServerHandler() stats.Handler {
	return otelgrpc.NewServerHandler(otelgrpc.WithFilter(func(ri *stats.RPCTagInfo) bool {
		return strings.HasPrefix(ri.FullMethodName, connectorService)
	}))
}

// HTTPClient returns a copy of base (http.DefaultClient when nil) whose requests make
// OpenTelemetry client spans ("HTTP POST") beneath the RPC's span, and record their span on
// the connector call in flight (connectors.StartCall), as provisiond does for its built-in
// connectors. A connector that talks HTTP should use it. With tracing off
// (OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true) it returns base itself.
func HTTPClient(base *http.Client) *http.Client {
	if base == nil {
		base = http.DefaultClient
	}
	if !tracingEnabled() {
		return base
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = otelhttp.NewTransport(callSpanTransport{rt},
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }))
	return &c
}

// callSpanTransport runs beneath otelhttp's span and records its id on the call in flight.
type callSpanTransport struct{ next http.RoundTripper }

func (t callSpanTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() && sc.IsSampled() {
		connectors.SetCallSpanID(r.Context(), sc.SpanID().String())
	}
	return t.next.RoundTrip(r)
}
