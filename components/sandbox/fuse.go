package sandbox

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"loom/ns"
)

// FUSEOption changes how ServeFUSE presents a file server.
type FUSEOption func(*fuseConfig)

type fuseConfig struct {
	aname   string
	timeout time.Duration
	name    string
}

// Aname selects the tree of the file server to attach to ("" is the
// default tree).
func Aname(aname string) FUSEOption { return func(c *fuseConfig) { c.aname = aname } }

// CacheFor lets the kernel keep names and attributes for d before asking
// again. The default is 0: the file server may change under the view
// (another client, a namespace edit), and a stale name is worse than a
// slow one.
func CacheFor(d time.Duration) FUSEOption { return func(c *fuseConfig) { c.timeout = d } }

// FSName is the name the mount shows in /proc/self/mountinfo.
func FSName(name string) FUSEOption { return func(c *fuseConfig) { c.name = name } }

// ServeFUSE mounts fsys, attached as user, on mountpoint through the
// kernel's FUSE and serves it until the returned unmount is called.
// Inode numbers are the files' Qid.Path, so that a namespace, which keeps
// the paths of its mounted servers apart, gives distinct inodes.
//
// Errors of the seam become errnos (see errno). A refusal to write
// (ns.ErrPerm) on a file whose mode would let user write is what the
// read-only wrappers of package ns give, and shows as EROFS; any other
// refusal is EACCES.
//
// ServeFUSE mounts with mount(2) itself, in the caller's mount
// namespace, so the caller must be allowed to: root, or root of a user
// namespace that owns its mount namespace. Run it in a namespace of its
// own (as Start's init does) unless the mount is meant for the host.
//
// Files are regular files or directories; the view has no symbolic
// links, devices or hard links. Rename works within a directory only
// (EXDEV otherwise), as 9P's wstat does.
func ServeFUSE(mountpoint string, fsys ns.FS, user string, opts ...FUSEOption) (unmount func() error, err error) {
	c := fuseConfig{name: "loom"}
	for _, o := range opts {
		o(&c)
	}
	ctx := context.Background()
	root, err := fsys.Attach(ctx, user, c.aname)
	if err != nil {
		return nil, err
	}
	d, err := root.Stat(ctx)
	if err != nil {
		root.Clunk()
		return nil, err
	}
	v := &view{root: root, user: user, uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	to := c.timeout
	srv, err := gofs.Mount(mountpoint, &node{v: v}, &gofs.Options{
		EntryTimeout:    &to,
		AttrTimeout:     &to,
		NegativeTimeout: &to,
		RootStableAttr:  &gofs.StableAttr{Ino: ino(d.Qid)},
		UID:             v.uid,
		GID:             v.gid,
		MountOptions: fuse.MountOptions{
			DirectMount:       true,
			DirectMountStrict: true,
			FsName:            c.name,
			Name:              "loom",
			MaxWrite:          1 << 17,
		},
	})
	if err != nil {
		root.Clunk()
		return nil, err
	}
	closeFUSEOnExec()
	return func() error {
		err := srv.Unmount()
		srv.Wait()
		if cerr := root.Clunk(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// closeFUSEOnExec marks the process's descriptors of /dev/fuse
// close-on-exec. The library opens its descriptor without, and a
// program started afterwards would hold the connection open: when the
// server is gone, its requests would then wait for an answer forever
// instead of failing.
func closeFUSEOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == "/dev/fuse" {
			unix.CloseOnExec(fd)
		}
	}
}

// view is what every node of one mount shares.
type view struct {
	root     ns.File
	user     string
	uid, gid uint32
}

// node is one file of the view. It keeps no File of its own: each
// operation walks from the root by the node's current path, which go-fuse
// keeps right across renames, so that a node never holds a server's fid
// longer than a call.
type node struct {
	gofs.Inode
	v *view
}

var (
	_ gofs.NodeLookuper  = (*node)(nil)
	_ gofs.NodeGetattrer = (*node)(nil)
	_ gofs.NodeSetattrer = (*node)(nil)
	_ gofs.NodeOpener    = (*node)(nil)
	_ gofs.NodeReaddirer = (*node)(nil)
	_ gofs.NodeCreater   = (*node)(nil)
	_ gofs.NodeMkdirer   = (*node)(nil)
	_ gofs.NodeUnlinker  = (*node)(nil)
	_ gofs.NodeRmdirer   = (*node)(nil)
	_ gofs.NodeRenamer   = (*node)(nil)
)

// names is the node's path from the root of the view.
func (n *node) names(extra ...string) []string {
	var p []string
	if s := n.Path(nil); s != "" {
		p = strings.Split(s, "/")
	}
	return append(p, extra...)
}

// walk returns a new unopened File for the node's path plus extra.
func (n *node) walk(ctx context.Context, extra ...string) (ns.File, error) {
	return walk(ctx, n.v.root, n.names(extra...))
}

// walk walks from f through names, 16 at a time as 9P allows, and returns
// a new File. The first step walks from f itself, which leaves f as it
// is: every request of the view starts here, and a clone of the root
// first would cost two more round trips to the server.
func walk(ctx context.Context, f ns.File, names []string) (ns.File, error) {
	if len(names) == 0 {
		return clone(ctx, f)
	}
	cur := f
	for len(names) > 0 {
		k := min(len(names), 16)
		_, nf, err := cur.Walk(ctx, names[:k])
		if cur != f {
			cur.Clunk()
		}
		if err != nil {
			return nil, err
		}
		if nf == nil {
			return nil, ns.ErrNotExist
		}
		cur, names = nf, names[k:]
	}
	return cur, nil
}

func clone(ctx context.Context, f ns.File) (ns.File, error) {
	_, nf, err := f.Walk(ctx, nil)
	if err == nil && nf == nil {
		err = ns.ErrNotExist
	}
	return nf, err
}

// ino is the inode number of a Qid. Zero means "pick one" to go-fuse, so
// a server's path 0 (often its root) is moved out of the way.
func ino(q ns.Qid) uint64 {
	if q.Path == 0 {
		return ^uint64(0)
	}
	return q.Path
}

func mode(d ns.Dir) uint32 {
	m := uint32(d.Mode & 0777)
	if d.Mode&ns.DMDIR != 0 {
		return m | syscall.S_IFDIR
	}
	return m | syscall.S_IFREG
}

func (v *view) fill(d ns.Dir, a *fuse.Attr) {
	a.Ino = ino(d.Qid)
	a.Mode = mode(d)
	a.Size = d.Length
	if d.Mode&ns.DMDIR != 0 {
		a.Size = 0
	}
	a.Blocks = (a.Size + 511) / 512
	a.Nlink = 1
	a.Mtime = uint64(d.Mtime)
	a.Atime = uint64(d.Atime)
	a.Ctime = uint64(d.Mtime)
	a.Owner = fuse.Owner{Uid: v.uid, Gid: v.gid}
	a.Blksize = 1 << 16
}

// child makes the Inode for a file just reached under n.
func (n *node) child(ctx context.Context, d ns.Dir, out *fuse.EntryOut) *gofs.Inode {
	n.v.fill(d, &out.Attr)
	return n.NewInode(ctx, &node{v: n.v}, gofs.StableAttr{Mode: mode(d) & syscall.S_IFMT, Ino: ino(d.Qid)})
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	f, err := n.walk(ctx, name)
	if err != nil {
		return nil, errno(err)
	}
	defer f.Clunk()
	d, err := f.Stat(ctx)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, d, out), 0
}

func (n *node) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var d ns.Dir
	var err error
	if h, ok := fh.(*handle); ok {
		d, err = h.f.Stat(ctx)
		if err == nil && d.Mode&ns.DMDIR == 0 {
			h.size.Store(int64(d.Length))
		}
	} else {
		var f ns.File
		if f, err = n.walk(ctx); err == nil {
			d, err = f.Stat(ctx)
			f.Clunk()
		}
	}
	if err != nil {
		return errno(err)
	}
	n.v.fill(d, &out.Attr)
	return 0
}

