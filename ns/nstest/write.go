package nstest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"sync"
	"testing"

	"loom/ns"
)

// The suite's checks of a server that allows changes. They all work inside
// the scratch directory.

// sp gives the path of name in the scratch directory.
func (s *suite) sp(name string) string { return path.Join(s.scratch, name) }

// create makes the file p (a path from the root) and returns it open.
func (s *suite) create(p string, perm ns.Perm, mode uint8) (ns.File, ns.Qid, error) {
	d, err := s.walk(s.root, path.Dir(p))
	if err != nil {
		return nil, ns.Qid{}, err
	}
	defer d.Clunk()
	c, ok := d.(ns.Creater)
	if !ok {
		return nil, ns.Qid{}, fmt.Errorf("%T is not an ns.Creater", d)
	}
	return c.Create(s.ctx, path.Base(p), perm, mode)
}

// put creates the file p holding data.
func (s *suite) put(t testing.TB, p string, data []byte) bool {
	t.Helper()
	f, _, err := s.create(p, 0666, ns.OWRITE)
	if err != nil {
		t.Errorf("Create(%s) = %v", p, err)
		return false
	}
	defer f.Clunk()
	if n, err := f.Write(s.ctx, data, 0); n != len(data) || err != nil {
		t.Errorf("%s: Write(%d bytes) = %d, %v", p, len(data), n, err)
		return false
	}
	return true
}

// mkdir creates the directory p.
func (s *suite) mkdir(t testing.TB, p string) bool {
	t.Helper()
	f, q, err := s.create(p, ns.DMDIR|0777, ns.OREAD)
	if err != nil {
		t.Errorf("Create(%s, DMDIR) = %v", p, err)
		return false
	}
	f.Clunk()
	if !q.IsDir() {
		t.Errorf("Create(%s, DMDIR) = %v; want a QTDIR qid", p, q)
	}
	return true
}

// get reads the whole file p.
func (s *suite) get(p string) ([]byte, error) {
	f, err := s.open(p, ns.OREAD)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	return s.readAll(s.ctx, f, 8192)
}

// check checks that the file p holds want.
func (s *suite) check(t testing.TB, p string, want []byte) {
	t.Helper()
	got, err := s.get(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("read %s = %s, %v; want %s", p, short(got), err, short(want))
	}
	if d, err := s.stat(p); err != nil || d.Length != uint64(len(want)) {
		t.Errorf("%s: Stat().Length = %d, %v; want %d", p, d.Length, err, len(want))
	}
}

// remove removes the file p.
func (s *suite) remove(p string) error {
	f, err := s.walk(s.root, p)
	if err != nil {
		return err
	}
	defer f.Clunk()
	r, ok := f.(ns.Remover)
	if !ok {
		return fmt.Errorf("%T is not an ns.Remover", f)
	}
	return r.Remove(s.ctx)
}

// wstat changes the file p by the fields set in d.
func (s *suite) wstat(p string, d ns.Dir) error {
	f, err := s.walk(s.root, p)
	if err != nil {
		return err
	}
	defer f.Clunk()
	w, ok := f.(ns.Wstater)
	if !ok {
		return fmt.Errorf("%T is not an ns.Wstater", f)
	}
	return w.Wstat(s.ctx, d)
}

// list gives the names in the directory p.
func (s *suite) list(p string) ([]string, error) {
	f, err := s.open(p, ns.OREAD)
	if err != nil {
		return nil, err
	}
	defer f.Clunk()
	ds, err := s.readDir(f, 1<<16)
	n := names(ds)
	slices.Sort(n)
	return n, err
}

// gone checks that p does not exist.
func (s *suite) gone(t testing.TB, p string) {
	t.Helper()
	if _, err := s.stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk(%s) = %v; want an error satisfying fs.ErrNotExist", p, err)
	}
	l, err := s.list(path.Dir(p))
	if err == nil && slices.Contains(l, path.Base(p)) {
		t.Errorf("ReadDir(%s) = %v; want no %s", path.Dir(p), l, path.Base(p))
	}
}

func (s *suite) makeScratch(t testing.TB) ns.File {
	t.Helper()
	s.scratch = fmt.Sprintf("nstest-%08x", rand.Uint32())
	f, _, err := s.create(s.scratch, ns.DMDIR|0777, ns.OREAD)
	if err != nil {
		t.Errorf("Create(%s, DMDIR) in the root = %v; want a scratch directory (use nstest.ReadOnly for a read-only server)", s.scratch, err)
		return nil
	}
	return f
}

