package conf

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Position is a place in a config file (1-based line and column).
type Position struct {
	Line, Col int
}

// Error is one configuration problem at a place in a file. It prints in
// compiler form, FILE:LINE:COL: message, so that editors can jump to it. Line
// and Col are 1-based; a zero Col (or Line) leaves that part out, for problems
// that have no finer place (a YAML syntax error yaml.v3 reports by line, a
// required block that is missing altogether).
//
// Error is returned by value; errors.As finds it with a target of type *Error
// as well as **Error.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

// Error formats the problem as FILE:LINE:COL: message.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Col))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// As lets errors.As fill a **Error target from an Error value, so callers may
// write either `var e conf.Error` or `var e *conf.Error`.
func (e Error) As(target any) bool {
	if p, ok := target.(**Error); ok {
		c := e
		*p = &c
		return true
	}
	return false
}

// ErrorList is every problem found in a config, sorted by position. Its
// Unwrap exposes each Error to errors.Is and errors.As; use errors.As with an
// *ErrorList target to get them all.
type ErrorList []Error

// Error prints one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems as a []error, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Sort orders the problems by file, line, column; problems at the same place
// keep the order they were found in.
func (l ErrorList) Sort() {
	slices.SortStableFunc(l, func(a, b Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
		)
	})
}

// Append adds err to the list: an ErrorList is flattened, an Error (or
// *Error) found by errors.As is added as it is, and any other error is added
// without a position, under file. A nil err leaves the list unchanged.
func (l ErrorList) Append(file string, err error) ErrorList {
	if err == nil {
		return l
	}
	var list ErrorList
	if errors.As(err, &list) {
		return append(l, list...)
	}
	var e *Error
	if errors.As(err, &e) {
		return append(l, *e)
	}
	return append(l, Error{File: file, Msg: err.Error()})
}

// Err returns the sorted list as an error, or nil when it is empty (never a
// nil-valued ErrorList inside a non-nil error).
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}
