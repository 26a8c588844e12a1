package kinds

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"loom/components/exec"
	"loom/components/hostfs"
	"loom/components/pipe"
	"loom/components/ramfs"
	"loom/ns"
)

// mountKind mounts a new component of kind on dir of d's namespace, as
// the shell's mount does, and returns the name the namespace gives it.
func mountKind(t *testing.T, d *Default, dir, kind string, args ...string) string {
	t.Helper()
	mkdir(t, d.NS, dir)
	fsys, _, err := d.Resolve(bg, kind, args)
	if err != nil {
		t.Fatalf("Resolve(%s %q) = %v", kind, args, err)
	}
	n, ok := fsys.(ns.Namer)
	if !ok {
		t.Fatalf("Resolve(%s) gave a server with no name", kind)
	}
	if err := d.NS.Mount(fsys, dir, ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	return n.Name()
}

// TestComponents: every server a mount makes is a component named
// KIND.N, with its kind and arguments, and the namespace text says which
// one is mounted where.
func TestComponents(t *testing.T) {
	d := newDefault(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, kind string
		args      []string
		want      string
	}{
		{"/n/host", "hostfs", []string{host, "-ro"}, "hostfs.1"},
		{"/n/p", "pipe", nil, "pipe.1"},
		{"/n/x", "exec", []string{"tr", "a-z", "A-Z"}, "exec.1"},
		{"/n/r", "ramfs", nil, "ramfs.3"},
		{"/n/host2", "hostfs", []string{host}, "hostfs.2"},
	} {
		if got := mountKind(t, d, tc.dir, tc.kind, tc.args...); got != tc.want {
			t.Errorf("mount %s %s %q: named %s; want %s", tc.kind, tc.dir, tc.args, got, tc.want)
		}
	}
	var got []string
	for _, c := range d.Components() {
		got = append(got, strings.TrimSpace(c.Name+" "+c.Kind+" "+strings.Join(c.Args, " ")))
	}
	want := []string{"dev dev", "env env", "log log", "proc proc", "srv srv",
		"exec.1 exec tr a-z A-Z", "hostfs.1 hostfs " + host + " -ro", "hostfs.2 hostfs " + host,
		"pipe.1 pipe", "ramfs.1 ramfs", "ramfs.2 ramfs", "ramfs.3 ramfs"}
	if !slices.Equal(got, want) {
		t.Errorf("Components() =\n%q\nwant\n%q", got, want)
	}

	// A component's name mounts the same server again; it takes no
	// arguments.
	fsys, _, err := d.Resolve(bg, "ramfs.3", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := d.Component("ramfs.3")
	if n, ok := fsys.(ns.Namer); !ok || n.Name() != "ramfs.3" {
		t.Errorf("Resolve(ramfs.3) = %v; want ramfs.3 again", fsys)
	}
	mkfile(t, c.FS, "/seen", "x\n")
	if got := read(t, fsys, "seen"); got != "x" {
		t.Errorf("seen through Resolve(ramfs.3) = %q; want x: the same tree", got)
	}
	if _, _, err := d.Resolve(bg, "ramfs.3", []string{"a"}); err == nil {
		t.Errorf("Resolve(ramfs.3 a) succeeded; want an error")
	}
	if _, _, err := d.Resolve(bg, "ramfs.9", nil); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("Resolve(ramfs.9) = %v; want unknown", err)
	}

	text, err := d.NS.Text()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"mount -c hostfs.1 /n/host\n", "mount -c pipe.1 /n/p\n", "mount -c exec.1 /n/x\n", "mount -c ramfs.3 /n/r\n"} {
		if !strings.Contains(string(text), line) {
			t.Errorf("Text() =\n%s\nwant a line %q", text, line)
		}
	}
}

