package hostfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"loom/ns"
	"loom/ns/nstest"
)

var ctx = context.Background()

// newFS serves dir, closing the FS at the end of the test.
func newFS(t *testing.T, dir string, opts ...Option) *FS {
	t.Helper()
	fsys, err := New(dir, opts...)
	if err != nil {
		t.Fatalf("New(%q) = %v", dir, err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// root attaches to fsys, clunking the root at the end of the test.
func root(t *testing.T, fsys *FS) ns.File {
	t.Helper()
	r, err := fsys.Attach(ctx, "loom", "")
	if err != nil {
		t.Fatalf("Attach = %v", err)
	}
	t.Cleanup(func() { r.Clunk() })
	return r
}

// walkTo walks from f along the slash-separated p, which may hold "..",
// and gives an error satisfying fs.ErrNotExist for a partial walk.
func walkTo(f ns.File, p string) (ns.File, error) {
	var names []string
	if p != "" {
		names = strings.Split(p, "/")
	}
	qids, nf, err := f.Walk(ctx, names)
	if err == nil && nf == nil {
		err = fmt.Errorf("walk stopped after %d of %d names: %w", len(qids), len(names), ns.ErrNotExist)
	}
	return nf, err
}

// cat walks from f to p, reads it whole and clunks it.
func cat(f ns.File, p string) (string, error) {
	nf, err := walkTo(f, p)
	if err != nil {
		return "", err
	}
	defer nf.Clunk()
	if _, err := nf.Open(ctx, ns.OREAD); err != nil {
		return "", err
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := nf.Read(ctx, buf, int64(len(out)))
		if err != nil {
			return string(out), err
		}
		if n == 0 {
			return string(out), nil
		}
		out = append(out, buf[:n]...)
	}
}

// ls lists the directory p under f, sorted.
func ls(f ns.File, p string) ([]string, error) {
	nf, err := walkTo(f, p)
	if err != nil {
		return nil, err
	}
	defer nf.Clunk()
	if _, err := nf.Open(ctx, ns.OREAD); err != nil {
		return nil, err
	}
	ds, err := nf.ReadDir(ctx, 0, 1<<16)
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names, err
}

// mkTree makes the files (name ending in "/" for a directory, "->" for a
// symbolic link: "name->target") under dir.
func mkTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(p, 0755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(data, "->"):
			if err := os.Symlink(data[2:], p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(data), 0644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestConformance(t *testing.T) {
	nstest.TestFS(t, newFS(t, t.TempDir()))
}

func TestConformanceReadOnly(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("0123456789abcdef", 8<<10)
	mkTree(t, dir, map[string]string{
		"README":        "read me\n",
		"big":           big,
		"empty":         "",
		"a/b/c":         "deep\n",
		"a/empty/":      "",
		"lib":           "->a/b",
		"abs":           "->/a/b/c",
		"a/b/up":        "->../../README",
		"dangling":      "->nowhere",
		"loop":          "->loop",
		"out":           "->../..",
		"etc/passwd":    "not the host's\n",
		"a/b/etcpasswd": "->/etc/passwd",
	})
	before := hostSnapshot(t, dir)
	nstest.TestFS(t, newFS(t, dir, ReadOnly()), nstest.ReadOnly(),
		nstest.Expect("README", "a/b/c", "lib/c", "abs", "a/b/up", "out/README"))
	if after := hostSnapshot(t, dir); after != before {
		t.Errorf("host tree after read-only tests:\n%s\nwant unchanged:\n%s", after, before)
	}
}

// hostSnapshot describes everything under dir as the host sees it,
// contents and times included.
func hostSnapshot(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %o %d %d.%d %d.%d", p, st.Mode, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", data[:min(len(data), 32)])
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// escapeTree lays out a root with a sentinel beside it and every kind of
// symbolic link that would lead to the sentinel if followed as the host
// follows links. It returns the root and the sentinel's content.
func escapeTree(t *testing.T) (string, string) {
	t.Helper()
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	dir := filepath.Join(top, "root")
	const secret = "SECRET: outside the root\n"
	mkTree(t, outside, map[string]string{"secret": secret, "d/secret": secret})
	mkTree(t, dir, map[string]string{
		"inside":           "inside\n",
		"etc/passwd":       "the root's own passwd\n",
		"a/b/c/file":       "deep\n",
		"abs_etc":          "->/etc",
		"abs_outside":      "->" + outside,
		"abs_secret":       "->" + filepath.Join(outside, "secret"),
		"rel_up":           "->../outside",
		"rel_secret":       "->../outside/secret",
		"a/b/c/up3":        "->../../../../outside/secret",
		"a/b/c/upmany":     "->" + strings.Repeat("../", 40) + "outside",
		"a/b/root":         "->/",
		"a/mid":            "->../..",
		"chain1":           "->chain2",
		"chain2":           "->a/chain3",
		"a/chain3":         "->../../outside",
		"chain_in1":        "->a/chain_in2",
		"a/chain_in2":      "->/a/b/c/file",
		"loop1":            "->loop2",
		"loop2":            "->loop1",
		"self":             "->self",
		"proc_root":        "->/proc/self/root" + outside,
		"proc_cwd":         "->/proc/self/cwd",
		"dotdot_in_target": "->a/../../outside/secret",
		"a/b/c/via_root":   "->/../../outside/secret",
	})
	// The trap is real: the host, following links its own way, reaches
	// the sentinel through these.
	for _, p := range []string{"abs_secret", "rel_secret", "a/b/c/up3", "chain1/secret", "a/mid/outside/secret", "dotdot_in_target"} {
		if data, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(data) != secret {
			t.Fatalf("host read of %s = %q, %v; want the sentinel (the test's trap is broken)", p, data, err)
		}
	}
	return dir, secret
}

func TestEscapeWalk(t *testing.T) {
	dir, secret := escapeTree(t)
	r := root(t, newFS(t, dir))
	tests := []struct {
		path string
		want string // the content read, or "" for a file that does not exist
	}{
		{"inside", "inside\n"},
		{"abs_etc/passwd", "the root's own passwd\n"},
		{"abs_outside/secret", ""},
		{"abs_secret", ""},
		{"rel_up/secret", ""},
		{"rel_secret", ""},
		{"a/b/c/up3", ""},
		{"a/b/c/upmany/secret", ""},
		{"a/b/c/upmany/inside", ""}, // upmany clamps at the root: root/outside is not there
		{"a/b/root/inside", "inside\n"},
		{"a/b/root/outside/secret", ""},
		{"a/mid/inside", "inside\n"},
		{"a/mid/outside/secret", ""},
		{"a/mid/a/mid/a/mid/inside", "inside\n"},
		{"chain1/secret", ""},
		{"chain_in1", "deep\n"},
		{"loop1", ""},
		{"self", ""},
		{"proc_root/secret", ""},
		{"proc_cwd/inside", ""},
		{"dotdot_in_target", ""},
		{"a/b/c/via_root", ""},
		{"..", ""}, // a directory, not a file: checked below
		{"../outside/secret", ""},
		{"../../../../outside/secret", ""},
		{"a/b/c/../../../../outside/secret", ""},
		{"a/b/c/../../../../inside", "inside\n"},
		{strings.Repeat("../", 15) + "inside", "inside\n"},
		{"a/mid/../../../outside/secret", ""},
	}
	for _, tt := range tests {
		got, err := cat(r, tt.path)
		if strings.Contains(got, "SECRET") || got == secret {
			t.Errorf("cat(%s) = %q; the sentinel outside the root was read", tt.path, got)
			continue
		}
		if tt.path == ".." {
			continue
		}
		switch {
		case tt.want == "" && !errors.Is(err, fs.ErrNotExist):
			t.Errorf("cat(%s) = %q, %v; want an error satisfying fs.ErrNotExist", tt.path, got, err)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("cat(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}

	// ".." from the root, however often, is the root; elsewhere it is
	// lexical: back the way the walk came, links or not.
	for _, tt := range []struct{ path, want string }{
		{"..", ""},
		{"../..", ""},
		{strings.Repeat("../", 15) + "..", ""},
		{"a/b/c/../../../..", ""},
		{"a/mid/..", "a"},
		{"a/b/root/../..", "a"},
		{"a/b/root/../../..", ""},
		{"abs_etc/..", ""},
	} {
		f, err := walkTo(r, tt.path)
		if err != nil {
			t.Errorf("walk(%s) = %v; want a directory", tt.path, err)
			continue
		}
		d, err := f.Stat(ctx)
		f.Clunk()
		w, _ := walkTo(r, tt.want)
		wd, _ := w.Stat(ctx)
		w.Clunk()
		if err != nil || d.Qid.Path != wd.Qid.Path {
			t.Errorf("walk(%s).Stat() = %v, %v; want %q's qid %v", tt.path, d.Qid, err, "/"+tt.want, wd.Qid)
		}
	}

	// Listings leave out links that lead nowhere, so that everything
	// listed can be walked to.
	names, err := ls(r, "")
	if err != nil {
		t.Fatalf("ls / = %v", err)
	}
	for _, bad := range []string{"abs_secret", "rel_secret", "loop1", "loop2", "self", "proc_root", "dotdot_in_target"} {
		if slices.Contains(names, bad) {
			t.Errorf("ls / = %v; want no %s (it leads nowhere inside the root)", names, bad)
		}
	}
	for _, good := range []string{"inside", "abs_etc", "chain_in1", "etc", "a"} {
		if !slices.Contains(names, good) {
			t.Errorf("ls / = %v; want %s in it", names, good)
		}
	}
}

// TestEscapeMutate checks that changes through links stay inside: a
// create onto a link pointing out, a remove of a link, a rename to a
// path.
func TestEscapeMutate(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "root")
	outside := filepath.Join(top, "outside")
	mkTree(t, outside, map[string]string{"keep": "keep\n"})
	mkTree(t, dir, map[string]string{
		"to_new":    "->" + filepath.Join(outside, "new"),
		"to_newrel": "->../outside/new",
		"to_keep":   "->../outside/keep",
		"to_out":    "->" + outside,
		"sub/x":     "x\n",
		"target":    "target\n",
		"ln":        "->target",
	})
	r := root(t, newFS(t, dir))
	// Create onto a dangling link that points out fails: the link is
	// there.
	for _, name := range []string{"to_new", "to_newrel", "to_keep"} {
		f, _, err := r.(ns.Creater).Create(ctx, name, 0666, ns.OWRITE)
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("Create(%s) = %v; want an error satisfying fs.ErrExist", name, err)
		}
		if f != nil {
			f.Clunk()
		}
	}
	if _, err := os.Lstat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("outside/new: Lstat = %v; want it not made", err)
	}
	// Removing a link removes the link, not what it points at.
	f, err := walkTo(r, "ln")
	if err != nil {
		t.Fatalf("walk(ln) = %v", err)
	}
	if err := f.(ns.Remover).Remove(ctx); err != nil {
		t.Errorf("Remove(ln) = %v", err)
	}
	f.Clunk()
	if _, err := os.Lstat(filepath.Join(dir, "ln")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ln: Lstat after Remove = %v; want gone", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "target")); err != nil || string(data) != "target\n" {
		t.Errorf("target after removing ln = %q, %v; want it kept", data, err)
	}
	// A rename takes a name, not a path.
	for _, name := range []string{"../escaped", "sub/x2", "..", ".", "a\x00b", "/abs"} {
		f, err := walkTo(r, "target")
		if err != nil {
			t.Fatal(err)
		}
		d := ns.NullDir()
		d.Name = name
		if err := f.(ns.Wstater).Wstat(ctx, d); !errors.Is(err, ns.ErrBadName) {
			t.Errorf("Wstat(target, Name %q) = %v; want %v", name, err, ns.ErrBadName)
		}
		f.Clunk()
	}
	if _, err := os.Lstat(filepath.Join(top, "escaped")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("escaped: Lstat = %v; want not there", err)
	}
	// Creating through a walked link to outside is impossible: the walk
	// fails.
	if _, err := walkTo(r, "to_out"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk(to_out) = %v; want an error satisfying fs.ErrNotExist", err)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("outside holds %v; want only keep", ents)
	}
}

// TestHeldAcrossRename checks that a File stays on its file when the file
// or a directory above it is renamed or replaced afterwards.
func TestHeldAcrossRename(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "root")
	outside := filepath.Join(top, "outside")
	mkTree(t, outside, map[string]string{"f": "SECRET\n"})
	mkTree(t, dir, map[string]string{"d/f": "inside\n", "d/g": "g\n"})
	r := root(t, newFS(t, dir))
	d, err := walkTo(r, "d")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Clunk()
	g, err := walkTo(r, "d/g")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Clunk()
	// On the host: d moves away inside the root and a link to outside
	// takes its name.
	if err := os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	if got, err := cat(d, "f"); err != nil || got != "inside\n" {
		t.Errorf("cat(f) from the File of d after d was replaced = %q, %v; want %q", got, err, "inside\n")
	}
	if _, err := g.Open(ctx, ns.OREAD); err != nil {
		t.Fatalf("Open(d/g) after rename = %v", err)
	}
	buf := make([]byte, 16)
	if n, err := g.Read(ctx, buf, 0); err != nil || string(buf[:n]) != "g\n" {
		t.Errorf("Read(d/g) after rename = %q, %v; want %q", buf[:n], err, "g\n")
	}
	if got, err := cat(r, "d/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cat(d/f) from the root after d became a link out = %q, %v; want not there", got, err)
	}
	// A File whose entry was replaced cannot remove the new entry.
	if err := d.(ns.Remover).Remove(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(d) after d was replaced = %v; want fs.ErrNotExist", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "d")); err != nil {
		t.Errorf("d: Lstat = %v; want the link kept", err)
	}
}

func TestSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0666); err != nil {
		t.Fatal(err)
	}
	// A device node inside the root would lead to the device itself.
	if err := unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	r := root(t, newFS(t, dir))
	for _, name := range []string{"fifo", "null"} {
		for _, mode := range []uint8{ns.OREAD, ns.OWRITE} {
			f, err := walkTo(r, name)
			if err != nil {
				t.Fatalf("walk(%s) = %v", name, err)
			}
			if _, err := f.Open(ctx, mode); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Open(%s, %d) = %v; want an error satisfying fs.ErrPermission", name, mode, err)
			}
			if _, err := f.Stat(ctx); err != nil {
				t.Errorf("Stat(%s) = %v", name, err)
			}
			f.Clunk()
		}
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir, map[string]string{"f": "data\n", "d/g": "g\n", "ln": "->f"})
	before := hostSnapshot(t, dir)
	r := root(t, newFS(t, dir, ReadOnly()))
	perm := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s = %v; want an error satisfying fs.ErrPermission", what, err)
		}
	}
	nd := func(set func(*ns.Dir)) ns.Dir { d := ns.NullDir(); set(&d); return d }
	for _, p := range []string{"f", "d", "ln", "d/g"} {
		for _, m := range []uint8{ns.OWRITE, ns.ORDWR, ns.OREAD | ns.OTRUNC, ns.OREAD | ns.ORCLOSE, ns.OEXEC | ns.OTRUNC} {
			f, err := walkTo(r, p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Open(ctx, m)
			perm(fmt.Sprintf("Open(%s, %#x)", p, m), err)
			f.Clunk()
		}
		for _, w := range []struct {
			what string
			d    ns.Dir
		}{
			{"Name", nd(func(d *ns.Dir) { d.Name = "renamed" })},
			{"Mode", nd(func(d *ns.Dir) { d.Mode = 0700 })},
			{"Mtime", nd(func(d *ns.Dir) { d.Mtime = 12345 })},
			{"Atime", nd(func(d *ns.Dir) { d.Atime = 12345 })},
			{"Length", nd(func(d *ns.Dir) { d.Length = 1 })},
			{"Gid", nd(func(d *ns.Dir) { d.Gid = "nogroup" })},
		} {
			f, _ := walkTo(r, p)
			perm(fmt.Sprintf("Wstat(%s, %s)", p, w.what), f.(ns.Wstater).Wstat(ctx, w.d))
			f.Clunk()
		}
		f, _ := walkTo(r, p)
		perm(fmt.Sprintf("Remove(%s)", p), f.(ns.Remover).Remove(ctx))
		f.Clunk()
	}
	for _, p := range []string{"", "d"} {
		for _, perm0 := range []ns.Perm{0666, ns.DMDIR | 0777} {
			f, _ := walkTo(r, p)
			nf, _, err := f.(ns.Creater).Create(ctx, "new", perm0, ns.OREAD)
			perm(fmt.Sprintf("Create(%s/new, %v)", p, perm0), err)
			if nf != nil {
				nf.Clunk()
			}
			f.Clunk()
		}
	}
	// Reading still works, and a Wstat that changes nothing is no change.
	if got, err := cat(r, "ln"); err != nil || got != "data\n" {
		t.Errorf("cat(ln) = %q, %v; want %q", got, err, "data\n")
	}
	f, _ := walkTo(r, "f")
	if err := f.(ns.Wstater).Wstat(ctx, ns.NullDir()); err != nil {
		t.Errorf("Wstat(f, NullDir) = %v; want nil", err)
	}
	f.Clunk()
	if after := hostSnapshot(t, dir); after != before {
		t.Errorf("host tree after refused changes:\n%s\nwant unchanged:\n%s", after, before)
	}
}

