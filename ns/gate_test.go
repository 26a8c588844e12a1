package ns_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"loom/ns"
	"loom/ns/nstest"
)

func TestGateConformance(t *testing.T) {
	g := ns.NewGate()
	nstest.TestFS(t, g.Wrap(ram(t, "R", "d/", "d/f", "top")))
}

func TestGateKeepsName(t *testing.T) {
	g := ns.NewGate()
	if n, ok := g.Wrap(ns.Named("ramfs.3", ram(t, "R"))).(ns.Namer); !ok || n.Name() != "ramfs.3" {
		t.Errorf("Wrap(Named(ramfs.3)).Name() = %v; want ramfs.3", n)
	}
	if _, ok := g.Wrap(ram(t, "R")).(ns.Namer); ok {
		t.Errorf("Wrap of a server without a name has one")
	}
}

// open opens the file p of fsys with mode.
func open(t *testing.T, fsys ns.FS, p string, mode uint8) ns.File {
	t.Helper()
	f, err := walk(fsys, p)
	if err != nil {
		t.Fatalf("walk %s: %v", p, err)
	}
	if _, err := f.Open(ctx, mode); err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	return f
}

// TestGateHold checks that a held request waits, neither failing nor
// reaching the server, until Release, or until its ctx ends.
func TestGateHold(t *testing.T) {
	g := ns.NewGate()
	fsys := g.Wrap(ram(t, "R", "f"))
	f := open(t, fsys, "f", ns.ORDWR)
	defer f.Clunk()

	g.Hold()
	if !g.Held() {
		t.Fatal("Held() = false after Hold")
	}
	// A request whose ctx ends while held fails with ErrInterrupt: had
	// it gone through, the read would have succeeded.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() {
		_, err := f.Read(cctx, make([]byte, 8), 0)
		errc <- err
	}()
	waitHeld(g, 1)
	cancel()
	if err := <-errc; !errors.Is(err, ns.ErrInterrupt) {
		t.Errorf("Read held, ctx cancelled = %v; want ErrInterrupt", err)
	}
	if n := g.Waiting(); n != 0 {
		t.Errorf("Waiting() after the held request's ctx ended = %d; want 0", n)
	}
	// A request held is not failed: once released, it is done.
	type result struct {
		n   int
		err error
	}
	wc := make(chan result)
	go func() {
		n, err := f.Write(ctx, []byte("after"), 0)
		wc <- result{n, err}
	}()
	waitHeld(g, 1)
	g.Hold() // nested
	g.Release()
	if !g.Held() {
		t.Fatal("Held() = false with one Hold left")
	}
	g.Release()
	if r := <-wc; r.err != nil || r.n != 5 {
		t.Errorf("Write held then released = %d, %v; want 5, nil", r.n, r.err)
	}
	if s, err := cat(fsys, "f"); err != nil || s != "after" {
		t.Errorf("cat f = %q, %v; want %q", s, err, "after")
	}
}

// waitHeld waits until g holds n requests.
func waitHeld(g *ns.Gate, n int) {
	for g.Waiting() != n {
		runtime.Gosched()
	}
}

// blockFS is a server whose writes block until release is closed.
type blockFS struct {
	ns.FS
	entered chan struct{}
	release chan struct{}
}

func (b blockFS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	f, err := b.FS.Attach(ctx, user, aname)
	return blockFile{f, b}, err
}

type blockFile struct {
	ns.File
	b blockFS
}

func (f blockFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	q, nf, err := f.File.Walk(ctx, names)
	if nf != nil {
		nf = blockFile{nf, f.b}
	}
	return q, nf, err
}

func (f blockFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	f.b.entered <- struct{}{}
	<-f.b.release
	return f.File.Write(ctx, p, off)
}

// TestGateLock checks that Lock waits for the changes running, holds new
// changes and lets reads through.
func TestGateLock(t *testing.T) {
	g := ns.NewGate()
	b := blockFS{ram(t, "R", "f", "g"), make(chan struct{}), make(chan struct{})}
	fsys := g.Wrap(b)
	f := open(t, fsys, "f", ns.OWRITE)
	defer f.Clunk()
	done := make(chan error)
	go func() {
		_, err := f.Write(ctx, []byte("x"), 0)
		done <- err
	}()
	<-b.entered
	// The write runs: Lock waits for it, until its ctx ends.
	cctx, cancel := context.WithCancel(ctx)
	lc := make(chan error)
	go func() { lc <- g.Lock(cctx) }()
	cancel()
	if err := <-lc; !errors.Is(err, ns.ErrInterrupt) {
		t.Fatalf("Lock with a change running, ctx cancelled = %v; want ErrInterrupt", err)
	}
	go func() { lc <- g.Lock(ctx) }()
	close(b.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-lc; err != nil {
		t.Fatalf("Lock = %v", err)
	}
	// Locked: reads go through, changes wait.
	if s, err := cat(fsys, "g"); err != nil || s != "R/g" {
		t.Errorf("cat g while locked = %q, %v; want R/g", s, err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	go func() {
		_, err := f.Write(wctx, []byte("y"), 0)
		done <- err
	}()
	wcancel()
	if err := <-done; !errors.Is(err, ns.ErrInterrupt) {
		t.Errorf("Write while locked, ctx cancelled = %v; want ErrInterrupt", err)
	}
	g.Unlock()
	go func() {
		_, err := f.Write(ctx, []byte("z"), 0)
		done <- err
	}()
	<-b.entered
	if err := <-done; err != nil {
		t.Errorf("Write after Unlock = %v", err)
	}
}
