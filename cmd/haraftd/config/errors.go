package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a config: where it is and what is wrong.
// It prints as "file:line: field: reason"; the line is left out when it is
// 0 (configs built in code) and the field when the problem is not about one
// field (bad YAML syntax).
type Error struct {
	File   string // file name as given to Load or Parse; "<dev>" for code-built configs
	Line   int    // 1-based line in File; 0 when unknown
	Field  string // yaml path such as "backends[0].servers[1].addr"; may be empty
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Errors is every problem found in one config, in line order. Parse, Load
// and Validate return it as their error; its message has one line per
// problem.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *Error values.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortByLine orders errors by line, keeping discovery order within a line.
func (es Errors) sortByLine() {
	slices.SortStableFunc(es, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
}

// orNil returns es as an error, or a nil error when there is nothing in it.
func (es Errors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	es.sortByLine()
	return es
}