func TestStatAndWstat(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir, map[string]string{"f": "0123456789", "d/": ""})
	r := root(t, newFS(t, dir))
	f, err := walkTo(r, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	d0, err := f.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(filepath.Join(dir, "f"), &st)
	if d0.Qid.Path != st.Ino || d0.Length != 10 || d0.Mode != 0644 || d0.Name != "f" || d0.Qid.Type != ns.QTFILE {
		t.Errorf("Stat(f) = %v; want qid path %#x, length 10, mode 0644", d0, st.Ino)
	}
	if want := fmt.Sprint(os.Getuid()); d0.Uid != "root" && d0.Uid != want {
		t.Errorf("Stat(f).Uid = %q; want root or %s", d0.Uid, want)
	}
	rd, _ := r.Stat(ctx)
	if rd.Name != "/" || !rd.Mode.IsDir() || rd.Qid.Type != ns.QTDIR || rd.Length != 0 {
		t.Errorf("Stat(/) = %v; want a directory named /", rd)
	}

	w := func(set func(*ns.Dir)) error {
		d := ns.NullDir()
		set(&d)
		return f.(ns.Wstater).Wstat(ctx, d)
	}
	if err := w(func(d *ns.Dir) { d.Mode = 0600; d.Mtime = 1000; d.Length = 4 }); err != nil {
		t.Errorf("Wstat(f, Mode 0600, Mtime 1000, Length 4) = %v", err)
	}
	unix.Stat(filepath.Join(dir, "f"), &st)
	if st.Mode&0777 != 0600 || st.Mtim.Sec != 1000 || st.Size != 4 {
		t.Errorf("host stat after Wstat = mode %o mtime %d size %d; want 0600 1000 4", st.Mode&0777, st.Mtim.Sec, st.Size)
	}
	d1, _ := f.Stat(ctx)
	if d1.Qid.Vers == d0.Qid.Vers {
		t.Errorf("Qid.Vers after Wstat = %d; want a change from %d", d1.Qid.Vers, d0.Qid.Vers)
	}
	if err := w(func(d *ns.Dir) { d.Gid = "0" }); err != nil {
		t.Errorf("Wstat(f, Gid 0) = %v", err)
	}
	for _, tt := range []struct {
		what string
		set  func(*ns.Dir)
		want error
	}{
		{"Mode DMDIR", func(d *ns.Dir) { d.Mode = ns.DMDIR | 0755 }, ns.ErrInvalid},
		{"Mode DMAPPEND", func(d *ns.Dir) { d.Mode = ns.DMAPPEND | 0644 }, ns.ErrNotSupp},
		{"Uid", func(d *ns.Dir) { d.Uid = "nobody" }, ns.ErrPerm},
		{"Qid.Path", func(d *ns.Dir) { d.Qid.Path = 7 }, ns.ErrPerm},
		{"Gid unknown", func(d *ns.Dir) { d.Gid = "no-such-group-here" }, ns.ErrInvalid},
		{"Name d (taken), Length 0", func(d *ns.Dir) { d.Name = "d"; d.Length = 0 }, ns.ErrExist},
	} {
		if err := w(tt.set); !errors.Is(err, tt.want) {
			t.Errorf("Wstat(f, %s) = %v; want %v", tt.what, err, tt.want)
		}
	}
	unix.Stat(filepath.Join(dir, "f"), &st)
	if st.Mode&0777 != 0600 || st.Size != 4 {
		t.Errorf("host stat after refused Wstats = mode %o size %d; want 0600 4", st.Mode&0777, st.Size)
	}
	if err := w(func(d *ns.Dir) { d.Name = "g" }); err != nil {
		t.Errorf("Wstat(f, Name g) = %v", err)
	}
	if d, err := f.Stat(ctx); err != nil || d.Name != "g" {
		t.Errorf("Stat() after rename = %v, %v; want name g", d, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "g")); err != nil || string(data) != "0123" {
		t.Errorf("host g = %q, %v; want %q", data, err, "0123")
	}
	dd, _ := walkTo(r, "d")
	defer dd.Clunk()
	d := ns.NullDir()
	d.Length = 0
	if err := dd.(ns.Wstater).Wstat(ctx, d); err != nil {
		t.Errorf("Wstat(d, Length 0) = %v; want nil (no change)", err)
	}
	d.Length = 5
	if err := dd.(ns.Wstater).Wstat(ctx, d); !errors.Is(err, ns.ErrIsDir) {
		t.Errorf("Wstat(d, Length 5) = %v; want %v", err, ns.ErrIsDir)
	}
}

