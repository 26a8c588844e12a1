// Package dev is loom's device component: the subset of Plan 9's cons(3)
// that a system needs, served as files.
//
//	cons     the system's console: reads come from, and writes go to, the
//	         reader and writer given by the Console option (by default
//	         reads are at end of file and writes are discarded)
//	null     reads are at end of file; writes are swallowed
//	zero     reads give zeros, without end
//	random   reads give bytes from crypto/rand
//	time     one record, as cons(3) has it: seconds and nanoseconds since
//	         the epoch, clock ticks since the component started and the
//	         ticks per second, each right-aligned and followed by a blank
//	sysname  the system's name (the Sysname option, else the host's
//	         name); its owner may write a new one
//	user     the user who attached
//
// Modes are Plan 9's, owned by the component's owner, except that time
// and user are read-only (0444): loom cannot set the host's clock, and the
// user of a loom file is fixed when it attaches.
package dev

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"loom/components/synth"
	"loom/ns"
)

// Help describes the component for the shell's `help dev`.
const Help = `dev — the system's devices, after Plan 9's cons(3)

	mount dev DIR

Files:
	cons     the system's console: read a line typed, write to print
	null     reads end at once; writes vanish
	zero     reads give zero bytes without end
	random   reads give random bytes
	time     "sec nsec ticks hz": seconds and nanoseconds since the
	         epoch, clock ticks since start and ticks per second
	sysname  the system's name; its owner may write a new one
	user     the name of the user reading it

Example:
	mount dev /dev
	cat /dev/sysname /dev/user
	echo hello > /dev/cons
`

// Option configures a Dev.
type Option func(*Dev)

// Console connects cons to r and w: reads of cons read r, writes to cons
// write w. Either may be nil: a nil r reads as end of file and a nil w
// discards.
func Console(r io.Reader, w io.Writer) Option {
	return func(d *Dev) { d.cons.r, d.cons.w = r, w }
}

// Sysname sets the system's name (the host's name by default).
func Sysname(name string) Option { return func(d *Dev) { d.sysname = name } }

// Owner makes user the owner of the files ("loom" by default).
func Owner(user string) Option { return func(d *Dev) { d.owner = user } }

// Clock makes now the source of time for the time file (time.Now by
// default), for tests.
func Clock(now func() time.Time) Option { return func(d *Dev) { d.now = now } }

// Dev is the device component, an ns.FS.
type Dev struct {
	*synth.FS
	owner string
	now   func() time.Time
	start time.Time

	mu      sync.Mutex
	sysname string
	sysnode *synth.Node

	cons console
}

// New returns a Dev.
func New(opts ...Option) *Dev {
	d := &Dev{owner: "loom", now: time.Now}
	d.sysname, _ = os.Hostname()
	for _, o := range opts {
		o(d)
	}
	d.start = d.now()
	d.cons.cond.L = &d.cons.mu
	d.sysnode = &synth.Node{Name: "sysname", Mode: 0664, Open: d.openSysname,
		Length: func(*synth.Req) int64 { return int64(len(d.Sysname())) }}
	root := &synth.Node{Name: "/", Mode: ns.DMDIR | 0555, Children: []*synth.Node{
		{Name: "cons", Mode: 0660, Open: d.cons.open},
		{Name: "null", Mode: 0666, Open: openNull},
		{Name: "random", Mode: 0444, Open: openRandom},
		d.sysnode,
		{Name: "time", Mode: 0444, Open: d.openTime, Length: func(*synth.Req) int64 { return timeLen }},
		synth.TextFile("user", 0444, func(r *synth.Req) string { return r.User }),
		{Name: "zero", Mode: 0444, Open: openZero},
	}}
	d.FS = synth.New(root, synth.Owner(d.owner))
	return d
}

// Sysname returns the system's name.
func (d *Dev) Sysname() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sysname
}

func openNull(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	return &synth.Handle{
		Write: func(ctx context.Context, p []byte, off int64) (int, error) { return len(p), nil },
	}, nil
}

func openZero(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	return &synth.Handle{Read: func(ctx context.Context, p []byte, off int64) (int, error) {
		clear(p)
		return len(p), nil
	}}, nil
}

func openRandom(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	return &synth.Handle{Read: func(ctx context.Context, p []byte, off int64) (int, error) {
		return rand.Read(p)
	}}, nil
}

// timeLen is the length of the time file's record: cons(3)'s 12 bytes
// for the seconds and 22 for each of the other three numbers.
const timeLen = 12 + 3*22

// timeText gives the time file's record for the moment now.
func (d *Dev) timeText(now time.Time) string {
	ticks := now.Sub(d.start).Nanoseconds()
	return fmt.Sprintf("%11d %21d %21d %21d ", now.Unix(), now.UnixNano(), ticks, int64(time.Second))
}

func (d *Dev) openTime(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	data := []byte(d.timeText(d.now()))
	return &synth.Handle{Read: func(ctx context.Context, p []byte, off int64) (int, error) {
		return synth.ReadAt(data, p, off), nil
	}}, nil
}

// openSysname serves sysname. A write replaces the name with the text
// written, less a trailing newline, as Plan 9's does.
func (d *Dev) openSysname(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	data := []byte(d.Sysname())
	return &synth.Handle{
		Read: func(ctx context.Context, p []byte, off int64) (int, error) {
			return synth.ReadAt(data, p, off), nil
		},
		Write: func(ctx context.Context, p []byte, off int64) (int, error) {
			name := strings.TrimRight(string(p), "\n")
			if name == "" || strings.ContainsAny(name, "\n\x00") {
				return 0, ns.ErrInvalid
			}
			d.mu.Lock()
			d.sysname = name
			d.mu.Unlock()
			d.sysnode.Touch()
			return len(p), nil
		},
	}, nil
}

// console serves cons. Reads of the console reader are made by a
// goroutine, one read at a time and only while some cons reader waits for
// input, so that a cons read can give up at a Tflush even though an
// io.Reader cannot be interrupted: what that goroutine then reads is kept
// for the next cons reader, never lost. A goroutine blocked in the
// console reader stays until the reader returns.
type console struct {
	r io.Reader
	w io.Writer

	wmu sync.Mutex // one write to w at a time, so writes do not interleave

	mu      sync.Mutex
	cond    synth.Cond
	buf     []byte
	done    bool // r returned an error or end of file
	pumping bool // a goroutine is in r.Read
}

func (c *console) open(ctx context.Context, r *synth.Req) (*synth.Handle, error) {
	return &synth.Handle{Read: c.read, Write: c.write}, nil
}

func (c *console) read(ctx context.Context, p []byte, off int64) (int, error) {
	if c.r == nil || len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.buf) == 0 {
		if c.done {
			return 0, nil
		}
		if !c.pumping {
			c.pumping = true
			go c.pump(len(p))
		}
		if err := c.cond.Wait(ctx); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	if len(c.buf) == 0 {
		c.buf = nil
	}
	return n, nil
}

// pump reads the console reader once, for a reader asking for n bytes.
func (c *console) pump(n int) {
	b := make([]byte, min(max(n, 512), 64<<10))
	m, err := c.r.Read(b)
	c.mu.Lock()
	c.buf = append(c.buf, b[:m]...)
	if err != nil {
		c.done = true
	}
	c.pumping = false
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *console) write(ctx context.Context, p []byte, off int64) (int, error) {
	if c.w == nil {
		return len(p), nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Write(p)
}
