package codec

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

// checkEvent compares AppendEvent and MarshalEvent with Marshal (encoding/json) on ev,
// byte for byte, and returns Marshal's error. When wantField is not empty the encoding
// must fail on that field.
func checkEvent(t testing.TB, ev *provisioning.Event, wantField string) error {
	t.Helper()
	want, wantErr := Marshal(ev)
	prefix := []byte("prefix:")
	got, err := AppendEvent(slices.Clip(prefix), ev)
	s, serr := MarshalEvent(ev)
	switch {
	case (err != nil) != (wantErr != nil) || (serr != nil) != (wantErr != nil):
		t.Fatalf("errors differ: encoding/json %v, AppendEvent %v, MarshalEvent %v\nevent %#v", wantErr, err, serr, ev)
	case err != nil:
		if string(got) != string(prefix) {
			t.Fatalf("AppendEvent failed but changed dst: %q", got)
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("AppendEvent error %v (%T) is not a *FieldError", err, err)
		}
		if wantField != "" && fe.Field != wantField {
			t.Fatalf("AppendEvent error on field %q, want %q: %v", fe.Field, wantField, err)
		}
		if s != "" || serr.Error() != err.Error() {
			t.Fatalf("MarshalEvent = %q, %v; want \"\", %v", s, serr, err)
		}
		return wantErr
	case wantField != "":
		t.Fatalf("encoding did not fail, want an error on %s: %s", wantField, want)
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("AppendEvent changed dst: %q", got)
	}
	if d := diff(string(got[len(prefix):]), want); d != "" {
		t.Fatalf("AppendEvent differs from encoding/json: %s", d)
	}
	if d := diff(s, want); d != "" {
		t.Fatalf("MarshalEvent differs from encoding/json: %s", d)
	}
	return nil
}

// diff describes where got first differs from want, with some context ("" when equal).
func diff(got, want string) string {
	if got == want {
		return ""
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(i-60, 0)
	return fmt.Sprintf("at byte %d of %d (want %d)\n got …%q\nwant …%q", i, len(got), len(want), got[lo:min(i+60, len(got))], want[lo:min(i+60, len(want))])
}

// realisticEvent is an engine-shaped event: six steps with details, three modified
// properties, the export's call.
func realisticEvent() provisioning.Event {
	start := time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)
	e := provisioning.Event{ID: "0197aaaa-0000-7000-8000-000000000001", ActivityDateTime: start, JobID: "hr2scim",
		CycleID: "0197aaaa-0000-7000-8000-0000000000c1", ChangeID: "0197aaaa-0000-7000-8000-0000000000d1",
		Action: provisioning.ActionUpdate, Status: provisioning.ResultSuccess,
		ModifiedProperties: []provisioning.ModifiedProperty{
			{DisplayName: "title", OldValue: "Engineer", NewValue: "Senior Engineer"},
			{DisplayName: "department", OldValue: "R&D", NewValue: "Platform <core>"},
			{DisplayName: "displayName", OldValue: "Zoë Müller", NewValue: "Zoë Müller-Schmidt"},
		},
		SourceIdentity: provisioning.Identity{ID: "E012345", DisplayName: "Zoë Müller-Schmidt", IdentityType: "User"},
		TargetIdentity: provisioning.Identity{ID: "2819c223-7f76-453a-919d-413861904646", DisplayName: "Zoë Müller-Schmidt", IdentityType: "User"},
		SourceSystem:   "HR (file)", TargetSystem: "SCIM https://scim.example.com/scim/v2",
		InitiatedBy:            provisioning.Initiator{ID: "provisiond", DisplayName: "provisiond", InitiatorType: "system"},
		DurationInMilliseconds: 14, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}
	for i, st := range provisioning.StepTypes {
		e.ProvisioningSteps = append(e.ProvisioningSteps, provisioning.Step{Name: "Entry" + string(st), ProvisioningStepType: st,
			Status: provisioning.ResultSuccess, Description: "Step " + string(st) + " of User 'Zoë Müller-Schmidt' (E012345) succeeded",
			Details: map[string]string{"SourceAnchor": "E012345", "objectType": "User", "step": string(st)},
			Start:   start.Add(time.Duration(i) * 1234567 * time.Nanosecond), DurationInMilliseconds: 0.125 * float64(i+1),
			SpanID: fmt.Sprintf("%016x", i+1)})
	}
	export := &e.ProvisioningSteps[len(e.ProvisioningSteps)-1]
	export.Calls = []connectors.Call{{Method: "PATCH", Target: "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", Status: 200,
		Start: start.Add(9 * time.Millisecond), DurationInMilliseconds: 4.312, SpanID: "53995c3f42cd8ad8"}}
	return e
}

