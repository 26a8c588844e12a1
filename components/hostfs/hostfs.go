// Package hostfs serves a directory of the host as a loom file server, so
// that a system can see part of the machine it runs on, optionally
// read-only, without being able to see anything else.
//
// # Confinement
//
// Nothing outside the served directory (the root) can be reached: not by
// "..", not by symbolic links, not by renames racing a walk. The package
// never turns a client's names into a host path string and never asks
// the kernel to resolve anything except relative to a descriptor it
// holds:
//
//   - The root is opened once, by New, as an O_PATH descriptor.
//   - Every node a File reaches is held as an O_PATH descriptor of its
//     own (not a path), got with openat2(2) from the descriptor of the
//     directory it was walked from, one name at a time, with
//     RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS and
//     O_NOFOLLOW: the kernel itself refuses to leave that directory or
//     to follow a link. A File therefore keeps pointing at the file it
//     was walked to when the file, or any directory above it, is renamed
//     or replaced afterwards.
//   - ".." is lexical, as in Plan 9: it goes back to the node walked
//     from, and from the root it stays at the root. The host's ".." is
//     never looked up.
//   - A symbolic link met by a walk is followed as if the root were the
//     host's "/" (as chroot(2) would have it): openat2 from the root's
//     descriptor with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS resolves the
//     link, and any links in its target, with absolute targets taken
//     from the root and ".." stopping at the root. A link to /etc thus
//     means the root's own etc, if it has one, and ../../.. from near
//     the top means the root. The link's own directory is named to the
//     kernel by its current path under the root, read back from
//     /proc/self/fd; if that path is stale because of a concurrent
//     rename, the link resolves elsewhere inside the root or not at all,
//     never outside it, since RESOLVE_IN_ROOT confines the whole
//     resolution. A link that leads nowhere (dangling, or a loop) is
//     "file does not exist" to Walk and left out of directory listings,
//     so that every entry a listing shows can be walked to.
//   - Opening, changing the mode, times or group, and truncating act on
//     the inode a File holds, through /proc/self/fd/N of its O_PATH
//     descriptor (the kernel's way to reopen exactly that inode: the
//     path is a "magic link" to the open file, not a name lookup).
//     openat2 cannot do this itself, as it takes no empty path. New
//     checks that /proc is really procfs before relying on it.
//   - Remove and rename act on the directory entry a File was walked
//     through, relative to the descriptor of the directory that holds
//     it, after checking that the entry still names the same inode. A
//     race between that check and the unlink or rename can at worst
//     remove or rename another entry of the same name in the same
//     directory: still inside the root.
//   - Only regular files and directories can be opened: device nodes,
//     named pipes and sockets inside the root are listed and stat'ed
//     but Open refuses them ("permission denied"), since a device node
//     would be a way out and a pipe would block the server.
//   - Hard links are out of scope: a file outside the root that has a
//     second name inside it is inside it. So are mount points: a file
//     system mounted under the root is served (but no magic link).
//
// An escape attempt looks to a client like a name that is not there:
// "file does not exist". openat2 reports EXDEV for it, and that is how
// hostfs maps EXDEV.
//
// # Users
//
// Every attach, whatever its user name, acts as the host user the loom
// server runs as: the kernel's permission checks for that user are the
// only ones made, besides ReadOnly. Stat gives the host's owner and group
// names (numbers when the host has no name for them). Files are created
// with Plan 9's modes rather than the server's umask: a new file gets
// perm&(~0666|dir&0666) and a new directory perm&(~0777|dir&0777).
//
// # Qids
//
// A Qid's Path is the file's inode number (mixed with its device number
// on another file system than the root's); its Vers is a hash of the
// modification and change times in nanoseconds and the length, so that a
// change of content moves it. Two changes that leave the length alone
// within one tick of the host's clock may share a version.
//
// # Speed
//
// Read and Write are pread(2) and pwrite(2) on a descriptor opened by
// Open: no copy and no allocation on the way. Each walked node costs a
// descriptor; a File holds the descriptors of the nodes it was walked
// through, shared with every File walked from the same nodes.
package hostfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"loom/ns"
)

