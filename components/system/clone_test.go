package system

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"loom/components/kinds"
	"loom/components/proc"
	"loom/ns"
)

// webSystem makes a registry with the system web: files in / and /tmp, a
// tree of its own on /www, an environment variable, a log line, a posted
// server and a host process.
func webSystem(t *testing.T) (*Systems, *System) {
	t.Helper()
	reg := newSystems(t)
	s := mustNew(t, reg, "web")
	for _, p := range []string{"/www/", "/lib/", "/secret/", "/secret/key", "/tmp/a", "/tmp/d/", "/tmp/d/f"} {
		if err := put(s.NS, p, "was "+p); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	www, tn, err := s.Resolve(context.Background(), "ramfs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.NS.Mount(www, "/www", ns.MREPL|ns.MCREATE, ""); err != nil || tn != "" {
		t.Fatalf("mount ramfs /www = %v", err)
	}
	if err := put(s.NS, "/www/index", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := s.NS.Bind("/www", "/lib", ns.MREPL); err != nil {
		t.Fatal(err)
	}
	if err := s.Def.Env.Vars.Set("site", "web"); err != nil {
		t.Fatal(err)
	}
	w, err := s.Def.Env.Log.Writer("httpd")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("started\n"))
	if err := s.Def.Env.Srv.Post("www", www); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Def.Env.Proc.Start(context.Background(), []string{"sleep", "60"}, proc.StartOptions{Name: "sleeper", Env: s.Def.Env.Environ()}); err != nil {
		t.Fatal(err)
	}
	return reg, s
}

func procNames(s *System) []string {
	var names []string
	for _, in := range s.Def.Env.Proc.List() {
		names = append(names, in.Name+" "+strings.Join(in.Args, " "))
	}
	return names
}

// TestClone checks that a clone holds its original's state and that the
// two go their own ways afterwards.
func TestClone(t *testing.T) {
	reg, web := webSystem(t)
	if err := reg.Clone(context.Background(), "web", "web2", ""); err != nil {
		t.Fatal(err)
	}
	web2, err := reg.Get("web2")
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.List(); !slices.Equal(got, []string{"web", "web2"}) {
		t.Errorf("List() = %q; want web web2", got)
	}
	for _, tc := range []struct{ p, want string }{
		{"/tmp/d/f", "was /tmp/d/f"}, {"/secret/key", "was /secret/key"}, {"/www/index", "hello"},
		{"/lib/index", "hello"}, {"/env/site", "web"},
	} {
		if got, err := cat(web2.NS, tc.p); err != nil || got != tc.want {
			t.Errorf("cat %s in the clone = %q, %v; want %q", tc.p, got, err, tc.want)
		}
	}
	if got, err := cat(web2.NS, "/log/httpd"); err != nil || !strings.HasSuffix(got, " httpd started\n") {
		t.Errorf("cat /log/httpd in the clone = %q, %v; want the original's line", got, err)
	}
	if got := web2.Def.Env.Srv.Names(); !slices.Equal(got, []string{"www"}) {
		t.Errorf("the clone's srv = %q; want www", got)
	}
	if got := procNames(web2); !slices.Equal(got, []string{"sleeper sleep 60"}) {
		t.Errorf("the clone's processes = %q; want sleeper sleep 60 restarted", got)
	}
	if a, b := web.Def.Env.Proc.List()[0].HostPid, web2.Def.Env.Proc.List()[0].HostPid; a == b {
		t.Errorf("the clone's sleeper is the original's, host pid %d; want one of its own", a)
	}
	// The clone's components are its own.
	if web2.Def.Env.Vars == web.Def.Env.Vars || web2.Def.Env.Proc == web.Def.Env.Proc || web2.Def.Env.Log == web.Def.Env.Log {
		t.Errorf("the clone shares components with the original")
	}

	// Changes on either side stay there: through the bind, the tree
	// on /, /tmp, and the environment.
	for _, w := range []struct {
		s    *System
		p, d string
	}{{web2, "/lib/index", "changed in web2"}, {web2, "/tmp/new2", "x"}, {web, "/tmp/d/f", "changed in web"}, {web, "/new", "y"}} {
		if err := write(w.s.NS, w.p, w.d); err != nil {
			t.Fatalf("write %s in %s: %v", w.p, w.s.Name, err)
		}
	}
	web2.Def.Env.Vars.Set("site", "web2")
	for _, tc := range []struct {
		s       *System
		p, want string
	}{
		{web, "/www/index", "hello"}, {web2, "/www/index", "changed in web2"},
		{web2, "/tmp/d/f", "was /tmp/d/f"}, {web, "/tmp/d/f", "changed in web"},
		{web, "/env/site", "web"}, {web2, "/env/site", "web2"},
	} {
		if got, err := cat(tc.s.NS, tc.p); err != nil || got != tc.want {
			t.Errorf("cat %s in %s = %q, %v; want %q", tc.p, tc.s.Name, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		s *System
		p string
	}{{web, "/tmp/new2"}, {web2, "/new"}} {
		if _, err := cat(tc.s.NS, tc.p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cat %s in %s = %v; want ErrNotExist", tc.p, tc.s.Name, err)
		}
	}

	// Stopping the clone kills its processes and leaves the original.
	hostPid := web2.Def.Env.Proc.List()[0].HostPid
	if err := reg.Stop("web2"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(hostPid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) after stop = %v; want ESRCH: the process is gone", hostPid, err)
	}
	if _, err := reg.Get("web2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get(web2) after stop = %v; want ErrNotExist", err)
	}
	if got := procNames(web); !slices.Equal(got, []string{"sleeper sleep 60"}) {
		t.Errorf("the original's processes after stopping the clone = %q; want its sleeper", got)
	}
}

// write replaces the contents of the file p of nsp, making it if need be.
func write(nsp ns.FS, p, data string) error {
	ctx := context.Background()
	f, err := walk(ctx, nsp, "glenda", p)
	if errors.Is(err, fs.ErrNotExist) {
		return put(nsp, p, data)
	}
	if err != nil {
		return err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, ns.OWRITE|ns.OTRUNC); err != nil {
		return err
	}
	_, err = f.Write(ctx, []byte(data), 0)
	return err
}

// TestCloneSandbox clones into a sandbox, and a sandbox inside that one.
func TestCloneSandbox(t *testing.T) {
	reg, _ := webSystem(t)
	off := rules(t, "offline", []string{"/tmp", "/lib", "/dev", "/log"}, []string{"/lib"}, []string{"null", "cons"}, "none",
		map[string]int64{"memory": 64 << 20})
	reg.DefineSandbox(off)
	reg.DefineSandbox(rules(t, "wide", []string{"/"}, []string{"/tmp/d"}, []string{"null", "zero"}, "host",
		map[string]int64{"memory": 1 << 30, "processes": 8}))
	ctx := context.Background()
	if err := reg.Clone(ctx, "web", "web2", "offline"); err != nil {
		t.Fatal(err)
	}
	web2, _ := reg.Get("web2")
	if got, err := cat(web2.NS, "/lib/index"); err != nil || got != "hello" {
		t.Errorf("cat /lib/index in the sandbox = %q, %v; want hello", got, err)
	}
	for _, p := range []string{"/secret/key", "/www/index", "/env/site", "/lib/../secret", "/dev/zero"} {
		if _, err := cat(web2.NS, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cat %s in the sandbox = %v; want ErrNotExist", p, err)
		}
	}
	if err := write(web2.NS, "/lib/index", "x"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("write /lib/index in the sandbox = %v; want ErrPermission", err)
	}
	if err := write(web2.NS, "/tmp/d/f", "x"); err != nil {
		t.Errorf("write /tmp/d/f in the sandbox = %v; want it written", err)
	}

	// A clone of the sandboxed clone, in a wider sandbox, gains nothing.
	if err := reg.Clone(ctx, "web2", "web3", "wide"); err != nil {
		t.Fatal(err)
	}
	web3, _ := reg.Get("web3")
	if want := "allow /dev /lib /log /tmp\nreadonly /lib /tmp/d\ndevices null\nnetwork none\nlimit memory 64M processes 8\n"; web3.Policy.String() != want {
		t.Errorf("the nested clone's policy =\n%s; want\n%s", web3.Policy, want)
	}
	for _, p := range []string{"/secret/key", "/www/index", "/env/site", "/dev/zero", "/dev/cons"} {
		if _, err := cat(web3.NS, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cat %s in the nested sandbox = %v; want ErrNotExist", p, err)
		}
	}
	for _, p := range []string{"/lib/index", "/tmp/d/f"} {
		if err := write(web3.NS, p, "x"); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("write %s in the nested sandbox = %v; want ErrPermission", p, err)
		}
	}
	if got, err := cat(web3.NS, "/tmp/d/f"); err != nil || got != "x" {
		t.Errorf("cat /tmp/d/f in the nested clone = %q, %v; want web2's x", got, err)
	}
}

// hostProcs counts the host's processes whose arguments include arg.
func hostProcs(t *testing.T, arg string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && slices.Contains(strings.Split(string(b), "\x00"), arg) {
			n++
		}
	}
	return n
}

