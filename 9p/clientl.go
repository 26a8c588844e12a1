package ninep

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	osuser "os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"

	"loom/ns"
)

// The 9P2000.L client is the p9 library's. 9P2000.L is Linux's file
// system seen through 9P, and the seam is Plan 9's; the differences are
// bridged here:
//
//   - "..": a 9P2000.L server need not walk it (the p9 library's server
//     refuses to), so a File remembers the names it was walked by from
//     its attach root, and a walk through ".." is a walk of the cleaned
//     path from that root. A File whose directory was renamed since it
//     was walked to walks ".." by its old path.
//   - partial walks: a 9P2000.L server may fail a walk whole when a later
//     element is missing; the walk is then tried again a prefix at a
//     time to find how far it reaches.
//   - directory entries: Treaddir gives names and qids only, so every
//     entry read is walked to and its attributes got (concurrently), and
//     a Treaddir's offsets are the server's to choose, so ReadDir keeps a
//     cursor like the 9P2000 client's.
//   - owners: uids and gids are numbers, which become decimal strings;
//     a Wstat may set them only to such strings.
//   - modes: DMAPPEND, DMEXCL and DMTMP have no 9P2000.L form; Wstat
//     refuses them and Create ignores them.
//   - ORCLOSE is kept by the client, which removes the file at Clunk.
//   - the user: the p9 library's Tattach names none (see Client.Attach).
//   - the msize: the p9 library keeps to what it asked for even if the
//     server agreed to less; when it does, the version is agreed again
//     with the server's number.

func (c *Client) versionL(conn io.ReadWriteCloser, msize uint32) error {
	lc := &lclientConn{rwc: conn, r: bufio.NewReaderSize(conn, 64<<10), msgWriter: msgWriter{w: conn}, sniff: true}
	cl, err := p9.NewClient(lc, p9.WithMessageSize(msize))
	var errno linux.Errno
	if errors.As(err, &errno) {
		// Servers such as diod refuse the library's
		// "9P2000.L.Google.N" outright rather than answer with the
		// base version; ask again for plain 9P2000.L.
		lc.plain = true
		lc.head = lc.head[:0]
		cl, err = p9.NewClient(lc, p9.WithMessageSize(msize))
	}
	if err != nil {
		return err
	}
	if got := lc.rversionMsize(); got != 0 && got < msize {
		msize = got
		lc.head = lc.head[:0]
		cl, err = p9.NewClient(lc, p9.WithMessageSize(msize))
		if err != nil {
			return err
		}
	}
	lc.sniff = false
	c.cl, c.lc, c.msize = cl, lc, msize
	return nil
}

// lclientConn is the p9 library client's connection: its writes are
// gathered into one per message, its reads (a header, then the rest)
// buffered, and the start of what it reads during the Tversion exchange
// kept to learn the msize the server agreed to.
type lclientConn struct {
	msgWriter
	rwc   io.ReadWriteCloser
	r     *bufio.Reader
	sniff bool
	head  []byte
	plain bool // ask for "9P2000.L" whatever the library asks for

	out      []byte   // the start of the message being written
	hbuf     [16]byte // out's room while it holds only a header
	passLeft int      // bytes of a message passed through still to come

	attachMu sync.Mutex
	user     string // the user of the attach under way
	uid      uint32
}

// Write passes the library's messages on, whole, rewriting two of them:
// its Tversion asks for the base "9P2000.L" when plain is set, and its
// Tattach, which names no user, names the user of the attach under way.
// The library writes each message in pieces, its header first; only
// these two are gathered, the rest pass through.
func (l *lclientConn) Write(p []byte) (int, error) {
	if l.passLeft > 0 {
		l.passLeft -= len(p)
		return l.msgWriter.Write(p)
	}
	if l.out == nil {
		l.out = l.hbuf[:0] // msgWriter has sent the message that used it
	}
	l.out = append(l.out, p...)
	if len(l.out) < 5 {
		return len(p), nil
	}
	size := int(binary.LittleEndian.Uint32(l.out))
	if t := l.out[4]; !(t == msgTattachL || t == msgTversion && l.sniff && l.plain) {
		m := l.out
		l.out, l.passLeft = nil, size-len(m)
		return len(p), l.wrote(l.msgWriter.Write(m))
	}
	if len(l.out) < size {
		return len(p), nil
	}
	m := l.rewrite(l.out)
	l.out = nil
	return len(p), l.wrote(l.msgWriter.Write(m))
}

