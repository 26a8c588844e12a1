package ns

import (
	"context"
	"path"
	"slices"
	"strings"
	"sync"
)

// ReadOnly returns a view of fsys that refuses every change with ErrPerm:
// opening for writing, with OTRUNC or with ORCLOSE, writing, creating,
// removing and wstat. Reads are untouched.
//
// The view wraps the Files it attaches to and every File walked from
// them, so no File from it reaches fsys unwrapped: not by "..", not by
// being bound in a union beside writable members, not by a clone. Since a
// Namespace is an FS, ReadOnly(nsp) is a read-only view of a whole
// namespace, which sees later binds in nsp; to bind within a read-only
// view, mount the view on "/" of a new Namespace.
func ReadOnly(fsys FS) FS { return readOnly{fsys} }

type readOnly struct{ fs FS }

func (r readOnly) Attach(ctx context.Context, user, aname string) (File, error) {
	f, err := r.fs.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return &roFile{f}, nil
}

type roFile struct{ f File }

var (
	_ Creater = (*roFile)(nil)
	_ Remover = (*roFile)(nil)
	_ Wstater = (*roFile)(nil)
)

func (r *roFile) Walk(ctx context.Context, names []string) ([]Qid, File, error) {
	qids, nf, err := r.f.Walk(ctx, names)
	if nf == nil {
		return qids, nil, err
	}
	return qids, &roFile{nf}, err
}

func (r *roFile) Open(ctx context.Context, mode uint8) (Qid, error) {
	if mode&3 == OWRITE || mode&3 == ORDWR || mode&(OTRUNC|ORCLOSE) != 0 {
		return Qid{}, ErrPerm
	}
	return r.f.Open(ctx, mode)
}

func (r *roFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return r.f.Read(ctx, p, off)
}

func (r *roFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, ErrPerm
}

func (r *roFile) ReadDir(ctx context.Context, index, n int) ([]Dir, error) {
	return r.f.ReadDir(ctx, index, n)
}

func (r *roFile) Stat(ctx context.Context) (Dir, error) { return r.f.Stat(ctx) }
func (r *roFile) Clunk() error                          { return r.f.Clunk() }
func (r *roFile) Remove(ctx context.Context) error      { return ErrPerm }
func (r *roFile) Wstat(ctx context.Context, d Dir) error {
	return ErrPerm
}

func (r *roFile) Create(ctx context.Context, name string, perm Perm, mode uint8) (File, Qid, error) {
	return nil, Qid{}, ErrPerm
}

// Hide returns a view of fsys in which the named paths (absolute within
// fsys, "/a/b") and everything under them do not exist: walks to them
// fail with ErrNotExist and directory reads leave them out.
//
// The view keeps, for each File, the name by which it was reached from
// the attach ("..", which stops at the root, included), so a walk down
// from anywhere, and in a union or after a bind anywhere, meets the same
// test. Creating a hidden name, renaming a file to one, and renaming or
// removing a directory above one (which would move hidden files into
// sight or tell that they exist) are refused with ErrPerm.
//
// Hide hides names, not files: if fsys reaches a file by two names (a
// namespace where it is bound twice), hide both.
func Hide(fsys FS, paths ...string) FS {
	h := &hide{fs: fsys, hidden: map[string]bool{}, dirs: map[string]bool{}, above: map[string]bool{}}
	for _, p := range paths {
		p = path.Clean("/" + p)
		h.hidden[p] = true
		h.dirs[path.Dir(p)] = true
		for d := p; d != "/"; {
			d = path.Dir(d)
			h.above[d] = true
		}
	}
	return h
}

type hide struct {
	fs     FS
	hidden map[string]bool
	dirs   map[string]bool // directories that hold hidden names
	above  map[string]bool // directories above hidden names
}

// covered reports whether p, a clean absolute name, is hidden or is under
// a hidden name.
func (h *hide) covered(p string) bool {
	for {
		if h.hidden[p] {
			return true
		}
		if p == "/" {
			return false
		}
		p = path.Dir(p)
	}
}

