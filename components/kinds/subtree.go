package kinds

import (
	"context"

	"loom/ns"
)

// Subtree returns the tree under the directory p of fsys as a file server
// of its own, as post NAME PATH posts it: its root is p, and ".." from
// its root stays there, so that nothing above p can be reached from it.
func Subtree(fsys ns.FS, p string) ns.FS { return subtree{fsys, p} }

type subtree struct {
	fsys ns.FS
	p    string
}

func (s subtree) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	root, err := s.fsys.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, s.p)
	if err != nil {
		return nil, err
	}
	d, err := f.Stat(ctx)
	if err != nil {
		f.Clunk()
		return nil, err
	}
	return &subFile{f: f, root: d.Qid}, nil
}

// A subFile is a File of a subtree: depth is how far below the
// subtree's root it is, which ".." may not take below 0.
type subFile struct {
	f     ns.File
	depth int
	root  ns.Qid
}

var (
	_ ns.Creater = (*subFile)(nil)
	_ ns.Remover = (*subFile)(nil)
	_ ns.Wstater = (*subFile)(nil)
)

func (s *subFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	cur, own := s.f, false
	depth := s.depth
	qids := make([]ns.Qid, 0, len(names))
	release := func() {
		if own {
			cur.Clunk()
		}
	}
	// walk walks cur through a run of names that stays inside the
	// subtree; it reports whether every name was reached.
	walk := func(run []string) (bool, error) {
		q, nf, err := cur.Walk(ctx, run)
		qids = append(qids, q...)
		if err != nil || nf == nil {
			return false, err
		}
		release()
		cur, own = nf, true
		return true, nil
	}
	start := 0
	for i, name := range names {
		switch {
		case name == ".." && depth == 0:
			// ".." of the root is the root: walk what came before,
			// and stay.
			if i > start {
				if ok, err := walk(names[start:i]); !ok {
					release()
					return partial(qids, err)
				}
			}
			qids = append(qids, s.root)
			start = i + 1
		case name == "..":
			depth--
		default:
			depth++
		}
	}
	if start < len(names) {
		if ok, err := walk(names[start:]); !ok {
			release()
			return partial(qids, err)
		}
	}
	if !own {
		_, nf, err := cur.Walk(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		cur = nf
	}
	return qids, &subFile{f: cur, depth: depth, root: s.root}, nil
}

// partial ends a walk that stopped short: an error only when no name was
// reached.
func partial(qids []ns.Qid, err error) ([]ns.Qid, ns.File, error) {
	if len(qids) == 0 {
		if err == nil {
			err = ns.ErrNotExist
		}
		return nil, nil, err
	}
	return qids, nil, nil
}

func (s *subFile) Open(ctx context.Context, mode uint8) (ns.Qid, error) { return s.f.Open(ctx, mode) }

func (s *subFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return s.f.Read(ctx, p, off)
}

func (s *subFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return s.f.Write(ctx, p, off)
}

func (s *subFile) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	return s.f.ReadDir(ctx, index, n)
}

func (s *subFile) Stat(ctx context.Context) (ns.Dir, error) { return s.f.Stat(ctx) }

func (s *subFile) Clunk() error { return s.f.Clunk() }

func (s *subFile) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	c, ok := s.f.(ns.Creater)
	if !ok {
		return nil, ns.Qid{}, ns.ErrPerm
	}
	f, q, err := c.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, ns.Qid{}, err
	}
	return &subFile{f: f, depth: s.depth + 1, root: s.root}, q, nil
}

func (s *subFile) Remove(ctx context.Context) error {
	if s.depth == 0 {
		// The subtree's root is where it is posted from, not its own
		// to remove.
		return ns.ErrPerm
	}
	r, ok := s.f.(ns.Remover)
	if !ok {
		return ns.ErrPerm
	}
	return r.Remove(ctx)
}

func (s *subFile) Wstat(ctx context.Context, d ns.Dir) error {
	w, ok := s.f.(ns.Wstater)
	if !ok {
		return ns.ErrPerm
	}
	return w.Wstat(ctx, d)
}