func (l *lclientConn) wrote(_ int, err error) error { return err }

const (
	msgTattachL = 104
	noUID       = ^uint32(0)
)

// rewrite gives the message m as it should go out.
func (l *lclientConn) rewrite(m []byte) []byte {
	b := m[:7:7] // size, type, tag
	if m[4] == msgTversion {
		const base = "9P2000.L"
		b = append(b, m[7:11]...) // msize
		b = pstring(b, base)
	} else {
		// fid[4] afid[4] uname[s] aname[s] n_uname[4]
		rest := m[15:]
		_, rest, ok1 := gstring(rest)
		aname, _, ok2 := gstring(rest)
		if !ok1 || !ok2 {
			return m
		}
		b = append(b, m[7:15]...)
		b = pstring(b, l.user)
		b = pstring(b, aname)
		b = binary.LittleEndian.AppendUint32(b, l.uid)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func pstring(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func gstring(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", b, false
	}
	n := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n {
		return "", b, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

// attach attaches through the library as user, one attach at a time so
// that the Tattach written names the right one.
func (l *lclientConn) attach(cl *p9.Client, user, aname string) (p9.File, error) {
	l.attachMu.Lock()
	defer l.attachMu.Unlock()
	l.user, l.uid = user, noUID
	if u, err := osuser.Lookup(user); err == nil {
		if n, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			l.uid = uint32(n)
		}
	}
	return cl.Attach(aname)
}

func (l *lclientConn) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.sniff && len(l.head) < 11 {
		l.head = append(l.head, p[:min(n, 11-len(l.head))]...)
	}
	return n, err
}

func (l *lclientConn) Close() error { return l.rwc.Close() }

// rversionMsize returns the msize of the Rversion read, or 0.
func (l *lclientConn) rversionMsize() uint32 {
	const rversion = 101
	if len(l.head) < 11 || l.head[4] != rversion {
		return 0
	}
	return binary.LittleEndian.Uint32(l.head[7:])
}

// readMax is the most one Read asks for, so that the library sends it
// as one Tread: its payload size is the msize less at most 512 bytes of
// header, rounded down to 512.
func (c *Client) readMax() int {
	return int(max(c.msize-1024, 512)) &^ 511
}

// lroot is an attach fid, kept while any File walked from it is, for
// walks through "..".
type lroot struct {
	f    p9.File
	qid  ns.Qid
	refs atomic.Int32
}

func (r *lroot) hold() *lroot { r.refs.Add(1); return r }

func (r *lroot) release() {
	if r.refs.Add(-1) == 0 {
		r.f.Close()
	}
}

func closeL(f p9.File) { f.Close() }

func (c *Client) attachL(ctx context.Context, user, aname string) (ns.File, error) {
	type attached struct {
		root, clone p9.File
		qid         p9.QID
	}
	a, err := await(ctx, func() (attached, error) {
		rf, err := c.lc.attach(c.cl, user, aname)
		if err != nil {
			return attached{}, err
		}
		q, _, _, err := rf.GetAttr(p9.AttrMask{Mode: true})
		if err != nil {
			rf.Close()
			return attached{}, err
		}
		_, cf, err := rf.Walk(nil)
		if err != nil {
			rf.Close()
			return attached{}, err
		}
		return attached{rf, cf, q}, nil
	}, func(a attached) { a.clone.Close(); a.root.Close() })
	if err != nil {
		return nil, errL(err)
	}
	root := &lroot{f: a.root, qid: fromQID(a.qid)}
	return c.newCfileL(root.hold(), a.clone, nil, root.qid), nil
}

// errL turns an error of the p9 library into one of the seam's: an errno
// becomes the error it names; anything else is the connection failing.
func errL(err error) error {
	var e linux.Errno
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ns.ErrInterrupt):
		return err
	case errors.As(err, &e):
		return fromErrno(e)
	}
	return hungup(err)
}

