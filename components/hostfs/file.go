package hostfs

import (
	"context"
	"io"
	"math"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"loom/ns"
)

// file is a File of an FS: a node, and once open a descriptor for I/O.
type file struct {
	fs *FS
	n  *node

	open   bool
	mode   uint8
	rclose bool
	io     int       // an open regular file's descriptor; -1 otherwise
	d      *dirState // an open directory's listing
}

var (
	_ ns.File    = (*file)(nil)
	_ ns.Creater = (*file)(nil)
	_ ns.Remover = (*file)(nil)
	_ ns.Wstater = (*file)(nil)
)

// dirState is an open directory's listing: the names read from the host
// at the last ReadDir from index 0, and a cursor into them, so that a
// reader going on in order costs one stat per entry.
type dirState struct {
	mu    sync.Mutex
	f     *os.File
	names []string
	pos   int // the index in names of the next name to look at
	next  int // the index, among the entries given, of the next to give
}

func (f *file) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	if f.open {
		return nil, nil, ns.ErrOpen
	}
	n := f.n
	n.incref()
	qids := make([]ns.Qid, 0, len(names))
	var st unix.Stat_t
	for _, name := range names {
		var next *node
		var err error
		if name == ".." && !n.dir {
			err = ns.ErrNotDir
		} else if name == ".." {
			next = n.parent
			if next == nil {
				next = n // the root is its own parent
			}
			next.incref()
			if e := unix.Fstat(next.fd, &st); e != nil {
				err = mapErr(e)
			}
		} else {
			next, err = f.fs.step(n, name, &st)
		}
		if err != nil {
			if next != nil {
				next.decref()
			}
			n.decref()
			if len(qids) == 0 {
				return nil, nil, err
			}
			return qids, nil, nil
		}
		n.decref()
		n = next
		qids = append(qids, f.fs.qid(&st))
	}
	return qids, &file{fs: f.fs, n: n, io: -1}, nil
}

const openFlags = 3 | ns.OTRUNC | ns.ORCLOSE | ns.OCEXEC

// hostFlags gives the open(2) flags of a Plan 9 open mode.
func hostFlags(mode uint8) int {
	var fl int
	switch mode & 3 {
	case ns.OREAD, ns.OEXEC:
		fl = unix.O_RDONLY
	case ns.OWRITE:
		fl = unix.O_WRONLY
	case ns.ORDWR:
		fl = unix.O_RDWR
	}
	if mode&ns.OTRUNC != 0 {
		fl |= unix.O_TRUNC
		if fl&3 == unix.O_RDONLY {
			// Truncating asks for write permission, as in Plan 9;
			// Read still refuses nothing and Write still checks
			// the mode asked for.
			fl = fl&^3 | unix.O_RDWR
		}
	}
	return fl
}

// writes reports whether the open mode changes the file.
func writes(mode uint8) bool {
	a := mode & 3
	return a == ns.OWRITE || a == ns.ORDWR || mode&ns.OTRUNC != 0
}

func (f *file) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	if f.open {
		return ns.Qid{}, ns.ErrOpen
	}
	if mode&^openFlags != 0 {
		return ns.Qid{}, ns.ErrBadMode
	}
	if f.fs.readOnly && (writes(mode) || mode&ns.ORCLOSE != 0) {
		return ns.Qid{}, ns.ErrPerm
	}
	if mode&ns.ORCLOSE != 0 && f.n.parent == nil {
		return ns.Qid{}, ns.ErrPerm
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.n.fd, &st); err != nil {
		return ns.Qid{}, mapErr(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if writes(mode) {
			return ns.Qid{}, ns.ErrIsDir
		}
		fd, err := f.fs.reopen(f.n.fd, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return ns.Qid{}, err
		}
		f.d = &dirState{f: os.NewFile(uintptr(fd), f.n.getName())}
	case unix.S_IFREG:
		fd, err := f.fs.reopen(f.n.fd, hostFlags(mode))
		if err != nil {
			return ns.Qid{}, err
		}
		f.io = fd
		if mode&ns.OTRUNC != 0 {
			unix.Fstat(fd, &st)
		}
	default:
		// A device node would lead out of the root; a pipe would
		// block the server.
		return ns.Qid{}, ns.ErrPerm
	}
	f.open, f.mode, f.rclose = true, mode, mode&ns.ORCLOSE != 0
	return f.fs.qid(&st), nil
}

