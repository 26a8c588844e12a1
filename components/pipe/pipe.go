// Package pipe is loom's pipe component, Plan 9's pipe(3): a directory
// with two files, data and data1, cross-connected, so that what is written
// to one is read from the other.
//
// Semantics, as pipe(3) gives them:
//
//   - Write boundaries are kept: a read returns at most the rest of one
//     write, and less only when the reader's buffer is smaller. A write of
//     zero bytes makes one read return 0, which readers usually take for
//     end of file.
//   - Writes of up to 64 KiB are atomic: the bytes of one write arrive
//     whole and together whatever other writers do. Longer writes are
//     split into writes of 64 KiB.
//   - A read blocks while there is nothing to read; a write blocks while
//     the pipe's buffer (256 KiB unless Size says otherwise) lacks room
//     for it. A Tflush (the request's context being done) ends either
//     with ns.ErrInterrupt; an interrupted write has written nothing of
//     the 64 KiB piece it was waiting to write.
//   - When the last open of one end is clunked, readers of the other end
//     read what is left and then end of file (0, nil), and writes to the
//     other end fail with ns.ErrClosed ("i/o on hungup channel", Plan 9's
//     error; Plan 9 also posts the note "sys: write on closed pipe", which
//     loom does not have), the bytes still unread at the closed end being
//     dropped. An end that was never opened holds nothing up: a reader
//     waits for a writer to come, and writes are kept for a reader.
//   - Once neither end is open, the pipe is fresh again, as in Plan 9.
//   - Stat of an end gives as Length the bytes waiting to be read there.
//
// Plan 9 makes a new pipe at each attach of #|. A loom pipe component is
// one pipe, whoever attaches: it is how the components and processes of
// a system meet, so all of them must reach the same pipe; mount another
// component for another pipe.
package pipe

import (
	"context"
	"sync"

	"loom/components/synth"
	"loom/ns"
)

// Help describes the component for the shell's `help pipe`.
const Help = `pipe — a pipe, after Plan 9's pipe(3)

	mount pipe DIR

Files:
	data    what is written here is read from data1
	data1   what is written here is read from data

Each read returns at most one write; reads block while the pipe is empty
and return end of file once every open of the other end is closed;
writes block while the pipe is full (256 KiB) and fail once every open of
the other end is closed. Each pipe component is one pipe.

Example:
	mount pipe /n/p
	cat /n/p/data1 &
	echo hello > /n/p/data
`

// Atomic is the largest write that arrives in one piece.
const Atomic = 64 << 10

// Option configures a Pipe.
type Option func(*Pipe)

// Size sets how many bytes each direction of the pipe buffers before
// writers block (256 KiB by default; at least Atomic).
func Size(n int) Option { return func(p *Pipe) { p.size = max(n, Atomic) } }

// Owner makes user the owner of the pipe's files ("loom" by default).
func Owner(user string) Option { return func(p *Pipe) { p.owner = user } }

// Pipe is a pipe component, an ns.FS.
type Pipe struct {
	*synth.FS
	size  int
	owner string

	mu   sync.Mutex
	cond synth.Cond // any change of the queues or the opens
	// q[i] is read through end i (data, data1) and written through the
	// other end.
	q    [2]queue
	refs [2]int // opens of each end
}

// New returns a Pipe.
func New(opts ...Option) *Pipe {
	p := &Pipe{size: 256 << 10, owner: "loom"}
	for _, o := range opts {
		o(p)
	}
	p.cond.L = &p.mu
	ends := make([]*synth.Node, 2)
	for i, name := range []string{"data", "data1"} {
		ends[i] = &synth.Node{
			Name:   name,
			Mode:   0666,
			Open:   func(ctx context.Context, r *synth.Req) (*synth.Handle, error) { return p.open(i), nil },
			Length: func(*synth.Req) int64 { return p.waiting(i) },
		}
	}
	p.FS = synth.New(&synth.Node{Name: "/", Mode: ns.DMDIR | 0555, Children: ends}, synth.Owner(p.owner))
	return p
}

