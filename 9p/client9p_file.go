package ninep

import (
	"context"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"

	"9fans.net/go/plan9"

	"loom/ns"
)

// file9 is an ns.File over a fid of a 9P2000 connection.
type file9 struct {
	m      *mnt
	fid    uint32
	qid    ns.Qid
	iounit atomic.Uint32 // the most data one message carries; 0 until open
	gone   atomic.Bool   // the fid has been clunked or removed

	// The directory cursor: dir[0] is entry dirNext, and the next
	// directory read is at byte dirOff. dirNext < 0 is no cursor.
	dmu     sync.Mutex
	dirNext int
	dirOff  int64
	dir     []ns.Dir
	dirEOF  bool
}

var (
	_ ns.File    = (*file9)(nil)
	_ ns.Creater = (*file9)(nil)
	_ ns.Remover = (*file9)(nil)
	_ ns.Wstater = (*file9)(nil)
)

func (m *mnt) newFile(fid uint32, q ns.Qid) *file9 {
	return &file9{m: m, fid: fid, qid: q, dirNext: -1}
}

func (c *Client) attach9(ctx context.Context, user, aname string) (ns.File, error) {
	m := c.c9
	fid := m.newFid()
	r, err := m.do(ctx, &plan9.Fcall{Type: plan9.Tattach, Fid: fid, Afid: plan9.NOFID, Uname: user, Aname: aname},
		func(r *plan9.Fcall) { m.release(fid, r != nil && r.Type == plan9.Rattach) })
	if err != nil {
		return nil, err
	}
	return m.newFile(fid, fromQid9(r.Qid)), nil
}

// release lets go of fid after a request that would have made it: it is
// clunked if the request made it after all, else returned to the pool.
func (m *mnt) release(fid uint32, made bool) {
	if made {
		m.clunk(fid)
	} else {
		m.putFid(fid)
	}
}

// Walk walks in one Twalk.
func (f *file9) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	if err := checkNames(names); err != nil {
		return nil, nil, err
	}
	if f.iounit.Load() != 0 {
		return nil, nil, ns.ErrOpen
	}
	nf := f.m.newFid()
	r, err := f.m.do(ctx, &plan9.Fcall{Type: plan9.Twalk, Fid: f.fid, Newfid: nf, Wname: names},
		func(r *plan9.Fcall) { f.m.release(nf, r != nil && r.Type == plan9.Rwalk && len(r.Wqid) == len(names)) })
	if err != nil {
		return nil, nil, err
	}
	var qids []ns.Qid
	for _, q := range r.Wqid {
		qids = append(qids, fromQid9(q))
	}
	switch {
	case len(qids) < len(names):
		f.m.putFid(nf) // a partial walk makes no fid
		return qids, nil, nil
	case len(qids) == 0:
		return nil, f.m.newFile(nf, f.qid), nil
	}
	return qids, f.m.newFile(nf, qids[len(qids)-1]), nil
}

func (f *file9) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	r, err := f.m.do(ctx, &plan9.Fcall{Type: plan9.Topen, Fid: f.fid, Mode: mode}, nil)
	if err != nil {
		return ns.Qid{}, err
	}
	f.opened(r)
	return fromQid9(r.Qid), nil
}

// opened notes the iounit of an Ropen or Rcreate: the server's, unless
// it is 0 (no limit but the msize) or beyond what a message can carry.
func (f *file9) opened(r *plan9.Fcall) {
	n := f.m.msize - IOHDRSZ
	if r.Iounit != 0 && r.Iounit < n {
		n = r.Iounit
	}
	f.iounit.Store(n)
}

// chunk is the most one Tread or Twrite asks for.
func (f *file9) chunk() int {
	if n := f.iounit.Load(); n != 0 {
		return int(n)
	}
	return int(f.m.msize - IOHDRSZ)
}

// Read reads with one Tread, of at most the iounit: it may read less
// than len(p) though more is there.
func (f *file9) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ns.ErrBadOffset
	}
	if len(p) == 0 {
		return 0, nil
	}
	r, err := f.read(ctx, off, min(len(p), f.chunk()))
	if err != nil {
		return 0, err
	}
	return copy(p, r.Data), nil
}

func (f *file9) read(ctx context.Context, off int64, n int) (*plan9.Fcall, error) {
	b := make([]byte, 23)
	binary.LittleEndian.PutUint32(b, 23)
	b[4] = plan9.Tread
	binary.LittleEndian.PutUint32(b[7:], f.fid)
	binary.LittleEndian.PutUint64(b[11:], uint64(off))
	binary.LittleEndian.PutUint32(b[19:], uint32(n))
	return f.m.call(ctx, b, nil)
}

// Write writes in Twrites of at most the iounit each until all of p is
// written, and gives up with io.ErrShortWrite if the server takes
// nothing. An empty p is one Twrite of nothing, which some servers
// give a meaning.
func (f *file9) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ns.ErrBadOffset
	}
	done := 0
	for {
		n := min(len(p)-done, f.chunk())
		b := make([]byte, 23+n)
		binary.LittleEndian.PutUint32(b, uint32(len(b)))
		b[4] = plan9.Twrite
		binary.LittleEndian.PutUint32(b[7:], f.fid)
		binary.LittleEndian.PutUint64(b[11:], uint64(off)+uint64(done))
		binary.LittleEndian.PutUint32(b[19:], uint32(n))
		copy(b[23:], p[done:])
		r, err := f.m.call(ctx, b, nil)
		if err != nil {
			return done, err
		}
		done += int(r.Count)
		switch {
		case done == len(p):
			return done, nil
		case r.Count == 0:
			return done, io.ErrShortWrite
		}
	}
}

