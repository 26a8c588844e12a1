// Package synth builds synthetic file servers, in the manner of Plan 9's
// lib9p: a component describes its tree as a table of Nodes (name, mode,
// and either children or file callbacks), with generator functions for
// directories whose entries come and go, and synth does the rest of being
// an ns.FS: walks (".." included), permission checks for the attaching
// user, open modes, directory reads, stat, DMEXCL, ORCLOSE and clunk.
//
// A file node supplies Open, which makes the state of one open: a Handle
// whose Read, Write and Clunk serve that open alone. So a ctl file can
// keep what a client wrote until it clunks, a text file can fix its
// contents at open so that offsets within one open stay consistent, and a
// stream can block in Read until there is something to read or the
// request is flushed. Helpers build the common Handles: Text (contents
// made at open), Ctl (a command table behind a ctl file) and Stream (a
// growing byte stream whose readers block for more).
//
// Qids: every Node gets a Qid path, unique in the process, the first time
// a server meets it, and keeps it for as long as the Node lives; a
// generator that lists the same thing twice should therefore return the
// same *Node. A Node's Qid version moves when the component calls Touch.
package synth

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"loom/ns"
)

// Req describes the request a callback serves: who asks, for which Node,
// with which open mode (for Open and Create; 0 otherwise).
type Req struct {
	User string
	Node *Node
	Mode uint8
}

// Handle is one open of a file Node, made by the Node's Open. Its
// functions serve the Reads, Writes and the Clunk of that open only; any
// may be nil. A nil Read reads as an empty file; a nil Write refuses
// writes with ns.ErrPerm. Read and Write follow ns.File: a Read blocked
// waiting for data returns when ctx is done, with ns.ErrInterrupt (Wait
// and Cond do this). Read and Write may be called concurrently; Clunk is
// called once, after every Read and Write has returned.
type Handle struct {
	Read  func(ctx context.Context, p []byte, off int64) (int, error)
	Write func(ctx context.Context, p []byte, off int64) (int, error)
	Clunk func() error

	// Node, when set, is the Node the open File becomes, as opening
	// Plan 9's /net/tcp/clone gives the ctl file of a new connection:
	// the Qid returned by Open and every later Stat are Node's.
	Node *Node
}

// Node is a file or a directory of a synthetic tree. A Node must not be
// copied once a server has seen it: its Qid lives in it.
//
// A directory (Mode has ns.DMDIR) lists Children and then what Gen
// returns; a file has Open. Funcs left nil mean "not supported".
type Node struct {
	Name string
	Mode ns.Perm
	// Uid and Gid own the Node; "" means the server's owner.
	Uid, Gid string

	// Children are a directory's fixed entries.
	Children []*Node
	// Gen lists a directory's entries that come and go, after
	// Children. It is called for each walk and each directory read from
	// the start.
	Gen func(ctx context.Context, r *Req) ([]*Node, error)
	// Lookup, when set, finds a directory's entry by name instead of a
	// search of Children and Gen: for directories too large to list at
	// every walk. It returns ns.ErrNotExist for no such entry.
	Lookup func(ctx context.Context, r *Req, name string) (*Node, error)
	// Create makes a new entry called name in a directory, after synth
	// has checked that the user may write the directory and that the
	// name is free and valid; synth then opens it with r.Mode.
	Create func(ctx context.Context, r *Req, name string, perm ns.Perm) (*Node, error)

	// Open makes the state of one open of a file, after synth has
	// checked the user's permission for r.Mode.
	Open OpenFunc
	// Length gives a file's length as r.User would read it, for Stat;
	// nil gives 0, which clients take as "unknown" for synthetic files.
	Length func(r *Req) int64
	// Remove removes the Node from its directory, after synth has
	// checked that the user may write the directory.
	Remove func(ctx context.Context, r *Req) error

	path  atomic.Uint64
	vers  atomic.Uint32
	mtime atomic.Int64
	excl  atomic.Bool // a DMEXCL file is open
}

// lastPath hands out Qid paths, unique within the process so that a Node
// shared by two servers keeps one path and never collides.
var lastPath atomic.Uint64

// qidPath gives n's Qid path, assigning it (and the Node's birth time)
// on first use.
func (n *Node) qidPath() uint64 {
	if p := n.path.Load(); p != 0 {
		return p
	}
	p := lastPath.Add(1)
	n.mtime.CompareAndSwap(0, time.Now().Unix())
	if n.path.CompareAndSwap(0, p) {
		return p
	}
	return n.path.Load()
}

// Qid returns n's Qid.
func (n *Node) Qid() ns.Qid {
	return ns.Qid{Path: n.qidPath(), Vers: n.vers.Load(), Type: n.Mode.QidType()}
}

