package test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	ninep "loom/9p"
	"loom/components/ramfs"
	"loom/ns"
	"loom/ns/nstest"
)

// nsRam returns a ramfs with the named files (directories end in "/"),
// each file holding its path after prefix.
func nsRam(t *testing.T, prefix string, paths ...string) *ramfs.FS {
	t.Helper()
	r := ramfs.New()
	nsp := ns.New("loom")
	if err := nsp.Mount(r, "/", ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		dir := strings.HasSuffix(p, "/")
		p = strings.Trim(p, "/")
		perm, mode := ns.Perm(0666), uint8(ns.OWRITE)
		if dir {
			perm, mode = ns.DMDIR|0777, ns.OREAD
		}
		parent, name := "", p
		if i := strings.LastIndex(p, "/"); i >= 0 {
			parent, name = p[:i], p[i+1:]
		}
		d := nsWalk(t, nsp, parent)
		f, _, err := d.(ns.Creater).Create(context.Background(), name, perm, mode)
		d.Clunk()
		if err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
		if !dir {
			f.Write(context.Background(), []byte(prefix+"/"+p), 0)
		}
		f.Clunk()
	}
	return r
}

func nsWalk(t *testing.T, fsys ns.FS, p string) ns.File {
	t.Helper()
	f, err := nsTryWalk(fsys, p)
	if err != nil {
		t.Fatalf("walk %s: %v", p, err)
	}
	return f
}

func nsTryWalk(fsys ns.FS, p string) (ns.File, error) {
	ctx := context.Background()
	f, err := fsys.Attach(ctx, "loom", "")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range strings.Split(p, "/") {
		if e != "" {
			names = append(names, e)
		}
	}
	if len(names) == 0 {
		return f, nil
	}
	_, nf, err := f.Walk(ctx, names)
	f.Clunk()
	if err == nil && nf == nil {
		err = ns.ErrNotExist
	}
	return nf, err
}

// nsOpen walks to p in fsys and opens it for reading; the caller clunks
// it.
func nsOpen(t *testing.T, fsys ns.FS, p string) ns.File {
	t.Helper()
	f := nsWalk(t, fsys, p)
	if _, err := f.Open(context.Background(), ns.OREAD); err != nil {
		f.Clunk()
		t.Fatalf("open %s: %v", p, err)
	}
	return f
}

func nsCat(t *testing.T, fsys ns.FS, p string) string {
	t.Helper()
	ctx := context.Background()
	f := nsOpen(t, fsys, p)
	defer f.Clunk()
	buf := make([]byte, 4096)
	n, err := f.Read(ctx, buf, 0)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(buf[:n])
}

