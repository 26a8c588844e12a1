package ninep

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hugelgupf/p9/p9"

	"loom/ns"
)

// The dialects a Client speaks.
const (
	Dialect9P2000  = "9P2000"
	Dialect9P2000L = "9P2000.L"
)

// DefaultDialMsize is the message size a 9P2000.L Client asks for
// unless told otherwise; a 9P2000 Client asks for DefaultMsize, a
// megabyte of data per message.
const DefaultDialMsize = 128 << 10

// A Client is a connection to a remote 9P file server, which it makes
// into an ns.FS: each Attach gives the root of a tree of ns.Files whose
// methods are 9P requests, so that a remote server can be bound into a
// namespace like any component. It speaks 9P2000 itself, on the message
// codec of 9fans.net/go/plan9 (client9p.go), or 9P2000.L through
// github.com/hugelgupf/p9, and serves many Attaches and concurrent calls,
// reads of one file included, over one connection.
//
// A cancelled ctx makes a 9P2000 call send Tflush and return
// ns.ErrInterrupt once the server has forgotten the request, or the
// request's result if the server had already done it (see client9p.go).
// The 9P2000.L library cannot send Tflush: a call returns
// ns.ErrInterrupt at once, the request stays outstanding until the
// server answers it, and its answer is then thrown away (a fid it made
// is clunked).
type Client struct {
	dialect string
	rwc     io.ReadWriteCloser
	c9      *mnt       // 9P2000
	cl      *p9.Client // 9P2000.L
	lc      *lclientConn
	msize   uint32 // as agreed with the server

	closeOnce sync.Once
	closeErr  error
}

var _ ns.FS = (*Client)(nil)

// A DialOption configures Dial and NewClient.
type DialOption func(*dialConfig)

type dialConfig struct {
	dialect string
	msize   uint32
	timeout time.Duration
}

// Dialect chooses the dialect the client speaks: Dialect9P2000 (the
// default) or Dialect9P2000L.
func Dialect(v string) DialOption { return func(c *dialConfig) { c.dialect = v } }

// DialMsize sets the largest message size the client asks for; the
// server may agree to less.
func DialMsize(n uint32) DialOption {
	return func(c *dialConfig) { c.msize = max(n, MinMsize) }
}

// DialTimeout bounds the time Dial may take to connect and NewClient to
// agree on a version with the server. The default is no bound.
func DialTimeout(d time.Duration) DialOption { return func(c *dialConfig) { c.timeout = d } }

func newDialConfig(opts []DialOption) (dialConfig, error) {
	cfg := dialConfig{dialect: Dialect9P2000}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.msize == 0 {
		cfg.msize = DefaultDialMsize
		if cfg.dialect == Dialect9P2000 {
			cfg.msize = DefaultMsize
		}
	}
	switch cfg.dialect {
	case Dialect9P2000, Dialect9P2000L:
	default:
		return cfg, fmt.Errorf("9p: unknown dialect %q: want %q or %q", cfg.dialect, Dialect9P2000, Dialect9P2000L)
	}
	return cfg, nil
}

// NewClient makes a client of a connection already made, agreeing on a
// version and message size with the server at the other end. The Client
// owns conn from then on: its Close closes conn. On error conn is left
// open for the caller.
func NewClient(conn io.ReadWriteCloser, opts ...DialOption) (*Client, error) {
	cfg, err := newDialConfig(opts)
	if err != nil {
		return nil, err
	}
	d, ok := conn.(interface{ SetDeadline(time.Time) error })
	if ok && cfg.timeout > 0 {
		d.SetDeadline(time.Now().Add(cfg.timeout))
	}
	c := &Client{dialect: cfg.dialect, rwc: conn}
	if cfg.dialect == Dialect9P2000L {
		err = c.versionL(conn, cfg.msize)
	} else {
		err = c.version9(conn, cfg.msize)
	}
	if ok && cfg.timeout > 0 {
		d.SetDeadline(time.Time{})
	}
	if err != nil {
		return nil, fmt.Errorf("9p: %s version: %w", cfg.dialect, err)
	}
	if c.c9 != nil {
		go c.c9.read()
	}
	return c, nil
}

// Dialect returns the dialect the client speaks.
func (c *Client) Dialect() string { return c.dialect }

// Msize returns the message size agreed with the server.
func (c *Client) Msize() uint32 { return c.msize }

// Attach attaches to the tree aname of the server as user and returns
// its root. A 9P2000.L server is told the user by name and, when the
// name is a user of this host, by number (n_uname).
func (c *Client) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	if c.dialect == Dialect9P2000L {
		return c.attachL(ctx, user, aname)
	}
	return c.attach9(ctx, user, aname)
}

// Close hangs up. Files of the client fail with ns.ErrClosed from then
// on; clunking them is still allowed, and does nothing but free them.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if c.c9 != nil {
			c.closeErr = c.c9.shut(ns.ErrClosed)
			return
		}
		c.closeErr = c.rwc.Close()
	})
	return c.closeErr
}

// await runs fn and returns what it returns, unless ctx is done first:
// then it returns ns.ErrInterrupt at once and leaves fn to finish on its
// own, handing its result, if fn succeeded, to drop to be let go of.
func await[T any](ctx context.Context, fn func() (T, error), drop func(T)) (T, error) {
	var zero T
	if ctx.Done() == nil {
		return fn()
	}
	if ctx.Err() != nil {
		return zero, ns.ErrInterrupt
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.err == nil && drop != nil {
				drop(r.v)
			}
		}()
		return zero, ns.ErrInterrupt
	}
}

// await0 is await for a function that returns only an error.
func await0(ctx context.Context, fn func() error) error {
	_, err := await(ctx, func() (struct{}, error) { return struct{}{}, fn() }, nil)
	return err
}

// checkNames checks names as ns.File.Walk promises them, so that a
// library that splits or cleans paths never sees what it would change.
func checkNames(names []string) error {
	if len(names) > maxWalkElem {
		return ns.ErrInvalid
	}
	for _, n := range names {
		if n == "" || n == "." || strings.Contains(n, "/") {
			return ns.ErrBadName
		}
	}
	return nil
}

// maxWalkElem is the most names one Twalk may carry.
const maxWalkElem = 16
