package ns

import (
	"context"
	"sync"
)

// A Gate stands in front of file servers (those it wraps, see Wrap) and
// holds requests to them back, without failing them, while it is closed:
// a paused system's components answer nothing until it resumes, and a
// snapshot sees no change half made.
//
// It closes in two ways. Hold closes it to every request until Release;
// it does not wait for requests already running. Lock closes it to
// changes only (writes, creates, removes, wstats, opens that truncate or
// remove on clunk, and the clunk of the latter) and waits until no change
// runs: between Lock and Unlock, the servers behind the gate keep still
// whatever their other clients do. Requests held by either wait until
// the gate opens or their ctx ends (a Tflush, a hang-up), when they fail
// with ErrInterrupt. A Clunk has no ctx and is not held, unless it is a
// change, when it waits for the gate to open; an Attach is not held.
//
// Holds and Locks count: the gate is open when every Hold has been
// Released and every Lock Unlocked. A Gate's methods may be called
// concurrently.
type Gate struct {
	mu      sync.Mutex
	holds   int           // Holds not yet Released
	locks   int           // Locks not yet Unlocked
	opened  chan struct{} // closed, and replaced, whenever the gate opens wider
	changes int           // changes running
	waiting int           // requests held
	idle    chan struct{} // closed when changes falls to 0, for Lock; nil when no one waits
}

// NewGate returns an open Gate.
func NewGate() *Gate { return &Gate{opened: make(chan struct{})} }

// Hold closes the gate to every request until Release.
func (g *Gate) Hold() {
	g.mu.Lock()
	g.holds++
	g.mu.Unlock()
}

// Release undoes one Hold.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds > 0 {
		g.holds--
		g.widen()
	}
}

// Held reports whether some Hold is not Released.
func (g *Gate) Held() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.holds > 0
}

// Waiting returns the number of requests held now.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// Lock closes the gate to changes and waits until none runs. If ctx ends
// first, the gate is as it was and Lock returns ErrInterrupt.
func (g *Gate) Lock(ctx context.Context) error {
	g.mu.Lock()
	g.locks++
	for g.changes > 0 {
		if g.idle == nil {
			g.idle = make(chan struct{})
		}
		idle := g.idle
		g.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			g.Unlock()
			return ErrInterrupt
		}
		g.mu.Lock()
	}
	g.mu.Unlock()
	return nil
}

// Unlock undoes one Lock.
func (g *Gate) Unlock() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.locks > 0 {
		g.locks--
		g.widen()
	}
}

// widen wakes the requests waiting, to look again. The caller holds mu.
func (g *Gate) widen() {
	close(g.opened)
	g.opened = make(chan struct{})
}

// enter waits until the gate lets a request through, a change when
// change is set, and counts a change as running until leave.
func (g *Gate) enter(ctx context.Context, change bool) error {
	g.mu.Lock()
	for g.holds > 0 || change && g.locks > 0 {
		opened := g.opened
		g.waiting++
		g.mu.Unlock()
		var err error
		select {
		case <-opened:
		case <-ctx.Done():
			err = ErrInterrupt
		}
		g.mu.Lock()
		g.waiting--
		if err != nil {
			g.mu.Unlock()
			return err
		}
	}
	if change {
		g.changes++
	}
	g.mu.Unlock()
	return nil
}

