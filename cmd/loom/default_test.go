package main

import (
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"

	"loom/9p"
	"loom/components/ramfs"
)

// TestServeDefault: loom serve serves the tree of systems, the shell's
// default system among them as /systems/loom, which 9P clients use:
// loom's own 9p verbs and 9fans.net's client.
func TestServeDefault(t *testing.T) {
	const r = "/systems/loom/root"
	addr := startServe(t)
	c := func(stdin string, args ...string) string {
		t.Helper()
		out, err := loom(t, stdin, append([]string{"9p", "-a", addr}, args...)...)
		if err != nil {
			t.Fatalf("loom 9p %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if got := c("", "ls", "/"); got != "ctl\nsystems\nsandboxes\n" {
		t.Errorf("ls / = %q; want the tree's files", got)
	}
	if got := c("", "ls", "/systems"); got != "loom\n" {
		t.Errorf("ls /systems = %q; want the default system", got)
	}
	if got := c("", "ls", r); got != "dev\nenv\nsrv\nlog\nproc\ntmp\n" {
		t.Errorf("ls %s = %q; want the default system's directories", r, got)
	}
	if got := c("", "ls", r+"/dev"); got != "cons\nnull\nrandom\nsysname\ntime\nuser\nzero\n" {
		t.Errorf("ls /dev = %q", got)
	}
	if got := c("", "read", r+"/dev/time"); !regexp.MustCompile(`^ *\d+ +\d+ +\d+ +\d+ *$`).MatchString(got) {
		t.Errorf("read /dev/time = %q; want cons(3)'s four numbers", got)
	}
	c("hello\n", "write", r+"/env/x")
	if got := c("", "read", r+"/env/x"); got != "hello\n" {
		t.Errorf("read /env/x = %q; want hello", got)
	}

	// A process started through /proc/ctl, with 9fans.net's client.
	sock := strings.TrimPrefix(addr, "unix!")
	conn, err := client.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fsys, err := conn.Attach(nil, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := fsys.Open(r+"/proc/ctl", plan9.ORDWR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Write([]byte("start sh -c 'echo $x from a process'")); err != nil {
		t.Fatal(err)
	}
	pid := make([]byte, 10)
	n, err := ctl.ReadAt(pid, 0)
	ctl.Close()
	if err != nil && err != io.EOF || string(pid[:n]) != "1\n" {
		t.Fatalf("read /proc/ctl = %q, %v; want 1", pid[:n], err)
	}
	read := func(name string) string {
		t.Helper()
		f, err := fsys.Open(name, plan9.OREAD)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return string(b)
	}
	if got := read(r + "/dev/time"); !regexp.MustCompile(`^ *\d+ +\d+ +\d+ +\d+ *$`).MatchString(got) {
		t.Errorf("9fans read /dev/time = %q", got)
	}
	if f, err := fsys.Create(r+"/env/y", plan9.OWRITE, 0o644); err != nil {
		t.Fatal(err)
	} else {
		f.Write([]byte("why"))
		f.Close()
	}
	if got := read(r + "/env/y"); got != "why" {
		t.Errorf("9fans read /env/y = %q; want why", got)
	}
	if got := read(r + "/proc/1/stdout"); got != "hello from a process\n" {
		t.Errorf("/proc/1/stdout = %q; want the variable set in /env", got)
	}
	if got := read(r + "/proc/1/status"); !strings.HasPrefix(got, "sh ") || !strings.Contains(got, " Moribund ") {
		t.Errorf("/proc/1/status = %q; want sh, exited", got)
	}
	if got := read(r + "/proc/1/wait"); !regexp.MustCompile(`^1 \d+ \d+ \d+ ''\n$`).MatchString(got) {
		t.Errorf("/proc/1/wait = %q; want success", got)
	}
	if got := read(r + "/log/proc"); !strings.Contains(got, " proc start 1: sh -c ") {
		t.Errorf("/log/proc = %q; want the start logged", got)
	}
}

// TestAttachMountSrv: a shell attached to a server with -a mounts a 9P
// server registered in the server's /srv.
func TestAttachMountSrv(t *testing.T) {
	addr := startServe(t)
	other := startServe(t)
	if _, err := loom(t, "from the other server\n", "9p", "-a", other, "write", "/systems/loom/root/tmp/greeting"); err != nil {
		t.Fatal(err)
	}
	if _, err := loom(t, other+"\n", "9p", "-a", addr, "write", "/systems/loom/root/srv/other"); err != nil {
		t.Fatal(err)
	}
	out, err := loom(t, "", "-a", addr, "-c", "mkdir /tmp/n; mount /srv/other /tmp/n; cat /tmp/n/systems/loom/root/tmp/greeting")
	if err != nil || out != "from the other server\n" {
		t.Errorf("mount /srv/other in an attached shell: %q, %v", out, err)
	}
	out, err = loom(t, "", "-a", addr, "-c", "mount /srv/nothing /tmp; mount /env /tmp")
	if err == nil || !strings.Contains(out, "mount: /srv/nothing: file does not exist") || !strings.Contains(out, "mount: /env: is a directory") {
		t.Errorf("bad mounts in an attached shell: %q, %v", out, err)
	}
}

// TestShellAndClientSeeOneTree: what a shell attached with -a does, a 9P
// client sees in the tree, and the other way round.
func TestShellAndClientSeeOneTree(t *testing.T) {
	addr := startServe(t)
	sh := func(src string) string {
		t.Helper()
		out, err := loom(t, "", "-a", addr, "-c", src)
		if err != nil {
			t.Fatalf("loom -a -c %q: %v: %s", src, err, out)
		}
		return out
	}
	c := func(stdin string, args ...string) string {
		t.Helper()
		out, err := loom(t, stdin, append([]string{"9p", "-a", addr}, args...)...)
		if err != nil {
			t.Fatalf("loom 9p %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	sh(`system web { mkdir /www; mount -c ramfs /www; echo hello > /www/index }
sandbox offline { allow /www; network none }
clone web as web2 in offline`)
	if got := c("", "ls", "/systems"); got != "loom\nweb\nweb2\n" {
		t.Errorf("ls /systems after the shell's clone = %q", got)
	}
	if got := c("", "read", "/systems/web2/root/www/index"); got != "hello\n" {
		t.Errorf("read web2's /www/index = %q; want hello", got)
	}
	if got := c("", "read", "/sandboxes/offline"); got != "allow /www\nnetwork none\n" {
		t.Errorf("read /sandboxes/offline = %q", got)
	}
	if got := c("", "read", "/systems/web/ns"); !strings.Contains(got, "/www\n") {
		t.Errorf("read /systems/web/ns = %q; want the shell's mount", got)
	}
	// And a 9P client's system is the shell's.
	c("system db {\n}\n", "write", "/ctl")
	c("mkdir /data\nmount -c ramfs /data\necho rows > /data/t\n", "write", "/systems/db/ctl")
	if got := sh("systems; use db; cat /data/t; ns"); !strings.HasPrefix(got, "db\nloom\nweb\nweb2\nrows\n") || !strings.Contains(got, " /data\n") {
		t.Errorf("the shell after a 9P client made db = %q", got)
	}
	// A syntax error written to a ctl file changes nothing and says where.
	out, err := loom(t, "mkdir /x\necho 'open\n", "9p", "-a", addr, "write", "/systems/db/ctl")
	if err == nil || !strings.Contains(out, "/systems/db/ctl:2:6: ") {
		t.Errorf("write of a script with a syntax error: %q, %v; want the error's position", out, err)
	}
	if got := sh("ls /; use db; ls /"); strings.Contains(got, "/x\n") {
		t.Errorf("/x made by a script with a syntax error: ls = %q", got)
	}
}

// TestAttachNotLoom: -a wants a loom server's tree, and says so.
func TestAttachNotLoom(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ramfs.sock")
	l, err := ninep.Listen("unix!" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ninep.NewServer(ramfs.New()).Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	out, err := loom(t, "", "-a", "unix!"+sock, "-c", "ls")
	if err == nil || !strings.Contains(out, "not a loom server's tree") {
		t.Errorf("loom -a to a plain 9P server = %q, %v; want it refused", out, err)
	}
}
