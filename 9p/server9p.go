package ninep

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"9fans.net/go/plan9"
)

// The 9P2000 engine.
//
// Reading. One goroutine at a time holds the reader role. It reads a
// message, checks its framing, decodes it, enters its tag in the tag
// table and serves the request itself, with no hand-off between
// goroutines on the way from socket to file server to socket: most
// requests take a microsecond or two, less than starting a goroutine and
// waking it. A request that blocks must not stop the connection (a
// Tflush for it, or other clients' requests, are waiting to be read), so
// the reader role passes to a new goroutine as soon as the request waits
// on its context, which every method that blocks does (ns.File); and,
// for one that runs long without, when the watchdog sees it still
// running on its next tick. From then on the two run concurrently, and
// the goroutine that served the request ends when it is done. Tversion
// and Tflush are handled by the reader in place: a version must see no
// request running, and a flush only marks its target and never waits.
//
// Limits. At most maxReqs requests run at once; the reader holding a
// further request waits for one to finish before reading on, so a
// connection holds at most maxReqs+1 messages. A Tflush needs no slot,
// so a client that has maxReqs requests blocked can still flush them,
// but not once the next request has been read and is waiting for a slot.
//
// Writing. A reply is written whole, in one Write, under the write
// lock.
//
// Flushing. A flushed request's context is cancelled; its flush is
// answered when it finishes, right after its own reply. That reply is
// sent only if the request succeeded (or was a Tclunk or Tremove, which
// take the fid whatever happens): by flush(5) a reply that arrives before
// the Rflush means the request happened, and one that does not means it
// never did, so a failed request, typically one interrupted by the flush,
// is suppressed, while a request that changed something still says so.
// No reply for the old tag ever follows its Rflush.
//
// Duplicate tags. A request whose tag is that of an outstanding request
// is answered by Rerror "tag in use" and otherwise ignored; the
// outstanding request is answered in its time. A Tflush can never be
// answered by Rerror (flush(5)), so a Tflush with a tag in use is acted
// on without entering its tag in the table.

// Errors of the engine, by their Plan 9 text.
var (
	errUnknownFid   = errors.New("unknown fid")
	errFidInUse     = errors.New("fid in use")
	errBadFid       = errors.New("bad fid")
	errTooManyFids  = errors.New("too many fids")
	errTagInUse     = errors.New("tag in use")
	errNoAuth       = errors.New("authentication not required")
	errNotVersioned = errors.New("version not negotiated")
	errMsizeSmall   = errors.New("msize too small")
	errWalkNonDir   = errors.New("walk in non-directory")
	errNotReadable  = errors.New("fid not open for reading")
	errNotWritable  = errors.New("fid not open for writing")
	errDirCount     = errors.New("read count too small for directory entry")
	errBadStat      = errors.New("malformed stat buffer")
	errStatTooBig   = errors.New("stat too big for message")
	errInternal     = errors.New("internal server error")
)

// conn9 is one 9P2000 connection.
type conn9 struct {
	s   *Server
	rwc io.ReadWriteCloser
	br  *bufio.Reader
	ctx context.Context

	// Set by the reader while no request runs (after a Tversion has
	// waited for all to finish); read by requests.
	versioned  bool
	msize      uint32 // negotiated message size
	rmsize     uint32 // largest message the reader accepts
	small, big *bufPool

	wmu  sync.Mutex // held while writing a reply; before tmu
	werr error      // first write error; later replies are dropped

	tmu  sync.Mutex
	tags map[uint16]*req

	fids fidTable

	inline atomic.Bool   // the reader is serving a request in place
	served atomic.Uint64 // requests served in place, for the watchdog

	slots      chan struct{}
	wg         sync.WaitGroup // requests being served
	readerDone chan struct{}  // closed when reading has ended
	readErr    error
}

// serve9P serves a 9P2000 connection whose first message, raw, has been
// read from r already.
func (s *Server) serve9P(ctx context.Context, c io.ReadWriteCloser, r io.Reader, raw []byte) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	cn := &conn9{
		s:          s,
		rwc:        c,
		br:         br,
		ctx:        ctx,
		tags:       make(map[uint16]*req),
		fids:       fidTable{m: make(map[uint32]*fid), max: s.maxFids, logf: s.logf},
		slots:      make(chan struct{}, s.maxReqs),
		readerDone: make(chan struct{}),
	}
	cn.unversion()
	watchConn(cn)
	defer unwatchConn(cn)
	// This goroutine takes the reader role first; when it has handed
	// the role on and served a request, it waits for reading to end.
	cn.read(raw)
	<-cn.readerDone
	cn.wg.Wait()
	cn.clunkAll()
	c.Close()
	return cn.readErr
}

