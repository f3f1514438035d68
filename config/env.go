package config

import (
	"fmt"
	"strings"
)

// expansion is the result of expanding the ${NAME} references of a value.
type expansion struct {
	// s is the expanded value.
	s string
	// vars lists the variables referenced, in order.
	vars []string
	// problems say what is wrong (an unset variable, a malformed reference), without the
	// value.
	problems []string
}

// expand replaces each ${NAME} in s by the value of the environment variable NAME, looked up
// with env. "$${" stands for a literal "${"; any other "$" is kept as is, so that regular
// expressions keep their "$" anchors.
func expand(s string, env func(string) (string, bool)) expansion {
	var x expansion
	if !strings.Contains(s, "${") {
		x.s = s
		return x
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				x.problems = append(x.problems, `unterminated "${" (write "$${" for a literal "${")`)
				b.WriteString(s[i:])
				i = len(s)
				continue
			}
			name := s[i+2 : i+2+end]
			i += 2 + end + 1
			if !validEnvName(name) {
				x.problems = append(x.problems, fmt.Sprintf("invalid environment variable reference ${%s}: want ${NAME} with NAME made of letters, digits and _ (write \"$${\" for a literal \"${\")", truncate(name, 40)))
				continue
			}
			x.vars = append(x.vars, name)
			v, ok := env(name)
			if !ok {
				x.problems = append(x.problems, fmt.Sprintf("${%s} is not set", name))
				continue
			}
			b.WriteString(v)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	x.s = b.String()
	return x
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
