// Package nstest is the conformance suite for loom's file servers: one
// call, TestFS, from each server's tests checks that it keeps the rules of
// the ns seam (walk, open, read, readdir, stat and, where the server
// allows changes, create, write, wstat and remove), and runs the standard
// library's fstest.TestFS over the same tree through ns.IOFS.
//
// The suite reports every fault it finds rather than stopping at the first,
// so that one run shows everything a server gets wrong.
package nstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"loom/ns"
)

// Bounds on how much of a tree the suite looks at, so that a server with a
// large or endless tree still gets a test that ends.
const (
	maxDepth   = 8
	maxEntries = 2000
	maxRead    = 4 << 20
	// readGuard bounds how long one file's reads may take. It is not an
	// assertion about speed: it turns a read that blocks forever (a
	// stream the caller forgot to Skip) into a reported fault instead of
	// a hung test.
	readGuard = 20 * time.Second
)

// An Option changes what TestFS expects of a server.
type Option func(*config)

type config struct {
	user     string
	aname    string
	readOnly bool
	expect   []string
	skip     map[string]bool
}

// User makes the suite attach as user ("loom" by default).
func User(user string) Option { return func(c *config) { c.user = user } }

// Aname makes the suite attach to the tree aname ("" by default).
func Aname(aname string) Option { return func(c *config) { c.aname = aname } }

// ReadOnly says that the server refuses every change. The suite then
// checks that creating, writing, truncating, removing and wstat are all
// refused with an error satisfying errors.Is(err, fs.ErrPermission) and
// that the tree is the same afterwards; without it the suite works in a
// scratch directory that it makes under the root and removes at the end.
func ReadOnly() Option { return func(c *config) { c.readOnly = true } }

// Expect names paths (slash-separated, from the root, as io/fs has them)
// that the tree must hold.
func Expect(paths ...string) Option {
	return func(c *config) { c.expect = append(c.expect, paths...) }
}

// Skip names files whose contents the suite must leave alone: streams
// whose reads block, files that change on every read. They are still
// walked to and stat'ed.
func Skip(paths ...string) Option {
	return func(c *config) {
		for _, p := range paths {
			c.skip[p] = true
		}
	}
}

// TestFS checks fsys against the rules of the ns seam, reporting every
// fault through t. It runs its parts as subtests when t is a *testing.T.
// It calls only Helper, Logf and Errorf on t, so a test of the suite
// itself may pass a recorder that embeds a testing.TB.
func TestFS(t testing.TB, fsys ns.FS, opts ...Option) {
	t.Helper()
	c := config{user: "loom", skip: map[string]bool{}}
	for _, o := range opts {
		o(&c)
	}
	s := &suite{fsys: fsys, c: c, ctx: context.Background()}

	root, err := fsys.Attach(s.ctx, c.user, c.aname)
	if err != nil {
		t.Errorf("Attach(%q, %q) = %v; want a root", c.user, c.aname, err)
		return
	}
	defer root.Clunk()
	s.root = root

	run(t, "attach", s.testAttach)
	run(t, "walk", s.testWalk)

	var expect []string
	if !c.readOnly {
		scratch := s.makeScratch(t)
		if scratch == nil {
			return
		}
		defer s.removeScratch(t)
		expect = s.populate(t)
	}
	var snap map[string]ns.Dir
	run(t, "tree", func(t testing.TB) {
		snap = s.testTree(t)
	})
	for p := range snap {
		if len(expect) >= 200 {
			break
		}
		expect = append(expect, p)
	}
	expect = append(expect, c.expect...)
	run(t, "expect", func(t testing.TB) { s.testExpect(t, c.expect) })
	run(t, "fstest", func(t testing.TB) { s.testFstest(t, expect) })

	if c.readOnly {
		run(t, "readonly", func(t testing.TB) { s.testReadOnly(t, snap) })
		return
	}
	run(t, "create", s.testCreate)
	run(t, "readwrite", s.testReadWrite)
	run(t, "truncate", s.testTruncate)
	run(t, "rename", s.testRename)
	run(t, "remove", s.testRemove)
	run(t, "orclose", s.testORCLOSE)
	run(t, "concurrent", s.testConcurrent)
}