// Setattr changes what 9P's wstat can: length, permission bits and
// modification time. Owners are the server's business and refused.
func (n *node) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetUID(); ok {
		return syscall.EPERM
	}
	if _, ok := in.GetGID(); ok {
		return syscall.EPERM
	}
	f, err := n.walk(ctx)
	if err != nil {
		return errno(err)
	}
	defer f.Clunk()
	d, err := f.Stat(ctx)
	if err != nil {
		return errno(err)
	}
	nd := ns.NullDir()
	change := false
	if sz, ok := in.GetSize(); ok {
		nd.Length, change = sz, true
	}
	if m, ok := in.GetMode(); ok {
		nd.Mode, change = d.Mode&^0777|ns.Perm(m&0777), true
	}
	if mt, ok := in.GetMTime(); ok {
		nd.Mtime, change = uint32(mt.Unix()), true
	}
	if change {
		w, ok := f.(ns.Wstater)
		if !ok {
			return syscall.EROFS
		}
		if err := w.Wstat(ctx, nd); err != nil {
			return n.v.writeErrno(ctx, f, err)
		}
		if d, err = f.Stat(ctx); err != nil {
			return errno(err)
		}
	}
	n.v.fill(d, &out.Attr)
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	m, err := ns.LinuxOpenMode(flags)
	if err != nil {
		return nil, 0, syscall.EINVAL
	}
	f, err := n.walk(ctx)
	if err != nil {
		return nil, 0, errno(err)
	}
	if _, err := f.Open(ctx, m); err != nil {
		e := errno(err)
		if m&3 != ns.OREAD || m&ns.OTRUNC != 0 {
			e = n.v.writeErrno(ctx, f, err)
		}
		f.Clunk()
		return nil, 0, e
	}
	return &handle{f: f, v: n.v}, 0, 0
}

