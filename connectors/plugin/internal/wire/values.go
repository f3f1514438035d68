package wire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/provisiond/provisiond/connectors"
	pb "github.com/provisiond/provisiond/connectors/plugin/proto"
)

// ValueError is returned for a value that cannot cross the boundary (a Go type outside the
// connectors.Attributes contract, such as a struct or a map[string]string).
type ValueError struct {
	// Path names the value: the attribute, then list indexes and map keys.
	Path string
	Type string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("attribute %s: a value of type %s cannot cross the plugin boundary (use string, bool, int64, float64, []string, []any or map[string]any)", e.Path, e.Type)
}

// EncodeValue converts a plain Go value to a Value; nil gives nil.
func EncodeValue(v any) (*pb.Value, error) { return encodeValue(v, "value") }

func encodeValue(v any, path string) (*pb.Value, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return &pb.Value{Kind: &pb.Value_StringValue{StringValue: x}}, nil
	case bool:
		return &pb.Value{Kind: &pb.Value_BoolValue{BoolValue: x}}, nil
	case int64:
		return &pb.Value{Kind: &pb.Value_IntValue{IntValue: x}}, nil
	case float64:
		return &pb.Value{Kind: &pb.Value_DoubleValue{DoubleValue: x}}, nil
	case []string:
		return &pb.Value{Kind: &pb.Value_StringList{StringList: EncodeStrings(x)}}, nil
	case []any:
		l := &pb.ValueList{Nil: x == nil, Values: make([]*pb.Value, len(x))}
		for i, e := range x {
			ev, err := encodeElem(e, path, i)
			if err != nil {
				return nil, err
			}
			l.Values[i] = ev
		}
		return &pb.Value{Kind: &pb.Value_ListValue{ListValue: l}}, nil
	case map[string]any:
		m, err := encodeMap(x, x == nil, false, path)
		if err != nil {
			return nil, err
		}
		return &pb.Value{Kind: &pb.Value_MapValue{MapValue: m}}, nil
	case connectors.Attributes:
		m, err := encodeMap(x, x == nil, true, path)
		if err != nil {
			return nil, err
		}
		return &pb.Value{Kind: &pb.Value_MapValue{MapValue: m}}, nil
	case int:
		return number(pb.NumberKind_NUMBER_KIND_INT, int64(x), 0, 0), nil
	case int8:
		return number(pb.NumberKind_NUMBER_KIND_INT8, int64(x), 0, 0), nil
	case int16:
		return number(pb.NumberKind_NUMBER_KIND_INT16, int64(x), 0, 0), nil
	case int32:
		return number(pb.NumberKind_NUMBER_KIND_INT32, int64(x), 0, 0), nil
	case uint:
		return number(pb.NumberKind_NUMBER_KIND_UINT, 0, uint64(x), 0), nil
	case uint8:
		return number(pb.NumberKind_NUMBER_KIND_UINT8, 0, uint64(x), 0), nil
	case uint16:
		return number(pb.NumberKind_NUMBER_KIND_UINT16, 0, uint64(x), 0), nil
	case uint32:
		return number(pb.NumberKind_NUMBER_KIND_UINT32, 0, uint64(x), 0), nil
	case uint64:
		return number(pb.NumberKind_NUMBER_KIND_UINT64, 0, x, 0), nil
	case float32:
		return number(pb.NumberKind_NUMBER_KIND_FLOAT32, 0, 0, float64(x)), nil
	case json.Number:
		return &pb.Value{Kind: &pb.Value_JsonNumber{JsonNumber: string(x)}}, nil
	case time.Time:
		_, off := x.Zone()
		return &pb.Value{Kind: &pb.Value_TimeValue{TimeValue: &pb.Time{Seconds: x.Unix(), Nanos: int32(x.Nanosecond()),
			Location: x.Location().String(), OffsetSeconds: int32(off)}}}, nil
	}
	return nil, &ValueError{Path: path, Type: fmt.Sprintf("%T", v)}
}

// nullValue stands for nil where a message is required (list elements, map entries).
var nullValue = &pb.Value{Kind: &pb.Value_NullValue{NullValue: true}}

func encodeElem(e any, path string, i int) (*pb.Value, error) {
	if e == nil {
		return nullValue, nil
	}
	return encodeValue(e, fmt.Sprintf("%s[%d]", path, i))
}

func number(k pb.NumberKind, i int64, u uint64, f float64) *pb.Value {
	return &pb.Value{Kind: &pb.Value_NumberValue{NumberValue: &pb.Number{Kind: k, IntValue: i, UintValue: u, FloatValue: f}}}
}

func encodeMap(m map[string]any, isNil, attrs bool, path string) (*pb.ValueMap, error) {
	out := &pb.ValueMap{Nil: isNil, Attributes: attrs}
	if len(m) > 0 {
		out.Entries = make(map[string]*pb.Value, len(m))
	}
	for k, v := range m {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if v == nil {
			out.Entries[k] = nullValue
			continue
		}
		ev, err := encodeValue(v, p)
		if err != nil {
			return nil, err
		}
		out.Entries[k] = ev
	}
	return out, nil
}