// cfileL is an ns.File over a file of the p9 library's client.
type cfileL struct {
	c       *Client
	root    *lroot
	f       p9.File
	path    []string // names walked from root, cleaned; never changed in place
	qid     ns.Qid
	open    bool
	rclose  bool
	removed atomic.Bool
	clunked atomic.Bool

	// A directory opened keeps an unopened twin from which its
	// entries are walked to for their attributes.
	twin p9.File

	turn      chan struct{} // held by the one ReadDir that moves the cursor
	dirAt     int           // index of dirBuf[0]
	dirBuf    []ns.Dir
	dirCookie uint64 // the server's offset of the entry after dirBuf
	dirEOF    bool
	dirOK     bool
}

var (
	_ ns.File    = (*cfileL)(nil)
	_ ns.Creater = (*cfileL)(nil)
	_ ns.Remover = (*cfileL)(nil)
	_ ns.Wstater = (*cfileL)(nil)
)

func (c *Client) newCfileL(root *lroot, f p9.File, path []string, q ns.Qid) *cfileL {
	return &cfileL{c: c, root: root, f: f, path: path, qid: q, turn: make(chan struct{}, 1)}
}

// walkPath walks from f through names, Twalks of at most 16 names each,
// and returns the qids and the File reached; a partial walk is an error.
func walkPath(f p9.File, names []string) ([]p9.QID, p9.File, error) {
	var qids []p9.QID
	cur := f
	for first := true; first || len(names) > 0; first = false {
		n := min(len(names), maxWalkElem)
		qs, nf, err := cur.Walk(names[:n])
		if cur != f {
			cur.Close()
		}
		if err != nil {
			return nil, nil, err
		}
		if len(qs) < n {
			// A server that reports a partial walk has made no
			// fid, whatever the library says.
			nf.Close()
			return nil, nil, linux.ENOENT
		}
		qids = append(qids, qs...)
		names = names[n:]
		cur = nf
	}
	return qids, cur, nil
}

// cleanPath gives the path of each element of names walked from dir, a
// path from the attach root.
func cleanPath(dir, names []string) [][]string {
	paths := make([][]string, len(names))
	cur := slices.Clip(dir)
	for i, n := range names {
		if n == ".." {
			if len(cur) > 0 {
				cur = slices.Clip(cur[:len(cur)-1])
			}
		} else {
			cur = append(cur, n)
			cur = slices.Clip(cur)
		}
		paths[i] = cur
	}
	return paths
}

func (f *cfileL) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	if err := checkNames(names); err != nil {
		return nil, nil, err
	}
	if f.open {
		return nil, nil, ns.ErrOpen
	}
	paths := cleanPath(f.path, names)
	if slices.Contains(names, "..") {
		return f.walkRooted(ctx, paths)
	}
	type walked struct {
		qids []p9.QID
		f    p9.File
	}
	w, err := await(ctx, func() (walked, error) {
		qids, nf, err := walkPath(f.f, names)
		return walked{qids, nf}, err
	}, func(w walked) { w.f.Close() })
	switch {
	case err == nil && len(names) == 0:
		return nil, f.c.newCfileL(f.root.hold(), w.f, f.path, f.qid), nil
	case err == nil:
		qids := fromQIDs(w.qids)
		return qids, f.c.newCfileL(f.root.hold(), w.f, paths[len(paths)-1], qids[len(qids)-1]), nil
	case len(names) == 1 || !isErrno(err):
		return nil, nil, errL(err)
	}
	// The walk failed whole; find how far it reaches.
	qids, err := await(ctx, func() ([]ns.Qid, error) {
		return reach(len(names), err, func(i int) (ns.Qid, error) {
			qs, nf, err := walkPath(f.f, names[:i+1])
			if err != nil {
				return ns.Qid{}, err
			}
			nf.Close()
			return fromQID(qs[len(qs)-1]), nil
		})
	}, nil)
	if err != nil {
		return nil, nil, errL(err)
	}
	return qids, nil, nil
}

