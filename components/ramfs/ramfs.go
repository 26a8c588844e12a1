// Package ramfs is loom's in-memory file server: a tree of files and
// directories that lives as long as the FS value, in the manner of Plan 9's
// ramfs(4).
//
// Permissions follow Plan 9: a user gets the owner bits of a file whose Uid
// is theirs, the group bits of a file whose Gid is named like them (groups
// are kept simple: each user is the only member of the group of the same
// name), and the other bits always. The root belongs to the FS's owner
// ("loom" unless the Owner option says otherwise) and has mode DMDIR|0777,
// so that any user may make files in it. Only a file's owner, or the FS's
// owner, may change its mode, gid or times.
//
// A file removed while some File still has it open stays readable and
// writable through that File until it is clunked, as in Plan 9; it can no
// longer be walked from, opened or reached by name.
//
// Clone copies a tree for a clone or a snapshot of a system at the cost
// of its files' metadata, not their data: contents are kept in chunks of
// 64 KiB that the copy and the original share until either writes one,
// when that side copies it. Entries and Put carry a tree to and from a
// saved snapshot; Restore puts a copy back in place.
package ramfs

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"loom/ns"
)

// maxLength bounds a file's length, so that a sparse write far past the end
// cannot ask for more memory than the machine has.
const maxLength = 1 << 31

// FS is an in-memory file server. Its methods and those of its Files may be
// called concurrently.
type FS struct {
	// tree guards the shape of the tree (parent, kids, byName, removed)
	// and every change of metadata; a node's own lock guards its data.
	// Writers of a node's metadata hold both, so either lock suffices to
	// read it. Nested node locks are taken only under tree held for
	// writing, parent before child.
	tree  sync.RWMutex
	root  *node
	next  uint64 // next qid path; guarded by tree
	owner string
}

// An Option configures an FS.
type Option func(*FS)

// Owner makes user the owner of the root and of the FS: the one user who
// may change the mode and gid of any file.
func Owner(user string) Option { return func(fs *FS) { fs.owner = user } }

// New returns an FS holding an empty root directory.
func New(opts ...Option) *FS {
	fs := &FS{owner: "loom"}
	for _, o := range opts {
		o(fs)
	}
	now := uint32(time.Now().Unix())
	r := &node{
		path:  fs.next,
		name:  "/",
		uid:   fs.owner,
		gid:   fs.owner,
		muid:  fs.owner,
		mode:  ns.DMDIR | 0777,
		mtime: now,
		dir:   true,
		data:  content{gen: newGen()},
	}
	fs.next++
	r.atime.Store(now)
	r.parent = r
	fs.root = r
	return fs
}

// Attach returns the root as seen by user. ramfs serves one tree, so
// aname is ignored; an empty user is taken as "none".
func (fs *FS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	if user == "" {
		user = "none"
	}
	// Restore may change the root.
	fs.tree.RLock()
	defer fs.tree.RUnlock()
	return &file{fs: fs, n: fs.root, user: user}, nil
}

type node struct {
	path uint64 // never changes
	dir  bool   // never changes: DMDIR cannot be changed by Wstat

	mu    sync.RWMutex
	name  string
	uid   string
	gid   string
	muid  string
	mode  ns.Perm
	vers  uint32
	mtime uint32
	atime atomic.Uint32 // set by readers holding only mu.RLock
	data  content
	excl  bool // a DMEXCL file is open

	// Guarded by FS.tree.
	parent  *node // the root is its own parent
	kids    []*node
	byName  map[string]*node
	removed bool
}

// allows reports whether user may access n as want (a mask of DMREAD,
// DMWRITE, DMEXEC). The caller holds n.mu or the tree lock.
func (n *node) allows(user string, want ns.Perm) bool {
	return ns.Allowed(n.mode, n.uid, n.gid, user, want)
}

func (n *node) qid() ns.Qid {
	return ns.Qid{Path: n.path, Vers: n.vers, Type: n.mode.QidType()}
}

// stat gives n's Dir. The caller holds n.mu or the tree lock.
func (n *node) stat() ns.Dir {
	d := ns.Dir{
		Qid:   n.qid(),
		Mode:  n.mode,
		Atime: n.atime.Load(),
		Mtime: n.mtime,
		Name:  n.name,
		Uid:   n.uid,
		Gid:   n.gid,
		Muid:  n.muid,
	}
	if !n.dir {
		d.Length = uint64(n.data.length)
	}
	return d
}

