package ramfs

// Clone returns a new FS holding a copy of fs's tree as it is now: every
// file's contents and metadata, and its qid path, so that the copy is
// what a clone of a system sees where the original saw fs. Later changes
// to either do not show in the other. The copy is deep: file data is
// copied, not shared.
func (fs *FS) Clone() *FS {
	fs.tree.RLock()
	defer fs.tree.RUnlock()
	c := &FS{next: fs.next, owner: fs.owner}
	c.root = cloneNode(fs.root, nil)
	return c
}

// cloneNode copies n and, for a directory, everything below it; the
// caller holds the tree lock, which keeps the shape still, and each
// node's lock is taken to read its data.
func cloneNode(n, parent *node) *node {
	n.mu.RLock()
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
		data:  append([]byte(nil), n.data...),
	}
	n.mu.RUnlock()
	c.atime.Store(n.atime.Load())
	c.parent = parent
	if parent == nil {
		c.parent = c
	}
	if n.byName != nil {
		c.byName = make(map[string]*node, len(n.kids))
	}
	for _, k := range n.kids {
		if k.removed {
			continue
		}
		kc := cloneNode(k, c)
		c.kids = append(c.kids, kc)
		if c.byName == nil {
			c.byName = map[string]*node{}
		}
		c.byName[kc.name] = kc
	}
	return c
}