func TestCreateModes(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0750); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "d"), 0750)
	r := root(t, newFS(t, dir))
	d, _ := walkTo(r, "d")
	defer d.Clunk()
	// Plan 9's rule, not the umask: a file gets perm&(~0666|dir&0666), a
	// directory perm&(~0777|dir&0777).
	for _, tt := range []struct {
		name string
		perm ns.Perm
		want uint32
	}{
		{"f", 0666, 0640},
		{"x", 0777, 0751},
		{"sub", ns.DMDIR | 0777, 0750},
	} {
		nf, q, err := d.(ns.Creater).Create(ctx, tt.name, tt.perm, ns.OREAD)
		if err != nil {
			t.Errorf("Create(%s, %v) = %v", tt.name, tt.perm, err)
			continue
		}
		nf.Clunk()
		var st unix.Stat_t
		unix.Stat(filepath.Join(dir, "d", tt.name), &st)
		if st.Mode&0777 != tt.want || q.IsDir() != tt.perm.IsDir() {
			t.Errorf("Create(%s, %v): host mode %o, qid %v; want %o", tt.name, tt.perm, st.Mode&0777, q, tt.want)
		}
	}
	if _, _, err := d.(ns.Creater).Create(ctx, "a", ns.DMAPPEND|0666, ns.OREAD); !errors.Is(err, ns.ErrNotSupp) {
		t.Errorf("Create(a, DMAPPEND) = %v; want %v", err, ns.ErrNotSupp)
	}
	for _, name := range []string{"..", ".", "a/b", ""} {
		if _, _, err := d.(ns.Creater).Create(ctx, name, 0666, ns.OREAD); !errors.Is(err, ns.ErrBadName) {
			t.Errorf("Create(%q) = %v; want %v", name, err, ns.ErrBadName)
		}
	}
}

