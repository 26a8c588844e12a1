package ninep

import (
	"encoding/binary"
	"io"
	"math"
	"strings"

	"9fans.net/go/plan9"

	"loom/ns"
)

// The request handlers. Each checks the protocol state first (fid
// known, open or not, in the right mode; names sane) so that the file
// server sees only requests its preconditions allow, then calls it once
// and answers exactly once.

func (c *conn9) rerror(r *req, err error) {
	c.respond(r, errorMsg(r.tag, ns.ErrorText(err), c.msize))
}

func (c *conn9) reply(r *req, f *plan9.Fcall) {
	f.Tag = r.tag
	c.respond(r, fcallBytes(f))
}

// iounit is what Ropen and Rcreate promise: the most data one read or
// write can carry.
func (c *conn9) iounit() uint32 { return c.msize - IOHDRSZ }

// getFid returns the fid numbered num with a reference the caller drops
// with putFid.
func (c *conn9) getFid(num uint32) *fid { return c.fids.get(num) }

func (c *conn9) putFid(fd *fid) {
	if err := c.fids.unref(fd); err != nil {
		c.s.logf("9p: clunk of fid %d: %v", fd.num, err)
	}
}

// goodName reports whether name may be an element of a walk: not empty,
// not ".", no slash, no NUL. ".." is good: it walks to the parent.
func goodName(name string) bool {
	return name != "" && name != "." && strings.IndexByte(name, '/') < 0 && strings.IndexByte(name, 0) < 0
}

// openModes are the bits of an open mode the seam knows; a client's
// other bits (OCEXEC, which is the client's business, and undefined
// ones) are dropped.
const openModes = 3 | ns.OTRUNC | ns.ORCLOSE

// writes reports whether an open mode asks for writing.
func writes(mode uint8) bool {
	a := mode & 3
	return a == ns.OWRITE || a == ns.ORDWR || mode&ns.OTRUNC != 0
}

func (c *conn9) attach(r *req) {
	f := r.f
	if f.Afid != plan9.NOFID {
		c.rerror(r, errUnknownFid) // there are no auth fids
		return
	}
	if err := c.fids.canAdd(f.Fid); err != nil {
		c.rerror(r, err)
		return
	}
	file, err := c.s.fs.Attach(r, f.Uname, f.Aname)
	if err != nil {
		c.rerror(r, err)
		return
	}
	d, err := file.Stat(r)
	if err == nil {
		err = c.fids.add(newFid(f.Fid, file, d.Qid.IsDir()))
	}
	if err != nil {
		safeClunk(file, c.s.logf)
		c.rerror(r, err)
		return
	}
	c.reply(r, &plan9.Fcall{Type: plan9.Rattach, Qid: plan9.Qid(d.Qid)})
}

