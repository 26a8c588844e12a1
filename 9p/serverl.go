package ninep

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hugelgupf/p9/p9"

	"loom/ns"
)

// The 9P2000.L side of the listener. The p9 library decodes and polices
// the protocol (fids, tags, open state, path names) and calls a p9.File
// for each node; lfile (serverl_file.go) is that p9.File over an ns.File.
// What the library cannot be told is supplied here, on the byte streams
// between it and the connection:
//
//   - msize: the library agrees to whatever a client asks up to 4 MiB;
//     every Tversion is rewritten on its way in so that the client asks
//     for no more than the Server's msize.
//   - requests in flight: the library starts a goroutine per request
//     without limit; the reader stops handing it messages while
//     MaxRequests of them have no reply yet.
//   - hang-ups: the library waits for every request to finish before it
//     lets go of a connection; the context given to the file server is
//     cancelled as soon as the client's side fails, so that blocked
//     requests return, and the library is told of the hang-up only once
//     it is idle (see lreader.quiesce).
//   - panics: the library turns a panic in a request into EFAULT, but
//     clunks the files of a connection that ends outside that guard;
//     lsafeClunk guards them.
//
// What is not supplied:
//
//   - the user: the library's Attacher learns nothing of Tattach, neither
//     uname nor n_uname. Every 9P2000.L client acts as the Server's
//     AttachUser ("none" unless set). The aname is walked from the root
//     by the library, as a path.
//   - Tflush: the library answers a flush only when the flushed request
//     has finished, and does not cancel it. A request blocked in the file
//     server is released only by the client hanging up.
//   - MaxFids: the library keeps its own fid table, without a bound.

// DefaultAttachUser is the user 9P2000.L clients act as unless the
// AttachUser option says otherwise.
const DefaultAttachUser = "none"

// AttachUser sets the user that every 9P2000.L client acts as. The
// 9P2000.L engine cannot see the user a client names in its Tattach, so
// the server decides; 9P2000 clients are unaffected.
func AttachUser(user string) Option { return func(s *Server) { s.luser = user } }

// serveL serves a 9P2000.L connection; r yields the whole stream from its
// first message on.
func (s *Server) serveL(ctx context.Context, c io.ReadWriteCloser, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	user := s.luser
	if user == "" {
		user = DefaultAttachUser
	}
	lc := &lconn{s: s, ctx: ctx, user: user, ids: newIDMap(user)}
	slots := make(chan struct{}, s.maxReqs)
	rd := &lreader{src: r, msize: s.msize, slots: slots, ctx: ctx, cancel: cancel, c: c}
	wr := &lwriter{c: c, msgWriter: msgWriter{w: c, sent: func(n int) {
		rd.answered.Add(int64(n))
		for range n {
			select {
			case <-slots:
			default:
			}
		}
	}}}
	rd.noauth = func(tag []byte) error {
		m := []byte{11, 0, 0, 0, msgRlerror, tag[0], tag[1], 2, 0, 0, 0} // ENOENT
		s.tracef("<- Tauth tag %d", binary.LittleEndian.Uint16(tag))
		s.tracef("-> Rlerror tag %d ecode 2", binary.LittleEndian.Uint16(tag))
		return wr.writeMsg(m)
	}
	defer func() {
		// The library's teardown can panic here (see lreader.quiesce);
		// the connection is over either way.
		if p := recover(); p != nil {
			s.logf("9p: 9P2000.L connection teardown: %v", p)
		}
	}()
	opts := []p9.ServerOpt{p9.WithServerLogger(&llogger{s: s})}
	p9.NewServer(lc, opts...).Handle(rd, wr)
	return nil
}

// lconn is one 9P2000.L connection's view of the file server: the
// p9.Attacher, and what every lfile of the connection shares.
type lconn struct {
	s    *Server
	ctx  context.Context // cancelled when the connection ends
	user string
	ids  *idMap
}

var _ p9.Attacher = (*lconn)(nil)

// Attach attaches to the file server's default tree as the connection's
// user. The library walks a Tattach's aname from the File returned.
func (lc *lconn) Attach() (p9.File, error) {
	f, err := lc.s.fs.Attach(lc.ctx, lc.user, "")
	if err != nil {
		return nil, toErrno(err)
	}
	d, err := f.Stat(lc.ctx)
	if err != nil {
		lsafeClunk(lc, f)
		return nil, toErrno(err)
	}
	return newLfile(lc, f, d.Qid), nil
}

