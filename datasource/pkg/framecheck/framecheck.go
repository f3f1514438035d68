// Package framecheck says whether data frames have the shape a Grafana consumer needs:
// server-side expressions and alerting (Alertable), the logs panel and Explore's logs view
// (LogLines), the trace view (Trace), time-series panels (TimeSeries), stat-like panels
// (Numeric), template variables (Variable), and a panel type as a whole (ForPanel).
//
// The rules follow Grafana's readers (grafana/grafana pkg/expr, grafana/dataplane sdata,
// the trace view's transform and the dataplane logs contract; docs/datasource.md). Each
// check returns nil or an error naming the frame, the field and the broken rule. The
// provisiond datasource's tests and the bundled dashboards' tests use them, since no
// Grafana server runs in CI.
package framecheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// Result describes what an alert query's frames become in server-side expressions.
type Result struct {
	// Kind is numeric or timeseries.
	Kind data.FrameTypeKind
	// Dataplane is true when the frames take the dataplane path (Meta.Type and a non-zero
	// TypeVersion on the first frame); false for the legacy path.
	Dataplane bool
	// NoData is true for the typed "no data" answer (one frame with its type and no fields).
	NoData bool
	// Series are the label sets of the numbers or series, in frame order
	// (name{labels}).
	Series []string
}

// dataplaneVersions are the frame type versions Grafana's dataplane readers support.
var dataplaneVersions = map[data.FrameType][]data.FrameTypeVersion{
	data.FrameTypeNumericMulti:    {{0, 1}},
	data.FrameTypeNumericWide:     {{0, 1}},
	data.FrameTypeNumericLong:     {{0, 1}},
	data.FrameTypeTimeSeriesMulti: {{0, 1}},
	data.FrameTypeTimeSeriesWide:  {{0, 1}},
	data.FrameTypeTimeSeriesLong:  {{0, 1}},
}

// Alertable checks that frames are accepted by server-side expressions and hence by
// alert rules:
//   - the first frame has Meta.Type and a non-zero TypeVersion (the dataplane path) of a
//     numeric or time-series kind at a version Grafana reads, every typed frame has the
//     same type, and a single typed frame without fields is the "no data" answer; or,
//     without them (the legacy path), one frame that is a number set (no time field,
//     exactly one numeric field, otherwise strings) or wide time series;
//   - no nil frames or fields, and the fields of a frame have equal lengths;
//   - numeric kinds: one number per series (numeric-multi: one numeric field of one row
//     per frame; numeric-wide: one row), no time field;
//   - time-series kinds: a non-nullable time field sorted oldest first and a numeric
//     value field per series;
//   - no two numbers or series share a name and label set (they would be one alert
//     instance).
func Alertable(frames data.Frames) (Result, error) {
	var r Result
	if len(frames) == 0 {
		return r, errors.New("no frames: an alert query must answer at least one (typed) frame")
	}
	for i, f := range frames {
		if f == nil {
			return r, fmt.Errorf("frame %d is nil", i)
		}
		if err := wellFormed(i, f); err != nil {
			return r, err
		}
	}
	first := frames[0]
	if first.Meta == nil || first.Meta.Type == "" || first.Meta.TypeVersion.IsZero() {
		return legacy(frames)
	}
	r.Dataplane = true
	t := first.Meta.Type
	versions, ok := dataplaneVersions[t]
	if !ok {
		return r, fmt.Errorf("frame 0 has type %q: server-side expressions read only numeric-wide|multi|long and timeseries-wide|multi|long", t)
	}
	if !slices.Contains(versions, first.Meta.TypeVersion) {
		return r, fmt.Errorf("frame 0 has %s version %s; Grafana reads %v", t, first.Meta.TypeVersion, versions)
	}
	r.Kind = t.Kind()
	if len(first.Fields) == 0 {
		for i, f := range frames[1:] {
			if f.Meta != nil && f.Meta.Type != "" {
				return r, fmt.Errorf("frame %d: a typed frame after the \"no data\" frame (frame 0 has no fields)", i+1)
			}
		}
		r.NoData = true
		return r, nil
	}
	var err error
	switch t {
	case data.FrameTypeNumericMulti:
		r.Series, err = numericMulti(frames)
	case data.FrameTypeNumericWide:
		r.Series, err = wide(frames, false)
	case data.FrameTypeNumericLong:
		r.Series, err = numericLong(frames)
	case data.FrameTypeTimeSeriesMulti:
		r.Series, err = seriesMulti(frames)
	case data.FrameTypeTimeSeriesWide:
		r.Series, err = wide(frames, true)
	case data.FrameTypeTimeSeriesLong:
		r.Series, err = seriesLong(frames)
	}
	if err != nil {
		return r, err
	}
	return r, unique(r.Series)
}