// Touch records a change of n's contents: its Qid version moves on and
// its modification time becomes now.
func (n *Node) Touch() {
	n.qidPath()
	n.vers.Add(1)
	n.mtime.Store(time.Now().Unix())
}

// Option configures an FS.
type Option func(*FS)

// Owner makes user the owner of every Node without a Uid (and Gid)
// ("loom" by default).
func Owner(user string) Option { return func(fs *FS) { fs.owner = user } }

// FS is a synthetic file server over a tree of Nodes. Its methods and
// those of its Files may be called concurrently; the callbacks of Nodes
// must allow that too.
type FS struct {
	root  *Node
	owner string
}

var _ ns.FS = (*FS)(nil)

// New returns a server for the tree under root, which must be a
// directory.
func New(root *Node, opts ...Option) *FS {
	fs := &FS{root: root, owner: "loom"}
	for _, o := range opts {
		o(fs)
	}
	root.qidPath()
	return fs
}

// Root returns the root Node.
func (fs *FS) Root() *Node { return fs.root }

// Owner returns the server's owner.
func (fs *FS) Owner() string { return fs.owner }

// Attach returns the root as seen by user; aname is ignored. An empty user
// is taken as "none".
func (fs *FS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	if user == "" {
		user = "none"
	}
	return &File{fs: fs, user: user, path: []*Node{fs.root}}, nil
}

// owners gives n's owner and group.
func (fs *FS) owners(n *Node) (uid, gid string) {
	uid, gid = n.Uid, n.Gid
	if uid == "" {
		uid = fs.owner
	}
	if gid == "" {
		gid = uid
	}
	return uid, gid
}

// Stat gives n's Dir as fs serves it to user.
func (fs *FS) Stat(n *Node, user string) ns.Dir {
	uid, gid := fs.owners(n)
	name := n.Name
	if n == fs.root && name == "" {
		name = "/"
	}
	q := n.Qid()
	t := uint32(n.mtime.Load())
	d := ns.Dir{Qid: q, Mode: n.Mode, Atime: t, Mtime: t, Name: name, Uid: uid, Gid: gid, Muid: uid}
	if !n.Mode.IsDir() && n.Length != nil {
		d.Length = uint64(max(n.Length(&Req{User: user, Node: n}), 0))
	}
	return d
}

// Allows reports whether user may access n as want, a mask of ns.DMREAD,
// ns.DMWRITE and ns.DMEXEC, by n's mode: the owner bits for n's owner,
// the group bits for a user named like n's group, the other bits for all.
func (fs *FS) Allows(n *Node, user string, want ns.Perm) bool {
	uid, gid := fs.owners(n)
	return ns.Allowed(n.Mode, uid, gid, user, want)
}

// Entries lists the directory n: Children, then Gen's.
func (fs *FS) Entries(ctx context.Context, n *Node, user string) ([]*Node, error) {
	if n.Gen == nil {
		return n.Children, nil
	}
	more, err := n.Gen(ctx, &Req{User: user, Node: n})
	if err != nil {
		return nil, err
	}
	if len(n.Children) == 0 {
		return more, nil
	}
	return append(slices.Clip(n.Children), more...), nil
}

// lookup finds the entry name of the directory n.
func (fs *FS) lookup(ctx context.Context, n *Node, user, name string) (*Node, error) {
	if n.Lookup != nil {
		return n.Lookup(ctx, &Req{User: user, Node: n}, name)
	}
	for _, k := range n.Children {
		if k.Name == name {
			return k, nil
		}
	}
	if n.Gen == nil {
		return nil, ns.ErrNotExist
	}
	more, err := n.Gen(ctx, &Req{User: user, Node: n})
	if err != nil {
		return nil, err
	}
	for _, k := range more {
		if k.Name == name {
			return k, nil
		}
	}
	return nil, ns.ErrNotExist
}

// File is a File of an FS: a Node reached by a user along a path, which
// ".." retraces.
type File struct {
	fs   *FS
	user string
	path []*Node // from the root to the file; never empty

	open   bool
	mode   uint8
	rclose bool
	excl   *Node   // the DMEXCL node whose excl f holds
	h      *Handle // an open file's

	mu    sync.Mutex // guards dir
	dir   []*Node    // an open directory's listing, from its last read at 0
	dirOK bool
}

var (
	_ ns.File    = (*File)(nil)
	_ ns.Creater = (*File)(nil)
	_ ns.Remover = (*File)(nil)
	_ ns.Wstater = (*File)(nil)
)

// Node returns the Node f stands for.
func (f *File) Node() *Node { return f.path[len(f.path)-1] }

// User returns the user f was attached by.
func (f *File) User() string { return f.user }

func (f *File) parent() *Node {
	if len(f.path) < 2 {
		return f.path[0]
	}
	return f.path[len(f.path)-2]
}

