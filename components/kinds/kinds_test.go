package kinds

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"loom/9p"
	"loom/components/dev"
	"loom/components/env"
	"loom/components/log"
	"loom/components/proc"
	"loom/components/ramfs"
	"loom/components/srv"
	"loom/ns"
	"loom/ns/nstest"
)

var bg = context.Background()

func TestRegistry(t *testing.T) {
	all := All()
	var names []string
	for _, k := range all {
		names = append(names, k.Name)
		if !strings.HasPrefix(k.Synopsis, k.Name) || k.Doc == "" || k.Help == "" || k.New == nil {
			t.Errorf("kind %s = %+v; want a synopsis starting with its name, a doc, help and New", k.Name, k)
		}
		if got, ok := Lookup(k.Name); !ok || got.Name != k.Name {
			t.Errorf("Lookup(%s) = %v, %v; want the kind", k.Name, got.Name, ok)
		}
	}
	if !slices.IsSorted(names) || !slices.Equal(names, Names()) {
		t.Errorf("All() names %v, Names() %v; want the same, sorted", names, Names())
	}
	for _, want := range []string{"dev", "env", "exec", "hostfs", "log", "pipe", "proc", "ramfs", "srv"} {
		if !slices.Contains(names, want) {
			t.Errorf("kinds %v lack %s", names, want)
		}
	}
	if _, ok := Lookup("frob"); ok {
		t.Errorf("Lookup(frob) found a kind")
	}
}

// TestArgs: each kind reads its mount arguments and says what is wrong
// with bad ones.
func TestArgs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		kind string
		args []string
		err  string // "" for success
	}{
		{"ramfs", nil, ""},
		{"ramfs", []string{"x"}, "ramfs: takes no arguments"},
		{"proc", nil, ""},
		{"proc", []string{"x"}, "proc: takes no arguments"},
		{"srv", nil, ""},
		{"srv", []string{"x", "y"}, "srv: takes no arguments"},
		{"dev", nil, ""},
		{"dev", []string{"x"}, "dev: takes no arguments"},
		{"env", nil, ""},
		{"env", []string{"x"}, "env: takes no arguments"},
		{"log", nil, ""},
		{"log", []string{"x"}, "log: takes no arguments"},
		{"pipe", nil, ""},
		{"pipe", []string{"x"}, "pipe: takes no arguments"},
		{"exec", nil, "exec: need a program"},
		{"exec", []string{"cat"}, ""},
		{"exec", []string{"tr", "a-z", "A-Z"}, ""},
		{"exec", []string{"loom-no-such-program"}, "exec: \"loom-no-such-program\": executable file not found"},
		{"hostfs", nil, "hostfs: need a directory"},
		{"hostfs", []string{"-ro"}, "hostfs: need a directory"},
		{"hostfs", []string{dir}, ""},
		{"hostfs", []string{dir, "-ro"}, ""},
		{"hostfs", []string{"-ro", dir}, ""},
		{"hostfs", []string{dir, "ro"}, ""},
		{"hostfs", []string{dir, "-rw"}, `hostfs: unexpected argument "-rw"`},
		{"hostfs", []string{dir, dir}, "hostfs: unexpected argument"},
		{"hostfs", []string{filepath.Join(dir, "nonexistent")}, "no such file or directory"},
	} {
		k, _ := Lookup(tc.kind)
		fsys, err := k.New(tc.args, Env{User: "glenda"})
		switch {
		case tc.err == "" && (err != nil || fsys == nil):
			t.Errorf("%s %q: New = %v, %v; want a server", tc.kind, tc.args, fsys, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %q: New = %v; want an error with %q", tc.kind, tc.args, err, tc.err)
		}
		if c, ok := fsys.(interface{ Close() error }); ok {
			c.Close()
		}
	}
}

