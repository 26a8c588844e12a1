package ns

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestErrno(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{ErrNotExist, syscall.ENOENT},
		{fmt.Errorf("walk: %w", ErrExist), syscall.EEXIST},
		{&fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, syscall.EACCES},
		{errors.New("directory not empty"), syscall.ENOTEMPTY}, // text from the wire
		{ErrClosed, syscall.EIO},
		{syscall.ENOSPC, syscall.ENOSPC},
		{errors.New("something else"), syscall.EIO},
	} {
		if got := Errno(tt.err); got != tt.want {
			t.Errorf("Errno(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

func TestLinuxOpenMode(t *testing.T) {
	for _, tt := range []struct {
		flags uint32
		want  uint8
		ok    bool
	}{
		{syscall.O_RDONLY, OREAD, true},
		{syscall.O_WRONLY | syscall.O_TRUNC, OWRITE | OTRUNC, true},
		{syscall.O_RDWR | syscall.O_CREAT | syscall.O_APPEND, ORDWR, true},
		{3, 0, false},
	} {
		got, err := LinuxOpenMode(tt.flags)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("LinuxOpenMode(%#x) = %#x, %v; want %#x, ok %v", tt.flags, got, err, tt.want, tt.ok)
		}
	}
}