// touch records a change of n by user. The caller holds n.mu for writing.
func (n *node) touch(user string) {
	n.vers++
	n.mtime = uint32(time.Now().Unix())
	n.muid = user
}

// setLength truncates or extends n's data, zeroing what is new. The caller
// holds n.mu for writing.
func (n *node) setLength(l int64) { n.data.setLength(l) }

// file is a File of an FS: a node seen by a user.
type file struct {
	fs     *FS
	n      *node
	user   string
	open   bool
	mode   uint8
	rclose bool
	excl   bool // holds n.excl
}

var (
	_ ns.File    = (*file)(nil)
	_ ns.Creater = (*file)(nil)
	_ ns.Remover = (*file)(nil)
	_ ns.Wstater = (*file)(nil)
)

func (f *file) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	if f.open {
		return nil, nil, ns.ErrOpen
	}
	f.fs.tree.RLock()
	defer f.fs.tree.RUnlock()
	n := f.n
	if n.removed {
		return nil, nil, ns.ErrNotExist
	}
	qids := make([]ns.Qid, 0, len(names))
	for _, name := range names {
		var err error
		switch {
		case !n.mode.IsDir():
			err = ns.ErrNotDir
		case !n.allows(f.user, ns.DMEXEC):
			err = ns.ErrPerm
		case name == "..":
			n = n.parent
		default:
			k := n.byName[name]
			if k == nil {
				err = ns.ErrNotExist
			} else {
				n = k
			}
		}
		if err != nil {
			if len(qids) == 0 {
				return nil, nil, err
			}
			return qids, nil, nil
		}
		n.mu.RLock()
		qids = append(qids, n.qid())
		n.mu.RUnlock()
	}
	return qids, &file{fs: f.fs, n: n, user: f.user}, nil
}

const openFlags = 3 | ns.OTRUNC | ns.ORCLOSE | ns.OCEXEC

func (f *file) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	if f.open {
		return ns.Qid{}, ns.ErrOpen
	}
	if mode&^openFlags != 0 {
		return ns.Qid{}, ns.ErrBadMode
	}
	// The tree lock, even shared, keeps modes and the parent fixed while
	// the permissions are checked.
	f.fs.tree.RLock()
	defer f.fs.tree.RUnlock()
	n := f.n
	if n.removed {
		return ns.Qid{}, ns.ErrNotExist
	}
	want := ns.OpenPerm(mode)
	if n.mode.IsDir() && want&ns.DMWRITE != 0 {
		return ns.Qid{}, ns.ErrIsDir
	}
	if !n.allows(f.user, want) {
		return ns.Qid{}, ns.ErrPerm
	}
	if mode&ns.ORCLOSE != 0 && (n.parent == n || !n.parent.allows(f.user, ns.DMWRITE)) {
		return ns.Qid{}, ns.ErrPerm
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mode&ns.DMEXCL != 0 {
		if n.excl {
			return ns.Qid{}, ns.ErrInUse
		}
		n.excl, f.excl = true, true
	}
	if mode&ns.OTRUNC != 0 {
		n.setLength(0)
		n.touch(f.user)
	}
	f.open, f.mode, f.rclose = true, mode, mode&ns.ORCLOSE != 0
	return n.qid(), nil
}

func (f *file) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.canIO(ns.DMREAD, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ns.ErrInvalid
	}
	n := f.n
	n.mu.RLock()
	c := n.data.readAt(p, off)
	n.mu.RUnlock()
	// Concurrent readers would fight over the cache line if each
	// stored; only the first read of a second does.
	if now := uint32(time.Now().Unix()); n.atime.Load() != now {
		n.atime.Store(now)
	}
	return c, nil
}

func (f *file) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.canIO(ns.DMWRITE, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ns.ErrInvalid
	}
	// The tree lock, shared, makes Clone, which takes it whole, see
	// each write entirely before or entirely after.
	f.fs.tree.RLock()
	defer f.fs.tree.RUnlock()
	n := f.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mode&ns.DMAPPEND != 0 {
		off = n.data.length
	}
	end := off + int64(len(p))
	if end > maxLength || end < off {
		return 0, ns.ErrInvalid
	}
	n.data.writeAt(p, off)
	n.touch(f.user)
	return len(p), nil
}

