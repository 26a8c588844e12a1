package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	ninep "loom/9p"
	"loom/components/proc"
	"loom/components/ramfs"
	"loom/components/sandbox"
	"loom/components/system"
	"loom/ns"
)

// The sandbox runs this test binary again as a sandbox's init; an init
// function, rather than TestMain, lets it do so whatever else of this
// package sets up its tests.
func init() { sandbox.Init() }

// The escape suite runs real programs (/bin/sh, coreutils, bash for its
// /dev/tcp) as host processes of sandboxed systems, started through the
// system API as a shell's start would, and tries every way out of the
// sandbox it knows. Each attempt is also run where it must succeed (in a
// system sandboxed by a policy that grants what the attempt is after, or
// on the host), so that a refusal proves the sandbox refused it, not that
// the attempt could never work.

// The markers: what each target holds, or what an attempt writes.
const (
	nsSecret   = "SECRET-OF-THE-NAMESPACE"
	hostSecret = "SECRET-OF-THE-HOST"
	pwned      = "PWNED"
)

// An attempt is a way out. Its script, run by /bin/sh with its output
// on stdout, escaped when escaped says so of that output (reads, the
// network, other processes) or of the system afterwards (writes).
type attempt struct {
	name   string
	script string
	// control is where the attempt must succeed: "open", a system whose
	// sandbox hides nothing and makes nothing read-only, or "host", a
	// system in no sandbox, whose processes are plain host children;
	// "host pid 1" is the host when it lets this test see its pid 1.
	control string
	// escaped reports whether the attempt got out, from its output and
	// the system it ran in.
	escaped func(t *testing.T, out string, sys *system.System) bool
}

func printed(marker string) func(*testing.T, string, *system.System) bool {
	return func(_ *testing.T, out string, _ *system.System) bool { return strings.Contains(out, marker) }
}

// changed reports whether the file p of the system's namespace, as built
// (below any sandbox), holds the marker pwned-how, which only the
// attempt how writes.
func changed(p, how string) func(*testing.T, string, *system.System) bool {
	return func(t *testing.T, _ string, sys *system.System) bool {
		b, err := readFile(sys.Def.NS, sys.Def.NS.User(), p)
		return err == nil && strings.Contains(string(b), pwned+"-"+how)
	}
}

// exists reports whether the file p of the system's namespace, as built,
// exists.
func exists(p string) func(*testing.T, string, *system.System) bool {
	return func(t *testing.T, _ string, sys *system.System) bool {
		_, err := readFile(sys.Def.NS, sys.Def.NS.User(), p)
		return err == nil
	}
}

// gone reports whether the file p of the system's namespace is gone.
func gone(p string) func(*testing.T, string, *system.System) bool {
	return func(t *testing.T, _ string, sys *system.System) bool {
		_, err := readFile(sys.Def.NS, sys.Def.NS.User(), p)
		return errors.Is(err, os.ErrNotExist)
	}
}

