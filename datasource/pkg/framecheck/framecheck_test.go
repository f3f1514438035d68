package framecheck

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func typed(f *data.Frame, t data.FrameType, v data.FrameTypeVersion) *data.Frame {
	f.Meta = &data.FrameMeta{Type: t, TypeVersion: v}
	return f
}

func num(name string, l data.Labels, vs ...float64) *data.Frame {
	return typed(data.NewFrame("", data.NewField(name, l, vs)), data.FrameTypeNumericMulti, data.FrameTypeVersion{0, 1})
}

func series(l data.Labels, times ...time.Time) *data.Frame {
	vs := make([]float64, len(times))
	return typed(data.NewFrame("", data.NewField("time", nil, times), data.NewField("count", l, vs)),
		data.FrameTypeTimeSeriesMulti, data.FrameTypeVersion{0, 1})
}

func TestAlertable(t *testing.T) {
	tests := []struct {
		name    string
		frames  data.Frames
		wantErr string
		noData  bool
		series  int
	}{
		{name: "numeric-multi", frames: data.Frames{num("q", data.Labels{"job": "a"}, 1), num("q", data.Labels{"job": "b"}, 0)}, series: 2},
		{name: "no data", frames: data.Frames{typed(data.NewFrame(""), data.FrameTypeNumericMulti, data.FrameTypeVersion{0, 1})}, noData: true},
		{name: "duplicate labels", frames: data.Frames{num("q", data.Labels{"job": "a"}, 1), num("q", data.Labels{"job": "a"}, 0)}, wantErr: "unique"},
		{name: "two rows", frames: data.Frames{num("q", data.Labels{"job": "a"}, 1, 2)}, wantErr: "one number per series"},
		{name: "no version", frames: data.Frames{typed(data.NewFrame("", data.NewField("time", nil, []time.Time{t0}), data.NewField("v", nil, []float64{1}), data.NewField("s", nil, []string{"x"})), data.FrameTypeNumericMulti, data.FrameTypeVersion{})}, wantErr: "wide time series"},
		{name: "log frame", frames: data.Frames{typed(data.NewFrame("", data.NewField("v", nil, []float64{1})), data.FrameTypeLogLines, data.FrameTypeVersion{0, 1})}, wantErr: "read only"},
		{name: "mixed types", frames: data.Frames{num("q", nil, 1), series(nil, t0)}, wantErr: "same type"},
		{name: "timeseries-multi", frames: data.Frames{series(data.Labels{"s": "a"}, t0, t0.Add(time.Minute)), series(data.Labels{"s": "b"}, t0)}, series: 2},
		{name: "unsorted", frames: data.Frames{series(nil, t0.Add(time.Minute), t0)}, wantErr: "not sorted"},
		{name: "nullable time", frames: data.Frames{typed(data.NewFrame("", data.NewField("time", nil, []*time.Time{&t0}), data.NewField("v", nil, []float64{1})), data.FrameTypeTimeSeriesMulti, data.FrameTypeVersion{0, 1})}, wantErr: "non-nullable time"},
		{name: "legacy number set", frames: data.Frames{data.NewFrame("", data.NewField("job", nil, []string{"a", "b"}), data.NewField("v", nil, []float64{1, 0}))}, series: 2},
		{name: "legacy table", frames: data.Frames{data.NewFrame("", data.NewField("job", nil, []string{"a"}), data.NewField("v", nil, []float64{1}), data.NewField("w", nil, []float64{1}))}, wantErr: "exactly one numeric"},
		{name: "legacy long", frames: data.Frames{data.NewFrame("", data.NewField("time", nil, []time.Time{t0, t0}), data.NewField("s", nil, []string{"a", "b"}), data.NewField("v", nil, []float64{1, 2}))}, wantErr: "wide series"},
		{name: "uneven fields", frames: data.Frames{typed(data.NewFrame("", data.NewField("v", nil, []float64{1}), data.NewField("s", nil, []string{"a", "b"})), data.FrameTypeNumericMulti, data.FrameTypeVersion{0, 1})}, wantErr: "rows"},
		{name: "empty", frames: nil, wantErr: "no frames"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Alertable(tt.frames)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.NoData != tt.noData || len(r.Series) != tt.series {
				t.Fatalf("result = %+v", r)
			}
		})
	}
}

func logs(mut func(f *data.Frame)) *data.Frame {
	f := data.NewFrame("logs",
		data.NewField("timestamp", nil, []time.Time{t0, t0}),
		data.NewField("body", nil, []string{"a", "b"}),
		data.NewField("severity", nil, []string{"info", "error"}),
		data.NewField("id", nil, []string{"1", "2"}),
		data.NewField("labels", nil, []json.RawMessage{json.RawMessage(`{"job":"x"}`), json.RawMessage(`{}`)}),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeLogLines, PreferredVisualization: data.VisTypeLogs}
	if mut != nil {
		mut(f)
	}
	return f
}