// unversion returns the connection to the state before a Tversion.
func (c *conn9) unversion() {
	c.versioned = false
	c.msize = c.s.msize
	c.rmsize = c.s.msize
	c.small, c.big = pools(c.s.msize, c.s.msize)
}

// read is the reader role: it reads and dispatches messages until it
// hands the role on or reading ends. first, if not nil, is a message
// already read.
func (c *conn9) read(first []byte) {
	for {
		b, bp, pool := first, (*[]byte)(nil), (*bufPool)(nil)
		first = nil
		if b == nil {
			var err error
			b, bp, pool, err = c.readMsg()
			if err != nil {
				c.endRead(err)
				return
			}
		}
		if c.dispatch(b, bp, pool) {
			return
		}
	}
}

// readMsg reads one message into a pooled buffer. A size field that no
// message may have (under 7, over the msize in force) ends the
// connection: its framing is lost. Nothing is allocated for a message
// before its size has been checked.
func (c *conn9) readMsg() ([]byte, *[]byte, *bufPool, error) {
	hdr, err := c.br.Peek(4)
	if err != nil {
		if len(hdr) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr)
	if n < 7 || n > c.rmsize {
		return nil, nil, nil, errMsgSize
	}
	pool := c.small
	if int(n) > pool.size {
		pool = c.big
	}
	bp := pool.get()
	b := (*bp)[:n]
	if _, err := io.ReadFull(c.br, b); err != nil {
		pool.put(bp)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, nil, err
	}
	return b, bp, pool, nil
}

// endRead ends reading with err: it closes the connection, so that a
// client that sent garbage learns at once, and cancels every outstanding
// request, whose replies no one will read. The goroutine that started
// the connection, which may be one of those requests, cleans up after
// them.
func (c *conn9) endRead(err error) {
	switch {
	case err == io.EOF, c.ctx.Err() != nil, errors.Is(err, net.ErrClosed):
		err = nil
	}
	c.readErr = err
	c.rwc.Close()
	c.abortAll()
	close(c.readerDone)
}

// dispatch acts on one message. It reports whether the calling goroutine
// has given up the reader role (having served a request, or because
// reading ended).
func (c *conn9) dispatch(b []byte, bp *[]byte, pool *bufPool) bool {
	typ := b[4]
	tag := binary.LittleEndian.Uint16(b[5:])
	err := checkMsg(b)
	var f *plan9.Fcall
	if err == nil {
		f, err = plan9.UnmarshalFcall(b)
	}
	if err != nil {
		if c.s.trace != nil {
			c.s.tracef("<- bad message (type %d tag %d size %d): %v", typ, tag, len(b), err)
		}
		putBuf(pool, bp)
		c.sendNow(errorMsg(tag, err.Error(), c.msize))
		return false
	}
	if c.s.trace != nil {
		c.s.tracef("<- %v", f)
	}
	r := &req{c: c, tag: tag, typ: typ, f: f}
	if typ == plan9.Twrite || typ == plan9.Twstat {
		// f.Data and f.Stat point into the buffer.
		r.buf, r.pool = bp, pool
	} else {
		putBuf(pool, bp)
	}
	switch typ {
	case plan9.Tversion:
		c.version(r)
		return false
	case plan9.Tflush:
		c.flush(r)
		return false
	}
	if !c.versioned {
		r.release()
		c.sendNow(errorMsg(tag, errNotVersioned.Error(), c.msize))
		return false
	}
	c.tmu.Lock()
	if _, dup := c.tags[tag]; dup {
		c.tmu.Unlock()
		r.release()
		c.sendNow(errorMsg(tag, errTagInUse.Error(), c.msize))
		return false
	}
	c.tags[tag] = r
	c.tmu.Unlock()
	select {
	case c.slots <- struct{}{}:
	default:
		// At the limit: read no more until a request finishes.
		select {
		case c.slots <- struct{}{}:
		case <-c.ctx.Done():
			c.tmu.Lock()
			delete(c.tags, tag)
			c.tmu.Unlock()
			r.release()
			c.endRead(c.ctx.Err())
			return true
		}
	}
	c.wg.Add(1)
	c.served.Add(1)
	c.inline.Store(true)
	c.serve(r)
	<-c.slots
	c.wg.Done()
	// Still the reader, unless another goroutine took over meanwhile.
	return !c.inline.CompareAndSwap(true, false)
}

