package ninep

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"9fans.net/go/plan9"

	"loom/ns"
)

// The 9P2000 client is loom's own, on the message codec of
// 9fans.net/go/plan9. One connection, a mnt, carries every request of a
// Client: a request takes a tag, writes its message whole under a lock
// and waits; one reader goroutine reads the replies and hands each to
// the request waiting on its tag. A reply that is not a well-formed
// answer to an outstanding request ends the connection: after it the
// framing, or the server, cannot be trusted.
//
// Flushes. When a caller's ctx is done before the reply, the request is
// flushed: a Tflush goes out, and the caller waits for the Rflush (at
// most flushWait). flush(5) says that a reply arriving before the Rflush
// means the request happened; the caller then gets that reply as though
// there had been no flush (a read's data, a walk's new File), so that
// nothing is lost or leaked. If no reply came, the call returns
// ns.ErrInterrupt. If the Rflush is slow, the caller gets ns.ErrInterrupt
// at once and a goroutine waits on: a reply that still comes is undone
// where it can be (a fid it made is clunked; a created file stays). A
// tag is free again only once its reply, or the Rflush for it, has come.

// flushWait bounds how long a caller who gave up waits for the Rflush.
var flushWait = 5 * time.Second

// errBadReply ends a connection whose server said something that is not
// a reply to an outstanding request.
var errBadReply = errors.New("9p: bad reply from server")

// mnt is a 9P2000 connection seen from the client's side.
type mnt struct {
	rwc   io.ReadWriteCloser
	br    *bufio.Reader
	msize uint32

	wmu   sync.Mutex    // held while a message is written
	slots chan struct{} // holds one token per tag in use

	mu       sync.Mutex
	tags     map[uint16]*rpc
	freeTags []uint16
	nextTag  uint16
	freeFids []uint32
	nextFid  uint32
	err      error         // why the connection ended; set once
	dead     chan struct{} // closed when err is set
}

// rpc is one request in flight.
type rpc struct {
	tag      uint16
	typ      uint8
	max      uint32            // the most data, count or qids its reply may carry
	reply    chan *plan9.Fcall // gets the reply, once
	replied  bool              // guarded by mnt.mu
	flushing bool              // a Tflush for it is out: its tag waits for the Rflush
	old      *rpc              // for a Tflush, the request it flushes
}

// version9 agrees on 9P2000 and an msize of at most msize with the
// server. The reader is started later, by start, once the connection's
// deadline for the exchange is lifted.
func (c *Client) version9(conn io.ReadWriteCloser, msize uint32) error {
	br := bufio.NewReaderSize(conn, 64<<10)
	b, _ := (&plan9.Fcall{Type: plan9.Tversion, Tag: plan9.NOTAG, Msize: msize, Version: "9P2000"}).Bytes()
	if _, err := conn.Write(b); err != nil {
		return err
	}
	b, err := readMsg(br, msize)
	if err != nil {
		return err
	}
	r, err := decodeReply(b)
	switch {
	case err != nil:
		return err
	case r.Type == plan9.Rerror:
		return errorText(r.Ename)
	case r.Type != plan9.Rversion || r.Tag != plan9.NOTAG:
		return errBadReply
	case r.Version != "9P2000":
		return fmt.Errorf("server speaks %q", r.Version)
	case r.Msize > msize || r.Msize < MinMsize:
		return fmt.Errorf("server's msize %d: want %d to %d", r.Msize, MinMsize, msize)
	}
	c.c9 = &mnt{
		rwc:   conn,
		br:    br,
		msize: r.Msize,
		slots: make(chan struct{}, plan9.NOTAG),
		tags:  make(map[uint16]*rpc),
		dead:  make(chan struct{}),
	}
	c.msize = r.Msize
	return nil
}