func TestLogLines(t *testing.T) {
	tests := []struct {
		name    string
		frame   *data.Frame
		wantErr string
	}{
		{"ok", logs(nil), ""},
		{"no type", logs(func(f *data.Frame) { f.Meta.Type = "" }), "Meta.Type"},
		{"no vis", logs(func(f *data.Frame) { f.Meta.PreferredVisualization = "" }), "PreferredVisualization"},
		{"no body", logs(func(f *data.Frame) { f.Fields[1].Name = "msg" }), `no field "body"`},
		{"dup id", logs(func(f *data.Frame) { f.Fields[3].Set(1, "1") }), "repeats"},
		{"bad labels", logs(func(f *data.Frame) { f.Fields[4].Set(0, json.RawMessage(`[1]`)) }), "labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := LogLines(tt.frame)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr == "" {
				if err := ForPanel("logs", data.Frames{tt.frame}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func trace(mut func(f *data.Frame)) *data.Frame {
	ms := float64(t0.UnixMilli())
	kv := json.RawMessage(`[{"key":"k","value":"v"}]`)
	f := data.NewFrame("Trace",
		data.NewField("traceID", nil, []string{"t", "t"}),
		data.NewField("spanID", nil, []string{"a", "b"}),
		data.NewField("parentSpanID", nil, []string{"", "a"}),
		data.NewField("operationName", nil, []string{"provision user", "export"}),
		data.NewField("serviceName", nil, []string{"provisiond", "provisiond"}),
		data.NewField("serviceTags", nil, []json.RawMessage{kv, kv}),
		data.NewField("startTime", nil, []float64{ms, ms + 1}),
		data.NewField("duration", nil, []float64{2, 1}),
		data.NewField("tags", nil, []json.RawMessage{kv, json.RawMessage(`[]`)}),
		data.NewField("logs", nil, []json.RawMessage{json.RawMessage(`[]`), json.RawMessage(`[{"timestamp":` + jsonNum(ms+2) + `,"fields":[]}]`)}),
		data.NewField("statusCode", nil, []int64{1, 2}),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTrace}
	if mut != nil {
		mut(f)
	}
	return f
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }

func TestTrace(t *testing.T) {
	tests := []struct {
		name    string
		frame   *data.Frame
		wantErr string
	}{
		{"ok", trace(nil), ""},
		{"no vis", trace(func(f *data.Frame) { f.Meta = nil }), "PreferredVisualization"},
		{"seconds", trace(func(f *data.Frame) { f.Fields[6].Set(0, float64(t0.Unix())) }), "milliseconds"},
		{"empty span id", trace(func(f *data.Frame) { f.Fields[1].Set(1, "") }), "no spanID"},
		{"orphan", trace(func(f *data.Frame) { f.Fields[2].Set(1, "zz") }), "not in the trace"},
		{"two roots", trace(func(f *data.Frame) { f.Fields[2].Set(1, "") }), "2 root spans"},
		{"bad tags", trace(func(f *data.Frame) { f.Fields[8].Set(0, json.RawMessage(`{"k":1}`)) }), "tags"},
		{"int start", trace(func(f *data.Frame) { f.Fields[6] = data.NewField("startTime", nil, []int64{1, 2}) }), "startTime"},
		{"status", trace(func(f *data.Frame) { f.Fields[10].Set(0, int64(7)) }), "statusCode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Trace(tt.frame)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestForPanel(t *testing.T) {
	ts := data.Frames{series(data.Labels{"a": "b"}, t0)}
	numbers := data.Frames{num("q", data.Labels{"job": "a"}, 1)}
	variable := data.NewFrame("v", data.NewField("text", nil, []string{"A"}), data.NewField("value", nil, []string{"a"}))
	graph := data.Frames{data.NewFrame("nodes", data.NewField("id", nil, []string{"a", "b"})),
		data.NewFrame("edges", data.NewField("id", nil, []string{"e"}), data.NewField("source", nil, []string{"a"}), data.NewField("target", nil, []string{"b"}))}
	tests := []struct {
		panel  string
		frames data.Frames
		ok     bool
	}{
		{"timeseries", ts, true},
		{"timeseries", numbers, false},
		{"stat", numbers, true},
		{"stat", ts, true},
		{"stat", data.Frames{variable}, false},
		{"table", data.Frames{variable}, true},
		{"logs", ts, false},
		{"traces", data.Frames{trace(nil)}, true},
		{"traces", ts, false},
		{"nodeGraph", graph, true},
		{"nodeGraph", ts, false},
		{"unknown", ts, false},
	}
	for _, tt := range tests {
		err := ForPanel(tt.panel, tt.frames)
		if (err == nil) != tt.ok {
			t.Errorf("ForPanel(%s) = %v, want ok=%v", tt.panel, err, tt.ok)
		}
	}
	if err := Variable(variable); err != nil {
		t.Error(err)
	}
	if err := Variable(data.NewFrame("v", data.NewField("text", nil, []string{"A"}))); err == nil {
		t.Error("a variable frame without value passed")
	}
}