// reach resolves elements 0..n-2 of a walk whose last element was not
// reached (the walk failed with err), concurrently, and returns the qids
// of those reached before the first that was not; none reached is the
// first one's error.
func reach(n int, err error, resolve func(i int) (ns.Qid, error)) ([]ns.Qid, error) {
	qids := make([]ns.Qid, n-1)
	errs := make([]error, n-1)
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Go(func() { qids[i], errs[i] = resolve(i) })
	}
	wg.Wait()
	m := len(qids)
	for i, e := range errs {
		if e != nil {
			m = i
			break
		}
	}
	if m == 0 {
		if errs[0] != nil {
			return nil, errs[0]
		}
		return nil, err
	}
	if m < len(errs) && !isErrno(errs[m]) {
		return nil, errs[m]
	}
	return qids[:m], nil
}

func isErrno(err error) bool {
	var e linux.Errno
	return errors.As(err, &e)
}

// walkRooted walks to paths[len-1] from the attach root, giving each
// element the qid of its own path.
func (f *cfileL) walkRooted(ctx context.Context, paths [][]string) ([]ns.Qid, ns.File, error) {
	final := paths[len(paths)-1]
	// qidOf resolves a path from the root; the one walked for the last
	// element serves every path that is a prefix of it.
	resolve := func(p []string, fq []p9.QID) (ns.Qid, error) {
		switch {
		case len(p) == 0:
			return f.root.qid, nil
		case len(p) <= len(final) && slices.Equal(p, final[:len(p)]) && fq != nil:
			return fromQID(fq[len(p)-1]), nil
		}
		qs, nf, err := walkPath(f.root.f, p)
		if err != nil {
			return ns.Qid{}, err
		}
		nf.Close()
		return fromQID(qs[len(qs)-1]), nil
	}
	type walked struct {
		qids []ns.Qid
		f    p9.File
	}
	w, err := await(ctx, func() (walked, error) {
		fq, nf, err := walkPath(f.root.f, final)
		if err != nil {
			qids, rerr := reach(len(paths), err, func(i int) (ns.Qid, error) {
				return resolve(paths[i], nil)
			})
			return walked{qids: qids}, rerr
		}
		qids := make([]ns.Qid, len(paths))
		for i, p := range paths {
			if qids[i], err = resolve(p, fq); err != nil {
				nf.Close()
				return walked{qids: qids[:i]}, nil
			}
		}
		return walked{qids, nf}, nil
	}, func(w walked) {
		if w.f != nil {
			w.f.Close()
		}
	})
	if err != nil {
		return nil, nil, errL(err)
	}
	// A path does not say that it went through a file, as in "f/..";
	// the qids do, and the walk stops after such an element.
	for i, q := range w.qids[:max(len(w.qids)-1, 0)] {
		if !q.IsDir() {
			w.qids = w.qids[:i+1]
			if w.f != nil {
				w.f.Close()
				w.f = nil
			}
			break
		}
	}
	switch {
	case w.f == nil && len(w.qids) == 0:
		return nil, nil, ns.ErrNotExist
	case w.f == nil:
		return w.qids, nil, nil
	}
	return w.qids, f.c.newCfileL(f.root.hold(), w.f, final, w.qids[len(w.qids)-1]), nil
}

func fromQIDs(qs []p9.QID) []ns.Qid {
	out := make([]ns.Qid, len(qs))
	for i, q := range qs {
		out[i] = fromQID(q)
	}
	return out
}

// openFlags gives the Linux open flags for a Plan 9 open mode.
func openFlags(mode uint8) p9.OpenFlags {
	var fl p9.OpenFlags
	switch mode & 3 {
	case ns.OWRITE:
		fl = p9.WriteOnly
	case ns.ORDWR:
		fl = p9.ReadWrite
	default:
		fl = p9.ReadOnly
	}
	if mode&ns.OTRUNC != 0 {
		fl |= linuxOTRUNC
	}
	return fl
}

func (f *cfileL) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	type opened struct {
		qid  p9.QID
		twin p9.File
	}
	o, err := await(ctx, func() (opened, error) {
		var twin p9.File
		if f.qid.IsDir() {
			_, t, err := f.f.Walk(nil)
			if err != nil {
				return opened{}, err
			}
			twin = t
		}
		q, _, err := f.f.Open(openFlags(mode))
		if err != nil {
			if twin != nil {
				twin.Close()
			}
			return opened{}, err
		}
		return opened{q, twin}, nil
	}, func(o opened) {
		if o.twin != nil {
			o.twin.Close()
		}
	})
	if err != nil {
		return ns.Qid{}, errL(err)
	}
	f.open, f.twin, f.rclose = true, o.twin, mode&ns.ORCLOSE != 0
	return fromQID(o.qid), nil
}