// wellFormed: no nil fields, equal lengths.
func wellFormed(i int, f *data.Frame) error {
	n := -1
	for j, fld := range f.Fields {
		if fld == nil {
			return fmt.Errorf("frame %d (%q): field %d is nil", i, f.Name, j)
		}
		if n >= 0 && fld.Len() != n {
			return fmt.Errorf("frame %d (%q): field %q has %d rows, field %q has %d", i, f.Name, fld.Name, fld.Len(), f.Fields[0].Name, n)
		}
		n = fld.Len()
	}
	return nil
}

func isValue(f *data.Field) bool { return f.Type().Numeric() }

func isTime(f *data.Field) bool { return f.Type().Time() }

func seriesName(f *data.Field) string { return f.Name + f.Labels.String() }

// typedFrames are the frames of the first frame's type (frames without a type are
// ignored, as Grafana does; another type is an error).
func typedFrames(frames data.Frames) ([]*data.Frame, []int, error) {
	t := frames[0].Meta.Type
	var out []*data.Frame
	var idx []int
	for i, f := range frames {
		if f.Meta == nil || f.Meta.Type == "" {
			continue
		}
		if f.Meta.Type != t {
			return nil, nil, fmt.Errorf("frame %d has type %q but frame 0 has %q: every typed frame must have the same type", i, f.Meta.Type, t)
		}
		if f.Meta.TypeVersion != frames[0].Meta.TypeVersion {
			return nil, nil, fmt.Errorf("frame %d has version %s but frame 0 has %s", i, f.Meta.TypeVersion, frames[0].Meta.TypeVersion)
		}
		out, idx = append(out, f), append(idx, i)
	}
	return out, idx, nil
}

func numericMulti(frames data.Frames) ([]string, error) {
	typed, idx, err := typedFrames(frames)
	if err != nil {
		return nil, err
	}
	var series []string
	for k, f := range typed {
		i := idx[k]
		var values []*data.Field
		for _, fld := range f.Fields {
			if isTime(fld) {
				return nil, fmt.Errorf("frame %d (%q): numeric-multi frames have no time field, found %q", i, f.Name, fld.Name)
			}
			if isValue(fld) {
				values = append(values, fld)
			}
		}
		if len(values) != 1 {
			return nil, fmt.Errorf("frame %d (%q): a numeric-multi frame holds exactly one numeric field, found %d", i, f.Name, len(values))
		}
		if values[0].Len() != 1 {
			return nil, fmt.Errorf("frame %d (%q): field %q has %d rows; one number per series", i, f.Name, values[0].Name, values[0].Len())
		}
		series = append(series, seriesName(values[0]))
	}
	return series, nil
}

// wide checks numeric-wide (one row, no time) and timeseries-wide (one sorted time field).
func wide(frames data.Frames, timeseries bool) ([]string, error) {
	typed, idx, err := typedFrames(frames)
	if err != nil {
		return nil, err
	}
	if len(typed) != 1 {
		return nil, fmt.Errorf("%s: want exactly one typed frame, got %d", frames[0].Meta.Type, len(typed))
	}
	f, i := typed[0], idx[0]
	var series []string
	times := 0
	for _, fld := range f.Fields {
		switch {
		case isTime(fld):
			times++
			if !timeseries {
				return nil, fmt.Errorf("frame %d (%q): numeric-wide frames have no time field, found %q", i, f.Name, fld.Name)
			}
			if err := sortedTime(i, f, fld); err != nil {
				return nil, err
			}
		case isValue(fld):
			series = append(series, seriesName(fld))
		}
	}
	if timeseries && times != 1 {
		return nil, fmt.Errorf("frame %d (%q): timeseries-wide wants exactly one time field, found %d", i, f.Name, times)
	}
	if !timeseries && f.Rows() != 1 {
		return nil, fmt.Errorf("frame %d (%q): numeric-wide wants one row (one number per series), got %d", i, f.Name, f.Rows())
	}
	if len(series) == 0 {
		return nil, fmt.Errorf("frame %d (%q): no numeric field", i, f.Name)
	}
	return series, nil
}