// lreader hands the library whole messages read from the client, at most
// msize bytes each, and no new one while every slot is taken by a request
// without a reply. A failed read cancels the connection's context.
type lreader struct {
	src    io.Reader
	msize  uint32
	slots  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	c      io.Closer
	cur    []byte // the rest of the message being handed over
	buf    []byte // the buffer messages are read into

	noauth func(tag []byte) error // answers a Tauth in the library's stead

	handed   atomic.Int64 // messages handed to the library
	answered atomic.Int64 // replies it has written
}

func (r *lreader) Read(p []byte) (int, error) {
	if len(r.cur) == 0 {
		select {
		case r.slots <- struct{}{}:
		case <-r.ctx.Done():
			r.quiesce()
			return 0, io.EOF
		}
	again:
		// The library copies each message out before asking for the
		// next, so one buffer serves them all.
		b, err := readMsgBuf(r.src, r.msize, r.buf)
		if err != nil {
			<-r.slots
			r.cancel()
			r.quiesce()
			return 0, err
		}
		if b[4] == msgTauth && len(b) >= 7 {
			// The library answers Tauth with ENOSYS, which Linux
			// clients such as diod's tools take as a failure;
			// ENOENT is how a 9P2000.L server says that no
			// authentication is needed.
			if err := r.noauth(b[5:7]); err != nil {
				<-r.slots
				r.cancel()
				return 0, err
			}
			r.buf = b
			goto again
		}
		r.handed.Add(1)
		if b[4] == msgTversion && len(b) >= 11 {
			// Ask on the client's behalf for no more than the
			// server's msize; the library answers with what it was
			// asked, so both ends then keep to it.
			if m := binary.LittleEndian.Uint32(b[7:]); m > r.msize {
				binary.LittleEndian.PutUint32(b[7:], r.msize)
			}
		}
		r.cur, r.buf = b, b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// quiesce waits, before the library is told that the client has gone,
// for it to be idle: every request answered and every one of its
// goroutines back waiting for the next message. The library's teardown
// waits on a sync.WaitGroup that its goroutines add to each time they
// come back for a message, so one that comes back after the teardown
// has begun to wait races with it (and may panic). The requests can be
// waited for; the goroutines' last steps cannot be seen from here, and
// are given a moment.
func (r *lreader) quiesce() {
	deadline := time.Now().Add(quiesceMax)
	for r.handed.Load() > r.answered.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(quiesceGrace)
}

// Bounds of quiesce: a request the library never answers (it drops one
// whose tag is in use) must not hold a connection's end forever.
const (
	quiesceMax   = 2 * time.Second
	quiesceGrace = 5 * time.Millisecond
)

func (r *lreader) Close() error {
	r.cancel()
	return r.c.Close()
}

// msgTversion is Tversion's type byte, the same in every dialect.
const (
	msgTversion = 100
	msgTauth    = 102
	msgRlerror  = 7
)

// lwriter passes the library's replies to the client, a message at a
// time, and frees a request slot for each.
type lwriter struct {
	msgWriter
	c io.Closer
}

func (w *lwriter) Close() error { return w.c.Close() }

// llogger receives the library's log: each message it receives and sends,
// which becomes the Server's trace, and its complaints (a panic in a file
// server, a broken connection), which go to the Server's Logf.
type llogger struct{ s *Server }

func (l *llogger) Printf(format string, v ...any) {
	dir := ""
	switch {
	case strings.HasPrefix(format, "recv ["):
		dir = "<-"
	case strings.HasPrefix(format, "send ["):
		dir = "->"
	default:
		l.s.logf("9p: "+format, v...)
		return
	}
	if l.s.trace == nil || len(v) < 3 {
		return
	}
	// The library prints a message as Name{Field: value, ...}; the trace
	// puts the tag after the name, as Plan 9's Fcall text does.
	m := fmt.Sprint(v[2])
	name, rest, _ := strings.Cut(m, "{")
	if rest != "" {
		rest = " {" + rest
	}
	l.s.tracef("%s %s tag %v%s", dir, name, v[1], rest)
}

func (l *llogger) Print(v ...any) { l.s.logf("9p: %s", fmt.Sprint(v...)) }

// lsafeClunk clunks f, turning a panic in the file server into an error
// logged: the library clunks files outside its own panic guard when a
// connection ends.
func lsafeClunk(lc *lconn, f ns.File) (err error) {
	defer func() {
		if p := recover(); p != nil {
			lc.s.logf("9p: panic in clunk: %v", p)
			err = ns.ErrInvalid
		}
	}()
	return f.Clunk()
}