// decodeReply decodes b, a whole message whose size field has been
// checked, if it is an R-message laid out as intro(5) says. It checks
// before it decodes so that hostile input cannot make the codec
// complain on standard error.
func decodeReply(b []byte) (*plan9.Fcall, error) {
	if len(b) < 7 || binary.LittleEndian.Uint32(b) != uint32(len(b)) {
		return nil, errBadReply
	}
	m := msgCursor{b: b[7:]}
	switch b[4] {
	case plan9.Rversion:
		m.skip(4)
		m.str()
	case plan9.Rerror:
		m.str()
	case plan9.Rflush, plan9.Rclunk, plan9.Rremove, plan9.Rwstat:
	case plan9.Rattach:
		m.skip(13)
	case plan9.Rwalk:
		n := m.u16()
		if n > plan9.MAXWELEM {
			return nil, errBadReply
		}
		m.skip(13 * int(n))
	case plan9.Ropen, plan9.Rcreate:
		m.skip(17)
	case plan9.Rread:
		m.skip(int(m.u32()))
	case plan9.Rwrite:
		m.skip(4)
	case plan9.Rstat:
		m.skip(int(m.u16()))
	default:
		return nil, errBadReply
	}
	if m.short || len(m.b) != 0 {
		return nil, errBadReply
	}
	return plan9.UnmarshalFcall(b)
}

// read is the reader goroutine: it hands each reply to its request
// until the connection ends.
func (m *mnt) read() {
	for {
		b, err := readMsg(m.br, m.msize)
		if err != nil {
			m.shut(hungup(err))
			return
		}
		r, err := decodeReply(b)
		if err != nil {
			m.shut(hungup(err))
			return
		}
		m.mu.Lock()
		q := m.tags[r.Tag]
		if q == nil || q.replied || !q.fits(r) {
			m.mu.Unlock()
			m.shut(hungup(errBadReply))
			return
		}
		q.replied = true
		if !q.flushing {
			m.freeTag(q)
		}
		if q.old != nil && m.tags[q.old.tag] == q.old {
			m.freeTag(q.old)
		}
		m.mu.Unlock()
		q.reply <- r
	}
}

// fits reports whether r may answer q.
func (q *rpc) fits(r *plan9.Fcall) bool {
	switch {
	case r.Type == plan9.Rerror:
		return true
	case r.Type != q.typ+1:
		return false
	case r.Type == plan9.Rread:
		return uint32(len(r.Data)) <= q.max
	case r.Type == plan9.Rwrite:
		return r.Count <= q.max
	case r.Type == plan9.Rwalk:
		// A walk that fails at its first name answers with Rerror.
		return uint32(len(r.Wqid)) <= q.max && (q.max == 0 || len(r.Wqid) > 0)
	}
	return true
}

// freeTag makes q's tag free. Called with mu held.
func (m *mnt) freeTag(q *rpc) {
	delete(m.tags, q.tag)
	m.freeTags = append(m.freeTags, q.tag)
	<-m.slots
}

// shut ends the connection for err, which every request still waiting,
// and every later one, fails with. Only the first call does anything; it
// returns the error of closing the connection.
func (m *mnt) shut(err error) error {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return nil
	}
	m.err = err
	close(m.dead)
	m.mu.Unlock()
	return m.rwc.Close()
}

func (m *mnt) isDead() bool {
	select {
	case <-m.dead:
		return true
	default:
		return false
	}
}

func (m *mnt) newFid() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.freeFids); n > 0 {
		fid := m.freeFids[n-1]
		m.freeFids = m.freeFids[:n-1]
		return fid
	}
	m.nextFid++
	return m.nextFid - 1
}

// putFid returns fid, which the server no longer knows, to the pool.
func (m *mnt) putFid(fid uint32) {
	m.mu.Lock()
	m.freeFids = append(m.freeFids, fid)
	m.mu.Unlock()
}

// clunk clunks fid and returns it to the pool.
func (m *mnt) clunk(fid uint32) error {
	_, err := m.do(context.Background(), &plan9.Fcall{Type: plan9.Tclunk, Fid: fid}, nil)
	m.putFid(fid)
	return err
}

// interrupted is the error of a request given up on for ctx.
func interrupted(ctx context.Context) error {
	if err := ctx.Err(); err != nil && err != context.Canceled {
		return fmt.Errorf("%w: %w", ns.ErrInterrupt, err)
	}
	return ns.ErrInterrupt
}

// do is call for a message made with the codec.
func (m *mnt) do(ctx context.Context, f *plan9.Fcall, undo func(*plan9.Fcall)) (*plan9.Fcall, error) {
	b, err := f.Bytes()
	if err != nil {
		if undo != nil {
			undo(nil)
		}
		return nil, err
	}
	return m.call(ctx, b, undo)
}

