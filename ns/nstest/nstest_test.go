package nstest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"loom/components/ramfs"
	"loom/ns"
	"loom/ns/nstest"
)

// recorder stands in for a testing.T so that the suite's own failures can
// be looked at rather than failing this test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs) > 0
}

// fault is a way for a file server to be wrong.
type fault int

const (
	lieName    fault = 1 << iota // Stat gives a name other than the file's
	loseWrites                   // Write says it wrote and does not
	wrongErr                     // Walk fails with an error that is not fs.ErrNotExist
	noDotDot                     // ".." from the root fails
	pageFrom0                    // ReadDir ignores the index
	noRclose                     // ORCLOSE is ignored
	noTrunc                      // Wstat ignores Length
	readOnly                     // every change is refused, as it should be
	leakCreate                   // ... except Create, which goes through
	lieDirBit                    // ReadDir entries say a directory is a file
	eofError                     // Read at the end fails instead of returning 0
)

// faulty wraps a file server with faults.
type faulty struct {
	ns.FS
	f fault
}

func (w faulty) Attach(ctx context.Context, user, aname string) (ns.File, error) {
	r, err := w.FS.Attach(ctx, user, aname)
	if err != nil {
		return nil, err
	}
	return &file{r, w.f, true}, nil
}

type file struct {
	ns.File
	f    fault
	root bool
}

func (f *file) Walk(ctx context.Context, names []string) ([]ns.Qid, ns.File, error) {
	if f.f&noDotDot != 0 && f.root && len(names) > 0 && names[0] == ".." {
		return nil, nil, ns.ErrNotExist
	}
	qids, nf, err := f.File.Walk(ctx, names)
	if err != nil && f.f&wrongErr != 0 {
		err = errors.New("no such thing")
	}
	if nf != nil {
		nf = &file{nf, f.f, f.root && len(names) == 0}
	}
	return qids, nf, err
}

func (f *file) Open(ctx context.Context, mode uint8) (ns.Qid, error) {
	if f.f&readOnly != 0 && (mode&3 != ns.OREAD && mode&3 != ns.OEXEC || mode&(ns.OTRUNC|ns.ORCLOSE) != 0) {
		return ns.Qid{}, ns.ErrPerm
	}
	if f.f&noRclose != 0 {
		mode &^= ns.ORCLOSE
	}
	return f.File.Open(ctx, mode)
}

func (f *file) Stat(ctx context.Context) (ns.Dir, error) {
	d, err := f.File.Stat(ctx)
	if f.f&lieName != 0 && !f.root {
		d.Name += "~"
	}
	return d, err
}

func (f *file) Write(ctx context.Context, p []byte, off int64) (int, error) {
	switch {
	case f.f&readOnly != 0:
		return 0, ns.ErrPerm
	case f.f&loseWrites != 0:
		return len(p), nil
	}
	return f.File.Write(ctx, p, off)
}

func (f *file) Read(ctx context.Context, p []byte, off int64) (int, error) {
	n, err := f.File.Read(ctx, p, off)
	if f.f&eofError != 0 && n == 0 && err == nil {
		err = errors.New("end of file")
	}
	return n, err
}

func (f *file) ReadDir(ctx context.Context, index, n int) ([]ns.Dir, error) {
	if f.f&pageFrom0 != 0 {
		index = 0
	}
	ds, err := f.File.ReadDir(ctx, index, n)
	if f.f&lieDirBit != 0 {
		for i := range ds {
			ds[i].Mode &^= ns.DMDIR
		}
	}
	return ds, err
}

func (f *file) Create(ctx context.Context, name string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	if f.f&readOnly != 0 && f.f&leakCreate == 0 {
		return nil, ns.Qid{}, ns.ErrPerm
	}
	nf, q, err := f.File.(ns.Creater).Create(ctx, name, perm, mode)
	if nf != nil {
		nf = &file{nf, f.f, false}
	}
	return nf, q, err
}

func (f *file) Remove(ctx context.Context) error {
	if f.f&readOnly != 0 {
		return ns.ErrPerm
	}
	return f.File.(ns.Remover).Remove(ctx)
}

func (f *file) Wstat(ctx context.Context, d ns.Dir) error {
	if f.f&readOnly != 0 {
		return ns.ErrPerm
	}
	if f.f&noTrunc != 0 {
		d.Length = ns.NoTouch64
	}
	return f.File.(ns.Wstater).Wstat(ctx, d)
}