func nsLs(t *testing.T, fsys ns.FS, p string) string {
	t.Helper()
	ctx := context.Background()
	f := nsOpen(t, fsys, p)
	defer f.Clunk()
	ds, err := f.ReadDir(ctx, 0, 1000)
	if err != nil {
		t.Fatalf("readdir %s: %v", p, err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return strings.Join(names, " ")
}

// TestNamespaceRemote mounts Dial'ed 9P servers in a namespace as it
// mounts local ones, in both dialects, and serves a namespace over 9P to
// be mounted in another.
func TestNamespaceRemote(t *testing.T) {
	for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
		t.Run(dialect, func(t *testing.T) {
			remote := nsRam(t, "remote", "a", "common", "sub/", "sub/s")
			c, err := ninep.Dial("unix!"+serveFS(t, remote), ninep.Dialect(dialect))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			nsp := ns.New("loom")
			root := ns.Named("root", nsRam(t, "local", "n/", "n/r/", "n/u/", "n/u/local", "tmp/"))
			if err := nsp.Mount(root, "/", ns.MREPL|ns.MCREATE, ""); err != nil {
				t.Fatal(err)
			}
			if err := nsp.Mount(ns.Named("remote", c), "/n/r", ns.MREPL|ns.MCREATE, ""); err != nil {
				t.Fatalf("Mount(remote) = %v", err)
			}
			if err := nsp.Bind("/n/r", "/n/u", ns.MAFTER); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ op, p, want string }{
				{"ls", "/n/r", "a common sub"},
				{"cat", "/n/r/sub/s", "remote/sub/s"},
				{"ls", "/n/r/..", "r u"},
				{"ls", "/n/r/sub/..", "a common sub"},
				{"ls", "/n/r/sub/../..", "r u"},
				{"ls", "/n/u", "local a common sub"},
				{"ls", "/n/u/sub/..", "local a common sub"},
				{"cat", "/n/u/common", "remote/common"},
			} {
				got := ""
				if tc.op == "ls" {
					got = nsLs(t, nsp, tc.p)
				} else {
					got = nsCat(t, nsp, tc.p)
				}
				if got != tc.want {
					t.Errorf("%s %s = %q; want %q", tc.op, tc.p, got, tc.want)
				}
			}

			// Creating goes to the remote server, and is seen there.
			d := nsWalk(t, nsp, "/n/r")
			f, _, err := d.(ns.Creater).Create(context.Background(), "new", 0666, ns.OWRITE)
			d.Clunk()
			if err != nil {
				t.Fatalf("Create(/n/r/new) = %v", err)
			}
			f.Write(context.Background(), []byte("made here"), 0)
			f.Clunk()
			if got := nsCat(t, remote, "/new"); got != "made here" {
				t.Errorf("the remote server's /new = %q; want %q", got, "made here")
			}

			// A read-only view of the remote mount refuses writes.
			if err := nsp.Mount(ns.ReadOnly(c), "/tmp", ns.MREPL, ""); err != nil {
				t.Fatal(err)
			}
			f = nsWalk(t, nsp, "/tmp/a")
			if _, err := f.Open(context.Background(), ns.OWRITE); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Open(/tmp/a, OWRITE) through ReadOnly(remote) = %v; want ErrPermission", err)
			}
			f.Clunk()
			nsp.Unmount("", "/tmp")

			// The namespace prints and replays with the remote server.
			text, err := nsp.Text()
			if err != nil {
				t.Fatalf("Text() = %v", err)
			}
			want := "mount -c root /\nmount -c remote /n/r\nbind -a /n/r /n/u\n"
			if string(text) != want {
				t.Errorf("Text() = %q; want %q", text, want)
			}
			cmds, err := ns.ParseText("text", text)
			if err != nil {
				t.Fatal(err)
			}
			again := ns.New("loom")
			err = ns.Replay(again, cmds, func(name string) (ns.FS, error) {
				switch name {
				case "root":
					return root, nil
				case "remote":
					return c, nil
				}
				return nil, ns.ErrNotExist
			})
			if err != nil {
				t.Fatalf("Replay = %v", err)
			}
			if got := nsLs(t, again, "/n/u"); got != "local a common sub new" {
				t.Errorf("ls /n/u replayed = %q", got)
			}
		})
	}
}

// TestNamespaceServed serves a namespace of several servers over 9P,
// checks it with the conformance suite through a client, and mounts it
// in another namespace.
func TestNamespaceServed(t *testing.T) {
	inner := ns.New("loom")
	for _, c := range []struct {
		fsys  ns.FS
		old   string
		flags ns.Flag
	}{
		{nsRam(t, "R", "n/", "n/a/", "n/u/", "n/u/old"), "/", ns.MREPL | ns.MCREATE},
		{nsRam(t, "A", "a", "sub/", "sub/s"), "/n/a", ns.MREPL | ns.MCREATE},
		{nsRam(t, "B", "b", "sub/", "sub/t"), "/n/u", ns.MBEFORE | ns.MCREATE},
	} {
		if err := inner.Mount(c.fsys, c.old, c.flags, ""); err != nil {
			t.Fatal(err)
		}
	}
	addr := "unix!" + serveFS(t, inner)
	for _, dialect := range []string{ninep.Dialect9P2000, ninep.Dialect9P2000L} {
		t.Run(dialect, func(t *testing.T) {
			c, err := ninep.Dial(addr, ninep.Dialect(dialect))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The suite's fstest part takes seconds over 9P; once is
			// enough in a short run.
			if dialect == ninep.Dialect9P2000 || !testing.Short() {
				nstest.TestFS(t, c, nstest.Expect("n/a/sub/s", "n/u/old", "n/u/b"))
			}

			outer := ns.New("loom")
			if err := outer.Mount(nsRam(t, "O", "m/"), "/", ns.MREPL, ""); err != nil {
				t.Fatal(err)
			}
			if err := outer.Mount(c, "/m", ns.MREPL, ""); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ p, want string }{
				{"/m/n/u", "b sub old"},
				{"/m/n/u/sub/..", "b sub old"},
				{"/m/n/a/sub/../..", "a u"},
				{"/m/..", "m"},
			} {
				if got := nsLs(t, outer, tc.p); got != tc.want {
					t.Errorf("ls %s = %q; want %q", tc.p, got, tc.want)
				}
			}
		})
	}
}