// canIO checks that f is open for the access want on a file (or, with dir,
// a directory).
func (f *file) canIO(want ns.Perm, dir bool) error {
	switch {
	case !f.open:
		return ns.ErrNotOpen
	case f.n.dir != dir && dir:
		return ns.ErrNotDir
	case f.n.dir != dir:
		return ns.ErrIsDir
	case ns.OpenPerm(f.mode)&want != want:
		return ns.ErrBadMode
	}
	return nil
}

func (f *file) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	if err := f.canIO(ns.DMREAD, true); err != nil {
		return nil, err
	}
	if index < 0 || n < 0 {
		return nil, ns.ErrBadOffset
	}
	f.fs.tree.RLock()
	defer f.fs.tree.RUnlock()
	kids := f.n.kids
	if index >= len(kids) {
		return nil, nil
	}
	kids = kids[index:]
	if len(kids) > n {
		kids = kids[:n]
	}
	ds := make([]ns.Dir, len(kids))
	for i, k := range kids {
		k.mu.RLock()
		ds[i] = k.stat()
		k.mu.RUnlock()
	}
	f.n.atime.Store(uint32(time.Now().Unix()))
	return ds, nil
}

func (f *file) Stat(ctx context.Context) (ns.Dir, error) {
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	return f.n.stat(), nil
}

func (f *file) Clunk() error {
	if f.excl {
		f.n.mu.Lock()
		f.n.excl = false
		f.n.mu.Unlock()
	}
	if !f.rclose {
		return nil
	}
	f.fs.tree.Lock()
	defer f.fs.tree.Unlock()
	if f.n.removed {
		return nil // someone else did it already
	}
	return f.fs.remove(f.n, f.user)
}

// validName reports whether name may name a file.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

func (f *file) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	if f.open {
		return nil, ns.Qid{}, ns.ErrOpen
	}
	if !validName(name) {
		return nil, ns.Qid{}, ns.ErrBadName
	}
	if mode&^openFlags != 0 {
		return nil, ns.Qid{}, ns.ErrBadMode
	}
	if perm.IsDir() && ns.OpenPerm(mode)&ns.DMWRITE != 0 {
		return nil, ns.Qid{}, ns.ErrIsDir
	}
	fs := f.fs
	fs.tree.Lock()
	defer fs.tree.Unlock()
	d := f.n
	switch {
	case d.removed:
		return nil, ns.Qid{}, ns.ErrNotExist
	case !d.mode.IsDir():
		return nil, ns.Qid{}, ns.ErrNotDir
	case !d.allows(f.user, ns.DMWRITE):
		return nil, ns.Qid{}, ns.ErrPerm
	case d.byName[name] != nil:
		return nil, ns.Qid{}, ns.ErrExist
	}
	if perm.IsDir() {
		perm &= ^ns.Perm(0777) | d.mode&0777
		perm &^= ns.DMAPPEND // a directory is never append-only
	} else {
		perm &= ^ns.Perm(0777) | d.mode&0666
	}
	now := uint32(time.Now().Unix())
	n := &node{
		path:   fs.next,
		name:   name,
		uid:    f.user,
		gid:    d.gid,
		muid:   f.user,
		mode:   perm,
		mtime:  now,
		parent: d,
		dir:    perm.IsDir(),
		data:   content{gen: newGen()},
	}
	fs.next++
	n.atime.Store(now)
	if perm&ns.DMEXCL != 0 {
		n.excl = true
	}
	d.mu.Lock()
	if d.byName == nil {
		d.byName = make(map[string]*node)
	}
	d.byName[name] = n
	d.kids = append(d.kids, n)
	d.touch(f.user)
	d.mu.Unlock()
	nf := &file{fs: fs, n: n, user: f.user, open: true, mode: mode,
		rclose: mode&ns.ORCLOSE != 0, excl: n.excl}
	return nf, n.qid(), nil
}

func (f *file) Remove(ctx context.Context) error {
	fs := f.fs
	fs.tree.Lock()
	defer fs.tree.Unlock()
	n := f.n
	switch {
	case n.removed:
		return ns.ErrNotExist
	case n.parent == n, !n.parent.allows(f.user, ns.DMWRITE):
		return ns.ErrPerm
	}
	f.rclose = false
	return fs.remove(n, f.user)
}