// canIO checks that f is open on a regular file for reading (or, with
// write, writing).
func (f *file) canIO(write bool) error {
	switch {
	case f.d != nil:
		return ns.ErrIsDir
	case f.io < 0:
		return ns.ErrNotOpen
	case write && !writes(f.mode&3), !write && f.mode&3 == ns.OWRITE:
		return ns.ErrBadMode
	}
	return nil
}

func (f *file) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.canIO(false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ns.ErrInvalid
	}
	for {
		n, err := unix.Pread(f.io, p, off)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, mapErr(err)
		}
		return n, nil
	}
}

func (f *file) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.canIO(true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ns.ErrInvalid
	}
	done := 0
	for done < len(p) {
		n, err := unix.Pwrite(f.io, p[done:], off+int64(done))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return done, mapErr(err)
		case n == 0:
			return done, io.ErrShortWrite
		}
		done += n
	}
	return done, nil
}

func (f *file) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	switch {
	case f.d == nil && f.io >= 0:
		return nil, ns.ErrNotDir
	case f.d == nil:
		return nil, ns.ErrNotOpen
	case index < 0 || n < 0:
		return nil, ns.ErrBadOffset
	}
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if index == 0 || d.names == nil {
		// A fresh look at the host's directory.
		if _, err := d.f.Seek(0, io.SeekStart); err != nil {
			return nil, mapErr(err)
		}
		names, err := d.f.Readdirnames(-1)
		if err != nil {
			return nil, mapErr(err)
		}
		d.names, d.pos, d.next = names, 0, 0
	}
	if index < d.next {
		d.pos, d.next = 0, 0
	}
	var out []ns.Dir
	for d.pos < len(d.names) && len(out) < n {
		name := d.names[d.pos]
		d.pos++
		e, ok := f.fs.entry(f.n, name)
		if !ok {
			continue
		}
		if d.next >= index {
			out = append(out, e)
		}
		d.next++
	}
	return out, nil
}

// entry gives the Dir of the entry name of the directory n as a walk to
// it would see it (through a link), or false when a walk would fail.
func (fs *FS) entry(n *node, name string) (ns.Dir, bool) {
	var st unix.Stat_t
	if err := unix.Fstatat(n.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return ns.Dir{}, false // gone since the listing
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		fd, err := fs.follow(n, name)
		if err != nil {
			return ns.Dir{}, false
		}
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err != nil {
			return ns.Dir{}, false
		}
	}
	return fs.dir(&st, name), true
}

func (f *file) Stat(ctx context.Context) (ns.Dir, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.n.fd, &st); err != nil {
		return ns.Dir{}, mapErr(err)
	}
	return f.fs.dir(&st, f.n.getName()), nil
}

func (f *file) Clunk() error {
	if f.io >= 0 {
		unix.Close(f.io)
		f.io = -1
	}
	if f.d != nil {
		f.d.f.Close()
	}
	var err error
	if f.rclose {
		err = f.remove()
	}
	f.n.decref()
	return err
}

