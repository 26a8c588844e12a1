package ns

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
)

// Flag says how Bind and Mount change a namespace, as in Plan 9's bind(2).
// One of MREPL, MBEFORE and MAFTER, optionally or'ed with MCREATE (and,
// for Mount, MCACHE).
type Flag int

// The flags of bind(2). MCACHE is accepted and remembered, so that a
// namespace's text prints it back, but loom does not cache.
const (
	MREPL   Flag = 0x0000 // new replaces whatever old was
	MBEFORE Flag = 0x0001 // new goes first in the union at old
	MAFTER  Flag = 0x0002 // new goes last in the union at old
	MCREATE Flag = 0x0004 // creating in the union at old creates in new
	MCACHE  Flag = 0x0010 // (mount) the client may cache
	MORDER  Flag = 0x0003 // the bits that say where new goes
)

// Errors of Bind, Mount and Unmount, with Plan 9's strings.
var (
	errNotMounted = &Error{"not mounted", nil}
	errNotUnion   = &Error{"not in union", nil}
	errBigUnion   = &Error{"union too big", nil}
	errLocked     = &Error{"mount locked", fs.ErrPermission}
)

// MaxUnion bounds the members of a union. Plan 9 has no bound, but there
// a union bound onto itself doubles at each bind, and a few dozen binds
// would take all the memory there is.
const MaxUnion = 256

// A Namespace is a mount table over file servers: Plan 9's name space. The
// package documentation says what its operations mean. A Namespace is
// itself an FS, whose Files walk, read and write through its unions.
//
// A Namespace is safe for concurrent use: every holder of the same
// *Namespace sees the binds of the others as they happen (Plan 9's shared
// name space group); Fork gives one that changes on its own.
type Namespace struct {
	user string
	root *ref // the empty directory under everything

	mu  sync.RWMutex
	t   *table        // shared with forks until one of them changes it
	dev uint32        // the last device number given to an attach
	seq uint64        // the last number given to a union member
	gen atomic.Uint64 // changed by Swap, under mu: a walk across it is made again
}

// New returns an empty namespace for user: its root is an empty directory
// until something is bound or mounted on "/". Servers mounted in it are
// attached as user.
func New(user string) *Namespace {
	root := newRef(emptyDir{user}, 0, Qid{Type: QTDIR})
	return &Namespace{user: user, root: root, t: newTable()}
}

// User returns the user the namespace attaches its servers as.
func (n *Namespace) User() string { return n.user }

// Fork returns a copy of n that changes independently of it, as
// rfork(RFNAMEG) gives a process: binds in either are not seen by the
// other. The mount table is shared until one of the two changes it, and
// then only the part changed is copied, so a fork costs the same whatever
// the size of the table.
func (n *Namespace) Fork() *Namespace {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.t.users.Add(1)
	return &Namespace{user: n.user, root: n.root, t: n.t, dev: n.dev, seq: n.seq}
}

// Clear empties the namespace, as namespace(6)'s clear: nothing stays
// bound or mounted anywhere, and "/" is an empty directory again.
func (n *Namespace) Clear() {
	t := newTable()
	n.mu.Lock()
	old := n.t
	n.t = t
	n.mu.Unlock()
	old.release()
}