func (f *cfileL) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ns.ErrBadOffset
	}
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(len(p), f.c.readMax())]
	buf := p
	if ctx.Done() != nil {
		buf = make([]byte, len(p))
	}
	n, err := await(ctx, func() (int, error) {
		n, err := f.f.ReadAt(buf, off)
		if err == io.EOF {
			err = nil
		}
		return n, err
	}, nil)
	if err != nil {
		return 0, errL(err)
	}
	if ctx.Done() != nil {
		copy(p, buf[:n])
	}
	return n, nil
}

func (f *cfileL) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ns.ErrBadOffset
	}
	buf := p
	if ctx.Done() != nil {
		buf = append([]byte(nil), p...)
	}
	n, err := await(ctx, func() (int, error) { return f.f.WriteAt(buf, off) }, nil)
	return n, errL(err)
}

// ReadDir reads the directory in order: an index other than where the
// last ReadDir ended starts again from the beginning and skips.
func (f *cfileL) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	if index < 0 {
		return nil, ns.ErrBadOffset
	}
	if !f.open || f.twin == nil {
		return nil, ns.ErrNotOpen
	}
	select {
	case f.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ns.ErrInterrupt
	}
	ds, err := await(ctx, func() ([]ns.Dir, error) {
		defer func() { <-f.turn }()
		return f.readDir(index, n)
	}, nil)
	return ds, errL(err)
}

func (f *cfileL) readDir(index, n int) ([]ns.Dir, error) {
	if index == 0 || !f.dirOK || index < f.dirAt {
		f.dirAt, f.dirBuf, f.dirCookie, f.dirEOF, f.dirOK = 0, nil, 0, false, true
	}
	more := func() error {
		ents, err := f.f.Readdir(f.dirCookie, f.c.msize-IOHDRSZ)
		if err != nil && err != io.EOF {
			f.dirOK = false
			return err
		}
		if len(ents) == 0 {
			f.dirEOF = true
			return nil
		}
		f.dirCookie = ents[len(ents)-1].Offset
		ents = slices.DeleteFunc(ents, func(e p9.Dirent) bool { return e.Name == "." || e.Name == ".." })
		ds, err := f.entries(ents)
		if err != nil {
			f.dirOK = false
			return err
		}
		f.dirBuf = append(f.dirBuf, ds...)
		return nil
	}
	for f.dirAt+len(f.dirBuf) <= index && !f.dirEOF {
		f.dirAt += len(f.dirBuf)
		f.dirBuf = nil
		if err := more(); err != nil {
			return nil, err
		}
	}
	for f.dirAt+len(f.dirBuf) < index+n && !f.dirEOF {
		if err := more(); err != nil {
			return nil, err
		}
	}
	from := min(index-f.dirAt, len(f.dirBuf))
	to := min(from+n, len(f.dirBuf))
	out := slices.Clone(f.dirBuf[from:to])
	f.dirAt, f.dirBuf = f.dirAt+to, f.dirBuf[to:]
	return out, nil
}

// entryWalkers bounds the walks one ReadDir has in flight.
const entryWalkers = 16

// entries gets the attributes of directory entries by walking to each
// from the directory's twin. An entry gone since it was listed is left
// out.
func (f *cfileL) entries(ents []p9.Dirent) ([]ns.Dir, error) {
	ds := make([]ns.Dir, len(ents))
	errs := make([]error, len(ents))
	sem := make(chan struct{}, entryWalkers)
	var wg sync.WaitGroup
	for i, e := range ents {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			qs, nf, _, a, err := f.twin.WalkGetAttr([]string{e.Name})
			if err != nil {
				errs[i] = err
				return
			}
			nf.Close()
			q := e.QID
			if len(qs) == 1 {
				q = qs[0]
			}
			ds[i] = dirFromAttr(e.Name, q, a)
		})
	}
	wg.Wait()
	out := ds[:0]
	for i := range ds {
		switch {
		case errs[i] == nil:
			out = append(out, ds[i])
		case errors.Is(errs[i], linux.ENOENT):
		default:
			return nil, errs[i]
		}
	}
	return out, nil
}