func numericLong(frames data.Frames) ([]string, error) {
	typed, idx, err := typedFrames(frames)
	if err != nil {
		return nil, err
	}
	if len(typed) != 1 {
		return nil, fmt.Errorf("numeric-long: want exactly one typed frame, got %d", len(typed))
	}
	f, i := typed[0], idx[0]
	var series []string
	for _, fld := range f.Fields {
		if isTime(fld) {
			return nil, fmt.Errorf("frame %d (%q): numeric-long frames have no time field, found %q", i, f.Name, fld.Name)
		}
	}
	for row := 0; row < f.Rows(); row++ {
		var labels []string
		for _, fld := range f.Fields {
			if fld.Type() == data.FieldTypeString || fld.Type() == data.FieldTypeNullableString {
				v, _ := fld.ConcreteAt(row)
				labels = append(labels, fmt.Sprintf("%s=%v", fld.Name, v))
			}
		}
		for _, fld := range f.Fields {
			if isValue(fld) {
				series = append(series, fld.Name+"{"+strings.Join(labels, ", ")+"}")
			}
		}
	}
	return series, nil
}

func seriesMulti(frames data.Frames) ([]string, error) {
	typed, idx, err := typedFrames(frames)
	if err != nil {
		return nil, err
	}
	var series []string
	for k, f := range typed {
		i := idx[k]
		if len(f.Fields) == 0 {
			return nil, fmt.Errorf("frame %d (%q) has no fields, which only the single \"no data\" frame may", i, f.Name)
		}
		var tf, vf *data.Field
		for _, fld := range f.Fields {
			switch {
			case fld.Type() == data.FieldTypeTime && tf == nil:
				tf = fld
			case (isValue(fld) || fld.Type() == data.FieldTypeBool || fld.Type() == data.FieldTypeNullableBool) && vf == nil:
				vf = fld
			}
		}
		if tf == nil {
			return nil, fmt.Errorf("frame %d (%q): a timeseries-multi frame needs a non-nullable time field", i, f.Name)
		}
		if vf == nil {
			return nil, fmt.Errorf("frame %d (%q): a timeseries-multi frame needs a numeric value field", i, f.Name)
		}
		if err := sortedTime(i, f, tf); err != nil {
			return nil, err
		}
		series = append(series, seriesName(vf))
	}
	return series, nil
}

func seriesLong(frames data.Frames) ([]string, error) {
	typed, idx, err := typedFrames(frames)
	if err != nil {
		return nil, err
	}
	if len(typed) != 1 {
		return nil, fmt.Errorf("timeseries-long: want exactly one typed frame, got %d", len(typed))
	}
	f, i := typed[0], idx[0]
	var tf *data.Field
	for _, fld := range f.Fields {
		if fld.Type() == data.FieldTypeTime {
			tf = fld
			break
		}
	}
	if tf == nil {
		return nil, fmt.Errorf("frame %d (%q): timeseries-long needs a non-nullable time field", i, f.Name)
	}
	if err := sortedTime(i, f, tf); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var series []string
	for row := 0; row < f.Rows(); row++ {
		var labels []string
		for _, fld := range f.Fields {
			if fld.Type() == data.FieldTypeString || fld.Type() == data.FieldTypeNullableString {
				v, _ := fld.ConcreteAt(row)
				labels = append(labels, fmt.Sprintf("%s=%v", fld.Name, v))
			}
		}
		for _, fld := range f.Fields {
			if isValue(fld) {
				s := fld.Name + "{" + strings.Join(labels, ", ") + "}"
				if !seen[s] {
					seen[s] = true
					series = append(series, s)
				}
			}
		}
	}
	return series, nil
}