// TestHostfsReadOnly: -ro reaches hostfs.
func TestHostfsReadOnly(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("host\n"), 0o644)
	k, _ := Lookup("hostfs")
	fsys, err := k.New([]string{dir, "-ro"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readSmall(bg, fsys, "loom", "f"); err != nil || got != "host" {
		t.Errorf("read f = %q, %v; want host", got, err)
	}
	if err := writeFile(bg, fsys, "loom", "f", "x"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("write f of hostfs -ro = %v; want permission denied", err)
	}
}

// TestShared: srv and proc give the system's own when it has them.
func TestShared(t *testing.T) {
	env := Env{User: "glenda", Srv: srv.New(), Proc: proc.New(), Dev: dev.New(), Vars: env.New(), Log: log.New()}
	defer env.Proc.Close()
	for _, tc := range []struct {
		kind string
		want ns.FS
	}{{"srv", env.Srv}, {"proc", env.Proc}, {"dev", env.Dev}, {"env", env.Vars}, {"log", env.Log}} {
		k, _ := Lookup(tc.kind)
		if got, _ := k.New(nil, env); got != tc.want {
			t.Errorf("%s: New = %v; want the system's %v", tc.kind, got, tc.want)
		}
		if got, _ := k.New(nil, Env{}); got == tc.want || got == nil {
			t.Errorf("%s without one in Env: New = %v; want a new server", tc.kind, got)
		}
	}
}

func newDefault(t *testing.T) *Default {
	t.Helper()
	d, err := NewDefault("glenda")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// shell runs the Default's commands, as the shell's builtins do.
func command(t *testing.T, d *Default, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := d.Command(bg, &out, args)
	return out.String(), err
}

func TestDefaultNamespace(t *testing.T) {
	d := newDefault(t)
	text, err := d.NS.Text()
	if err != nil {
		t.Fatal(err)
	}
	want := "mount -c ramfs.1 /\nmount dev /dev\nmount -c env /env\nmount -c srv /srv\nmount -c log /log\nmount proc /proc\nmount -c ramfs.2 /tmp\n"
	if string(text) != want {
		t.Errorf("Text() =\n%s\nwant\n%s", text, want)
	}
	// dev's streams (cons, zero, random) and time, which changes, are
	// left to dev's own tests.
	nstest.TestFS(t, d.NS, nstest.User("glenda"), nstest.Expect("dev/null", "env/USER", "log/all", "log/proc", "proc", "srv", "tmp"),
		nstest.Skip("dev/cons", "dev/zero", "dev/random", "dev/time", "log/all.stream", "log/proc.stream"))
}

// TestResolve: mount's sources in the default system.
func TestResolve(t *testing.T) {
	d := newDefault(t)
	remote := ramfs.New()
	mkfile(t, remote, "greeting", "remote\n")
	addr := serve9P(t, remote)

	if fsys, _, err := d.Resolve(bg, "srv", nil); err != nil || fsys != ns.FS(d.Env.Srv) {
		t.Errorf("Resolve(srv) = %v, %v; want the system's srv", fsys, err)
	}
	if fsys, _, err := d.Resolve(bg, "proc", nil); err != nil || fsys != ns.FS(d.Env.Proc) {
		t.Errorf("Resolve(proc) = %v, %v; want the system's proc", fsys, err)
	}
	if _, _, err := d.Resolve(bg, "ramfs", []string{"x"}); err == nil || err.Error() != "ramfs: takes no arguments" {
		t.Errorf("Resolve(ramfs x) = %v; want ramfs: takes no arguments", err)
	}
	if _, _, err := d.Resolve(bg, "frob", nil); err == nil || !strings.Contains(err.Error(), "frob: unknown kind of file server (kinds: dev, env, exec, hostfs, log, pipe, proc, ramfs, srv") {
		t.Errorf("Resolve(frob) = %v; want unknown kind, naming the kinds", err)
	}

	// An address, and the same address registered in /srv.
	fsys, aname, err := d.Resolve(bg, addr, []string{"tree"})
	if err != nil || aname != "tree" {
		t.Fatalf("Resolve(%s, tree) = %v, %q, %v", addr, fsys, aname, err)
	}
	if got := read(t, fsys, "greeting"); got != "remote" {
		t.Errorf("greeting by address = %q; want remote", got)
	}
	if err := createFile(d.NS, "glenda", "/srv/r", addr); err != nil {
		t.Fatal(err)
	}
	fsys, _, err = d.Resolve(bg, "/srv/r", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, fsys, "greeting"); got != "remote" {
		t.Errorf("greeting by /srv/r = %q; want remote", got)
	}
	if n, ok := fsys.(ns.Namer); !ok || n.Name() != "/srv/r" {
		t.Errorf("Resolve(/srv/r) is not named /srv/r")
	}

	// A local server posted in srv.
	local := ramfs.New()
	mkfile(t, local, "greeting", "local\n")
	d.Env.Srv.Post("l", local)
	fsys, _, err = d.Resolve(bg, "/srv/l", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, fsys, "greeting"); got != "local" {
		t.Errorf("greeting by /srv/l = %q; want local", got)
	}

	for _, tc := range []struct{ src, want string }{
		{"/srv/none", "/srv/none: file does not exist"},
		{"/tmp", "/tmp: is a directory"},
		{"/srv/r", "too many arguments"},
	} {
		mkfile(t, d.NS, "/tmp/f", "not an address\n")
		args := []string(nil)
		if tc.want == "too many arguments" {
			args = []string{"a", "b"}
		}
		if _, _, err := d.Resolve(bg, tc.src, args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%s, %q) = %v; want an error with %q", tc.src, args, err, tc.want)
		}
	}
	if _, _, err := d.Resolve(bg, "/tmp/f", nil); err == nil || !strings.Contains(err.Error(), `names no server (it holds "not an address")`) {
		t.Errorf("Resolve(/tmp/f) = %v; want names no server", err)
	}
}

// TestPost: post NAME PATH posts the namespace or a subtree of it, which
// mount /srv/NAME then mounts; nothing above the subtree can be reached.
func TestPost(t *testing.T) {
	d := newDefault(t)
	mkfile(t, d.NS, "/tmp/web/index.html", "<h1>hi</h1>\n")
	mkfile(t, d.NS, "/secret", "secret\n")
	if _, err := command(t, d, "post", "web", "/tmp/web"); err != nil {
		t.Fatal(err)
	}
	if _, err := command(t, d, "post", "all", "/"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ args, want string }{
		{"post web /tmp", "post: post web: file already exists"},
		{"post x /nonexistent", "post: /nonexistent: file does not exist"},
		{"post x", "post: usage: post name path"},
		{"post a/b /tmp", `post: post "a/b": bad character in file name`},
	} {
		if _, err := command(t, d, strings.Fields(tc.args)...); err == nil || err.Error() != tc.want {
			t.Errorf("%s = %v; want %s", tc.args, err, tc.want)
		}
	}
	if got := read(t, d.NS, "/srv/web"); got != "local" {
		t.Errorf("read /srv/web = %q; want local", got)
	}
	web, _, err := d.Resolve(bg, "/srv/web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, web, "index.html"); got != "<h1>hi</h1>" {
		t.Errorf("index.html of the posted subtree = %q", got)
	}
	for _, p := range []string{"../secret", "../../secret", "../tmp/web/../../secret"} {
		if got, err := readSmall(bg, web, "glenda", p); err == nil {
			t.Errorf("read %s of the subtree = %q; want it out of reach", p, got)
		}
	}
	if got, err := readSmall(bg, web, "glenda", "../index.html"); err != nil || got != "<h1>hi</h1>" {
		t.Errorf("read ../index.html of the subtree = %q, %v; want .. of its root to be its root", got, err)
	}
	all, _, _ := d.Resolve(bg, "/srv/all", nil)
	if got := read(t, all, "/tmp/web/index.html"); got != "<h1>hi</h1>" {
		t.Errorf("index.html of the posted namespace = %q", got)
	}
	// Mounted in the namespace, the subtree shows in its text by the srv
	// file's name.
	mkdir(t, d.NS, "/n")
	if err := d.NS.Mount(web, "/n", ns.MREPL, ""); err != nil {
		t.Fatal(err)
	}
	if text, _ := d.NS.Text(); !strings.HasSuffix(string(text), "mount /srv/web /n\n") {
		t.Errorf("Text() =\n%s\nwant it to end in mount /srv/web /n", text)
	}
}

// TestSubtree runs the conformance suite on a subtree of a ramfs.
func TestSubtree(t *testing.T) {
	r := ramfs.New()
	mkfile(t, r, "a/b/c", "deep\n")
	mkfile(t, r, "outside", "no\n")
	sub := Subtree(r, "a")
	nstest.TestFS(t, sub, nstest.Expect("b/c"))
	root, _ := sub.Attach(bg, "loom", "")
	defer root.Clunk()
	qids, f, err := root.Walk(bg, []string{"b", "..", "..", "..", "b", "c"})
	if err != nil || f == nil || len(qids) != 6 {
		t.Fatalf("Walk(b .. .. .. b c) = %v, %v, %v; want all six", qids, f, err)
	}
	f.Clunk()
	if _, f, _ := root.Walk(bg, []string{"..", "outside"}); f != nil {
		f.Clunk()
		t.Errorf("Walk(.. outside) reached a file above the subtree")
	}
	if err := root.(ns.Remover).Remove(bg); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Remove of the subtree's root = %v; want permission denied", err)
	}
}

