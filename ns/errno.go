package ns

import (
	"context"
	"errors"
	"io/fs"
	"syscall"
)

// Where only a Linux errno fits (the 9P2000.L wire, a FUSE reply), the
// seam's errors become the errno a Linux program expects for the same
// failure. This is the one table; both edges use it.
var errnos = map[*Error]syscall.Errno{
	ErrNotExist:   syscall.ENOENT,
	ErrPerm:       syscall.EACCES,
	ErrExist:      syscall.EEXIST,
	ErrNotDir:     syscall.ENOTDIR,
	ErrIsDir:      syscall.EISDIR,
	ErrNotEmpty:   syscall.ENOTEMPTY,
	ErrInvalid:    syscall.EINVAL,
	ErrBadOffset:  syscall.EINVAL,
	ErrBadMode:    syscall.EINVAL,
	ErrBadName:    syscall.EINVAL,
	ErrNotOpen:    syscall.EBADF,
	ErrOpen:       syscall.EBUSY,
	ErrInUse:      syscall.EBUSY,
	ErrCrossDev:   syscall.EXDEV,
	ErrNoCreate:   syscall.EACCES,
	ErrNotSupp:    syscall.EOPNOTSUPP,
	ErrNameTooBig: syscall.ENAMETOOLONG,
	ErrInterrupt:  syscall.EINTR,
	// A hung-up channel is an I/O error to the program: EPIPE would
	// raise SIGPIPE in a writer that has done nothing wrong.
	ErrClosed: syscall.EIO,
}

// Errno gives the Linux errno that stands for err: the table's for the
// seam's errors, err itself when it is an errno already (a host file
// server's), the io/fs sentinels' meaning, and EIO for the rest. An error
// that crossed 9P2000 as text is matched by its text. Errno(nil) is 0.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		if n, ok := errnos[e]; ok {
			return n
		}
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return se
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, fs.ErrClosed):
		return syscall.EIO
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	}
	if errors.As(ErrorString(err.Error()), &e) {
		return errnos[e]
	}
	return syscall.EIO
}

// fromErrnos is errnos the other way: the seam's error for the errno of a
// host call or of a 9P2000.L wire, so that errors.Is(err, fs.ErrNotExist)
// holds as for any other file server.
var fromErrnos = map[syscall.Errno]*Error{
	syscall.ENOENT:       ErrNotExist,
	syscall.EACCES:       ErrPerm,
	syscall.EPERM:        ErrPerm,
	syscall.EROFS:        ErrPerm,
	syscall.EEXIST:       ErrExist,
	syscall.ENOTDIR:      ErrNotDir,
	syscall.EISDIR:       ErrIsDir,
	syscall.ENOTEMPTY:    ErrNotEmpty,
	syscall.EINVAL:       ErrInvalid,
	syscall.EBUSY:        ErrInUse,
	syscall.EXDEV:        ErrCrossDev,
	syscall.EOPNOTSUPP:   ErrNotSupp,
	syscall.ENOSYS:       ErrNotSupp,
	syscall.ENAMETOOLONG: ErrNameTooBig,
	syscall.EINTR:        ErrInterrupt,
	syscall.EPIPE:        ErrClosed,
	syscall.EBADF:        ErrNotOpen,
}

// FromErrno gives the seam's error that stands for the Linux errno e,
// and whether there is one.
func FromErrno(e syscall.Errno) (*Error, bool) {
	err, ok := fromErrnos[e]
	return err, ok
}

// Linux's open(2) flags that mean something to the seam.
const (
	linuxOAccMode = 0x3
	linuxOTrunc   = 0x200
)

// LinuxOpenMode gives the seam's open mode for open(2)'s flags: the
// access mode and O_TRUNC; the other flags have no 9P meaning.
func LinuxOpenMode(flags uint32) (uint8, error) {
	var mode uint8
	switch flags & linuxOAccMode {
	case 0: // O_RDONLY
		mode = OREAD
	case 1: // O_WRONLY
		mode = OWRITE
	case 2: // O_RDWR
		mode = ORDWR
	default:
		return 0, ErrBadMode
	}
	if flags&linuxOTrunc != 0 {
		mode |= OTRUNC
	}
	return mode, nil
}
