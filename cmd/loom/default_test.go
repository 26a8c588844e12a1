package main

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// TestServeDefault: loom serve serves the shell's default system, which
// 9P clients use: loom's own 9p verbs and 9fans.net's client.
func TestServeDefault(t *testing.T) {
	addr := startServe(t)
	c := func(stdin string, args ...string) string {
		t.Helper()
		out, err := loom(t, stdin, append([]string{"9p", "-a", addr}, args...)...)
		if err != nil {
			t.Fatalf("loom 9p %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if got := c("", "ls", "/"); got != "dev\nenv\nsrv\nlog\nproc\ntmp\n" {
		t.Errorf("ls / = %q; want the default system's directories", got)
	}
	if got := c("", "ls", "/dev"); got != "cons\nnull\nrandom\nsysname\ntime\nuser\nzero\n" {
		t.Errorf("ls /dev = %q", got)
	}
	if got := c("", "read", "/dev/time"); !regexp.MustCompile(`^ *\d+ +\d+ +\d+ +\d+ *$`).MatchString(got) {
		t.Errorf("read /dev/time = %q; want cons(3)'s four numbers", got)
	}
	c("hello\n", "write", "/env/x")
	if got := c("", "read", "/env/x"); got != "hello\n" {
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
	ctl, err := fsys.Open("/proc/ctl", plan9.ORDWR)
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
	if got := read("/dev/time"); !regexp.MustCompile(`^ *\d+ +\d+ +\d+ +\d+ *$`).MatchString(got) {
		t.Errorf("9fans read /dev/time = %q", got)
	}
	if f, err := fsys.Create("/env/y", plan9.OWRITE, 0o644); err != nil {
		t.Fatal(err)
	} else {
		f.Write([]byte("why"))
		f.Close()
	}
	if got := read("/env/y"); got != "why" {
		t.Errorf("9fans read /env/y = %q; want why", got)
	}
	if got := read("/proc/1/stdout"); got != "hello from a process\n" {
		t.Errorf("/proc/1/stdout = %q; want the variable set in /env", got)
	}
	if got := read("/proc/1/status"); !strings.HasPrefix(got, "sh ") || !strings.Contains(got, " Moribund ") {
		t.Errorf("/proc/1/status = %q; want sh, exited", got)
	}
	if got := read("/proc/1/wait"); !regexp.MustCompile(`^1 \d+ \d+ \d+ ''\n$`).MatchString(got) {
		t.Errorf("/proc/1/wait = %q; want success", got)
	}
	if got := read("/log/proc"); !strings.Contains(got, " proc start 1: sh -c ") {
		t.Errorf("/log/proc = %q; want the start logged", got)
	}
}

// TestAttachMountSrv: a shell attached to a server with -a mounts a 9P
// server registered in the server's /srv.
func TestAttachMountSrv(t *testing.T) {
	addr := startServe(t)
	other := startServe(t)
	if _, err := loom(t, "from the other server\n", "9p", "-a", other, "write", "/tmp/greeting"); err != nil {
		t.Fatal(err)
	}
	if _, err := loom(t, other+"\n", "9p", "-a", addr, "write", "/srv/other"); err != nil {
		t.Fatal(err)
	}
	out, err := loom(t, "", "-a", addr, "-c", "mkdir /tmp/n; mount /srv/other /tmp/n; cat /tmp/n/tmp/greeting")
	if err != nil || out != "from the other server\n" {
		t.Errorf("mount /srv/other in an attached shell: %q, %v", out, err)
	}
	out, err = loom(t, "", "-a", addr, "-c", "mount /srv/nothing /tmp; mount /env /tmp")
	if err == nil || !strings.Contains(out, "mount: /srv/nothing: file does not exist") || !strings.Contains(out, "mount: /env: is a directory") {
		t.Errorf("bad mounts in an attached shell: %q, %v", out, err)
	}
}