// TestCommands: start, ps and kill in the default system.
func TestCommands(t *testing.T) {
	d := newDefault(t)
	out, err := command(t, d, "start", "-n", "sleeper", "sleep", "1000")
	if err != nil || out != "1\n" {
		t.Fatalf("start = %q, %v; want 1", out, err)
	}
	if out, err = command(t, d, "start", "sh", "-c", "echo $0 hello", "x"); err != nil || out != "2\n" {
		t.Fatalf("start = %q, %v; want 2", out, err)
	}
	if _, err := d.Env.Proc.Wait(bg, 2); err != nil {
		t.Fatal(err)
	}
	if got := read(t, d.NS, "/proc/2/stdout"); got != "x hello" {
		t.Errorf("/proc/2/stdout = %q; want x hello", got)
	}
	out, err = command(t, d, "ps")
	ps := regexp.MustCompile(`^glenda +1 +0:00 +0:00 +\d+K (Wakeme|Running) +sleeper\nglenda +2 +0:00 +0:00 +0K Moribund +sh\n$`)
	if err != nil || !ps.MatchString(out) {
		t.Errorf("ps = %q, %v; want Plan 9's ps lines for both", out, err)
	}
	if out, _ = command(t, d, "ps", "-a"); !strings.Contains(out, " sleep 1000\n") || !strings.Contains(out, " sh -c 'echo $0 hello' x\n") {
		t.Errorf("ps -a = %q; want the command lines", out)
	}
	for _, tc := range []struct{ args, want string }{
		{"kill", "kill: usage: kill number|name ..."},
		{"kill nosuch", "kill: nosuch: no such process"},
		{"kill 99", "kill: 99: no such process"},
		{"kill 2", "kill: 2: kill: process exited"},
		{"start", "start: usage: start [-n name] program [args ...]"},
		{"start -x true", "start: usage: start [-n name] program [args ...]"},
		{"start loom-no-such-program", "start: loom-no-such-program: not found"},
		{"ps -x", "ps: usage: ps [-a]"},
		{"frob", "frob: unknown command"},
	} {
		if _, err := command(t, d, strings.Fields(tc.args)...); err == nil || err.Error() != tc.want {
			t.Errorf("%s = %v; want %s", tc.args, err, tc.want)
		}
	}
	if _, err := command(t, d, "kill", "sleeper"); err != nil {
		t.Fatal(err)
	}
	e, err := d.Env.Proc.Wait(bg, 1)
	if err != nil || e.Msg != "sleeper 1: kill" {
		t.Errorf("sleeper's exit = %q, %v; want killed", e.Msg, err)
	}
	// proc logs to the system's log.
	logged := regexp.MustCompile(`(?m)^\S+ proc start 1: sleep 1000\n\S+ proc start 2: sh -c 'echo \$0 hello' x\n\S+ proc exit 2: ''\n\S+ proc exit 1: 'sleeper 1: kill'$`)
	if got := read(t, d.NS, "/log/proc"); !logged.MatchString(got) {
		t.Errorf("/log/proc =\n%s\nwant the starts and exits", got)
	}
	// The process's ns file is the system's namespace.
	if got, want := read(t, d.NS, "/proc/1/ns"), "mount -c ramfs.1 /\nmount dev /dev\nmount -c env /env\nmount -c srv /srv\nmount -c log /log\nmount proc /proc\nmount -c ramfs.2 /tmp"; got != want {
		t.Errorf("/proc/1/ns = %q; want %q", got, want)
	}
}