// Help describes the kind for the shell's help command.
const Help = `hostfs — a host directory as a file server

synopsis
	mount hostfs DIR HOSTDIR [-ro]

files
	the files and directories under HOSTDIR, as the host has them.
	Reads and writes go straight to the host's files.

confinement
	Nothing outside HOSTDIR can be reached: ".." stops at HOSTDIR,
	symbolic links are followed as if HOSTDIR were "/" (a link to /etc
	means HOSTDIR/etc), and every walk is resolved by the kernel
	(openat2 with RESOLVE_IN_ROOT or RESOLVE_BENEATH) relative to a
	descriptor held open, so renames racing a walk cannot lead out.
	Device nodes, pipes and sockets under HOSTDIR cannot be opened.
	Hard links to outside files are the host's business.

users
	Every client acts as the host user the server runs as; the
	kernel's permission checks for that user apply. With -ro, every
	change is refused with "permission denied".

clones and snapshots
	A clone of a system mounts the same HOSTDIR with the same flags:
	the host's files are shared, not copied, so a write through the
	clone's hostfs shows in the original's. Mount it -ro, or use a
	ramfs, for state the clone must not share.

example
	mount hostfs /n/src /home/me/src -ro
	cat /n/src/README
`

// FS serves a host directory. Its methods and those of its Files may be
// called concurrently.
type FS struct {
	root     *node
	rootDev  uint64
	procFd   int // /proc/self/fd, for reopening inodes held by O_PATH
	readOnly bool

	closeOnce sync.Once

	users  sync.Map // uint32 -> string
	groups sync.Map // uint32 -> string
}

// An Option configures an FS.
type Option func(*FS)

// ReadOnly makes the FS refuse every change, with ns.ErrPerm, and open
// files for reading only.
func ReadOnly() Option { return func(fs *FS) { fs.readOnly = true } }

// New returns an FS serving the host directory dir. It fails if dir is
// not a directory, or if /proc is not procfs (see the package comment).
func New(dir string, opts ...Option) (*FS, error) {
	fs := &FS{procFd: -1}
	for _, o := range opts {
		o(fs)
	}
	pfd, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("hostfs: /proc/self/fd: %w", err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(pfd, &sfs); err != nil || sfs.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(pfd)
		return nil, errors.New("hostfs: /proc is not procfs")
	}
	fs.procFd = pfd
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(pfd)
		return nil, &os.PathError{Op: "hostfs", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		unix.Close(pfd)
		return nil, &os.PathError{Op: "hostfs", Path: dir, Err: err}
	}
	fs.rootDev = st.Dev
	fs.root = &node{fd: fd, dir: true, dev: st.Dev, ino: st.Ino, name: "/"}
	fs.root.refs.Store(1) // the FS's own, dropped by Close
	// /proc/self/fd goes when the last File does, since Files outlive
	// Close.
	fs.root.free = func() { unix.Close(pfd) }
	return fs, nil
}

// Close releases the FS's hold on the root. Files still in use keep
// working until they are clunked.
func (fs *FS) Close() error {
	fs.closeOnce.Do(func() { fs.root.decref() })
	return nil
}

// Attach returns the root. The user is recorded for nothing: every
// client acts as the server's host user. hostfs serves one tree, so aname
// must be "" or "/".
func (fs *FS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	if aname != "" && aname != "/" {
		return nil, ns.ErrNotExist
	}
	fs.root.incref()
	return &file{fs: fs, n: fs.root, io: -1}, nil
}

// A node is a file reached by a walk, held by an O_PATH descriptor and
// shared, by reference count, between the Files at it and the nodes
// walked on from it.
type node struct {
	fd     int    // O_PATH descriptor of the file (the target, for a link)
	dir    bool   // never changes: an inode's type is fixed
	dev    uint64 // the file's identity
	ino    uint64
	entDev uint64 // the identity of the directory entry walked through:
	entIno uint64 // the link itself, when the entry is a symbolic link
	link   bool   // the entry is a symbolic link
	parent *node  // the node walked from; nil for the root
	refs   atomic.Int32
	free   func() // for the root: what else to release with it

	mu   sync.Mutex
	name string // the entry's name in parent; "/" for the root
}

