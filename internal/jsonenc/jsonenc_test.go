package jsonenc

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func reference(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "tab\tnl\ncr\r", "\x00\x01\x1f", "Zoë Müller 日本", "bad\xffutf8", "\u2028\u2029", "<&>"} {
		if got, want := AppendString(nil, s), reference(s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\x00\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendString(nil, s), reference(s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}

// TestSkipPlain checks the 8-bytes-at-a-time scan against the byte-by-byte definition for
// every byte value at every position, alone and after every other byte value.
func TestSkipPlain(t *testing.T) {
	special := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }
	naive := func(s string, i int) int {
		for i < len(s) && !special(s[i]) {
			i++
		}
		return i
	}
	buf := []byte(strings.Repeat("a", 19))
	for c := range 256 {
		for p := range len(buf) {
			for d := range 256 { // d before c: checks that no byte hides another
				if p == 0 && d > 0 {
					break
				}
				s := slices.Clone(buf)
				s[p] = byte(c)
				if p > 0 {
					s[p-1] = byte(d)
				}
				for from := range 3 {
					if got, want := skipPlain(string(s), from), naive(string(s), from); got != want {
						t.Fatalf("skipPlain(%q, %d) = %d, want %d", s, from, got, want)
					}
				}
			}
		}
	}
}