// The attempts. The scripts see, in the environment: SHARE, where the
// host directory with links is (in the system, /n/host; on the host,
// itself); HS, the host's secret file; FD, a descriptor of it left open
// for children; TESTPID, this test's pid; PORT and OUT, listeners on the
// host's loopback and on an outside address of the host.
var attempts = []attempt{
	// Reading a hidden path.
	{"direct", `cat /secret/key`, "open", printed(nsSecret)},
	{"dotdot", `cat /tmp/../secret/key`, "open", printed(nsSecret)},
	{"dotdot from below", `cd /tmp && cat ../../../../secret/key`, "open", printed(nsSecret)},
	{"dotdot out of a mount", `cat $SHARE/../../secret/key`, "open", printed(nsSecret)},
	{"listing the root", `ls /`, "open", printed("secret")},
	{"/proc/self/root", `cat /proc/self/root/secret/key`, "open", printed(nsSecret)},
	{"root of another process", `sleep 30 & p=$!; cat /proc/$p/root/secret/key; kill $p`, "open", printed(nsSecret)},
	{"cwd of another process", `cd / && sleep 30 & p=$!; cat /proc/$p/cwd/secret/key; kill $p`, "open", printed(nsSecret)},
	// Reading a host file outside the system's namespace.
	{"host path", `cat $HS`, "host", printed(hostSecret)},
	{"dotdot out of the host directory", `cat $SHARE/../outside/secret`, "host", printed(hostSecret)},
	{"absolute symlink", `cat $SHARE/abs`, "host", printed(hostSecret)},
	{"relative symlink", `cat $SHARE/rel`, "host", printed(hostSecret)},
	{"symlink to a directory", `cat $SHARE/dir/secret`, "host", printed(hostSecret)},
	{"/proc/self/root to the host", `cat /proc/self/root$HS`, "host", printed(hostSecret)},
	// Pid 1 is the sandbox's init: its root and cwd must be the
	// sandbox's too. Some hosts refuse even root a look at their own
	// pid 1 (see procOneReadable).
	{"/proc/1/cwd", `cat /proc/1/cwd/../../../../../../../..$HS`, "host pid 1", printed(hostSecret)},
	{"/proc/1/root", `cat /proc/1/root$HS`, "host pid 1", printed(hostSecret)},
	{"inherited descriptor", `bash -c 'cat <&$FD'`, "host", printed(hostSecret)},
	{"inherited descriptor by /proc", `cat /proc/self/fd/$FD`, "host", printed(hostSecret)},
	// Changing the view with mount(2): refused, or confined to a
	// namespace of the attempt's own; the targets stay as they were.
	// Where a user namespace of its own is refused, the last goes on
	// without one.
	{"bind over the view", `mount --bind /tmp /ro 2>&1; echo ` + pwned + `-bind >> /ro/file; cat /proc/self/root/secret/key`, "open",
		func(t *testing.T, out string, sys *system.System) bool {
			return changed("/ro/file", "bind")(t, out, sys) || strings.Contains(out, nsSecret)
		}},
	{"unmount the view", `umount -l /ro 2>&1; umount -l / 2>&1; echo ` + pwned + `-umount >> /ro/file; cat $HS /secret/key`, "open",
		func(t *testing.T, out string, sys *system.System) bool {
			return changed("/ro/file", "umount")(t, out, sys) || strings.Contains(out, nsSecret) || strings.Contains(out, hostSecret)
		}},
	{"unmount in a user namespace of its own", `s='umount -l /ro; umount -l /; echo ` + pwned + `-unshare >> /ro/file; cat $HS /secret/key'; unshare -rm sh -c "$s" 2>&1 || sh -c "$s" 2>&1`, "open",
		func(t *testing.T, out string, sys *system.System) bool {
			return changed("/ro/file", "unshare")(t, out, sys) || strings.Contains(out, nsSecret) || strings.Contains(out, hostSecret)
		}},
	// Writing a read-only path.
	{"write read-only", `echo ` + pwned + `-write > /ro/w`, "open", changed("/ro/w", "write")},
	{"append read-only", `echo ` + pwned + `-append >> /ro/file`, "open", changed("/ro/file", "append")},
	{"create in read-only", `echo ` + pwned + ` > /ro/new`, "open", exists("/ro/new")},
	{"write read-only by dotdot", `echo ` + pwned + `-dotdot >> /tmp/../ro/file`, "open", changed("/ro/file", "dotdot")},
	{"truncate read-only", `truncate -s 0 /ro/other`, "open", func(t *testing.T, out string, sys *system.System) bool {
		b, err := readFile(sys.Def.NS, sys.Def.NS.User(), "/ro/other")
		return err == nil && len(b) == 0
	}},
	{"remove read-only", `rm -f /ro/gone`, "open", gone("/ro/gone")},
	{"rename read-only", `mv /ro/moved /tmp/moved`, "open", gone("/ro/moved")},
	// The network, which the sandbox gives none of.
	{"loopback of the host", `bash -c 'exec 3<>/dev/tcp/127.0.0.1/$PORT && echo hello >&3 && read r <&3 && echo "$r"' 2>&1`, "host", printed("ack-hello")},
	{"outside address", `bash -c 'exec 3<>/dev/tcp/$OUT && echo hello >&3 && read r <&3 && echo "$r"' 2>&1`, "host", printed("ack-hello")},
	// Host processes.
	{"see the test process", `tr '\0' ' ' < /proc/$TESTPID/cmdline`, "host", printed(filepath.Base(os.Args[0]))},
	{"list host processes", `ls /proc`, "host", printed("\n" + strconv.Itoa(os.Getpid()) + "\n")},
	{"signal the test process", `kill -CONT $TESTPID && echo signalled`, "host", printed("signalled")},
}

