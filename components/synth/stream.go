package synth

import (
	"context"
	"sync"

	"loom/ns"
)

// Stream is a byte stream for files that show what something printed
// "since it started, then blocking for more" (a program's output, say):
// Write appends, never blocking; readers read at offsets and block for
// bytes not yet written until the Stream is closed, when they read end of
// file. It keeps at most its last max bytes: the oldest roll off, and a
// reader that falls behind them skips ahead to the oldest byte kept.
type Stream struct {
	mu     sync.Mutex
	cond   Cond
	buf    []byte // the bytes kept, from offset base
	base   int64
	max    int
	closed bool
}

// NewStream returns an empty Stream keeping at most max bytes (max <= 0:
// 1 MiB).
func NewStream(max int) *Stream {
	if max <= 0 {
		max = 1 << 20
	}
	s := &Stream{max: max}
	s.cond.L = &s.mu
	return s
}

// Write appends p. It fails with ns.ErrClosed after Close.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ns.ErrClosed
	}
	if len(p) >= s.max {
		s.base += int64(len(s.buf) + len(p) - s.max)
		s.buf = append(s.buf[:0], p[len(p)-s.max:]...)
	} else {
		if over := len(s.buf) + len(p) - s.max; over > 0 {
			// Drop a quarter more than needed, so that the
			// copying is paid once per max/4 bytes written.
			drop := min(len(s.buf), over+s.max/4)
			n := copy(s.buf, s.buf[drop:])
			s.buf = s.buf[:n]
			s.base += int64(drop)
		}
		s.buf = append(s.buf, p...)
	}
	s.cond.Broadcast()
	return len(p), nil
}

// Close ends the stream: readers read what is left and then end of file.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cond.Broadcast()
	return nil
}

// Len returns how many bytes were ever written.
func (s *Stream) Len() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base + int64(len(s.buf))
}

// ReadAt reads from the stream at off, blocking until there are bytes
// there, the Stream is closed (0, nil) or ctx is done (ns.ErrInterrupt).
// It also returns where the bytes it read began, which is off unless off
// had rolled off, when it is the oldest offset kept.
func (s *Stream) ReadAt(ctx context.Context, p []byte, off int64) (int, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		off = max(off, s.base)
		if end := s.base + int64(len(s.buf)); off < end {
			return copy(p, s.buf[off-s.base:]), off, nil
		}
		if s.closed || len(p) == 0 {
			return 0, off, nil
		}
		if err := s.cond.Wait(ctx); err != nil {
			return 0, off, err
		}
	}
}

// Open is an OpenFunc for a file that reads the Stream from its start.
// Each open keeps how far it was skipped ahead over bytes that rolled off,
// so that a client reading on at its own offsets reads on in the stream
// without repeats.
func (s *Stream) Open(ctx context.Context, r *Req) (*Handle, error) {
	var (
		mu   sync.Mutex
		skew int64
	)
	return &Handle{Read: func(ctx context.Context, p []byte, off int64) (int, error) {
		mu.Lock()
		k := skew
		mu.Unlock()
		n, at, err := s.ReadAt(ctx, p, off+k)
		if at > off+k {
			mu.Lock()
			skew = max(skew, at-off)
			mu.Unlock()
		}
		return n, err
	}}, nil
}
