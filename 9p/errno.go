package ninep

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/hugelgupf/p9/linux"

	"loom/ns"
)

// loom's errors carry Plan 9's strings everywhere but at the 9P2000.L
// edge, where the wire has room only for a Linux errno. ns holds the
// tables, one for each direction; these are that edge.

// toErrno gives the errno that stands for err on a 9P2000.L wire (see
// ns.Errno).
func toErrno(err error) linux.Errno {
	var le linux.Errno
	if errors.As(err, &le) {
		return le
	}
	return linux.Errno(ns.Errno(err))
}

// fromErrno gives the seam's error for an errno that came over the wire
// (ns.FromErrno); an errno without one becomes an error with the errno's
// own text.
func fromErrno(e linux.Errno) error {
	if err, ok := ns.FromErrno(syscall.Errno(e)); ok {
		return err
	}
	return errors.New(e.Error())
}

// hungup wraps an error of the connection itself (not one the server
// answered with) so that it reads as ns.ErrClosed on the far side of a
// namespace yet keeps its detail here.
func hungup(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", ns.ErrClosed, err)
}

// foreignErrors maps what other 9P2000 servers say, in their own words,
// to the seam's errors, so that errors.Is works against them too.
var foreignErrors = map[string]*ns.Error{
	"file not found":            ns.ErrNotExist, // 9fans.net/go/plan9/srv9p
	"no such file or directory": ns.ErrNotExist, // servers of Unix files
	"file exists":               ns.ErrExist,
	"operation not permitted":   ns.ErrPerm,
	"read-only file system":     ns.ErrPerm,
	"not a directory":           ns.ErrNotDir,
	"is a directory":            ns.ErrIsDir,
	"directory not empty":       ns.ErrNotEmpty,
	"invalid argument":          ns.ErrInvalid,
}

// remoteError is an error a server sent in words of its own that mean
// one of the seam's errors: it keeps the words and unwraps to the error.
type remoteError struct {
	msg string
	err *ns.Error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// errorText turns the text of an Rerror into an error: the seam's own
// error when the text is loom's, one that unwraps to it when the text
// is another server's way of saying the same, and the bare text if not.
func errorText(s string) error {
	err := ns.ErrorString(s)
	if _, ok := err.(*ns.Error); ok {
		return err
	}
	if e, ok := foreignErrors[strings.ToLower(s)]; ok {
		return &remoteError{s, e}
	}
	return err
}