func TestAppendEventCases(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	odd := time.FixedZone("odd", -(9*3600 + 30*60 + 15)) // an offset with seconds
	withStep := func(f func(*provisioning.Step)) func(*provisioning.Event) {
		return func(e *provisioning.Event) { f(&e.ProvisioningSteps[1]) }
	}
	withCall := func(f func(*connectors.Call)) func(*provisioning.Event) {
		return func(e *provisioning.Event) { f(&e.ProvisioningSteps[len(e.ProvisioningSteps)-1].Calls[0]) }
	}
	floatCase := func(f float64) func(*provisioning.Event) {
		return withStep(func(s *provisioning.Step) { s.DurationInMilliseconds = f })
	}
	cases := []struct {
		name      string
		edit      func(*provisioning.Event)
		wantField string // the field encoding fails on, if it fails
	}{
		{name: "realistic", edit: func(*provisioning.Event) {}},
		{name: "zero event", edit: func(e *provisioning.Event) { *e = provisioning.Event{} }},
		{name: "nil slices", edit: func(e *provisioning.Event) { e.ProvisioningSteps, e.ModifiedProperties = nil, nil }},
		{name: "empty slices", edit: func(e *provisioning.Event) {
			e.ProvisioningSteps, e.ModifiedProperties = []provisioning.Step{}, []provisioning.ModifiedProperty{}
		}},
		{name: "zero step and property", edit: func(e *provisioning.Event) {
			e.ProvisioningSteps, e.ModifiedProperties = []provisioning.Step{{}}, []provisioning.ModifiedProperty{{}}
		}},
		{name: "error information", edit: func(e *provisioning.Event) {
			e.Status = provisioning.ResultFailure
			e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: "SystemForCrossDomainIdentityManagementServiceIncompatible",
				ErrorCategory: "NonServiceFailure", Reason: "The target said \"409\"\n", AdditionalDetails: "POST /scim/v2/Users -> 409",
				RecommendedAction: "Fix <userName> & retry"}
		}},
		{name: "error information without the optional fields", edit: func(e *provisioning.Event) {
			e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: "x"}
		}},
		{name: "empty error information", edit: func(e *provisioning.Event) { e.ErrorInformation = &provisioning.ErrorInformation{} }},
		{name: "no trace", edit: func(e *provisioning.Event) { e.TraceID, e.SpanID = "", "" }},
		{name: "nil details", edit: withStep(func(s *provisioning.Step) { s.Details = nil })},
		{name: "empty details", edit: withStep(func(s *provisioning.Step) { s.Details = map[string]string{} })},
		{name: "details sorted by bytes", edit: withStep(func(s *provisioning.Step) {
			s.Details = map[string]string{"b": "1", "a": "2", "B": "3", "é": "4", "e": "5", "": "6", "a\x00": "7", "\xff": "8", "aa": "9"}
		})},
		{name: "many details", edit: withStep(func(s *provisioning.Step) {
			s.Details = map[string]string{}
			for i := range 40 {
				s.Details[fmt.Sprint("k", (i*7919)%97)] = fmt.Sprint(i)
			}
		})},
		{name: "details with html", edit: withStep(func(s *provisioning.Step) {
			s.Details = map[string]string{"<a href=\"x\">&amp;</a>": "<script>alert('&')</script>"}
		})},
		{name: "details with control characters", edit: withStep(func(s *provisioning.Step) {
			var all []byte
			for c := range 0x20 {
				all = append(all, byte(c))
			}
			s.Details = map[string]string{"ctl": string(all) + "\x7f\\\"/", "\t\n": "\b\f\r"}
		})},
		{name: "details with unicode", edit: withStep(func(s *provisioning.Step) {
			s.Details = map[string]string{"名前": "山田 太郎 😀", "emoji😀": "\u00e9\u0301", "bom": "\ufeff", "replacement": "\ufffd"}
		})},
		{name: "line and paragraph separators", edit: withStep(func(s *provisioning.Step) {
			s.Details = map[string]string{"a\u2028b": "c\u2029d", "x": "\u2027\u202a"}
			s.Description = "\u2028\u2029"
		})},
		{name: "invalid utf-8", edit: func(e *provisioning.Event) {
			e.SourceIdentity.DisplayName = "a\xffb\xc3(\xed\xa0\x80z\xf0\x9f\x98" // bad bytes, a surrogate, a truncated rune
			e.ProvisioningSteps[0].Details = map[string]string{"\xff\xfe": "\x80", "ok": "é\xe9"}
		}},
		{name: "escapes in every string", edit: func(e *provisioning.Event) {
			v := "q\"b\\s/<>&\u2028\x01"
			e.ID, e.JobID, e.CycleID, e.ChangeID, e.Action, e.Status = v, v, v, v, provisioning.Action(v), provisioning.Result(v)
			e.SourceIdentity, e.TargetIdentity = provisioning.Identity{ID: v, DisplayName: v, IdentityType: v}, provisioning.Identity{ID: v, DisplayName: v, IdentityType: v}
			e.SourceSystem, e.TargetSystem, e.InitiatedBy = v, v, provisioning.Initiator{ID: v, DisplayName: v, InitiatorType: v}
			e.TraceID, e.SpanID = v, v
			e.ModifiedProperties = []provisioning.ModifiedProperty{{DisplayName: v, OldValue: v, NewValue: v}}
			e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: v, ErrorCategory: v, Reason: v, AdditionalDetails: v, RecommendedAction: v}
			s := &e.ProvisioningSteps[5]
			s.Name, s.ProvisioningStepType, s.Status, s.Description, s.SpanID = v, provisioning.StepType(v), provisioning.Result(v), v, v
			s.Calls[0].Method, s.Calls[0].Target, s.Calls[0].Error, s.Calls[0].SpanID = v, v, v, v
		}},
		{name: "negative duration", edit: func(e *provisioning.Event) { e.DurationInMilliseconds = math.MinInt64 }},
		{name: "largest duration", edit: func(e *provisioning.Event) { e.DurationInMilliseconds = math.MaxInt64 }},
		{name: "float zero", edit: floatCase(0)},
		{name: "float negative zero", edit: floatCase(math.Copysign(0, -1))},
		{name: "float integral", edit: floatCase(42)},
		{name: "float integral large", edit: floatCase(123456789012345680000)},
		{name: "float 1e20", edit: floatCase(1e20)},
		{name: "float just below 1e21", edit: floatCase(math.Nextafter(1e21, 0))},
		{name: "float 1e21", edit: floatCase(1e21)},
		{name: "float -1e21", edit: floatCase(-1e21)},
		{name: "float huge", edit: floatCase(math.MaxFloat64)},
		{name: "float 1e-6", edit: floatCase(1e-6)},
		{name: "float just below 1e-6", edit: floatCase(math.Nextafter(1e-6, 0))},
		{name: "float 1e-7", edit: floatCase(1e-7)},
		{name: "float -1.5e-7", edit: floatCase(-1.5e-7)},
		{name: "float 1e-10", edit: floatCase(1e-10)},
		{name: "float 1e-100", edit: floatCase(1e-100)},
		{name: "float tiny", edit: floatCase(math.SmallestNonzeroFloat64)},
		{name: "float third", edit: floatCase(1.0 / 3)},
		{name: "float 0.1+0.2", edit: floatCase(0.1 + 0.2)},
		{name: "float NaN", edit: floatCase(math.NaN()), wantField: "provisioningSteps[1].durationInMilliseconds"},
		{name: "float +Inf", edit: floatCase(math.Inf(1)), wantField: "provisioningSteps[1].durationInMilliseconds"},
		{name: "float -Inf", edit: floatCase(math.Inf(-1)), wantField: "provisioningSteps[1].durationInMilliseconds"},
		{name: "call float NaN", edit: withCall(func(c *connectors.Call) { c.DurationInMilliseconds = math.NaN() }),
			wantField: "provisioningSteps[5].calls[0].durationInMilliseconds"},
		{name: "call float tiny", edit: withCall(func(c *connectors.Call) { c.DurationInMilliseconds = 5e-324 })},
		{name: "zero times", edit: func(e *provisioning.Event) {
			e.ActivityDateTime = time.Time{}
			e.ProvisioningSteps[0].Start = time.Time{}
			e.ProvisioningSteps[5].Calls[0].Start = time.Time{}
		}},
		{name: "non-UTC times with nanoseconds", edit: func(e *provisioning.Event) {
			e.ActivityDateTime = time.Date(2025, 12, 31, 23, 59, 59, 999999999, zone)
			e.ProvisioningSteps[0].Start = time.Date(2025, 1, 2, 3, 4, 5, 100, odd)
			e.ProvisioningSteps[1].Start = time.Date(2025, 1, 2, 3, 4, 5, 120000000, time.FixedZone("", -23*3600-59*60))
			e.ProvisioningSteps[5].Calls[0].Start = time.Date(2025, 6, 1, 0, 0, 0, 1, time.Local)
		}},
		{name: "time with a monotonic reading", edit: func(e *provisioning.Event) { e.ActivityDateTime = time.Now() }},
		{name: "year 0 and 9999", edit: func(e *provisioning.Event) {
			e.ActivityDateTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
			e.ProvisioningSteps[0].Start = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		}},
		{name: "year 10000", edit: func(e *provisioning.Event) { e.ActivityDateTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
			wantField: "activityDateTime"},
		{name: "year -1", edit: func(e *provisioning.Event) { e.ProvisioningSteps[2].Start = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
			wantField: "provisioningSteps[2].start"},
		{name: "year 9999 becoming 10000 in the zone", edit: func(e *provisioning.Event) {
			e.ProvisioningSteps[5].Calls[0].Start = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC).In(time.FixedZone("", 2*3600))
		}, wantField: "provisioningSteps[5].calls[0].start"},
		{name: "zone offset of 24 hours", edit: func(e *provisioning.Event) {
			e.ActivityDateTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))
		}, wantField: "activityDateTime"},
		{name: "zone offset of -100 hours", edit: func(e *provisioning.Event) {
			e.ActivityDateTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", -100*3600))
		}, wantField: "activityDateTime"},
		{name: "no calls", edit: withStep(func(s *provisioning.Step) { s.Calls = nil })},
		{name: "empty calls", edit: withStep(func(s *provisioning.Step) { s.Calls = []connectors.Call{} })},
		{name: "several calls", edit: withStep(func(s *provisioning.Step) {
			s.Calls = []connectors.Call{{}, {Method: "GET", Target: "/scim/v2/Users?filter=userName eq \"a&b\"", Status: -1,
				Error: "dial tcp 127.0.0.1:1: connect: connection refused", DurationInMilliseconds: 1e-9, Start: time.Unix(1, 1)},
				{Status: math.MaxInt64}}
		})},
		{name: "call error without status", edit: withCall(func(c *connectors.Call) { c.Status, c.Error, c.SpanID = 0, "timeout", "" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := realisticEvent()
			tc.edit(&ev)
			checkEvent(t, &ev, tc.wantField)
		})
	}
	t.Run("nil event", func(t *testing.T) { checkEvent(t, nil, "") })
}