// leave ends a request that enter let through.
func (g *Gate) leave(change bool) {
	if !change {
		return
	}
	g.mu.Lock()
	g.changes--
	if g.changes == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Wrap returns fsys behind the gate. The result has fsys's name, when it
// has one (see Namer), so that a namespace's text is the same with the
// gate as without.
func (g *Gate) Wrap(fsys FS) FS {
	gf := gatedFS{g: g, fs: fsys}
	if n, ok := fsys.(Namer); ok {
		return namedGate{gf, n.Name()}
	}
	return gf
}

type gatedFS struct {
	g  *Gate
	fs FS
}

type namedGate struct {
	gatedFS
	name string
}

func (n namedGate) Name() string { return n.name }

// Attach is not held: it reaches no file, and what the File it gives
// does is. A namespace behind a closed gate can so be rebuilt over the
// same servers (a rollback does that).
func (s gatedFS) Attach(ctx context.Context, user, aname string) (File, error) {
	f, err := s.fs.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return &gatedFile{g: s.g, f: f}, nil
}

// gatedFile is a File behind a gate.
type gatedFile struct {
	g      *Gate
	f      File
	rclose bool // opened ORCLOSE: its clunk removes it
}

var (
	_ Creater = (*gatedFile)(nil)
	_ Remover = (*gatedFile)(nil)
	_ Wstater = (*gatedFile)(nil)
)

func (f *gatedFile) Walk(ctx context.Context, names []string) ([]Qid, File, error) {
	if err := f.g.enter(ctx, false); err != nil {
		return nil, nil, err
	}
	defer f.g.leave(false)
	qids, nf, err := f.f.Walk(ctx, names)
	if nf != nil {
		nf = &gatedFile{g: f.g, f: nf}
	}
	return qids, nf, err
}

func (f *gatedFile) Open(ctx context.Context, mode uint8) (Qid, error) {
	change := mode&(OTRUNC|ORCLOSE) != 0
	if err := f.g.enter(ctx, change); err != nil {
		return Qid{}, err
	}
	defer f.g.leave(change)
	q, err := f.f.Open(ctx, mode)
	if err == nil {
		f.rclose = mode&ORCLOSE != 0
	}
	return q, err
}

func (f *gatedFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.g.enter(ctx, false); err != nil {
		return 0, err
	}
	defer f.g.leave(false)
	return f.f.Read(ctx, p, off)
}

func (f *gatedFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.g.enter(ctx, true); err != nil {
		return 0, err
	}
	defer f.g.leave(true)
	return f.f.Write(ctx, p, off)
}

func (f *gatedFile) ReadDir(ctx context.Context, index, n int) ([]Dir, error) {
	if err := f.g.enter(ctx, false); err != nil {
		return nil, err
	}
	defer f.g.leave(false)
	return f.f.ReadDir(ctx, index, n)
}

func (f *gatedFile) Stat(ctx context.Context) (Dir, error) {
	if err := f.g.enter(ctx, false); err != nil {
		return Dir{}, err
	}
	defer f.g.leave(false)
	return f.f.Stat(ctx)
}

func (f *gatedFile) Clunk() error {
	if f.rclose {
		// The removal is a change; nothing can interrupt the wait.
		f.g.enter(context.Background(), true)
		defer f.g.leave(true)
	}
	return f.f.Clunk()
}

func (f *gatedFile) Create(ctx context.Context, name string, perm Perm, mode uint8) (File, Qid, error) {
	c, ok := f.f.(Creater)
	if !ok {
		return nil, Qid{}, ErrPerm
	}
	if err := f.g.enter(ctx, true); err != nil {
		return nil, Qid{}, err
	}
	defer f.g.leave(true)
	nf, q, err := c.Create(ctx, name, perm, mode)
	if err != nil {
		return nil, Qid{}, err
	}
	return &gatedFile{g: f.g, f: nf, rclose: mode&ORCLOSE != 0}, q, nil
}

func (f *gatedFile) Remove(ctx context.Context) error {
	r, ok := f.f.(Remover)
	if !ok {
		return ErrPerm
	}
	if err := f.g.enter(ctx, true); err != nil {
		return err
	}
	defer f.g.leave(true)
	return r.Remove(ctx)
}

func (f *gatedFile) Wstat(ctx context.Context, d Dir) error {
	w, ok := f.f.(Wstater)
	if !ok {
		return ErrPerm
	}
	if err := f.g.enter(ctx, true); err != nil {
		return err
	}
	defer f.g.leave(true)
	return w.Wstat(ctx, d)
}