// run runs f as a subtest when t can have them, and inline otherwise.
func run(t testing.TB, name string, f func(testing.TB)) {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		tt.Run(name, func(t *testing.T) { f(t) })
		return
	}
	f(t)
}

type suite struct {
	fsys    ns.FS
	c       config
	ctx     context.Context
	root    ns.File
	scratch string // the scratch directory's name under the root
	file    string // the path of some regular file, if the tree has one
	dir     string // the path of some directory other than the root, if any
}

// walk walks from f along the slash-separated path p ("" or "." for f
// itself), at most 16 names at a time. A walk that stops short is an
// error satisfying fs.ErrNotExist.
func (s *suite) walk(f ns.File, p string) (ns.File, error) {
	if p == "" || p == "." {
		_, nf, err := f.Walk(s.ctx, nil)
		return nf, err
	}
	names := strings.Split(p, "/")
	cur := f
	for len(names) > 0 {
		step := names[:min(len(names), 16)]
		names = names[len(step):]
		qids, nf, err := cur.Walk(s.ctx, step)
		if cur != f {
			cur.Clunk()
		}
		if err == nil && nf == nil {
			err = fmt.Errorf("walk stopped after %d of %d names: %w", len(qids), len(step), ns.ErrNotExist)
		}
		if err != nil {
			return nil, err
		}
		cur = nf
	}
	return cur, nil
}

// stat walks to p from the root and stats it.
func (s *suite) stat(p string) (ns.Dir, error) {
	f, err := s.walk(s.root, p)
	if err != nil {
		return ns.Dir{}, err
	}
	defer f.Clunk()
	return f.Stat(s.ctx)
}

// open walks to p from the root and opens it with mode.
func (s *suite) open(p string, mode uint8) (ns.File, error) {
	f, err := s.walk(s.root, p)
	if err != nil {
		return nil, err
	}
	if _, err := f.Open(s.ctx, mode); err != nil {
		f.Clunk()
		return nil, err
	}
	return f, nil
}

