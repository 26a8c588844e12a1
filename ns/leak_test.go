package ns_test

import (
	"context"
	"sync/atomic"
	"testing"

	"loom/ns"
)

// counted wraps a server to count the Files of it not yet clunked.
type counted struct {
	fs ns.FS
	n  *atomic.Int64
}

func (c counted) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	f, err := c.fs.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	c.n.Add(1)
	return &countedFile{f, c.n}, nil
}

type countedFile struct {
	ns.File
	n *atomic.Int64
}

func (f *countedFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	qids, nf, err := f.File.Walk(ctx, names)
	if nf == nil {
		return qids, nil, err
	}
	f.n.Add(1)
	return qids, &countedFile{nf, f.n}, err
}

func (f *countedFile) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	nf, q, err := f.File.(ns.Creater).Create(ctx, name, perm, mode)
	if err != nil {
		return nil, q, err
	}
	f.n.Add(1)
	return &countedFile{nf, f.n}, q, nil
}

func (f *countedFile) Remove(ctx context.Context) error { return f.File.(ns.Remover).Remove(ctx) }
func (f *countedFile) Wstat(ctx context.Context, d ns.Dir) error {
	return f.File.(ns.Wstater).Wstat(ctx, d)
}

func (f *countedFile) Clunk() error {
	if f.n.Add(-1) < 0 {
		panic("clunked more Files than were made")
	}
	return f.File.Clunk()
}

// TestNoLeak checks that once every File from a namespace is clunked and
// the namespace and its forks are cleared, every File the namespace got
// from its servers has been clunked, once.
func TestNoLeak(t *testing.T) {
	var n atomic.Int64
	srv := map[string]ns.FS{}
	for name, s := range world(t) {
		srv[name] = ns.Named(name, counted{s, &n})
	}
	nsp := build(t, srv, `mount -c R /
mount A /n/x
mount -ac B /n/x
bind /n/x /n/y
bind -b /n/x/sub /lib
bind /f1 /f2
bind /n /n/loop
mount -b A /n/x/sub
unmount /n/x/sub /n/x/sub
`)
	fork := nsp.Fork()
	fork.Unmount("", "/n/y")
	fork.Mount(srv["B"], "/tmp", ns.MREPL, "")
	for _, p := range []string{"/n/x", "/n/y/sub/..", "/lib", "/n/loop/loop/x", "/", "/tmp"} {
		lsNames(nsp, p)
		lsNames(fork, p)
	}
	for _, p := range []string{"/f2", "/n/x/sub/s", "/n/y/common"} {
		cat(nsp, p)
	}
	if err := create(nsp, "/n/x/new", "x"); err != nil {
		t.Fatal(err)
	}
	held, err := walk(nsp, "/n/x/sub")
	if err != nil {
		t.Fatal(err)
	}
	nsp.Unmount("", "/n/x")
	_, up, err := held.Walk(ctx, []string{"..", ".."})
	if err != nil {
		t.Fatal(err)
	}
	up.Clunk()
	held.Clunk()
	nsp.Clear()
	if n.Load() == 0 {
		t.Fatalf("the fork holds no Files; the test tests nothing")
	}
	fork.Clear()
	if got := n.Load(); got != 0 {
		t.Errorf("%d Files not clunked after clearing everything", got)
	}
}