// Walk implements ns.File.
func (f *File) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	if f.open {
		return nil, nil, ns.ErrOpen
	}
	path := slices.Clone(f.path)
	qids := make([]ns.Qid, 0, len(names))
	for _, name := range names {
		n := path[len(path)-1]
		var err error
		switch {
		case !n.Mode.IsDir():
			err = ns.ErrNotDir
		case !f.fs.Allows(n, f.user, ns.DMEXEC):
			err = ns.ErrPerm
		case name == "..":
			if len(path) > 1 {
				path = path[:len(path)-1]
			}
		default:
			var k *Node
			k, err = f.fs.lookup(ctx, n, f.user, name)
			if err == nil {
				path = append(path, k)
			}
		}
		if err != nil {
			if len(qids) == 0 {
				return nil, nil, err
			}
			return qids, nil, nil
		}
		qids = append(qids, path[len(path)-1].Qid())
	}
	return qids, &File{fs: f.fs, user: f.user, path: path}, nil
}

const openFlags = 3 | ns.OTRUNC | ns.ORCLOSE | ns.OCEXEC

// Open implements ns.File.
func (f *File) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	if f.open {
		return ns.Qid{}, ns.ErrOpen
	}
	if mode&^openFlags != 0 {
		return ns.Qid{}, ns.ErrBadMode
	}
	n := f.Node()
	want := ns.OpenPerm(mode)
	switch {
	case n.Mode.IsDir() && want&ns.DMWRITE != 0:
		return ns.Qid{}, ns.ErrIsDir
	case !f.fs.Allows(n, f.user, want):
		return ns.Qid{}, ns.ErrPerm
	case mode&ns.ORCLOSE != 0 && (n.Remove == nil || len(f.path) < 2 || !f.fs.Allows(f.parent(), f.user, ns.DMWRITE)):
		return ns.Qid{}, ns.ErrPerm
	}
	if n.Mode&ns.DMEXCL != 0 {
		if !n.excl.CompareAndSwap(false, true) {
			return ns.Qid{}, ns.ErrInUse
		}
		f.excl = n
	}
	if !n.Mode.IsDir() {
		var h *Handle
		if n.Open != nil {
			var err error
			h, err = n.Open(ctx, &Req{User: f.user, Node: n, Mode: mode})
			if err != nil {
				f.unexcl()
				return ns.Qid{}, err
			}
		}
		if h == nil {
			h = &Handle{}
		}
		if h.Node != nil && h.Node != n {
			f.path = append(slices.Clone(f.path[:len(f.path)-1]), h.Node)
			n = h.Node
		}
		f.h = h
	}
	f.open, f.mode, f.rclose = true, mode, mode&ns.ORCLOSE != 0
	return n.Qid(), nil
}

func (f *File) unexcl() {
	if f.excl != nil {
		f.excl.excl.Store(false)
		f.excl = nil
	}
}

// canIO checks that f is open for the access want.
func (f *File) canIO(want ns.Perm, dir bool) error {
	isDir := f.Node().Mode.IsDir()
	switch {
	case !f.open:
		return ns.ErrNotOpen
	case isDir && !dir:
		return ns.ErrIsDir
	case !isDir && dir:
		return ns.ErrNotDir
	case ns.OpenPerm(f.mode)&want != want:
		return ns.ErrBadMode
	}
	return nil
}

// Read implements ns.File.
func (f *File) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.canIO(ns.DMREAD, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ns.ErrInvalid
	}
	if f.h.Read == nil {
		return 0, nil
	}
	return f.h.Read(ctx, p, off)
}

// Write implements ns.File.
func (f *File) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.canIO(ns.DMWRITE, false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, ns.ErrInvalid
	}
	if f.h.Write == nil {
		return 0, ns.ErrPerm
	}
	return f.h.Write(ctx, p, off)
}

// ReadDir implements ns.File. The listing is taken when a read starts at
// index 0 and later pages come from it, so that a generator's changes
// between pages neither repeat nor skip entries.
func (f *File) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	if err := f.canIO(ns.DMREAD, true); err != nil {
		return nil, err
	}
	if index < 0 || n < 0 {
		return nil, ns.ErrBadOffset
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if index == 0 || !f.dirOK {
		l, err := f.fs.Entries(ctx, f.Node(), f.user)
		if err != nil {
			return nil, err
		}
		f.dir, f.dirOK = l, true
	}
	if index >= len(f.dir) {
		return nil, nil
	}
	l := f.dir[index:]
	if len(l) > n {
		l = l[:n]
	}
	ds := make([]ns.Dir, len(l))
	for i, k := range l {
		ds[i] = f.fs.Stat(k, f.user)
	}
	return ds, nil
}

// Stat implements ns.File.
func (f *File) Stat(ctx context.Context) (ns.Dir, error) { return f.fs.Stat(f.Node(), f.user), nil }

