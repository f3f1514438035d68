package config

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provisiond/provisiond/provisioning/mapping"
)

// mappingFields are the fields of an object mapping that mapping.Compile's errors can point
// to, by index as in the ObjectMapping.
type mappingFields struct {
	attrs   []field
	exprs   []field
	filters []field
	clauses [][]field
}

// Locations in mapping.Compile's errors: `attributes[3] (target "userName"): …`,
// `scoping[0] "Employees" clause[1]: …`.
var (
	attrErrLoc  = regexp.MustCompile(`^attributes\[(\d+)\](?: \(target "(?:[^"\\]|\\.)*"\))?: (.*)$`)
	scopeErrLoc = regexp.MustCompile(`^scoping\[(\d+)\](?: "(?:[^"\\]|\\.)*")?(?: clause\[(\d+)\])?: (.*)$`)
)

// compile runs mapping.Compile, which checks what the schema cannot (expressions, function
// arguments, matching and reference rules), and reports its error at the attribute
// mapping, expression, scoping filter or clause it names, else at the object mapping f.
func (d *decoder) compile(f field, m mapping.ObjectMapping, fields mappingFields) {
	_, err := mapping.Compile(m)
	if err == nil {
		return
	}
	msg := err.Error()
	if sm := attrErrLoc.FindStringSubmatch(msg); sm != nil {
		i, _ := strconv.Atoi(sm[1])
		if i < len(fields.attrs) {
			var ee *mapping.ExprError
			if ef := fields.exprs[i]; errors.As(err, &ee) && ef.present() {
				d.errs = append(d.errs, FieldError{
					File: d.file, Line: exprLine(ef.val, ee.Line), Column: ef.val.Column,
					Field: ef.path, Message: strings.TrimPrefix(ee.Error(), "expression: "),
				})
				return
			}
			fields.attrs[i].errorf("%s", sm[2])
			return
		}
	}
	if sm := scopeErrLoc.FindStringSubmatch(msg); sm != nil {
		i, _ := strconv.Atoi(sm[1])
		if i < len(fields.filters) {
			if sm[2] != "" {
				if j, _ := strconv.Atoi(sm[2]); j < len(fields.clauses[i]) {
					fields.clauses[i][j].errorf("%s", sm[3])
					return
				}
			}
			fields.filters[i].errorf("%s", sm[3])
			return
		}
	}
	f.errorf("%s", msg)
}

// exprLine is the file line of line n (1-based) of the expression in node: a literal block
// scalar ("|") starts on the line after its indicator.
func exprLine(node *yaml.Node, n int) int {
	if node.Style&yaml.LiteralStyle != 0 {
		return node.Line + n
	}
	return node.Line
}
