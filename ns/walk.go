package ns

import "context"

// A level is one element of the name by which a File was reached. mh is
// the union that the walk went into at this element, if it went into one:
// ".." back to this element returns to mh's mount point, not to the
// parent that the file server would give.
type level struct {
	name string
	mh   *mhead // held by the File whose path this is
}

// A pos is where a walk is: an unopened File of some attach, either the
// walk's own (own), or a ref's (r) that other walks share, or the
// receiver's.
type pos struct {
	f   File
	r   *ref
	own bool
	dev uint32
	qid Qid
}

func (p pos) walk(ctx context.Context, names []string) ([]Qid, File, error) {
	if p.r != nil {
		return p.r.walk(ctx, names)
	}
	return p.f.Walk(ctx, names)
}

func (p pos) release() {
	if p.own {
		p.f.Clunk()
	}
}

func at(r *ref) pos { return pos{f: r.f, r: r, dev: r.dev, qid: r.qid} }

// attachRoot returns a File for the namespace's root.
func (n *Namespace) attachRoot() *file {
	f, _ := n.root.get(context.Background()) // emptyDir clones never fail
	return &file{ns: n, f: f, dev: 0, qid: n.root.qid, path: []level{{}}}
}

// walk1 walks from the File from through names as Plan 9's kernel does:
//
//   - a name is looked up in the first member of the union at the current
//     file (or in the file itself, if nothing is mounted on it) that has
//     it, and the rest of a run of names without ".." is walked in that
//     member in one call, stopping at a mount point along the way;
//   - ".." goes back to the element before, by the name the walk came:
//     if a mount was crossed there, to the mount point itself, and
//     otherwise to the file server's parent; ".." of the root is the root.
//
// The last file reached is left on the mount point's side: what is
// mounted on it is looked up again when the File is used, so that a File
// for a directory sees later mounts on it, as Plan 9's dot does.
//
// When deps is not nil, the ids of the union members walked through are
// appended to it.
func (n *Namespace) walk1(ctx context.Context, from *file, names []string, deps *[]uint64) ([]Qid, *file, error) {
	cur := pos{f: from.f, dev: from.dev, qid: from.qid}
	path := make([]level, len(from.path), len(from.path)+len(names))
	copy(path, from.path)
	var buf [8]*mhead
	held := buf[:0] // unions this walk went through
	defer func() {
		for _, h := range held {
			h.decref()
		}
	}()
	qids := make([]Qid, 0, len(names))
	stop := func(err error) ([]Qid, *file, error) {
		cur.release()
		if len(qids) == 0 {
			return nil, nil, err
		}
		return qids, nil, nil
	}
	for i := 0; i < len(names); {
		if !cur.qid.IsDir() {
			return stop(ErrNotDir)
		}
		if names[i] == ".." {
			if len(path) > 1 {
				path = path[:len(path)-1]
				if h := path[len(path)-1].mh; h != nil {
					// Back across a mount: to the mount point.
					path[len(path)-1].mh = nil
					cur.release()
					cur = at(h.from)
				} else {
					qs, nf, err := cur.walk(ctx, names[i:i+1])
					if err == nil && nf == nil {
						err = ErrNotExist
					}
					if err != nil {
						return stop(err)
					}
					cur.release()
					cur = pos{f: nf, own: true, dev: cur.dev, qid: qs[0]}
				}
			}
			qids = append(qids, n.view(cur.dev, cur.qid))
			i++
			continue
		}
		j := i
		for j < len(names) && j-i < MaxWalk && names[j] != ".." {
			j++
		}
		run := names[i:j]

		// Into the union mounted here, if any: the first member that
		// has the first name.
		var qs []Qid
		var nf File
		var err error
		dev := cur.dev
		if h := n.lookup(key{cur.dev, cur.qid.Path}); h == nil {
			qs, nf, err = cur.walk(ctx, run)
		} else {
			held = append(held, h)
			err = ErrNotExist
			for _, m := range h.members {
				if qs, nf, err = m.to.walk(ctx, run); err == nil {
					dev = m.to.dev
					if deps != nil {
						*deps = append(*deps, m.id)
					}
					break
				}
			}
			path[len(path)-1].mh = h
		}
		if err != nil {
			return stop(err)
		}

		// A mount point before the last name reached: go on from the
		// union there instead.
		k, h := n.firstMount(dev, qs[:min(len(qs), len(run)-1)])
		if h != nil {
			if nf != nil {
				nf.Clunk()
			}
			held = append(held, h)
			for x, q := range qs[:k] {
				qids = append(qids, mapQid(dev, q))
				path = append(path, level{name: run[x]})
			}
			qids = append(qids, mapQid(h.members[0].to.dev, h.members[0].to.qid))
			path = append(path, level{name: run[k]})
			cur.release()
			cur = at(h.from)
			i += k + 1
			continue
		}
		for x, q := range qs {
			if x == len(run)-1 {
				qids = append(qids, n.view(dev, q))
			} else {
				qids = append(qids, mapQid(dev, q))
			}
			path = append(path, level{name: run[x]})
		}
		if nf == nil {
			return stop(nil) // a partial walk
		}
		cur.release()
		cur = pos{f: nf, own: true, dev: dev, qid: qs[len(qs)-1]}
		i = j
	}

	f := cur.f
	if !cur.own {
		var err error
		if cur.r != nil {
			f, err = cur.r.get(ctx)
		} else {
			_, f, err = cur.f.Walk(ctx, nil)
		}
		if err != nil {
			return stop(err)
		}
	}
	for _, l := range path {
		if l.mh != nil {
			l.mh.incref()
		}
	}
	return qids, &file{ns: n, f: f, dev: cur.dev, qid: cur.qid, path: path}, nil
}

// firstMount returns, held, the first union mounted on one of the files
// qids of the attach dev, and its index.
func (n *Namespace) firstMount(dev uint32, qids []Qid) (int, *mhead) {
	if len(qids) == 0 {
		return 0, nil
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for i, q := range qids {
		if h := n.t.get(key{dev, q.Path}); h != nil {
			return i, h.incref()
		}
	}
	return 0, nil
}

// view returns the Qid that the namespace shows for the file q of the
// attach dev: that of what is mounted on it, if anything is.
func (n *Namespace) view(dev uint32, q Qid) Qid {
	n.mu.RLock()
	h := n.t.get(key{dev, q.Path})
	if h != nil {
		to := h.members[0].to
		dev, q = to.dev, to.qid
	}
	n.mu.RUnlock()
	return mapQid(dev, q)
}

// mapQid gives the file q of the attach dev a Qid.Path unique in the
// namespace, since two servers may use the same paths: the device number
// in the top bits when the path fits below them, as it does for every
// server that numbers its files from zero, and otherwise a mix of the two
// with the top bit set, which could collide but is unlikely to.
func mapQid(dev uint32, q Qid) Qid {
	if dev < 1<<15 && q.Path < 1<<48 {
		q.Path |= uint64(dev) << 48
		return q
	}
	x := q.Path ^ uint64(dev)*0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	q.Path = x ^ x>>31 | 1<<63
	return q
}
