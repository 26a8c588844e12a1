package ninep

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"loom/ns"
)

// A Redial is an ns.FS over the 9P server at an address, reached again
// whenever the connection to it is lost: what an import mounts. Nothing
// it does waits on the remote end for ever:
//
//   - dialling (and TLS, auth, version) is bounded by DefaultDialTimeout
//     or the DialTimeout option;
//   - every request is bounded by the IO timeout: a request that the
//     remote does not answer in time fails with ErrTimedOut, and the
//     connection, now suspect, is hung up;
//   - a connection the kernel finds dead (keepalive, TCP_USER_TIMEOUT,
//     a reset) fails every request in flight.
//
// When the connection has been lost, every File of it answers
// ErrHungup ("remote hung up; reopen"), except a root (what Attach
// returned, or a clone of it by a Walk without names): a root dials
// again, attaches again and goes on, so that a namespace with the
// import mounted finds the remote again on its next walk through the
// mount point.
type Redial struct {
	addr    string
	keys    *Keys
	dopts   []DialOption
	timeout time.Duration
	under   []string

	dialMu sync.Mutex // held while dialling, so that one dial serves all
	mu     sync.Mutex
	c      *Client // nil when not connected
	closed bool
}

var (
	_ ns.FS    = (*Redial)(nil)
	_ ns.Namer = (*Redial)(nil)
)

// DefaultIOTimeout is how long a Redial waits for the answer to one
// request unless told otherwise.
const DefaultIOTimeout = 30 * time.Second

// A RedialOption configures a Redial.
type RedialOption func(*Redial)

// WithKeys gives the keys that a "tls!" address is dialled with.
func WithKeys(k *Keys) RedialOption { return func(r *Redial) { r.keys = k } }

// WithDial gives the options of each dial: dialect, msize, timeout.
func WithDial(opts ...DialOption) RedialOption {
	return func(r *Redial) { r.dopts = append(r.dopts, opts...) }
}

// IOTimeout bounds the wait for the answer to each request. A file that
// blocks for longer by design (a stream, a console) needs a longer one.
func IOTimeout(d time.Duration) RedialOption {
	return func(r *Redial) {
		if d > 0 {
			r.timeout = d
		}
	}
}

// Under makes the root of each attach the directory path below the
// server's root, for servers whose anames are not paths.
func Under(path string) RedialOption { return func(r *Redial) { r.under = ns.SplitPath(path) } }

// NewRedial returns a Redial of the server at addr, in dial form ("tls!"
// included; see DialSecure). It dials on first use.
func NewRedial(addr string, opts ...RedialOption) *Redial {
	r := &Redial{addr: addr, timeout: DefaultIOTimeout}
	for _, o := range opts {
		o(r)
	}
	return r
}

// The errors of a Redial's Files.
var (
	// ErrHungup is the error of a File whose connection has been lost
	// since it was walked to: walk again from the root.
	ErrHungup error = &redialError{"remote hung up; reopen", fs.ErrClosed}
	// ErrTimedOut is the error of a request the remote did not answer
	// within the IO timeout; the connection is hung up.
	ErrTimedOut error = &redialError{"remote timed out", os.ErrDeadlineExceeded}
)

type redialError struct {
	msg string
	is  error
}

func (e *redialError) Error() string        { return e.msg }
func (e *redialError) Is(target error) bool { return target == e.is }

// Name is the address, as a namespace prints the mount.
func (r *Redial) Name() string { return r.addr }

// Close hangs up and makes the Redial dial no more: its Files fail with
// ErrHungup from then on.
func (r *Redial) Close() error {
	r.mu.Lock()
	c := r.c
	r.c, r.closed = nil, true
	r.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}

// conn returns the connection, dialling if there is none.
func (r *Redial) conn(ctx context.Context) (*Client, error) {
	r.mu.Lock()
	c, closed := r.c, r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return nil, ErrHungup
	case c != nil:
		return c, nil
	}
	r.dialMu.Lock()
	defer r.dialMu.Unlock()
	r.mu.Lock()
	c = r.c
	r.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := DialSecure(ctx, r.addr, r.keys, r.dopts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ns.ErrInterrupt
		}
		return nil, &fs.PathError{Op: "dial", Path: r.addr, Err: err}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return nil, ErrHungup
	}
	r.c = c
	return c, nil
}