// ReadDir reads the directory on from a cursor: where the last ReadDir
// ended, in entries and in bytes, with the entries of the last Rread not
// yet returned. Index 0 reads afresh from the start; any other index but
// the cursor's also starts again from the top and skips index entries,
// reading every entry before it again: going back in a directory costs
// a read of it from the start.
func (f *file9) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	if index < 0 {
		return nil, ns.ErrBadOffset
	}
	f.dmu.Lock()
	defer f.dmu.Unlock()
	if index == 0 || index != f.dirNext {
		f.dirNext, f.dirOff, f.dir, f.dirEOF = 0, 0, nil, false
	}
	for {
		skip := min(index-f.dirNext, len(f.dir))
		f.dir = f.dir[skip:]
		f.dirNext += skip
		if f.dirEOF || f.dirNext == index && len(f.dir) >= n {
			break
		}
		if err := f.readDirMore(ctx); err != nil {
			f.dirNext = -1 // the server's idea of our offset is unknown
			return nil, err
		}
	}
	if f.dirNext != index {
		return nil, nil // beyond the end
	}
	out := f.dir[:min(n, len(f.dir)):min(n, len(f.dir))]
	f.dir = f.dir[len(out):]
	f.dirNext += len(out)
	return out, nil
}

// readDirMore reads the directory at the cursor's offset and adds what
// it got to the cursor's entries. Called with dmu held.
func (f *file9) readDirMore(ctx context.Context) error {
	r, err := f.read(ctx, f.dirOff, f.chunk())
	if err != nil {
		return err
	}
	if len(r.Data) == 0 {
		f.dirEOF = true
		return nil
	}
	f.dirOff += int64(len(r.Data))
	for b := r.Data; len(b) > 0; {
		if len(b) < 2 || len(b) < 2+int(binary.LittleEndian.Uint16(b)) {
			return errBadReply
		}
		k := 2 + int(binary.LittleEndian.Uint16(b))
		d, err := plan9.UnmarshalDir(b[:k])
		if err != nil {
			return errBadReply
		}
		f.dir = append(f.dir, fromDir9(d))
		b = b[k:]
	}
	return nil
}

func (f *file9) Stat(ctx context.Context) (ns.Dir, error) {
	r, err := f.m.do(ctx, &plan9.Fcall{Type: plan9.Tstat, Fid: f.fid}, nil)
	if err != nil {
		return ns.Dir{}, err
	}
	d, err := plan9.UnmarshalDir(r.Stat)
	if err != nil {
		return ns.Dir{}, errBadReply
	}
	return fromDir9(d), nil
}

// Wstat passes d's don't-touch values through as they are: they are the
// wire's own.
func (f *file9) Wstat(ctx context.Context, d ns.Dir) error {
	st, _ := toDir9(d).Bytes()
	if len(st) > plan9.STATMAX {
		return ns.ErrNameTooBig
	}
	_, err := f.m.do(ctx, &plan9.Fcall{Type: plan9.Twstat, Fid: f.fid, Stat: st}, nil)
	return err
}

// Create creates through a clone of the directory's fid, which Tcreate
// turns into the new file, so that the receiver stays the directory.
func (f *file9) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	if err := checkNames([]string{name}); err != nil {
		return nil, ns.Qid{}, err
	}
	_, clone, err := f.Walk(ctx, nil)
	if err != nil {
		return nil, ns.Qid{}, err
	}
	cf := clone.(*file9)
	r, err := f.m.do(ctx, &plan9.Fcall{Type: plan9.Tcreate, Fid: cf.fid, Name: name, Perm: plan9.Perm(perm), Mode: mode},
		func(*plan9.Fcall) { f.m.clunk(cf.fid) })
	if err != nil {
		return nil, ns.Qid{}, err
	}
	cf.qid = fromQid9(r.Qid)
	cf.opened(r)
	return cf, cf.qid, nil
}

// Remove removes the file. The server clunks the fid whatever comes of
// it, so the Clunk that follows has nothing to do; a Tremove flushed
// before it was done leaves the fid, which is then clunked here.
func (f *file9) Remove(ctx context.Context) error {
	if f.gone.Swap(true) {
		return ns.ErrInvalid
	}
	_, err := f.m.do(ctx, &plan9.Fcall{Type: plan9.Tremove, Fid: f.fid},
		func(r *plan9.Fcall) { f.m.release(f.fid, r == nil) })
	if err == nil {
		f.m.putFid(f.fid)
	}
	return err
}

// Clunk clunks the fid once; later calls, and calls once the connection
// has ended (which clunks every fid of it), do nothing.
func (f *file9) Clunk() error {
	if f.gone.Swap(true) {
		return nil
	}
	err := f.m.clunk(f.fid)
	if err != nil && f.m.isDead() {
		return nil
	}
	return err
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