func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	f, err := n.walk(ctx)
	if err != nil {
		return nil, errno(err)
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		return nil, errno(err)
	}
	var ents []fuse.DirEntry
	for {
		ds, err := f.ReadDir(ctx, len(ents), 256)
		if err != nil {
			return nil, errno(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			ents = append(ents, fuse.DirEntry{Name: d.Name, Ino: ino(d.Qid), Mode: mode(d) & syscall.S_IFMT})
		}
	}
	return gofs.NewListDirStream(ents), 0
}

func (n *node) create(ctx context.Context, name string, perm ns.Perm, m uint8) (ns.File, ns.Dir, syscall.Errno) {
	dir, err := n.walk(ctx)
	if err != nil {
		return nil, ns.Dir{}, errno(err)
	}
	defer dir.Clunk()
	c, ok := dir.(ns.Creater)
	if !ok {
		return nil, ns.Dir{}, syscall.EROFS
	}
	f, _, err := c.Create(ctx, name, perm, m)
	if err != nil {
		return nil, ns.Dir{}, n.v.writeErrno(ctx, dir, err)
	}
	d, err := f.Stat(ctx)
	if err != nil {
		f.Clunk()
		return nil, ns.Dir{}, errno(err)
	}
	return f, d, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, m uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	mode, err := ns.LinuxOpenMode(flags)
	if err != nil {
		return nil, nil, 0, syscall.EINVAL
	}
	f, d, e := n.create(ctx, name, ns.Perm(m&0777), mode&^ns.OTRUNC)
	if e != 0 {
		return nil, nil, 0, e
	}
	return n.child(ctx, d, out), &handle{f: f, v: n.v}, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, m uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	f, d, e := n.create(ctx, name, ns.DMDIR|ns.Perm(m&0777), ns.OREAD)
	if e != 0 {
		return nil, e
	}
	f.Clunk()
	return n.child(ctx, d, out), 0
}

