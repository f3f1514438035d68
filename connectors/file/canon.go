package file

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/provisiond/provisiond/connectors"
)

// An object's content hash is the xxHash64 of a canonical encoding of its attributes, so
// that it depends on the values only: not on key order, whitespace, escapes or number
// spelling. The indexing pass encodes straight from the file's bytes (jsonParser.encObject,
// csvLayout.encode) without building the object; canonAttrs encodes a parsed object the
// same way (tests hold the two to each other).
//
// Encoding: string 's' uvarint(len) bytes; bool 'b' 0|1; integral number 'i' int64 LE;
// other number 'f' float64 bits LE; array 'a' elements 'e'; null (in arrays) 'n';
// object 'o' (uvarint(len) key, value)… 'e' with keys sorted bytewise, null members left
// out, and for a repeated key the last one counting.

func appendCanonStr[T string | []byte](out []byte, s T) []byte {
	out = append(out, 's')
	out = binary.AppendUvarint(out, uint64(len(s)))
	return append(out, s...)
}

func appendCanonKey[T string | []byte](out []byte, k T) []byte {
	out = binary.AppendUvarint(out, uint64(len(k)))
	return append(out, k...)
}

func appendCanonInt(out []byte, v int64) []byte {
	return binary.LittleEndian.AppendUint64(append(out, 'i'), uint64(v))
}

func appendCanonFloat(out []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(append(out, 'f'), math.Float64bits(v))
}

func appendCanonBool(out []byte, v bool) []byte {
	if v {
		return append(out, 'b', 1)
	}
	return append(out, 'b', 0)
}

// canonAttrs appends the canonical encoding of a parsed object.
func canonAttrs(out []byte, m map[string]any) []byte {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out = append(out, 'o')
	for _, k := range keys {
		out = appendCanonKey(out, k)
		out = canonValue(out, m[k])
	}
	return append(out, 'e')
}

func canonValue(out []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(out, 'n')
	case string:
		return appendCanonStr(out, v)
	case bool:
		return appendCanonBool(out, v)
	case int64:
		return appendCanonInt(out, v)
	case int:
		return appendCanonInt(out, int64(v))
	case float64:
		return appendCanonFloat(out, v)
	case []string:
		out = append(out, 'a')
		for _, s := range v {
			out = appendCanonStr(out, s)
		}
		return append(out, 'e')
	case []any:
		out = append(out, 'a')
		for _, e := range v {
			out = canonValue(out, e)
		}
		return append(out, 'e')
	case map[string]any:
		return canonAttrs(out, v)
	case connectors.Attributes:
		return canonAttrs(out, v)
	default: // not produced by the parsers
		return appendCanonStr(append(out, '?'), fmt.Sprintf("%T %v", v, v))
	}
}

// normalizeRefs turns integral-number references (a user's manager, a group's members)
// into strings, the form anchors take, so that the engine's reference resolution finds
// them. jsonParser.encObject applies the same rule when hashing.
func normalizeRefs(typ connectors.ObjectType, a connectors.Attributes) {
	switch typ {
	case connectors.TypeUser:
		if n, ok := a["manager"].(int64); ok {
			a["manager"] = strconv.FormatInt(n, 10)
		}
	case connectors.TypeGroup:
		arr, ok := a[connectors.AttrMembers].([]any)
		if !ok {
			return
		}
		all := true
		for i, e := range arr {
			switch e := e.(type) {
			case int64:
				arr[i] = strconv.FormatInt(e, 10)
			case string:
			default:
				all = false
			}
		}
		if all {
			out := make([]string, len(arr))
			for i, e := range arr {
				out[i] = e.(string)
			}
			a[connectors.AttrMembers] = out
		}
	}
}

// xxh64 is xxHash64 with seed 0 (github.com/Cyan4973/xxHash, XXH64).
func xxh64(b []byte) uint64 {
	const (
		p1 uint64 = 11400714785074694791
		p2 uint64 = 14029467366897019727
		p3 uint64 = 1609587929392839161
		p4 uint64 = 9650029242287828579
		p5 uint64 = 2870177450012600261
	)
	round := func(acc, in uint64) uint64 {
		acc += in * p2
		return bits.RotateLeft64(acc, 31) * p1
	}
	n := len(b)
	var h uint64
	if n >= 32 {
		var prime1, prime2 = p1, p2
		v1, v2, v3, v4 := prime1+prime2, prime2, uint64(0), -prime1
		for len(b) >= 32 {
			v1 = round(v1, binary.LittleEndian.Uint64(b[0:8]))
			v2 = round(v2, binary.LittleEndian.Uint64(b[8:16]))
			v3 = round(v3, binary.LittleEndian.Uint64(b[16:24]))
			v4 = round(v4, binary.LittleEndian.Uint64(b[24:32]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		for _, v := range [4]uint64{v1, v2, v3, v4} {
			h ^= round(0, v)
			h = h*p1 + p4
		}
	} else {
		h = p5
	}
	h += uint64(n)
	for ; len(b) >= 8; b = b[8:] {
		h ^= round(0, binary.LittleEndian.Uint64(b[:8]))
		h = bits.RotateLeft64(h, 27)*p1 + p4
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b[:4])) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}
