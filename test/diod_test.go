package test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"loom/9p"
	"loom/components/ramfs"
	"loom/ns"
	"loom/ns/nstest"
)

// Debian's diod package brings a 9P2000.L server and small clients
// written against another 9P library: real third-party peers for both
// sides of loom's 9P2000.L support. .ci/run installs it; elsewhere these
// tests skip.

func diodTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package diod)", name)
	}
	return p
}

// TestDiodClientsReadLoom has diod's diodcat and diodls read a tree that
// loom serves over TCP.
func TestDiodClientsReadLoom(t *testing.T) {
	diodcat, diodls := diodTool(t, "diodcat"), diodTool(t, "diodls")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := ninep.NewServer(ramfs.New())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	hostport := l.Addr().String()

	c, err := ninep.Dial("tcp!"+strings.Replace(hostport, ":", "!", 1), ninep.Dialect("9P2000"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Attach(ctx, "loom", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	want := strings.Repeat("written over 9P2000, read over 9P2000.L\n", 3000) // > one msize
	for _, name := range []string{"greeting", "other"} {
		f, _, err := root.(ns.Creater).Create(ctx, name, 0o666, ns.OWRITE)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(ctx, []byte(want), 0); err != nil {
			t.Fatal(err)
		}
		f.Clunk()
	}

	run := func(bin string, args ...string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, bin, append([]string{"-s", hostport, "-a", "/"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if got := run(diodcat, "greeting"); got != want {
		t.Errorf("diodcat greeting: %d bytes, want %d bytes of the file", len(got), len(want))
	}
	names := strings.Fields(run(diodls, "/"))
	slices.Sort(names)
	if !slices.Equal(names, []string{"greeting", "other"}) {
		t.Errorf("diodls / = %q; want [greeting other]", names)
	}
}

// TestLoomClientOnDiod mounts diod, serving a host directory, through
// loom's 9P2000.L client and runs the conformance suite over it.
func TestLoomClientOnDiod(t *testing.T) {
	diodTool(t, "diod")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "host"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, skip := startDiod(t, dir)
	if skip != "" {
		t.Skip(skip)
	}
	c, err := ninep.Dial(addr, ninep.Dialect("9P2000.L"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	root, err := c.Attach(ctx, "root", dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ns.WalkPath(ctx, root, "host")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(ctx, ns.OREAD); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := f.Read(ctx, buf, 0)
	if err != nil || string(buf[:n]) != "from the host\n" {
		t.Errorf("read of host file through diod = %q, %v; want %q", buf[:n], err, "from the host\n")
	}
	f.Clunk()

	// What loom creates through diod lands on the host.
	nf, _, err := root.(ns.Creater).Create(ctx, "made", 0o644, ns.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nf.Write(ctx, []byte("made by loom\n"), 0); err != nil {
		t.Fatal(err)
	}
	nf.Clunk()
	root.Clunk()
	if b, err := os.ReadFile(filepath.Join(dir, "made")); err != nil || string(b) != "made by loom\n" {
		t.Errorf("host file made through diod = %q, %v; want %q", b, err, "made by loom\n")
	}

	nstest.TestFS(t, namedAname{c, dir}, nstest.User("root"))
}

// namedAname attaches to one aname whatever the caller asks for: diod
// exports directories by their host path.
type namedAname struct {
	fs    ns.FS
	aname string
}

func (n namedAname) Attach(ctx context.Context, user, _ string) (ns.File, error) {
	return n.fs.Attach(ctx, user, n.aname)
}