// readAll reads an open file from the start in reads of chunk bytes, up to
// maxRead bytes.
func (s *suite) readAll(ctx context.Context, f ns.File, chunk int) ([]byte, error) {
	var out []byte
	buf := make([]byte, chunk)
	for len(out) < maxRead {
		n, err := f.Read(ctx, buf, int64(len(out)))
		if err != nil {
			return out, err
		}
		if n == 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	return out, nil
}

// readDir reads an open directory in pages of n entries, up to maxEntries.
func (s *suite) readDir(f ns.File, n int) ([]ns.Dir, error) {
	var out []ns.Dir
	for len(out) < maxEntries {
		ds, err := f.ReadDir(s.ctx, len(out), n)
		if err != nil {
			return out, err
		}
		if len(ds) == 0 {
			break
		}
		if len(ds) > n {
			return out, fmt.Errorf("ReadDir(%d, %d) gave %d entries", len(out), n, len(ds))
		}
		out = append(out, ds...)
	}
	return out, nil
}

func (s *suite) testAttach(t testing.TB) {
	d, err := s.root.Stat(s.ctx)
	if err != nil {
		t.Errorf("root Stat() = %v; want a Dir", err)
		return
	}
	if !d.Mode.IsDir() {
		t.Errorf("root Stat().Mode = %v; want a directory", d.Mode)
	}
	if !d.Qid.IsDir() {
		t.Errorf("root Stat().Qid = %v; want QTDIR", d.Qid)
	}
	if d.Name == "" || d.Name != "/" && strings.Contains(d.Name, "/") {
		t.Errorf("root Stat().Name = %q; want \"/\" or one element", d.Name)
	}
	// A second attach reaches the same root.
	r2, err := s.fsys.Attach(s.ctx, s.c.user, s.c.aname)
	if err != nil {
		t.Errorf("second Attach = %v; want a root", err)
		return
	}
	defer r2.Clunk()
	d2, err := r2.Stat(s.ctx)
	if err == nil && d2.Qid.Path != d.Qid.Path {
		t.Errorf("second Attach Stat().Qid = %v; want path of %v", d2.Qid, d.Qid)
	}
	// Opening a directory gives its qid.
	q, err := r2.Open(s.ctx, ns.OREAD)
	if err != nil {
		t.Errorf("root Open(OREAD) = %v; want success", err)
	} else if q.Path != d.Qid.Path || q.Type != d.Qid.Type {
		t.Errorf("root Open(OREAD) = %v; want %v", q, d.Qid)
	}
}

func (s *suite) testWalk(t testing.TB) {
	rd, err := s.root.Stat(s.ctx)
	if err != nil {
		t.Errorf("root Stat() = %v", err)
		return
	}

	qids, c, err := s.root.Walk(s.ctx, nil)
	switch {
	case err != nil:
		t.Errorf("Walk(nil) = %v; want a clone", err)
	case c == nil || len(qids) != 0:
		t.Errorf("Walk(nil) = %v, %v; want no qids and a File", qids, c)
	default:
		cd, err := c.Stat(s.ctx)
		if err != nil || cd.Qid.Path != rd.Qid.Path {
			t.Errorf("Walk(nil).Stat() = %v, %v; want qid %v", cd.Qid, err, rd.Qid)
		}
		// The clone is a File of its own: clunking it leaves the root.
		c.Clunk()
		if _, err := s.root.Stat(s.ctx); err != nil {
			t.Errorf("root Stat() after clunking a clone = %v", err)
		}
	}

	missing := "nstest-no-such-file"
	qids, f, err := s.root.Walk(s.ctx, []string{missing})
	if !errors.Is(err, fs.ErrNotExist) || f != nil {
		t.Errorf("Walk(%q) = %v, %v, %v; want an error satisfying fs.ErrNotExist", missing, qids, f, err)
	}
	if f != nil {
		f.Clunk()
	}
	qids, f, err = s.root.Walk(s.ctx, []string{missing, "x"})
	if !errors.Is(err, fs.ErrNotExist) || f != nil {
		t.Errorf("Walk(%q, x) = %v, %v, %v; want an error satisfying fs.ErrNotExist", missing, qids, f, err)
	}
	if f != nil {
		f.Clunk()
	}

	qids, f, err = s.root.Walk(s.ctx, []string{".."})
	switch {
	case err != nil || f == nil:
		t.Errorf("Walk(..) from the root = %v, %v; want the root", f, err)
	case len(qids) != 1 || qids[0].Path != rd.Qid.Path:
		t.Errorf("Walk(..) from the root = %v; want [%v]", qids, rd.Qid)
		f.Clunk()
	default:
		if d, err := f.Stat(s.ctx); err != nil || d.Qid.Path != rd.Qid.Path {
			t.Errorf("Walk(..).Stat() from the root = %v, %v; want %v", d.Qid, err, rd.Qid)
		}
		f.Clunk()
	}

	// The receiver is unchanged by a walk.
	if d, err := s.root.Stat(s.ctx); err != nil || d.Qid.Path != rd.Qid.Path {
		t.Errorf("root Stat() after walks = %v, %v; want %v", d.Qid, err, rd.Qid)
	}
}

// testTree walks the whole tree (within bounds) and checks that what
// ReadDir says of each entry agrees with walking to it and stat'ing it. It
// returns every entry's Dir by path.
func (s *suite) testTree(t testing.TB) map[string]ns.Dir {
	snap := map[string]ns.Dir{}
	type item struct {
		path  string
		depth int
	}
	queue := []item{{".", 0}}
	for len(queue) > 0 && len(snap) < maxEntries {
		it := queue[0]
		queue = queue[1:]
		for _, e := range s.checkDir(t, it.path) {
			p := path.Join(it.path, e.Name)
			if _, ok := snap[p]; ok {
				continue
			}
			snap[p] = e
			switch {
			case e.Mode.IsDir():
				if s.dir == "" {
					s.dir = p
				}
				if it.depth+1 < maxDepth {
					queue = append(queue, item{p, it.depth + 1})
				}
			case s.c.skip[p]:
			default:
				if s.file == "" && e.Mode&(ns.DMAPPEND|ns.DMEXCL) == 0 {
					s.file = p
				}
				s.checkFile(t, p, e)
			}
		}
	}
	return snap
}

// checkDir checks the directory p and its entries, returning the entries.
func (s *suite) checkDir(t testing.TB, p string) []ns.Dir {
	dir, err := s.walk(s.root, p)
	if err != nil {
		t.Errorf("walk(%s) = %v; want the directory", p, err)
		return nil
	}
	defer dir.Clunk()
	dd, err := dir.Stat(s.ctx)
	if err != nil {
		t.Errorf("%s: Stat() = %v", p, err)
		return nil
	}
	_, o, err := dir.Walk(s.ctx, nil)
	if err != nil {
		t.Errorf("%s: Walk(nil) = %v", p, err)
		return nil
	}
	defer o.Clunk()
	if _, err := o.Open(s.ctx, ns.OREAD); err != nil {
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: Open(OREAD) = %v; want success or a permission error", p, err)
		}
		return nil
	}
	all, err := s.readDir(o, 1<<16)
	if err != nil {
		t.Errorf("%s: ReadDir = %v", p, err)
	}
	ones, err := s.readDir(o, 1)
	if err != nil {
		t.Errorf("%s: ReadDir in pages of 1 = %v", p, err)
	}
	if !sameEntries(all, ones) {
		t.Errorf("%s: ReadDir in pages of 1 = %v; want %v", p, names(ones), names(all))
	}
	again, err := s.readDir(o, 1<<16)
	if err != nil || !sameEntries(all, again) {
		t.Errorf("%s: ReadDir again from 0 = %v, %v; want %v", p, names(again), err, names(all))
	}
	// Entries listed twice are reported and then checked once only, so
	// that a server repeating itself does not multiply the work.
	seen := map[string]bool{}
	uniq := all[:0:0]
	for _, e := range all {
		if seen[e.Name] {
			t.Errorf("%s: ReadDir lists %q twice", p, e.Name)
			continue
		}
		seen[e.Name] = true
		uniq = append(uniq, e)
		s.checkEntry(t, p, dir, dd, e)
	}
	return uniq
}