// Bind makes old an alias for the file new names now (the evaluation of
// new happens at the time of the bind), as bind(2): flag says whether new
// replaces old (MREPL) or joins the union directory at old first (MBEFORE)
// or last (MAFTER), and MCREATE whether creating in the union creates in
// new. Both names are absolute; both must exist; either both are
// directories or neither is, and only directories make unions. A bind
// that would make a union of more than MaxUnion members fails.
func (n *Namespace) Bind(new, old string, flag Flag) error {
	ctx := context.Background()
	if err := checkFlag(flag); err != nil {
		return &fs.PathError{Op: "bind", Path: old, Err: err}
	}
	var deps []uint64
	f, err := n.walkPath(ctx, new, &deps)
	if err != nil {
		return &fs.PathError{Op: "bind", Path: new, Err: err}
	}
	var news []member
	if h := n.lookup(f.key()); h != nil {
		// new is itself a union: bind all of it, as Plan 9 does.
		for i, m := range h.members {
			deps = append(deps, m.id)
			fl := flag &^ MORDER
			if i > 0 {
				fl = 0
			}
			news = append(news, member{to: m.to.incref(), flag: fl})
		}
		h.decref()
		f.Clunk()
	} else {
		news = []member{{to: f.steal(), flag: flag &^ MORDER}}
	}
	o := &origin{flag: flag, src: clean(new), old: clean(old)}
	return n.attach(ctx, "bind", o, news, deps)
}

// Mount attaches to srv as the namespace's user, with aname, and puts the
// root it gets on old as Bind puts new. A namespace prints a mount, in
// its text, by the server's name when srv has one (see Namer).
func (n *Namespace) Mount(srv FS, old string, flag Flag, aname string) error {
	ctx := context.Background()
	if err := checkFlag(flag); err != nil {
		return &fs.PathError{Op: "mount", Path: old, Err: err}
	}
	root, err := srv.Attach(ctx, n.user, aname)
	if err != nil {
		return &fs.PathError{Op: "mount", Path: old, Err: err}
	}
	d, err := root.Stat(ctx)
	if err != nil {
		root.Clunk()
		return &fs.PathError{Op: "mount", Path: old, Err: err}
	}
	n.mu.Lock()
	n.dev++
	dev := n.dev
	n.mu.Unlock()
	o := &origin{mount: true, flag: flag, aname: aname, old: clean(old)}
	if s, ok := srv.(Namer); ok {
		o.src = s.Name()
	}
	news := []member{{to: newRef(root, dev, d.Qid), flag: flag &^ MORDER}}
	return n.attach(ctx, "mount", o, news, nil)
}

func checkFlag(flag Flag) error {
	if flag&^(MORDER|MCREATE|MCACHE) != 0 || flag&MORDER == MORDER {
		return ErrInvalid
	}
	return nil
}

// attach puts news in the union at old, as o says; it takes over news'
// references.
func (n *Namespace) attach(ctx context.Context, op string, o *origin, news []member, deps []uint64) error {
	defer func() {
		for _, m := range news {
			m.to.decref()
		}
	}()
	f, err := n.walkPath(ctx, o.old, &deps)
	if err != nil {
		return &fs.PathError{Op: op, Path: o.old, Err: err}
	}
	from := f.steal()
	defer from.decref()
	switch {
	case from.qid.IsDir() && !news[0].to.qid.IsDir():
		err = ErrIsDir
	case !from.qid.IsDir() && news[0].to.qid.IsDir():
		err = ErrNotDir
	case !from.qid.IsDir() && o.flag&MORDER != MREPL:
		err = ErrNotDir // only directories make unions
	}
	if err != nil {
		return &fs.PathError{Op: op, Path: o.old, Err: err}
	}
	o.deps = deps
	o.n = len(news)

	n.mu.Lock()
	k := key{from.dev, from.qid.Path}
	old := n.t.get(k)
	if old != nil && o.flag&MORDER == MREPL && old.locked() {
		n.mu.Unlock()
		return &fs.PathError{Op: op, Path: o.old, Err: errLocked}
	}
	h := &mhead{from: from}
	if old != nil {
		h.from = old.from
		h.members = old.members
	} else if o.flag&MORDER != MREPL {
		// A new union starts with what was there, as Plan 9's does.
		n.seq++
		self := &origin{id: n.seq, src: o.old, old: o.old, deps: deps, n: 1}
		h.members = []member{{to: from, id: n.seq, src: self}}
	}
	o.id = n.seq + 1
	for i := range news {
		n.seq++
		news[i].id, news[i].src = n.seq, o
	}
	switch o.flag & MORDER {
	case MREPL:
		h.members = news
	case MBEFORE:
		h.members = append(append([]member{}, news...), h.members...)
	case MAFTER:
		h.members = append(append([]member{}, h.members...), news...)
	}
	if len(h.members) > MaxUnion {
		n.mu.Unlock()
		return &fs.PathError{Op: op, Path: o.old, Err: errBigUnion}
	}
	h.hold()
	n.set(k, h)
	n.mu.Unlock()
	if old != nil {
		old.decref() // outside the lock: it may clunk a remote File
	}
	return nil
}

