package ramfs

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"loom/ns"
)

// An Entry is one file of a tree as Entries gives it and Put takes it:
// what a saved snapshot keeps of it.
type Entry struct {
	// Path is the file's name from the root, elements separated by
	// "/"; "" is the root itself.
	Path         string
	Mode         ns.Perm
	Uid          string
	Gid          string
	Muid         string
	Mtime, Atime uint32
	Length       int64 // of a file; 0 for a directory
}

// Entries calls fn for each file of fs, the root first and each
// directory before what it holds, with the file's data to read until fn
// returns; it stops at the first error. fs must not change meanwhile: it
// is meant for a Clone, which nothing else writes.
func (fs *FS) Entries(fn func(e Entry, data io.ReaderAt) error) error {
	fs.tree.RLock()
	defer fs.tree.RUnlock()
	return entries(fs.root, "", fn)
}

func entries(n *node, p string, fn func(Entry, io.ReaderAt) error) error {
	n.mu.RLock()
	e := Entry{Path: p, Mode: n.mode, Uid: n.uid, Gid: n.gid, Muid: n.muid,
		Mtime: n.mtime, Atime: n.atime.Load(), Length: n.data.length}
	n.mu.RUnlock()
	if err := fn(e, dataReader{n}); err != nil {
		return err
	}
	for _, k := range n.kids {
		if err := entries(k, path.Join(p, k.name), fn); err != nil {
			return err
		}
	}
	return nil
}

// dataReader reads a node's data.
type dataReader struct{ n *node }

func (r dataReader) ReadAt(p []byte, off int64) (int, error) {
	r.n.mu.RLock()
	n := r.n.data.readAt(p, off)
	r.n.mu.RUnlock()
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Put makes the file e describes, with its metadata, in the directory
// its path names, which must exist already; its data, e.Length bytes,
// is read from data. The root's entry ("" for its path) sets the root's
// metadata. Files open on fs see the new file as any other.
func (fs *FS) Put(e Entry, data io.Reader) error {
	if e.Length < 0 || e.Length > maxLength || e.Mode.IsDir() && e.Length != 0 {
		return fmt.Errorf("ramfs: %q: bad length %d", e.Path, e.Length)
	}
	if e.Mode&^(ns.DMDIR|ns.DMAPPEND|ns.DMEXCL|ns.DMTMP|0o777) != 0 {
		return fmt.Errorf("ramfs: %q: bad mode %#o", e.Path, uint32(e.Mode))
	}
	fs.tree.Lock()
	defer fs.tree.Unlock()
	if e.Path == "" {
		if !e.Mode.IsDir() {
			return fmt.Errorf("ramfs: the root must be a directory")
		}
		r := fs.root
		r.mu.Lock()
		r.mode, r.uid, r.gid, r.muid, r.mtime = e.Mode, e.Uid, e.Gid, e.Muid, e.Mtime
		r.atime.Store(e.Atime)
		r.mu.Unlock()
		return nil
	}
	dir, name := path.Split(e.Path)
	if !validName(name) || strings.HasPrefix(e.Path, "/") {
		return fmt.Errorf("ramfs: bad path %q", e.Path)
	}
	d := fs.root
	for _, el := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
		if el == "" {
			continue
		}
		if d = d.byName[el]; d == nil || !d.dir {
			return fmt.Errorf("ramfs: %q: no directory %s", e.Path, dir)
		}
	}
	if d.byName[name] != nil {
		return fmt.Errorf("ramfs: %q: %w", e.Path, ns.ErrExist)
	}
	n := &node{path: fs.next, name: name, uid: e.Uid, gid: e.Gid, muid: e.Muid, mode: e.Mode,
		mtime: e.Mtime, parent: d, dir: e.Mode.IsDir(), data: content{gen: newGen()}}
	n.atime.Store(e.Atime)
	// The data comes a chunk at a time, so that a length that lies
	// costs no more memory than the data that is there.
	buf := make([]byte, min(e.Length, chunkSize))
	for off := int64(0); off < e.Length; {
		m := min(int64(len(buf)), e.Length-off)
		if _, err := io.ReadFull(data, buf[:m]); err != nil {
			return fmt.Errorf("ramfs: %q: %w", e.Path, err)
		}
		n.data.writeAt(buf[:m], off)
		off += m
	}
	fs.next++
	if d.byName == nil {
		d.byName = map[string]*node{}
	}
	d.byName[name] = n
	d.kids = append(d.kids, n)
	if e.Mtime == 0 {
		n.mtime = uint32(time.Now().Unix())
	}
	return nil
}

// Restore makes fs hold what from holds, as Clone would copy it, in place
// of its own tree: those who mounted fs see from's tree. Files open on
// fs before go on with the tree they had, which no name reaches any
// more.
func (fs *FS) Restore(from *FS) {
	c := from.Clone()
	fs.tree.Lock()
	fs.root, fs.next = c.root, max(fs.next, c.next)
	fs.tree.Unlock()
}