// TestCloneFails checks that a clone that fails midway leaves nothing:
// no system, no process.
func TestCloneFails(t *testing.T) {
	reg, web := webSystem(t)
	ctx := context.Background()

	// The second of two processes cannot be started again: its program
	// is gone. The first, started again already, must go too.
	const mark = "60.4242"
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep on the host")
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(t.TempDir(), "gone")
	if err := os.WriteFile(gone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"sleep", mark}, {gone, mark}} {
		if _, err := web.Def.Env.Proc.Start(ctx, argv, proc.StartOptions{Env: web.Def.Env.Environ()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	before := hostProcs(t, mark)
	if before != 2 {
		t.Fatalf("host processes with %s = %d; want the 2 started", mark, before)
	}
	if err := reg.Clone(ctx, "web", "web2", ""); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("Clone with a program gone = %v; want it refused", err)
	}
	if after := hostProcs(t, mark); after != before {
		t.Errorf("host processes with %s: %d before the failed clone, %d after; want the restarted one killed", mark, before, after)
	}

	// A mount of a kind whose server cannot be rebuilt from the text.
	if err := web.NS.Mount(ns.Named("pipe", ns.ReadOnly(web.NS)), "/tmp", ns.MAFTER, ""); err != nil {
		t.Fatal(err)
	}
	if err := reg.Clone(ctx, "web", "web2", ""); err == nil || !strings.Contains(err.Error(), "cannot be rebuilt") {
		t.Errorf("Clone with a pipe mounted = %v; want it refused", err)
	}
	for _, tc := range []struct{ src, dst, sb, want string }{
		{"nosuch", "x", "", "system does not exist"},
		{"web", "web", "", "exists"},
		{"web", "x", "nosuch", "sandbox does not exist"},
	} {
		if err := reg.Clone(ctx, tc.src, tc.dst, tc.sb); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Clone(%s, %s, %q) = %v; want %q", tc.src, tc.dst, tc.sb, err, tc.want)
		}
	}
	if got := reg.List(); !slices.Equal(got, []string{"web"}) {
		t.Errorf("List() after failed clones = %q; want web", got)
	}
	if n := hostProcs(t, mark); n != 2 {
		t.Errorf("host processes with %s after failed clones = %d; want web's 2", mark, n)
	}
}