func (h *hide) Attach(ctx context.Context, user, aname string) (File, error) {
	if h.covered("/") {
		return nil, ErrNotExist
	}
	f, err := h.fs.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return &hideFile{h: h, f: f, p: "/"}, nil
}

type hideFile struct {
	h *hide
	f File
	p string // the clean name by which f was reached

	mu   sync.Mutex
	list []Dir // a listing with the hidden names left out
}

var (
	_ Creater = (*hideFile)(nil)
	_ Remover = (*hideFile)(nil)
	_ Wstater = (*hideFile)(nil)
)

func (f *hideFile) Walk(ctx context.Context, names []string) ([]Qid, File, error) {
	p := f.p
	i := 0
	for ; i < len(names); i++ {
		name := names[i]
		if strings.Contains(name, "/") {
			break
		}
		next := path.Join(p, name)
		if f.h.covered(next) {
			break
		}
		p = next
	}
	if i == 0 && len(names) > 0 {
		return nil, nil, ErrNotExist
	}
	qids, nf, err := f.f.Walk(ctx, names[:i])
	if nf == nil {
		return qids, nil, err
	}
	if i < len(names) {
		nf.Clunk()
		return qids, nil, nil
	}
	return qids, &hideFile{h: f.h, f: nf, p: p}, err
}

func (f *hideFile) Open(ctx context.Context, mode uint8) (Qid, error) {
	if mode&ORCLOSE != 0 && f.h.above[f.p] {
		return Qid{}, ErrPerm
	}
	return f.f.Open(ctx, mode)
}

func (f *hideFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return f.f.Read(ctx, p, off)
}

func (f *hideFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return f.f.Write(ctx, p, off)
}

func (f *hideFile) ReadDir(ctx context.Context, index, n int) ([]Dir, error) {
	if !f.h.dirs[f.p] {
		return f.f.ReadDir(ctx, index, n)
	}
	if index < 0 || n < 0 {
		return nil, ErrBadOffset
	}
	// Indexes count the names left, so the listing is read whole.
	f.mu.Lock()
	defer f.mu.Unlock()
	if index == 0 || f.list == nil {
		list := []Dir{}
		for i := 0; ; {
			ds, err := f.f.ReadDir(ctx, i, 256)
			if err != nil {
				return nil, err
			}
			if len(ds) == 0 {
				break
			}
			i += len(ds)
			for _, d := range ds {
				if !f.h.hidden[path.Join(f.p, d.Name)] {
					list = append(list, d)
				}
			}
		}
		f.list = list
	}
	if index >= len(f.list) {
		return nil, nil
	}
	return slices.Clone(f.list[index:min(len(f.list), index+n)]), nil
}

func (f *hideFile) Stat(ctx context.Context) (Dir, error) { return f.f.Stat(ctx) }
func (f *hideFile) Clunk() error                          { return f.f.Clunk() }

func (f *hideFile) Create(ctx context.Context, name string, perm Perm, mode uint8) (File, Qid, error) {
	if strings.Contains(name, "/") {
		return nil, Qid{}, ErrBadName
	}
	p := path.Join(f.p, name)
	if f.h.covered(p) {
		return nil, Qid{}, ErrPerm
	}
	c, ok := f.f.(Creater)
	if !ok {
		return nil, Qid{}, ErrPerm
	}
	nf, q, err := c.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, Qid{}, err
	}
	return &hideFile{h: f.h, f: nf, p: p}, q, nil
}

func (f *hideFile) Remove(ctx context.Context) error {
	r, ok := f.f.(Remover)
	if !ok || f.h.above[f.p] {
		return ErrPerm
	}
	return r.Remove(ctx)
}

func (f *hideFile) Wstat(ctx context.Context, d Dir) error {
	w, ok := f.f.(Wstater)
	if !ok {
		return ErrPerm
	}
	if d.Name != "" && d.Name != path.Base(f.p) {
		if strings.Contains(d.Name, "/") || f.h.above[f.p] || f.h.covered(path.Join(path.Dir(f.p), d.Name)) {
			return ErrPerm
		}
	}
	return w.Wstat(ctx, d)
}