func (f *file) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	switch {
	case f.open:
		return nil, ns.Qid{}, ns.ErrOpen
	case f.fs.readOnly:
		return nil, ns.Qid{}, ns.ErrPerm
	case !validName(name):
		return nil, ns.Qid{}, ns.ErrBadName
	case mode&^openFlags != 0:
		return nil, ns.Qid{}, ns.ErrBadMode
	case perm&^(ns.DMDIR|0777) != 0:
		// Append-only, exclusive-use and temporary files have no
		// host counterpart; better refused than silently plain.
		return nil, ns.Qid{}, ns.ErrNotSupp
	case perm.IsDir() && writes(mode):
		return nil, ns.Qid{}, ns.ErrIsDir
	case !f.n.dir:
		return nil, ns.Qid{}, ns.ErrNotDir
	}
	d := f.n
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return nil, ns.Qid{}, mapErr(err)
	}
	// Plan 9's modes, not the server's umask.
	if perm.IsDir() {
		perm &= ^ns.Perm(0777) | ns.Perm(st.Mode&0777)
	} else {
		perm &= ^ns.Perm(0666) | ns.Perm(st.Mode&0666)
	}
	nf := &file{fs: f.fs, io: -1, open: true, mode: mode, rclose: mode&ns.ORCLOSE != 0}
	if perm.IsDir() {
		if err := unix.Mkdirat(d.fd, name, 0700); err != nil {
			return nil, ns.Qid{}, mapErr(err)
		}
		fd, err := f.fs.openEntry(d, name, &st)
		if err != nil {
			return nil, ns.Qid{}, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(fd) // swapped under us
			return nil, ns.Qid{}, ns.ErrExist
		}
		nf.n = newNode(d, name, fd, &st, st.Dev, st.Ino, false)
		if err := f.fs.chmod(fd, uint32(perm&0777)); err != nil {
			nf.n.decref()
			return nil, ns.Qid{}, err
		}
		dfd, err := f.fs.reopen(fd, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			nf.n.decref()
			return nil, ns.Qid{}, err
		}
		nf.d = &dirState{f: os.NewFile(uintptr(dfd), name)}
	} else {
		// O_EXCL makes a link in the way an error rather than a
		// way through.
		fd, err := openat2(d.fd, name, &unix.OpenHow{
			Flags:   uint64(hostFlags(mode) | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC),
			Mode:    0600,
			Resolve: resolveFlags,
		})
		if err != nil {
			return nil, ns.Qid{}, mapErr(err)
		}
		nf.io = fd
		pfd, err := f.fs.reopen(fd, unix.O_PATH)
		if err == nil {
			err = mapErr(unix.Fchmod(fd, uint32(perm&0777)))
		}
		if err == nil {
			err = mapErr(unix.Fstat(fd, &st))
		}
		if err != nil {
			unix.Close(fd)
			if pfd >= 0 {
				unix.Close(pfd)
			}
			unix.Unlinkat(d.fd, name, 0)
			return nil, ns.Qid{}, err
		}
		nf.n = newNode(d, name, pfd, &st, st.Dev, st.Ino, false)
	}
	unix.Fstat(nf.n.fd, &st)
	return nf, f.fs.qid(&st), nil
}

// chmod sets the permission bits of the inode held by the O_PATH
// descriptor fd.
func (fs *FS) chmod(fd int, mode uint32) error {
	return mapErr(unix.Fchmodat(fs.procFd, strconv.Itoa(fd), mode, 0))
}

func (f *file) Remove(ctx context.Context) error {
	if f.fs.readOnly {
		return ns.ErrPerm
	}
	f.rclose = false
	return f.remove()
}