// limitAttempts exceed the sandbox's limits, each run alone: the kernel
// may kill what exceeds them.
var limitAttempts = []attempt{
	// tail keeps the last 128 MiB of a pipe in memory.
	{"memory", `head -c 134217728 /dev/zero | tail -c 134217728 | wc -c`, "host", printed("134217728")},
	// 64 processes at once, against a limit of 32. The sleepers let go
	// of stdout, so that the shell's end is the end of its output even
	// when it dies at a fork refused and they live on until the system
	// stops.
	// 2 MiB written to a ramfs, against a limit of 1 MiB.
	{"bytes written", `head -c 2097152 /dev/zero > /tmp/big; wc -c < /tmp/big`, "open", func(t *testing.T, _ string, sys *system.System) bool {
		b, err := readFile(sys.Def.NS, sys.Def.NS.User(), "/tmp/big")
		return err == nil && len(b) > 1<<20
	}},
	{"processes", `n=0; pids=; for i in $(seq 64); do sleep 30 </dev/null >/dev/null 2>&1 & pids="$pids $!"; n=$((n+1)); done; echo started=$n; kill $pids 2>/dev/null; wait`, "host", printed("started=64")},
}

// procOneReadable reports whether the host lets this process reach the
// host's secret through its pid 1's root.
func procOneReadable(h escapeHost) bool { return procOneErr(h) == nil }

func procOneErr(h escapeHost) error {
	_, err := os.ReadFile("/proc/1/root" + h.secret)
	return err
}

// escapeHost is what the suite sets up on the host: a directory with
// links out of it, a secret outside it, listeners, and a descriptor of
// the secret that children inherit.
type escapeHost struct {
	share, secret string
	port          int
	out           string // an outside address of the host, host:port; "" if none
	fd            int
}