// Unmount undoes Bind and Mount, as unmount(2): it takes the file new
// names out of the union at old or, when new is "", empties old of
// everything bound or mounted there.
func (n *Namespace) Unmount(new, old string) error {
	ctx := context.Background()
	f, err := n.walkPath(ctx, old, nil)
	if err != nil {
		return &fs.PathError{Op: "unmount", Path: old, Err: err}
	}
	k := f.key()
	f.Clunk()
	var gone key
	if new != "" {
		f, err := n.walkPath(ctx, new, nil)
		if err != nil {
			return &fs.PathError{Op: "unmount", Path: new, Err: err}
		}
		gone = f.key()
		if h := n.lookup(gone); h != nil {
			gone = h.members[0].to.key()
			h.decref()
		}
		f.Clunk()
	}

	n.mu.Lock()
	h := n.t.get(k)
	if h == nil {
		n.mu.Unlock()
		return &fs.PathError{Op: "unmount", Path: old, Err: errNotMounted}
	}
	var rest []member
	if new != "" {
		i := 0
		for i < len(h.members) && h.members[i].to.key() != gone {
			i++
		}
		if i == len(h.members) {
			n.mu.Unlock()
			return &fs.PathError{Op: "unmount", Path: new, Err: errNotUnion}
		}
		if h.members[i].locked {
			n.mu.Unlock()
			return &fs.PathError{Op: "unmount", Path: new, Err: errLocked}
		}
		rest = append(append(rest, h.members[:i]...), h.members[i+1:]...)
	} else if h.locked() {
		n.mu.Unlock()
		return &fs.PathError{Op: "unmount", Path: old, Err: errLocked}
	}
	var nh *mhead
	if len(rest) > 0 {
		nh = &mhead{from: h.from, members: rest}
		nh.hold()
	}
	n.set(k, nh)
	n.mu.Unlock()
	h.decref()
	return nil
}

// Lock makes every bind and mount now in n permanent: Unmount cannot
// take one out, nor a bind or mount that replaces (MREPL) a union
// holding one; binds and mounts before or after it still go. A sandbox's
// view locks the mounts that make it, as Linux locks the mounts that a
// less privileged user namespace inherits, so that nothing done in the
// view uncovers what they cover. Forks of n are locked as n is.
func (n *Namespace) Lock() {
	var olds []*mhead
	n.mu.Lock()
	for _, h := range n.t.all() {
		nh := &mhead{from: h.from, members: append([]member{}, h.members...)}
		for i := range nh.members {
			nh.members[i].locked = true
		}
		nh.hold()
		n.set(h.from.key(), nh)
		olds = append(olds, h)
	}
	n.mu.Unlock()
	for _, h := range olds {
		h.decref()
	}
}

// walkPath walks the absolute name p from the root.
func (n *Namespace) walkPath(ctx context.Context, p string, deps *[]uint64) (*file, error) {
	root := n.attachRoot()
	defer root.Clunk()
	_, f, err := n.walk(ctx, root, SplitPath(p), deps)
	if err == nil && f == nil {
		err = ErrNotExist
	}
	return f, err
}

// lookup returns, held, the union mounted on the file k, or nil.
func (n *Namespace) lookup(k key) *mhead {
	n.mu.RLock()
	h := n.t.get(k)
	if h != nil {
		h.incref()
	}
	n.mu.RUnlock()
	return h
}

