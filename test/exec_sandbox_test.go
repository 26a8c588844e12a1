package test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"loom/components/system"
	"loom/ns"
)

// execRun runs one session of the exec component mounted at dir of the
// system's namespace, as a client of the namespace does: it opens clone,
// writes input to the session's data, closes the program's standard
// input and reads its output to the end, then its wait line. A start the
// kernel refuses skips the test.
func execRun(t *testing.T, sys *system.System, dir, input string) (out, wait string) {
	t.Helper()
	ctx := context.Background()
	root, err := sys.NS.Attach(ctx, "glenda", "")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Clunk()
	ctl, err := ns.WalkPath(ctx, root, dir+"/clone")
	if err != nil {
		t.Fatalf("%s: walk %s/clone: %v", sys.Name, dir, err)
	}
	defer ctl.Clunk()
	if _, err := ctl.Open(ctx, ns.ORDWR); err != nil {
		if strings.Contains(err.Error(), "sandbox:") {
			t.Skipf("the kernel refuses the sandbox: %v", err)
		}
		t.Fatalf("%s: open %s/clone: %v", sys.Name, dir, err)
	}
	id, err := ns.ReadAll(ctx, ctl)
	if err != nil || len(id) == 0 {
		t.Fatalf("%s: read %s/clone = %q, %v; want a session number", sys.Name, dir, id, err)
	}
	sess := dir + "/" + string(id)
	data, err := ns.WalkPath(ctx, root, sess+"/data")
	if err != nil {
		t.Fatal(err)
	}
	defer data.Clunk()
	if _, err := data.Open(ctx, ns.ORDWR); err != nil {
		t.Fatal(err)
	}
	if _, err := data.Write(ctx, []byte(input), 0); err != nil {
		t.Fatalf("%s: write %s/data: %v", sys.Name, sess, err)
	}
	if _, err := ctl.Write(ctx, []byte("close"), 0); err != nil {
		t.Fatalf("%s: ctl close: %v", sys.Name, err)
	}
	b, err := ns.ReadAll(ctx, data)
	if err != nil {
		t.Fatalf("%s: read %s/data: %v", sys.Name, sess, err)
	}
	w, err := readFile(sys.NS, "glenda", sess+"/wait")
	if err != nil {
		t.Fatalf("%s: read %s/wait: %v", sys.Name, sess, err)
	}
	return string(b), string(w)
}