func setupHost(t *testing.T) escapeHost {
	t.Helper()
	dir := t.TempDir()
	h := escapeHost{share: filepath.Join(dir, "share"), secret: filepath.Join(dir, "outside", "secret")}
	for _, d := range []string{h.share, filepath.Dir(h.secret)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(h.secret, []byte(hostSecret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.share, "motd"), []byte("shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, to := range map[string]string{"abs": h.secret, "rel": "../outside/secret", "dir": filepath.Dir(h.secret)} {
		if err := os.Symlink(to, filepath.Join(h.share, link)); err != nil {
			t.Fatal(err)
		}
	}
	h.port = listen(t, "127.0.0.1:0")
	if ip := outsideIP(); ip != "" {
		p := listen(t, "0.0.0.0:0")
		h.out = ip + "/" + strconv.Itoa(p)
	}
	// Without O_CLOEXEC: every child of this process gets it.
	fd, err := syscall.Open(h.secret, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	h.fd = fd
	return h
}

// listen answers each connection's first line with ack-LINE, and returns
// the port.
func listen(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					io.WriteString(c, "ack-"+line)
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// outsideIP is an IPv4 address of the host other than loopback.
func outsideIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// escapeSystems makes the registry and its systems: base, unsandboxed,
// with a hidden-to-be secret, read-only-to-be files and the host
// directory mounted; jailed, its clone in the sandbox jail; opened, its
// clone in a sandbox that hides nothing; nested, jailed's clone in a
// sandbox granting everything.
func escapeSystems(t *testing.T, h escapeHost) (reg *system.Systems, systems map[string]*system.System) {
	t.Helper()
	for _, p := range []string{"/bin/sh", "/usr/bin/bash", "/usr/bin/cat", "/usr/bin/tail", "/usr/bin/unshare", "/usr/bin/mount", "/usr/lib/x86_64-linux-gnu"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("the escape suite runs Debian's amd64 programs: %v", err)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("the sandbox needs /dev/fuse: %v", err)
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		t.Skip("user namespaces are turned off (user.max_user_namespaces is 0)")
	}
	ctx := context.Background()
	reg = system.New(system.User("glenda"))
	t.Cleanup(func() { reg.Close() })
	base, err := reg.New("base")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ p, data string }{
		{"/secret/", ""}, {"/secret/key", nsSecret + "\n"}, {"/ro/", ""}, {"/ro/file", "original\n"}, {"/ro/w", "original\n"},
		{"/ro/other", "other\n"}, {"/ro/gone", "x\n"}, {"/ro/moved", "x\n"}, {"/n/", ""}, {"/n/host/", ""},
	} {
		if err := mk(base.NS, f.p, f.data); err != nil {
			t.Fatalf("make %s: %v", f.p, err)
		}
	}
	fsys, aname, err := base.Resolve(ctx, "hostfs", []string{h.share})
	if err != nil {
		t.Fatal(err)
	}
	if err := base.NS.Mount(fsys, "/n/host", ns.MREPL, aname); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"PATH": "/usr/bin:/bin", "HS": h.secret, "FD": strconv.Itoa(h.fd),
		"TESTPID": strconv.Itoa(os.Getpid()), "PORT": strconv.Itoa(h.port), "OUT": h.out, "SHARE": "/n/host"}
	for k, v := range vars {
		if err := base.Def.Env.Vars.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	policy := func(name string, allow, ro []string, net string, limits map[string]int64) {
		p, err := system.FromRules(name, allow, ro, nil, net, limits)
		if err != nil {
			t.Fatal(err)
		}
		reg.DefineSandbox(p)
	}
	policy("jail", []string{"/tmp", "/ro", "/n", "/dev", "/env", "/usr", "/bin", "/lib", "/lib64"}, []string{"/ro", "/usr"}, "none",
		map[string]int64{"memory": 64 << 20, "processes": 32, "write": 1 << 20})
	// Only a limit no program here reaches: the kernel's sandbox, with
	// every path shown and writable, and the host's network.
	policy("open", nil, nil, "host", map[string]int64{"processes": 1 << 20})
	policy("wide", nil, nil, "host", map[string]int64{"memory": 1 << 40, "processes": 1 << 20, "write": 1 << 40})
	for _, c := range []struct{ src, dst, sb string }{{"base", "jailed", "jail"}, {"base", "opened", "open"}, {"jailed", "nested", "wide"}} {
		if err := reg.Clone(ctx, c.src, c.dst, c.sb); err != nil {
			t.Fatalf("clone %s as %s in %s: %v", c.src, c.dst, c.sb, err)
		}
	}
	systems = map[string]*system.System{}
	for _, n := range []string{"base", "jailed", "opened", "nested"} {
		systems[n], _ = reg.Get(n)
	}
	// On the host, the host directory is where it is.
	if err := base.Def.Env.Vars.Set("SHARE", h.share); err != nil {
		t.Fatal(err)
	}
	return reg, systems
}

// useFile attaches to fsys as user, walks to p, opens it with mode and
// hands it to fn; the file and the root are clunked after fn, in that
// order.
func useFile(ctx context.Context, fsys ns.FS, user, p string, mode uint8, fn func(ns.File) error) error {
	root, err := fsys.Attach(ctx, user, "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	f, err := ns.WalkPath(ctx, root, p)
	if err != nil {
		return err
	}
	defer f.Clunk()
	if _, err := f.Open(ctx, mode); err != nil {
		return err
	}
	return fn(f)
}

// readAs reads the whole file p of fsys as user.
func readAs(ctx context.Context, fsys ns.FS, user, p string) ([]byte, error) {
	var b []byte
	err := useFile(ctx, fsys, user, p, ns.OREAD, func(f ns.File) (err error) {
		b, err = ns.ReadAll(ctx, f)
		return err
	})
	return b, err
}

// readFile reads the file p of fsys as user.
func readFile(fsys ns.FS, user, p string) ([]byte, error) {
	return readAs(context.Background(), fsys, user, p)
}

// mk makes the directory p (ending in /) or the file p holding data.
func mk(fsys ns.FS, p, data string) error {
	ctx := context.Background()
	root, err := fsys.Attach(ctx, "glenda", "")
	if err != nil {
		return err
	}
	defer root.Clunk()
	dir, name := filepath.Split(strings.TrimSuffix(p, "/"))
	d, err := ns.WalkPath(ctx, root, dir)
	if err != nil {
		return err
	}
	defer d.Clunk()
	perm, mode := ns.Perm(0o666), uint8(ns.OWRITE)
	if strings.HasSuffix(p, "/") {
		perm, mode = ns.DMDIR|0o777, ns.OREAD
	}
	f, _, err := d.(ns.Creater).Create(ctx, name, perm, mode)
	if err != nil {
		return err
	}
	defer f.Clunk()
	if data != "" && !strings.HasSuffix(p, "/") {
		_, err = f.Write(ctx, []byte(data), 0)
	}
	return err
}

// run runs script with /bin/sh as a host process of sys, through the
// system's proc as start does, and returns what it printed and its exit.
func run(t *testing.T, sys *system.System, script string) (string, proc.Exit) {
	t.Helper()
	ctx := context.Background()
	pid, err := sys.Def.Env.Proc.Start(ctx, []string{"/bin/sh", "-c", script}, proc.StartOptions{Env: sys.Def.Env.Environ()})
	if err != nil {
		t.Fatalf("start in %s: %v", sys.Name, err)
	}
	exit, err := sys.Def.Env.Proc.Wait(ctx, pid)
	if err != nil {
		t.Fatalf("wait in %s: %v", sys.Name, err)
	}
	out, err := readFile(sys.Def.Env.Proc, sys.Def.NS.User(), strconv.Itoa(pid)+"/stdout")
	if err != nil {
		t.Fatalf("read %s's stdout: %v", sys.Name, err)
	}
	errOut, _ := readFile(sys.Def.Env.Proc, sys.Def.NS.User(), strconv.Itoa(pid)+"/stderr")
	if strings.Contains(string(errOut), "sandbox: init:") {
		t.Skipf("the kernel refuses the sandbox: %s", errOut)
	}
	return string(out) + string(errOut), exit
}

// runAttempts runs each attempt in sys, the ones of attempts together in
// one script with a header line before each, and returns each one's
// output by name. On the host (sys not sandboxed) it runs only those
// whose control is the host: the others would be tried on the host's
// own files and mounts.
func runAttempts(t *testing.T, sys *system.System, all []attempt, alone bool) map[string]string {
	t.Helper()
	var as []attempt
	for _, a := range all {
		if sys.Policy.Restricts() || strings.HasPrefix(a.control, "host") {
			as = append(as, a)
		}
	}
	outs := map[string]string{}
	if alone {
		for _, a := range as {
			out, _ := run(t, sys, a.script)
			outs[a.name] = "\n" + out
		}
		return outs
	}
	var b strings.Builder
	for i, a := range as {
		fmt.Fprintf(&b, "echo; echo '==%d'\n( %s ) 2>&1\n", i, a.script)
	}
	fmt.Fprintf(&b, "echo '==end'\n")
	out, _ := run(t, sys, b.String())
	if !strings.Contains(out, "==end") {
		t.Fatalf("the attempts in %s did not run to the end:\n%s", sys.Name, out)
	}
	for i, a := range as {
		start := strings.Index(out, fmt.Sprintf("==%d\n", i))
		if start < 0 {
			t.Fatalf("no output for %q in %s:\n%s", a.name, sys.Name, out)
		}
		rest := out[start+len(fmt.Sprintf("==%d\n", i)):]
		// A line of its own starts with a newline whichever it is.
		outs[a.name] = "\n" + rest[:strings.Index(rest, "\n==")+1]
	}
	return outs
}

// TestEscape runs every attempt in the sandboxed systems, where each must
// fail, and where it must succeed: in the open sandbox or on the host.
func TestEscape(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sandboxes")
	}
	h := setupHost(t)
	_, systems := escapeSystems(t, h)
	where := map[string]*system.System{"host": systems["base"], "host pid 1": systems["base"], "open": systems["opened"]}
	for _, set := range []struct {
		as    []attempt
		alone bool
	}{{attempts, false}, {limitAttempts, true}} {
		results := map[string]map[string]string{}
		for _, n := range []string{"base", "opened", "jailed", "nested"} {
			results[n] = runAttempts(t, systems[n], set.as, set.alone)
		}
		for _, a := range set.as {
			if a.name == "outside address" && h.out == "" {
				t.Logf("%s: the host has no address but loopback; not tried", a.name)
				continue
			}
			ctl := where[a.control]
			ctlName := map[string]string{"host": "base", "host pid 1": "base", "open": "opened"}[a.control]
			if a.control == "host pid 1" && !procOneReadable(h) {
				t.Logf("%s: this host refuses a look at its pid 1 (%v); tried in the sandboxes only", a.name, procOneErr(h))
			} else if !a.escaped(t, results[ctlName][a.name], ctl) {
				t.Errorf("%s: in %s (the control) it failed; want it to succeed, or the check proves nothing\noutput: %s",
					a.name, ctlName, results[ctlName][a.name])
			}
			for _, n := range []string{"jailed", "nested"} {
				if a.escaped(t, results[n][a.name], systems[n]) {
					t.Errorf("%s: ESCAPED from %s\noutput: %s", a.name, n, results[n][a.name])
				}
			}
		}
	}
	// Nesting gained no right: the nested clone's policy is the jail's.
	if got, want := systems["nested"].Policy.String(), systems["jailed"].Policy.String(); got != want {
		t.Errorf("the policy of a clone of jailed in wide =\n%s\nwant jail's\n%s", got, want)
	}
}

// TestEscapeByMount tries to mount a way out in a sandboxed system, as
// its shell or its ctl file would: the host's files, a 9P server over
// the network. Each is refused there, and works in the system outside
// any sandbox. A host program is no way out: exec may be mounted, and
// its program runs in the sandbox (TestExecSandboxMounted).
func TestEscapeByMount(t *testing.T) {
	h := setupHost(t)
	_, systems := escapeSystems(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	l, err := ninep.Listen("tcp!127.0.0.1!0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ninep.NewServer(ramfs.New()).Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); l.Close(); <-done })
	for _, m := range []struct {
		kind string
		args []string
	}{
		{"hostfs", []string{filepath.Dir(h.secret)}},
		{"tcp!127.0.0.1!" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil},
	} {
		for _, n := range []string{"jailed", "nested"} {
			if _, _, err := systems[n].Resolve(ctx, m.kind, m.args); !errors.Is(err, os.ErrPermission) {
				t.Errorf("mount %s %q in %s = %v; want permission denied", m.kind, m.args, n, err)
			}
		}
		if _, _, err := systems["base"].Resolve(ctx, m.kind, m.args); err != nil {
			t.Errorf("mount %s %q outside any sandbox = %v; want it made", m.kind, m.args, err)
		}
	}
}
