// Package plugin is the backend of the provisiond Grafana datasource: one Datasource per
// datasource settings (built by NewInstance, rebuilt by the SDK's instance manager when
// the settings change), answering CheckHealth, QueryData (through a QueryTypeMux, one
// handler per query type) and CallResource (jobs and identities for the editors). It
// talks to provisiond only through the API's Go client (api/client); frames are built by
// pure functions in frames.go. docs/datasource.md describes every query type and frame.
package plugin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/concurrent"

	"github.com/provisiond/provisiond/api/client"
)

// Version is the plugin's version, set at build time (-X main.version is the SDK's; the
// Magefile also sets this one); "dev" otherwise.
var Version = "dev"

// maxConcurrentQueries bounds the queries of one request that run at once.
const maxConcurrentQueries = 4

// Datasource is one configured provisiond datasource.
type Datasource struct {
	uid, name string
	settings  Settings
	// settingsErr is a problem with the settings (missing URL or token, bad URL); every
	// call reports it.
	settingsErr error
	api         *client.Client
	transport   *http.Transport
	mux         *datasource.QueryTypeMux
	resources   backend.CallResourceHandler
	fns         map[string]queryFunc
	now         func() time.Time
}

// Compile-time checks of the handlers the SDK's automanagement looks for.
var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewInstance is the instance factory Manage calls for each datasource (and again when its
// settings change). It fails only when jsonData is malformed; a missing URL or token is
// kept and reported by every call, so CheckHealth can say what to fix.
func NewInstance(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	st, err := LoadSettings(s)
	if err != nil {
		return nil, err
	}
	return New(s.UID, s.Name, st), nil
}

// New returns the Datasource of settings (uid and name identify the Grafana datasource in
// data links).
func New(uid, name string, st Settings) *Datasource {
	d := &Datasource{uid: uid, name: name, settings: st, now: time.Now}
	d.transport = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if st.TLSSkipVerify {
		d.transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // #nosec G402 -- the admin's explicit choice
	}
	if d.settingsErr = st.Validate(); d.settingsErr == nil {
		hc := &http.Client{Transport: d.transport, Timeout: st.Timeout}
		d.api, d.settingsErr = client.New(st.APIURL, st.Token(), client.WithHTTPClient(hc),
			client.WithUserAgent("provisiond-grafana-datasource/"+Version))
	}
	d.fns = map[string]queryFunc{
		TypeStatus: d.queryStatus, TypeQuarantine: d.queryQuarantine, TypeProgress: d.queryProgress,
		TypeEventCounts: d.queryEventCounts, TypeEvents: d.queryEvents, TypeTopErrors: d.queryTopErrors,
		TypeCycles: d.queryCycles, TypeUserPath: d.queryUserPath, TypeHistory: d.queryHistory,
		TypeJobs: d.queryJobs, TypeIdentities: d.queryIdentities,
		TypeStatusChanges: d.queryStatusChanges, TypeStatusTimeline: d.queryStatusTimeline, TypeProperties: d.queryProperties,
	}
	d.mux = datasource.NewQueryTypeMux()
	for _, qt := range QueryTypes {
		d.mux.HandleFunc(qt, d.handler(d.fns[qt]))
	}
	// Grafana sets DataQuery.QueryType from the JSON's queryType; the fallback covers
	// callers that leave it empty (queries default to status).
	d.mux.HandleFunc("", d.handler(d.dispatch))
	d.resources = httpadapter.New(d.resourceMux())
	return d
}

// Dispose closes the idle connections of a replaced instance.
func (d *Datasource) Dispose() { d.transport.CloseIdleConnections() }

// queryFunc answers one parsed query.
type queryFunc func(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error)

// QueryData answers each query through the QueryTypeMux, up to maxConcurrentQueries at once.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	if len(req.Queries) == 1 {
		return d.mux.QueryData(ctx, req)
	}
	return concurrent.QueryData(ctx, req, func(ctx context.Context, q concurrent.Query) backend.DataResponse {
		resp, err := d.mux.QueryData(ctx, &backend.QueryDataRequest{PluginContext: q.PluginContext, Headers: req.Headers,
			Queries: []backend.DataQuery{q.DataQuery}})
		if err != nil {
			return backend.ErrorResponseWithErrorSource(backend.PluginError(err))
		}
		return resp.Responses[q.DataQuery.RefID]
	}, maxConcurrentQueries)
}

// handler adapts a queryFunc to the mux: it parses each query and turns errors into that
// query's error response.
func (d *Datasource) handler(fn queryFunc) func(context.Context, *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	return func(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
		resp := backend.NewQueryDataResponse()
		for _, dq := range req.Queries {
			resp.Responses[dq.RefID] = d.run(ctx, fn, dq)
		}
		return resp, nil
	}
}

func (d *Datasource) run(ctx context.Context, fn queryFunc, dq backend.DataQuery) backend.DataResponse {
	if d.settingsErr != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream,
			settingsMessage(d.settingsErr))
	}
	q, err := ParseQuery(dq)
	if err != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	}
	r, err := fn(ctx, q, dq)
	if err != nil {
		return errorResponse(ctx, err)
	}
	for _, f := range r.Frames {
		f.RefID = dq.RefID
	}
	return r
}

// dispatch answers a query whose DataQuery.QueryType is empty or unknown by its parsed type.
func (d *Datasource) dispatch(ctx context.Context, q Query, dq backend.DataQuery) (backend.DataResponse, error) {
	return d.fns[q.QueryType](ctx, q, dq)
}

// errorResponse turns an API error into a query's error response with a readable message.
func errorResponse(ctx context.Context, err error) backend.DataResponse {
	src := backend.ErrorSourceDownstream
	switch client.StatusOf(err) {
	case 0:
		if ctx.Err() != nil {
			return backend.ErrDataResponseWithSource(backend.StatusTimeout, src, "the query was cancelled or timed out: "+err.Error())
		}
		if fe := (*FieldError)(nil); errors.As(err, &fe) {
			return backend.ErrDataResponseWithSource(backend.StatusBadRequest, src, fe.Error())
		}
		return backend.ErrDataResponseWithSource(backend.StatusBadGateway, src, err.Error())
	case http.StatusUnauthorized:
		return backend.ErrDataResponseWithSource(backend.StatusUnauthorized, src,
			"the provisiond API rejected the datasource's API token (HTTP 401): set a valid reader token in the datasource settings")
	case http.StatusForbidden:
		return backend.ErrDataResponseWithSource(backend.StatusForbidden, src,
			"the provisiond API refused the datasource's API token (HTTP 403): "+err.Error())
	case http.StatusNotFound:
		return backend.ErrDataResponseWithSource(backend.StatusNotFound, src, err.Error())
	case http.StatusBadRequest:
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, src, err.Error())
	case http.StatusTooManyRequests:
		return backend.ErrDataResponseWithSource(backend.StatusTooManyRequests, src, err.Error())
	case http.StatusGatewayTimeout:
		return backend.ErrDataResponseWithSource(backend.StatusTimeout, src, err.Error())
	}
	return backend.ErrDataResponseWithSource(backend.StatusBadGateway, src, err.Error())
}

// settingsMessage explains a settings problem.
func settingsMessage(err error) string {
	switch err {
	case ErrNoURL:
		return "The provisiond API URL is not set: enter it in the datasource settings (API URL, e.g. http://provisiond:8080)."
	case ErrNoToken:
		return "The API token is not set: paste provisiond's reader token into the datasource settings (API token)."
	}
	return fmt.Sprintf("The datasource settings are invalid: %v", err)
}