// TestAppendEventErrors pins the error text the stores wrap ("encode event ID: …").
func TestAppendEventErrors(t *testing.T) {
	ev := realisticEvent()
	ev.ProvisioningSteps[3].Start = time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := MarshalEvent(&ev); err == nil || err.Error() != "provisioningSteps[3].start: year outside of range [0,9999]" {
		t.Errorf("year error: %v", err)
	}
	ev = realisticEvent()
	ev.ProvisioningSteps[5].Calls[0].DurationInMilliseconds = math.Inf(-1)
	_, err := MarshalEvent(&ev)
	if err == nil || err.Error() != "provisioningSteps[5].calls[0].durationInMilliseconds: unsupported value: -Inf" ||
		!errors.Is(err, ErrUnsupportedFloat) {
		t.Errorf("float error: %v", err)
	}
}

// randomEvents generates events with random, often awkward, values: strings with escapes,
// invalid UTF-8 and separators, floats of every magnitude, times in odd zones and out of
// range, nil and empty slices and maps. About one in ten does not encode.
type randomEvents struct{ r *rand.Rand }

var awkward = []string{"", "\"", "\\", "<>&", "\u2028", "\u2029", "\x00", "\x1f", "\x7f", "\t\n\r\b\f", "é", "😀", "\ufffd",
	"\xff", "\xc3", "\xed\xa0\x80", "\xf0\x9f\x98", "名前", "\u0301", " ", "/"}