// live reports whether c is still the connection.
func (r *Redial) live(c *Client) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c == c
}

// hangup drops c, if it is still the connection, and closes it.
func (r *Redial) hangup(c *Client) {
	r.mu.Lock()
	if r.c == c {
		r.c = nil
	}
	r.mu.Unlock()
	c.Close()
}

// call runs fn, a request on c, within the IO timeout. A request not
// answered in time hangs up c, which fails it at once in either
// dialect; so does one that finds c broken.
func (r *Redial) call(ctx context.Context, c *Client, fn func(ctx context.Context) error) error {
	tctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	stop := context.AfterFunc(tctx, func() {
		if ctx.Err() == nil {
			r.hangup(c)
		}
	})
	err := fn(tctx)
	stop()
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded):
		// The request may have seen the deadline before the hang-up
		// was done; hang up (again) so that no later request finds c.
		r.hangup(c)
		return ErrTimedOut
	case brokenConn(c, err):
		r.hangup(c)
		return ErrHungup
	}
	return err
}

// brokenConn reports whether err, from a request on c, means that c is
// broken rather than that the server refused the request: the client
// says the connection failed (an ns.ErrClosed wrapped with the cause;
// a server's own "i/o on hungup channel" is ns.ErrClosed itself).
func brokenConn(c *Client, err error) bool {
	if c.c9 != nil && c.c9.isDead() {
		return true
	}
	return errors.Is(err, ns.ErrClosed) && err != ns.ErrClosed
}

// Attach dials if need be and attaches to aname as user.
func (r *Redial) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	f := &rfile{r: r, root: true, user: user, aname: aname}
	if err := f.attach(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// rfile is a File of a Redial: a File of the connection c.
type rfile struct {
	r           *Redial
	root        bool // revived by a new connection when c is lost
	user, aname string

	mu sync.Mutex // guards f and c, which a root's revival replaces
	f  ns.File
	c  *Client
}

var (
	_ ns.Creater = (*rfile)(nil)
	_ ns.Remover = (*rfile)(nil)
	_ ns.Wstater = (*rfile)(nil)
)

// attach (re)attaches a root on the connection, dialling if need be; a
// connection found broken on the way is dialled again once.
func (f *rfile) attach(ctx context.Context) error {
	var err error
	for range 2 {
		var c *Client
		if c, err = f.r.conn(ctx); err != nil {
			return err
		}
		var nf ns.File
		err = f.r.call(ctx, c, func(ctx context.Context) error {
			var err error
			root, err := c.Attach(ctx, f.user, f.aname)
			if err != nil || len(f.r.under) == 0 {
				nf = root
				return err
			}
			defer root.Clunk()
			_, nf, err = root.Walk(ctx, f.r.under)
			if err == nil && nf == nil {
				err = ns.ErrNotExist
			}
			return err
		})
		if err == nil {
			old := f.f
			f.f, f.c = nf, c
			if old != nil {
				old.Clunk()
			}
			return nil
		}
		if err != ErrHungup {
			return err
		}
	}
	return err
}

// file returns the File to use and its connection: f's own while its
// connection lives; a new one for a root whose connection has been
// lost; ErrHungup for any other.
func (f *rfile) file(ctx context.Context) (ns.File, *Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r.live(f.c) {
		return f.f, f.c, nil
	}
	if !f.root {
		return nil, nil, ErrHungup
	}
	if err := f.attach(ctx); err != nil {
		return nil, nil, err
	}
	return f.f, f.c, nil
}

func (f *rfile) do(ctx context.Context, fn func(ctx context.Context, in ns.File) error) error {
	in, c, err := f.file(ctx)
	if err != nil {
		return err
	}
	return f.r.call(ctx, c, func(ctx context.Context) error { return fn(ctx, in) })
}

// redo is do for a request that may be made again: a root that finds
// its connection lost on the way dials again and makes it once more.
func (f *rfile) redo(ctx context.Context, fn func(ctx context.Context, in ns.File) error) error {
	err := f.do(ctx, fn)
	if err == ErrHungup && f.isRoot() {
		err = f.do(ctx, fn)
	}
	return err
}

func (f *rfile) isRoot() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.root
}

