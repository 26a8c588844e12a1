package ns

import (
	"fmt"
	"time"
)

// Qid is a server's unique identification of a file: the same file has the
// same Path for as long as it exists, and Vers changes whenever it changes.
type Qid struct {
	Path uint64
	Vers uint32
	Type uint8 // QTDIR, QTAPPEND, ...: the high byte of the file's Perm
}

// Qid types, as in Plan 9's intro(5).
const (
	QTDIR     = 0x80
	QTAPPEND  = 0x40
	QTEXCL    = 0x20
	QTMOUNT   = 0x10
	QTAUTH    = 0x08
	QTTMP     = 0x04
	QTSYMLINK = 0x02
	QTFILE    = 0x00
)

func (q Qid) String() string {
	t := ""
	if q.Type&QTDIR != 0 {
		t += "d"
	}
	if q.Type&QTAPPEND != 0 {
		t += "a"
	}
	if q.Type&QTEXCL != 0 {
		t += "l"
	}
	if q.Type&QTAUTH != 0 {
		t += "A"
	}
	if q.Type&QTTMP != 0 {
		t += "t"
	}
	return fmt.Sprintf("(%.16x %d %q)", q.Path, q.Vers, t)
}

// IsDir reports whether q names a directory.
func (q Qid) IsDir() bool { return q.Type&QTDIR != 0 }

// Perm is a file's mode: permission bits and the DM flags.
type Perm uint32

// Mode bits, as in Plan 9's stat(5).
const (
	DMDIR    Perm = 0x80000000
	DMAPPEND Perm = 0x40000000
	DMEXCL   Perm = 0x20000000
	DMMOUNT  Perm = 0x10000000
	DMAUTH   Perm = 0x08000000
	DMTMP    Perm = 0x04000000
	DMREAD   Perm = 0x4
	DMWRITE  Perm = 0x2
	DMEXEC   Perm = 0x1
)

// QidType returns the Qid type that goes with the mode p.
func (p Perm) QidType() uint8 { return uint8(p >> 24) }

// IsDir reports whether p is a directory's mode.
func (p Perm) IsDir() bool { return p&DMDIR != 0 }

// String gives p as ls(1) shows it: "d-rwxr-xr-x", "a-rw-r--r--", ...
func (p Perm) String() string {
	b := []byte("-----------")
	switch {
	case p&DMDIR != 0:
		b[0] = 'd'
	case p&DMAPPEND != 0:
		b[0] = 'a'
	}
	if p&DMEXCL != 0 {
		b[1] = 'l'
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if p&(1<<(8-i)) != 0 {
			b[2+i] = rwx[i]
		}
	}
	return string(b)
}

// Open modes, as in Plan 9's open(5). The low two bits are the access;
// the others are flags.
const (
	OREAD   = 0
	OWRITE  = 1
	ORDWR   = 2
	OEXEC   = 3
	OTRUNC  = 0x10
	OCEXEC  = 0x20
	ORCLOSE = 0x40
)

// Dir is a file's metadata, as in Plan 9's stat(5).
type Dir struct {
	Type   uint16
	Dev    uint32
	Qid    Qid
	Mode   Perm
	Atime  uint32 // seconds since the epoch
	Mtime  uint32
	Length uint64
	Name   string
	Uid    string
	Gid    string
	Muid   string
}

// Don't-touch values for a Wstat: a Dir whose field has this value asks for
// no change to that field (stat(5)). Strings use "".
const (
	NoTouch16 = ^uint16(0)
	NoTouch32 = ^uint32(0)
	NoTouch64 = ^uint64(0)
)

// NullDir returns a Dir that changes nothing when given to WStat; set the
// fields to change.
func NullDir() Dir {
	return Dir{
		Type:   NoTouch16,
		Dev:    NoTouch32,
		Qid:    Qid{Path: NoTouch64, Vers: NoTouch32, Type: ^uint8(0)},
		Mode:   Perm(NoTouch32),
		Atime:  NoTouch32,
		Mtime:  NoTouch32,
		Length: NoTouch64,
	}
}

// ModTime returns d.Mtime as a time.Time.
func (d *Dir) ModTime() time.Time { return time.Unix(int64(d.Mtime), 0) }

func (d Dir) String() string {
	return fmt.Sprintf("'%s' '%s' '%s' '%s' q %v m %#o at %d mt %d l %d t %d d %d",
		d.Name, d.Uid, d.Gid, d.Muid, d.Qid, uint32(d.Mode),
		d.Atime, d.Mtime, d.Length, d.Type, d.Dev)
}
