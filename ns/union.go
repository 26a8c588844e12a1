package ns

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Attach returns the namespace's root. The namespace reaches its servers
// as the user it was made for, whoever user is here: serving a namespace
// lends its rights, as Plan 9's exportfs does. aname must be "" (or "/").
func (n *Namespace) Attach(ctx context.Context, user, aname string) (File, error) {
	if aname != "" && aname != "/" {
		return nil, ErrNotExist
	}
	return n.attachRoot(), nil
}

// file is a File of a namespace: a file of some member reached by a path.
type file struct {
	ns   *Namespace
	f    File // ours alone: unopened, or open when o is f
	dev  uint32
	qid  Qid     // f's, as its server gives it
	path []level // path[0] is the root

	// Set by Open or Create.
	o    File   // the open file: f, or a clone of what is mounted on f
	odev uint32 // o's attach
	u    *union // when o is the first of a union of several directories
}

// A union is an open union directory. Its listing is read whole at each
// ReadDir from 0, so that pages from the same listing never repeat or
// miss a name.
type union struct {
	h    *mhead // held
	mu   sync.Mutex
	list []Dir
}

var (
	_ FS      = (*Namespace)(nil)
	_ File    = (*file)(nil)
	_ Creater = (*file)(nil)
	_ Remover = (*file)(nil)
	_ Wstater = (*file)(nil)
)

func (f *file) key() key { return key{f.dev, f.qid.Path} }

// steal turns f into a ref to its File, clunking the rest of it.
func (f *file) steal() *ref {
	r := newRef(f.f, f.dev, f.qid)
	f.f = nil
	f.Clunk()
	return r
}

func (f *file) Walk(ctx context.Context, names []string) ([]Qid, File, error) {
	if f.o != nil {
		return nil, nil, ErrOpen
	}
	qids, nf, err := f.ns.walk(ctx, f, names, nil)
	if nf == nil {
		return qids, nil, err
	}
	return qids, nf, nil
}

// Open opens what the namespace has at f now: the file itself or, when
// something is mounted on it, the first member of the union there, and a
// union of several directories reads as one.
func (f *file) Open(ctx context.Context, mode uint8) (Qid, error) {
	if f.o != nil {
		return Qid{}, ErrOpen
	}
	h := f.ns.lookup(f.key())
	if h == nil {
		q, err := f.f.Open(ctx, mode)
		if err != nil {
			return Qid{}, err
		}
		f.o, f.odev = f.f, f.dev
		return mapQid(f.dev, q), nil
	}
	to := h.members[0].to
	c, err := to.get(ctx)
	if err != nil {
		h.decref()
		return Qid{}, err
	}
	q, err := c.Open(ctx, mode)
	if err != nil {
		c.Clunk()
		h.decref()
		return Qid{}, err
	}
	f.o, f.odev = c, to.dev
	if len(h.members) > 1 && q.IsDir() {
		f.u = &union{h: h}
	} else {
		h.decref()
	}
	return mapQid(to.dev, q), nil
}

func (f *file) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if f.o == nil {
		return 0, ErrNotOpen
	}
	return f.o.Read(ctx, p, off)
}

func (f *file) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if f.o == nil {
		return 0, ErrNotOpen
	}
	return f.o.Write(ctx, p, off)
}

// ReadDir lists the directory. Entries that are mount points show what is
// mounted there, under their own names, so that a listing agrees with
// walking to its entries. A union lists its members in order and each
// name once, as the first member that has it: the file a walk reaches.
func (f *file) ReadDir(ctx context.Context, index, n int) ([]Dir, error) {
	if f.o == nil {
		return nil, ErrNotOpen
	}
	if f.u == nil {
		ds, err := f.o.ReadDir(ctx, index, n)
		for i := range ds {
			ds[i] = f.ns.entry(ctx, f.odev, ds[i])
		}
		return ds, err
	}
	if index < 0 || n < 0 {
		return nil, ErrBadOffset
	}
	u := f.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if index == 0 || u.list == nil {
		list, err := f.readUnion(ctx)
		if err != nil {
			return nil, err
		}
		u.list = list
	}
	if index >= len(u.list) {
		return nil, nil
	}
	return slices.Clone(u.list[index:min(len(u.list), index+n)]), nil
}

// readUnion reads the whole listing of an open union. A member that
// cannot be read is left out of it, as in Plan 9.
func (f *file) readUnion(ctx context.Context) ([]Dir, error) {
	list := []Dir{}
	seen := map[string]bool{}
	for i, m := range f.u.h.members {
		d := f.o
		if i > 0 {
			c, err := m.to.get(ctx)
			if err != nil {
				continue
			}
			if _, err := c.Open(ctx, OREAD); err != nil {
				c.Clunk()
				continue
			}
			d = c
		}
		for index := 0; ; {
			ds, err := d.ReadDir(ctx, index, 256)
			if err != nil && i == 0 {
				return nil, err
			}
			if err != nil || len(ds) == 0 {
				break
			}
			index += len(ds)
			for _, e := range ds {
				if !seen[e.Name] {
					seen[e.Name] = true
					list = append(list, f.ns.entry(ctx, m.to.dev, e))
				}
			}
		}
		if i > 0 {
			d.Clunk()
		}
	}
	return list, nil
}

