package ninep_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"loom/ns"
)

// testFS is a file server for what ramfs cannot do, shared by the tests
// of both engines and of the client. Its root holds:
//
//   - "block", whose reads wait for their context to end, or for release,
//     when they read nothing;
//   - "panic", whose reads panic, and so does the clunk of an open one;
//   - "data", which reads as "data";
//   - "stubborn", whose reads wait for their context to end and then for
//     release;
//   - "deaf", whose reads wait for release without heeding their context,
//     and then read "late".
type testFS struct {
	inflight  atomic.Int32  // reads of block under way
	most      atomic.Int32  // the most there have been at once
	arrived   chan struct{} // a read of block has begun
	returned  chan error    // each read of block ended by its context, once it returns
	cancelled chan struct{} // a stubborn read has seen its context end
	release   chan struct{} // closed by letGo
	once      sync.Once
}

func newTestFS() *testFS {
	return &testFS{
		arrived:   make(chan struct{}, 100),
		returned:  make(chan error, 100),
		cancelled: make(chan struct{}, 100),
		release:   make(chan struct{}),
	}
}

// letGo lets waiting reads go. A test using stubborn or deaf reads calls
// it when it is done, failed or not, since the server's end waits for
// them.
func (fs *testFS) letGo() { fs.once.Do(func() { close(fs.release) }) }

var testFiles = []string{"block", "panic", "data", "stubborn", "deaf"}

type testFile struct {
	fs   *testFS
	name string // "" for the root
	open bool
}

func (fs *testFS) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	return &testFile{fs: fs}, nil
}

func (f *testFile) qid() ns.Qid {
	if i := slices.Index(testFiles, f.name); i >= 0 {
		return ns.Qid{Path: uint64(i + 1)}
	}
	return ns.Qid{Type: ns.QTDIR}
}

func (f *testFile) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	g := &testFile{fs: f.fs, name: f.name}
	var qids []ns.Qid
	for _, n := range names {
		switch {
		case n == "..":
			g = &testFile{fs: f.fs}
		case g.name == "" && slices.Contains(testFiles, n):
			g = &testFile{fs: f.fs, name: n}
		case len(qids) == 0:
			return nil, nil, ns.ErrNotExist
		default:
			return qids, nil, nil
		}
		qids = append(qids, g.qid())
	}
	return qids, g, nil
}

func (f *testFile) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	f.open = true
	return f.qid(), nil
}

func (f *testFile) Read(ctx context.Context, p []byte, off int64) (int, error) {
	switch f.name {
	case "block":
		n := f.fs.inflight.Add(1)
		defer f.fs.inflight.Add(-1)
		for m := f.fs.most.Load(); n > m && !f.fs.most.CompareAndSwap(m, n); m = f.fs.most.Load() {
		}
		f.fs.arrived <- struct{}{}
		select {
		case <-ctx.Done():
		case <-f.fs.release:
			return 0, nil
		}
		f.fs.returned <- ctx.Err()
		return 0, ctx.Err()
	case "stubborn":
		<-ctx.Done()
		f.fs.cancelled <- struct{}{}
		<-f.fs.release
		return 0, ctx.Err()
	case "deaf":
		<-f.fs.release
		return copy(p, "late"), nil
	case "panic":
		panic("testFile: panic on read")
	}
	if off >= 4 {
		return 0, nil
	}
	return copy(p, "data"[off:]), nil
}

func (f *testFile) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return len(p), nil
}

func (f *testFile) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	var ds []ns.Dir
	for i := index; i < len(testFiles) && len(ds) < n; i++ {
		ds = append(ds, ns.Dir{Name: testFiles[i], Qid: ns.Qid{Path: uint64(i + 1)}, Mode: 0666})
	}
	return ds, nil
}

func (f *testFile) Stat(ctx context.Context) (ns.Dir, error) {
	d := ns.Dir{Name: f.name, Qid: f.qid(), Mode: 0666}
	if f.name == "" {
		d.Name, d.Mode = "/", ns.DMDIR|0777
	}
	return d, nil
}

func (f *testFile) Clunk() error {
	if f.name == "panic" && f.open {
		panic("testFile: panic on clunk")
	}
	return nil
}

// blockedRead starts a read of 10 bytes of b, a client's open "block"
// of fsys, with ctx, and returns once the read has reached fsys; the
// channel gets the read's error when it ends.
func blockedRead(ctx context.Context, fsys *testFS, b ns.File) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := b.Read(ctx, make([]byte, 10), 0)
		done <- err
	}()
	<-fsys.arrived
	return done
}

// traceBuf is a server's trace that the test reads while it is written.
type traceBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *traceBuf) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.Write(p)
}

// String returns the trace so far.
func (t *traceBuf) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

// lines returns the lines of the trace.
func (t *traceBuf) lines() []string {
	return strings.Split(strings.TrimSpace(t.String()), "\n")
}

// count returns how many lines from the from'th on hold s.
func (t *traceBuf) count(from int, s string) int {
	n := 0
	for _, l := range t.lines()[from:] {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
