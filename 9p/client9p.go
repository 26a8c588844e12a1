package ninep

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"loom/ns"
)

// The 9P2000 client is 9fans.net/go/plan9/client's, whose Fid is close to
// an ns.File but keeps some things from its caller:
//
//   - Rwalk's qids: Fid.Walk returns only a Fid for the last element and
//     fails alike whether the first element or a later one is missing.
//     A walk of one name is one Twalk; a walk of n > 1 names walks every
//     prefix at once, concurrently, and clunks all but the last: n Twalks
//     and n-1 Tclunks in flight together, two round trips in all, from
//     which the qids of the elements reached, and whether the walk was
//     partial, can be read.
//   - the attach fid: Conn.Attach keeps it inside an unexported field of
//     its Fsys, which offers only path-wise operations that open what
//     they walk to. rootFid reaches it by reflection; the library
//     version is pinned, and a change of its layout fails Attach with
//     errNoRoot rather than misbehaving.
//   - the msize: the library always asks for DefaultDialMsize; its
//     Tversion is rewritten on its way out to ask for less.
//   - Ropen's qid: Fid.Open drops it, so Open returns the qid found by
//     the walk, whose version may be older.
//   - a read of one message: Fid.ReadAt reads until its buffer is full,
//     which would block on a pipe that has given less; Read seeks the
//     Fid and reads once instead, so reads of one File take turns.
//   - Tflush: none is ever sent (see Client).

func (c *Client) version9(conn io.ReadWriteCloser, msize uint32) error {
	vc := &versionConn{ReadWriteCloser: conn, msize: min(msize, DefaultDialMsize)}
	c9, err := client.NewConn(vc)
	if err != nil {
		return err
	}
	c.c9 = c9
	c.msize = vc.msize
	if len(vc.head) >= 11 && vc.head[4] == plan9.Rversion {
		c.msize = min(c.msize, binary.LittleEndian.Uint32(vc.head[7:]))
	}
	return nil
}

// versionConn rewrites the msize of the first message written, the
// library's Tversion, and keeps the start of the first read, the
// server's Rversion, for the msize agreed.
type versionConn struct {
	io.ReadWriteCloser
	msize uint32
	done  bool
	head  []byte
}

func (v *versionConn) Read(p []byte) (int, error) {
	n, err := v.ReadWriteCloser.Read(p)
	if len(v.head) < 11 {
		v.head = append(v.head, p[:min(n, 11-len(v.head))]...)
	}
	return n, err
}

func (v *versionConn) Write(b []byte) (int, error) {
	if !v.done && len(b) >= 11 && b[4] == plan9.Tversion {
		v.done = true
		if binary.LittleEndian.Uint32(b[7:]) > v.msize {
			nb := append([]byte(nil), b...)
			binary.LittleEndian.PutUint32(nb[7:], v.msize)
			return v.ReadWriteCloser.Write(nb)
		}
	}
	return v.ReadWriteCloser.Write(b)
}

func (c *Client) attach9(ctx context.Context, user, aname string) (ns.File, error) {
	fsys, err := await(ctx, func() (*client.Fsys, error) {
		return c.c9.Attach(nil, user, aname)
	}, func(fs *client.Fsys) { fs.Close() })
	if err != nil {
		return nil, err9(err)
	}
	root, err := rootFid(fsys)
	if err != nil {
		fsys.Close()
		return nil, err
	}
	return newCfile9(root, fromQid9(root.Qid())), nil
}

// rootFid returns the attach fid held by fsys.
func rootFid(fsys *client.Fsys) (*client.Fid, error) {
	v := reflect.ValueOf(fsys).Elem().FieldByName("root")
	if !v.IsValid() || v.Type() != reflect.TypeFor[*client.Fid]() || v.IsNil() {
		return nil, errNoRoot
	}
	return (*client.Fid)(v.UnsafePointer()), nil
}

// err9 turns an error of the 9P2000 library into one of the seam's: the
// text of an Rerror becomes the error it names; anything else is the
// connection failing.
func err9(err error) error {
	var e client.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		if notFound(e) {
			return ns.ErrNotExist
		}
		return errorText(string(e))
	case errors.Is(err, ns.ErrInterrupt):
		return err
	}
	return hungup(err)
}

// notFound reports whether e is the library's own error for a Twalk that
// reached fewer names than it asked for.
func notFound(e client.Error) bool {
	return strings.HasPrefix(string(e), "file '") && strings.HasSuffix(string(e), "' not found")
}

