package wire

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/testconn"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// roundTrip encodes attrs, marshals and unmarshals the message, and decodes it.
func roundTrip(t *testing.T, attrs connectors.Attributes) connectors.Attributes {
	t.Helper()
	m, err := EncodeAttributes(attrs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&pb.Object{Attributes: m})
	if err != nil {
		t.Fatal(err)
	}
	var o pb.Object
	if err := proto.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	out, err := DecodeAttributes(o.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValuesRoundTrip(t *testing.T) {
	vals := testconn.Values()
	for name, v := range vals {
		t.Run(name, func(t *testing.T) {
			got := roundTrip(t, connectors.Attributes{name: v})
			gv, ok := got[name]
			if !ok {
				t.Fatalf("attribute %s lost", name)
			}
			if !reflect.DeepEqual(gv, v) {
				t.Fatalf("%s: got %#v (%T), want %#v (%T)", name, gv, gv, v, v)
			}
			if tv, ok := v.(time.Time); ok && (gv.(time.Time).Location().String() != tv.Location().String() && tv.Location() == time.UTC) {
				t.Fatalf("%s: location %v, want %v", name, gv.(time.Time).Location(), tv.Location())
			}
		})
	}
	if got := roundTrip(t, vals); !reflect.DeepEqual(got, vals) {
		t.Fatalf("all values: got %#v", got)
	}
	if got := roundTrip(t, nil); got != nil {
		t.Fatalf("nil attributes: got %#v", got)
	}
	if got := roundTrip(t, connectors.Attributes{}); got == nil || len(got) != 0 {
		t.Fatalf("empty attributes: got %#v", got)
	}
}

func TestUnsupportedValue(t *testing.T) {
	for _, v := range []any{struct{}{}, map[string]string{"a": "b"}, []int{1}, []any{"ok", complex(1, 2)}} {
		_, err := EncodeAttributes(connectors.Attributes{"bad": v})
		var ve *ValueError
		if !errors.As(err, &ve) || ve.Path == "" {
			t.Errorf("%T: got %v, want a ValueError naming the attribute", v, err)
		}
	}
}

func TestModificationsRoundTrip(t *testing.T) {
	for _, mods := range [][]connectors.Modification{nil, {}, {
		{Name: "a", Op: connectors.ModReplace, Value: int64(1)},
		{Name: "b", Op: connectors.ModRemove},
		{Name: "members", Op: connectors.ModRemove, Value: []string{"x"}},
		{Name: "odd", Op: "unknownOp", Value: 1.5},
	}} {
		pm, err := EncodeModifications(mods)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeModifications(pm, mods == nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, mods) {
			t.Fatalf("got %#v, want %#v", got, mods)
		}
	}
}

// TestErrorsRoundTrip: every class and shape of error comes back as the same Go error.
func TestErrorsRoundTrip(t *testing.T) {
	cases := map[string]error{
		"plain":           errors.New("plain failure"),
		"deadline":        context.DeadlineExceeded,
		"canceled":        context.Canceled,
		"wrappedDeadline": fmt.Errorf("upstream: %w", context.DeadlineExceeded),
	}
	for _, c := range testconn.Classes {
		cases[string(c)] = testconn.ClassError(c)
		cases["wrapped-"+string(c)] = fmt.Errorf("context: %w", testconn.ClassError(c))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			st, _ := status.FromError(EncodeError(want))
			b, err := proto.Marshal(st.Proto())
			if err != nil {
				t.Fatal(err)
			}
			var sp = st.Proto()
			if err := proto.Unmarshal(b, sp); err != nil {
				t.Fatal(err)
			}
			got, ok := DecodeError(status.FromProto(sp).Err())
			if !ok {
				t.Fatal("the error's detail was lost")
			}
			if got.Error() != want.Error() {
				t.Errorf("text %q, want %q", got.Error(), want.Error())
			}
			if connectors.ClassOf(got) != connectors.ClassOf(want) {
				t.Errorf("class %s, want %s", connectors.ClassOf(got), connectors.ClassOf(want))
			}
			if !reflect.DeepEqual(connectors.AsError(got), connectors.AsError(want)) {
				t.Errorf("AsError %#v, want %#v", connectors.AsError(got), connectors.AsError(want))
			}
			for _, target := range []error{context.DeadlineExceeded, context.Canceled} {
				if errors.Is(got, target) != errors.Is(want, target) {
					t.Errorf("errors.Is(%v) differs", target)
				}
			}
			var ce *connectors.Error
			if _, isCE := want.(*connectors.Error); isCE && !errors.As(got, &ce) {
				t.Errorf("got %T, want *connectors.Error", got)
			}
			if reflect.TypeOf(want) == reflect.TypeOf(got) && !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestCallsRoundTrip(t *testing.T) {
	calls := []connectors.Call{{Method: "POST", Target: "/scim/v2/Users", Status: 201, Start: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		DurationInMilliseconds: 1.25, SpanID: "00f067aa0ba902b7"}, {Method: "GET", Target: "/x?filter=a", Error: "connection refused"}}
	b, err := EncodeCalls(calls)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCalls(b)
	if err != nil {
		t.Fatal(err)
	}
	calls[1].Start = time.Unix(0, calls[1].Start.UnixNano()).UTC()
	if !reflect.DeepEqual(got, calls) {
		t.Fatalf("got %#v, want %#v", got, calls)
	}
}
