package ns

import (
	"context"
	"errors"
	"io/fs"
)

// Error is an error with Plan 9's text that also answers errors.Is for the
// io/fs sentinel of the same meaning, so that a caller may test
// errors.Is(err, fs.ErrNotExist) whether the error came from a local
// component or, as a string, over 9P.
type Error struct {
	msg string
	is  error
}

func (e *Error) Error() string { return e.msg }

// Is reports whether target is e itself or the io/fs sentinel e stands for.
func (e *Error) Is(target error) bool { return e.is != nil && target == e.is }

// The errors of the seam. The strings are Plan 9's.
var (
	ErrNotExist   = &Error{"file does not exist", fs.ErrNotExist}
	ErrPerm       = &Error{"permission denied", fs.ErrPermission}
	ErrExist      = &Error{"file already exists", fs.ErrExist}
	ErrInvalid    = &Error{"bad arg in system call", fs.ErrInvalid}
	ErrClosed     = &Error{"i/o on hungup channel", fs.ErrClosed}
	ErrNotDir     = &Error{"not a directory", nil}
	ErrIsDir      = &Error{"is a directory", nil}
	ErrNotEmpty   = &Error{"directory not empty", nil}
	ErrBadOffset  = &Error{"bad offset in directory read", nil}
	ErrNotOpen    = &Error{"file not open", nil}
	ErrOpen       = &Error{"file already open", nil}
	ErrBadMode    = &Error{"bad open mode", nil}
	ErrBadName    = &Error{"bad character in file name", nil}
	ErrNoCreate   = &Error{"mounted directory forbids creation", nil}
	ErrNotSupp    = &Error{"operation not supported", nil}
	ErrInterrupt  = &Error{"interrupted", context.Canceled}
	ErrInUse      = &Error{"file in use", nil}
	ErrCrossDev   = &Error{"rename across directories", nil}
	ErrNameTooBig = &Error{"file name too long", nil}
)

var known = map[string]*Error{}

func init() {
	for _, e := range []*Error{
		ErrNotExist, ErrPerm, ErrExist, ErrInvalid, ErrClosed, ErrNotDir,
		ErrIsDir, ErrNotEmpty, ErrBadOffset, ErrNotOpen, ErrOpen, ErrBadMode,
		ErrBadName, ErrNoCreate, ErrNotSupp, ErrInterrupt, ErrInUse,
		ErrCrossDev, ErrNameTooBig,
	} {
		known[e.msg] = e
	}
}

// ErrorString turns an error's text, as a 9P Rerror carries it, back into
// an error: one of the values above when the text is theirs, so that
// errors.Is still works after a trip over the wire.
func ErrorString(s string) error {
	if e, ok := known[s]; ok {
		return e
	}
	return errors.New(s)
}

// ErrorText gives the text that stands for err on the wire.
func ErrorText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.msg
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotExist.msg
	case errors.Is(err, fs.ErrPermission):
		return ErrPerm.msg
	case errors.Is(err, fs.ErrExist):
		return ErrExist.msg
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrInterrupt.msg
	}
	return err.Error()
}