// TestReplayCopy replays one system's namespace text in a bare other one,
// copying its components: the text comes out the same, each kind is made
// again as Copy says, and the two go their own ways.
func TestReplayCopy(t *testing.T) {
	src := newDefault(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mountKind(t, src, "/n/host", "hostfs", host, "-ro")
	mountKind(t, src, "/n/p", "pipe")
	mountKind(t, src, "/n/x", "exec", "cat")
	mountKind(t, src, "/n/r", "ramfs")
	mkfile(t, src.NS, "/n/r/a", "in src\n")
	mkdir(t, src.NS, "/n/r2")
	if err := src.NS.Bind("/n/r", "/n/r2", ns.MREPL|ns.MCREATE); err != nil {
		t.Fatal(err)
	}
	mkfile(t, src.NS, "/tmp/t", "tmp\n")
	// A component made but mounted nowhere is not copied.
	if _, _, err := src.Resolve(bg, "ramfs", nil); err != nil {
		t.Fatal(err)
	}

	dst, err := NewDefault("glenda", Bare())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	text, _ := src.NS.Text()
	cmds, err := ns.ParseText("src", text)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Replay(dst.NS, cmds, dst.ReplayResolver(bg, src.Components())); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.NS.Text(); string(got) != string(text) {
		t.Errorf("the copy's text =\n%s\nwant the original's\n%s", got, text)
	}
	if _, ok := dst.Component("ramfs.4"); ok {
		t.Errorf("the unmounted ramfs.4 was copied")
	}
	for name, want := range map[string]any{"hostfs.1": (*hostfs.FS)(nil), "pipe.1": (*pipe.Pipe)(nil), "exec.1": (*exec.FS)(nil), "ramfs.3": (*ramfs.FS)(nil)} {
		a, _ := src.Component(name)
		b, ok := dst.Component(name)
		if !ok {
			t.Errorf("the copy has no %s", name)
			continue
		}
		if a.FS == b.FS {
			t.Errorf("%s is the original's server; want one of the copy's own", name)
		}
		if !slices.Equal(a.Args, b.Args) || a.Kind != b.Kind {
			t.Errorf("copy of %s = %s %q; want %s %q", name, b.Kind, b.Args, a.Kind, a.Args)
		}
		if reflect.TypeOf(b.FS) != reflect.TypeOf(want) {
			t.Errorf("copy of %s is a %T; want a %T", name, b.FS, want)
		}
	}
	if got := read(t, dst.NS, "/n/host/f"); got != "host" {
		t.Errorf("/n/host/f in the copy = %q; want the host's file", got)
	}
	if err := createFile(dst.NS, "glenda", "/n/host/g", "x"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("create in the copy's read-only hostfs = %v; want ErrPermission", err)
	}
	// The ramfs is a copy, shared by both of its mounts, apart from the
	// original's.
	mkfile(t, dst.NS, "/n/r2/b", "in dst\n")
	if got := read(t, dst.NS, "/n/r/b"); got != "in dst" {
		t.Errorf("/n/r/b in the copy = %q; want what was written through /n/r2", got)
	}
	if _, err := readSmall(bg, src.NS, "glenda", "/n/r/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/n/r/b in the original = %v; want ErrNotExist", err)
	}
	if got := read(t, dst.NS, "/tmp/t"); got != "tmp" {
		t.Errorf("/tmp/t in the copy = %q; want tmp", got)
	}
	// Components made in the copy after it come after the copied names.
	if got := mountKind(t, dst, "/n/new", "ramfs"); got != "ramfs.4" {
		t.Errorf("a new ramfs in the copy is %s; want ramfs.4", got)
	}
}

// TestReplayRefuses: a text naming servers the system cannot make again
// is refused, and Adopt checks what it is given.
func TestReplayRefuses(t *testing.T) {
	d, err := NewDefault("glenda", Bare())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	resolve := d.ReplayResolver(bg, nil)
	for _, tc := range []struct{ name, want string }{
		{"pipe", "cannot be rebuilt"},
		{"ramfs", "cannot be rebuilt"},
		{"ramfs.7", "not a component of this system"},
		{"frob", "not a component of this system"},
	} {
		if _, err := resolve(tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resolve(%s) = %v; want %q", tc.name, err, tc.want)
		}
	}
	if fsys, err := resolve("proc"); err != nil || fsys != ns.FS(d.Env.Proc) {
		t.Errorf("resolve(proc) = %v, %v; want the system's own", fsys, err)
	}
	if _, err := d.Adopt(Component{Name: "x.1", Kind: "frob", FS: ramfs.New()}); err == nil {
		t.Errorf("Adopt of an unknown kind succeeded")
	}
	if c, err := d.Adopt(Component{Kind: "ramfs", FS: ramfs.New()}); err != nil || c.Name != "ramfs.1" {
		t.Errorf("Adopt(ramfs) = %s, %v; want ramfs.1", c.Name, err)
	}
	if _, err := d.Adopt(Component{Name: "ramfs.1", Kind: "ramfs", FS: ramfs.New()}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Adopt of a name taken = %v; want ErrExist", err)
	}
}