func (g randomEvents) string() string {
	r := g.r
	switch r.Intn(6) {
	case 0:
		return ""
	case 1: // random bytes
		b := make([]byte, r.Intn(12))
		r.Read(b)
		return string(b)
	case 2: // printable ASCII
		b := make([]byte, r.Intn(30))
		for i := range b {
			b[i] = byte(0x20 + r.Intn(0x5f))
		}
		return string(b)
	}
	var sb strings.Builder
	for range r.Intn(8) {
		if r.Intn(3) == 0 {
			sb.WriteString("plain text ")
		}
		sb.WriteString(awkward[r.Intn(len(awkward))])
	}
	return sb.String()
}

func (g randomEvents) float() float64 {
	r := g.r
	if r.Intn(200) == 0 {
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1)}[r.Intn(3)]
	}
	switch r.Intn(10) {
	case 0:
		return math.Float64frombits(r.Uint64()) // any bits: rarely NaN or Inf
	case 1:
		return []float64{0, math.Copysign(0, -1), 1e-6, math.Nextafter(1e-6, 0), 1e21, math.Nextafter(1e21, 0), -1e21,
			math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-7, 1e-9, 1e-10, 1e-100, 1e100}[r.Intn(14)]
	case 2:
		return float64(r.Int63n(1 << 53))
	}
	f := r.Float64() * math.Pow(10, float64(r.Intn(61)-30))
	if r.Intn(4) == 0 {
		f = -f
	}
	return f
}