func (f *rfile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	var qids []ns.Qid
	var nf ns.File
	var c *Client
	err := f.redo(ctx, func(ctx context.Context, in ns.File) error {
		var err error
		qids, nf, err = in.Walk(ctx, names)
		return err
	})
	if err != nil || nf == nil {
		return qids, nil, err
	}
	f.mu.Lock()
	c = f.c
	f.mu.Unlock()
	return qids, &rfile{r: f.r, root: f.root && len(names) == 0, user: f.user, aname: f.aname, f: nf, c: c}, nil
}

func (f *rfile) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	var q ns.Qid
	err := f.do(ctx, func(ctx context.Context, in ns.File) error {
		var err error
		q, err = in.Open(ctx, mode)
		return err
	})
	if err == nil {
		f.mu.Lock()
		f.root = false // an open file is not walked from again
		f.mu.Unlock()
	}
	return q, err
}

func (f *rfile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	var n int
	err := f.do(ctx, func(ctx context.Context, in ns.File) error {
		var err error
		n, err = in.Read(ctx, p, off)
		return err
	})
	return n, err
}

func (f *rfile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	var n int
	err := f.do(ctx, func(ctx context.Context, in ns.File) error {
		var err error
		n, err = in.Write(ctx, p, off)
		return err
	})
	return n, err
}

func (f *rfile) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	var ds []ns.Dir
	err := f.do(ctx, func(ctx context.Context, in ns.File) error {
		var err error
		ds, err = in.ReadDir(ctx, index, n)
		return err
	})
	return ds, err
}

func (f *rfile) Stat(ctx context.Context) (ns.Dir, error) {
	var d ns.Dir
	err := f.redo(ctx, func(ctx context.Context, in ns.File) error {
		var err error
		d, err = in.Stat(ctx)
		return err
	})
	return d, err
}

func (f *rfile) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	var nf ns.File
	var q ns.Qid
	err := f.do(ctx, func(ctx context.Context, in ns.File) error {
		cr, ok := in.(ns.Creater)
		if !ok {
			return ns.ErrNotSupp
		}
		var err error
		nf, q, err = cr.Create(ctx, name, perm, mode)
		return err
	})
	if err != nil {
		return nil, q, err
	}
	f.mu.Lock()
	c := f.c
	f.mu.Unlock()
	return &rfile{r: f.r, f: nf, c: c}, q, nil
}

func (f *rfile) Remove(ctx context.Context) error {
	return f.do(ctx, func(ctx context.Context, in ns.File) error {
		rm, ok := in.(ns.Remover)
		if !ok {
			return ns.ErrNotSupp
		}
		return rm.Remove(ctx)
	})
}

func (f *rfile) Wstat(ctx context.Context, d ns.Dir) error {
	return f.do(ctx, func(ctx context.Context, in ns.File) error {
		ws, ok := in.(ns.Wstater)
		if !ok {
			return ns.ErrNotSupp
		}
		return ws.Wstat(ctx, d)
	})
}

// Clunk clunks the remote file, within the IO timeout. A file of a lost
// connection is only let go of.
func (f *rfile) Clunk() error {
	f.mu.Lock()
	in, c := f.f, f.c
	f.mu.Unlock()
	if in == nil {
		return nil
	}
	if !f.r.live(c) {
		in.Clunk()
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- in.Clunk() }()
	t := time.NewTimer(f.r.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil && brokenConn(c, err) {
			f.r.hangup(c)
			return nil // the file is gone with the connection
		}
		return err
	case <-t.C:
		f.r.hangup(c)
		return ErrTimedOut
	}
}