// TestEnvironment: the system's env is the environment of the processes
// it starts, and of exec's programs.
func TestEnvironment(t *testing.T) {
	d, err := NewDefault("glenda", Vars("GREETING=hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := read(t, d.NS, "/env/USER"); got != "glenda" {
		t.Errorf("/env/USER = %q; want glenda", got)
	}
	if got := read(t, d.NS, "/env/PATH"); got != os.Getenv("PATH") {
		t.Errorf("/env/PATH = %q; want loom's %q", got, os.Getenv("PATH"))
	}
	if err := createFile(d.NS, "glenda", "/env/X", "set in env"); err != nil {
		t.Fatal(err)
	}
	command(t, d, "start", "sh", "-c", "echo $GREETING $X $USER")
	d.Env.Proc.Wait(bg, 1)
	if got := read(t, d.NS, "/proc/1/stdout"); got != "hello set in env glenda" {
		t.Errorf("process output = %q; want the system's variables", got)
	}
	if got := read(t, d.NS, "/proc/1/env"); !strings.HasSuffix(got, "\nX=set in env") {
		t.Errorf("/proc/1/env = %q; want X among the variables", got)
	}
}

// TestConsole: dev's cons is the console the system was given.
func TestConsole(t *testing.T) {
	var out bytes.Buffer
	d, err := NewDefault("glenda", Console(strings.NewReader("typed\n"), &out))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := writeFile(bg, d.NS, "glenda", "/dev/cons", "printed\n"); err != nil {
		t.Fatal(err)
	}
	if out.String() != "printed\n" {
		t.Errorf("console output = %q; want printed", out.String())
	}
	if got := read(t, d.NS, "/dev/cons"); got != "typed" {
		t.Errorf("read /dev/cons = %q; want typed", got)
	}
	if got := read(t, d.NS, "/dev/user"); got != "glenda" {
		t.Errorf("/dev/user = %q; want glenda", got)
	}
}

// TestClose: closing the system kills its processes.
func TestClose(t *testing.T) {
	d, err := NewDefault("glenda")
	if err != nil {
		t.Fatal(err)
	}
	command(t, d, "start", "sleep", "1000")
	hostPid := d.Env.Proc.List()[0].HostPid
	d.Close()
	if err := syscall.Kill(hostPid, 0); err != syscall.ESRCH {
		t.Errorf("kill(%d, 0) after Close = %v; want the process gone", hostPid, err)
	}
}

// Helpers.

func serve9P(t *testing.T, fsys ns.FS) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ninep.NewServer(fsys).Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	return "unix!" + sock
}

