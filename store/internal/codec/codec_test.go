package codec

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/provisioning"
)

func TestNanos(t *testing.T) {
	ts := []time.Time{ // in order
		{},
		time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC), // just inside the range
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("x", 3600)),
		time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC),
	}
	for i, tm := range ts {
		got := Time(Nanos(tm))
		if !got.Equal(tm) || got.Location() != time.UTC {
			t.Errorf("Time(Nanos(%v)) = %v", tm, got)
		}
		if i > 0 && Nanos(ts[i-1]) >= Nanos(tm) {
			t.Errorf("Nanos(%v) = %d is not above Nanos(%v) = %d", tm, Nanos(tm), ts[i-1], Nanos(ts[i-1]))
		}
	}
	// Out of range: clamped, order kept, never the zero time's value.
	early, late := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if Nanos(early) != math.MinInt64+1 || Nanos(late) != math.MaxInt64 || Nanos(time.Time{}) != math.MinInt64 {
		t.Errorf("clamping: %d %d %d", Nanos(early), Nanos(late), Nanos(time.Time{}))
	}
	if !Time(math.MinInt64).IsZero() {
		t.Errorf("Time(MinInt64) is not the zero time")
	}
}

func TestHasAttributes(t *testing.T) {
	for v, want := range map[any]bool{
		&provisioning.Event{}: false, &provisioning.JobState{}: false, &provisioning.Cycle{}: false,
		&provisioning.Escrow{}: true, &provisioning.Link{}: true, &connectors.Attributes{}: true, new(any): true,
		&[]provisioning.StagedOp{}: false, &map[string]connectors.Attributes{}: true,
	} {
		if got := hasAttributes(reflect.TypeOf(v)); got != want {
			t.Errorf("hasAttributes(%T) = %v, want %v", v, got, want)
		}
	}
}

func TestUnmarshalRejectsTrailingData(t *testing.T) {
	var a connectors.Attributes
	if err := Unmarshal([]byte(`{"a":1} {"b":2}`), &a); err == nil {
		t.Errorf("Unmarshal accepted two values")
	}
	var e provisioning.Event
	if err := Unmarshal([]byte(`{"id":"x"} x`), &e); err == nil {
		t.Errorf("Unmarshal accepted trailing data")
	}
}

func TestUnmarshalNormalizes(t *testing.T) {
	zone := time.FixedZone("x", -7*3600)
	in := provisioning.Escrow{
		JobID: "j",
		Change: connectors.Change{Object: connectors.Object{Attributes: connectors.Attributes{
			"i": int64(math.MaxInt64), "f": 1.5, "s": []string{"a"}, "m": []any{"a", int64(2)},
			"o": map[string]any{"n": int64(-1), "l": []any{"x", "y"}}, "b": false, "nil": nil, "e": []any{},
		}}},
		FirstFailure: time.Date(2025, 1, 2, 3, 4, 5, 6, zone),
	}
	js, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out provisioning.Escrow
	if err := Unmarshal([]byte(js), &out); err != nil {
		t.Fatal(err)
	}
	want := in
	want.FirstFailure = in.FirstFailure.UTC()
	want.Change.Object.Attributes = connectors.Attributes{
		"i": int64(math.MaxInt64), "f": 1.5, "s": []string{"a"}, "m": []any{"a", int64(2)},
		"o": map[string]any{"n": int64(-1), "l": []string{"x", "y"}}, "b": false, "nil": nil, "e": []any{},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("round trip:\n got %#v\nwant %#v", out, want)
	}
	if out.FirstFailure.Location() != time.UTC {
		t.Errorf("location %v", out.FirstFailure.Location())
	}
	// Marshal does not escape HTML (the stored JSON stays readable).
	if js, _ := Marshal("<a&b>"); js != `"<a&b>"` {
		t.Errorf("Marshal escapes HTML: %s", js)
	}
}

var sampleEvent = func() []byte {
	start := time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)
	e := provisioning.Event{ID: "0197aaaa-0000-7000-8000-000000000001", ActivityDateTime: start, JobID: "job", CycleID: "c", ChangeID: "x",
		Action: provisioning.ActionCreate, Status: provisioning.ResultSuccess,
		SourceIdentity: provisioning.Identity{ID: "u1", DisplayName: "User One", IdentityType: "User"},
		TargetIdentity: provisioning.Identity{ID: "t1", DisplayName: "User One", IdentityType: "User"}}
	for _, st := range provisioning.StepTypes {
		e.ProvisioningSteps = append(e.ProvisioningSteps, provisioning.Step{Name: "Entry" + string(st), ProvisioningStepType: st,
			Status: provisioning.ResultSuccess, Description: "step " + string(st) + " of u1", Start: start, DurationInMilliseconds: 1.25})
	}
	b, _ := json.Marshal(e)
	return b
}()

func BenchmarkUnmarshalEvent(b *testing.B) {
	b.SetBytes(int64(len(sampleEvent)))
	for b.Loop() {
		var e provisioning.Event
		if err := Unmarshal(sampleEvent, &e); err != nil {
			b.Fatal(err)
		}
	}
}
