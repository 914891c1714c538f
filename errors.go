package onnxcompress

import (
	"errors"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/runtime"
)

// ErrBadInput matches (with errors.Is) every error this package returns
// because of what it was given rather than of something going wrong while
// working: a malformed model or data file, an op the runtime lacks, an
// impossible rank, bad options. The command line exits with status 2 on
// these and 1 on the rest.
var ErrBadInput = errors.New("bad input")

// badInputError marks err as bad input without changing its message.
type badInputError struct{ err error }

func (e badInputError) Error() string        { return e.err.Error() }
func (e badInputError) Unwrap() error        { return e.err }
func (e badInputError) Is(target error) bool { return target == ErrBadInput }

func badInput(err error) error {
	if err == nil || IsBadInput(err) {
		return err
	}
	return badInputError{err}
}

// IsBadInput reports whether err is bad input (see ErrBadInput), including
// the packages' own kinds: a malformed model, bad fine-tuning options, an op
// the runtime does not support, a compression request that cannot be met.
func IsBadInput(err error) bool {
	var usage *rewrite.UsageError
	return errors.Is(err, ErrBadInput) || errors.Is(err, onnx.ErrBadInput) || errors.Is(err, finetune.ErrBadOptions) ||
		errors.Is(err, runtime.ErrUnsupported) || errors.As(err, &usage)
}