func read(t *testing.T, fsys ns.FS, p string) string {
	t.Helper()
	user := "glenda"
	if n, ok := fsys.(*ns.Namespace); ok {
		user = n.User()
	}
	s, err := readSmall(bg, fsys, user, p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return s
}

// mkdir makes the directory p and those above it.
func mkdir(t *testing.T, fsys ns.FS, p string) {
	t.Helper()
	root, err := fsys.Attach(bg, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	cur := ""
	for _, name := range ns.SplitPath(p) {
		if f, err := ns.WalkPath(bg, root, cur+"/"+name); err == nil {
			f.Clunk()
			cur += "/" + name
			continue
		}
		d, err := ns.WalkPath(bg, root, cur)
		if err != nil {
			t.Fatal(err)
		}
		f, _, err := d.(ns.Creater).Create(bg, name, ns.DMDIR|0o777, ns.OREAD)
		d.Clunk()
		if err != nil {
			t.Fatalf("mkdir %s/%s: %v", cur, name, err)
		}
		f.Clunk()
		cur += "/" + name
	}
}

// mkfile makes the file p, and the directories above it, holding text.
func mkfile(t *testing.T, fsys ns.FS, p, text string) {
	t.Helper()
	mkdir(t, fsys, filepath.Dir("/"+p))
	if err := createFile(fsys, "glenda", p, text); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create %s: %v", p, err)
	}
}

func createFile(fsys ns.FS, user, p, text string) error {
	root, err := fsys.Attach(bg, user, "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	d, err := ns.WalkPath(bg, root, filepath.Dir("/"+p))
	if err != nil {
		return err
	}
	defer d.Clunk()
	f, _, err := d.(ns.Creater).Create(bg, filepath.Base(p), 0o666, ns.OWRITE)
	if err != nil {
		return err
	}
	defer f.Clunk()
	_, err = f.Write(bg, []byte(text), 0)
	return err
}