func fromQid9(q plan9.Qid) ns.Qid { return ns.Qid{Path: q.Path, Vers: q.Vers, Type: q.Type} }

func fromDir9(d *plan9.Dir) ns.Dir {
	return ns.Dir{
		Type: d.Type, Dev: d.Dev, Qid: fromQid9(d.Qid), Mode: ns.Perm(d.Mode),
		Atime: d.Atime, Mtime: d.Mtime, Length: d.Length,
		Name: d.Name, Uid: d.Uid, Gid: d.Gid, Muid: d.Muid,
	}
}

func toDir9(d ns.Dir) *plan9.Dir {
	return &plan9.Dir{
		Type: d.Type, Dev: d.Dev,
		Qid:  plan9.Qid{Path: d.Qid.Path, Vers: d.Qid.Vers, Type: d.Qid.Type},
		Mode: plan9.Perm(d.Mode), Atime: d.Atime, Mtime: d.Mtime, Length: d.Length,
		Name: d.Name, Uid: d.Uid, Gid: d.Gid, Muid: d.Muid,
	}
}

// cfile9 is an ns.File over a fid of the 9P2000 library.
type cfile9 struct {
	fid     *client.Fid
	qid     ns.Qid
	open    bool
	removed atomic.Bool

	// turn is held by the one read (of the file or its directory) that
	// may move the Fid's offset; a read given up on by its caller keeps
	// it until the server answers.
	turn   chan struct{}
	dirAt  int          // index of dirBuf[0]
	dirBuf []*plan9.Dir // entries read but not yet returned
	dirEOF bool
	dirOK  bool // the Fid's offset is just past dirBuf
}

var (
	_ ns.File    = (*cfile9)(nil)
	_ ns.Creater = (*cfile9)(nil)
	_ ns.Remover = (*cfile9)(nil)
	_ ns.Wstater = (*cfile9)(nil)
)

func newCfile9(fid *client.Fid, q ns.Qid) *cfile9 {
	return &cfile9{fid: fid, qid: q, turn: make(chan struct{}, 1)}
}

func closeFid(f *client.Fid) { f.Close() }

func (f *cfile9) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	if err := checkNames(names); err != nil {
		return nil, nil, err
	}
	if f.open {
		return nil, nil, ns.ErrOpen
	}
	if len(names) <= 1 {
		nf, err := await(ctx, func() (*client.Fid, error) {
			return f.fid.Walk(strings.Join(names, "/"))
		}, closeFid)
		if err != nil {
			return nil, nil, err9(err)
		}
		if len(names) == 0 {
			return nil, newCfile9(nf, f.qid), nil
		}
		q := fromQid9(nf.Qid())
		return []ns.Qid{q}, newCfile9(nf, q), nil
	}
	type walked struct {
		fid *client.Fid
		err error
	}
	// reached is how many names were walked; the fid of the last is
	// kept when that is all of them, and every other one clunked.
	reached := func(w []walked) int {
		for i := range w {
			if w[i].err != nil {
				return i
			}
		}
		return len(w)
	}
	ws, err := await(ctx, func() ([]walked, error) {
		w := make([]walked, len(names))
		var wg sync.WaitGroup
		for i := range names {
			wg.Go(func() {
				w[i].fid, w[i].err = f.fid.Walk(strings.Join(names[:i+1], "/"))
			})
		}
		wg.Wait()
		m := reached(w)
		for i := range w {
			if w[i].err == nil && (i < len(w)-1 || m < len(w)) {
				wg.Go(func() { w[i].fid.Close() })
			}
		}
		wg.Wait()
		return w, nil
	}, func(w []walked) {
		if reached(w) == len(w) {
			w[len(w)-1].fid.Close()
		}
	})
	if err != nil {
		return nil, nil, err
	}
	m := reached(ws)
	qids := make([]ns.Qid, m)
	for i := range qids {
		qids[i] = fromQid9(ws[i].fid.Qid())
	}
	switch {
	case m == len(ws):
		return qids, newCfile9(ws[m-1].fid, qids[m-1]), nil
	case m == 0:
		return nil, nil, err9(ws[0].err)
	}
	// A later element was missing, unless the connection failed.
	var e client.Error
	if !errors.As(ws[m].err, &e) {
		return nil, nil, err9(ws[m].err)
	}
	return qids, nil, nil
}