func sameEntries(a, b []ns.Dir) bool {
	return slices.EqualFunc(a, b, func(x, y ns.Dir) bool {
		return x.Name == y.Name && x.Qid.Path == y.Qid.Path
	})
}

func names(ds []ns.Dir) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// checkEntry checks that walking from the directory dir (at p, with Dir
// dd) to its entry e agrees with e.
func (s *suite) checkEntry(t testing.TB, p string, dir ns.File, dd ns.Dir, e ns.Dir) {
	ep := path.Join(p, e.Name)
	if e.Name == "" || e.Name == "." || e.Name == ".." || strings.Contains(e.Name, "/") {
		t.Errorf("%s: ReadDir gives an entry named %q", p, e.Name)
		return
	}
	if e.Mode.IsDir() != e.Qid.IsDir() {
		t.Errorf("%s: ReadDir entry Mode = %v, Qid = %v; want DMDIR iff QTDIR", ep, e.Mode, e.Qid)
	}
	qids, f, err := dir.Walk(s.ctx, []string{e.Name})
	if err != nil || f == nil || len(qids) != 1 {
		t.Errorf("Walk(%s) = %v, %v; want the entry ReadDir gave", ep, qids, err)
		if f != nil {
			f.Clunk()
		}
		return
	}
	defer f.Clunk()
	if qids[0].Path != e.Qid.Path || qids[0].Type != e.Qid.Type {
		t.Errorf("Walk(%s) = %v; want ReadDir's qid %v", ep, qids[0], e.Qid)
	}
	d, err := f.Stat(s.ctx)
	if err != nil {
		t.Errorf("%s: Stat() = %v", ep, err)
		return
	}
	if d.Name != e.Name {
		t.Errorf("%s: Stat().Name = %q; want %q", ep, d.Name, e.Name)
	}
	if d.Qid.Path != e.Qid.Path || d.Qid.Type != qids[0].Type {
		t.Errorf("%s: Stat().Qid = %v; want %v as walked", ep, d.Qid, qids[0])
	}
	if d.Mode.IsDir() != e.Mode.IsDir() || d.Mode.IsDir() != d.Qid.IsDir() {
		t.Errorf("%s: Stat().Mode = %v, Qid %v; want DMDIR as ReadDir's %v and QTDIR alike", ep, d.Mode, d.Qid, e.Mode)
	}

	// Back up with "..": the directory again.
	qids, up, err := dir.Walk(s.ctx, []string{e.Name, ".."})
	switch {
	case e.Mode.IsDir() && (err != nil || up == nil || len(qids) != 2 || qids[1].Path != dd.Qid.Path):
		t.Errorf("Walk(%s, ..) = %v, %v; want back at %v", ep, qids, err, dd.Qid)
	case !e.Mode.IsDir() && (err != nil || up != nil || len(qids) != 1):
		// Walking on from a file stops there: a partial walk.
		t.Errorf("Walk(%s, ..) = %v, File %v, %v; want one qid, no File and no error", ep, qids, up != nil, err)
	}
	if up != nil {
		up.Clunk()
	}
	if e.Mode.IsDir() {
		missing := "nstest-no-such-file"
		qids, nf, err := dir.Walk(s.ctx, []string{e.Name, missing})
		if err != nil || nf != nil || len(qids) != 1 || qids[0].Path != e.Qid.Path {
			t.Errorf("Walk(%s, %s) = %v, File %v, %v; want [%v], no File and no error", ep, missing, qids, nf != nil, err, e.Qid)
		}
		if nf != nil {
			nf.Clunk()
		}
	} else {
		qids, nf, err := dir.Walk(s.ctx, []string{e.Name, "x"})
		if err != nil || nf != nil || len(qids) != 1 {
			t.Errorf("Walk(%s, x) = %v, File %v, %v; want one qid, no File and no error", ep, qids, nf != nil, err)
		}
		if nf != nil {
			nf.Clunk()
		}
	}
}

