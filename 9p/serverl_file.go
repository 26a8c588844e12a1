package ninep

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hugelgupf/p9/fsimpl/templatefs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"loom/ns"
)

// Linux flags that reach the file server through 9P2000.L.
const (
	linuxOTRUNC      = 0x200 // open(2)'s O_TRUNC
	linuxOEXCL       = 0x80  // open(2)'s O_EXCL
	linuxATREMOVEDIR = 0x200 // unlinkat(2)'s AT_REMOVEDIR
)

// lfile is a p9.File over an ns.File: the node a 9P2000.L fid points at.
//
// The library promises less exclusion than the seam asks for: it may
// walk, stat and open one node at once ("read" guarantee), while an
// ns.File allows concurrent calls only to Read, Write, ReadDir and Stat
// of an open File. mu restores the seam's rule for everything else;
// reads and writes of an open file do not take it, so that a read that
// blocks (a pipe, a log) holds up nothing but itself.
type lfile struct {
	p9.DefaultWalkGetAttr
	templatefs.XattrUnimplemented
	templatefs.NotLockable
	templatefs.NotSymlinkFile
	templatefs.NoopRenamed

	lc   *lconn
	f    ns.File
	qid  ns.Qid // as walked to; Path and Type do not change
	mu   sync.Mutex
	open atomic.Bool

	// A Treaddir asks for as many entries as fit in a byte count; the
	// ones read from the file server that did not fit wait here for
	// the next Treaddir, which starts where the last one ended.
	dmu    sync.Mutex
	dirAt  int // index of dirBuf[0]
	dirBuf []ns.Dir
}

var _ p9.File = (*lfile)(nil)

func newLfile(lc *lconn, f ns.File, q ns.Qid) *lfile {
	return &lfile{lc: lc, f: f, qid: q}
}

func toQID(q ns.Qid) p9.QID {
	return p9.QID{Type: p9.QIDType(q.Type), Version: q.Vers, Path: q.Path}
}

func fromQID(q p9.QID) ns.Qid {
	return ns.Qid{Type: uint8(q.Type), Vers: q.Version, Path: q.Path}
}

// Walk walks to names: the library asks for none (a clone) or one.
func (l *lfile) Walk(names []string) ([]p9.QID, p9.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	qids, nf, err := l.f.Walk(l.lc.ctx, names)
	if err != nil {
		return nil, nil, toErrno(err)
	}
	if nf == nil {
		return nil, nil, linux.ENOENT
	}
	q := l.qid
	if len(qids) > 0 {
		q = qids[len(qids)-1]
	}
	pq := make([]p9.QID, len(qids))
	for i, q := range qids {
		pq[i] = toQID(q)
	}
	return pq, newLfile(l.lc, nf, q), nil
}