// entry gives the directory entry e, of a directory of the attach dev, as
// the namespace shows it.
func (n *Namespace) entry(ctx context.Context, dev uint32, e Dir) Dir {
	h := n.lookup(key{dev, e.Qid.Path})
	if h == nil {
		e.Qid = mapQid(dev, e.Qid)
		return e
	}
	defer h.decref()
	to := h.members[0].to
	d, err := to.stat(ctx)
	if err != nil {
		e.Qid = mapQid(to.dev, to.qid)
		return e
	}
	d.Name = e.Name
	d.Qid = mapQid(to.dev, d.Qid)
	return d
}

// Stat gives the metadata of what Open would open, named by the last
// element of the path by which f was reached, as Plan 9's stat does.
func (f *file) Stat(ctx context.Context) (Dir, error) {
	var d Dir
	var err error
	dev := f.dev
	if f.o != nil {
		d, err = f.o.Stat(ctx)
		dev = f.odev
	} else if h := f.ns.lookup(f.key()); h != nil {
		to := h.members[0].to
		d, err = to.stat(ctx)
		dev = to.dev
		h.decref()
	} else {
		d, err = f.f.Stat(ctx)
	}
	if err != nil {
		return Dir{}, err
	}
	d.Qid = mapQid(dev, d.Qid)
	d.Name = "/"
	if len(f.path) > 1 {
		d.Name = f.path[len(f.path)-1].name
	}
	return d, nil
}

// Create creates in the directory as create(2) does: in a union, in the
// first member bound with MCREATE, and only if no member has the name
// already.
func (f *file) Create(ctx context.Context, name string, perm Perm, mode uint8) (File, Qid, error) {
	if f.o != nil {
		return nil, Qid{}, ErrOpen
	}
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return nil, Qid{}, ErrBadName
	}
	dir, dev := f.f, f.dev
	h := f.ns.lookup(f.key())
	if h != nil {
		defer h.decref()
		for _, m := range h.members {
			if _, nf, err := m.to.walk(ctx, []string{name}); err == nil {
				if nf != nil {
					nf.Clunk()
				}
				return nil, Qid{}, ErrExist
			}
		}
		i := slices.IndexFunc(h.members, func(m member) bool { return m.flag&MCREATE != 0 })
		if i < 0 {
			return nil, Qid{}, ErrNoCreate
		}
		to := h.members[i].to
		c, err := to.get(ctx)
		if err != nil {
			return nil, Qid{}, err
		}
		defer to.put(c)
		dir, dev = c, to.dev
	}
	cr, ok := dir.(Creater)
	if !ok {
		return nil, Qid{}, ErrPerm
	}
	nf, q, err := cr.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, Qid{}, err
	}
	path := slices.Clone(f.path)
	path[len(path)-1].mh = h
	path = append(path, level{name: name})
	for _, l := range path {
		if l.mh != nil {
			l.mh.incref()
		}
	}
	c := &file{ns: f.ns, f: nf, dev: dev, qid: q, path: path, o: nf, odev: dev}
	return c, mapQid(dev, q), nil
}

// Remove removes what Open would open.
func (f *file) Remove(ctx context.Context) error {
	target := f.o
	if target == nil {
		target = f.f
		if h := f.ns.lookup(f.key()); h != nil {
			c, err := h.members[0].to.get(ctx)
			h.decref()
			if err != nil {
				return err
			}
			defer c.Clunk()
			target = c
		}
	}
	r, ok := target.(Remover)
	if !ok {
		return ErrPerm
	}
	return r.Remove(ctx)
}

// Wstat changes the metadata of what Open would open.
func (f *file) Wstat(ctx context.Context, d Dir) error {
	target := f.o
	if target == nil {
		target = f.f
		if h := f.ns.lookup(f.key()); h != nil {
			to := h.members[0].to
			c, err := to.get(ctx)
			h.decref()
			if err != nil {
				return err
			}
			defer to.put(c)
			target = c
		}
	}
	w, ok := target.(Wstater)
	if !ok {
		return ErrPerm
	}
	return w.Wstat(ctx, d)
}

func (f *file) Clunk() error {
	var err error
	if f.o != nil && f.o != f.f {
		err = f.o.Clunk()
	}
	if f.f != nil {
		if e := f.f.Clunk(); f.o == f.f {
			err = e
		}
	}
	for _, l := range f.path {
		if l.mh != nil {
			l.mh.decref()
		}
	}
	if f.u != nil {
		f.u.h.decref()
	}
	return err
}
