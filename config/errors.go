package config

import (
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem in a configuration file: where it is and what is wrong.
type FieldError struct {
	// File is the configuration file as named to Load or Parse.
	File string `json:"file"`
	// Line and Column are 1-based; 0 when the problem has no position.
	Line   int `json:"line"`
	Column int `json:"column"`
	// Field is the path of the field, e.g. "jobs[0].schedule.interval"; empty for
	// problems of the whole file.
	Field string `json:"field,omitempty"`
	// Message says what is wrong. It never contains a secret's value.
	Message string `json:"message"`
}

// Error formats e as "file:line: field: message".
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ValidationError holds every problem found in a configuration file, sorted by line.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders errs by line, then column; problems at the same place keep the order in
// which they were found.
func sortErrors(errs []FieldError) {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Column < errs[j].Column
	})
}
