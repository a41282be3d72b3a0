package config

import (
	"errors"
	"strconv"
)

// FieldError is one problem with one config key. Path is the key path, such
// as "cameras[1].onvif.url"; Source and Line locate it in the file when known.
type FieldError struct {
	Source string // file name, "" for configs built in code
	Line   int    // 1-based line, 0 when unknown
	Path   string // key path, "" for the document itself
	Msg    string // what is wrong and what is allowed
	Err    error  // underlying cause, if any
}

// Error formats as "file:line: path: message".
func (e *FieldError) Error() string {
	s := ""
	if e.Source != "" {
		s = e.Source + ":"
		if e.Line > 0 {
			s += strconv.Itoa(e.Line) + ":"
		}
		s += " "
	}
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + e.Msg
}

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors returns every *FieldError inside err, which may be a single
// FieldError or an errors.Join of several, as Parse and Validate return.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if e := errors.Unwrap(err); e != nil {
			walk(e)
		}
	}
	walk(err)
	return out
}
