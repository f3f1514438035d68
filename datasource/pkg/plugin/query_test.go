package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

func TestParseQueryDefaults(t *testing.T) {
	// Raw JSON as an alert rule stores it: no DataQuery.QueryType, nothing optional set.
	for _, qt := range QueryTypes {
		raw := fmt.Sprintf(`{"queryType":%q,"refId":"A","intervalMs":60000,"maxDataPoints":43200,"datasource":{"uid":"x"}}`, qt)
		switch qt {
		case TypeUserPath:
			raw = `{"queryType":"userPath","eventId":"e1"}`
		case TypeHistory:
			raw = `{"queryType":"history","identity":"E000001"}`
		case TypeProperties:
			raw = `{"queryType":"properties","identity":"E000001"}`
		}
		q, err := ParseQuery(backend.DataQuery{JSON: json.RawMessage(raw)})
		if err != nil {
			t.Fatalf("%s: %v", qt, err)
		}
		if q.QueryType != qt || q.Format != "logs" || q.Order != "desc" {
			t.Errorf("%s: parsed %+v", qt, q)
		}
		if def := limits[qt][0]; q.Limit != def {
			t.Errorf("%s: limit %d, want the default %d", qt, q.Limit, def)
		}
	}
	q, err := ParseQuery(backend.DataQuery{})
	if err != nil || q.QueryType != TypeStatus {
		t.Fatalf("an empty query: %+v %v", q, err)
	}
	q, _ = ParseQuery(backend.DataQuery{JSON: json.RawMessage(`{"queryType":"quarantine"}`)})
	if q.Metric != MetricQuarantined {
		t.Errorf("quarantine metric default = %q", q.Metric)
	}
	// DataQuery.QueryType wins over the JSON (Grafana sets it from the JSON).
	q, _ = ParseQuery(backend.DataQuery{QueryType: TypeJobs, JSON: json.RawMessage(`{"queryType":"status"}`)})
	if q.QueryType != TypeJobs {
		t.Errorf("query type = %q", q.QueryType)
	}
}

func TestParseQueryValues(t *testing.T) {
	tests := []struct {
		raw  string
		want Query
	}{
		{`{"queryType":"events","jobId":" demo ","identity":"al","identityPrefix":true,"action":"create","status":"failure","errorCode":"EntryConflict","identityType":"user","limit":250,"order":"asc","format":"table","cycleId":"c1","unknownField":{"x":1}}`,
			Query{QueryType: TypeEvents, JobID: "demo", Identity: "al", IdentityPrefix: true, Action: "create", Status: "failure",
				ErrorCode: "EntryConflict", IdentityType: "User", Limit: 250, Order: "asc", Format: "table", CycleID: "c1"}},
		// Template variables interpolate to strings: numbers, booleans and lists as text.
		{`{"queryType":"eventCounts","groupBy":"{status,action,status}","interval":"5m","limit":"20","identityPrefix":"false"}`,
			Query{QueryType: TypeEventCounts, GroupBy: []string{"status", "action"}, Interval: 5 * time.Minute, Limit: 20, Format: "logs", Order: "desc"}},
		{`{"queryType":"eventCounts","groupBy":["jobId","errorCode,identityType"],"interval":"","jobId":null}`,
			Query{QueryType: TypeEventCounts, GroupBy: []string{"jobId", "errorCode", "identityType"}, Format: "logs", Order: "desc"}},
		{`{"queryType":"identities","query":"Ma"}`, Query{QueryType: TypeIdentities, Search: "Ma", Limit: 100, Format: "logs", Order: "desc"}},
		{`{"queryType":"quarantine","metric":"escrows"}`, Query{QueryType: TypeQuarantine, Metric: MetricEscrows, Format: "logs", Order: "desc"}},
	}
	for _, tt := range tests {
		q, err := ParseQuery(backend.DataQuery{JSON: json.RawMessage(tt.raw)})
		if err != nil {
			t.Fatalf("%s: %v", tt.raw, err)
		}
		if !reflect.DeepEqual(q, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.raw, q, tt.want)
		}
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		raw, field, msg string
	}{
		{`{"queryType":"bogus"}`, "queryType", "unknown query type"},
		{`{"queryType":"events","limit":0}`, "limit", "from 1 to 5000"},
		{`{"queryType":"events","limit":2.5}`, "limit", "whole number"},
		{`{"queryType":"events","limit":"many"}`, "limit", "want a number"},
		{`{"queryType":"topErrors","limit":101}`, "limit", "from 1 to 100"},
		{`{"queryType":"events","action":"destroy"}`, "action", "create, update"},
		{`{"queryType":"events","status":"ok"}`, "status", "success, warning"},
		{`{"queryType":"events","identityType":"Robot"}`, "identityType", "User or Group"},
		{`{"queryType":"eventCounts","groupBy":["user"]}`, "groupBy", "cannot group by"},
		{`{"queryType":"eventCounts","groupBy":{"a":1}}`, "groupBy", "array of strings"},
		{`{"queryType":"eventCounts","groupBy":[1]}`, "groupBy", "array of strings"},
		{`{"queryType":"eventCounts","interval":"5"}`, "interval", "Go duration"},
		{`{"queryType":"eventCounts","interval":"90s"}`, "interval", "whole minutes"},
		{`{"queryType":"eventCounts","interval":"30s"}`, "interval", "at least 1m"},
		{`{"queryType":"events","format":"csv"}`, "format", "logs or table"},
		{`{"queryType":"events","order":"up"}`, "order", "desc or asc"},
		{`{"queryType":"quarantine","metric":"temperature"}`, "metric", "unknown metric"},
		{`{"queryType":"userPath"}`, "eventId", "eventId or an identity"},
		{`{"queryType":"history"}`, "identity", "needs an identity"},
		{`{"queryType":"events","jobId":7}`, "jobId", "want a string"},
		{`{"queryType":"events","identityPrefix":"maybe"}`, "identityPrefix", "true or false"},
	}
	for _, tt := range tests {
		_, err := ParseQuery(backend.DataQuery{JSON: json.RawMessage(tt.raw)})
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want a FieldError", tt.raw, err)
			continue
		}
		if fe.Field != tt.field || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), `"`+tt.field+`"`) {
			t.Errorf("%s: err = %v, want field %s and %q", tt.raw, err, tt.field, tt.msg)
		}
	}
	if _, err := ParseQuery(backend.DataQuery{JSON: json.RawMessage(`[1]`)}); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("array query: %v", err)
	}
}