// remove removes name, a file or, with dir, a directory.
func (n *node) remove(ctx context.Context, name string, dir bool) syscall.Errno {
	f, err := n.walk(ctx, name)
	if err != nil {
		return errno(err)
	}
	defer f.Clunk()
	d, err := f.Stat(ctx)
	if err != nil {
		return errno(err)
	}
	switch {
	case dir && !d.Mode.IsDir():
		return syscall.ENOTDIR
	case !dir && d.Mode.IsDir():
		return syscall.EISDIR
	}
	r, ok := f.(ns.Remover)
	if !ok {
		return syscall.EROFS
	}
	if err := r.Remove(ctx); err != nil {
		p, perr := n.walk(ctx)
		if perr != nil {
			return errno(err)
		}
		defer p.Clunk()
		return n.v.writeErrno(ctx, p, err)
	}
	return 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, false)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, true)
}

// Rename renames within one directory, which is all 9P's wstat can do;
// across directories it is EXDEV, and mv(1) copies instead. As rename(2)
// does, an existing file of the new name is replaced.
func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if newParent.EmbeddedInode() != &n.Inode {
		return syscall.EXDEV
	}
	if flags != 0 {
		return syscall.EINVAL
	}
	f, err := n.walk(ctx, name)
	if err != nil {
		return errno(err)
	}
	defer f.Clunk()
	w, ok := f.(ns.Wstater)
	if !ok {
		return syscall.EROFS
	}
	if old, err := n.walk(ctx, newName); err == nil {
		r, ok := old.(ns.Remover)
		var rerr error = ns.ErrPerm
		if ok {
			rerr = r.Remove(ctx)
		}
		old.Clunk()
		if rerr != nil {
			return n.v.writeErrno(ctx, f, rerr)
		}
	}
	d := ns.NullDir()
	d.Name = newName
	if err := w.Wstat(ctx, d); err != nil {
		return n.v.writeErrno(ctx, f, err)
	}
	return 0
}

// handle is an open file of the view.
type handle struct {
	f ns.File
	v *view
	// size is the file's length when last stated through the handle
	// (the kernel does so before each read), 0 when unknown.
	size atomic.Int64
}

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileWriter   = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)

// Read fills dest as far as the file goes: the kernel takes a short read
// for the end of the file, while a 9P server may return less at a time.
// Where the file's length is known and reached, it asks no more: that
// read would cost a round trip to say what the length says.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := 0
	size := h.size.Load()
	for n < len(dest) {
		if n > 0 && size > 0 && off+int64(n) >= size {
			break
		}
		m, err := h.f.Read(ctx, dest[n:], off+int64(n))
		if err != nil {
			if n > 0 {
				break
			}
			return nil, errno(err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n := 0
	for n < len(data) {
		m, err := h.f.Write(ctx, data[n:], off+int64(n))
		if err != nil {
			if n > 0 {
				break
			}
			return 0, h.v.writeErrno(ctx, h.f, err)
		}
		if m == 0 {
			return uint32(n), syscall.EIO
		}
		n += m
	}
	return uint32(n), 0
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	return errno(h.f.Clunk())
}

// writeErrno is errno for a refused change to f (or to a directory f):
// EROFS when f's mode would let the user write, so that the refusal came
// from a read-only view and not from the file's permissions.
func (v *view) writeErrno(ctx context.Context, f ns.File, err error) syscall.Errno {
	if !errors.Is(err, ns.ErrPerm) {
		return errno(err)
	}
	d, serr := f.Stat(ctx)
	if serr == nil && ns.Allowed(d.Mode, d.Uid, d.Gid, v.user, ns.DMWRITE) {
		return syscall.EROFS
	}
	return syscall.EACCES
}

// errno is the Linux error for an error of the seam (ns.Errno).
func errno(err error) syscall.Errno { return ns.Errno(err) }
