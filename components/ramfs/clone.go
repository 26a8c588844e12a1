package ramfs

// Clone returns a new FS holding a copy of fs's tree as it is now: every
// file's contents and metadata, and its qid path, so that the copy is
// what a clone of a system sees where the original saw fs. Later changes
// to either do not show in the other, whether made by name or through
// Files open since before the clone.
//
// The copy costs one node per file, not the data: contents are shared in
// chunks of 64 KiB that either side copies only when it first writes
// them. The copy is made at one moment: no write, create, remove or
// wstat of fs is half seen.
func (fs *FS) Clone() *FS {
	fs.tree.Lock()
	defer fs.tree.Unlock()
	c := &FS{next: fs.next, owner: fs.owner}
	c.root = cloneNode(fs.root, nil)
	return c
}

// cloneNode copies n and, for a directory, everything below it; the
// caller holds the tree lock for writing, which keeps the shape and
// every file's data still. Each node's own lock is taken too, since the
// sharing changes which chunks n may write in place.
func cloneNode(n, parent *node) *node {
	n.mu.Lock()
	c := &node{
		path:  n.path,
		dir:   n.dir,
		name:  n.name,
		uid:   n.uid,
		gid:   n.gid,
		muid:  n.muid,
		mode:  n.mode,
		vers:  n.vers,
		mtime: n.mtime,
		data:  n.data.share(),
	}
	n.mu.Unlock()
	c.atime.Store(n.atime.Load())
	c.parent = parent
	if parent == nil {
		c.parent = c
	}
	if len(n.kids) > 0 {
		c.byName = make(map[string]*node, len(n.kids))
		c.kids = make([]*node, 0, len(n.kids))
	}
	for _, k := range n.kids {
		if k.removed {
			continue
		}
		kc := cloneNode(k, c)
		c.kids = append(c.kids, kc)
		c.byName[kc.name] = kc
	}
	return c
}

// Size returns the number of bytes the files of fs hold, as their
// lengths say (holes included).
func (fs *FS) Size() int64 {
	fs.tree.RLock()
	defer fs.tree.RUnlock()
	return size(fs.root)
}

func size(n *node) int64 {
	n.mu.RLock()
	s := n.data.length
	n.mu.RUnlock()
	for _, k := range n.kids {
		s += size(k)
	}
	return s
}
