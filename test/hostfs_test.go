package test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	ninep "loom/9p"
	"loom/components/hostfs"
	"loom/ns/nstest"
)

// hostfsNew serves the host directory dir with hostfs, closing it at the
// end of the test.
func hostfsNew(tb testing.TB, dir string, opts ...hostfs.Option) *hostfs.FS {
	tb.Helper()
	fsys, err := hostfs.New(dir, opts...)
	if err != nil {
		tb.Fatalf("hostfs.New(%s) = %v", dir, err)
	}
	tb.Cleanup(func() { fsys.Close() })
	return fsys
}

// hostfsMount attaches a 9fans client to the 9P server on sock.
func hostfsMount(tb testing.TB, sock string) *client.Fsys {
	tb.Helper()
	conn, err := client.Dial("unix", sock)
	if err != nil {
		tb.Fatalf("client.Dial(%s) = %v", sock, err)
	}
	tb.Cleanup(func() { conn.Close() })
	fsys, err := conn.Attach(nil, "loom", "")
	if err != nil {
		tb.Fatalf("Attach = %v", err)
	}
	return fsys
}

// hostfsTree lays out a root with a sentinel beside it and links that
// lead to the sentinel when the host follows them. It returns the root.
func hostfsTree(t *testing.T) (dir, outside string) {
	t.Helper()
	top := t.TempDir()
	dir, outside = filepath.Join(top, "root"), filepath.Join(top, "outside")
	for p, data := range map[string]string{
		outside + "/secret":   "SECRET\n",
		dir + "/hello":        "hello, world\n",
		dir + "/sub/nested":   "nested\n",
		dir + "/etc/passwd":   "the root's own\n",
		dir + "/sub/deep/x":   "x\n",
		dir + "/sub/deep/y":   "y\n",
		dir + "/sub/deep/z/w": "w\n",
	} {
		os.MkdirAll(filepath.Dir(p), 0755)
		if err := os.WriteFile(p, []byte(data), 0644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{
		"abs_out":   outside,
		"rel_out":   "../outside",
		"etc_link":  "/etc",
		"sub/up":    "../../outside/secret",
		"sub/root":  "/",
		"sub/chain": "up",
		"loop":      "loop",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, outside
}

// TestHostfs9P drives a hostfs through loom's 9P server with the 9fans
// client: reads, writes, creates, listings, and every way out refused.
func TestHostfs9P(t *testing.T) {
	dir, _ := hostfsTree(t)
	fsys := hostfsMount(t, serveFS(t, hostfsNew(t, dir)))
	for _, tt := range []struct{ name, want string }{
		{"hello", "hello, world\n"},
		{"sub/nested", "nested\n"},
		{"sub/root/hello", "hello, world\n"},
		{"etc_link/passwd", "the root's own\n"},
		{"sub/../hello", "hello, world\n"},
		{"../../../hello", "hello, world\n"},
	} {
		if got, err := read9(fsys, tt.name); err != nil || got != tt.want {
			t.Errorf("read(%s) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	for _, name := range []string{"abs_out/secret", "rel_out/secret", "sub/up", "sub/chain", "loop",
		"../outside/secret", "../../../../outside/secret", "sub/root/../outside/secret"} {
		got, err := read9(fsys, name)
		if strings.Contains(got, "SECRET") {
			t.Errorf("read(%s) = %q; the sentinel outside the root was read", name, got)
		}
		// The 9fans client says "not found" for a walk that stops
		// short, and passes the server's error for one that fails at
		// the first name.
		if err == nil || !strings.Contains(err.Error(), "file does not exist") && !strings.Contains(err.Error(), "not found") {
			t.Errorf("read(%s) = %q, %v; want \"file does not exist\"", name, got, err)
		}
	}

	f, err := fsys.Create("made", plan9.ORDWR, 0644)
	if err != nil {
		t.Fatalf("Create(made) = %v", err)
	}
	if _, err := f.Write([]byte("made over 9P\n")); err != nil {
		t.Errorf("Write(made) = %v", err)
	}
	f.Close()
	if data, err := os.ReadFile(filepath.Join(dir, "made")); err != nil || string(data) != "made over 9P\n" {
		t.Errorf("host read of made = %q, %v; want what was written", data, err)
	}
	// ".." is lexical and stops at the root: this lands in the root.
	if f, err := fsys.Create("sub/root/../../../escaped", plan9.OWRITE, 0644); err != nil {
		t.Errorf("Create(sub/root/../../../escaped) = %v", err)
	} else {
		f.Close()
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escaped")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("escaped: Stat = %v; want not made outside the root", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped")); err != nil {
		t.Errorf("escaped: Stat in the root = %v; want it there", err)
	}

	d, err := fsys.Open("sub/deep", plan9.OREAD)
	if err != nil {
		t.Fatalf("Open(sub/deep) = %v", err)
	}
	ds, err := d.Dirreadall()
	d.Close()
	var names []string
	for _, e := range ds {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if err != nil || strings.Join(names, " ") != "x y z" {
		t.Errorf("ls sub/deep = %v, %v; want [x y z]", names, err)
	}
	st, err := fsys.Stat("sub/deep/z")
	if err != nil || st.Mode&plan9.DMDIR == 0 || st.Qid.Type&plan9.QTDIR == 0 {
		t.Errorf("Stat(sub/deep/z) = %v, %v; want a directory", st, err)
	}
	if err := fsys.Remove("made"); err != nil {
		t.Errorf("Remove(made) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "made")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("made: Stat after Remove = %v; want gone", err)
	}
}

// TestHostfs9PReadOnly checks that a read-only hostfs refuses every change
// over the wire and that nothing changes on disk.
func TestHostfs9PReadOnly(t *testing.T) {
	dir, _ := hostfsTree(t)
	before := hostfsSnapshot(t, dir)
	fsys := hostfsMount(t, serveFS(t, hostfsNew(t, dir, hostfs.ReadOnly())))
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s = %v; want \"permission denied\"", what, err)
		}
	}
	for _, m := range []uint8{plan9.OWRITE, plan9.ORDWR, plan9.OREAD | plan9.OTRUNC, plan9.OREAD | plan9.ORCLOSE} {
		f, err := fsys.Open("hello", m)
		refused(fmt.Sprintf("Open(hello, %#x)", m), err)
		if f != nil {
			f.Close()
		}
	}
	_, err := fsys.Create("new", plan9.OWRITE, 0644)
	refused("Create(new)", err)
	_, err = fsys.Create("newdir", plan9.OREAD, plan9.DMDIR|0755)
	refused("Create(newdir)", err)
	refused("Remove(hello)", fsys.Remove("hello"))
	refused("Remove(sub/deep/z/w)", fsys.Remove("sub/deep/z/w"))
	for _, set := range []func(*plan9.Dir){
		func(d *plan9.Dir) { d.Name = "renamed" },
		func(d *plan9.Dir) { d.Mode = 0600 },
		func(d *plan9.Dir) { d.Length = 0 },
		func(d *plan9.Dir) { d.Mtime = 1 },
	} {
		var d plan9.Dir
		d.Null()
		set(&d)
		refused("Wstat(hello)", fsys.Wstat("hello", &d))
	}
	if f, err := fsys.Open("hello", plan9.OREAD); err != nil {
		t.Errorf("Open(hello, OREAD) = %v; want reading allowed", err)
	} else {
		f.Close()
	}
	if after := hostfsSnapshot(t, dir); after != before {
		t.Errorf("host tree after refused changes:\n%s\nwant unchanged:\n%s", after, before)
	}
}

// hostfsSnapshot describes everything under dir as the host sees it.
func hostfsSnapshot(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + fi.Mode().String() + " " + fi.ModTime().String())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			b.WriteString(" " + string(data))
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// TestHostfsRemoteConformance runs the conformance suite over the wire:
// a hostfs served by loom's listener and reached with loom's client, in
// both dialects.
func TestHostfsRemoteConformance(t *testing.T) {
	sock := serveFS(t, hostfsNew(t, t.TempDir()))
	for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
		t.Run(dialect, func(t *testing.T) {
			c, err := ninep.Dial("unix!"+sock, ninep.Dialect(dialect))
			if err != nil {
				t.Fatalf("Dial = %v", err)
			}
			defer c.Close()
			nstest.TestFS(t, c)
		})
	}
}