// remove unlinks the entry f was walked through.
func (f *file) remove() error {
	n := f.n
	if n.parent == nil {
		return ns.ErrPerm
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := f.fs.sameEntry(n); err != nil {
		return err
	}
	flags := 0
	if n.dir && !n.link {
		flags = unix.AT_REMOVEDIR
	}
	return mapErr(unix.Unlinkat(n.parent.fd, n.name, flags))
}

// sameEntry checks that n's name in its parent still names the entry n
// was walked through. The caller holds n.mu.
func (fs *FS) sameEntry(n *node) error {
	var st unix.Stat_t
	if err := unix.Fstatat(n.parent.fd, n.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return mapErr(err)
	}
	if st.Dev != n.entDev || st.Ino != n.entIno {
		return ns.ErrNotExist
	}
	return nil
}

func (f *file) Wstat(ctx context.Context, d ns.Dir) error {
	n := f.n
	var st unix.Stat_t
	if err := unix.Fstat(n.fd, &st); err != nil {
		return mapErr(err)
	}
	cur := f.fs.dir(&st, n.getName())
	// A field given with its current value is no change, so that a
	// client may write back a whole Dir it stat'ed with one field
	// altered. Qid.Vers and Qid.Type move on their own and are ignored.
	switch {
	case d.Type != ns.NoTouch16 && d.Type != 0,
		d.Dev != ns.NoTouch32 && d.Dev != 0,
		d.Qid.Path != ns.NoTouch64 && d.Qid.Path != cur.Qid.Path,
		d.Uid != "" && d.Uid != cur.Uid,
		d.Muid != "" && d.Muid != cur.Muid:
		return ns.ErrPerm
	}
	rename := d.Name != "" && d.Name != cur.Name
	mode := d.Mode != ns.Perm(ns.NoTouch32) && d.Mode != cur.Mode
	gid := d.Gid != "" && d.Gid != cur.Gid
	length := d.Length != ns.NoTouch64 && d.Length != cur.Length
	atime := d.Atime != ns.NoTouch32 && d.Atime != cur.Atime
	mtime := d.Mtime != ns.NoTouch32 && d.Mtime != cur.Mtime
	if !rename && !mode && !gid && !length && !atime && !mtime {
		return nil
	}
	if f.fs.readOnly {
		return ns.ErrPerm
	}
	// Check everything before changing anything.
	if mode {
		if (d.Mode^cur.Mode)&ns.DMDIR != 0 {
			return ns.ErrInvalid
		}
		if d.Mode&^(ns.DMDIR|0777) != 0 {
			return ns.ErrNotSupp
		}
	}
	if length {
		switch {
		case n.dir:
			return ns.ErrIsDir
		case d.Length > math.MaxInt64:
			return ns.ErrInvalid
		}
	}
	var gidN int
	if gid {
		var err error
		if gidN, err = groupID(d.Gid); err != nil {
			return err
		}
	}
	if rename {
		switch {
		case !validName(d.Name):
			return ns.ErrBadName
		case n.parent == nil:
			return ns.ErrPerm
		}
	}

	// Renaming is the change most likely to fail (the name is taken), so
	// it goes first, and is undone if a later change fails.
	undo := func() {}
	if rename {
		n.mu.Lock()
		old := n.name
		err := f.fs.sameEntry(n)
		if err == nil {
			err = renameNoReplace(n.parent.fd, old, d.Name)
		}
		if err != nil {
			n.mu.Unlock()
			return err
		}
		n.name = d.Name
		n.mu.Unlock()
		undo = func() {
			n.mu.Lock()
			if renameNoReplace(n.parent.fd, d.Name, old) == nil {
				n.name = old
			}
			n.mu.Unlock()
		}
	}
	fdName := strconv.Itoa(n.fd)
	fail := func(err error) error {
		undo()
		return mapErr(err)
	}
	if mode {
		// The host's set-id and sticky bits, which a Plan 9 mode
		// cannot show, are kept.
		if err := unix.Fchmodat(f.fs.procFd, fdName, st.Mode&07000|uint32(d.Mode&0777), 0); err != nil {
			return fail(err)
		}
	}
	if gid {
		if err := unix.Fchownat(f.fs.procFd, fdName, -1, gidN, 0); err != nil {
			return fail(err)
		}
	}
	if length {
		fd, err := f.fs.reopen(n.fd, unix.O_WRONLY)
		if err != nil {
			undo()
			return err
		}
		err = unix.Ftruncate(fd, int64(d.Length))
		unix.Close(fd)
		if err != nil {
			return fail(err)
		}
	}
	if atime || mtime {
		// After the truncation, which would move mtime.
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if atime {
			ts[0] = unix.Timespec{Sec: int64(d.Atime)}
		}
		if mtime {
			ts[1] = unix.Timespec{Sec: int64(d.Mtime)}
		}
		if err := unix.UtimesNanoAt(f.fs.procFd, fdName, ts, 0); err != nil {
			return fail(err)
		}
	}
	return nil
}

// renameNoReplace renames old to new in the directory dirfd, failing if
// new exists.
func renameNoReplace(dirfd int, old, new string) error {
	err := unix.Renameat2(dirfd, old, dirfd, new, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		// A file system without RENAME_NOREPLACE: check first. The
		// race left is one of clobbering a name in the same
		// directory, never of leaving it.
		var st unix.Stat_t
		if unix.Fstatat(dirfd, new, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return ns.ErrExist
		}
		err = unix.Renameat(dirfd, old, dirfd, new)
	}
	return mapErr(err)
}