// queue is one direction of the pipe: a ring buffer of bytes and the
// lengths of the writes it holds, in order.
type queue struct {
	buf    []byte // the ring, allocated at the first write
	r, n   int    // where the next read starts, and how many bytes are held
	msgs   []int  // the lengths of the writes held; the first may be partly read
	head   int    // msgs[head] is the first
	hungup bool   // its writing end's last open closed: drain, then end of file
	closed bool   // its reading end's last open closed: writes fail
}

func (q *queue) empty() bool { return q.head == len(q.msgs) }

// put adds the write p, for which there is room.
func (q *queue) put(p []byte, size int) {
	if q.buf == nil {
		q.buf = make([]byte, size)
	}
	w := (q.r + q.n) % len(q.buf)
	c := copy(q.buf[w:], p)
	copy(q.buf, p[c:])
	q.n += len(p)
	if q.head > 0 && q.head >= len(q.msgs)/2 {
		q.msgs = q.msgs[:copy(q.msgs, q.msgs[q.head:])]
		q.head = 0
	}
	q.msgs = append(q.msgs, len(p))
}

// get reads from the first write held into p.
func (q *queue) get(p []byte) int {
	m := &q.msgs[q.head]
	k := min(len(p), *m)
	c := copy(p[:k], q.buf[q.r:])
	copy(p[c:k], q.buf)
	q.r = (q.r + k) % len(q.buf)
	q.n -= k
	*m -= k
	if *m == 0 {
		q.head++
	}
	if q.empty() {
		q.msgs, q.head, q.r = q.msgs[:0], 0, 0
	}
	return k
}

// reset empties q, when its reading end's last open closed.
func (q *queue) reset() {
	q.r, q.n, q.msgs, q.head = 0, 0, q.msgs[:0], 0
}

func (p *Pipe) waiting(end int) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(p.q[end].n)
}

// open makes one open of the end.
func (p *Pipe) open(end int) *synth.Handle {
	p.mu.Lock()
	p.refs[end]++
	p.mu.Unlock()
	return &synth.Handle{
		Read: func(ctx context.Context, b []byte, off int64) (int, error) {
			return p.read(ctx, end, b)
		},
		Write: func(ctx context.Context, b []byte, off int64) (int, error) {
			return p.write(ctx, end, b)
		},
		Clunk: func() error {
			p.close(end)
			return nil
		},
	}
}

func (p *Pipe) read(ctx context.Context, end int, b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := &p.q[end]
	for q.empty() {
		if q.hungup {
			return 0, nil
		}
		if err := p.cond.Wait(ctx); err != nil {
			return 0, err
		}
	}
	n := q.get(b)
	p.cond.Broadcast()
	return n, nil
}

func (p *Pipe) write(ctx context.Context, end int, b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := &p.q[1-end]
	done := 0
	for {
		chunk := b[done:min(len(b), done+Atomic)]
		for !q.closed && p.size-q.n < len(chunk) {
			if err := p.cond.Wait(ctx); err != nil {
				return done, err
			}
		}
		if q.closed {
			return done, ns.ErrClosed
		}
		q.put(chunk, p.size)
		p.cond.Broadcast()
		done += len(chunk)
		if done == len(b) {
			return done, nil
		}
	}
}

// close ends one open of the end.
func (p *Pipe) close(end int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refs[end]--
	if p.refs[end] == 0 {
		p.q[1-end].hungup = true
		p.q[end].closed = true
		p.q[end].reset()
	}
	if p.refs[0] == 0 && p.refs[1] == 0 {
		// Neither end is open: fresh again, but for what was written
		// and not yet read, which Plan 9 also keeps for the next
		// reader.
		for i := range p.q {
			p.q[i].hungup, p.q[i].closed = false, false
		}
	}
	p.cond.Broadcast()
}