// stat stats the file, under mu unless it is open.
func (l *lfile) stat() (ns.Dir, error) {
	if !l.open.Load() {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	return l.f.Stat(l.lc.ctx)
}

// GetAttr gives the file's attributes. Owners become numbers as idMap
// says; ctime, which loom does not keep, is the mtime.
func (l *lfile) GetAttr(req p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	d, err := l.stat()
	if err != nil {
		return p9.QID{}, p9.AttrMask{}, p9.Attr{}, toErrno(err)
	}
	qid, valid, attr := l.lc.attr(d)
	return qid, valid, attr, nil
}

func (lc *lconn) attr(d ns.Dir) (p9.QID, p9.AttrMask, p9.Attr) {
	mode := p9.FileMode(d.Mode & 0777)
	nlink := p9.NLink(1)
	if d.Mode&ns.DMDIR != 0 {
		mode |= p9.ModeDirectory
		nlink = 2
	} else {
		mode |= p9.ModeRegular
	}
	a := p9.Attr{
		Mode:         mode,
		UID:          p9.UID(lc.ids.userID(d.Uid)),
		GID:          p9.GID(lc.ids.groupID(d.Gid)),
		NLink:        nlink,
		Size:         d.Length,
		BlockSize:    4096,
		Blocks:       (d.Length + 511) / 512,
		ATimeSeconds: uint64(d.Atime),
		MTimeSeconds: uint64(d.Mtime),
		CTimeSeconds: uint64(d.Mtime),
		DataVersion:  uint64(d.Qid.Vers),
	}
	valid := p9.AttrMask{
		Mode: true, NLink: true, UID: true, GID: true, RDev: true,
		ATime: true, MTime: true, CTime: true, INo: true, Size: true,
		Blocks: true, DataVersion: true,
	}
	return toQID(d.Qid), valid, a
}

// SetAttr changes what a Wstat can: size, permission bits, mtime and
// atime, all at once or none. A change of owner is refused unless it is
// no change, or a change of group to the attaching user's own; ctime is
// ignored.
func (l *lfile) SetAttr(valid p9.SetAttrMask, attr p9.SetAttr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx := l.lc.ctx
	w, ok := l.f.(ns.Wstater)
	if !ok {
		return linux.EPERM
	}
	d := ns.NullDir()
	if valid.UID || valid.GID || valid.Permissions {
		cur, err := l.f.Stat(ctx)
		if err != nil {
			return toErrno(err)
		}
		if valid.UID && uint32(attr.UID) != l.lc.ids.userID(cur.Uid) {
			return linux.EPERM
		}
		if valid.GID && uint32(attr.GID) != l.lc.ids.groupID(cur.Gid) {
			if uint32(attr.GID) != l.lc.ids.gid {
				return linux.EPERM
			}
			d.Gid = l.lc.user
		}
		if valid.Permissions {
			d.Mode = cur.Mode&^0777 | ns.Perm(attr.Permissions&0777)
		}
	}
	if valid.Size {
		d.Length = attr.Size
	}
	now := uint32(time.Now().Unix())
	if valid.MTime {
		d.Mtime = now
		if valid.MTimeNotSystemTime {
			d.Mtime = clampTime(attr.MTimeSeconds)
		}
	}
	if valid.ATime {
		d.Atime = now
		if valid.ATimeNotSystemTime {
			d.Atime = clampTime(attr.ATimeSeconds)
		}
	}
	if d == ns.NullDir() {
		return nil
	}
	return errnoOrNil(w.Wstat(ctx, d))
}

// clampTime fits seconds since the epoch into a Dir's 32 bits without
// landing on the don't-touch value.
func clampTime(s uint64) uint32 {
	return uint32(min(s, math.MaxUint32-1))
}

func errnoOrNil(err error) error {
	if err == nil {
		return nil
	}
	return toErrno(err)
}

// Close clunks the file; the library calls it once, when no request
// holds the fid any more.
func (l *lfile) Close() error {
	return errnoOrNil(lsafeClunk(l.lc, l.f))
}

// Open opens the file with the access mode of Linux flags; O_TRUNC
// becomes OTRUNC and the other flags, which the seam has no words for,
// are dropped. The library has already refused to open a directory for
// writing.
func (l *lfile) Open(flags p9.OpenFlags) (p9.QID, uint32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mode, err := openMode(flags)
	if err != nil {
		return p9.QID{}, 0, err
	}
	q, err := l.f.Open(l.lc.ctx, mode)
	if err != nil {
		return p9.QID{}, 0, toErrno(err)
	}
	l.open.Store(true)
	return toQID(q), 0, nil
}

func openMode(flags p9.OpenFlags) (uint8, error) {
	mode, err := ns.LinuxOpenMode(uint32(flags))
	if err != nil {
		return 0, linux.EINVAL
	}
	return mode, nil
}

// ReadAt reads as pread(2); the library has checked that the file is
// open for reading.
func (l *lfile) ReadAt(p []byte, off int64) (int, error) {
	if l.qid.IsDir() {
		return 0, linux.EISDIR
	}
	n, err := l.f.Read(l.lc.ctx, p, off)
	if err != nil && err != io.EOF {
		return n, toErrno(err)
	}
	return n, nil
}

// WriteAt writes as pwrite(2).
func (l *lfile) WriteAt(p []byte, off int64) (int, error) {
	if l.qid.IsDir() {
		return 0, linux.EISDIR
	}
	n, err := l.f.Write(l.lc.ctx, p, off)
	if err != nil {
		return n, toErrno(err)
	}
	return n, nil
}

// direntSize is the room one Dirent takes in an Rreaddir besides its
// name: qid[13] offset[8] type[1] name[s].
const direntSize = 13 + 8 + 1 + 2

// Readdir gives the entries from index offset on that fit in count
// bytes. An entry's Offset is the index of the one after it, which is
// where the client asks to go on from; offset 0 reads afresh.
func (l *lfile) Readdir(offset uint64, count uint32) (p9.Dirents, error) {
	if !l.qid.IsDir() {
		return nil, linux.ENOTDIR
	}
	if offset > math.MaxInt32 {
		return nil, nil
	}
	l.dmu.Lock()
	defer l.dmu.Unlock()
	if offset == 0 {
		l.dirBuf = nil
	}
	var out p9.Dirents
	size := 0
	for i := int(offset); ; i++ {
		if i < l.dirAt || i >= l.dirAt+len(l.dirBuf) {
			ds, err := l.f.ReadDir(l.lc.ctx, i, max(int(count)/(direntSize+8), 1))
			if err != nil {
				if len(out) > 0 {
					return out, nil
				}
				return nil, toErrno(err)
			}
			l.dirAt, l.dirBuf = i, ds
			if len(ds) == 0 {
				return out, nil
			}
		}
		d := l.dirBuf[i-l.dirAt]
		size += direntSize + len(d.Name)
		if size > int(count) {
			return out, nil
		}
		out = append(out, p9.Dirent{
			QID:    toQID(d.Qid),
			Offset: uint64(i + 1),
			Type:   p9.QIDType(d.Qid.Type),
			Name:   d.Name,
		})
	}
}

// StatFS reports a file system with room to spare: loom's servers keep
// no such accounts, and programs such as df and cp only need numbers
// that make sense.
func (l *lfile) StatFS() (p9.FSStat, error) {
	return p9.FSStat{
		Type:            0x01021997, // V9FS_MAGIC, as statfs(2) reports a v9fs mount
		BlockSize:       4096,
		Blocks:          1 << 24,
		BlocksFree:      1 << 24,
		BlocksAvailable: 1 << 24,
		Files:           1 << 20,
		FilesFree:       1 << 20,
		NameLength:      255,
	}, nil
}

// FSync does nothing: loom's servers have no cache to flush.
func (l *lfile) FSync() error { return nil }

// Create makes and opens a regular file. The uid and gid a client asks
// for are those of the attaching user whatever they say.
func (l *lfile) Create(name string, flags p9.OpenFlags, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.File, p9.QID, uint32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cr, ok := l.f.(ns.Creater)
	if !ok {
		return nil, p9.QID{}, 0, linux.EPERM
	}
	mode, err := openMode(flags)
	if err != nil {
		return nil, p9.QID{}, 0, err
	}
	nf, q, err := cr.Create(l.lc.ctx, name, ns.Perm(perm&0777), mode)
	if err != nil {
		return nil, p9.QID{}, 0, toErrno(err)
	}
	lf := newLfile(l.lc, nf, q)
	lf.open.Store(true)
	return lf, toQID(q), 0, nil
}

// Mkdir makes a directory.
func (l *lfile) Mkdir(name string, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.QID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cr, ok := l.f.(ns.Creater)
	if !ok {
		return p9.QID{}, linux.EPERM
	}
	nf, q, err := cr.Create(l.lc.ctx, name, ns.DMDIR|ns.Perm(perm&0777), ns.OREAD)
	if err != nil {
		return p9.QID{}, toErrno(err)
	}
	lsafeClunk(l.lc, nf)
	return toQID(q), nil
}

// Symlink is refused: loom's file servers have no symbolic links.
func (l *lfile) Symlink(string, string, p9.UID, p9.GID) (p9.QID, error) {
	return p9.QID{}, linux.EPERM
}

// Link is refused: loom's file servers have no hard links.
func (l *lfile) Link(p9.File, string) error { return linux.EPERM }

// Mknod is refused: loom's devices are file servers, not nodes.
func (l *lfile) Mknod(string, p9.FileMode, uint32, uint32, p9.UID, p9.GID) (p9.QID, error) {
	return p9.QID{}, linux.EPERM
}

// UnlinkAt removes the file called name. With AT_REMOVEDIR it must be a
// directory; without, the kernel has already refused to unlink one, and
// the library's own Tremove comes here for files and directories alike.
func (l *lfile) UnlinkAt(name string, flags uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx := l.lc.ctx
	qids, nf, err := l.f.Walk(ctx, []string{name})
	if err != nil {
		return toErrno(err)
	}
	if nf == nil {
		return linux.ENOENT
	}
	defer lsafeClunk(l.lc, nf)
	if flags&linuxATREMOVEDIR != 0 && len(qids) == 1 && !qids[0].IsDir() {
		return linux.ENOTDIR
	}
	rm, ok := nf.(ns.Remover)
	if !ok {
		return linux.EPERM
	}
	return errnoOrNil(rm.Remove(ctx))
}

// RenameAt renames oldName in this directory to newName in newDir. A
// rename is a Wstat of the name, which Plan 9 allows only within one
// directory: across directories it is EXDEV, and mv(1) copies instead.
// When newName exists, it is removed first, as rename(2) replaces it;
// unlike rename(2), the two steps are not one.
func (l *lfile) RenameAt(oldName string, newDir p9.File, newName string) error {
	nd, ok := newDir.(*lfile)
	if !ok || nd.qid.Path != l.qid.Path {
		return linux.EXDEV
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx := l.lc.ctx
	qids, nf, err := l.f.Walk(ctx, []string{oldName})
	if err != nil {
		return toErrno(err)
	}
	if nf == nil {
		return linux.ENOENT
	}
	defer lsafeClunk(l.lc, nf)
	w, ok := nf.(ns.Wstater)
	if !ok {
		return linux.EPERM
	}
	d := ns.NullDir()
	d.Name = newName
	err = w.Wstat(ctx, d)
	if errors.Is(err, ns.ErrExist) {
		if err := l.replace(newName, qids[0].IsDir()); err != nil {
			return err
		}
		err = w.Wstat(ctx, d)
	}
	return errnoOrNil(err)
}

// replace removes name, which a rename of a file (isDir false) or
// directory is about to take, if rename(2) would let it be replaced.
func (l *lfile) replace(name string, isDir bool) error {
	ctx := l.lc.ctx
	tq, tf, err := l.f.Walk(ctx, []string{name})
	if err != nil {
		return toErrno(err)
	}
	if tf == nil {
		return linux.ENOENT
	}
	defer lsafeClunk(l.lc, tf)
	switch {
	case isDir && !tq[0].IsDir():
		return linux.ENOTDIR
	case !isDir && tq[0].IsDir():
		return linux.EISDIR
	}
	rm, ok := tf.(ns.Remover)
	if !ok {
		return linux.EPERM
	}
	return errnoOrNil(rm.Remove(ctx))
}

// Rename is never called by the library's server, which renames through
// the parent's RenameAt.
func (l *lfile) Rename(p9.File, string) error { return linux.ENOSYS }