func sortedTime(i int, f *data.Frame, tf *data.Field) error {
	if tf.Type() != data.FieldTypeTime {
		return fmt.Errorf("frame %d (%q): time field %q is nullable; series need []time.Time", i, f.Name, tf.Name)
	}
	for row := 1; row < tf.Len(); row++ {
		if tf.At(row).(time.Time).Before(tf.At(row - 1).(time.Time)) {
			return fmt.Errorf("frame %d (%q): time field %q is not sorted oldest first (row %d)", i, f.Name, tf.Name, row)
		}
	}
	return nil
}

func unique(series []string) error {
	seen := map[string]bool{}
	for _, s := range series {
		if seen[s] {
			return fmt.Errorf("two numbers or series are %s: every name and label set must be unique", s)
		}
		seen[s] = true
	}
	return nil
}

// legacy applies the rules of frames without a dataplane type: a number set or wide series.
func legacy(frames data.Frames) (Result, error) {
	r := Result{}
	if len(frames) == 1 {
		f := frames[0]
		var times, values, others int
		for _, fld := range f.Fields {
			switch {
			case isTime(fld):
				times++
			case isValue(fld):
				values++
			case fld.Type() != data.FieldTypeString && fld.Type() != data.FieldTypeNullableString:
				others++
			}
		}
		if times == 0 {
			if values != 1 || others != 0 {
				return r, fmt.Errorf("frame 0 (%q) has no dataplane type: as a number set it needs exactly one numeric field and otherwise strings (found %d numeric, %d other)", f.Name, values, others)
			}
			r.Kind = data.KindNumeric
			for row := 0; row < f.Rows(); row++ {
				var labels []string
				for _, fld := range f.Fields {
					if !isValue(fld) {
						v, _ := fld.ConcreteAt(row)
						labels = append(labels, fmt.Sprintf("%s=%v", fld.Name, v))
					}
				}
				r.Series = append(r.Series, "{"+strings.Join(labels, ", ")+"}")
			}
			return r, unique(r.Series)
		}
	}
	r.Kind = data.KindTimeSeries
	for i, f := range frames {
		if f.TimeSeriesSchema().Type != data.TimeSeriesTypeWide {
			return r, fmt.Errorf("frame %d (%q) has no dataplane type and is not a wide time series (the legacy path rejects long frames: \"input data must be a wide series\")", i, f.Name)
		}
		for _, fld := range f.Fields {
			if isTime(fld) {
				if err := sortedTime(i, f, fld); err != nil {
					return r, err
				}
			} else if isValue(fld) {
				r.Series = append(r.Series, seriesName(fld))
			}
		}
	}
	return r, unique(r.Series)
}

// field returns the frame's field called name, or nil.
func field(f *data.Frame, name string) *data.Field {
	for _, fld := range f.Fields {
		if fld.Name == name {
			return fld
		}
	}
	return nil
}

func wantField(f *data.Frame, name string, types ...data.FieldType) (*data.Field, error) {
	fld := field(f, name)
	if fld == nil {
		return nil, fmt.Errorf("frame %q has no field %q", f.Name, name)
	}
	if !slices.Contains(types, fld.Type()) {
		return nil, fmt.Errorf("frame %q: field %q is %s, want %v", f.Name, name, fld.Type(), types)
	}
	return fld, nil
}