func (c *conn9) walk(r *req) {
	f := r.f
	fd := c.getFid(f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	defer c.putFid(fd)
	if st, _ := fd.openMode(); st != fidUnopened {
		c.rerror(r, ns.ErrOpen)
		return
	}
	if f.Newfid != f.Fid {
		if err := c.fids.canAdd(f.Newfid); err != nil {
			c.rerror(r, err)
			return
		}
	}
	for _, name := range f.Wname {
		if !goodName(name) {
			c.rerror(r, ns.ErrBadName)
			return
		}
	}
	n := len(f.Wname)
	if n > 0 && !fd.isDir {
		c.rerror(r, errWalkNonDir)
		return
	}
	qids, nf, err := fd.file.Walk(r, f.Wname)
	if len(qids) != n || err != nil || nf == nil {
		if nf != nil {
			safeClunk(nf, c.s.logf)
		}
		switch {
		case len(qids) > 0 && len(qids) < n:
			// Partial: the qids reached, and no new fid.
			c.reply(r, &plan9.Fcall{Type: plan9.Rwalk, Wqid: plan9Qids(qids)})
			return
		case err != nil:
		case len(qids) == 0 && n > 0:
			err = ns.ErrNotExist
		default:
			err = errInternal // the file server broke its contract
		}
		c.rerror(r, err)
		return
	}
	isDir := fd.isDir
	if n > 0 {
		isDir = qids[n-1].IsDir()
	}
	nfd := newFid(f.Newfid, nf, isDir)
	if f.Newfid == f.Fid {
		if !c.fids.swap(fd, nfd) {
			safeClunk(nf, c.s.logf)
			c.rerror(r, errUnknownFid) // clunked meanwhile
			return
		}
		c.putFid(fd) // the table's reference, handed to us
	} else if err := c.fids.add(nfd); err != nil {
		safeClunk(nf, c.s.logf)
		c.rerror(r, err)
		return
	}
	c.reply(r, &plan9.Fcall{Type: plan9.Rwalk, Wqid: plan9Qids(qids)})
}

func plan9Qids(qs []ns.Qid) []plan9.Qid {
	if len(qs) == 0 {
		return nil
	}
	p := make([]plan9.Qid, len(qs))
	for i, q := range qs {
		p[i] = plan9.Qid(q)
	}
	return p
}

func (c *conn9) open(r *req) {
	f := r.f
	fd := c.getFid(f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	defer c.putFid(fd)
	mode := f.Mode & openModes
	if fd.isDir && writes(mode) {
		c.rerror(r, ns.ErrIsDir)
		return
	}
	if !fd.begin() {
		c.rerror(r, ns.ErrOpen)
		return
	}
	ok := false
	defer func() {
		if !ok {
			fd.abort()
		}
	}()
	q, err := fd.file.Open(r, mode)
	if err != nil {
		c.rerror(r, err)
		return
	}
	ok = true
	fd.opened(mode)
	c.reply(r, &plan9.Fcall{Type: plan9.Ropen, Qid: plan9.Qid(q), Iounit: c.iounit()})
}

func (c *conn9) create(r *req) {
	f := r.f
	fd := c.getFid(f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	defer c.putFid(fd)
	mode := f.Mode & openModes
	perm := ns.Perm(f.Perm)
	switch st, _ := fd.openMode(); {
	case st != fidUnopened:
		c.rerror(r, ns.ErrOpen)
		return
	case !fd.isDir:
		c.rerror(r, ns.ErrNotDir)
		return
	case !goodName(f.Name) || f.Name == "..":
		c.rerror(r, ns.ErrBadName)
		return
	case perm.IsDir() && writes(mode):
		c.rerror(r, ns.ErrIsDir)
		return
	}
	cr, ok := fd.file.(ns.Creater)
	if !ok {
		c.rerror(r, ns.ErrPerm)
		return
	}
	if !fd.begin() {
		c.rerror(r, ns.ErrOpen)
		return
	}
	done := false
	defer func() {
		if !done {
			fd.abort()
		}
	}()
	nf, q, err := cr.Create(r, f.Name, perm, mode)
	if err != nil {
		c.rerror(r, err)
		return
	}
	// The fid now stands for the new, open file; the directory's File
	// goes with the old fid once nothing else uses it.
	nfd := newFid(fd.num, nf, q.IsDir())
	nfd.opened(mode)
	if !c.fids.swap(fd, nfd) {
		safeClunk(nf, c.s.logf)
		c.rerror(r, errUnknownFid) // clunked meanwhile
		return
	}
	done = true
	c.putFid(fd)
	c.reply(r, &plan9.Fcall{Type: plan9.Rcreate, Qid: plan9.Qid(q), Iounit: c.iounit()})
}

// read9 serves Tread. A file's data is read straight into the reply
// buffer behind an Rread header written by hand.
func (c *conn9) read9(r *req) {
	f := r.f
	fd := c.getFid(f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	defer c.putFid(fd)
	st, mode := fd.openMode()
	switch {
	case st != fidOpen:
		c.rerror(r, ns.ErrNotOpen)
		return
	case mode&3 == ns.OWRITE:
		c.rerror(r, errNotReadable)
		return
	}
	count := min(f.Count, c.iounit())
	if fd.isDir {
		c.readDir(r, fd, f.Offset, count)
		return
	}
	if f.Offset > math.MaxInt64 {
		c.rerror(r, ns.ErrInvalid)
		return
	}
	pool := c.small
	if int(rreadHdr+count) > pool.size {
		pool = c.big
	}
	bp := pool.get()
	defer pool.put(bp)
	b := (*bp)[:rreadHdr+count]
	n, err := fd.file.Read(r, b[rreadHdr:], int64(f.Offset))
	switch {
	case n < 0 || n > int(count):
		c.rerror(r, errInternal)
		return
	case n == 0 && err != nil && err != io.EOF:
		c.rerror(r, err)
		return
	}
	c.respond(r, rreadMsg(b, r.tag, n))
}

// rreadHdr is the size of an Rread before its data.
const rreadHdr = 4 + 1 + 2 + 4

// rreadMsg fills in the header of an Rread of n bytes whose data is
// already at b[rreadHdr:].
func rreadMsg(b []byte, tag uint16, n int) []byte {
	b = b[:rreadHdr+n]
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	b[4] = plan9.Rread
	binary.LittleEndian.PutUint16(b[5:], tag)
	binary.LittleEndian.PutUint32(b[7:], uint32(n))
	return b
}

// readDir serves a Tread of a directory: whole stat entries, as many as
// fit count. A read continues where the previous one ended or starts
// again at offset 0; entries fetched but not sent wait for the next
// read, so none is lost or repeated.
func (c *conn9) readDir(r *req, fd *fid, off uint64, count uint32) {
	fd.dirMu.Lock()
	defer fd.dirMu.Unlock()
	switch {
	case off == 0:
		fd.dirIndex, fd.dirPending, fd.dirEnd = 0, nil, 0
	case off != fd.dirEnd:
		c.rerror(r, ns.ErrBadOffset)
		return
	}
	pool := c.small
	if int(rreadHdr+count) > pool.size {
		pool = c.big
	}
	bp := pool.get()
	defer pool.put(bp)
	b := (*bp)[: rreadHdr : rreadHdr+count]
	for {
		if len(fd.dirPending) == 0 {
			ds, err := fd.file.ReadDir(r, fd.dirIndex, int(max(count/64, 16)))
			if err != nil {
				if len(b) == rreadHdr {
					c.rerror(r, err)
					return
				}
				break // send what we have; the next read asks again
			}
			if len(ds) == 0 {
				break
			}
			fd.dirIndex += len(ds)
			fd.dirPending = ds
		}
		d := &fd.dirPending[0]
		size, ok := statSize(d)
		if !ok {
			fd.dirPending = fd.dirPending[1:] // cannot be sent, ever
			c.s.logf("9p: directory entry %q too big for a stat", d.Name)
			continue
		}
		if len(b)+size > cap(b) {
			break
		}
		b = packStat(b, d)
		fd.dirPending = fd.dirPending[1:]
	}
	n := len(b) - rreadHdr
	if n == 0 && len(fd.dirPending) > 0 {
		c.rerror(r, errDirCount)
		return
	}
	fd.dirEnd = off + uint64(n)
	c.respond(r, rreadMsg(b, r.tag, n))
}

func (c *conn9) write(r *req) {
	f := r.f
	fd := c.getFid(f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	defer c.putFid(fd)
	st, mode := fd.openMode()
	switch a := mode & 3; {
	case st != fidOpen:
		c.rerror(r, ns.ErrNotOpen)
		return
	case fd.isDir:
		c.rerror(r, ns.ErrIsDir)
		return
	case a != ns.OWRITE && a != ns.ORDWR:
		c.rerror(r, errNotWritable)
		return
	case f.Offset > math.MaxInt64:
		c.rerror(r, ns.ErrInvalid)
		return
	}
	data := f.Data[:min(len(f.Data), int(c.iounit()))]
	n, err := fd.file.Write(r, data, int64(f.Offset))
	switch {
	case n < 0 || n > len(data):
		c.rerror(r, errInternal)
		return
	case n == 0 && err != nil && len(data) > 0:
		c.rerror(r, err)
		return
	}
	c.reply(r, &plan9.Fcall{Type: plan9.Rwrite, Count: uint32(n)})
}

// clunk serves Tclunk: the fid goes whatever Clunk says.
func (c *conn9) clunk(r *req) {
	fd := c.fids.take(r.f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	if err := c.fids.unref(fd); err != nil {
		c.rerror(r, err)
		return
	}
	c.reply(r, &plan9.Fcall{Type: plan9.Rclunk})
}

// remove serves Tremove: the fid is clunked whether or not the removal
// succeeds (remove(5)).
func (c *conn9) remove(r *req) {
	fd := c.fids.take(r.f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	err := func() error {
		// Clunk's error is ignored: after a removal, an ORCLOSE
		// removal can only fail again.
		defer c.fids.unref(fd)
		rm, ok := fd.file.(ns.Remover)
		if !ok {
			return ns.ErrPerm
		}
		return rm.Remove(r)
	}()
	if err != nil {
		c.rerror(r, err)
		return
	}
	c.reply(r, &plan9.Fcall{Type: plan9.Rremove})
}

func (c *conn9) stat(r *req) {
	fd := c.getFid(r.f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	defer c.putFid(fd)
	d, err := fd.file.Stat(r)
	if err != nil {
		c.rerror(r, err)
		return
	}
	size, ok := statSize(&d)
	if !ok || size+9 > int(c.msize) {
		c.rerror(r, errStatTooBig)
		return
	}
	c.reply(r, &plan9.Fcall{Type: plan9.Rstat, Stat: packStat(make([]byte, 0, size), &d)})
}

func (c *conn9) wstat(r *req) {
	fd := c.getFid(r.f.Fid)
	if fd == nil {
		c.rerror(r, errUnknownFid)
		return
	}
	defer c.putFid(fd)
	pd, err := plan9.UnmarshalDir(r.f.Stat)
	if err != nil {
		c.rerror(r, errBadStat)
		return
	}
	ws, ok := fd.file.(ns.Wstater)
	if !ok {
		c.rerror(r, ns.ErrPerm)
		return
	}
	if err := ws.Wstat(r, nsDir(pd)); err != nil {
		c.rerror(r, err)
		return
	}
	c.reply(r, &plan9.Fcall{Type: plan9.Rwstat})
}

// nsDir converts a wire Dir; the don't-touch values are the same on
// both sides.
func nsDir(d *plan9.Dir) ns.Dir {
	return ns.Dir{
		Type:   d.Type,
		Dev:    d.Dev,
		Qid:    ns.Qid(d.Qid),
		Mode:   ns.Perm(d.Mode),
		Atime:  d.Atime,
		Mtime:  d.Mtime,
		Length: d.Length,
		Name:   d.Name,
		Uid:    d.Uid,
		Gid:    d.Gid,
		Muid:   d.Muid,
	}
}

// statFixed is the size of a stat entry without its strings' bytes.
const statFixed = 2 + 2 + 4 + 13 + 4 + 4 + 4 + 8 + 4*2

// statSize gives the size of d packed as stat(5) has it, and whether it
// can be packed at all (every string and the whole within 16-bit counts).
func statSize(d *ns.Dir) (int, bool) {
	const max16 = 1<<16 - 1
	if len(d.Name) > max16 || len(d.Uid) > max16 || len(d.Gid) > max16 || len(d.Muid) > max16 {
		return 0, false
	}
	n := statFixed + len(d.Name) + len(d.Uid) + len(d.Gid) + len(d.Muid)
	return n, n-2 <= max16
}

// packStat appends d in the stat(5) layout, as plan9.Dir.Bytes makes
// it; b must have room for statSize(d) bytes.
func packStat(b []byte, d *ns.Dir) []byte {
	size, _ := statSize(d)
	n := len(b)
	b = b[:n+size]
	p := b[n:]
	le := binary.LittleEndian
	le.PutUint16(p[0:], uint16(size-2))
	le.PutUint16(p[2:], d.Type)
	le.PutUint32(p[4:], d.Dev)
	p[8] = d.Qid.Type
	le.PutUint32(p[9:], d.Qid.Vers)
	le.PutUint64(p[13:], d.Qid.Path)
	le.PutUint32(p[21:], uint32(d.Mode))
	le.PutUint32(p[25:], d.Atime)
	le.PutUint32(p[29:], d.Mtime)
	le.PutUint64(p[33:], d.Length)
	p = p[41:]
	for _, s := range [...]string{d.Name, d.Uid, d.Gid, d.Muid} {
		le.PutUint16(p, uint16(len(s)))
		copy(p[2:], s)
		p = p[2+len(s):]
	}
	return b
}