// removeScratch removes the scratch directory and everything in it.
func (s *suite) removeScratch(t testing.TB) {
	t.Helper()
	var rm func(p string, depth int)
	rm = func(p string, depth int) {
		if d, err := s.stat(p); err == nil && d.Mode.IsDir() && depth < maxDepth {
			l, _ := s.list(p)
			for _, n := range l {
				rm(path.Join(p, n), depth+1)
			}
		}
		if err := s.remove(p); err != nil {
			t.Errorf("Remove(%s) = %v", p, err)
		}
	}
	rm(s.scratch, 0)
	s.gone(t, s.scratch)
}

// populate fills the scratch directory with a small tree for the read
// checks and fstest, and returns its paths.
func (s *suite) populate(t testing.TB) []string {
	// Larger than a small msize, yet small enough that fstest, which reads
	// some files a byte at a time, stays quick over the wire.
	big := make([]byte, 24<<10)
	for i := range big {
		big[i] = byte(i % 251)
	}
	s.put(t, s.sp("empty"), nil)
	s.put(t, s.sp("small"), []byte("hello, world\n"))
	s.put(t, s.sp("big"), big)
	s.mkdir(t, s.sp("sub"))
	s.put(t, s.sp("sub/nested"), []byte("nested\n"))
	s.mkdir(t, s.sp("sub/deeper"))
	return []string{s.scratch, s.sp("empty"), s.sp("small"), s.sp("big"),
		s.sp("sub"), s.sp("sub/nested"), s.sp("sub/deeper")}
}

func (s *suite) testCreate(t testing.TB) {
	p := s.sp("c1")
	f, q, err := s.create(p, 0666, ns.ORDWR)
	if err != nil {
		t.Errorf("Create(%s) = %v", p, err)
		return
	}
	if q.IsDir() {
		t.Errorf("Create(%s, 0666) = %v; want a file's qid", p, q)
	}
	// The File Create returns is open as asked.
	if n, err := f.Write(s.ctx, []byte("abc"), 0); n != 3 || err != nil {
		t.Errorf("%s: Write after Create = %d, %v; want 3, nil", p, n, err)
	}
	buf := make([]byte, 8)
	if n, err := f.Read(s.ctx, buf, 0); n != 3 || err != nil || string(buf[:n]) != "abc" {
		t.Errorf("%s: Read after Create = %q, %v; want \"abc\"", p, buf[:n], err)
	}
	f.Clunk()
	d, err := s.stat(p)
	switch {
	case err != nil:
		t.Errorf("walk(%s) after Create = %v", p, err)
	case d.Name != "c1" || d.Qid.Path != q.Path || d.Mode.IsDir() || d.Length != 3:
		t.Errorf("%s: Stat() = %v; want name c1, qid %v, a file of length 3", p, d, q)
	}
	for _, perm := range []ns.Perm{0666, ns.DMDIR | 0777} {
		f, _, err := s.create(p, perm, ns.OREAD)
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("Create(%s, %v) of an existing name = %v; want an error satisfying fs.ErrExist", p, perm, err)
		}
		if f != nil {
			f.Clunk()
		}
	}
	s.check(t, p, []byte("abc"))

	dp := s.sp("c2")
	if !s.mkdir(t, dp) {
		return
	}
	if d, err := s.stat(dp); err != nil || !d.Mode.IsDir() || !d.Qid.IsDir() {
		t.Errorf("%s: Stat() = %v, %v; want a directory", dp, d, err)
	}
	s.put(t, path.Join(dp, "x"), []byte("x"))
	if l, err := s.list(dp); err != nil || !slices.Equal(l, []string{"x"}) {
		t.Errorf("ReadDir(%s) = %v, %v; want [x]", dp, l, err)
	}
	if l, err := s.list(s.scratch); err != nil || !slices.Contains(l, "c1") || !slices.Contains(l, "c2") {
		t.Errorf("ReadDir(%s) = %v, %v; want c1 and c2 in it", s.scratch, l, err)
	}
}