// set puts h on the file k, or takes away what is there when h is nil,
// copying first what a fork shares. The caller holds n.mu for writing and
// releases what was there.
func (n *Namespace) set(k key, h *mhead) {
	t := n.t
	if t.users.Load() > 1 {
		c := &table{shards: t.shards}
		c.users.Store(1)
		for _, s := range c.shards {
			if s != nil {
				s.users.Add(1)
			}
		}
		t.release()
		n.t, t = c, c
	}
	i := k.shard()
	s := t.shards[i]
	if s == nil || s.users.Load() > 1 {
		c := &shard{heads: map[key]*mhead{}}
		c.users.Store(1)
		if s != nil {
			for k, h := range s.heads {
				c.heads[k] = h.incref()
			}
			s.release()
		}
		t.shards[i], s = c, c
	}
	if h == nil {
		delete(s.heads, k)
	} else {
		s.heads[k] = h
	}
}

// A key names a file of a namespace: the device number of the attach that
// reached it and its Qid.Path there, as Plan 9 keys its mount table on a
// channel's type, device and qid.
type key struct {
	dev  uint32
	path uint64
}

// shard picks the shard of a table that holds k.
func (k key) shard() int {
	return int((k.path ^ uint64(k.dev)*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9 >> (64 - 6))
}

// nshard is the number of shards of a table: 64, so that a change after a
// fork copies a 64th of the table and 64 pointers.
const nshard = 1 << 6

// A table is a mount table: the union mounted on each file that has one.
// Forks share a table, and tables share shards, until one of them changes
// them; users counts the sharers.
type table struct {
	users  atomic.Int32
	shards [nshard]*shard // nil when empty
}

type shard struct {
	users atomic.Int32
	heads map[key]*mhead
}

func newTable() *table {
	t := &table{}
	t.users.Store(1)
	return t
}

func (t *table) get(k key) *mhead {
	if s := t.shards[k.shard()]; s != nil {
		return s.heads[k]
	}
	return nil
}

// all returns every union in t.
func (t *table) all() []*mhead {
	var hs []*mhead
	for _, s := range t.shards {
		if s != nil {
			for _, h := range s.heads {
				hs = append(hs, h)
			}
		}
	}
	return hs
}

func (t *table) release() {
	if t.users.Add(-1) == 0 {
		for _, s := range t.shards {
			if s != nil {
				s.release()
			}
		}
	}
}

func (s *shard) release() {
	if s.users.Add(-1) == 0 {
		for _, h := range s.heads {
			h.decref()
		}
	}
}

// An mhead is the union mounted on one file (from): its members in
// order. It never changes once in a table; a bind makes a new one. It is
// held by the tables that have it and by Files walked through it, and
// holds its Files.
type mhead struct {
	n       atomic.Int64
	from    *ref
	members []member
}

// A member is one file of a union.
type member struct {
	to     *ref
	flag   Flag    // MCREATE, MCACHE
	id     uint64  // order of making, for the namespace's text
	src    *origin // the command that made it
	locked bool    // made permanent by Lock
}

// locked reports whether a member of the union is locked (see Lock).
func (h *mhead) locked() bool {
	for _, m := range h.members {
		if m.locked {
			return true
		}
	}
	return false
}

// An origin is the bind or mount that made some members of a union,
// remembered so that the namespace's text can say it again.
type origin struct {
	id    uint64 // of its first member
	mount bool
	flag  Flag
	src   string // bind: the name of new; mount: the server's name
	aname string
	old   string
	n     int      // members it made
	deps  []uint64 // members its names were walked through
}

// hold takes the first reference to a new h, and references to its Files.
func (h *mhead) hold() {
	h.n.Store(1)
	h.from.incref()
	for _, m := range h.members {
		m.to.incref()
	}
}

func (h *mhead) incref() *mhead {
	h.n.Add(1)
	return h
}

func (h *mhead) decref() {
	if h.n.Add(-1) == 0 {
		h.from.decref()
		for _, m := range h.members {
			m.to.decref()
		}
	}
}

// maxIdle bounds the spare clones a ref keeps.
const maxIdle = 4

// A ref is an unopened File shared by mount tables and the Files walked
// through them; the last to let go clunks it. The seam does not promise
// that several callers may use one File at once, so each use is made on
// a clone of it, and a few clones are kept for the next uses.
type ref struct {
	dev uint32
	qid Qid
	n   atomic.Int64

	mu   sync.Mutex
	f    File
	idle []File
}

func newRef(f File, dev uint32, qid Qid) *ref {
	r := &ref{f: f, dev: dev, qid: qid}
	r.n.Store(1)
	return r
}

func (r *ref) key() key { return key{r.dev, r.qid.Path} }

func (r *ref) incref() *ref {
	r.n.Add(1)
	return r
}

func (r *ref) decref() {
	if r.n.Add(-1) == 0 {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, f := range r.idle {
			f.Clunk()
		}
		r.f.Clunk()
		r.idle = nil
	}
}

// get returns a clone of r's File to use alone; put gives it back.
func (r *ref) get(ctx context.Context) (File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := len(r.idle); k > 0 {
		f := r.idle[k-1]
		r.idle = r.idle[:k-1]
		return f, nil
	}
	_, f, err := r.f.Walk(ctx, nil)
	return f, err
}

func (r *ref) put(f File) {
	r.mu.Lock()
	if len(r.idle) < maxIdle && r.n.Load() > 0 {
		r.idle = append(r.idle, f)
		f = nil
	}
	r.mu.Unlock()
	if f != nil {
		f.Clunk()
	}
}

func (r *ref) walk(ctx context.Context, names []string) ([]Qid, File, error) {
	f, err := r.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer r.put(f)
	return f.Walk(ctx, names)
}

func (r *ref) stat(ctx context.Context) (Dir, error) {
	f, err := r.get(ctx)
	if err != nil {
		return Dir{}, err
	}
	defer r.put(f)
	return f.Stat(ctx)
}

// A Namer is a file server with a name: the name a namespace's text gives
// it in a mount command, and the name Replay's resolver is asked for.
type Namer interface {
	Name() string
}

// Named returns fsys with a name, for Mount (see Namer).
func Named(name string, fsys FS) FS { return named{fsys, name} }

type named struct {
	FS
	name string
}

func (s named) Name() string { return s.name }

// clean returns p as an absolute name, rooted and without repeated or
// trailing slashes; it keeps "..", which a walk resolves.
func clean(p string) string { return "/" + strings.Join(SplitPath(p), "/") }

// emptyDir is the directory at the root of a namespace before anything
// is put there.
type emptyDir struct{ user string }

func (d emptyDir) Walk(ctx context.Context, names []string) ([]Qid, File, error) {
	var qids []Qid
	for _, name := range names {
		if name != ".." {
			if len(qids) == 0 {
				return nil, nil, ErrNotExist
			}
			return qids, nil, nil
		}
		qids = append(qids, Qid{Type: QTDIR})
	}
	return qids, d, nil
}

func (d emptyDir) Open(ctx context.Context, mode uint8) (Qid, error) {
	if mode&3 == OWRITE || mode&3 == ORDWR || mode&(OTRUNC|ORCLOSE) != 0 {
		return Qid{}, ErrPerm
	}
	return Qid{Type: QTDIR}, nil
}

func (d emptyDir) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, ErrIsDir
}

func (d emptyDir) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, ErrIsDir
}

func (d emptyDir) ReadDir(ctx context.Context, index, n int) ([]Dir, error) {
	return nil, nil
}

func (d emptyDir) Stat(ctx context.Context) (Dir, error) {
	return Dir{Qid: Qid{Type: QTDIR}, Mode: DMDIR | 0555, Name: "/",
		Uid: d.user, Gid: d.user, Muid: d.user}, nil
}

func (d emptyDir) Clunk() error { return nil }