// TestCloneDefault clones a system built before the registry, as the
// shell's default one is (Systems.Add), with a mount of each kind that
// makes a server: hostfs, pipe, exec and ramfs. The clone replays the
// same namespace text over servers of its own.
func TestCloneDefault(t *testing.T) {
	ctx := context.Background()
	reg := newSystems(t)
	d, err := kinds.NewDefault("glenda")
	if err != nil {
		t.Fatal(err)
	}
	sys, err := reg.Add("loom", d)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "motd"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		dir, kind string
		args      []string
	}{
		{"/n/host", "hostfs", []string{host, "-ro"}},
		{"/n/pipe", "pipe", nil},
		{"/n/upper", "exec", []string{"tr", "a-z", "A-Z"}},
		{"/n/scratch", "ramfs", nil},
	} {
		if err := put(sys.NS, "/n/", ""); err != nil && !errors.Is(err, fs.ErrExist) {
			t.Fatal(err)
		}
		if err := put(sys.NS, m.dir+"/", ""); err != nil {
			t.Fatal(err)
		}
		fsys, aname, err := sys.Resolve(ctx, m.kind, m.args)
		if err != nil {
			t.Fatal(err)
		}
		if err := sys.NS.Mount(fsys, m.dir, ns.MREPL|ns.MCREATE, aname); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/n/scratch/a", "/tmp/b", "/c"} {
		if err := put(sys.NS, p, "was "+p); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Clone(ctx, "loom", "copy", ""); err != nil {
		t.Fatal(err)
	}
	cp, _ := reg.Get("copy")
	want, _ := sys.NS.Text()
	if got, _ := cp.NS.Text(); string(got) != string(want) {
		t.Errorf("the clone's namespace =\n%s\nwant the original's\n%s", got, want)
	}
	for _, line := range []string{"mount -c ramfs.1 /\n", "mount -c hostfs.1 /n/host\n", "mount -c pipe.1 /n/pipe\n", "mount -c exec.1 /n/upper\n", "mount -c ramfs.3 /n/scratch\n"} {
		if !strings.Contains(string(want), line) {
			t.Errorf("the namespace text lacks %q:\n%s", line, want)
		}
	}
	for _, tc := range []struct{ p, want string }{
		{"/n/scratch/a", "was /n/scratch/a"}, {"/tmp/b", "was /tmp/b"}, {"/c", "was /c"}, {"/n/host/motd", "from the host"},
	} {
		if got, err := cat(cp.NS, tc.p); err != nil || got != tc.want {
			t.Errorf("cat %s in the clone = %q, %v; want %q", tc.p, got, err, tc.want)
		}
	}
	if err := put(cp.NS, "/n/host/x", "x"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("create in the clone's read-only hostfs = %v; want ErrPermission", err)
	}
	// The pipe is the clone's own: what the clone writes to data the
	// original's data1 does not hold.
	if err := write(cp.NS, "/n/pipe/data", "ping\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := cat(cp.NS, "/n/pipe/data1"); err != nil || got != "ping\n" {
		t.Errorf("the clone's pipe data1 = %q, %v; want ping", got, err)
	}
	for _, name := range []string{"pipe.1", "exec.1", "hostfs.1", "ramfs.3"} {
		a, _ := sys.Def.Component(name)
		b, ok := cp.Def.Component(name)
		if !ok || a.FS == b.FS || a.Kind != b.Kind || !slices.Equal(a.Args, b.Args) {
			t.Errorf("the clone's %s = %+v; want a new %s %q", name, b, a.Kind, a.Args)
		}
	}
	if err := write(cp.NS, "/n/scratch/a", "changed"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cat(sys.NS, "/n/scratch/a"); got != "was /n/scratch/a" {
		t.Errorf("the original's /n/scratch/a = %q after the clone wrote; want it unchanged", got)
	}
}

// TestResolveSandboxed: a sandboxed system mounts nothing that would
// leave its sandbox; the same mounts work outside any. exec it mounts:
// its programs run in the sandbox (TestExecSandboxed).
func TestResolveSandboxed(t *testing.T) {
	reg, _ := webSystem(t)
	reg.DefineSandbox(rules(t, "loop", []string{"/tmp"}, nil, nil, "loopback", nil))
	ctx := context.Background()
	if err := reg.Clone(ctx, "web", "jailed", "loop"); err != nil {
		t.Fatal(err)
	}
	web, _ := reg.Get("web")
	jailed, _ := reg.Get("jailed")
	dir := t.TempDir()
	for _, tc := range []struct {
		src  string
		args []string
		ok   bool // in the sandbox
	}{
		{"hostfs", []string{dir}, false},
		{"exec", []string{"cat"}, true},
		{"tcp!127.0.0.1!1", nil, false},
		{"ramfs", nil, true},
		{"pipe", nil, true},
	} {
		_, _, err := jailed.Resolve(ctx, tc.src, tc.args)
		if tc.ok && err != nil {
			t.Errorf("Resolve(%s) in a sandbox = %v; want a server", tc.src, err)
		}
		if !tc.ok && (!errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "loop")) {
			t.Errorf("Resolve(%s) in a sandbox = %v; want permission denied, naming the sandbox", tc.src, err)
		}
		if strings.Contains(tc.src, "!") {
			continue // nothing listens there
		}
		if _, _, err := web.Resolve(ctx, tc.src, tc.args); err != nil {
			t.Errorf("Resolve(%s) outside a sandbox = %v; want a server", tc.src, err)
		}
	}
}

