package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"loom/components/proc"
	"loom/components/sandbox"
	"loom/ns"
)

// TestMain lets the test binary be a box's init and spawner: sandbox.New runs
// the current binary again for that.
func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

// newSystems makes a registry of glenda's, closed when the test ends.
func newSystems(t *testing.T) *Systems {
	t.Helper()
	reg := New(User("glenda"))
	t.Cleanup(func() { reg.Close() })
	return reg
}

// needHost skips the test unless every one of paths is on the host: the
// sandbox tests run real programs behind FUSE. what names them for the
// message.
func needHost(t *testing.T, what string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("this test needs %s: %v", what, err)
		}
	}
}

// skipRefused skips the test if err is the kernel refusing a sandbox:
// not every host lets loom make one.
func skipRefused(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "sandbox:") {
		t.Skipf("the kernel refuses the sandbox: %v", err)
	}
}

// boxedSystem makes the system name in reg and applies the policy p to
// it.
func boxedSystem(t *testing.T, ctx context.Context, reg *Systems, name string, p Policy) *System {
	t.Helper()
	sys := mustNew(t, reg, name)
	if err := sys.apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	return sys
}

// readAll reads the file p of fsys to its end.
func readAll(fsys ns.FS, p string) (string, error) {
	ctx := context.Background()
	f, err := openFile(ctx, fsys, p, ns.OREAD)
	if err != nil {
		return "", err
	}
	defer f.Clunk()
	var b strings.Builder
	buf := make([]byte, 8192)
	for off := int64(0); ; {
		n, err := f.Read(ctx, buf, off)
		b.Write(buf[:n])
		off += int64(n)
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
	}
}

func TestRestricts(t *testing.T) {
	tests := []struct {
		p    Policy
		want bool
	}{
		{Unrestricted(), false},
		{rules(t, "all", nil, nil, nil, "", nil), false},
		{rules(t, "paths", []string{"/tmp"}, nil, nil, "", nil), true},
		{rules(t, "ro", nil, []string{"/tmp"}, nil, "", nil), true},
		{rules(t, "devs", nil, nil, []string{"null"}, "", nil), true},
		{rules(t, "net", nil, nil, nil, "loopback", nil), true},
		{rules(t, "lim", nil, nil, nil, "", map[string]int64{"processes": 4}), true},
	}
	for _, tt := range tests {
		if got := tt.p.Restricts(); got != tt.want {
			t.Errorf("Policy %q Restricts() = %v; want %v", tt.p.Name, got, tt.want)
		}
	}
}