// Clunk implements ns.File.
func (f *File) Clunk() error {
	var err error
	if f.h != nil && f.h.Clunk != nil {
		err = f.h.Clunk()
	}
	f.unexcl()
	if f.rclose {
		n := f.Node()
		if rerr := n.Remove(context.Background(), &Req{User: f.user, Node: n}); rerr != nil {
			err = rerr
		}
	}
	return err
}

// validName reports whether name may name a file.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Create implements ns.Creater by the directory Node's Create.
func (f *File) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	if f.open {
		return nil, ns.Qid{}, ns.ErrOpen
	}
	if mode&^openFlags != 0 {
		return nil, ns.Qid{}, ns.ErrBadMode
	}
	d := f.Node()
	switch {
	case !d.Mode.IsDir():
		return nil, ns.Qid{}, ns.ErrNotDir
	case !f.fs.Allows(d, f.user, ns.DMWRITE) || d.Create == nil:
		return nil, ns.Qid{}, ns.ErrPerm
	case !validName(name):
		return nil, ns.Qid{}, ns.ErrBadName
	case perm.IsDir() && ns.OpenPerm(mode)&ns.DMWRITE != 0:
		return nil, ns.Qid{}, ns.ErrIsDir
	}
	if _, err := f.fs.lookup(ctx, d, f.user, name); err == nil {
		return nil, ns.Qid{}, ns.ErrExist
	}
	n, err := d.Create(ctx, &Req{User: f.user, Node: d, Mode: mode}, name, perm)
	if err != nil {
		return nil, ns.Qid{}, err
	}
	nf := &File{fs: f.fs, user: f.user, path: append(slices.Clone(f.path), n)}
	// The creator opens what it made whatever its mode says, as in
	// Plan 9: the permission of a new file binds only later opens.
	q, err := nf.openCreated(ctx, mode)
	if err != nil {
		return nil, ns.Qid{}, err
	}
	return nf, q, nil
}

// openCreated opens a file just created by its creator.
func (f *File) openCreated(ctx context.Context, mode uint8) (ns.Qid, error) {
	n := f.Node()
	if n.Mode&ns.DMEXCL != 0 {
		if !n.excl.CompareAndSwap(false, true) {
			return ns.Qid{}, ns.ErrInUse
		}
		f.excl = n
	}
	if !n.Mode.IsDir() {
		h := &Handle{}
		if n.Open != nil {
			var err error
			h, err = n.Open(ctx, &Req{User: f.user, Node: n, Mode: mode})
			if err != nil {
				f.unexcl()
				return ns.Qid{}, err
			}
			if h == nil {
				h = &Handle{}
			}
		}
		f.h = h
	}
	f.open, f.mode = true, mode
	f.rclose = mode&ns.ORCLOSE != 0 && n.Remove != nil
	return n.Qid(), nil
}

// Remove implements ns.Remover by the Node's Remove.
func (f *File) Remove(ctx context.Context) error {
	n := f.Node()
	if n.Remove == nil || len(f.path) < 2 || !f.fs.Allows(f.parent(), f.user, ns.DMWRITE) {
		return ns.ErrPerm
	}
	f.rclose = false
	return n.Remove(ctx, &Req{User: f.user, Node: n})
}

// Wstat implements ns.Wstater. Synthetic files have no metadata to
// change; a Wstat that changes nothing succeeds, and so does setting the
// Length of a file one may write to 0, which is ignored, since clients
// truncate before writing (`echo kill > ctl`) and a device has nothing
// to truncate, as in Plan 9. Anything else is refused.
func (f *File) Wstat(ctx context.Context, d ns.Dir) error {
	n := f.Node()
	cur := f.fs.Stat(n, f.user)
	switch {
	case d.Type != ns.NoTouch16 && d.Type != cur.Type,
		d.Dev != ns.NoTouch32 && d.Dev != cur.Dev,
		d.Qid.Path != ns.NoTouch64 && d.Qid.Path != cur.Qid.Path,
		d.Mode != ns.Perm(ns.NoTouch32) && d.Mode != cur.Mode,
		d.Atime != ns.NoTouch32 && d.Atime != cur.Atime,
		d.Mtime != ns.NoTouch32 && d.Mtime != cur.Mtime,
		d.Name != "" && d.Name != cur.Name,
		d.Uid != "" && d.Uid != cur.Uid,
		d.Gid != "" && d.Gid != cur.Gid,
		d.Muid != "" && d.Muid != cur.Muid:
		return ns.ErrPerm
	}
	if d.Length != ns.NoTouch64 && d.Length != cur.Length {
		if d.Length != 0 || n.Mode.IsDir() || !f.fs.Allows(n, f.user, ns.DMWRITE) {
			return ns.ErrPerm
		}
	}
	return nil
}