// handOff gives the reader role, if the goroutine holding it is serving
// a request in place, to a new goroutine, so that the connection reads
// on while that request runs. It is called when the request waits on its
// context (see req.Done) and by the watchdog when it has run long.
func (c *conn9) handOff() {
	if c.inline.CompareAndSwap(true, false) {
		go c.read(nil)
	}
}

// version handles a Tversion: whatever it says, it first aborts every
// outstanding request and clunks every fid (version(5)).
func (c *conn9) version(r *req) {
	c.abortAll()
	c.wg.Wait()
	c.clunkAll()
	c.unversion()
	f := r.f
	if f.Msize < MinMsize {
		// version(5) lets the server answer with an msize no larger
		// than the client's, and below MinMsize there is no room for
		// a useful read or a walk's reply. The framing is intact, so
		// say so rather than hang up; the client may try again.
		c.sendNow(errorMsg(r.tag, errMsizeSmall.Error(), f.Msize))
		return
	}
	msize := min(f.Msize, c.s.msize)
	rf := &plan9.Fcall{Type: plan9.Rversion, Tag: r.tag, Msize: msize, Version: "unknown"}
	if f.Version == "9P2000" || strings.HasPrefix(f.Version, "9P2000.") {
		rf.Version = "9P2000"
		c.versioned = true
		c.msize, c.rmsize = msize, msize
		c.small, c.big = pools(msize, c.s.msize)
	}
	c.sendNow(fcallBytes(rf))
}

// flush handles a Tflush. It never waits: the Rflush goes out when the
// flushed request finishes, right after that request's own reply.
func (c *conn9) flush(r *req) {
	c.tmu.Lock()
	old := c.tags[r.f.Oldtag]
	if old == nil || !c.versioned {
		c.tmu.Unlock()
		c.sendNow(fcallBytes(&plan9.Fcall{Type: plan9.Rflush, Tag: r.tag}))
		return
	}
	if _, dup := c.tags[r.tag]; !dup {
		c.tags[r.tag] = r // a Tflush may be flushed in turn
	}
	old.flushed = true
	old.flushers = append(old.flushers, r)
	c.tmu.Unlock()
	old.cancel()
}

// abortAll cancels every outstanding request and marks it so that
// neither its reply nor any Rflush for it is sent.
func (c *conn9) abortAll() {
	c.tmu.Lock()
	rs := make([]*req, 0, len(c.tags))
	for _, r := range c.tags {
		r.aborted = true
		rs = append(rs, r)
	}
	c.tmu.Unlock()
	for _, r := range rs {
		r.cancel()
	}
}

// clunkAll clunks every fid of the connection. No request runs.
func (c *conn9) clunkAll() {
	for _, fd := range c.fids.takeAll() {
		if err := c.fids.unref(fd); err != nil {
			c.s.logf("9p: clunk of fid %d: %v", fd.num, err)
		}
	}
}

// respond sends b, the reply to r, and then the Rflush of every flush
// waiting for r. It is called once per request.
func (c *conn9) respond(r *req, b []byte) {
	r.replied = true
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.tmu.Lock()
	if c.tags[r.tag] == r {
		delete(c.tags, r.tag)
	}
	suppress := r.aborted ||
		r.flushed && b[4] == plan9.Rerror && r.typ != plan9.Tclunk && r.typ != plan9.Tremove
	var flushes []uint16
	if len(r.flushers) > 0 {
		flushes = c.doneFlushes(r)
	}
	c.tmu.Unlock()
	if !suppress {
		c.writeLocked(b)
	}
	for _, tag := range flushes {
		c.writeLocked(fcallBytes(&plan9.Fcall{Type: plan9.Rflush, Tag: tag}))
	}
	r.release()
}

// doneFlushes retires the flushes waiting for r, and those waiting for
// them, in the order they arrived, and returns the tags to answer.
// Called with tmu held.
func (c *conn9) doneFlushes(r *req) []uint16 {
	var tags []uint16
	type item struct {
		r       *req
		aborted bool
	}
	q := []item{{r, r.aborted}}
	for len(q) > 0 {
		it := q[0]
		q = q[1:]
		for _, fr := range it.r.flushers {
			if c.tags[fr.tag] == fr {
				delete(c.tags, fr.tag)
			}
			ab := it.aborted || fr.aborted
			if !ab {
				tags = append(tags, fr.tag)
			}
			q = append(q, item{fr, ab})
		}
		it.r.flushers = nil
	}
	return tags
}