func (g randomEvents) time() time.Time {
	r := g.r
	var t time.Time
	switch {
	case r.Intn(8) == 0:
		return time.Time{}
	case r.Intn(200) == 0: // any year from -2000 to 12000: often out of range
		t = time.Date(r.Intn(14001)-2000, time.Month(1+r.Intn(12)), 1+r.Intn(31), r.Intn(24), r.Intn(60), r.Intn(60), r.Intn(1e9), time.UTC)
	case r.Intn(10) == 0: // years 0 to 9999
		t = time.Date(r.Intn(10000), time.Month(1+r.Intn(12)), 1+r.Intn(31), r.Intn(24), r.Intn(60), r.Intn(60), r.Intn(1e9), time.UTC)
	default: // recent
		t = time.Unix(1_600_000_000+r.Int63n(400_000_000), r.Int63n(1e9)).UTC()
		if r.Intn(3) == 0 {
			t = t.Truncate(time.Duration([]int64{1, 1e3, 1e6, 1e9}[r.Intn(4)]))
		}
	}
	switch r.Intn(6) {
	case 0: // any offset within ±23:59:59, seconds included; rarely up to ±30 hours (out of range)
		h := 24
		if r.Intn(50) == 0 {
			h = 30
		}
		t = t.In(time.FixedZone("z", r.Intn(2*h*3600-1)-(h*3600-1)))
	case 1: // a whole-minute offset
		t = t.In(time.FixedZone("z", (r.Intn(2*1439+1)-1439)*60))
	case 2:
		t = t.In(time.Local)
	}
	return t
}

func (g randomEvents) details() map[string]string {
	r := g.r
	switch r.Intn(4) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range 1 + r.Intn(20) {
		m[g.string()] = g.string()
	}
	return m
}

func (g randomEvents) event() provisioning.Event {
	r := g.r
	s := g.string
	e := provisioning.Event{ID: s(), ActivityDateTime: g.time(), JobID: s(), CycleID: s(), ChangeID: s(),
		Action: provisioning.Action(s()), Status: provisioning.Result(s()),
		SourceIdentity: provisioning.Identity{ID: s(), DisplayName: s(), IdentityType: s()},
		TargetIdentity: provisioning.Identity{ID: s(), DisplayName: s(), IdentityType: s()},
		SourceSystem:   s(), TargetSystem: s(),
		InitiatedBy:            provisioning.Initiator{ID: s(), DisplayName: s(), InitiatorType: s()},
		DurationInMilliseconds: r.Int63() - r.Int63(), TraceID: s(), SpanID: s()}
	if r.Intn(3) == 0 {
		e.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: s(), ErrorCategory: s(), Reason: s(),
			AdditionalDetails: s(), RecommendedAction: s()}
	}
	if n := r.Intn(9) - 1; n >= 0 {
		e.ProvisioningSteps = make([]provisioning.Step, n)
		for i := range e.ProvisioningSteps {
			st := provisioning.Step{Name: s(), ProvisioningStepType: provisioning.StepType(s()), Status: provisioning.Result(s()),
				Description: s(), Details: g.details(), Start: g.time(), DurationInMilliseconds: g.float(), SpanID: s()}
			if m := r.Intn(5) - 1; m >= 0 {
				st.Calls = make([]connectors.Call, m)
				for j := range st.Calls {
					st.Calls[j] = connectors.Call{Method: s(), Target: s(), Status: r.Intn(1000) - 100, Error: s(),
						Start: g.time(), DurationInMilliseconds: g.float(), SpanID: s()}
				}
			}
			e.ProvisioningSteps[i] = st
		}
	}
	if n := r.Intn(6) - 1; n >= 0 {
		e.ModifiedProperties = make([]provisioning.ModifiedProperty, n)
		for i := range e.ModifiedProperties {
			e.ModifiedProperties[i] = provisioning.ModifiedProperty{DisplayName: s(), OldValue: s(), NewValue: s()}
		}
	}
	return e
}