// seeded returns a ramfs holding a few files, for the read-only cases.
func seeded(t *testing.T) ns.FS {
	ctx := context.Background()
	fsys := ramfs.New()
	root, err := fsys.Attach(ctx, "loom", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	mk := func(dir ns.File, name string, perm ns.Perm, data string) ns.File {
		f, _, err := dir.(ns.Creater).Create(ctx, name, perm, ns.OREAD|map[bool]uint8{true: 0, false: ns.ORDWR}[perm.IsDir()])
		if err != nil {
			t.Fatalf("Create(%s) = %v", name, err)
		}
		if data != "" {
			if _, err := f.Write(ctx, []byte(data), 0); err != nil {
				t.Fatalf("Write(%s) = %v", name, err)
			}
		}
		f.Clunk()
		_, w, err := dir.Walk(ctx, []string{name})
		if err != nil {
			t.Fatalf("Walk(%s) = %v", name, err)
		}
		return w
	}
	mk(root, "motd", 0644, "welcome\n").Clunk()
	lib := mk(root, "lib", ns.DMDIR|0755, "")
	mk(lib, "words", 0644, strings.Repeat("word\n", 1000)).Clunk()
	mk(lib, "empty", 0644, "").Clunk()
	lib.Clunk()
	return fsys
}

func TestSuite(t *testing.T) {
	tests := []struct {
		name   string
		fault  fault
		seed   bool
		opts   []nstest.Option
		errors []string // each must appear in some reported fault; none: no faults
	}{
		{name: "ramfs"},
		{name: "ramfs as user", opts: []nstest.Option{nstest.User("glenda")}},
		{name: "read-only", fault: readOnly, seed: true, opts: []nstest.Option{nstest.ReadOnly(), nstest.Expect("motd", "lib/words")}},
		{name: "skip", seed: true, opts: []nstest.Option{nstest.Skip("lib/words")}},
		{name: "lie name", fault: lieName, errors: []string{"Stat().Name", "fstest"}},
		{name: "lose writes", fault: loseWrites, errors: []string{"read nstest-", "Read after Create"}},
		{name: "wrong error", fault: wrongErr, errors: []string{"fs.ErrNotExist"}},
		{name: "no dotdot", fault: noDotDot, errors: []string{"Walk(..) from the root"}},
		{name: "readdir from 0", fault: pageFrom0, errors: []string{"pages of 1"}},
		{name: "no rclose", fault: noRclose, errors: []string{"fs.ErrNotExist"}},
		{name: "no truncate", fault: noTrunc, errors: []string{"read nstest-"}},
		{name: "dir bit", fault: lieDirBit, errors: []string{"DMDIR"}},
		{name: "eof error", fault: eofError, errors: []string{"at end of file"}},
		{name: "read-only server tested as writable", fault: readOnly, errors: []string{"scratch directory"}},
		{name: "read-only leaks create", fault: readOnly | leakCreate, seed: true, opts: []nstest.Option{nstest.ReadOnly()},
			errors: []string{"fs.ErrPermission", "appeared in a read-only tree"}},
		{name: "expect missing", seed: true, opts: []nstest.Option{nstest.Expect("nothere")}, errors: []string{"nothere"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fsys ns.FS = ramfs.New()
			if tt.seed {
				fsys = seeded(t)
			}
			if tt.fault != 0 {
				fsys = faulty{fsys, tt.fault}
			}
			r := &recorder{TB: t}
			nstest.TestFS(r, fsys, tt.opts...)
			if len(tt.errors) == 0 {
				for _, e := range r.errs {
					t.Errorf("TestFS reported %q; want no faults", e)
				}
				return
			}
			all := strings.Join(r.errs, "\n")
			for _, want := range tt.errors {
				if !strings.Contains(all, want) {
					t.Errorf("TestFS reported:\n%s\nwant a fault mentioning %q", all, want)
				}
			}
		})
	}
}

// TestSubtests runs the suite under a real testing.T, where its parts are
// subtests.
func TestSubtests(t *testing.T) {
	nstest.TestFS(t, seeded(t), nstest.Expect("motd", "lib/words", "lib/empty"))
}