// remove takes n out of the tree on behalf of user. The caller holds the
// tree lock for writing and has checked permissions.
func (fs *FS) remove(n *node, user string) error {
	if n.parent == n {
		return ns.ErrPerm
	}
	if len(n.kids) > 0 {
		return ns.ErrNotEmpty
	}
	p := n.parent
	p.mu.Lock()
	delete(p.byName, n.name)
	if i := slices.Index(p.kids, n); i >= 0 {
		p.kids = slices.Delete(p.kids, i, i+1)
	}
	p.touch(user)
	p.mu.Unlock()
	n.removed = true
	return nil
}

func (f *file) Wstat(ctx context.Context, d ns.Dir) error {
	fs := f.fs
	fs.tree.Lock()
	defer fs.tree.Unlock()
	n := f.n
	if n.removed {
		return ns.ErrNotExist
	}
	// Under the tree lock held for writing, nested node locks cannot
	// deadlock: every other holder of a node lock holds only that one.
	n.mu.Lock()
	defer n.mu.Unlock()
	// Check everything first, so that a refused Wstat changes nothing.
	// A field given with its current value is no change, so that a
	// client may write back a whole Dir it stat'ed with one field
	// altered. Qid.Vers and Qid.Type move on their own and are ignored.
	owner := f.user == n.uid || f.user == fs.owner
	rename := d.Name != "" && d.Name != n.name
	atime := d.Atime != ns.NoTouch32 && d.Atime != n.atime.Load()
	mtime := d.Mtime != ns.NoTouch32 && d.Mtime != n.mtime
	switch {
	case d.Type != ns.NoTouch16 && d.Type != 0,
		d.Dev != ns.NoTouch32 && d.Dev != 0,
		d.Qid.Path != ns.NoTouch64 && d.Qid.Path != n.path,
		d.Uid != "" && d.Uid != n.uid,
		d.Muid != "" && d.Muid != n.muid:
		return ns.ErrPerm
	}
	if d.Mode != ns.Perm(ns.NoTouch32) && d.Mode != n.mode {
		if !owner {
			return ns.ErrPerm
		}
		if (d.Mode^n.mode)&ns.DMDIR != 0 {
			return ns.ErrInvalid
		}
		if d.Mode&^(ns.DMDIR|ns.DMAPPEND|ns.DMEXCL|ns.DMTMP|0777) != 0 {
			return ns.ErrInvalid
		}
	}
	if (mtime || atime || d.Gid != "" && d.Gid != n.gid) && !owner {
		return ns.ErrPerm
	}
	if d.Length != ns.NoTouch64 && d.Length != uint64(n.data.length) {
		switch {
		case n.mode.IsDir():
			return ns.ErrIsDir
		case !n.allows(f.user, ns.DMWRITE):
			return ns.ErrPerm
		case d.Length > maxLength:
			return ns.ErrInvalid
		}
	}
	if rename {
		switch {
		case !validName(d.Name):
			return ns.ErrBadName
		case n.parent == n, !n.parent.allows(f.user, ns.DMWRITE):
			return ns.ErrPerm
		case n.parent.byName[d.Name] != nil:
			return ns.ErrExist
		}
	}

	changed, content := false, false
	if rename {
		p := n.parent
		p.mu.Lock()
		delete(p.byName, n.name)
		p.byName[d.Name] = n
		p.touch(f.user)
		p.mu.Unlock()
		n.name = d.Name
		changed = true
	}
	if d.Mode != ns.Perm(ns.NoTouch32) && d.Mode != n.mode {
		n.mode = d.Mode
		changed = true
	}
	if d.Gid != "" && d.Gid != n.gid {
		n.gid = d.Gid
		changed = true
	}
	if d.Length != ns.NoTouch64 && d.Length != uint64(n.data.length) {
		n.setLength(int64(d.Length))
		changed, content = true, true
	}
	if atime {
		n.atime.Store(d.Atime)
		changed = true
	}
	if changed || mtime {
		// Every change is a new version, but only a change of content
		// moves mtime, unless the caller set it.
		old := n.mtime
		n.touch(f.user)
		switch {
		case mtime:
			n.mtime = d.Mtime
		case !content:
			n.mtime = old
		}
	}
	return nil
}