func (s *suite) testReadWrite(t testing.TB) {
	p := s.sp("rw")
	f, _, err := s.create(p, 0666, ns.ORDWR)
	if err != nil {
		t.Errorf("Create(%s) = %v", p, err)
		return
	}
	defer f.Clunk()
	d0, _ := f.Stat(s.ctx)
	write := func(data string, off int64) {
		t.Helper()
		if n, err := f.Write(s.ctx, []byte(data), off); n != len(data) || err != nil {
			t.Errorf("%s: Write(%q, %d) = %d, %v; want %d, nil", p, data, off, n, err, len(data))
		}
	}
	write("hello, world", 0)
	d1, err := f.Stat(s.ctx)
	if err != nil || d1.Length != 12 {
		t.Errorf("%s: Stat().Length after a write = %d, %v; want 12", p, d1.Length, err)
	}
	if d1.Qid.Vers == d0.Qid.Vers {
		t.Errorf("%s: Qid.Vers after a write = %d; want a change from %d", p, d1.Qid.Vers, d0.Qid.Vers)
	}
	s.check(t, p, []byte("hello, world"))
	write("there", 7)
	s.check(t, p, []byte("hello, there"))
	// A write past the end leaves a hole of zeros.
	write("X", 20)
	want := []byte("hello, there\x00\x00\x00\x00\x00\x00\x00\x00X")
	s.check(t, p, want)
	got, err := s.readAll(s.ctx, f, 5)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: Read in 5-byte pieces = %s, %v; want %s", p, short(got), err, short(want))
	}
	buf := make([]byte, 4)
	for _, off := range []int64{21, 100} {
		if n, err := f.Read(s.ctx, buf, off); n != 0 || err != nil {
			t.Errorf("%s: Read(off %d) at end of file = %d, %v; want 0, nil", p, off, n, err)
		}
	}

	// A write moves Mtime: set it far back first, as a second may not
	// pass between the writes.
	if err := s.wstat(p, func() ns.Dir { d := ns.NullDir(); d.Mtime = 1; return d }()); err != nil {
		t.Logf("%s: Wstat(Mtime) = %v; Mtime after a write not checked", p, err)
	} else {
		if d, err := f.Stat(s.ctx); err != nil || d.Mtime != 1 {
			t.Errorf("%s: Stat().Mtime after Wstat(Mtime 1) = %d, %v; want 1", p, d.Mtime, err)
		}
		write("!", 0)
		if d, err := f.Stat(s.ctx); err != nil || d.Mtime <= 1 {
			t.Errorf("%s: Stat().Mtime after a write = %d, %v; want now", p, d.Mtime, err)
		}
		want[0] = '!'
	}

	// OTRUNC empties the file.
	g, err := s.open(p, ns.OWRITE|ns.OTRUNC)
	if err != nil {
		t.Errorf("Open(%s, OWRITE|OTRUNC) = %v", p, err)
		return
	}
	g.Clunk()
	s.check(t, p, nil)
	if n, err := f.Read(s.ctx, buf, 0); n != 0 || err != nil {
		t.Errorf("%s: Read(off 0) after OTRUNC = %d, %v; want 0, nil", p, n, err)
	}
}

func (s *suite) testTruncate(t testing.TB) {
	p := s.sp("tr")
	if !s.put(t, p, []byte("0123456789")) {
		return
	}
	d0, _ := s.stat(p)
	length := func(n uint64) ns.Dir { d := ns.NullDir(); d.Length = n; return d }
	if err := s.wstat(p, length(4)); err != nil {
		t.Errorf("Wstat(%s, Length 4) = %v", p, err)
	}
	s.check(t, p, []byte("0123"))
	if d, err := s.stat(p); err == nil && d.Qid.Vers == d0.Qid.Vers {
		t.Errorf("%s: Qid.Vers after a truncation = %d; want a change", p, d.Qid.Vers)
	}
	if err := s.wstat(p, length(8)); err != nil {
		t.Errorf("Wstat(%s, Length 8) = %v", p, err)
	}
	s.check(t, p, []byte("0123\x00\x00\x00\x00"))

	// Wstat is all or nothing: a rename onto a taken name fails and
	// takes the truncation with it.
	if !s.put(t, s.sp("tr2"), []byte("other")) {
		return
	}
	d := length(0)
	d.Name = "tr2"
	if err := s.wstat(p, d); err == nil {
		t.Errorf("Wstat(%s, Name tr2 (taken), Length 0) = nil; want an error", p)
	}
	s.check(t, p, []byte("0123\x00\x00\x00\x00"))
	s.check(t, s.sp("tr2"), []byte("other"))
}

func (s *suite) testRename(t testing.TB) {
	old, new := s.sp("old"), s.sp("new")
	if !s.put(t, old, []byte("data")) {
		return
	}
	d0, _ := s.stat(old)
	name := func(n string) ns.Dir { d := ns.NullDir(); d.Name = n; return d }
	if err := s.wstat(old, name("new")); err != nil {
		t.Errorf("Wstat(%s, Name new) = %v", old, err)
		return
	}
	d, err := s.stat(new)
	if err != nil || d.Name != "new" || d.Qid.Path != d0.Qid.Path {
		t.Errorf("%s: Stat() after rename = %v, %v; want name new, qid %v", new, d, err, d0.Qid)
	}
	s.check(t, new, []byte("data"))
	s.gone(t, old)

	if !s.put(t, s.sp("other"), []byte("o")) {
		return
	}
	if err := s.wstat(new, name("other")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Wstat(%s, Name other (taken)) = %v; want an error satisfying fs.ErrExist", new, err)
	}
	s.check(t, new, []byte("data"))
	s.check(t, s.sp("other"), []byte("o"))

	// A directory takes its contents along.
	if !s.mkdir(t, s.sp("rdir")) || !s.put(t, s.sp("rdir/k"), []byte("k")) {
		return
	}
	if err := s.wstat(s.sp("rdir"), name("rdir2")); err != nil {
		t.Errorf("Wstat(%s, Name rdir2) = %v", s.sp("rdir"), err)
		return
	}
	s.check(t, s.sp("rdir2/k"), []byte("k"))
	s.gone(t, s.sp("rdir"))
}