func TestBucketInterval(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		interval time.Duration // the query's
		panel    time.Duration // DataQuery.Interval
		maxPts   int64
		span     time.Duration
		want     time.Duration
	}{
		{"explicit", 5 * time.Minute, time.Second, 0, time.Hour, 5 * time.Minute},
		{"panel interval rounded up", 0, 90 * time.Second, 0, time.Hour, 2 * time.Minute},
		{"at least a minute", 0, 15 * time.Second, 0, time.Hour, time.Minute},
		{"no interval at all", 0, 0, 0, time.Hour, time.Minute},
		{"max data points", 0, time.Minute, 100, 24 * time.Hour, 15 * time.Minute},
		{"bucket cap", time.Minute, 0, 0, 30 * 24 * time.Hour, 5 * time.Minute},
	}
	for _, tt := range tests {
		got := bucketInterval(Query{Interval: tt.interval}, backend.DataQuery{Interval: tt.panel, MaxDataPoints: tt.maxPts,
			TimeRange: backend.TimeRange{From: from, To: from.Add(tt.span)}})
		if got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name     string
		jsonData string
		url      string
		token    string
		want     Settings
		wantErr  string
		validErr error
	}{
		{name: "full", jsonData: `{"apiUrl":"http://p:8080/","tlsSkipVerify":true,"timeoutSeconds":5}`, token: "tok",
			want: Settings{APIURL: "http://p:8080", TLSSkipVerify: true, Timeout: 5 * time.Second, apiToken: "tok"}},
		{name: "url field and defaults", jsonData: `{}`, url: "https://p", token: "tok",
			want: Settings{APIURL: "https://p", Timeout: DefaultTimeout, apiToken: "tok"}},
		{name: "strings from provisioning", jsonData: `{"apiUrl":"http://p","tlsSkipVerify":"true","timeoutSeconds":"2.5"}`, token: "tok",
			want: Settings{APIURL: "http://p", TLSSkipVerify: true, Timeout: 2500 * time.Millisecond, apiToken: "tok"}},
		{name: "no url", jsonData: ``, token: "tok", want: Settings{Timeout: DefaultTimeout, apiToken: "tok"}, validErr: ErrNoURL},
		{name: "no token", jsonData: `{"apiUrl":"http://p"}`, want: Settings{APIURL: "http://p", Timeout: DefaultTimeout}, validErr: ErrNoToken},
		{name: "bad timeout", jsonData: `{"timeoutSeconds":-1}`, wantErr: "timeoutSeconds"},
		{name: "bad json", jsonData: `{`, wantErr: "not a JSON object"},
		{name: "bad url type", jsonData: `{"apiUrl":3}`, wantErr: "apiUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadSettings(backend.DataSourceInstanceSettings{JSONData: json.RawMessage(tt.jsonData), URL: tt.url,
				DecryptedSecureJSONData: map[string]string{"apiToken": tt.token}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s != tt.want {
				t.Fatalf("settings = %v, want %v", s, tt.want)
			}
			if err := s.Validate(); err != tt.validErr {
				t.Fatalf("Validate = %v, want %v", err, tt.validErr)
			}
		})
	}
	// The token never prints.
	s := Settings{APIURL: "http://p", apiToken: "s3cr3t-token"}
	for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(out, "s3cr3t") {
			t.Fatalf("settings print their token: %s", out)
		}
	}
}
