package plugin

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	collpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/provisiond/provisiond/connectors"
)

// otlpReceiver is an OTLP/HTTP (protobuf) trace receiver.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, err := io.ReadAll(req.Body)
	var in collpb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &in)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range in.ResourceSpans {
		var svc string
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				svc = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, receivedSpan{svc, s})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&collpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *otlpReceiver) find(name string) *receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.spans {
		if r.spans[i].span.Name == name {
			return &r.spans[i]
		}
	}
	return nil
}

// TestTraceContextCrossesBoundary: the caller's span (the engine's export step) is the
// parent of the host's gRPC client span, whose context reaches the plugin: the plugin's
// server span and its connector's own spans, exported by the plugin's OpenTelemetry SDK
// (configured from OTEL_*, service.name the plugin's), are in the same trace beneath it.
func TestTraceContextCrossesBoundary(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()

	host := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(host))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})

	c := open(t, "testplugin", Config{Env: []string{
		"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + srv.URL + "/v1/traces", "OTEL_BSP_SCHEDULE_DELAY=50",
		"OTEL_SERVICE_NAME=provisiond", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none"}})
	tgt, _ := c.Target()
	ctx, export := tp.Tracer("test").Start(context.Background(), "export")
	if _, err := tgt.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "traced"}); err != nil {
		t.Fatal(err)
	}
	export.End()

	var inner, server *receivedSpan
	waitFor(t, "the plugin's spans at the OTLP receiver", 10*time.Second, func() bool {
		inner, server = recv.find("testconn create"), recv.find("provisiond.connector.v1.Target/Create")
		return inner != nil && server != nil
	})
	var client sdktrace.ReadOnlySpan
	for _, s := range host.GetSpans().Snapshots() {
		if s.Name() == "provisiond.connector.v1.Target/Create" {
			client = s
		}
	}
	if client == nil {
		t.Fatal("no host client span")
	}
	traceID := export.SpanContext().TraceID()
	if client.Parent().SpanID() != export.SpanContext().SpanID() || client.SpanContext().TraceID() != traceID {
		t.Errorf("host client span's parent %s, want the export span %s", client.Parent().SpanID(), export.SpanContext().SpanID())
	}
	clientID := client.SpanContext().SpanID()
	if hex.EncodeToString(server.span.ParentSpanId) != clientID.String() || hex.EncodeToString(server.span.TraceId) != traceID.String() {
		t.Errorf("plugin server span: trace %x parent %x, want trace %s parent %s", server.span.TraceId, server.span.ParentSpanId, traceID, clientID)
	}
	if string(inner.span.ParentSpanId) != string(server.span.SpanId) || hex.EncodeToString(inner.span.TraceId) != traceID.String() {
		t.Errorf("connector span's parent %x, want the server span %x", inner.span.ParentSpanId, server.span.SpanId)
	}
	if inner.service != "testplugin" || server.service != "testplugin" {
		t.Errorf("service.name %q, want the plugin's name", inner.service)
	}
	// Health checks and go-plugin's own services are not traced.
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, s := range recv.spans {
		if s.span.Name == "grpc.health.v1.Health/Check" || s.span.Name == "plugin.GRPCStdio/StreamStdio" {
			t.Errorf("unexpected span %s", s.span.Name)
		}
	}
}