func (s *suite) testRemove(t testing.TB) {
	p := s.sp("rm")
	if !s.put(t, p, []byte("x")) {
		return
	}
	stale, err := s.walk(s.root, p)
	if err != nil {
		t.Errorf("walk(%s) = %v", p, err)
		return
	}
	defer stale.Clunk()
	if err := s.remove(p); err != nil {
		t.Errorf("Remove(%s) = %v", p, err)
	}
	s.gone(t, p)
	if r, ok := stale.(ns.Remover); ok {
		if err := r.Remove(s.ctx); err == nil {
			t.Errorf("Remove(%s) a second time = nil; want an error", p)
		}
	}

	dp := s.sp("rmd")
	if !s.mkdir(t, dp) || !s.put(t, path.Join(dp, "k"), []byte("k")) {
		return
	}
	if err := s.remove(dp); err == nil {
		t.Errorf("Remove(%s) of a directory that is not empty = nil; want an error", dp)
	}
	s.check(t, path.Join(dp, "k"), []byte("k"))
	if err := s.remove(path.Join(dp, "k")); err != nil {
		t.Errorf("Remove(%s) = %v", path.Join(dp, "k"), err)
	}
	if err := s.remove(dp); err != nil {
		t.Errorf("Remove(%s) of an empty directory = %v", dp, err)
	}
	s.gone(t, dp)
}

func (s *suite) testORCLOSE(t testing.TB) {
	p := s.sp("rc")
	f, _, err := s.create(p, 0666, ns.ORDWR|ns.ORCLOSE)
	if err != nil {
		t.Errorf("Create(%s, ORDWR|ORCLOSE) = %v", p, err)
		return
	}
	f.Write(s.ctx, []byte("x"), 0)
	s.check(t, p, []byte("x"))
	if err := f.Clunk(); err != nil {
		t.Errorf("%s: Clunk() with ORCLOSE = %v", p, err)
	}
	s.gone(t, p)

	p = s.sp("rc2")
	if !s.put(t, p, []byte("y")) {
		return
	}
	f, err = s.open(p, ns.OREAD|ns.ORCLOSE)
	if err != nil {
		t.Errorf("Open(%s, OREAD|ORCLOSE) = %v", p, err)
		return
	}
	s.check(t, p, []byte("y"))
	if err := f.Clunk(); err != nil {
		t.Errorf("%s: Clunk() with ORCLOSE = %v", p, err)
	}
	s.gone(t, p)
}

// testConcurrent has writers fill files of their own while readers read a
// shared one, all at once; run under -race it also finds unguarded state.
func (s *suite) testConcurrent(t testing.TB) {
	const (
		writers = 4
		readers = 4
		rounds  = 32
		block   = 512
	)
	shared := s.sp("big")
	want, err := s.get(shared)
	if err != nil {
		t.Errorf("read %s = %v", shared, err)
		return
	}
	var wg sync.WaitGroup
	for w := range writers {
		p := s.sp(fmt.Sprintf("conc%d", w))
		f, _, err := s.create(p, 0666, ns.ORDWR)
		if err != nil {
			t.Errorf("Create(%s) = %v", p, err)
			continue
		}
		wg.Go(func() {
			defer f.Clunk()
			for i := range rounds {
				b := bytes.Repeat([]byte{byte(w*rounds + i)}, block)
				if n, err := f.Write(s.ctx, b, int64(i*block)); n != block || err != nil {
					t.Errorf("%s: Write(off %d) = %d, %v", p, i*block, n, err)
					return
				}
				got := make([]byte, block)
				if n, err := f.Read(s.ctx, got, int64(i*block)); n != block || err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s: Read(off %d) right after Write = %d, %v, %s; want %s", p, i*block, n, err, short(got), short(b))
					return
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			f, err := s.open(shared, ns.OREAD)
			if err != nil {
				t.Errorf("Open(%s) = %v", shared, err)
				return
			}
			defer f.Clunk()
			for range rounds / 4 {
				got, err := s.readAll(s.ctx, f, 4096+r)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: concurrent Read = %s, %v; want %s", shared, short(got), err, short(want))
					return
				}
			}
		})
	}
	wg.Wait()
	for w := range writers {
		var b []byte
		for i := range rounds {
			b = append(b, bytes.Repeat([]byte{byte(w*rounds + i)}, block)...)
		}
		s.check(t, s.sp(fmt.Sprintf("conc%d", w)), b)
	}
}