// TestExecSandbox wraps sh as an exec component of a system and clones
// the system into sandboxes: the sessions of the clones' sh run in their
// system's kernel sandbox. In one that hides a path, sh cannot read it,
// nor the host file that a host directory mounted there shows, nor see
// any host process: its /proc holds its box's processes only. The same
// script in the original, outside any sandbox, reads the host's file
// and sees this test's process; and in a sandbox that hides nothing, it
// reads the path through the system's namespace. So each refusal is the
// sandbox's doing.
func TestExecSandbox(t *testing.T) {
	for _, p := range []string{"/bin/sh", "/usr/bin/cat", "/usr/lib/x86_64-linux-gnu"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("this test runs Debian's amd64 programs: %v", err)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("the sandbox needs /dev/fuse: %v", err)
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		t.Skip("user namespaces are turned off (user.max_user_namespaces is 0)")
	}
	ctx := context.Background()
	hostDir := filepath.Join(t.TempDir(), "secret")
	if err := os.Mkdir(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "key"), []byte(hostSecret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	reg := system.New(system.User("glenda"))
	t.Cleanup(func() { reg.Close() })
	base, err := reg.New("base")
	if err != nil {
		t.Fatal(err)
	}
	// The exec component takes the system's environment when it is
	// made, and a clone's that of the clone.
	for k, v := range map[string]string{"PATH": "/usr/bin:/bin", "HD": hostDir} {
		if err := base.Def.Env.Vars.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"/secret/", "/n/", "/n/sh/"} {
		if err := mk(base.NS, d, ""); err != nil {
			t.Fatalf("make %s: %v", d, err)
		}
	}
	for _, m := range []struct {
		dir, kind string
		args      []string
	}{
		{"/secret", "hostfs", []string{hostDir}},
		{"/n/sh", "exec", []string{"sh"}},
	} {
		fsys, aname, err := base.Resolve(ctx, m.kind, m.args)
		if err != nil {
			t.Fatalf("mount %s %s: %v", m.kind, m.dir, err)
		}
		if err := base.NS.Mount(fsys, m.dir, ns.MREPL, aname); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		name         string
		allow, ro    []string
		limits       map[string]int64
		clone, under string
	}{
		{"jail", []string{"/n", "/tmp", "/usr", "/bin", "/lib", "/lib64"}, []string{"/usr"}, nil, "jailed", "base"},
		// A limit that no program here reaches, and nothing else:
		// the kernel's sandbox, hiding nothing.
		{"open", nil, nil, map[string]int64{"processes": 1 << 20}, "opened", "base"},
	} {
		pol, err := system.FromRules(p.name, p.allow, p.ro, nil, "none", p.limits)
		if err != nil {
			t.Fatal(err)
		}
		reg.DefineSandbox(pol)
		if err := reg.Clone(ctx, p.under, p.clone, p.name); err != nil {
			t.Fatalf("clone %s as %s in %s: %v", p.under, p.clone, p.name, err)
		}
	}

	// The script prints its own pid, every pid its /proc lists, and
	// what it can read of the secret, by the path the namespace hides
	// and by the host's.
	const script = `echo self=$$
for d in /proc/[0-9]*; do echo pid=${d#/proc/}; done
cat /secret/key 2>&1
cat "$HD/key" 2>&1
exit 0
`
	type result struct {
		self  int
		pids  []int
		out   string
		wait  string
		boxed bool
	}
	run := func(name string) result {
		sys, err := reg.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		out, wait := execRun(t, sys, "/n/sh", script)
		r := result{out: out, wait: wait, boxed: sys.Sandboxed()}
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "pid="); ok {
				if n, err := strconv.Atoi(v); err == nil {
					r.pids = append(r.pids, n)
				}
			}
			if v, ok := strings.CutPrefix(l, "self="); ok {
				r.self, _ = strconv.Atoi(v)
			}
		}
		if r.self == 0 || len(r.pids) == 0 {
			t.Fatalf("%s: the script printed no pid of its own or of its /proc:\n%s\nwait: %s", name, out, wait)
		}
		return r
	}
	me := os.Getpid()
	hostOut := run("base")
	jailOut := run("jailed")
	openOut := run("opened")

	// The controls: what the jail must refuse is there to be had.
	if hostOut.boxed || !strings.Contains(hostOut.out, hostSecret) || !slices.Contains(hostOut.pids, me) {
		t.Errorf("the original's sh (on the host) did not read the host's secret or see this test's pid %d:\n%s", me, hostOut.out)
	}
	if !openOut.boxed || !strings.Contains(openOut.out, hostSecret) {
		t.Errorf("the sh of the clone in a sandbox hiding nothing did not read /secret/key:\n%s", openOut.out)
	}
	if slices.Contains(openOut.pids, me) {
		t.Errorf("the sh of the clone in the open sandbox sees this test's pid %d: its /proc is the host's:\n%s", me, openOut.out)
	}

	// The jail.
	if !jailOut.boxed {
		t.Errorf("the jailed clone is not sandboxed")
	}
	if strings.Contains(jailOut.out, hostSecret) {
		t.Errorf("the jailed sh read the secret, hidden by its sandbox:\n%s", jailOut.out)
	}
	if !strings.HasSuffix(jailOut.wait, "''\n") {
		t.Errorf("the jailed sh's wait = %q; want success", jailOut.wait)
	}
	if !slices.Contains(jailOut.pids, jailOut.self) {
		t.Errorf("the jailed sh's /proc lacks its own pid %d: %v", jailOut.self, jailOut.pids)
	}
	for _, p := range jailOut.pids {
		// Its box holds the box's init, sh and what sh started; a pid
		// of the host's, this test's above all, is not among them.
		if p == me || p > 100 {
			t.Errorf("the jailed sh's /proc lists pid %d, not one of its box's (this test is %d): %v", p, me, jailOut.pids)
			break
		}
	}
	if jailOut.self >= 100 {
		t.Errorf("the jailed sh's pid = %d; want a small one of its box's pid namespace", jailOut.self)
	}
	if len(jailOut.pids) >= len(hostOut.pids) {
		t.Errorf("the jailed sh sees %d processes, the host's sh %d; want fewer in the box", len(jailOut.pids), len(hostOut.pids))
	}
	if t.Failed() {
		t.Logf("host:\n%s\njailed:\n%s\nopen:\n%s", hostOut.out, jailOut.out, openOut.out)
	}
}

// TestExecSandboxMounted mounts exec in a sandboxed system, which it
// may now: the program runs in the system's sandbox, and so does not
// read the host's file that it is pointed at. The same mount outside
// any sandbox reads it.
func TestExecSandboxMounted(t *testing.T) {
	h := setupHost(t)
	_, systems := escapeSystems(t, h)
	ctx := context.Background()
	for _, n := range []string{"base", "jailed", "nested"} {
		sys := systems[n]
		dir := "/n/cat"
		if err := mk(sys.NS, dir+"/", ""); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatalf("%s: make %s: %v", n, dir, err)
		}
		fsys, aname, err := sys.Resolve(ctx, "exec", []string{"cat", h.secret})
		if err != nil {
			t.Fatalf("mount exec cat %s in %s: %v", h.secret, n, err)
		}
		if err := sys.NS.Mount(fsys, dir, ns.MREPL, aname); err != nil {
			t.Fatal(err)
		}
		out, wait := execRun(t, sys, dir, "")
		got := strings.Contains(out, hostSecret)
		if want := n == "base"; got != want {
			t.Errorf("%s: exec cat %s read the host's secret: %v; want %v\noutput: %s\nwait: %s", n, h.secret, got, want, out, wait)
		}
		if n != "base" && !strings.HasSuffix(wait, " 'cat 0: exit 1'\n") {
			t.Errorf("%s: wait = %q; want cat's failure to find the file", n, wait)
		}
	}
}