// mayRead reports whether user may read a file of Dir d by its mode.
func mayRead(d ns.Dir, user string) bool {
	m := d.Mode
	return m&0004 != 0 || d.Uid == user && m&0400 != 0 || d.Gid == user && m&0040 != 0
}

// checkFile checks reading the file p whose ReadDir entry is e.
func (s *suite) checkFile(t testing.TB, p string, e ns.Dir) {
	f, err := s.walk(s.root, p)
	if err != nil {
		t.Errorf("walk(%s) = %v", p, err)
		return
	}
	defer f.Clunk()
	q, err := f.Open(s.ctx, ns.OREAD)
	if err != nil {
		if mayRead(e, s.c.user) {
			t.Errorf("%s: Open(OREAD) = %v; want success for mode %v and user %s", p, err, e.Mode, s.c.user)
		}
		return
	}
	if q.Path != e.Qid.Path || q.Type != e.Qid.Type {
		t.Errorf("%s: Open(OREAD) = %v; want %v", p, q, e.Qid)
	}
	ctx, cancel := context.WithTimeout(s.ctx, readGuard)
	defer cancel()
	whole, err := s.readAll(ctx, f, 64<<10)
	if err != nil {
		t.Errorf("%s: Read = %v (if it blocks, pass nstest.Skip)", p, err)
		return
	}
	piece := 7
	if len(whole) > 64<<10 {
		piece = 4093
	}
	pieces, err := s.readAll(ctx, f, piece)
	if err != nil {
		t.Errorf("%s: Read in %d-byte pieces = %v", p, piece, err)
	} else if !bytes.Equal(whole, pieces) {
		t.Errorf("%s: Read in %d-byte pieces = %s; want %s as in one read", p, piece, short(pieces), short(whole))
	}
	if e.Length != 0 && len(whole) < maxRead && e.Length != uint64(len(whole)) {
		t.Errorf("%s: Length = %d; read %d bytes", p, e.Length, len(whole))
	}
	if len(whole) < maxRead {
		buf := make([]byte, 16)
		for _, off := range []int64{int64(len(whole)), int64(len(whole)) + 1000} {
			if n, err := f.Read(ctx, buf, off); n != 0 || err != nil {
				t.Errorf("%s: Read(off %d) at end of file = %d, %v; want 0, nil", p, off, n, err)
			}
		}
	}
}