// openFds counts this process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestNoDescriptorLeft(t *testing.T) {
	dir := t.TempDir()
	mkTree(t, dir, map[string]string{"a/b/c": "c", "a/ln": "->b", "loop": "->loop"})
	// A first round lets the runtime open what it keeps open for good
	// (the poller's descriptors).
	exercise(t, dir, 1)
	before := openFds(t)
	exercise(t, dir, 20)
	if after := openFds(t); after != before {
		t.Errorf("open descriptors after = %d; want %d as before", after, before)
	}
}

// exercise walks, opens, lists, creates and removes in dir rounds times
// with a new FS, and closes everything.
func exercise(t *testing.T, dir string, rounds int) {
	fsys, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := fsys.Attach(ctx, "loom", "")
	for range rounds {
		for _, p := range []string{"a/b/c", "a/ln/c", "a/b/../b/c", "loop", "a/nope", "a/b/c/x"} {
			f, err := walkTo(r, p)
			if err != nil {
				continue
			}
			f.Open(ctx, ns.OREAD)
			f.Clunk()
		}
		ls(r, "a")
		f, _ := walkTo(r, "a")
		nf, _, err := f.(ns.Creater).Create(ctx, "tmp", 0666, ns.ORDWR|ns.ORCLOSE)
		if err != nil {
			t.Fatalf("Create(a/tmp) = %v", err)
		}
		nf.Clunk()
		f.Clunk()
	}
	r.Clunk()
	fsys.Close()
}