// TestCloneSandboxIsolates clones a system whose shell script runs on the
// host into a sandbox: started again there, the script runs in new
// namespaces of the kernel's, sees the clone's namespace (its log) and
// the host's programs, and nothing else of the host.
func TestCloneSandboxIsolates(t *testing.T) {
	needHost(t, "Debian's amd64 programs, a host /home and FUSE", "/bin/dash", "/usr/bin/cat", "/usr/bin/ls", "/home", "/dev/fuse")
	reg := newSystems(t)
	src := mustNew(t, reg, "src")
	w, err := src.Def.Env.Log.Writer("x")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello from the log\n"))
	if err := src.Def.Env.Vars.Set("PATH", "/bin"); err != nil {
		t.Fatal(err)
	}
	// On the host there is no /log/x: the original waits to be cloned.
	script := `echo pid=$$; cat /log/x 2>&1; ls /home 2>&1 || echo home-absent; n=0; while read l; do n=$((n+1)); done < /proc/net/dev; echo ifaces=$((n-2)); test -e /log/x || exec sleep 60`
	if _, err := src.Def.Env.Proc.Start(context.Background(), []string{"/bin/dash", "-c", script},
		proc.StartOptions{Name: "script", Env: src.Def.Env.Environ()}); err != nil {
		t.Fatal(err)
	}
	reg.DefineSandbox(rules(t, "jail", []string{"/log", "/tmp", "/usr", "/bin", "/lib", "/lib64"}, []string{"/usr"}, []string{"null"}, "none",
		map[string]int64{"processes": 16}))
	if err := reg.Clone(context.Background(), "src", "jailed", "jail"); err != nil {
		skipRefused(t, err)
		t.Fatal(err)
	}
	jailed, err := reg.Get("jailed")
	if err != nil {
		t.Fatal(err)
	}
	ps := jailed.Def.Env.Proc.List()
	if len(ps) != 1 {
		t.Fatalf("the clone's processes = %v; want the script", ps)
	}
	id := strconv.Itoa(ps[0].Pid)
	out, err := readAll(jailed.Def.Env.Proc, id+"/stdout")
	if err != nil {
		t.Fatalf("read the clone's %s/stdout: %v", id, err)
	}
	errOut, _ := readAll(jailed.Def.Env.Proc, id+"/stderr")
	if strings.Contains(errOut, "sandbox: init:") {
		t.Skipf("the sandbox's init failed, the kernel may refuse: %s", errOut)
	}
	var pid int
	if _, err := fmt.Sscanf(out, "pid=%d", &pid); err != nil || pid < 2 || pid > 100 {
		t.Errorf("the script's pid inside = %d (%v); want a small one of a new pid namespace\nstdout: %s\nstderr: %s", pid, err, out, errOut)
	}
	if !strings.Contains(out, "hello from the log") {
		t.Errorf("the script did not read the clone's /log/x:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if !strings.Contains(out, "home-absent") {
		t.Errorf("the script saw the host's /home:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if !strings.Contains(out, "ifaces=1\n") {
		t.Errorf("the script's network (none asked) is not a namespace of its own with only lo:\nstdout: %s", out)
	}
	if in := jailed.Def.Env.Proc.List()[0]; in.HostPid == pid {
		t.Errorf("host pid %d is the pid inside; want the sandbox's own numbering", in.HostPid)
	}
	// The original, on the host, runs on.
	if in := src.Def.Env.Proc.List(); len(in) != 1 || in[0].State == "Moribund" {
		t.Errorf("the original's processes = %v; want its script running", in)
	}
}

// TestSandboxedSystemShares starts two processes in one sandboxed
// system: they share one box (pid namespace, /proc), pausing the system
// freezes it, and stopping the system leaves no process and no cgroup.
func TestSandboxedSystemShares(t *testing.T) {
	needHost(t, "Debian's amd64 programs and FUSE", "/bin/dash", "/usr/bin/sleep", "/dev/fuse")
	ctx := context.Background()
	reg := newSystems(t)
	sys := boxedSystem(t, ctx, reg, "boxed", rules(t, "jail", []string{"/log", "/tmp", "/usr", "/bin", "/lib", "/lib64"}, nil, nil, "loopback", nil))
	env := []string{"PATH=/bin"}
	pr := sys.Def.Env.Proc
	first, err := pr.Start(ctx, []string{"sleep", "60"}, proc.StartOptions{Env: env})
	if err != nil {
		skipRefused(t, err)
		t.Fatal(err)
	}
	second, err := pr.Start(ctx, []string{"dash", "-c", "for d in /proc/[0-9]*; do cat $d/comm; done"}, proc.StartOptions{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Wait(ctx, second); err != nil {
		t.Fatal(err)
	}
	out, err := readAll(pr, strconv.Itoa(second)+"/stdout")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "sleep\n") {
		t.Errorf("the second process's /proc does not hold the first (sleep):\n%s", out)
	}
	box := sys.Box()
	if box == nil {
		t.Fatal("Box() = nil after two starts; want the system's box")
	}
	var hostPid int
	for _, in := range pr.List() {
		if in.Pid == first {
			hostPid = in.HostPid
		}
	}
	if a, b := pidNS(hostPid), pidNS(box.Pid()); a == "" || a != b {
		t.Errorf("pid namespace of sleep (host pid %d) = %q, of the box's init %q; want one", hostPid, a, b)
	}

	freezer := fmt.Sprintf("/sys/fs/cgroup/freezer/loom-%d/freezer.state", box.Pid())
	_, ferr := os.Stat(freezer)
	if err := pr.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if ferr == nil {
		if st, _ := os.ReadFile(freezer); strings.TrimSpace(string(st)) != "FROZEN" {
			t.Errorf("%s after Pause = %q; want FROZEN", freezer, st)
		}
	}
	if err := pr.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if ferr == nil {
		if st, _ := os.ReadFile(freezer); strings.TrimSpace(string(st)) != "THAWED" {
			t.Errorf("%s after Resume = %q; want THAWED", freezer, st)
		}
	}

	if err := reg.Stop("boxed"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, pid := range []int{hostPid, box.Pid()} {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill(%d, 0) after Stop = %v; want ESRCH", pid, err)
		}
	}
	if _, err := os.Stat(filepath.Dir(freezer)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the box's freezer cgroup after Stop: %v; want it gone", err)
	}
}

// TestRun runs programs in a sandboxed system's box as a shell in it
// does: on its files, with their status, killed when ctx ends; and
// refuses to for a system that is not sandboxed.
func TestRun(t *testing.T) {
	needHost(t, "Debian's amd64 programs and FUSE", "/bin/dash", "/usr/bin/sleep", "/dev/fuse")
	ctx := context.Background()
	reg := newSystems(t)
	plain := mustNew(t, reg, "plain")
	if plain.Sandboxed() || plain.Run(ctx, []string{"true"}, nil, nil, io.Discard, io.Discard) == nil {
		t.Errorf("an unrestricted system runs programs in a sandbox; want it refused")
	}
	sys := boxedSystem(t, ctx, reg, "boxed", rules(t, "jail", []string{"/tmp", "/usr", "/bin", "/lib", "/lib64"}, nil, nil, "none", nil))
	if !sys.Sandboxed() {
		t.Fatal("Sandboxed() = false in a jail")
	}
	env := []string{"PATH=/bin"}
	var out, errOut strings.Builder
	err := sys.Run(ctx, []string{"dash", "-c", "read x; echo got $x; ls /; cat /etc/passwd"}, env, strings.NewReader("hello\n"), &out, &errOut)
	skipRefused(t, err)
	if err == nil || err.Error() != "exit 1" {
		t.Errorf("Run(cat /etc/passwd) = %v; want exit 1", err)
	}
	if want := "got hello\nbin\ndev\nlib\nlib64\nproc\ntmp\nusr\n"; out.String() != want {
		t.Errorf("Run's output = %q; want %q (stderr %q)", out.String(), want, errOut.String())
	}
	cctx, cancel := context.WithCancel(ctx)
	go cancel()
	if err := sys.Run(cctx, []string{"sleep", "60"}, env, nil, io.Discard, io.Discard); err == nil {
		t.Errorf("Run(sleep 60) with ctx cancelled = nil; want an error")
	}
}

// execSession opens the clone file of the exec component mounted at dir
// of nsp, as glenda: it returns the open clone (the session's ctl) and
// the session's directory.
func execSession(t *testing.T, nsp ns.FS, dir string) (ns.File, string) {
	t.Helper()
	ctx := context.Background()
	ctl, err := walk(ctx, nsp, "glenda", dir+"/clone")
	if err != nil {
		t.Fatalf("walk %s/clone: %v", dir, err)
	}
	if _, err := ctl.Open(ctx, ns.ORDWR); err != nil {
		ctl.Clunk()
		skipRefused(t, err)
		t.Fatalf("open %s/clone: %v", dir, err)
	}
	buf := make([]byte, 16)
	n, err := ctl.Read(ctx, buf, 0)
	if err != nil || n == 0 {
		ctl.Clunk()
		t.Fatalf("read %s/clone = %q, %v; want a session number", dir, buf[:n], err)
	}
	return ctl, dir + "/" + string(buf[:n])
}

// pidNS is the pid namespace of the host process pid, as its
// /proc/PID/ns/pid link says.
func pidNS(pid int) string {
	l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	return l
}

// TestExecSandboxed runs exec sessions in sandboxed systems: those of a
// component a clone into the sandbox made again and those of one mounted
// there afterwards run in the system's box (its pid namespace), talk
// through their data files and die by their ctl; the original's, outside
// any sandbox, run in loom's own pid namespace.
func TestExecSandboxed(t *testing.T) {
	needHost(t, "Debian's amd64 programs and FUSE", "/usr/bin/cat", "/dev/fuse")
	ctx := context.Background()
	reg := newSystems(t)
	src := mustNew(t, reg, "src")
	if err := src.Def.Env.Vars.Set("PATH", "/bin"); err != nil {
		t.Fatal(err)
	}
	mount := func(s *System, dir string) {
		t.Helper()
		for _, d := range []string{"/n/", dir + "/"} {
			if err := put(s.NS, d, ""); err != nil && !errors.Is(err, os.ErrExist) {
				t.Fatalf("mkdir %s in %s: %v", d, s.Name, err)
			}
		}
		fsys, aname, err := s.Resolve(ctx, "exec", []string{"cat"})
		if err != nil {
			t.Fatalf("mount exec cat in %s: %v", s.Name, err)
		}
		if err := s.NS.Mount(fsys, dir, ns.MREPL, aname); err != nil {
			t.Fatal(err)
		}
	}
	mount(src, "/n/cat")
	reg.DefineSandbox(rules(t, "jail", []string{"/n", "/tmp", "/usr", "/bin", "/lib", "/lib64"}, []string{"/usr"}, nil, "none", nil))
	if err := reg.Clone(ctx, "src", "jailed", "jail"); err != nil {
		t.Fatal(err)
	}
	jailed, err := reg.Get("jailed")
	if err != nil {
		t.Fatal(err)
	}
	mount(jailed, "/n/later")

	for _, tc := range []struct {
		sys   *System
		dir   string
		boxed bool
	}{
		{src, "/n/cat", false},
		{jailed, "/n/cat", true},
		{jailed, "/n/later", true},
	} {
		what := tc.sys.Name + " " + tc.dir
		ctl, sess := execSession(t, tc.sys.NS, tc.dir)
		st, err := cat(tc.sys.NS, sess+"/status")
		var id, pid int
		if _, serr := fmt.Sscanf(st, "%d %d running", &id, &pid); err != nil || serr != nil {
			ctl.Clunk()
			t.Fatalf("%s: status = %q, %v; want N PID running", what, st, err)
		}
		want := pidNS(os.Getpid())
		if tc.boxed {
			box := tc.sys.Box()
			if box == nil {
				ctl.Clunk()
				t.Fatalf("%s: a session runs, yet the system has no box", what)
			}
			want = pidNS(box.Pid())
		}
		if got := pidNS(pid); got == "" || got != want {
			t.Errorf("%s: the program's pid namespace = %q; want %q (boxed %v)", what, got, want, tc.boxed)
		}
		if err := write(tc.sys.NS, sess+"/data", "through the data file\n"); err != nil {
			t.Errorf("%s: write data: %v", what, err)
		}
		if got, err := cat(tc.sys.NS, sess+"/data"); got != "through the data file\n" {
			t.Errorf("%s: read data = %q, %v; want the line cat echoes", what, got, err)
		}
		if _, err := ctl.Write(ctx, []byte("kill"), 0); err != nil {
			t.Errorf("%s: ctl kill: %v", what, err)
		}
		if got, err := cat(tc.sys.NS, sess+"/wait"); !strings.HasSuffix(got, fmt.Sprintf("'cat %d: kill'\n", id)) {
			t.Errorf("%s: wait after kill = %q, %v; want cat %d: kill", what, got, err, id)
		}
		ctl.Clunk()
	}
}