// short gives b for a failure message, cut down when long.
func short(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%q... (%d bytes)", b[:64], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func (s *suite) testExpect(t testing.TB, paths []string) {
	for _, p := range paths {
		if _, err := s.stat(p); err != nil {
			t.Errorf("walk(%s) = %v; want an expected file", p, err)
		}
	}
}

func (s *suite) testFstest(t testing.TB, expect []string) {
	fsys := guardFS{ns.IOFS(s.ctx, s.fsys, s.c.user, s.c.aname), s.c.skip}
	expect = slices.DeleteFunc(expect, func(p string) bool { return s.c.skip[p] })
	if err := fstest.TestFS(fsys, expect...); err != nil {
		t.Errorf("fstest.TestFS(ns.IOFS(...)) = %v", err)
	}
}

// guardFS stands between fstest and a server: it hides the paths to Skip,
// since fstest reads every file it finds, and bounds directory listings,
// since a server that lists without end would hold fstest forever.
type guardFS struct {
	fs.FS
	hide map[string]bool
}

func (g guardFS) Open(name string) (fs.File, error) {
	if g.hide[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := g.FS.Open(name)
	if d, ok := f.(fs.ReadDirFile); ok && err == nil {
		return &guardDir{ReadDirFile: d, dir: name, g: g, names: map[string]bool{}}, nil
	}
	return f, err
}

type guardDir struct {
	fs.ReadDirFile
	dir   string
	g     guardFS
	seen  int
	names map[string]bool
}

func (d *guardDir) ReadDir(n int) ([]fs.DirEntry, error) {
	var out []fs.DirEntry
	for {
		if d.seen >= maxEntries {
			if n > 0 && len(out) == 0 {
				return nil, io.EOF
			}
			return out, nil
		}
		want := n - len(out)
		if n <= 0 {
			want = 256
		}
		list, err := d.ReadDirFile.ReadDir(want)
		d.seen += len(list)
		list = slices.DeleteFunc(list, func(e fs.DirEntry) bool {
			// An entry listed again is dropped here: the suite's
			// own checks report it, and fstest would walk into it
			// once for each time.
			dup := d.names[e.Name()]
			d.names[e.Name()] = true
			return dup || d.g.hide[path.Join(d.dir, e.Name())]
		})
		out = append(out, list...)
		switch {
		case err == io.EOF && n <= 0:
			return out, nil
		case err == io.EOF && len(out) > 0:
			return out, nil
		case err != nil:
			return out, err
		case n > 0 && len(out) > 0:
			return out, nil
		}
	}
}

// testReadOnly checks that every change is refused and nothing changed.
func (s *suite) testReadOnly(t testing.TB, before map[string]ns.Dir) {
	perm := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s = %v; want an error satisfying fs.ErrPermission", what, err)
		}
	}
	for _, p := range []string{".", s.dir} {
		if p == "" {
			continue
		}
		for _, perm0 := range []ns.Perm{0666, ns.DMDIR | 0777} {
			d, err := s.walk(s.root, p)
			if err != nil {
				t.Errorf("walk(%s) = %v", p, err)
				continue
			}
			name := "nstest-ro"
			if c, ok := d.(ns.Creater); ok {
				nf, _, err := c.Create(s.ctx, name, perm0, ns.OREAD)
				perm(fmt.Sprintf("Create(%s, %v)", path.Join(p, name), perm0), err)
				if err == nil {
					nf.Clunk()
					if f, err := s.walk(d, name); err == nil {
						if r, ok := f.(ns.Remover); ok {
							r.Remove(s.ctx)
						}
						f.Clunk()
					}
				}
			}
			d.Clunk()
		}
	}
	for _, p := range []string{s.file, s.dir, "."} {
		if p == "" {
			continue
		}
		d, err := s.stat(p)
		if err != nil {
			t.Errorf("walk(%s) = %v", p, err)
			continue
		}
		modes := []uint8{ns.OREAD | ns.ORCLOSE}
		if !d.Mode.IsDir() {
			modes = append(modes, ns.OWRITE, ns.ORDWR, ns.OREAD|ns.OTRUNC)
		}
		for _, m := range modes {
			f, err := s.open(p, m)
			perm(fmt.Sprintf("Open(%s, %#x)", p, m), err)
			if err == nil {
				if m&3 != ns.OREAD {
					_, err := f.Write(s.ctx, []byte("x"), 0)
					perm(fmt.Sprintf("Write(%s) after Open(%#x)", p, m), err)
				}
				f.Clunk()
			}
		}
		wstats := []struct {
			what string
			set  func(*ns.Dir)
		}{
			{"Name", func(n *ns.Dir) { n.Name = "nstest-renamed" }},
			{"Mode", func(n *ns.Dir) { n.Mode = d.Mode ^ 0700 }},
			{"Mtime", func(n *ns.Dir) { n.Mtime = d.Mtime + 1000 }},
		}
		if !d.Mode.IsDir() {
			wstats = append(wstats, struct {
				what string
				set  func(*ns.Dir)
			}{"Length", func(n *ns.Dir) { n.Length = d.Length + 1 }})
		}
		for _, w := range wstats {
			f, err := s.walk(s.root, p)
			if err != nil {
				continue
			}
			if ws, ok := f.(ns.Wstater); ok {
				nd := ns.NullDir()
				w.set(&nd)
				perm(fmt.Sprintf("Wstat(%s, %s)", p, w.what), ws.Wstat(s.ctx, nd))
			}
			f.Clunk()
		}
		if f, err := s.walk(s.root, p); err == nil {
			if r, ok := f.(ns.Remover); ok {
				perm(fmt.Sprintf("Remove(%s)", p), r.Remove(s.ctx))
			}
			f.Clunk()
		}
	}
	after := s.snapshot()
	for p, d := range before {
		a, ok := after[p]
		switch {
		case !ok:
			t.Errorf("%s: gone from a read-only tree", p)
		case a.Qid != d.Qid || a.Mode != d.Mode || a.Length != d.Length || a.Mtime != d.Mtime:
			t.Errorf("%s: Stat() = %v after refused changes; want %v", p, a, d)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && len(before) < maxEntries {
			t.Errorf("%s: appeared in a read-only tree", p)
		}
	}
}

// snapshot lists the tree's entries by path, quietly.
func (s *suite) snapshot() map[string]ns.Dir {
	snap := map[string]ns.Dir{}
	queue := []string{"."}
	for len(queue) > 0 && len(snap) < maxEntries {
		p := queue[0]
		queue = queue[1:]
		f, err := s.open(p, ns.OREAD)
		if err != nil {
			continue
		}
		ds, _ := s.readDir(f, 1<<16)
		f.Clunk()
		for _, d := range ds {
			ep := path.Join(p, d.Name)
			snap[ep] = d
			if d.Mode.IsDir() && strings.Count(ep, "/") < maxDepth {
				queue = append(queue, ep)
			}
		}
	}
	return snap
}