// call sends b, a whole T-message whose tag it fills in, and returns the
// reply: an Rerror becomes the error it names, the connection's end
// ns.ErrClosed, a ctx done first ns.ErrInterrupt (see above). When call
// returns an error, undo, if not nil, is called once, now or later, with
// the reply the request got, if any: a success only when it came too
// late for the caller, so that what it made can be let go of.
func (m *mnt) call(ctx context.Context, b []byte, undo func(*plan9.Fcall)) (*plan9.Fcall, error) {
	if undo == nil {
		undo = func(*plan9.Fcall) {}
	}
	q, err := m.start(ctx, b, nil)
	if err != nil {
		undo(nil)
		return nil, err
	}
	r, err := m.wait(ctx, q, undo)
	switch {
	case err != nil:
		return nil, err
	case r.Type == plan9.Rerror:
		undo(r)
		return nil, errorText(r.Ename)
	}
	return r, nil
}

// start sends b as a new request, or as a Tflush of old. For a Tflush
// whose old request has been answered already it sends nothing and
// returns nil.
func (m *mnt) start(ctx context.Context, b []byte, old *rpc) (*rpc, error) {
	if len(b) > int(m.msize) {
		return nil, ns.ErrNameTooBig // only names can make a message this big
	}
	if ctx.Err() != nil {
		return nil, interrupted(ctx)
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, interrupted(ctx)
	case <-m.dead:
		return nil, m.err
	}
	m.mu.Lock()
	if m.err != nil || old != nil && old.replied {
		err := m.err
		<-m.slots
		m.mu.Unlock()
		return nil, err
	}
	var tag uint16
	if n := len(m.freeTags); n > 0 {
		tag = m.freeTags[n-1]
		m.freeTags = m.freeTags[:n-1]
	} else {
		tag = m.nextTag
		m.nextTag++
	}
	q := &rpc{tag: tag, typ: b[4], reply: make(chan *plan9.Fcall, 1), old: old}
	switch q.typ {
	case plan9.Tread, plan9.Twrite:
		q.max = binary.LittleEndian.Uint32(b[19:])
	case plan9.Twalk:
		q.max = uint32(binary.LittleEndian.Uint16(b[15:]))
	}
	if old != nil {
		old.flushing = true
	}
	m.tags[tag] = q
	m.mu.Unlock()

	binary.LittleEndian.PutUint16(b[5:], tag)
	m.wmu.Lock()
	_, err := m.rwc.Write(b)
	m.wmu.Unlock()
	if err != nil {
		m.shut(hungup(err)) // q is failed with the rest
	}
	return q, nil
}

// wait waits for q's reply; see call.
func (m *mnt) wait(ctx context.Context, q *rpc, undo func(*plan9.Fcall)) (*plan9.Fcall, error) {
	select {
	case r := <-q.reply:
		return r, nil
	case <-m.dead:
		if r := late(q); r != nil {
			return r, nil
		}
		undo(nil)
		return nil, m.err
	case <-ctx.Done():
	}
	b, _ := (&plan9.Fcall{Type: plan9.Tflush, Oldtag: q.tag}).Bytes()
	fl, err := m.start(context.Background(), b, q)
	switch {
	case err != nil: // the connection is gone
		if r := late(q); r != nil {
			return r, nil
		}
		undo(nil)
		return nil, interrupted(ctx)
	case fl == nil: // answered already
		return <-q.reply, nil
	}
	t := time.NewTimer(flushWait)
	defer t.Stop()
	select {
	case <-fl.reply:
	case <-m.dead:
	case <-t.C:
		go func() {
			select {
			case <-fl.reply:
			case <-m.dead:
			}
			undo(late(q))
		}()
		return nil, interrupted(ctx)
	}
	// The reader hands q its reply, if any, before the Rflush.
	if r := late(q); r != nil {
		return r, nil
	}
	undo(nil)
	return nil, interrupted(ctx)
}

// late returns q's reply if it has come, without waiting.
func late(q *rpc) *plan9.Fcall {
	select {
	case r := <-q.reply:
		return r
	default:
		return nil
	}
}