// EncodeStrings converts a []string (nil stays nil).
func EncodeStrings(s []string) *pb.StringList {
	return &pb.StringList{Values: s, Nil: s == nil}
}

// DecodeStrings is EncodeStrings' inverse (a missing list is nil).
func DecodeStrings(l *pb.StringList) []string {
	if l == nil || l.Nil {
		return nil
	}
	if l.Values == nil {
		return []string{}
	}
	return l.Values
}

// EncodeAttributes converts attributes (nil gives nil).
func EncodeAttributes(a connectors.Attributes) (*pb.ValueMap, error) {
	if a == nil {
		return nil, nil
	}
	return encodeMap(a, false, true, "")
}

// DecodeAttributes is EncodeAttributes' inverse.
func DecodeAttributes(m *pb.ValueMap) (connectors.Attributes, error) {
	if m == nil || m.Nil {
		return nil, nil
	}
	out := make(connectors.Attributes, len(m.Entries))
	for k, v := range m.Entries {
		dv, err := DecodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = dv
	}
	return out, nil
}

// DecodeValue is EncodeValue's inverse: a missing Value is nil.
func DecodeValue(v *pb.Value) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k := v.Kind.(type) {
	case nil, *pb.Value_NullValue:
		return nil, nil
	case *pb.Value_StringValue:
		return k.StringValue, nil
	case *pb.Value_BoolValue:
		return k.BoolValue, nil
	case *pb.Value_IntValue:
		return k.IntValue, nil
	case *pb.Value_DoubleValue:
		return k.DoubleValue, nil
	case *pb.Value_StringList:
		return DecodeStrings(k.StringList), nil
	case *pb.Value_ListValue:
		l := k.ListValue
		if l == nil || l.Nil {
			return []any(nil), nil
		}
		out := make([]any, len(l.Values))
		for i, e := range l.Values {
			d, err := DecodeValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case *pb.Value_MapValue:
		m := k.MapValue
		if m == nil {
			return map[string]any(nil), nil
		}
		if m.Attributes {
			if m.Nil {
				return connectors.Attributes(nil), nil
			}
			return DecodeAttributes(m)
		}
		if m.Nil {
			return map[string]any(nil), nil
		}
		out := make(map[string]any, len(m.Entries))
		for key, e := range m.Entries {
			d, err := DecodeValue(e)
			if err != nil {
				return nil, err
			}
			out[key] = d
		}
		return out, nil
	case *pb.Value_NumberValue:
		n := k.NumberValue
		switch n.GetKind() {
		case pb.NumberKind_NUMBER_KIND_INT:
			return int(n.IntValue), nil
		case pb.NumberKind_NUMBER_KIND_INT8:
			return int8(n.IntValue), nil
		case pb.NumberKind_NUMBER_KIND_INT16:
			return int16(n.IntValue), nil
		case pb.NumberKind_NUMBER_KIND_INT32:
			return int32(n.IntValue), nil
		case pb.NumberKind_NUMBER_KIND_UINT:
			return uint(n.UintValue), nil
		case pb.NumberKind_NUMBER_KIND_UINT8:
			return uint8(n.UintValue), nil
		case pb.NumberKind_NUMBER_KIND_UINT16:
			return uint16(n.UintValue), nil
		case pb.NumberKind_NUMBER_KIND_UINT32:
			return uint32(n.UintValue), nil
		case pb.NumberKind_NUMBER_KIND_UINT64:
			return n.UintValue, nil
		case pb.NumberKind_NUMBER_KIND_FLOAT32:
			return float32(n.FloatValue), nil
		}
		return nil, fmt.Errorf("unknown number kind %v", n.GetKind())
	case *pb.Value_JsonNumber:
		return json.Number(k.JsonNumber), nil
	case *pb.Value_TimeValue:
		return decodeTime(k.TimeValue), nil
	}
	return nil, fmt.Errorf("unknown value kind %T (a newer protocol?)", v.Kind)
}

// decodeTime rebuilds a time in its location: UTC, Local, the IANA zone of that name when
// it has the same offset at that instant, or else a fixed zone of that name and offset.
func decodeTime(pt *pb.Time) time.Time {
	t := time.Unix(pt.GetSeconds(), int64(pt.GetNanos()))
	switch name := pt.GetLocation(); name {
	case "UTC":
		return t.UTC()
	case "Local":
		return t.Local()
	default:
		if loc, err := time.LoadLocation(name); err == nil && name != "" {
			if _, off := t.In(loc).Zone(); off == int(pt.GetOffsetSeconds()) {
				return t.In(loc)
			}
		}
		return t.In(time.FixedZone(name, int(pt.GetOffsetSeconds())))
	}
}