func (n *node) incref() { n.refs.Add(1) }

func (n *node) decref() {
	for n != nil && n.refs.Add(-1) == 0 {
		unix.Close(n.fd)
		if n.free != nil {
			n.free()
		}
		n = n.parent
	}
}

func (n *node) getName() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.name
}

// resolveFlags are the openat2 resolve flags of one step of a walk: stay
// beneath the directory, follow nothing.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// retries bounds how often a resolution is tried again when the kernel
// reports EAGAIN, which openat2 does when a rename elsewhere in the
// file system might have changed the meaning of "..".
const retries = 32

// openat2 is unix.Openat2 retried on EAGAIN and EINTR.
func openat2(dirfd int, name string, how *unix.OpenHow) (int, error) {
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, name, how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < retries {
			continue
		}
		return fd, err
	}
}

// step walks from the directory n to its entry name, following a
// symbolic link, and returns the new node (holding a reference on n) with
// its stat in st.
func (fs *FS) step(n *node, name string, st *unix.Stat_t) (*node, error) {
	fd, err := fs.openEntry(n, name, st)
	if err != nil {
		return nil, err
	}
	entDev, entIno := st.Dev, st.Ino
	link := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if link {
		unix.Close(fd)
		fd, err = fs.follow(n, name)
		if err != nil {
			return nil, err
		}
		if err := unix.Fstat(fd, st); err != nil {
			unix.Close(fd)
			return nil, mapErr(err)
		}
	}
	return newNode(n, name, fd, st, entDev, entIno, link), nil
}

// newNode makes the node of the entry name of the directory n, held by fd
// with stat st, taking a reference on n.
func newNode(n *node, name string, fd int, st *unix.Stat_t, entDev, entIno uint64, link bool) *node {
	k := &node{
		fd: fd, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR,
		dev: st.Dev, ino: st.Ino, entDev: entDev, entIno: entIno,
		link: link, parent: n, name: name,
	}
	k.refs.Store(1)
	n.incref()
	return k
}

// openEntry opens the entry name of the directory n itself, a symbolic
// link included, as O_PATH, and stats it into st.
func (fs *FS) openEntry(n *node, name string, st *unix.Stat_t) (int, error) {
	if !validName(name) {
		return -1, ns.ErrBadName
	}
	if !n.dir {
		return -1, ns.ErrNotDir
	}
	fd, err := openat2(n.fd, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: resolveFlags,
	})
	if err != nil {
		return -1, mapErr(err)
	}
	if err := unix.Fstat(fd, st); err != nil {
		unix.Close(fd)
		return -1, mapErr(err)
	}
	return fd, nil
}

// follow resolves the symbolic link name in the directory n with the root
// standing for "/", and returns an O_PATH descriptor of where it leads.
func (fs *FS) follow(n *node, name string) (int, error) {
	dir, err := fs.relPath(n)
	if err != nil {
		return -1, err
	}
	fd, err := openat2(fs.root.fd, path.Join(dir, name), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, mapErr(err)
	}
	return fd, nil
}

// relPath gives the directory n's present path under the root, as the
// kernel knows it, so that a link in n is resolved relative to where n
// really is (which a lexical path would get wrong for a directory reached
// through a link). It is only ever handed to a RESOLVE_IN_ROOT lookup, so
// a stale answer cannot lead out of the root.
func (fs *FS) relPath(n *node) (string, error) {
	if n == fs.root {
		return ".", nil
	}
	rp, err := fs.fdPath(fs.root.fd)
	if err != nil {
		return "", err
	}
	np, err := fs.fdPath(n.fd)
	if err != nil {
		return "", err
	}
	if rp == "/" {
		rp = ""
	}
	rel, ok := strings.CutPrefix(np, rp+"/")
	if !ok {
		// n is no longer under the root (moved away on the host) or
		// was removed: nothing in it can be reached.
		return "", ns.ErrNotExist
	}
	return rel, nil
}