// LogLines checks that f is a log-lines frame Explore and the logs panel show as logs:
// Meta.Type log-lines and PreferredVisualization logs; a non-nullable time field
// "timestamp" and string field "body"; optional "severity" (string), "id" (string, unique
// per row) and "labels" (JSON objects of strings).
func LogLines(f *data.Frame) error {
	if f == nil {
		return errors.New("nil frame")
	}
	if err := wellFormed(0, f); err != nil {
		return err
	}
	if f.Meta == nil || f.Meta.Type != data.FrameTypeLogLines {
		return fmt.Errorf("frame %q: Meta.Type must be %q", f.Name, data.FrameTypeLogLines)
	}
	if f.Meta.PreferredVisualization != data.VisTypeLogs {
		return fmt.Errorf("frame %q: PreferredVisualization must be %q (Explore shows a table otherwise)", f.Name, data.VisTypeLogs)
	}
	if _, err := wantField(f, "timestamp", data.FieldTypeTime); err != nil {
		return err
	}
	if _, err := wantField(f, "body", data.FieldTypeString); err != nil {
		return err
	}
	if field(f, "severity") != nil {
		if _, err := wantField(f, "severity", data.FieldTypeString, data.FieldTypeNullableString); err != nil {
			return err
		}
	}
	if field(f, "id") != nil {
		id, err := wantField(f, "id", data.FieldTypeString)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for row := 0; row < id.Len(); row++ {
			v := id.At(row).(string)
			if seen[v] {
				return fmt.Errorf("frame %q: id %q repeats (row %d); ids must be unique", f.Name, v, row)
			}
			seen[v] = true
		}
	}
	if field(f, "labels") != nil {
		lf, err := wantField(f, "labels", data.FieldTypeJSON, data.FieldTypeNullableJSON)
		if err != nil {
			return err
		}
		for row := 0; row < lf.Len(); row++ {
			raw, ok := lf.ConcreteAt(row)
			if !ok {
				continue
			}
			var m map[string]string
			if err := json.Unmarshal(raw.(json.RawMessage), &m); err != nil {
				return fmt.Errorf("frame %q: labels of row %d are not a JSON object of strings: %v", f.Name, row, err)
			}
		}
	}
	return nil
}

// traceFields are the fields the trace view reads, with their types; required ones first.
var traceFields = []struct {
	name     string
	typ      data.FieldType
	required bool
}{
	{"traceID", data.FieldTypeString, true},
	{"spanID", data.FieldTypeString, true},
	{"parentSpanID", data.FieldTypeString, true},
	{"operationName", data.FieldTypeString, true},
	{"serviceName", data.FieldTypeString, true},
	{"serviceTags", data.FieldTypeJSON, true},
	{"startTime", data.FieldTypeFloat64, true},
	{"duration", data.FieldTypeFloat64, true},
	{"tags", data.FieldTypeJSON, true},
	{"logs", data.FieldTypeJSON, false},
	{"references", data.FieldTypeJSON, false},
	{"kind", data.FieldTypeString, false},
	{"statusCode", data.FieldTypeInt64, false},
	{"statusMessage", data.FieldTypeString, false},
	{"instrumentationLibraryName", data.FieldTypeString, false},
	{"instrumentationLibraryVersion", data.FieldTypeString, false},
	{"traceState", data.FieldTypeString, false},
}

// minEpochMillis is 2001-09-09 in epoch milliseconds: a start time below it is in
// seconds, not milliseconds.
const minEpochMillis = 1e12

