package test

import (
	"context"
	"strings"
	"testing"

	"9fans.net/go/plan9"

	"loom/components/ramfs"
	"loom/ns"
)

// serveRamfs serves a ramfs holding /greeting on a unix socket, as a 9P
// server outside the system would, and returns its address.
func serveRamfs(t *testing.T, greeting string) string {
	t.Helper()
	r := ramfs.New()
	ctx := context.Background()
	root, _ := r.Attach(ctx, "loom", "")
	f, _, err := root.(ns.Creater).Create(ctx, "greeting", 0o644, ns.OWRITE)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(ctx, []byte(greeting), 0)
	f.Clunk()
	root.Clunk()
	return "unix!" + serveFS(t, r)
}

// TestSrvRegister: a 9P server outside the system joins it by a client
// writing its address into /srv/NAME; then anyone in the system mounts
// /srv/NAME and reads its files.
func TestSrvRegister(t *testing.T) {
	d, sock := serveDefault(t)
	_, fsys := compMount(t, sock, "glenda")
	addr := serveRamfs(t, "hello from outside\n")

	f, err := fsys.Create("/srv/x", plan9.OWRITE, 0o644)
	if err != nil {
		t.Fatalf("create /srv/x: %v", err)
	}
	if _, err := f.Write([]byte(addr + "\n")); err != nil {
		t.Fatalf("write %s to /srv/x: %v", addr, err)
	}
	f.Close()
	if got := readAll9(t, fsys, "/srv/x"); got != addr+"\n" {
		t.Errorf("read /srv/x = %q; want the address", got)
	}

	out := shell(t, d, "mkdir -p /n/x; mount /srv/x /n/x; cat /n/x/greeting; ns")
	if !strings.HasPrefix(out, "hello from outside\n") || !strings.HasSuffix(out, "mount /srv/x /n/x\n") {
		t.Errorf("mount /srv/x /n/x; cat; ns =\n%s\nwant the greeting and the mount in the text", out)
	}
	// The 9P client sees the mount too: one namespace.
	if got := readAll9(t, fsys, "/n/x/greeting"); got != "hello from outside\n" {
		t.Errorf("9P read /n/x/greeting = %q", got)
	}

	// Removing the name unposts it; what was mounted stays.
	if err := fsys.Remove("/srv/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Env.Srv.Lookup("x"); err == nil {
		t.Errorf("Lookup(x) after remove succeeded")
	}
	if got := readAll9(t, fsys, "/n/x/greeting"); got != "hello from outside\n" {
		t.Errorf("9P read /n/x/greeting after unposting = %q", got)
	}

	// A write that is no address is refused and posts nothing.
	f, err = fsys.Create("/srv/bad", plan9.OWRITE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("nonsense")); err == nil || !strings.Contains(err.Error(), `bad address "nonsense"`) {
		t.Errorf("write nonsense to /srv/bad = %v; want bad address", err)
	}
	f.Close()
	if got := readAll9(t, fsys, "/srv/bad"); got != "" {
		t.Errorf("/srv/bad after the bad write = %q; want empty", got)
	}
}

// TestSrvPost: the shell's post puts a subtree in /srv, which a 9P
// client sees as local and the shell mounts.
func TestSrvPost(t *testing.T) {
	d, sock := serveDefault(t)
	_, fsys := compMount(t, sock, "glenda")
	shell(t, d, "mkdir -p /tmp/web; echo '<h1>hi</h1>' > /tmp/web/index.html; post web /tmp/web")
	if got := readAll9(t, fsys, "/srv/web"); got != "local\n" {
		t.Errorf("read /srv/web = %q; want local", got)
	}
	out := shell(t, d, "mkdir -p /n/web; mount /srv/web /n/web; ls /n/web; cat /n/web/index.html")
	if out != "/n/web/index.html\n<h1>hi</h1>\n" {
		t.Errorf("mount /srv/web and list it = %q", out)
	}
	// Through 9P, a directory listing of /srv shows both kinds of entry.
	shell(t, d, "post all")
	dir, err := fsys.Open("/srv", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dir.Dirreadall()
	dir.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ds {
		names = append(names, e.Name+" "+e.Uid)
	}
	if strings.Join(names, ",") != "all glenda,web glenda" {
		t.Errorf("ls /srv = %q; want all and web, glenda's", names)
	}
	// What the whole namespace posted reaches the same file.
	all, err := d.Env.Srv.Lookup("all")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := all.Attach(context.Background(), "glenda", "")
	defer root.Clunk()
	ff, err := ns.WalkPath(context.Background(), root, "/tmp/web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Clunk()
	ff.Open(context.Background(), ns.OREAD)
	b := make([]byte, 100)
	n, _ := ff.Read(context.Background(), b, 0)
	if string(b[:n]) != "<h1>hi</h1>\n" {
		t.Errorf("index.html through the posted namespace = %q", b[:n])
	}
}