// dirFromAttr makes a Dir of a 9P2000.L file's attributes.
func dirFromAttr(name string, q p9.QID, a p9.Attr) ns.Dir {
	d := ns.Dir{
		Qid:    fromQID(q),
		Mode:   ns.Perm(a.Mode & 0777),
		Atime:  uint32(a.ATimeSeconds),
		Mtime:  uint32(a.MTimeSeconds),
		Length: a.Size,
		Name:   name,
		Uid:    idName(uint32(a.UID)),
		Gid:    idName(uint32(a.GID)),
	}
	if a.Mode.IsDir() {
		d.Mode |= ns.DMDIR
		d.Qid.Type |= ns.QTDIR
		d.Length = 0
	}
	if q.Version == 0 {
		// Servers that keep no qid version (diod is one) would show
		// no change at all; a version made of the times and size
		// changes when the file does.
		h := fnv.New32a()
		binary.Write(h, binary.LittleEndian, [5]uint64{a.MTimeSeconds, a.MTimeNanoSeconds,
			a.CTimeSeconds, a.CTimeNanoSeconds, a.Size})
		d.Qid.Vers = h.Sum32()
	}
	return d
}

func idName(id uint32) string {
	if id == uint32(p9.NoUID) {
		return ""
	}
	return strconv.FormatUint(uint64(id), 10)
}

func (f *cfileL) name() string {
	if len(f.path) == 0 {
		return "/"
	}
	return f.path[len(f.path)-1]
}

func (f *cfileL) Stat(ctx context.Context) (ns.Dir, error) {
	type got struct {
		q p9.QID
		a p9.Attr
	}
	g, err := await(ctx, func() (got, error) {
		q, _, a, err := f.f.GetAttr(p9.AttrMaskAll)
		return got{q, a}, err
	}, nil)
	if err != nil {
		return ns.Dir{}, errL(err)
	}
	return dirFromAttr(f.name(), g.q, g.a), nil
}

// Wstat sets what d changes in one Tsetattr and then, if d renames the
// file, renames it with a Trename: the two are not one step, nor is the
// check that the new name is free and the rename.
func (f *cfileL) Wstat(ctx context.Context, d ns.Dir) error {
	var valid p9.SetAttrMask
	var attr p9.SetAttr
	if d.Mode != ns.Perm(ns.NoTouch32) {
		if d.Mode&(ns.DMAPPEND|ns.DMEXCL|ns.DMTMP|ns.DMAUTH|ns.DMMOUNT) != 0 {
			return ns.ErrNotSupp
		}
		valid.Permissions, attr.Permissions = true, p9.FileMode(d.Mode&0777)
	}
	if d.Length != ns.NoTouch64 {
		valid.Size, attr.Size = true, d.Length
	}
	if d.Mtime != ns.NoTouch32 {
		valid.MTime, valid.MTimeNotSystemTime, attr.MTimeSeconds = true, true, uint64(d.Mtime)
	}
	if d.Atime != ns.NoTouch32 {
		valid.ATime, valid.ATimeNotSystemTime, attr.ATimeSeconds = true, true, uint64(d.Atime)
	}
	if d.Uid != "" {
		id, err := strconv.ParseUint(d.Uid, 10, 32)
		if err != nil {
			return ns.ErrPerm
		}
		valid.UID, attr.UID = true, p9.UID(id)
	}
	if d.Gid != "" {
		id, err := strconv.ParseUint(d.Gid, 10, 32)
		if err != nil {
			return ns.ErrPerm
		}
		valid.GID, attr.GID = true, p9.GID(id)
	}
	rename := d.Name != "" && d.Name != f.name()
	if rename && (len(f.path) == 0 || d.Name == "." || d.Name == ".." || strings.Contains(d.Name, "/")) {
		return ns.ErrBadName
	}
	err := await0(ctx, func() error {
		var dir p9.File
		if rename {
			// Plan 9 renames only to a free name, where rename(2)
			// replaces what has it; a file there is looked for first.
			var err error
			if _, dir, err = walkPath(f.root.f, f.path[:len(f.path)-1]); err != nil {
				return err
			}
			defer dir.Close()
			_, there, err := dir.Walk([]string{d.Name})
			switch {
			case err == nil:
				there.Close()
				return linux.EEXIST
			case !errors.Is(err, linux.ENOENT):
				return err
			}
		}
		if !valid.Empty() {
			if err := f.f.SetAttr(valid, attr); err != nil {
				return err
			}
		}
		if !rename {
			return nil
		}
		return f.f.Rename(dir, d.Name)
	})
	if err != nil {
		return errL(err)
	}
	if rename {
		f.path = append(slices.Clone(f.path[:len(f.path)-1]), d.Name)
	}
	return nil
}

