package exec

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"loom/ns"
)

// pipe is loom's end of a pipe to or from a program. One request at a time
// reads or writes it, so that a write's bytes reach the program together
// and a done ctx (a Tflush, a client gone) can interrupt just the request
// it belongs to: it sets the pipe's deadline, which wakes the one request
// blocked on it. The pipe is a pollable *os.File (os.Pipe makes them so),
// hence the deadlines.
type pipe struct {
	f    *os.File
	turn chan struct{} // holds a token while a request uses f

	mu     sync.Mutex
	closed bool
}

func newPipe(f *os.File) *pipe { return &pipe{f: f, turn: make(chan struct{}, 1)} }

// do runs op on the pipe when it is this request's turn, with ctx able to
// interrupt it through setDeadline.
func (p *pipe) do(ctx context.Context, setDeadline func(time.Time) error, op func() (int, error)) (int, error) {
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, ns.ErrInterrupt
	}
	defer func() { <-p.turn }()
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		setDeadline(time.Now())
		close(fired)
	})
	n, err := op()
	if !stop() {
		// The deadline was set, or is being set: wait for it, and
		// clear it for the next request.
		<-fired
		setDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
		return n, ns.ErrInterrupt
	}
	return n, err
}

// read reads what the program wrote: 0, nil at end of file.
func (p *pipe) read(ctx context.Context, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, err := p.do(ctx, p.f.SetReadDeadline, func() (int, error) { return p.f.Read(b) })
	switch {
	case err == io.EOF, errors.Is(err, os.ErrClosed):
		// The program closed its end, or the session went.
		return n, nil
	case err != nil && n == 0:
		return 0, err
	}
	return n, nil
}

// write gives b to the program, all of it unless interrupted.
func (p *pipe) write(ctx context.Context, b []byte) (int, error) {
	n, err := p.do(ctx, p.f.SetWriteDeadline, func() (int, error) { return p.f.Write(b) })
	switch {
	case err == nil, err == ns.ErrInterrupt:
		return n, err
	case errors.Is(err, os.ErrClosed), errors.Is(err, syscall.EPIPE):
		// Closed by a close or hangup, or the program is gone.
		return n, ns.ErrClosed
	}
	return n, err
}

// close closes the pipe, once. A request blocked on it returns.
func (p *pipe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.f.Close()
	}
}