// fdPath reads the host path of the descriptor fd.
func (fs *FS) fdPath(fd int) (string, error) {
	buf := make([]byte, 256)
	for {
		m, err := unix.Readlinkat(fs.procFd, strconv.Itoa(fd), buf)
		if err != nil {
			return "", mapErr(err)
		}
		if m < len(buf) {
			return string(buf[:m]), nil
		}
		if len(buf) >= unix.PathMax*4 {
			return "", ns.ErrNameTooBig
		}
		buf = make([]byte, 2*len(buf))
	}
}

// reopen opens the inode that the O_PATH descriptor fd holds, with flags,
// through its /proc/self/fd magic link.
func (fs *FS) reopen(fd, flags int) (int, error) {
	for {
		nfd, err := unix.Openat(fs.procFd, strconv.Itoa(fd), flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, mapErr(err)
		}
		return nfd, nil
	}
}

// qid gives the Qid of a file with stat st.
func (fs *FS) qid(st *unix.Stat_t) ns.Qid {
	q := ns.Qid{Path: st.Ino, Type: ns.QTFILE}
	if st.Dev != fs.rootDev {
		// Another file system's inode numbers may repeat the root's.
		q.Path ^= (st.Dev * 0x9e3779b97f4a7c15) << 32
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		q.Type = ns.QTDIR
	}
	h := uint64(st.Mtim.Sec)*1e9 + uint64(st.Mtim.Nsec)
	h = (h ^ (uint64(st.Ctim.Sec)*1e9 + uint64(st.Ctim.Nsec))) * 0x9e3779b97f4a7c15
	h = (h ^ uint64(st.Size)) * 0xbf58476d1ce4e5b9
	q.Vers = uint32(h ^ h>>32)
	return q
}

// dir gives the Dir of a file with stat st and name.
func (fs *FS) dir(st *unix.Stat_t, name string) ns.Dir {
	d := ns.Dir{
		Qid:   fs.qid(st),
		Mode:  ns.Perm(st.Mode & 0777),
		Atime: uint32(st.Atim.Sec),
		Mtime: uint32(st.Mtim.Sec),
		Name:  name,
		Uid:   fs.userName(st.Uid),
		Gid:   fs.groupName(st.Gid),
	}
	d.Muid = d.Uid
	if d.Qid.Type&ns.QTDIR != 0 {
		d.Mode |= ns.DMDIR
	} else {
		d.Length = uint64(st.Size)
	}
	return d
}

func (fs *FS) userName(uid uint32) string {
	return cachedName(&fs.users, uid, func(id string) (string, error) {
		u, err := user.LookupId(id)
		if err != nil {
			return "", err
		}
		return u.Username, nil
	})
}

func (fs *FS) groupName(gid uint32) string {
	return cachedName(&fs.groups, gid, func(id string) (string, error) {
		g, err := user.LookupGroupId(id)
		if err != nil {
			return "", err
		}
		return g.Name, nil
	})
}

// cachedName gives the name lookup finds for id, or id in decimal,
// remembering either in m: the host's user database is read once per id.
func cachedName(m *sync.Map, id uint32, lookup func(string) (string, error)) string {
	if s, ok := m.Load(id); ok {
		return s.(string)
	}
	s := strconv.FormatUint(uint64(id), 10)
	if name, err := lookup(s); err == nil {
		s = name
	}
	m.Store(id, s)
	return s
}

// groupID turns a group name (or number) into a gid.
func groupID(name string) (int, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return int(n), nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, ns.ErrInvalid
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, ns.ErrInvalid
	}
	return int(n), nil
}

// validName reports whether name may name a directory entry.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// errRace is what a walk that kept racing renames gives up with.
var errRace = errors.New("walk raced a rename; try again")

// mapErr turns a host error into the seam's.
func mapErr(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case unix.EXDEV:
		// openat2's answer to a way out of the root.
		return ns.ErrNotExist
	case unix.ELOOP:
		return fmt.Errorf("too many levels of symbolic links: %w", ns.ErrNotExist)
	case unix.EAGAIN:
		return errRace
	}
	if err, ok := ns.FromErrno(errno); ok {
		return err
	}
	return errno
}