// Trace checks that f is a frame Grafana's trace view draws: PreferredVisualization trace;
// the fields traceID, spanID, parentSpanID, operationName, serviceName (strings),
// serviceTags and tags (JSON arrays of {key, value}), startTime (epoch milliseconds) and
// duration (milliseconds, ≥ 0) as float64, and when present logs, references, kind,
// statusCode (0–2) and statusMessage of the right types; at least one span, one trace id,
// unique non-empty span ids, exactly one root, and every parent a span of the frame.
func Trace(f *data.Frame) error {
	if f == nil {
		return errors.New("nil frame")
	}
	if err := wellFormed(0, f); err != nil {
		return err
	}
	if f.Meta == nil || f.Meta.PreferredVisualization != data.VisTypeTrace {
		return fmt.Errorf("frame %q: PreferredVisualization must be %q", f.Name, data.VisTypeTrace)
	}
	for _, tf := range traceFields {
		if field(f, tf.name) == nil && !tf.required {
			continue
		}
		if _, err := wantField(f, tf.name, tf.typ); err != nil {
			return err
		}
	}
	if f.Rows() == 0 {
		return fmt.Errorf("frame %q has no spans", f.Name)
	}
	str := func(name string, row int) string { return field(f, name).At(row).(string) }
	spans := map[string]bool{}
	for row := 0; row < f.Rows(); row++ {
		id := str("spanID", row)
		if id == "" {
			return fmt.Errorf("frame %q: row %d has no spanID (the trace view draws nothing then)", f.Name, row)
		}
		if spans[id] {
			return fmt.Errorf("frame %q: spanID %s repeats", f.Name, id)
		}
		spans[id] = true
		if tid := str("traceID", row); tid == "" || tid != str("traceID", 0) {
			return fmt.Errorf("frame %q: row %d has traceID %q, row 0 %q: one trace per frame", f.Name, row, tid, str("traceID", 0))
		}
		if str("operationName", row) == "" || str("serviceName", row) == "" {
			return fmt.Errorf("frame %q: row %d lacks an operationName or serviceName", f.Name, row)
		}
		if st := field(f, "startTime").At(row).(float64); st < minEpochMillis {
			return fmt.Errorf("frame %q: row %d startTime %v is not epoch milliseconds", f.Name, row, st)
		}
		if d := field(f, "duration").At(row).(float64); d < 0 {
			return fmt.Errorf("frame %q: row %d has a negative duration", f.Name, row)
		}
		for _, name := range []string{"serviceTags", "tags"} {
			if err := keyValues(f, name, row); err != nil {
				return err
			}
		}
		if lf := field(f, "logs"); lf != nil {
			var logs []struct {
				Timestamp *float64          `json:"timestamp"`
				Fields    []json.RawMessage `json:"fields"`
			}
			if err := json.Unmarshal(lf.At(row).(json.RawMessage), &logs); err != nil {
				return fmt.Errorf("frame %q: logs of row %d are not an array of {timestamp, fields}: %v", f.Name, row, err)
			}
			for _, l := range logs {
				if l.Timestamp == nil || *l.Timestamp < minEpochMillis {
					return fmt.Errorf("frame %q: a log of row %d lacks a timestamp in epoch milliseconds", f.Name, row)
				}
			}
		}
		if sc := field(f, "statusCode"); sc != nil {
			if c := sc.At(row).(int64); c < 0 || c > 2 {
				return fmt.Errorf("frame %q: row %d statusCode %d is not 0 (unset), 1 (ok) or 2 (error)", f.Name, row, c)
			}
		}
	}
	roots := 0
	for row := 0; row < f.Rows(); row++ {
		p := str("parentSpanID", row)
		if p == "" {
			roots++
		} else if !spans[p] {
			return fmt.Errorf("frame %q: span %s has parent %s, which is not in the trace", f.Name, str("spanID", row), p)
		}
	}
	if roots != 1 {
		return fmt.Errorf("frame %q has %d root spans (empty parentSpanID), want 1", f.Name, roots)
	}
	return nil
}

func keyValues(f *data.Frame, name string, row int) error {
	var kvs []map[string]any
	if err := json.Unmarshal(field(f, name).At(row).(json.RawMessage), &kvs); err != nil {
		return fmt.Errorf("frame %q: %s of row %d is not an array of {key, value}: %v", f.Name, name, row, err)
	}
	for _, kv := range kvs {
		if k, ok := kv["key"].(string); !ok || k == "" {
			return fmt.Errorf("frame %q: %s of row %d has an entry without a key", f.Name, name, row)
		}
	}
	return nil
}

// TimeSeries checks that frames draw as time series: a dataplane time-series kind that
// passes Alertable's rules, or untyped wide or long frames with a time field and a numeric
// field.
func TimeSeries(frames data.Frames) error {
	if len(frames) == 0 {
		return errors.New("no frames")
	}
	if m := frames[0].Meta; m != nil && m.Type != "" && !m.TypeVersion.IsZero() {
		r, err := Alertable(frames)
		if err != nil {
			return err
		}
		if r.Kind != data.KindTimeSeries {
			return fmt.Errorf("frames are %s, not time series", frames[0].Meta.Type)
		}
		return nil
	}
	for i, f := range frames {
		if err := wellFormed(i, f); err != nil {
			return err
		}
		if f.TimeSeriesSchema().Type == data.TimeSeriesTypeNot {
			return fmt.Errorf("frame %d (%q) is not a time series (needs a time field and a numeric field)", i, f.Name)
		}
	}
	return nil
}

