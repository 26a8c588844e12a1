package test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"9fans.net/go/plan9"

	"loom/components/proc"
	"loom/components/system"
	"loom/ns"
)

// TestClone9P clones a system with a ramfs, a log, a read-only host
// directory and a host process into a sandbox, serves the clone's
// namespace with loom's 9P server on a unix socket, and looks at it with
// a third-party 9P client: the clone has the original's state, its
// changes do not reach the original, and the sandbox holds.
func TestClone9P(t *testing.T) {
	ctx := context.Background()
	reg := system.New(system.User("glenda"))
	t.Cleanup(func() { reg.Close() })
	web, err := reg.New("web")
	if err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "motd"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/www/", "/secret/", "/secret/key", "/n/", "/n/share/"} {
		if err := mk(web.NS, p, "hidden\n"); err != nil {
			t.Fatalf("make %s: %v", p, err)
		}
	}
	for _, m := range []struct {
		dir, kind string
		args      []string
	}{{"/www", "ramfs", nil}, {"/n/share", "hostfs", []string{host, "-ro"}}} {
		fsys, aname, err := web.Resolve(ctx, m.kind, m.args)
		if err != nil {
			t.Fatal(err)
		}
		if err := web.NS.Mount(fsys, m.dir, ns.MREPL|ns.MCREATE, aname); err != nil {
			t.Fatal(err)
		}
	}
	if err := mk(web.NS, "/www/index.html", "hello\n"); err != nil {
		t.Fatal(err)
	}
	w, err := web.Def.Env.Log.Writer("httpd")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "served index.html\n")
	if _, err := web.Def.Env.Proc.Start(ctx, []string{"/bin/sleep", "60"}, proc.StartOptions{Name: "httpd", Env: web.Def.Env.Environ()}); err != nil {
		t.Fatal(err)
	}
	p, err := system.FromRules("offline", []string{"/www", "/tmp", "/log", "/n", "/proc", "/usr", "/bin", "/lib", "/lib64"},
		[]string{"/www", "/n", "/usr"}, nil, "none", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.DefineSandbox(p)
	if err := reg.Clone(ctx, "web", "web2", "offline"); err != nil {
		if strings.Contains(err.Error(), "sandbox") {
			t.Skipf("the kernel refuses the sandbox: %v", err)
		}
		t.Fatal(err)
	}
	web2, err := reg.Get("web2")
	if err != nil {
		t.Fatal(err)
	}

	_, fsys := compMount(t, serveFS(t, web2.NS), "glenda")
	for _, tc := range []struct{ p, want string }{
		{"/www/index.html", "hello\n"}, {"/n/share/motd", "from the host\n"},
	} {
		if got, err := read9(fsys, tc.p); err != nil || got != tc.want {
			t.Errorf("read %s over 9P = %q, %v; want %q", tc.p, got, err, tc.want)
		}
	}
	if got, err := read9(fsys, "/log/httpd"); err != nil || !strings.HasSuffix(got, " httpd served index.html\n") {
		t.Errorf("read /log/httpd over 9P = %q, %v; want the original's line", got, err)
	}
	// The host process was started again, in the clone.
	fid, err := fsys.Open("/proc", plan9.OREAD)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := fid.Dirreadall()
	fid.Close()
	if err != nil {
		t.Fatal(err)
	}
	var procs []string
	for _, d := range dirs {
		if d.Qid.Type&plan9.QTDIR == 0 {
			continue
		}
		args, err := read9(fsys, "/proc/"+d.Name+"/args")
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, strings.TrimSpace(args))
	}
	if !slices.Contains(procs, "/bin/sleep 60") {
		t.Errorf("the clone's processes over 9P = %q; want /bin/sleep 60 started again", procs)
	}

	// The sandbox holds: the secret is absent, the read-only trees
	// refuse writes.
	for _, p := range []string{"/secret/key", "/secret", "/www/../secret/key"} {
		// The client says "not found" itself when a walk stops short.
		if _, err := read9(fsys, p); err == nil || !strings.Contains(err.Error(), "file does not exist") && !strings.Contains(err.Error(), "not found") {
			t.Errorf("read %s over 9P = %v; want file does not exist", p, err)
		}
	}
	for _, p := range []string{"/www/index.html", "/n/share/motd"} {
		fid, err := fsys.Open(p, plan9.OWRITE)
		if err == nil {
			fid.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("open %s for writing over 9P = %v; want permission denied", p, err)
		}
	}
	if _, err := fsys.Create("/www/new", plan9.OWRITE, 0o644); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("create /www/new over 9P = %v; want permission denied", err)
	}

	// The clone's changes stay in the clone.
	f, err := fsys.Create("/tmp/made-in-web2", plan9.OWRITE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("web2\n"))
	f.Close()
	if got, err := read9(fsys, "/tmp/made-in-web2"); err != nil || got != "web2\n" {
		t.Errorf("read back /tmp/made-in-web2 = %q, %v; want web2", got, err)
	}
	if _, err := readFile(web.NS, "glenda", "/tmp/made-in-web2"); err == nil {
		t.Errorf("/tmp/made-in-web2 shows in the original; want it the clone's alone")
	}
	if b, err := readFile(web.NS, "glenda", "/secret/key"); err != nil || string(b) != "hidden\n" {
		t.Errorf("the original's /secret/key = %q, %v; want it still there", b, err)
	}
	if n := len(web.Def.Env.Proc.List()); n != 1 {
		t.Errorf("the original has %d processes; want its one", n)
	}
}
