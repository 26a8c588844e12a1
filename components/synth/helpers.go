package synth

import (
	"context"
	"sync"

	"loom/ns"
)

// OpenFunc makes the state of one open of a file Node: see Node.Open.
type OpenFunc func(ctx context.Context, r *Req) (*Handle, error)

// Cond is a condition variable whose Wait also gives up when a context is
// done, which is how a blocked Read honours a Tflush. As with sync.Cond,
// L guards the condition, Wait and Broadcast are called with L held, and
// a waiter rechecks its condition when Wait returns.
type Cond struct {
	L  sync.Locker
	ch chan struct{} // closed by Broadcast; made by the first waiter after it
}

// NewCond returns a Cond over l.
func NewCond(l sync.Locker) *Cond { return &Cond{L: l} }

// Wait unlocks c.L, waits for a Broadcast or for ctx to be done, and locks
// c.L again. It returns ns.ErrInterrupt when ctx is done, nil otherwise.
func (c *Cond) Wait(ctx context.Context) error {
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	ch := c.ch
	c.L.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	c.L.Lock()
	if ctx.Err() != nil {
		return ns.ErrInterrupt
	}
	return nil
}

// Broadcast wakes every goroutine waiting on c. It costs nothing when no
// one waits.
func (c *Cond) Broadcast() {
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

// ReadAt copies data from off into p, as a read of a file holding data:
// 0 at or past the end.
func ReadAt(data []byte, p []byte, off int64) int {
	if off >= int64(len(data)) || off < 0 {
		return 0
	}
	return copy(p, data[off:])
}

// Text returns an OpenFunc for a file whose contents gen makes at each
// open: reads of one open see the same text, so reading it twice or in
// pieces gives the same bytes, and a later open sees fresh text. Writes
// are refused.
func Text(gen func(ctx context.Context, r *Req) ([]byte, error)) OpenFunc {
	return func(ctx context.Context, r *Req) (*Handle, error) {
		var data []byte
		if r.Mode&3 != ns.OWRITE {
			var err error
			if data, err = gen(ctx, r); err != nil {
				return nil, err
			}
		}
		return &Handle{Read: func(ctx context.Context, p []byte, off int64) (int, error) {
			return ReadAt(data, p, off), nil
		}}, nil
	}
}

// TextFile returns a file Node whose contents text gives at each open.
// Its Length is that of the text text gives at the Stat, so text should
// be cheap.
func TextFile(name string, mode ns.Perm, text func(r *Req) string) *Node {
	return &Node{
		Name: name,
		Mode: mode,
		Open: Text(func(ctx context.Context, r *Req) ([]byte, error) {
			return []byte(text(r)), nil
		}),
		Length: func(r *Req) int64 { return int64(len(text(r))) },
	}
}

// Ctl returns an OpenFunc for a ctl file: each write is one or more
// command lines run by cmds (see Commands.Run), whatever its offset, and
// reads give what status returned at open (nothing when status is nil).
// A write that fails returns the error and changes nothing.
func Ctl(cmds Commands, status func(r *Req) string) OpenFunc {
	return func(ctx context.Context, r *Req) (*Handle, error) {
		var data []byte
		if status != nil && r.Mode&3 != ns.OWRITE {
			data = []byte(status(r))
		}
		return &Handle{
			Read: func(ctx context.Context, p []byte, off int64) (int, error) {
				return ReadAt(data, p, off), nil
			},
			Write: func(ctx context.Context, p []byte, off int64) (int, error) {
				if err := cmds.Run(string(p)); err != nil {
					return 0, err
				}
				return len(p), nil
			},
		}, nil
	}
}

// CtlFile returns a ctl file Node: see Ctl.
func CtlFile(name string, mode ns.Perm, cmds Commands, status func(r *Req) string) *Node {
	return &Node{Name: name, Mode: mode, Open: Ctl(cmds, status)}
}