// Numeric checks that frames give a stat, gauge or bar gauge at least one number: a
// dataplane numeric or time-series answer that passes Alertable (a typed "no data" answer
// is accepted), or frames with a numeric field.
func Numeric(frames data.Frames) error {
	if len(frames) == 0 {
		return errors.New("no frames")
	}
	if m := frames[0].Meta; m != nil && m.Type != "" && !m.TypeVersion.IsZero() && dataplaneVersions[m.Type] != nil {
		_, err := Alertable(frames)
		return err
	}
	for _, f := range frames {
		for _, fld := range f.Fields {
			if fld != nil && isValue(fld) {
				return nil
			}
		}
	}
	return errors.New("no numeric field in any frame")
}

// Table checks that frames render as a table: at least one frame, each well formed.
func Table(frames data.Frames) error {
	if len(frames) == 0 {
		return errors.New("no frames")
	}
	for i, f := range frames {
		if f == nil {
			return fmt.Errorf("frame %d is nil", i)
		}
		if err := wellFormed(i, f); err != nil {
			return err
		}
	}
	return nil
}

// Variable checks a template variable answer: string fields "text" and "value".
func Variable(f *data.Frame) error {
	if f == nil {
		return errors.New("nil frame")
	}
	if err := wellFormed(0, f); err != nil {
		return err
	}
	for _, name := range []string{"text", "value"} {
		if _, err := wantField(f, name, data.FieldTypeString); err != nil {
			return err
		}
	}
	return nil
}

// NodeGraph checks a node graph answer: a frame "nodes" with an "id" field and a frame
// "edges" with "id", "source" and "target" fields, every edge between known nodes.
func NodeGraph(frames data.Frames) error {
	var nodes, edges *data.Frame
	for _, f := range frames {
		switch strings.ToLower(f.Name) {
		case "nodes":
			nodes = f
		case "edges":
			edges = f
		}
	}
	if nodes == nil || edges == nil {
		return errors.New("a node graph needs frames named nodes and edges")
	}
	id, err := wantField(nodes, "id", data.FieldTypeString)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for row := 0; row < id.Len(); row++ {
		known[id.At(row).(string)] = true
	}
	for _, name := range []string{"id", "source", "target"} {
		if _, err := wantField(edges, name, data.FieldTypeString); err != nil {
			return err
		}
	}
	for row := 0; row < edges.Rows(); row++ {
		for _, end := range []string{"source", "target"} {
			if n := field(edges, end).At(row).(string); !known[n] {
				return fmt.Errorf("edge %d: %s %q is not a node", row, end, n)
			}
		}
	}
	return nil
}

// ForPanel checks that frames suit a panel type: logs → log lines; traces → a trace;
// timeseries, barchart, trend, state-timeline and status-history → time series; stat, gauge and
// bargauge → numbers; table, text and piechart → any frames (piechart: a numeric field);
// nodeGraph → nodes and edges.
func ForPanel(panelType string, frames data.Frames) error {
	switch panelType {
	case "logs":
		if len(frames) == 0 {
			return errors.New("logs panel: no frames")
		}
		for _, f := range frames {
			if err := LogLines(f); err != nil {
				return fmt.Errorf("logs panel: %w", err)
			}
		}
		return nil
	case "traces":
		if len(frames) != 1 {
			return fmt.Errorf("traces panel: want one trace frame, got %d frames", len(frames))
		}
		if err := Trace(frames[0]); err != nil {
			return fmt.Errorf("traces panel: %w", err)
		}
		return nil
	case "timeseries", "barchart", "trend", "state-timeline", "status-history":
		if err := TimeSeries(frames); err != nil {
			return fmt.Errorf("%s panel: %w", panelType, err)
		}
		return nil
	case "stat", "gauge", "bargauge", "piechart":
		if err := Numeric(frames); err != nil {
			return fmt.Errorf("%s panel: %w", panelType, err)
		}
		return nil
	case "table", "text":
		if err := Table(frames); err != nil {
			return fmt.Errorf("%s panel: %w", panelType, err)
		}
		return nil
	case "nodeGraph":
		if err := NodeGraph(frames); err != nil {
			return fmt.Errorf("nodeGraph panel: %w", err)
		}
		return nil
	}
	return fmt.Errorf("framecheck: no rule for panel type %q", panelType)
}