func TestAppendEventRandom(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	g := randomEvents{rand.New(rand.NewSource(20251125))}
	failed := 0
	for range n {
		ev := g.event()
		if checkEvent(t, &ev, "") != nil {
			failed++
		}
	}
	if failed > n/5 || failed == 0 {
		t.Errorf("%d of %d random events failed to encode: the generator should produce a few percent of them", failed, n)
	}
	t.Logf("%d of %d random events failed to encode, in both encoders", failed, n)
}

// FuzzAppendEvent builds an event from the fuzzer's values (the strings in every kind of
// field, details keyed by them, the float in steps and calls, the time in every time field)
// and compares AppendEvent with encoding/json.
func FuzzAppendEvent(f *testing.F) {
	f.Add("alice", "Alice <a&b>", 1.25, int64(14), int64(1741944413), int64(589793000), int32(0), uint8(0xff))
	f.Add("", "", 0.0, int64(0), int64(0), int64(0), int32(3600), uint8(0))
	f.Add("\u2028\u2029\x00\x1f\x7f\"\\", "\xff\xfe\xed\xa0\x80\xf0\x9f\x98", math.Copysign(0, -1), int64(-1), int64(-62135596800), int64(0), int32(-34215), uint8(0x55))
	f.Add("名前😀\ufffd", "é\u0301", 1e21, int64(math.MaxInt64), int64(253402300799), int64(999999999), int32(86399), uint8(0xaa))
	f.Add("k", "k", 1e-7, int64(math.MinInt64), int64(253402300800), int64(1), int32(86400), uint8(0x0f))
	f.Add("a", "b", math.NaN(), int64(1), int64(-62167219201), int64(5), int32(-86400), uint8(0xf0))
	f.Add("x", "y", math.Nextafter(1e-6, 0), int64(2), int64(1<<40), int64(-7), int32(1), uint8(0x3c))
	f.Fuzz(func(t *testing.T, s1, s2 string, fl float64, n, sec, nsec int64, offset int32, shape uint8) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("f", int(offset)))
		if shape&0x80 != 0 {
			tm = tm.UTC()
		}
		bit := func(i uint) bool { return shape&(1<<i) != 0 }
		ev := provisioning.Event{ID: s1, ActivityDateTime: tm, JobID: s2, CycleID: s1 + s2, ChangeID: s2 + s1,
			Action: provisioning.Action(s1), Status: provisioning.Result(s2),
			SourceIdentity: provisioning.Identity{ID: s1, DisplayName: s2, IdentityType: s1},
			TargetIdentity: provisioning.Identity{ID: s2, DisplayName: s1, IdentityType: s2},
			SourceSystem:   s1, TargetSystem: s2, InitiatedBy: provisioning.Initiator{ID: s2, DisplayName: s1, InitiatorType: s2},
			DurationInMilliseconds: n}
		if bit(0) {
			ev.TraceID, ev.SpanID = s1, s2
		}
		if bit(1) {
			ev.ErrorInformation = &provisioning.ErrorInformation{ErrorCode: s1, ErrorCategory: s2, Reason: s1, AdditionalDetails: s2, RecommendedAction: s1}
		}
		if bit(2) {
			ev.ModifiedProperties = []provisioning.ModifiedProperty{{DisplayName: s1, OldValue: s2, NewValue: s1}, {}}
		} else if bit(3) {
			ev.ModifiedProperties = []provisioning.ModifiedProperty{}
		}
		if bit(4) || bit(5) {
			st := provisioning.Step{Name: s1, ProvisioningStepType: provisioning.StepType(s2), Status: provisioning.Result(s1),
				Description: s2, Start: tm, DurationInMilliseconds: fl, SpanID: s1}
			if bit(4) {
				st.Details = map[string]string{s1: s2, s2: s1, s1 + s2: "", "": s1}
			}
			if bit(5) {
				st.Calls = []connectors.Call{{Method: s1, Target: s2, Status: int(n), Error: s1, Start: tm, DurationInMilliseconds: fl, SpanID: s2}}
			}
			ev.ProvisioningSteps = []provisioning.Step{st, {Details: map[string]string{}, Calls: []connectors.Call{}}}
		} else if bit(6) {
			ev.ProvisioningSteps = []provisioning.Step{}
		}
		checkEvent(t, &ev, "")
	})
}