// Create makes name: a directory by Tmkdir and a walk to it, which is
// then opened; a file by Tlcreate on a clone of this directory, which
// the library turns into the new file.
func (f *cfileL) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	if err := checkNames([]string{name}); err != nil {
		return nil, ns.Qid{}, err
	}
	if name == ".." {
		return nil, ns.Qid{}, ns.ErrExist
	}
	path := append(slices.Clone(f.path), name)
	if perm&ns.DMDIR != 0 {
		nf, err := await(ctx, func() (p9.File, error) {
			if _, err := f.f.Mkdir(name, p9.FileMode(perm&0777), p9.NoUID, p9.NoGID); err != nil {
				return nil, err
			}
			_, nf, err := f.f.Walk([]string{name})
			return nf, err
		}, closeL)
		if err != nil {
			return nil, ns.Qid{}, errL(err)
		}
		cf := f.c.newCfileL(f.root.hold(), nf, path, ns.Qid{Type: ns.QTDIR})
		q, err := cf.Open(ctx, mode)
		if err != nil {
			cf.Clunk()
			return nil, ns.Qid{}, err
		}
		cf.qid = q
		return cf, q, nil
	}
	type created struct {
		f p9.File
		q p9.QID
	}
	cr, err := await(ctx, func() (created, error) {
		_, clone, err := f.f.Walk(nil)
		if err != nil {
			return created{}, err
		}
		nf, q, _, err := clone.Create(name, openFlags(mode)|linuxOEXCL, p9.FileMode(perm&0777), p9.NoUID, p9.NoGID)
		if err != nil {
			clone.Close()
			return created{}, err
		}
		return created{nf, q}, nil
	}, func(c created) { c.f.Close() })
	if err != nil {
		return nil, ns.Qid{}, errL(err)
	}
	q := fromQID(cr.q)
	cf := f.c.newCfileL(f.root.hold(), cr.f, path, q)
	cf.open, cf.rclose = true, mode&ns.ORCLOSE != 0
	return cf, q, nil
}

// Remove removes the file with a Tremove, which clunks it too.
func (f *cfileL) Remove(ctx context.Context) error {
	if f.removed.Swap(true) {
		return ns.ErrNotExist
	}
	return errL(await0(ctx, f.remove))
}

// remove sends Tremove, which the library's files offer beside p9.File;
// failing that, it unlinks the file's name from its directory.
func (f *cfileL) remove() error {
	if r, ok := f.f.(interface{ Remove() error }); ok {
		return r.Remove()
	}
	defer f.f.Close()
	if len(f.path) == 0 {
		return linux.EBUSY
	}
	_, dir, err := walkPath(f.root.f, f.path[:len(f.path)-1])
	if err != nil {
		return err
	}
	defer dir.Close()
	var flags uint32
	if f.qid.IsDir() {
		flags = linuxATREMOVEDIR
	}
	return dir.UnlinkAt(f.path[len(f.path)-1], flags)
}

func (f *cfileL) Clunk() error {
	if f.clunked.Swap(true) {
		return nil
	}
	defer f.root.release()
	if f.twin != nil {
		f.twin.Close()
	}
	switch {
	case f.removed.Load():
		return nil
	case f.rclose:
		return errL(f.remove())
	}
	return errL(f.f.Close())
}
