package onnx

import (
	"errors"
	"fmt"
)

// ErrBadInput matches (with errors.Is) every error caused by a malformed or
// unsafe model file, as opposed to a failure of the machine (I/O, memory).
// The command line maps it to exit code 2.
var ErrBadInput = errors.New("bad ONNX input")

// InputError says what is wrong with a model file and where.
type InputError struct {
	File  string // the model file, "" when decoding bytes with no file name
	Where string // the offending entity, e.g. `tensor "w"` or `node "conv1"`; "" for the whole file
	Err   error
}

func (e *InputError) Error() string {
	msg := e.Err.Error()
	if e.Where != "" {
		msg = e.Where + ": " + msg
	}
	if e.File != "" {
		msg = e.File + ": " + msg
	}
	return msg
}

func (e *InputError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadInput) true for every InputError.
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

func badInput(where string, format string, args ...any) *InputError {
	return &InputError{Where: where, Err: fmt.Errorf(format, args...)}
}

// inFile attaches the file name to an InputError, leaving other errors as they are.
func inFile(file string, err error) error {
	var ie *InputError
	if errors.As(err, &ie) && ie.File == "" {
		c := *ie
		c.File = file
		return &c
	}
	return err
}

func tensorWhere(name string) string { return fmt.Sprintf("tensor %q", name) }
