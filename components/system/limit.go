package system

import (
	"context"
	"math"
	"sync"
	"syscall"

	"loom/ns"
)

// ErrWriteLimit is the error of a write that would take a system past
// its sandbox's write limit. A Linux program in the sandbox sees EDQUOT.
var ErrWriteLimit = &Error{"write limit exceeded", syscall.EDQUOT}

// A budget counts the bytes written through a system's namespace and
// holds them to a limit. A system has one for its life: putting it in a
// nested sandbox changes the limit, not the count.
type budget struct {
	mu    sync.Mutex
	limit int64 // 0: none
	used  int64
}

// budget returns the system's budget, made on first use.
func (sys *System) budget() *budget {
	sys.mu.Lock()
	defer sys.mu.Unlock()
	if sys.written == nil {
		sys.written = &budget{}
	}
	return sys.written
}

// Written returns how many bytes have been written through the system's
// namespace while it had a write limit (and before, for a clone, by its
// original).
func (sys *System) Written() int64 { return sys.budget().spent() }

func (b *budget) spent() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *budget) add(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

func (b *budget) setLimit(n int64) {
	b.mu.Lock()
	b.limit = n
	b.mu.Unlock()
}

// take reserves n bytes, all or none.
func (b *budget) take(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limit > 0 && n > b.limit-b.used {
		return ErrWriteLimit
	}
	b.used += n
	return nil
}

// limited returns fsys with every write counted against b: a write that
// does not fit in what is left is refused whole, so that nothing past the
// limit is ever written, and a Wstat that lengthens a file counts the
// bytes it adds. Removing or truncating gives nothing back: the limit is
// on bytes written, not on bytes kept.
func limited(fsys ns.FS, b *budget) ns.FS { return limitFS{fsys, b} }

type limitFS struct {
	fs ns.FS
	b  *budget
}

func (l limitFS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	f, err := l.fs.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return &limitFile{f, l.b}, nil
}

type limitFile struct {
	f ns.File
	b *budget
}

var (
	_ ns.Creater = (*limitFile)(nil)
	_ ns.Remover = (*limitFile)(nil)
	_ ns.Wstater = (*limitFile)(nil)
)

func (l *limitFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	q, f, err := l.f.Walk(ctx, names)
	if f != nil {
		f = &limitFile{f, l.b}
	}
	return q, f, err
}

func (l *limitFile) Open(ctx context.Context, mode uint8) (ns.Qid, error) { return l.f.Open(ctx, mode) }

func (l *limitFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	return l.f.Read(ctx, p, off)
}

func (l *limitFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if err := l.b.take(int64(len(p))); err != nil {
		return 0, err
	}
	n, err := l.f.Write(ctx, p, off)
	if n < len(p) {
		l.b.add(int64(n - len(p)))
	}
	return n, err
}

func (l *limitFile) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	return l.f.ReadDir(ctx, index, n)
}

func (l *limitFile) Stat(ctx context.Context) (ns.Dir, error) { return l.f.Stat(ctx) }

func (l *limitFile) Clunk() error { return l.f.Clunk() }

func (l *limitFile) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	c, ok := l.f.(ns.Creater)
	if !ok {
		return nil, ns.Qid{}, ns.ErrPerm
	}
	f, q, err := c.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, ns.Qid{}, err
	}
	return &limitFile{f, l.b}, q, nil
}

func (l *limitFile) Remove(ctx context.Context) error {
	r, ok := l.f.(ns.Remover)
	if !ok {
		return ns.ErrPerm
	}
	return r.Remove(ctx)
}

func (l *limitFile) Wstat(ctx context.Context, d ns.Dir) error {
	w, ok := l.f.(ns.Wstater)
	if !ok {
		return ns.ErrPerm
	}
	var grow int64
	if d.Length != ns.NoTouch64 {
		old, err := l.f.Stat(ctx)
		if err != nil {
			return err
		}
		if d.Length > old.Length {
			grow = int64(min(d.Length-old.Length, math.MaxInt64))
		}
	}
	if err := l.b.take(grow); err != nil {
		return err
	}
	err := w.Wstat(ctx, d)
	if err != nil {
		l.b.add(-grow)
	}
	return err
}