func (f *cfile9) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	err := await0(ctx, func() error { return f.fid.Open(mode) })
	if err != nil {
		return ns.Qid{}, err9(err)
	}
	f.open = true
	return f.qid, nil
}

// take waits for the file's turn to move its offset, or for ctx.
func (f *cfile9) take(ctx context.Context) error {
	select {
	case f.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ns.ErrInterrupt
	}
}

func (f *cfile9) give() { <-f.turn }

func (f *cfile9) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ns.ErrBadOffset
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := f.take(ctx); err != nil {
		return 0, err
	}
	// A read given up on still lands; it must land in a buffer of its
	// own, not in p, which is the caller's again.
	buf := p
	if ctx.Done() != nil {
		buf = make([]byte, len(p))
	}
	n, err := await(ctx, func() (int, error) {
		defer f.give()
		if _, err := f.fid.Seek(off, io.SeekStart); err != nil {
			return 0, err
		}
		n, err := f.fid.Read(buf)
		if err == io.EOF {
			err = nil
		}
		return n, err
	}, nil)
	if err != nil {
		return 0, err9(err)
	}
	if &buf[0] != &p[0] {
		copy(p, buf[:n])
	}
	return n, nil
}

func (f *cfile9) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ns.ErrBadOffset
	}
	buf := p
	if ctx.Done() != nil {
		buf = append([]byte(nil), p...)
	}
	n, err := await(ctx, func() (int, error) { return f.fid.WriteAt(buf, off) }, nil)
	return n, err9(err)
}

// ReadDir reads the directory in order: an index other than where the
// last ReadDir ended starts again from the beginning and skips.
func (f *cfile9) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	if index < 0 {
		return nil, ns.ErrBadOffset
	}
	if err := f.take(ctx); err != nil {
		return nil, err
	}
	ds, err := await(ctx, func() ([]ns.Dir, error) {
		defer f.give()
		return f.readDir(index, n)
	}, nil)
	return ds, err9(err)
}

// readDir is ReadDir in its turn.
func (f *cfile9) readDir(index, n int) ([]ns.Dir, error) {
	if index == 0 || !f.dirOK || index < f.dirAt {
		if _, err := f.fid.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		f.dirAt, f.dirBuf, f.dirEOF, f.dirOK = 0, nil, false, true
	}
	more := func() error {
		ds, err := f.fid.Dirread()
		f.dirBuf = append(f.dirBuf, ds...)
		switch {
		case err == io.EOF || err == nil && len(ds) == 0:
			f.dirEOF = true
		case err != nil:
			f.dirOK = false
			return err
		}
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
	out := make([]ns.Dir, 0, to-from)
	for _, d := range f.dirBuf[from:to] {
		out = append(out, fromDir9(d))
	}
	f.dirAt, f.dirBuf = f.dirAt+to, f.dirBuf[to:]
	return out, nil
}

func (f *cfile9) Stat(ctx context.Context) (ns.Dir, error) {
	d, err := await(ctx, f.fid.Stat, nil)
	if err != nil {
		return ns.Dir{}, err9(err)
	}
	return fromDir9(d), nil
}

func (f *cfile9) Wstat(ctx context.Context, d ns.Dir) error {
	return err9(await0(ctx, func() error { return f.fid.Wstat(toDir9(d)) }))
}

func (f *cfile9) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	if err := checkNames([]string{name}); err != nil {
		return nil, ns.Qid{}, err
	}
	// The library's Create turns the fid into the new file; the
	// directory stays put by creating through a clone of it.
	nf, err := await(ctx, func() (*client.Fid, error) {
		nf, err := f.fid.Walk("")
		if err != nil {
			return nil, err
		}
		if err := nf.Create(name, mode, plan9.Perm(perm)); err != nil {
			nf.Close()
			return nil, err
		}
		return nf, nil
	}, closeFid)
	if err != nil {
		return nil, ns.Qid{}, err9(err)
	}
	q := fromQid9(nf.Qid())
	cf := newCfile9(nf, q)
	cf.open = true
	return cf, q, nil
}

// Remove removes the file; the library clunks the fid with it, so the
// Clunk that follows has nothing left to do.
func (f *cfile9) Remove(ctx context.Context) error {
	f.removed.Store(true)
	return err9(await0(ctx, f.fid.Remove))
}

func (f *cfile9) Clunk() error {
	if f.removed.Load() {
		return nil
	}
	return err9(f.fid.Close())
}