// eventTypes are the struct types AppendEvent encodes.
var eventTypes = []reflect.Type{
	reflect.TypeFor[provisioning.Event](), reflect.TypeFor[provisioning.ErrorInformation](), reflect.TypeFor[provisioning.Step](),
	reflect.TypeFor[provisioning.ModifiedProperty](), reflect.TypeFor[provisioning.Identity](),
	reflect.TypeFor[provisioning.Initiator](), reflect.TypeFor[connectors.Call](),
}

// TestEventFieldsDeclared fails when a type AppendEvent encodes gains, loses or changes a
// field (or a JSON tag) without eventFields, and so AppendEvent, being updated; or when one
// of the types it reaches gets its own JSON or text marshaling.
func TestEventFieldsDeclared(t *testing.T) {
	for _, typ := range eventTypes {
		var fields []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			fields = append(fields, fmt.Sprintf("%s %s %s", f.Name, f.Type, f.Tag.Get("json")))
		}
		if want := eventFields[typ.String()]; !slices.Equal(fields, want) {
			t.Errorf("%s has the fields\n\t%s\nAppendEvent encodes (eventFields)\n\t%s\nupdate AppendEvent and eventFields",
				typ, strings.Join(fields, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
	// Every struct type reachable from Event (but time.Time) is one of eventTypes.
	marshalers := []reflect.Type{reflect.TypeFor[json.Marshaler](), reflect.TypeFor[encoding.TextMarshaler]()}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if typ == timeType {
			return
		}
		for _, m := range marshalers {
			if typ.Implements(m) || reflect.PointerTo(typ).Implements(m) {
				t.Errorf("%s implements %s: AppendEvent does not call it", typ, m)
			}
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(typ.Elem())
		case reflect.Map:
			walk(typ.Key())
			walk(typ.Elem())
		case reflect.Struct:
			if !slices.Contains(eventTypes, typ) {
				t.Errorf("Event holds a %s, which AppendEvent does not know", typ)
			}
			for i := range typ.NumField() {
				walk(typ.Field(i).Type)
			}
		case reflect.String, reflect.Int, reflect.Int64, reflect.Float64:
		default:
			t.Errorf("Event holds a %s, which AppendEvent does not know", typ)
		}
	}
	walk(eventTypes[0])
	if len(eventFields) != len(eventTypes) {
		t.Errorf("eventFields declares %d types, the test checks %d", len(eventFields), len(eventTypes))
	}
}

func TestMarshalEventAllocations(t *testing.T) {
	ev := realisticEvent()
	if _, err := MarshalEvent(&ev); err != nil { // warm the pool
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = MarshalEvent(&ev) }); n > 1 {
		t.Errorf("MarshalEvent allocates %v times per event, want 1 (the string)", n)
	}
	// The engine's import step lists every attribute: up to 64 details sort on the stack.
	for i := range 60 {
		ev.ProvisioningSteps[0].Details[fmt.Sprint("attribute", i)] = "value"
	}
	if _, err := MarshalEvent(&ev); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = MarshalEvent(&ev) }); n > 1 {
		t.Errorf("MarshalEvent of an event with 63 details allocates %v times per event, want 1 (the string)", n)
	}
	buf := make([]byte, 0, 8192)
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendEvent(buf[:0], &ev) }); n != 0 {
		t.Errorf("AppendEvent into a large enough buffer allocates %v times", n)
	}
}

func BenchmarkMarshalEvent(b *testing.B) {
	ev := realisticEvent()
	js, err := Marshal(&ev)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Marshal(&ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			if buf, err = AppendEvent(buf[:0], &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal_event", func(b *testing.B) { // what the stores call: AppendEvent and the string
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := MarshalEvent(&ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