// sendNow writes b, a reply to a message that was never entered in the
// tag table.
func (c *conn9) sendNow(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeLocked(b)
}

// writeLocked writes one whole message. Called with wmu held.
func (c *conn9) writeLocked(b []byte) {
	if c.s.trace != nil {
		c.traceOut(b)
	}
	if c.werr != nil {
		return
	}
	if _, err := c.rwc.Write(b); err != nil {
		c.werr = err
		c.rwc.Close() // so that the reader stops too
	}
}

func (c *conn9) traceOut(b []byte) {
	f, err := plan9.UnmarshalFcall(b)
	if err != nil {
		c.s.tracef("-> bad reply (%d bytes): %v", len(b), err)
		return
	}
	c.s.tracef("-> %v", f)
}

// serve serves one request, answering it exactly once whatever the file
// server does, panics included.
func (c *conn9) serve(r *req) {
	defer func() {
		if p := recover(); p != nil {
			c.s.logf("9p: panic serving %v: %v\n%s", r.f, p, debug.Stack())
			if !r.replied {
				c.rerror(r, errInternal)
			}
		}
	}()
	switch r.typ {
	case plan9.Tauth:
		c.rerror(r, errNoAuth)
	case plan9.Tattach:
		c.attach(r)
	case plan9.Twalk:
		c.walk(r)
	case plan9.Topen:
		c.open(r)
	case plan9.Tcreate:
		c.create(r)
	case plan9.Tread:
		c.read9(r)
	case plan9.Twrite:
		c.write(r)
	case plan9.Tclunk:
		c.clunk(r)
	case plan9.Tremove:
		c.remove(r)
	case plan9.Tstat:
		c.stat(r)
	case plan9.Twstat:
		c.wstat(r)
	default:
		c.rerror(r, errBadType)
	}
}

// A req is one outstanding request. It is also the context.Context given
// to the file server for the request: a Tflush cancels it, and so do a
// Tversion and the end of the connection. Being its own context spares
// every request a context.WithCancel and its registration with the
// connection's context.
type req struct {
	c   *conn9
	tag uint16
	typ uint8
	f   *plan9.Fcall

	buf  *[]byte // message buffer f points into, if any
	pool *bufPool

	replied bool // set by respond, read only by the same goroutine

	// Guarded by c.tmu.
	flushed  bool
	aborted  bool
	flushers []*req

	mu   sync.Mutex
	done chan struct{}
	err  error
}

func (r *req) release() {
	if r.buf != nil {
		r.pool.put(r.buf)
		r.buf, r.pool = nil, nil
	}
}

func (r *req) cancel() {
	r.mu.Lock()
	if r.err == nil {
		r.err = context.Canceled
		if r.done == nil {
			r.done = closedChan
		} else {
			close(r.done)
		}
	}
	r.mu.Unlock()
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Deadline is the connection's.
func (r *req) Deadline() (time.Time, bool) { return r.c.ctx.Deadline() }

// Done is closed when the request is flushed or aborted. A file server
// asks for it when it is about to wait, which is the moment to let
// another goroutine read on.
func (r *req) Done() <-chan struct{} {
	r.c.handOff()
	r.mu.Lock()
	if r.done == nil {
		r.done = make(chan struct{})
	}
	d := r.done
	r.mu.Unlock()
	return d
}

// Err is context.Canceled once the request is flushed or aborted.
func (r *req) Err() error {
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	return err
}

// Value is the connection's.
func (r *req) Value(key any) any { return r.c.ctx.Value(key) }

func putBuf(p *bufPool, b *[]byte) {
	if p != nil {
		p.put(b)
	}
}

// fcallBytes encodes a reply the engine made itself, which always
// encodes.
func fcallBytes(f *plan9.Fcall) []byte {
	b, err := f.Bytes()
	if err != nil {
		panic("9p: cannot encode " + f.String() + ": " + err.Error())
	}
	return b
}

// errorMsg encodes an Rerror, shortening the text if need be so that the
// message fits msize and a string's 16-bit count.
func errorMsg(tag uint16, ename string, msize uint32) []byte {
	room := min(int(msize), 1<<16+8) - 9
	if len(ename) > room {
		ename = ename[:max(room, 0)]
	}
	return fcallBytes(&plan9.Fcall{Type: plan9.Rerror, Tag: tag, Ename: ename})
}