func TestMapErr(t *testing.T) {
	for _, tt := range []struct {
		in   error
		want error
	}{
		{unix.ENOENT, fs.ErrNotExist},
		{unix.EXDEV, fs.ErrNotExist},
		{unix.EACCES, fs.ErrPermission},
		{unix.EPERM, fs.ErrPermission},
		{unix.EROFS, fs.ErrPermission},
		{unix.EEXIST, fs.ErrExist},
		{unix.ENOTDIR, ns.ErrNotDir},
		{unix.EISDIR, ns.ErrIsDir},
		{unix.ENOTEMPTY, ns.ErrNotEmpty},
		{unix.ENAMETOOLONG, ns.ErrNameTooBig},
		{unix.ELOOP, fs.ErrNotExist},
		{&os.PathError{Op: "open", Path: "x", Err: unix.ENOENT}, fs.ErrNotExist},
	} {
		if got := mapErr(tt.in); !errors.Is(got, tt.want) {
			t.Errorf("mapErr(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
	if mapErr(nil) != nil {
		t.Errorf("mapErr(nil) = %v; want nil", mapErr(nil))
	}
}

func TestBigReadWrite(t *testing.T) {
	dir := t.TempDir()
	r := root(t, newFS(t, dir))
	f, _, err := r.(ns.Creater).Create(ctx, "big", 0666, ns.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	data := bytes.Repeat([]byte("loom hostfs "), 100000)
	if n, err := f.Write(ctx, data, 0); n != len(data) || err != nil {
		t.Fatalf("Write(%d bytes) = %d, %v", len(data), n, err)
	}
	host, err := os.ReadFile(filepath.Join(dir, "big"))
	if err != nil || !bytes.Equal(host, data) {
		t.Errorf("host read of big = %d bytes, %v; want what was written", len(host), err)
	}
	buf := make([]byte, len(data)+10)
	if n, err := f.Read(ctx, buf, 0); n != len(data) || err != nil || !bytes.Equal(buf[:n], data) {
		t.Errorf("Read = %d, %v; want %d bytes as written", n, err, len(data))
	}
	if n, err := f.Read(ctx, buf, int64(len(data))); n != 0 || err != nil {
		t.Errorf("Read at end = %d, %v; want 0, nil", n, err)
	}
	if n := testing.AllocsPerRun(100, func() { f.Read(ctx, buf[:128], 4096) }); n != 0 {
		t.Errorf("Read allocates %v times; want 0", n)
	}
}