// firstLines reads the stdout of the system's only running process
// until it has n lines.
func firstLines(t *testing.T, s *System, n int) string {
	t.Helper()
	var pid int
	for _, in := range s.Def.Env.Proc.List() {
		if in.State != "Moribund" {
			if pid != 0 {
				t.Fatalf("%s: more than one process: %v", s.Name, s.Def.Env.Proc.List())
			}
			pid = in.Pid
		}
	}
	if pid == 0 {
		t.Fatalf("%s: no process running", s.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := mustOpen(t, ctx, s.Def.Env.Proc, strconv.Itoa(pid)+"/stdout", ns.OREAD)
	defer f.Clunk()
	var out []byte
	buf := make([]byte, 512)
	for strings.Count(string(out), "\n") < n {
		k, err := f.Read(ctx, buf, int64(len(out)))
		if err != nil || k == 0 {
			t.Fatalf("%s: stdout of %d after %q: %d, %v", s.Name, pid, out, k, err)
		}
		out = append(out, buf[:k]...)
	}
	return string(out)
}

// TestRestartDefs checks that clone, rollback and load start a host
// process again from its own definition: it sees the environment it was
// started with and its working directory, although the system's /env
// has changed since it started.
func TestRestartDefs(t *testing.T) {
	reg := New(User("glenda"))
	defer reg.Close()
	web := mustNew(t, reg, "web")
	ctx := context.Background()
	if err := web.Def.Env.Vars.Set("X", "one"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	argv := []string{"/bin/sh", "-c", `echo "$X"; pwd; exec /bin/sleep 60`}
	if _, err := web.Def.Env.Proc.Start(ctx, argv, proc.StartOptions{Name: "show", Env: web.Def.Env.Environ(), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	want := "one\n" + dir + "\n"
	if got := firstLines(t, web, 2); got != want {
		t.Fatalf("stdout = %q; want %q", got, want)
	}
	// The system's environment changes after the process started; the
	// snapshot keeps both: X=two for the system, X=one for the process.
	if err := web.Def.Env.Vars.Set("X", "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := web.Snapshot(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "web.img")
	if err := reg.Save(ctx, nil, "web@s", img); err != nil {
		t.Fatal(err)
	}

	if err := reg.Clone(ctx, "web", "web2", ""); err != nil {
		t.Fatal(err)
	}
	web2, _ := reg.Get("web2")
	if got := firstLines(t, web2, 2); got != want {
		t.Errorf("clone: stdout of the process started again = %q; want %q", got, want)
	}
	if err := web.Rollback(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got := firstLines(t, web, 2); got != want {
		t.Errorf("rollback: stdout of the process started again = %q; want %q", got, want)
	}
	if v, _ := web.Def.Env.Vars.Get("X"); v != "two" {
		t.Errorf("rollback: the system's X = %q; want two, as the snapshot holds", v)
	}
	loaded, err := reg.Load(ctx, nil, img, "web3")
	if err != nil {
		t.Fatal(err)
	}
	if got := firstLines(t, loaded, 2); got != want {
		t.Errorf("load: stdout of the process started again = %q; want %q", got, want)
	}
	for _, s := range []*System{web, web2, loaded} {
		ds := s.Def.Env.Proc.Defs()
		if len(ds) != 1 || ds[0].Dir != dir || !slices.Contains(ds[0].Env, "X=one") || !slices.Equal(ds[0].Args, argv) {
			t.Errorf("%s: Defs() = %q; want one with X=one, %s and %q", s.Name, ds, dir, argv)
		}
	}
}

// viewSystem makes what a shell inside a sandboxed system does in its
// view: web, with /tmp/d/f and /n, cloned as w2 in the sandbox s (allow
// /tmp /n; readonly /tmp/d); in w2's view a ramfs of its own mounted on
// /n/x holding /n/x/file, and /tmp/d bound on /n/d. None of it is in
// w2's namespace as built.
func viewSystem(t *testing.T) (*Systems, *System) {
	t.Helper()
	reg := newSystems(t)
	web := mustNew(t, reg, "web")
	for _, p := range []string{"/tmp/d/", "/tmp/d/f", "/n/", "/secret"} {
		if err := put(web.NS, p, "hi"); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	reg.DefineSandbox(rules(t, "s", []string{"/tmp", "/n"}, []string{"/tmp/d"}, nil, "", nil))
	ctx := context.Background()
	if err := reg.Clone(ctx, "web", "w2", "s"); err != nil {
		t.Fatal(err)
	}
	w2 := mustGet(t, reg, "w2")
	for _, p := range []string{"/n/x/", "/n/d/"} {
		if err := put(w2.NS, p, ""); err != nil {
			t.Fatalf("mkdir %s in w2: %v", p, err)
		}
	}
	x, _, err := w2.Resolve(ctx, "ramfs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.NS.Mount(x, "/n/x", ns.MREPL|ns.MCREATE, ""); err != nil {
		t.Fatal(err)
	}
	if err := put(w2.NS, "/n/x/file", "data"); err != nil {
		t.Fatal(err)
	}
	if err := w2.NS.Bind("/tmp/d", "/n/d", ns.MREPL); err != nil {
		t.Fatal(err)
	}
	return reg, w2
}

// checkView checks that s's view holds what viewSystem made in w2's:
// the ramfs on /n/x with its file, and /tmp/d on /n/d, still read-only.
func checkView(t *testing.T, s *System, file string) {
	t.Helper()
	if got, err := cat(s.NS, "/n/x/file"); err != nil || got != file {
		t.Errorf("cat /n/x/file in %s = %q, %v; want %q", s.Name, got, err, file)
	}
	if got, err := cat(s.NS, "/n/d/f"); err != nil || got != "hi" {
		t.Errorf("cat /n/d/f in %s = %q, %v; want hi, through the bind of /tmp/d", s.Name, got, err)
	}
	if err := write(s.NS, "/n/d/f", "x"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("write /n/d/f in %s = %v; want ErrPermission: /tmp/d is read-only", s.Name, err)
	}
	if _, err := cat(s.NS, "/secret"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cat /secret in %s = %v; want ErrNotExist", s.Name, err)
	}
}

// viewTree returns the tree of the component s's view mounts on /n/x.
func viewTree(t *testing.T, s *System) ns.FS {
	t.Helper()
	text, err := s.NS.Text()
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := ns.ParseText("view", text)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if c.Op == "mount" && c.Args[1] == "/n/x" {
			comp, ok := s.Def.Component(c.Args[0])
			if !ok {
				t.Fatalf("%s's view mounts %s on /n/x, not a component of its", s.Name, c.Args[0])
			}
			return comp.FS
		}
	}
	t.Fatalf("%s's view mounts nothing on /n/x:\n%s", s.Name, text)
	return nil
}

// TestCloneView checks that a clone of a sandboxed system has what was
// mounted and bound in the original's view, with the data, and a ramfs
// of its own, not the original's.
func TestCloneView(t *testing.T) {
	reg, w2 := viewSystem(t)
	if err := reg.Clone(context.Background(), "w2", "w3", ""); err != nil {
		t.Fatal(err)
	}
	w3 := mustGet(t, reg, "w3")
	checkView(t, w3, "data")
	checkViewGated(t, w3)
	if err := write(w3.NS, "/n/x/file", "w3's"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cat(w2.NS, "/n/x/file"); got != "data" {
		t.Errorf("cat /n/x/file in w2 after w3 wrote it = %q; want data: the clone shares w2's ramfs", got)
	}
	if viewTree(t, w2) == viewTree(t, w3) {
		t.Errorf("w2 and w3 mount one server on /n/x; want a copy each")
	}
	want, _ := w2.NS.Text()
	if got, _ := w3.NS.Text(); !bytes.Equal(got, want) {
		t.Errorf("w3's view text =\n%s; want w2's\n%s", got, want)
	}
}

// TestCloneViewNarrower checks that a clone into a sandbox that hides a
// path the original's view bound does not get that bind back (nor the
// path by it), and says so in its log, while the rest of the view is
// there.
func TestCloneViewNarrower(t *testing.T) {
	reg, _ := viewSystem(t)
	reg.DefineSandbox(rules(t, "narrow", []string{"/n"}, nil, nil, "", nil))
	if err := reg.Clone(context.Background(), "w2", "w4", "narrow"); err != nil {
		t.Fatal(err)
	}
	w4 := mustGet(t, reg, "w4")
	if got, err := cat(w4.NS, "/n/x/file"); err != nil || got != "data" {
		t.Errorf("cat /n/x/file in w4 = %q, %v; want data", got, err)
	}
	for _, p := range []string{"/n/d/f", "/tmp/d/f"} {
		if _, err := cat(w4.NS, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cat %s in w4 = %v; want ErrNotExist: its sandbox hides /tmp", p, err)
		}
	}
	text, err := w4.NS.Text()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text), "/tmp/d") {
		t.Errorf("w4's view text =\n%s; want no bind of /tmp/d", text)
	}
	lines, err := logLines(context.Background(), w4.Def.Env.Log, "glenda")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(lines, func(l LogLine) bool {
		return l.Writer == "sandbox" && strings.Contains(l.Text, "bind /tmp/d /n/d left out of the view")
	}) {
		t.Errorf("w4's log = %q; want the bind of /tmp/d said to be left out", lines)
	}
}

// TestCloneViewRefuses checks that a view's mount of a component of the
// namespace as built (here the root's tree, which holds what the
// sandbox hides) is not made again in a clone. The system's Resolve
// refuses to make such a mount; the test makes it below Resolve, as an
// image's view text could ask for it.
func TestCloneViewRefuses(t *testing.T) {
	reg, w2 := viewSystem(t)
	ctx := context.Background()
	if _, _, err := w2.Resolve(ctx, rootComp(t, w2), nil); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("mount %s in the sandboxed w2 = %v; want permission denied", rootComp(t, w2), err)
	}
	root, _, err := w2.Def.Resolve(ctx, rootComp(t, w2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(w2.NS, "/n/r/", ""); err != nil {
		t.Fatal(err)
	}
	if err := w2.NS.Mount(root, "/n/r", ns.MREPL, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := cat(w2.NS, "/n/r/secret"); err != nil || got != "hi" {
		t.Fatalf("cat /n/r/secret in w2 = %q, %v; want hi, the shell's mount of the root's tree", got, err)
	}
	if err := reg.Clone(ctx, "w2", "w3", ""); err != nil {
		t.Fatal(err)
	}
	w3 := mustGet(t, reg, "w3")
	if _, err := cat(w3.NS, "/n/r/secret"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cat /n/r/secret in w3 = %v; want ErrNotExist: the root's tree is not the view's own", err)
	}
	checkView(t, w3, "data")
}

// rootComp names the component s's namespace as built mounts on /.
func rootComp(t *testing.T, s *System) string {
	t.Helper()
	text, err := s.Def.NS.Text()
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := ns.ParseText("ns", text)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if c.Op == "mount" && c.Args[1] == "/" {
			return c.Args[0]
		}
	}
	t.Fatalf("nothing mounted on / in\n%s", text)
	return ""
}

// checkViewGated checks that the server s's view mounts on /n/x is
// behind s's gate: a request to it waits while s is paused.
func checkViewGated(t *testing.T, s *System) {
	t.Helper()
	ctx := context.Background()
	f, err := walk(ctx, s.NS, "glenda", "/n/x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	defer s.Resume()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := f.Stat(cctx)
		errc <- err
	}()
	for s.Held() != 1 {
		select {
		case err := <-errc:
			t.Fatalf("stat /n/x in %s while paused = %v; want it held by the gate", s.Name, err)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, ns.ErrInterrupt) {
		t.Errorf("stat /n/x in %s while paused, flushed = %v; want ErrInterrupt", s.Name, err)
	}
}
